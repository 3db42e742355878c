/**
 * Renders the configuration reference in docs/configuration.md from the configuration
 * tables, so docs and code cannot drift (a test compares them). Run: `npm run docs:config`.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { DRONE_CONFIGURATION } from "../apps/drone/config.mjs";

const BEGIN = "<!-- BEGIN GENERATED: drone configuration -->";
const END = "<!-- END GENERATED: drone configuration -->";

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function defaultText(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "(none)" : value.map(item => `\`${String(item)}\``).join(", ");
  if (value === "") return "(empty)";
  return `\`${String(value)}\``;
}

/** The generated table of the drone's keys. */
export function renderDroneConfiguration(): string {
  const rows = Object.entries(DRONE_CONFIGURATION).map(([key, entry]) => {
    const values = "enum" in entry ? ` One of ${entry.enum.map(value => `\`${value}\``).join(", ")}.` : "";
    return `| \`${key}\` | ${entry.type} | ${defaultText(entry.default)} | ${cell(entry.description)}${values} |`;
  });
  return [BEGIN, "| key | type | default | meaning |", "| --- | --- | --- | --- |", ...rows, END].join("\n");
}

/** Replace the generated block of a document. */
export function replaceGenerated(document: string): string {
  const start = document.indexOf(BEGIN);
  const end = document.indexOf(END);
  if (start < 0 || end < 0) throw new Error("docs/configuration.md lacks the generated-block markers");
  return document.slice(0, start) + renderDroneConfiguration() + document.slice(end + END.length);
}

/** Path of the configuration document. */
export const CONFIGURATION_DOC = join(import.meta.dirname, "..", "docs", "configuration.md");

if (process.argv[1] === import.meta.filename) {
  const document = await readFile(CONFIGURATION_DOC, "utf8");
  await writeFile(CONFIGURATION_DOC, replaceGenerated(document));
  console.log(`updated ${CONFIGURATION_DOC}`);
}
