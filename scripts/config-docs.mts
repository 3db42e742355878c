/**
 * Renders the configuration references in the docs from the configuration tables, so docs
 * and code cannot drift (a test compares them): the drone's keys in docs/configuration.md,
 * the coordinator's in docs/coordinator.md. Run: `npm run docs:config`.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { COORDINATOR_CONFIGURATION } from "../apps/backup_coordinator/config.mjs";
import { DRONE_CONFIGURATION } from "../apps/drone/config.mjs";

/** One configuration entry as the tables hold it. */
interface Entry {
  type: string;
  default?: unknown;
  description: string;
  enum?: readonly string[];
}

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function defaultText(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "(none)" : value.map(item => `\`${String(item)}\``).join(", ");
  if (value === "" || value === undefined) return "(empty)";
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return `\`${String(value)}\``;
  return `\`${JSON.stringify(value)}\``;
}

/** The markdown table of a configuration table: key, type, default, meaning (with the allowed values). */
export function renderTable(table: Readonly<Record<string, Entry>>): string {
  const rows = Object.entries(table).map(([key, entry]) => {
    const values = entry.enum ? ` One of ${entry.enum.map(value => `\`${value}\``).join(", ")}.` : "";
    return `| \`${key}\` | ${entry.type} | ${defaultText(entry.default)} | ${cell(entry.description)}${values} |`;
  });
  return ["| key | type | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** A generated block: the document it lives in, its marker name, and what it holds. */
export interface GeneratedBlock {
  file: string;
  name: string;
  render: () => string;
}

const DOCS = join(import.meta.dirname, "..", "docs");

/** Every generated block of the docs. */
export const GENERATED_BLOCKS: readonly GeneratedBlock[] = [
  { file: join(DOCS, "configuration.md"), name: "drone configuration", render: () => renderTable(DRONE_CONFIGURATION) },
  { file: join(DOCS, "coordinator.md"), name: "coordinator configuration", render: () => renderTable(COORDINATOR_CONFIGURATION) },
];

const begin = (name: string) => `<!-- BEGIN GENERATED: ${name} -->`;
const end = (name: string) => `<!-- END GENERATED: ${name} -->`;

/** Replace a block of a document with its freshly rendered contents. */
export function replaceGenerated(document: string, block: GeneratedBlock): string {
  const start = document.indexOf(begin(block.name));
  const stop = document.indexOf(end(block.name));
  if (start < 0 || stop < start) throw new Error(`${block.file} lacks the markers ${begin(block.name)} … ${end(block.name)}`);
  return `${document.slice(0, start)}${begin(block.name)}\n${block.render()}\n${document.slice(stop)}`;
}

if (process.argv[1] === import.meta.filename) {
  for (const block of GENERATED_BLOCKS) {
    const document = await readFile(block.file, "utf8");
    const updated = replaceGenerated(document, block);
    if (updated !== document) await writeFile(block.file, updated);
    console.log(`${updated === document ? "up to date" : "updated"}: ${block.file} (${block.name})`);
  }
}
