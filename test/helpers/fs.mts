/** Temp folders and generated data for tests. */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

/** A fresh temp folder and a function that removes it. */
export async function tempDir(label: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `bc-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Write `files` files of random (incompressible) bytes into `dir`; returns the total size. */
export async function writeRandomFiles(dir: string, files: number, bytesPerFile: number, name = "file"): Promise<number> {
  await mkdir(dir, { recursive: true });
  for (let index = 0; index < files; index++) {
    await writeFile(join(dir, `${name}-${String(index).padStart(5, "0")}.bin`), randomBytes(bytesPerFile));
  }
  return files * bytesPerFile;
}

/** sha256 of every regular file under `root`, by relative path. */
export async function fileHashes(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(root, path)] = createHash("sha256").update(await readFile(path)).digest("hex");
  }
  return out;
}
