/**
 * The special files of the sources: FIFOs, character and block devices, and symbolic links to
 * them. With `--read-special` (which the dumps need) borg opens and reads them as if they were
 * files: a FIFO nobody writes to would hang the backup, and a device would be read whole. So
 * when dumps are configured they are found first and excluded (an exclude file, one `pf:` pattern
 * a line), as borg without `--read-special` would store them: as what they are, without content
 * — here, not at all. Sockets need nothing: borg always skips them.
 */
import { statSync } from "node:fs";

import { type BorgWalk, type EntryKind, walkAsBorg } from "../borg-walk.mjs";

/** Where to look, as borg create walks it (./borg-walk.mts). */
export type SpecialFileScan = BorgWalk;

/** What the walk found. */
export interface SpecialFiles {
  /** Absolute paths of the special files (and of the links to them) borg would open. */
  paths: string[];
  /** Entries walked, for the log. */
  walked: number;
}

const isSpecial = (kind: EntryKind) => kind.isFIFO() || kind.isCharacterDevice() || kind.isBlockDevice();

/** Walk the sources for special files; a file that vanishes or cannot be read is passed over, as borg passes over it with a warning. */
export async function findSpecialFiles(scan: SpecialFileScan): Promise<SpecialFiles> {
  const found: string[] = [];
  const walked = await walkAsBorg(scan, (path, kind) => {
    if (isSpecial(kind)) found.push(path);
    else if (kind.isSymbolicLink()) {
      // borg follows a link to a special file with --read-special
      try {
        if (isSpecial(statSync(path))) found.push(path);
      } catch {
        // a dangling link is stored as a link
      }
    }
  });
  return { paths: found, walked };
}

/**
 * The exclude file's text: one full-path pattern a line. A name with a line break cannot be
 * written as a line: it is returned apart, for the run to refuse rather than hang.
 */
export function excludeFileText(paths: readonly string[]): { text: string; unwritable: string[] } {
  const lines: string[] = [];
  const unwritable: string[] = [];
  for (const path of paths) {
    if (/[\r\n]/.test(path)) unwritable.push(path);
    else lines.push(`pf:${path}`);
  }
  return { text: lines.map(line => `${line}\n`).join(""), unwritable };
}
