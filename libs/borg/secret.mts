import { inspect } from "node:util";

const REDACTED = "[redacted]";

/**
 * A secret string (passphrase, token) that prints as `[redacted]` through every path that
 * turns values into text: String(), template literals, JSON.stringify and util.inspect.
 * Only `reveal()` gives the value, and only the process runner calls it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself. */
  reveal(): string {
    return this.#value;
  }

  /** Replace every occurrence of the secret in a text. */
  redact(text: string): string {
    return this.#value.length > 0 && text.includes(this.#value)
      ? text.split(this.#value).join(REDACTED)
      : text;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
