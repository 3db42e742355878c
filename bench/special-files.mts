/**
 * What excluding the sources' special files costs a backup with dumps: the walk of 50,000
 * files (500 folders of 100, a FIFO among them) that finds them, warm (the folders in the
 * page cache, as after the backup before), beside the borg create of the same sources it
 * precedes. Run: `npx tsx bench/special-files.mts [folder]`.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { findSpecialFiles } from "../apps/drone/core/dumps/special-files.mjs";

const FOLDERS = 500;
const PER_FOLDER = 100;

const root = await mkdtemp(join(process.argv[2] ?? tmpdir(), "bc-special-"));
try {
  const source = join(root, "source");
  for (let folder = 0; folder < FOLDERS; folder++) {
    const dir = join(source, `d${folder}`);
    await mkdir(dir, { recursive: true });
    await Promise.all(Array.from({ length: PER_FOLDER }, (_, file) => writeFile(join(dir, `f${file}`), `${folder}-${file}`)));
  }
  execFileSync("mkfifo", [join(source, "d250", "pipe")]);
  const walk = { sources: [source], excludes: [], excludeIfPresent: [".nobackup"], oneFileSystem: false };
  await findSpecialFiles(walk);
  const times: number[] = [];
  let found = 0;
  for (let run = 0; run < 5; run++) {
    const started = process.hrtime.bigint();
    const result = await findSpecialFiles(walk);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    found = result.paths.length;
  }
  times.sort((a, b) => a - b);
  const env = { ...process.env, BORG_BASE_DIR: join(root, "base"), BORG_PASSPHRASE: "", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes" };
  execFileSync("borg", ["init", "-e", "none", join(root, "repo")], { env });
  const borgTimes: number[] = [];
  for (let run = 0; run < 3; run++) {
    const started = process.hrtime.bigint();
    // the FIFO excluded as the drone does, else borg without --read-special stores it as a FIFO
    execFileSync("borg", ["create", "--exclude", `pf:${join(source, "d250", "pipe")}`, `${join(root, "repo")}::a${run}`, source], { env });
    borgTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  console.log(
    JSON.stringify({
      files: FOLDERS * PER_FOLDER,
      specialFound: found,
      walkMs: { min: times[0], median: times[2], max: times[4] },
      borgCreateMs: { first: borgTimes[0], incremental: borgTimes.slice(1) },
    }),
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
