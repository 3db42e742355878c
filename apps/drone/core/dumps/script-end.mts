/**
 * Whether a dump's data ended as a whole one does. `sqlite3 .dump` of a damaged database exits
 * 0 and ends its script with `ROLLBACK; -- due to errors` instead of `COMMIT;` (stderr stays
 * empty): stored as whole, the dump would restore into an empty database. Reading the end of
 * what the tool wrote costs nothing; `PRAGMA quick_check` first would read the database once
 * more (measured on a 140 MB database: 0.25–0.31 s beside 0.96–1.29 s for the dump) and would
 * still not prove that the dump's own read succeeded. Pure.
 */

/** How many bytes of the end of a dump's data are kept to judge it. */
export const TAIL_BYTES = 256;

/** The last line of a script: `COMMIT;` when sqlite3 dumped the whole database. */
export const SQLITE_DUMP_END = "COMMIT;";

/** The last non-blank line of a text. */
const lastLine = (tail: string) =>
  tail
    .split(/\r?\n/)
    .map(line => line.trim())
    .filter(line => line.length > 0)
    .at(-1);

/**
 * Why a script whose whole form ends with the line `end` is not whole, for a sentence (`it ends
 * with "ROLLBACK; -- due to errors" instead of COMMIT;`); undefined when its last line is `end`.
 */
export function scriptEndProblem(tail: string, end: string): string | undefined {
  const last = lastLine(tail);
  if (last === end) return undefined;
  if (last === undefined) return `it is empty (a whole one ends with ${end})`;
  const shown = last.length > 80 ? `${last.slice(0, 79)}…` : last;
  return `it ends with ${JSON.stringify(shown)} instead of ${end}`;
}
