/** What both apps share about configuration. */
export * from "./errors.mjs";
export * from "./keys.mjs";

/** A name as people mistype it: case and `-`/`_` do not matter. */
const comparable = (name: string) => name.toLowerCase().replaceAll("-", "_");

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  // rows of the optimal-string-alignment table: two back, one back, this one
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (before[j - 2] ?? 0) + 1);
      row.push(best);
    }
    before = previous;
    previous = row;
  }
  return previous[b.length] ?? 0;
}

/**
 * The candidate a mistyped name most likely meant (`SOURCE` → `SOURCES`, `jsno` → `json`),
 * or undefined when none is close: one edit for short names, one per four characters
 * for longer ones. The one suggestion used for command-line switches and file keys alike.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  const wanted = comparable(name);
  const allowed = Math.max(1, Math.floor(wanted.length / 4));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, comparable(candidate));
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}
