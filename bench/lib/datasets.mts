/**
 * The benchmark's data sets: generated in a temp folder from a seed, so that every run backs
 * up the same bytes. `large` is few big files (mostly incompressible, some text), `small_files`
 * is many small ones (mostly text). An incremental round changes a small, seeded fraction.
 */
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { createRandom, randomBytes, textBytes } from "./prng.mjs";

/** What a data set looks like. */
export interface DatasetSpec {
  name: "large" | "small_files";
  files: number;
  /** Files are spread over this many folders. */
  folders: number;
  minBytes: number;
  maxBytes: number;
  /** Share of files with text-like (compressible) content; the rest is random. */
  textShare: number;
  /** Share of files an incremental round rewrites or appends to. */
  changeShare: number;
}

/** The data sets of a full run (about 1 GB in 2,000 files; 50,000 small files) and of `--quick`. */
export function datasetSpecs(quick: boolean): DatasetSpec[] {
  return [
    {
      name: "large",
      files: quick ? 200 : 2_000,
      folders: quick ? 4 : 20,
      minBytes: 64 * 1024,
      maxBytes: 960 * 1024,
      textShare: 0.25,
      changeShare: 0.01,
    },
    {
      name: "small_files",
      files: quick ? 5_000 : 50_000,
      folders: quick ? 10 : 100,
      minBytes: 256,
      maxBytes: 4 * 1024,
      textShare: 0.7,
      changeShare: 0.01,
    },
  ];
}

/** A generated data set. */
export interface Dataset {
  spec: DatasetSpec;
  /** The folder to back up. */
  root: string;
  bytes: number;
  files: number;
}

const filePath = (root: string, spec: DatasetSpec, index: number) =>
  join(root, `d${String(index % spec.folders).padStart(3, "0")}`, `f${String(index).padStart(6, "0")}.${isText(spec, index) ? "txt" : "bin"}`);

const isText = (spec: DatasetSpec, index: number) => createRandom(`${spec.name}:kind:${index}`).next() < spec.textShare;

const content = (seed: string, text: boolean, size: number) => (text ? textBytes(seed, size) : randomBytes(seed, size));

/** Write the data set under `parent` (deterministic: the same spec gives the same bytes). */
export async function generateDataset(parent: string, spec: DatasetSpec): Promise<Dataset> {
  const root = join(parent, spec.name);
  for (let folder = 0; folder < spec.folders; folder++) await mkdir(join(root, `d${String(folder).padStart(3, "0")}`), { recursive: true });
  const sizes = createRandom(`${spec.name}:sizes`);
  let bytes = 0;
  const pending: Promise<void>[] = [];
  for (let index = 0; index < spec.files; index++) {
    const size = sizes.int(spec.minBytes, spec.maxBytes);
    bytes += size;
    pending.push(writeFile(filePath(root, spec, index), content(`${spec.name}:${index}`, isText(spec, index), size)));
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return { spec, root, bytes, files: spec.files };
}

/**
 * Change the data set for incremental round `round`: a seeded choice of files, half of them
 * rewritten with new content of the same size class, half grown by an appended block.
 * Returns how many files and bytes changed.
 */
export async function changeDataset(dataset: Dataset, round: number): Promise<{ files: number; bytes: number }> {
  const { spec, root } = dataset;
  const random = createRandom(`${spec.name}:change:${round}`);
  const count = Math.max(1, Math.round(spec.files * spec.changeShare));
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(random.int(0, spec.files - 1));
  let bytes = 0;
  for (const index of chosen) {
    const path = filePath(root, spec, index);
    const size = random.int(spec.minBytes, spec.maxBytes);
    const seed = `${spec.name}:${index}:round${round}`;
    if (random.next() < 0.5) {
      await writeFile(path, content(seed, isText(spec, index), size));
      bytes += size;
    } else {
      const grow = Math.max(256, Math.round(size / 8));
      await appendFile(path, content(seed, isText(spec, index), grow));
      bytes += grow;
    }
  }
  return { files: chosen.size, bytes };
}
