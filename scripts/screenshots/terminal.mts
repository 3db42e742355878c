/**
 * A terminal's output replayed into screens, and a screen drawn as HTML: what the docs'
 * picture of the progress bar is made of. Only what `backup-drone` writes on a terminal is
 * understood (text, carriage return, line feed, erase line, colours and weight); any other
 * escape sequence is skipped.
 */

/** How a run of text is drawn. */
export interface Style {
  /** An ANSI foreground colour 30–37, or undefined for the default. */
  fg: number | undefined;
  bold: boolean;
  dim: boolean;
}

/** Text with one style. */
export interface Run {
  text: string;
  style: Style;
}

/** A screen: its lines, each a list of runs. */
export type Screen = Run[][];

const PLAIN: Style = { fg: undefined, bold: false, dim: false };

/** Apply an SGR sequence's parameters (`1;32` …) to a style. */
function applySgr(style: Style, parameters: string): Style {
  let next = { ...style };
  for (const part of parameters === "" ? ["0"] : parameters.split(";")) {
    const code = Number(part);
    if (code === 0) next = { ...PLAIN };
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 22) next = { ...next, bold: false, dim: false };
    else if (code >= 30 && code <= 37) next.fg = code;
    else if (code === 39) next.fg = undefined;
  }
  return next;
}

/** Cells of a line joined into runs of one style. */
function toRuns(cells: { ch: string; style: Style }[]): Run[] {
  const runs: Run[] = [];
  for (const cell of cells) {
    const last = runs.at(-1);
    if (last && last.style.fg === cell.style.fg && last.style.bold === cell.style.bold && last.style.dim === cell.style.dim) last.text += cell.ch;
    else runs.push({ text: cell.ch, style: cell.style });
  }
  return runs;
}

/**
 * Replay `output` (as a pty delivered it) on an empty screen `columns` wide (longer lines wrap,
 * as a terminal wraps them). `frames` holds the screen as it was each time a line was about to
 * be erased (each state of a progress line that a person saw), `final` the screen at the end.
 */
export function replay(output: string, columns: number): { frames: Screen[]; final: Screen } {
  const lines: { ch: string; style: Style }[][] = [[]];
  let row = 0;
  let col = 0;
  let style = { ...PLAIN };
  const frames: Screen[] = [];
  const snapshot = (): Screen => lines.map(toRuns);
  const chars = [...output];
  for (let index = 0; index < chars.length; index++) {
    const ch = chars[index] ?? "";
    if (ch === "\u001B" && chars[index + 1] === "[") {
      let end = index + 2;
      while (end < chars.length && !/[@-~]/.test(chars[end] ?? "")) end++;
      const parameters = chars.slice(index + 2, end).join("");
      const command = chars[end];
      if (command === "m") style = applySgr(style, parameters);
      else if (command === "K" && parameters === "2") {
        if ((lines[row] ?? []).length > 0) frames.push(snapshot());
        lines[row] = [];
      }
      index = end;
    } else if (ch === "\r") {
      col = 0;
    } else if (ch === "\n") {
      row++;
      col = 0;
      lines[row] ??= [];
    } else {
      if (col >= columns) {
        row++;
        col = 0;
      }
      const line = (lines[row] ??= []);
      while (line.length < col) line.push({ ch: " ", style: PLAIN });
      line[col] = { ch, style };
      col++;
    }
  }
  // a pty ends its last line with a line feed: no empty line below it
  while (lines.length > 1 && (lines.at(-1) ?? []).length === 0) lines.pop();
  return { frames, final: snapshot() };
}

/** A screen's plain text, one string per line. */
export const screenText = (screen: Screen): string[] => screen.map(line => line.map(run => run.text).join(""));

/**
 * The frame of a progress bar to show: the one whose percentage is nearest 50 among those with
 * an ETA, else the last frame with a percentage, else the last frame.
 */
export function middleFrame(frames: Screen[]): Screen | undefined {
  const withPercent = frames
    .map(frame => ({ frame, text: screenText(frame).join("\n") }))
    .map(entry => ({ ...entry, percent: Number(/(\d+)%/.exec(entry.text)?.[1] ?? Number.NaN) }))
    .filter(entry => !Number.isNaN(entry.percent));
  const withEta = withPercent.filter(entry => /ETA \d/.test(entry.text));
  const pool = withEta.length > 0 ? withEta : withPercent;
  const best = [...pool].sort((a, b) => Math.abs(a.percent - 50) - Math.abs(b.percent - 50))[0];
  return best?.frame ?? frames.at(-1);
}

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Colours of a dark terminal theme for ANSI 30–37. */
const COLOURS: Record<number, string> = { 30: "#2e3436", 31: "#ef5350", 32: "#66bb6a", 33: "#ffca28", 34: "#42a5f5", 35: "#ab47bc", 36: "#26c6da", 37: "#eceff1" };

function runHtml(run: Run): string {
  const css = [
    run.style.fg === undefined ? "" : `color:${COLOURS[run.style.fg] ?? "inherit"}`,
    run.style.bold ? "font-weight:bold" : "",
    run.style.dim ? "opacity:0.6" : "",
  ].filter(Boolean);
  return css.length === 0 ? escape(run.text) : `<span style="${css.join(";")}">${escape(run.text)}</span>`;
}

/** One terminal window of the picture: a caption, the command typed, and the screen below it. */
export interface TerminalWindow {
  caption: string;
  command: string;
  screen: Screen;
}

/** An HTML page of terminal windows, each `columns` characters wide, for the browser to photograph (its body is the picture). */
export function terminalHtml(windows: TerminalWindow[], columns: number): string {
  const body = windows
    .map(
      window =>
        `<figure><figcaption>${escape(window.caption)}</figcaption><div class="term"><div class="bar"><i></i><i></i><i></i></div>` +
        `<pre><span class="prompt">$</span> ${escape(window.command)}\n${window.screen.map(line => line.map(runHtml).join("")).join("\n")}</pre></div></figure>`,
    )
    .join("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><style>
  html, body { margin: 0; background: #ffffff; }
  body { display: inline-block; padding: 16px; font-family: "DejaVu Sans", sans-serif; }
  figure { margin: 0 0 16px 0; }
  figure:last-child { margin-bottom: 0; }
  figcaption { font-size: 14px; color: #444; margin: 0 0 6px 2px; }
  .term { background: #1e1e1e; border-radius: 8px; overflow: hidden; box-shadow: 0 1px 4px rgba(0,0,0,0.3); }
  .bar { background: #333; height: 22px; padding: 0 10px; display: flex; align-items: center; gap: 6px; }
  .bar i { width: 10px; height: 10px; border-radius: 50%; background: #666; display: block; }
  pre { margin: 0; padding: 12px 14px; color: #e0e0e0; font: 14px/1.45 "DejaVu Sans Mono", monospace; width: ${columns}ch; white-space: pre; }
  .prompt { color: #66bb6a; }
</style></head><body>
${body}
</body></html>
`;
}
