/** What a process writes: the end of a stream kept as text, and a stream read line by line. */
import { createInterface } from "node:readline";
import { type Readable } from "node:stream";

/** A text buffer that keeps only its last `max` bytes (`Infinity`: all of it; 0: nothing). */
export function tailBuffer(max: number): { push: (chunk: Buffer) => void; text: () => string } {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk: Buffer) {
      if (max <= 0) return;
      chunks.push(chunk);
      size += chunk.length;
      while (size > max && chunks.length > 1) size -= chunks.shift()!.length;
      if (size > max) {
        chunks = [chunks[0]!.subarray(size - max)];
        size = max;
      }
    },
    text: () => Buffer.concat(chunks).toString("utf8"),
  };
}

/**
 * Call `onLine` with each line of `stream` (without its line end). Resolves once the stream
 * has ended, with what `onLine` threw first (it is not called again after that).
 */
export function readLines(stream: Readable, onLine: (line: string) => void): Promise<Error | undefined> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let failure: Error | undefined;
  lines.on("line", line => {
    if (failure) return;
    try {
      onLine(line);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
  });
  return new Promise(resolve => lines.once("close", () => resolve(failure)));
}
