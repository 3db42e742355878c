/** Deterministic pseudo-random numbers and bytes for the benchmark's data sets. */
import { createCipheriv, createHash } from "node:crypto";

/** A seeded generator of 32-bit integers and floats (mulberry32). */
export function createRandom(seed: string) {
  let state = createHash("sha256").update(seed).digest().readUInt32LE(0);
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    /** A float in [0, 1). */
    next,
    /** An integer in [min, max]. */
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
  };
}

/** `size` incompressible bytes, the same for the same seed (an AES-CTR key stream). */
export function randomBytes(seed: string, size: number): Buffer {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

const VOCABULARY = (() => {
  const random = createRandom("vocabulary");
  const letters = "etaoinshrdlucmfwypvbgkjqxz";
  return Array.from({ length: 512 }, () => {
    const length = random.int(2, 10);
    let word = "";
    for (let index = 0; index < length; index++) word += letters[Math.floor(random.next() ** 1.6 * letters.length)] ?? "e";
    return Buffer.from(word);
  });
})();

/** `size` bytes of text-like, compressible data (words and lines), the same for the same seed. */
export function textBytes(seed: string, size: number): Buffer {
  const random = createRandom(seed);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  let column = 0;
  while (at < size) {
    const word = VOCABULARY[Math.floor(random.next() ** 2 * VOCABULARY.length)] ?? VOCABULARY[0]!;
    at += word.copy(out, at);
    column += word.length + 1;
    if (at < size) out[at++] = column > 72 ? 10 : 32;
    if (column > 72) column = 0;
  }
  return out;
}
