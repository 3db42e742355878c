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

/** Whitespace to Python that JavaScript's `\s` leaves out: the separators 0x1c–0x1f and NEL. */
const PYTHON_ONLY_SPACE = new Set([0x1c, 0x1d, 0x1e, 0x1f, 0x85]);

/** Whether borg's `clean_lines`, which strips every line of an exclude file, would change a line ending in this text. */
function endsInWhitespace(text: string): boolean {
  const last = text.at(-1) ?? "";
  return /\s/u.test(last) || PYTHON_ONLY_SPACE.has(last.codePointAt(0) ?? -1);
}

/**
 * A Python regular expression that matches exactly this text: ASCII letters, digits and `_` as
 * they are, other printable ASCII behind a backslash, everything else as a `\x`, `\u` or `\U`
 * escape, so that the line holds no line break and ends in no whitespace.
 */
function pythonLiteral(text: string): string {
  let regex = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (/[A-Za-z0-9_]/.test(char)) regex += char;
    else if (code > 0x20 && code < 0x7f) regex += `\\${char}`;
    else if (code < 0x100) regex += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code < 0x10000) regex += `\\u${code.toString(16).padStart(4, "0")}`;
    else regex += `\\U${code.toString(16).padStart(8, "0")}`;
  }
  return regex;
}

/**
 * The exclude file's text, one pattern a line. borg reads the file a line at a time and strips
 * each line's whitespace, so a name with a line break or ending in whitespace cannot be given
 * as a full path (`pf:`): it would exclude another name, or nothing, and borg would open the
 * special file. Such a name is given as a regular expression of the whole path instead
 * (`re:`; borg matches it against the path without its leading `/`, and `\Z` does not match
 * before a final line break as `$` would).
 */
export function excludeFileText(paths: readonly string[]): string {
  return paths
    .map(path => (/[\r\n]/.test(path) || endsInWhitespace(path) ? `re:^${pythonLiteral(path.replace(/^\/+/, ""))}\\Z` : `pf:${path}`))
    .map(line => `${line}\n`)
    .join("");
}
