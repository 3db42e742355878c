/**
 * The pictures of the docs: every image README.md and docs/*.md show exists in docs/images as a
 * PNG that `npm run docs:screenshots` makes, and every such picture is shown somewhere. The
 * terminal replay that draws the progress-bar picture is checked on a captured stream.
 */
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";

import { describe, expect, it } from "vitest";

import { PICTURES } from "../../scripts/screenshots/pictures.mjs";
import { middleFrame, replay, screenText, terminalHtml } from "../../scripts/screenshots/terminal.mjs";

const ROOT = join(import.meta.dirname, "..", "..");
const IMAGES = join(ROOT, "docs", "images");
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Every markdown document people read: README.md and docs/*.md. */
async function documents(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, "docs"))).filter(name => name.endsWith(".md")).map(name => join(ROOT, "docs", name));
  return [join(ROOT, "README.md"), ...docs];
}

/** Images a document shows (`![alt](path)` and `<img src="path">`), resolved from its folder; web addresses left out. */
function imagesOf(file: string, text: string): string[] {
  const targets = [...text.matchAll(/!\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g), ...text.matchAll(/<img\b[^>]*\bsrc="([^"]+)"/g)].map(match => match[1] ?? "");
  return targets.filter(target => !/^[a-z]+:/i.test(target)).map(target => resolve(dirname(file), target.split("#")[0] ?? ""));
}

describe("pictures in the docs", () => {
  it("every image a document shows is a PNG in docs/images that the screenshot script makes", async () => {
    const made = new Set<string>(Object.values(PICTURES));
    const shown: string[] = [];
    for (const file of await documents()) {
      for (const image of imagesOf(file, await readFile(file, "utf8"))) {
        const where = `${relative(ROOT, file)} → ${relative(ROOT, image)}`;
        shown.push(image);
        expect(dirname(image), where).toBe(IMAGES);
        expect(made.has(relative(IMAGES, image)), `${where} is not one of the pictures npm run docs:screenshots makes`).toBe(true);
        const head = await readFile(image).then(bytes => bytes.subarray(0, 8), () => Buffer.alloc(0));
        expect(head.equals(PNG_SIGNATURE), `${where} is missing or not a PNG (run npm run docs:screenshots)`).toBe(true);
      }
    }
    expect(shown.length).toBeGreaterThan(0);
  });

  it("every picture in docs/images is one the screenshot script makes, and a document shows it", async () => {
    const shown = new Set<string>();
    for (const file of await documents()) for (const image of imagesOf(file, await readFile(file, "utf8"))) shown.add(relative(IMAGES, image));
    const made = new Set<string>(Object.values(PICTURES));
    const files = await readdir(IMAGES);
    expect(files.length).toBeGreaterThan(0);
    for (const name of files) {
      expect(made.has(name), `docs/images/${name} is not made by npm run docs:screenshots`).toBe(true);
      expect(shown.has(name), `docs/images/${name} is shown by no document`).toBe(true);
    }
  });
});

describe("the terminal replay behind the progress-bar picture", () => {
  // as a pty delivers `backup-drone create`: a spinner, bars redrawn with \r and erase-line, then the coloured summary
  const stream =
    "⠙ creating · 0.1 s\r\u001B[2K" +
    "creating ░░░░   0% · ETA ? · 0 B of 8 MiB\r\u001B[2K" +
    "creating █░░░  30% · ETA 2 s · 2.4 MiB of 8 MiB\r\u001B[2K" +
    "creating ██░░  55% · ETA 1 s · 4.4 MiB of 8 MiB\r\u001B[2K" +
    "creating ███░  80% · ETA 0 s · 6.4 MiB of 8 MiB\r\u001B[2K" +
    "\u001B[32m✔\u001B[39m \u001B[1mcreate succeeded in 3 s\u001B[22m — archive laptop@x\r\n";

  it("keeps each state of the progress line as a frame and the summary as the final screen", () => {
    const { frames, final } = replay(stream, 100);
    expect(frames.map(frame => screenText(frame))).toEqual([
      ["⠙ creating · 0.1 s"],
      ["creating ░░░░   0% · ETA ? · 0 B of 8 MiB"],
      ["creating █░░░  30% · ETA 2 s · 2.4 MiB of 8 MiB"],
      ["creating ██░░  55% · ETA 1 s · 4.4 MiB of 8 MiB"],
      ["creating ███░  80% · ETA 0 s · 6.4 MiB of 8 MiB"],
    ]);
    expect(screenText(final)).toEqual(["✔ create succeeded in 3 s — archive laptop@x"]);
    expect(final[0]?.[0]).toEqual({ text: "✔", style: { fg: 32, bold: false, dim: false } });
    expect(final[0]?.[2]).toEqual({ text: "create succeeded in 3 s", style: { fg: undefined, bold: true, dim: false } });
  });

  it("picks the frame nearest 50 % that has an ETA", () => {
    const frame = middleFrame(replay(stream, 100).frames);
    expect(screenText(frame ?? [])).toEqual(["creating ██░░  55% · ETA 1 s · 4.4 MiB of 8 MiB"]);
  });

  it("wraps a line longer than the terminal, as a terminal does", () => {
    expect(screenText(replay("abcdefgh\r\n", 5).final)).toEqual(["abcde", "fgh"]);
  });

  it("draws the screen as HTML with the text escaped and the colours kept", () => {
    const html = terminalHtml([{ caption: "While <it> runs", command: "backup-drone create", screen: replay(stream, 100).final }], 100);
    expect(html).toContain("While &lt;it&gt; runs");
    expect(html).toContain('<span style="color:#66bb6a">✔</span>');
    expect(html).toContain('<span style="font-weight:bold">create succeeded in 3 s</span>');
    expect(html).toContain("width: 100ch");
  });
});
