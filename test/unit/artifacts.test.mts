/**
 * The Home Assistant artifacts in homeassistant/ (blueprint, dashboard, automations) name
 * only entities, events, event fields and values that exist in the code: renaming an entity
 * key, an event type, an event field or an enum value fails here.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";

import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { type z } from "zod";

import { COORDINATOR_ENTITIES, coordinatorObjectId, problemObjectId } from "../../apps/backup_coordinator/ha/entities.mjs";
import {
  APPLICATION_STATES,
  COORDINATOR_EVENT_SCHEMAS,
  DRONE_ENTITIES,
  type DroneEntityKey,
  entityId,
  EVENT_SCHEMAS,
  MODES,
  OUTCOMES,
  PROBLEM_KINDS,
} from "../../libs/protocol/index.mjs";

const ROOT = join(import.meta.dirname, "..", "..");
const ARTIFACTS = join(ROOT, "homeassistant");

/** Drone ids the artifacts use as examples. */
const SAMPLE_DRONES = ["laptop", "nas", "desktop"];
/** The default COORDINATOR_ID. */
const COORDINATOR_ID = "backup_coordinator";
/** Entities the examples take from the person's own Home Assistant, not from this project. */
const THEIR_OWN_ENTITIES = new Set(["update.nas_firmware", "binary_sensor.desktop_game_running", "binary_sensor.router_wan_failover"]);

/** A blueprint's `!input name`. */
class InputRef {
  constructor(readonly name: string) {}
}
const SCHEMA = yaml.DEFAULT_SCHEMA.extend([
  new yaml.Type("!input", { kind: "scalar", construct: (name: string) => new InputRef(name), instanceOf: InputRef }),
]);

/** Every YAML file under a folder. */
async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter(entry => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map(entry => join(entry.parentPath, entry.name))
    .sort();
}

/** Every node of a parsed document with the key it sits under. */
function* walk(node: unknown, key = ""): Generator<{ key: string; value: unknown; parent: unknown }> {
  if (Array.isArray(node)) {
    for (const item of node) {
      yield { key, value: item, parent: node };
      yield* walk(item, key);
    }
  } else if (node !== null && typeof node === "object" && !(node instanceof InputRef)) {
    for (const [childKey, child] of Object.entries(node)) {
      yield { key: childKey, value: child, parent: node };
      yield* walk(child, childKey);
    }
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);
const strings = (value: unknown): string[] => (typeof value === "string" ? [value] : Array.isArray(value) ? value.filter(item => typeof item === "string") : []);

/** Every event schema by HA event type: the drone's and the coordinator's. */
const ALL_EVENTS: Record<string, z.ZodObject> = { ...EVENT_SCHEMAS, ...COORDINATOR_EVENT_SCHEMAS };

/** Every entity id this project creates for the sample drones and the default coordinator. */
const OUR_ENTITIES = new Set([
  ...SAMPLE_DRONES.flatMap(drone => Object.keys(DRONE_ENTITIES).map(key => entityId(drone, key as DroneEntityKey))),
  ...Object.entries(COORDINATOR_ENTITIES).map(([key, spec]) => `${spec.domain}.${coordinatorObjectId(COORDINATOR_ID, key as keyof typeof COORDINATOR_ENTITIES)}`),
  ...SAMPLE_DRONES.map(drone => `binary_sensor.${problemObjectId(drone)}`),
]);

/** The states an entity can have, where the code defines them. */
function statesOf(entity: string): readonly string[] | undefined {
  const key = (name: DroneEntityKey) => SAMPLE_DRONES.some(drone => entityId(drone, name) === entity);
  if (key("application_state")) return APPLICATION_STATES;
  if (key("application_mode")) return MODES;
  if (key("last_result")) return [...OUTCOMES, "unknown"];
  if (entity.startsWith("switch.") || entity.startsWith("binary_sensor.") || entity.startsWith("update.")) return ["on", "off"];
  if (entity === `sensor.${coordinatorObjectId(COORDINATOR_ID, "running_now")}` || entity === `sensor.${coordinatorObjectId(COORDINATOR_ID, "queue")}`) return ["none"];
  return undefined;
}

const ENTITY_ID = /\b(?:button|sensor|number|select|text|switch|binary_sensor|update|input_boolean)\.[a-z0-9_]+\b/g;
const QUOTED = /'([^']*)'|"([^"]*)"/g;
const quoted = (text: string) => [...text.matchAll(QUOTED)].map(match => match[1] ?? match[2] ?? "");

interface Artifact {
  name: string;
  document: unknown;
}

async function artifacts(): Promise<Artifact[]> {
  const out: Artifact[] = [];
  for (const file of await yamlFiles(ARTIFACTS)) {
    out.push({ name: relative(ARTIFACTS, file), document: yaml.load(await readFile(file, "utf8"), { schema: SCHEMA, filename: file }) });
  }
  return out;
}

/** Every problem of one artifact: unknown entities, events, fields, values. */
function problemsOf({ document }: Artifact): string[] {
  const problems: string[] = [];
  const nodes = [...walk(document)];

  // entity ids, wherever they are written (an action's name like select.select_option is not one)
  for (const { key, value } of nodes) {
    if (typeof value !== "string" || key === "action") continue;
    for (const [entity] of value.matchAll(ENTITY_ID)) {
      if (!OUR_ENTITIES.has(entity) && !THEIR_OWN_ENTITIES.has(entity)) problems.push(`unknown entity ${entity}`);
    }
  }

  // event triggers: the type exists, event_data names fields of it with valid values
  const eventTypes = new Set<string>();
  for (const { value } of nodes) {
    if (!isRecord(value) || typeof value.event_type !== "string") continue;
    const schema = ALL_EVENTS[value.event_type];
    if (!schema) {
      problems.push(`unknown event type ${value.event_type}`);
      continue;
    }
    eventTypes.add(value.event_type);
    for (const [field, expected] of Object.entries(isRecord(value.event_data) ? value.event_data : {})) {
      const fieldSchema = schema.shape[field] as z.ZodType | undefined;
      if (!fieldSchema) problems.push(`${value.event_type} has no field ${field}`);
      else if (!fieldSchema.safeParse(expected).success) problems.push(`${value.event_type}.${field} cannot be ${JSON.stringify(expected)}`);
    }
  }

  // templates: trigger.event.data.<field> and wait.trigger.event.data.<field> exist in an event
  // the artifact listens to, and the values they are compared with are values of that field
  const fieldSchemas = (field: string) =>
    [...eventTypes].map(type => ALL_EVENTS[type]?.shape[field] as z.ZodType | undefined).filter(schema => schema !== undefined);
  for (const { value } of nodes) {
    if (typeof value !== "string" || !value.includes("{{")) continue;
    for (const [, field] of value.matchAll(/trigger\.event\.data\.(\w+)/g)) {
      if (field && fieldSchemas(field).length === 0) problems.push(`no event of ${[...eventTypes].join(", ") || "(none)"} has a field ${field}`);
    }
    const comparisons = [
      ...[...value.matchAll(/event\.data\.(\w+)\s*(?:==|!=)\s*('[^']*'|"[^"]*")/g)].map(match => [match[1] ?? "", quoted(match[2] ?? "")] as const),
      ...[...value.matchAll(/event\.data\.(\w+)\s+(?:not\s+)?in\s+\[([^\]]*)\]/g)].map(match => [match[1] ?? "", quoted(match[2] ?? "")] as const),
    ];
    for (const [field, values] of comparisons) {
      for (const literal of values) {
        if (!fieldSchemas(field).some(schema => schema.safeParse(literal).success)) problems.push(`${field} is never ${JSON.stringify(literal)}`);
      }
    }
  }

  // states compared with (conditions, conditional cards) and options selected
  for (const { value } of nodes) {
    if (!isRecord(value)) continue;
    const entities = [...strings(value.entity), ...strings(value.entity_id)];
    const compared = [...strings(value.state), ...strings(value.state_not)];
    for (const entity of entities) {
      const allowed = statesOf(entity);
      for (const state of compared) if (allowed && !allowed.includes(state)) problems.push(`${entity} is never in state ${JSON.stringify(state)}`);
    }
    if (value.action === "select.select_option" && isRecord(value.target) && isRecord(value.data)) {
      for (const entity of strings(value.target.entity_id)) {
        const allowed = statesOf(entity);
        const option = String(value.data.option);
        // a template chooses between literals: `{{ 'paused' if … else 'coordinated' }}`
        const options = option.includes("{{") ? [...option.matchAll(/(?:\{\{|else)\s*'([^']*)'/g)].map(match => match[1] ?? "") : [option];
        for (const candidate of options) {
          if (allowed && !allowed.includes(candidate)) problems.push(`${entity} has no option ${JSON.stringify(candidate)}`);
        }
      }
    }
  }
  return problems;
}

describe("homeassistant/ artifacts", () => {
  it("holds the blueprint, the dashboard and the automations", async () => {
    expect((await artifacts()).map(artifact => artifact.name)).toEqual([
      "automations/backup_before_update.yaml",
      "automations/backup_cancelled_or_stale.yaml",
      "automations/pause_on_metered_connection.yaml",
      "automations/pause_while_gaming.yaml",
      "blueprints/automation/backup_coordinator/drone_problem_notify.yaml",
      "dashboards/backups.yaml",
    ]);
  });

  it("docs/homeassistant.md links every artifact", async () => {
    const document = await readFile(join(ROOT, "docs", "homeassistant.md"), "utf8");
    for (const artifact of await artifacts()) expect(document, artifact.name).toContain(`](../homeassistant/${artifact.name})`);
  });

  it("every entity, event type, event field and compared value exists in the code", async () => {
    const all = await artifacts();
    const problems = all.flatMap(artifact => problemsOf(artifact).map(problem => `${artifact.name}: ${problem}`));
    expect(problems).toEqual([]);
  });

  it("the dashboard shows every coordinator entity and the main entities of each sample drone", async () => {
    const dashboard = (await artifacts()).find(artifact => artifact.name.startsWith("dashboards/"));
    const named = new Set([...walk(dashboard?.document)].flatMap(({ key, value }) => (key === "entity" ? strings(value) : [])));
    for (const [key, spec] of Object.entries(COORDINATOR_ENTITIES)) {
      expect(named, key).toContain(`${spec.domain}.${coordinatorObjectId(COORDINATOR_ID, key as keyof typeof COORDINATOR_ENTITIES)}`);
    }
    const main: DroneEntityKey[] = ["application_state", "progress", "eta", "last_backup", "last_result", "archive_deduplicated_size", "scheduled_backup", "application_mode"];
    for (const drone of ["laptop", "nas"]) for (const key of main) expect(named, `${drone} ${key}`).toContain(entityId(drone, key));
  });

  it("automations and the blueprint use the current syntax (triggers/conditions/actions, trigger:, action:)", async () => {
    for (const artifact of await artifacts()) {
      if (artifact.name.startsWith("dashboards/")) continue;
      const keys = new Set([...walk(artifact.document)].map(node => node.key));
      expect(keys, artifact.name).toContain("triggers");
      expect(keys, artifact.name).toContain("actions");
      for (const old of ["trigger_platform", "platform", "service", "condition_template"]) expect(keys, `${artifact.name}: ${old}`).not.toContain(old);
      expect(isRecord(artifact.document) && !("trigger" in artifact.document) && !("action" in artifact.document), artifact.name).toBe(true);
    }
  });
});

describe("the blueprint", () => {
  const load = async () => {
    const artifact = (await artifacts()).find(candidate => candidate.name.startsWith("blueprints/"));
    expect(isRecord(artifact?.document)).toBe(true);
    return artifact?.document as Record<string, unknown>;
  };

  it("has HA's blueprint metadata, and every input has a name and one selector", async () => {
    const document = await load();
    const blueprint = document.blueprint as Record<string, unknown>;
    expect(blueprint.domain).toBe("automation");
    expect(typeof blueprint.name).toBe("string");
    expect(typeof blueprint.description).toBe("string");
    expect(blueprint.homeassistant).toEqual({ min_version: expect.stringMatching(/^\d{4}\.\d+\.\d+$/) });
    const inputs = blueprint.input as Record<string, Record<string, unknown>>;
    for (const [name, input] of Object.entries(inputs)) {
      expect(typeof input.name, name).toBe("string");
      expect(Object.keys(input.selector as object), name).toHaveLength(1);
    }
  });

  it("uses every input it declares, and declares every input it uses", async () => {
    const document = await load();
    const declared = Object.keys((document.blueprint as { input: object }).input).sort();
    const used = [...new Set([...walk(document)].flatMap(({ value }) => (value instanceof InputRef ? [value.name] : [])))].sort();
    expect(used).toEqual(declared);
  });

  it("offers exactly the coordinator's problem kinds, all of them by default", async () => {
    const document = await load();
    const input = (document.blueprint as { input: Record<string, { default: unknown; selector: { select: { options: { value: string }[] } } }> }).input;
    const kinds = input.problem_kinds;
    expect(kinds?.selector.select.options.map(option => option.value)).toEqual([...PROBLEM_KINDS]);
    expect(kinds?.default).toEqual([...PROBLEM_KINDS]);
  });

  it("triggers on the coordinator's problem and recovery events and on failed drone results", async () => {
    const document = await load();
    const triggers = document.triggers as Record<string, unknown>[];
    expect(triggers.map(trigger => [trigger.trigger, trigger.event_type, trigger.event_data ?? null])).toEqual([
      ["event", "backup_coordinator_drone_problem", null],
      ["event", "backup_coordinator_drone_recovered", null],
      ["event", "backup_drone_result", { outcome: "failed" }],
    ]);
  });
});

describe("the check itself", () => {
  it("reports a renamed entity, event, field and value", () => {
    const document = yaml.load(
      [
        "triggers:",
        "  - trigger: event",
        "    event_type: backup_drone_results",
        "  - trigger: event",
        "    event_type: backup_drone_result",
        "    event_data: { outcome: failure, drone: nas }",
        "actions:",
        "  - action: select.select_option",
        "    target: { entity_id: select.nas_mode }",
        "    data: { option: paused }",
        "  - action: select.select_option",
        "    target: { entity_id: select.nas_application_mode }",
        "    data: { option: \"{{ 'pause' if trigger.event.data.outcome == 'failed' else 'coordinated' }}\" }",
        "  - condition: template",
        "    value_template: \"{{ trigger.event.data.result in ['success', 'ok'] and trigger.event.data.outcome != 'fine' }}\"",
      ].join("\n"),
      { schema: SCHEMA },
    );
    expect(problemsOf({ name: "test.yaml", document })).toEqual([
      "unknown entity select.nas_mode",
      "unknown event type backup_drone_results",
      'backup_drone_result.outcome cannot be "failure"',
      "backup_drone_result has no field drone",
      "no event of backup_drone_result has a field result",
      'outcome is never "fine"',
      'result is never "success"',
      'result is never "ok"',
      'select.nas_application_mode has no option "pause"',
    ]);
  });
});
