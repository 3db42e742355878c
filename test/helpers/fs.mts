/** Temp folders and generated data for tests. */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
