import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

import { describe, expect, it } from "vitest";

import { coordinatorHelp } from "../../apps/backup_coordinator/command-line.mjs";
import { droneDatabaseUrl } from "../../apps/drone/cli/boot.mjs";
import { COMMAND_NAMES, EXIT_CODE_HELP, EXIT_CODES } from "../../apps/drone/cli/spec.mjs";
import { BORG_ERROR_KINDS } from "../../libs/borg/index.mjs";
import {
  APPLICATION_STATES,
  archiveSummarySchema,
  COMMAND_ACTIONS,
  COMMAND_EVENT_SCHEMAS,
  DRONE_ENTITIES,
  type DroneEntityKey,
  entityId,
  ERROR_KINDS,
  EVENT_SCHEMAS,
  MODES,
  OPERATIONS,
  OUTCOMES,
  REPOSITORY_ROLES,
  SYNAPSE_LINKS,
  TRIGGERS,
} from "../../libs/protocol/index.mjs";
import { GENERATED_BLOCKS, replaceGenerated } from "../../scripts/config-docs.mjs";

const ROOT = join(import.meta.dirname, "..", "..");
const doc = (name: string) => readFile(join(ROOT, "docs", name), "utf8");

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(document: string, heading: string): string {
  const lines = document.split("\n");
  const start = lines.findIndex(line => line === heading);
  expect(start, `heading ${heading}`).toBeGreaterThanOrEqual(0);
  const level = heading.indexOf(" ");
  const rest = lines.slice(start + 1);
  const end = rest.findIndex(line => /^#+ /.test(line) && line.indexOf(" ") <= level);
  return (end < 0 ? rest : rest.slice(0, end)).join("\n");
}

/** `| 0 | meaning |` rows of a markdown table: the code and its meaning. */
const codeRows = (text: string) => [...text.matchAll(/^\| (\d+) \| (.+?) \|$/gm)].map(match => [Number(match[1]), match[2]] as const);

describe("generated references", () => {
  it.each(GENERATED_BLOCKS.map(block => [block.name, block] as const))(
    "the %s table equals the configuration table in the code (run `npm run docs:config` to update)",
    async (_name, block) => {
      const document = await readFile(block.file, "utf8");
      expect(document).toBe(replaceGenerated(document, block));
    },
  );
});

describe("docs/cli.md and the help texts agree with the code", () => {
  it("lists every backup-drone command", async () => {
    const document = await doc("cli.md");
    for (const name of COMMAND_NAMES) expect(document, name).toMatch(new RegExp(`^\\| \`${name}\`( \\(default\\))? \\|`, "m"));
  });

  it("documents exactly the exit codes of EXIT_CODES, as the help texts list them", async () => {
    const table = codeRows(section(await doc("cli.md"), "## Exit codes"));
    const documented = table.map(([code]) => code);
    expect(documented).toEqual([...new Set(Object.values(EXIT_CODES))].sort());
    expect(documented).toEqual(EXIT_CODE_HELP.map(([code]) => code));
  });

  it("backup-coordinator --help and docs/coordinator.md list the same exit codes with the same meanings", async () => {
    const helpBlock = coordinatorHelp().split("Exit codes:\n")[1]?.split("\n\n")[0] ?? "";
    const help = [...helpBlock.matchAll(/^ {2}(\d+) {2}(.+)$/gm)].map(match => [Number(match[1]), match[2]] as const);
    expect(help.map(([code]) => code)).toEqual([0, 1, 2]);
    const documented = codeRows(section(await doc("coordinator.md"), "## Running it"));
    expect(documented).toEqual(help);
  });
});

/** The values a text does not mention as `value`. */
const unmentioned = (text: string, values: readonly string[]) => values.filter(value => !text.includes(`\`${value}\``));

describe("docs/entities.md and docs/events.md cover the protocol", () => {
  it("lists every drone entity with its entity id and domain", async () => {
    const lines = (await doc("entities.md")).split("\n");
    const missing = Object.entries(DRONE_ENTITIES)
      .filter(([key, entity]) => {
        const row = lines.find(line => line.startsWith(`| \`${key}\` `));
        return !row?.includes(`\`${entityId("laptop", key as DroneEntityKey)}\``) || !row.includes(`| ${entity.domain} |`);
      })
      .map(([key]) => key);
    expect(missing, "entity keys without a row `| `key` (`domain.laptop_key`) | domain |` in docs/entities.md").toEqual([]);
  });

  it("names every Application State and Application Mode value", async () => {
    expect(unmentioned(await doc("entities.md"), [...APPLICATION_STATES, ...MODES])).toEqual([]);
  });

  it.each(Object.entries({ ...EVENT_SCHEMAS, ...COMMAND_EVENT_SCHEMAS }))("describes every field of %s", async (type, schema) => {
    const text = section(await doc("events.md"), `## \`${type}\``);
    expect(Object.keys(schema.shape).filter(field => !text.includes(`| \`${field}\` |`))).toEqual([]);
  });

  it("names the archive summary's fields and every value of the enumerated fields", async () => {
    const document = await doc("events.md");
    const result = section(document, "## `backup_drone_result`");
    expect(unmentioned(result, Object.keys(archiveSummarySchema.shape))).toEqual([]);
    expect(unmentioned(document, [...OUTCOMES, ...TRIGGERS, ...OPERATIONS, ...REPOSITORY_ROLES])).toEqual([]);
    expect(unmentioned(section(document, "## `backup_drone_status`"), [...SYNAPSE_LINKS])).toEqual([]);
    expect(unmentioned(section(document, "## `backup_drone_command`"), [...COMMAND_ACTIONS])).toEqual([]);
  });

  it("lists every kind of borg failure among the error_kind values", async () => {
    const result = section(await doc("events.md"), "## `backup_drone_result`");
    const table = result.split("`error_kind` values:")[1] ?? "";
    expect(unmentioned(table, BORG_ERROR_KINDS)).toEqual([]);
  });

  it("lists exactly the protocol's error kinds (borg's and the drone's) in the error_kind table", async () => {
    const result = section(await doc("events.md"), "## `backup_drone_result`");
    const table = (result.split("`error_kind` values:")[1] ?? "").split("\n\n```")[0] ?? "";
    const named = table
      .split("\n")
      .filter(line => line.startsWith("| `"))
      .flatMap(line => [...(line.split("|")[1] ?? "").matchAll(/`([a-z_]+)`/g)].map(match => match[1]));
    expect(named.length).toBeGreaterThan(0);
    expect(unmentioned(table, ERROR_KINDS)).toEqual([]);
    expect(named.filter(kind => !(ERROR_KINDS as readonly (string | undefined)[]).includes(kind))).toEqual([]);
  });
});

/** GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to dashes. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replaceAll(" ", "-");

describe("links between the documents", () => {
  it("the drone's synapse database is where the daemon puts it (STATE_DIR/<drone id>.synapse.db), in every document that names it", async () => {
    const daemon = await readFile(join(ROOT, "apps", "drone", "cli", "daemon.mts"), "utf8");
    expect(daemon).toContain("droneDatabaseUrl(stateDir, droneId)");
    expect(droneDatabaseUrl("/var/lib/backup-drone", "nas")).toBe("file:/var/lib/backup-drone/nas.synapse.db");
    for (const doc of ["configuration.md", "cli.md"]) {
      const text = await readFile(join(ROOT, "docs", doc), "utf8");
      expect(text, doc).toContain("STATE_DIR/<drone id>.synapse.db");
      expect(text, doc).not.toMatch(/default `synapse_storage\.db`/);
    }
  });

  it("every relative link of README.md and docs/ points at a file that exists, and at a heading it has", async () => {
    const files = ["README.md", ...(await readdir(join(ROOT, "docs"))).filter(name => name.endsWith(".md")).map(name => `docs/${name}`)];
    const broken: string[] = [];
    for (const file of files) {
      const text = (await readFile(join(ROOT, file), "utf8")).replace(/```[\s\S]*?```/g, "");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split("#") as [string, string | undefined];
        const resolved = path === "" ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
        if (!existsSync(resolved)) {
          broken.push(`${file}: ${target} (no such file)`);
          continue;
        }
        if (anchor === undefined || !resolved.endsWith(".md")) continue;
        const headings = (await readFile(resolved, "utf8"))
          .replace(/```[\s\S]*?```/g, "")
          .split("\n")
          .filter(line => /^#+ /.test(line))
          .map(line => anchorOf(line.replace(/^#+ /, "")));
        if (!headings.includes(anchor)) broken.push(`${file}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("docs/install.md", () => {
  it("shows deploy/backup-drone.service as it is shipped (comments aside)", async () => {
    const unit = (await readFile(join(ROOT, "deploy", "backup-drone.service"), "utf8"))
      .split("\n")
      .filter(line => line.trim() !== "" && !line.startsWith("#"));
    const block = codeBlocksOf(await doc("install.md")).find(text => text.includes("ExecStart=/usr/bin/node /opt/backup-coordinator/dist/bin/backup-drone.mjs"));
    expect(block?.split("\n").filter(line => line.trim() !== "")).toEqual(unit);
  });

  it("links both unit files and every example", async () => {
    const document = await doc("install.md");
    const shipped = [
      ...(await readdir(join(ROOT, "deploy"))).map(name => `../deploy/${name}`),
      ...(await readdir(join(ROOT, "examples"))).filter(name => !name.endsWith(".ini") || name.startsWith("drone")).map(name => `../examples/${name}`),
    ];
    for (const target of shipped) expect(document, target).toContain(`](${target})`);
  });
});

/** The contents of a markdown document's fenced code blocks. */
const codeBlocksOf = (markdown: string) => [...markdown.matchAll(/^```\w*\n([\s\S]*?)^```$/gm)].map(match => match[1] ?? "");
