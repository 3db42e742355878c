/** What both apps share about configuration. */

/** Invalid configuration: every problem, each naming its key; the process exits non-zero. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map(problem => `  - ${problem}`).join("\n")}`);
  }
}

const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/**
 * Values of `number` keys written as text become numbers. An ini file holds every value as
 * text (`KEEP_DAILY=7` is `"7"`) and Digital Alchemy passes file values through unchanged,
 * while the environment and switches are converted by type; text that is no number is left
 * for the schema to report.
 */
export function numbersFromText(values: Record<string, unknown>, table: Readonly<Record<string, { type: string }>>): Record<string, unknown> {
  const out = { ...values };
  for (const [key, entry] of Object.entries(table)) {
    const value = out[key];
    if (entry.type === "number" && typeof value === "string" && NUMBER_TEXT.test(value.trim())) out[key] = Number(value.trim());
  }
  return out;
}
