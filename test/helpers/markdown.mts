/** The shell blocks a document marks as tested, read from the Markdown itself. */

/** A `<!-- tested: TAG -->` marker, then (blank lines allowed) a ```sh block. */
const TESTED_BLOCK = /<!-- tested: ([\w-]+) -->\n\s*```sh\n([\s\S]*?)^```$/gm;

/**
 * The ```sh blocks of `markdown` marked `<!-- tested: TAG -->`, by tag, in document order. Throws
 * when a marker is not followed by a sh block, so that a doc edit cannot drop a block from the test.
 */
export function testedBlocks(markdown: string): Map<string, string[]> {
  const blocks = new Map<string, string[]>();
  let found = 0;
  for (const [, tag, text] of markdown.matchAll(TESTED_BLOCK)) {
    if (tag === undefined || text === undefined) continue;
    blocks.set(tag, [...(blocks.get(tag) ?? []), text]);
    found++;
  }
  const markers = [...markdown.matchAll(/<!-- tested: [^>]*-->/g)].length;
  if (markers !== found) throw new Error(`${markers - found} of ${markers} "<!-- tested: … -->" markers are not followed by a \`\`\`sh block`);
  return blocks;
}
