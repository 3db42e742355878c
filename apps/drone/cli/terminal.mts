/**
 * The terminal: stderr lines for people, with one status line (the progress bar) kept at
 * the bottom on a TTY; stdout for data (`--json`).
 */

/** ANSI styles used; empty when colour is off. */
export interface Paint {
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/** What the command writes to. */
export interface Terminal {
  /** stderr is a TTY: draw a progress bar. */
  readonly tty: boolean;
  readonly paint: Paint;
  /** Width of the terminal (80 when unknown). */
  columns(): number;
  /** A line for people on stderr (above the status line, if any). */
  line(text: string): void;
  /** Replace the status line (TTY only); `undefined` clears it. */
  status(text: string | undefined): void;
  /** A line on stdout: the command's output (data, or a summary for people). */
  data(text: string): void;
}

const style = (open: number, close: number) => (text: string) => `\u001B[${open}m${text}\u001B[${close}m`;

/** Colour when stderr is a TTY, unless NO_COLOR is set or TERM is dumb. */
export function wantsColor(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY && env.TERM !== "dumb";
}

/** Styles, or identity functions when colour is off. */
export function createPaint(color: boolean): Paint {
  const plain = (text: string) => text;
  return color
    ? { green: style(32, 39), yellow: style(33, 39), red: style(31, 39), dim: style(2, 22), bold: style(1, 22) }
    : { green: plain, yellow: plain, red: plain, dim: plain, bold: plain };
}

/** The process's terminal. */
export function createTerminal(
  streams: { out: NodeJS.WriteStream; err: NodeJS.WriteStream } = { out: process.stdout, err: process.stderr },
): Terminal {
  const tty = streams.err.isTTY && process.env.TERM !== "dumb";
  let shown: string | undefined;
  const clear = () => {
    if (shown !== undefined) streams.err.write("\r\u001B[2K");
  };
  return {
    tty,
    paint: createPaint(wantsColor(streams.err)),
    columns: () => (tty && streams.err.columns > 0 ? streams.err.columns : 80),
    line: text => {
      clear();
      streams.err.write(`${text}\n`);
      if (shown !== undefined) streams.err.write(shown);
    },
    status: text => {
      if (!tty || text === shown) return;
      clear();
      shown = text;
      if (text !== undefined) streams.err.write(text);
    },
    data: text => {
      clear();
      streams.out.write(`${text}\n`);
      if (shown !== undefined) streams.err.write(shown);
    },
  };
}
