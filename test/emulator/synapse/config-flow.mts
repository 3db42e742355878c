/**
 * The emulated integration's config flow (config_flow.py): discovery (`synapse/discovery`
 * → `synapse/identify`), the form a person picks an app from, and the entry it adds
 * (`async_setup_entry`: the bridge and its online sensor).
 */
import { z } from "zod";

import { humanizeIssues } from "../core.mjs";
import { type FiredEvent } from "../model.mjs";
import { type Bridges } from "./bridge.mjs";
import { type StoredApp, type SynapseContext } from "./shared.mjs";

/** The `synapse/identify` data an app fires in answer to discovery. */
const identifySchema = z.object({ app: z.string(), title: z.string(), unique_id: z.string().min(1) });
type IdentifyReply = z.infer<typeof identifySchema>;

/** The synapse config flow's form, as a person sees it in Settings → Add integration. */
export interface ConfigFlow {
  /** What the form lists: `{app name: title}` (config_flow.py `app_choices`). */
  readonly choices: Record<string, string>;
  /** Submit the form with this app name; the unique id of the app it added, or undefined when it was configured meanwhile. */
  pick(appName: string): string | undefined;
}

/** The config flow. */
export function createConfigFlow(ctx: SynapseContext, bridge: Pick<Bridges, "newBridge" | "addHealthSensor">) {
  const { core, options, log, stored, bridges, later, unsettled, bridgeForConnection } = ctx;
  const { newBridge, addHealthSensor } = bridge;

  /** `async_setup_entry`: the bridge, the platforms (only the online sensor until the app registers), then `user_config_completed`. */
  function setupEntry(app: StoredApp, announce: boolean) {
    const bridge = newBridge(app);
    bridges.set(app.data.unique_id, bridge);
    addHealthSensor(bridge);
    if (announce) {
      core.fire("synapse/user_config_completed", { unique_id: app.data.unique_id, message: "Bridge is ready - please register via WebSocket" });
    }
  }

  /** Add an app as the config flow does when a person picks it. */
  function adoptApp(data: IdentifyReply) {
    const entry = core.addConfigEntry("synapse", data.title);
    const app: StoredApp = { entryId: entry.entry_id, data: { app: data.app, title: data.title, unique_id: data.unique_id }, hashes: {}, everRegistered: false };
    stored.set(entry.entry_id, app);
    log(`synapse: config flow added app '${data.app}' (${data.unique_id})`);
    setupEntry(app, true);
  }

  let round: Promise<IdentifyReply[]> | undefined;
  /** Ends the running round early (HA stopping): its callers get no apps. */
  let abandonRound: (() => void) | undefined;
  let roundTimer: NodeJS.Timeout | undefined;

  /** config_flow.py `identify_all`: fire `synapse/discovery` and collect `synapse/identify` for a second. */
  function identifyAll(windowMs: number): Promise<IdentifyReply[]> {
    round ??= new Promise<IdentifyReply[]>(resolve => {
      abandonRound = () => resolve([]);
      const replies: FiredEvent[] = [];
      const stop = core.listen("synapse/identify", event => void replies.push(event));
      core.fire("synapse/discovery");
      later(windowMs, () => {
        stop();
        round = undefined;
        abandonRound = undefined;
        const apps: IdentifyReply[] = [];
        for (const reply of replies) {
          const parsed = identifySchema.safeParse(reply.data);
          if (parsed.success) apps.push(parsed.data);
          else log(`synapse: ignored an identify reply: ${humanizeIssues(parsed.error.issues)}`);
        }
        resolve(apps);
      });
    });
    return round;
  }

  const configuredApp = (uniqueId: string) => [...stored.values()].find(app => app.data.unique_id === uniqueId);

  /**
   * config_flow.py `async_step_user`: the form lists the apps not configured yet as a dict
   * keyed by their `app` name (`{app: title}`: of several apps with one name, the form shows
   * one entry, with the title of the last), and picking an entry adds the *first* app of that
   * name (`next(app for app in known_apps if app["app"] == selected)`), unless its unique id
   * has been configured meanwhile (`_abort_if_unique_id_configured`).
   */
  function flowOf(replies: IdentifyReply[]): ConfigFlow {
    const known = replies.filter(app => !configuredApp(app.unique_id));
    const choices: Record<string, string> = {};
    for (const app of known) choices[app.app] = app.title;
    return {
      choices,
      pick(appName) {
        if (!(appName in choices)) throw new Error(`${JSON.stringify(appName)} is not one of the choices ${JSON.stringify(Object.keys(choices))}`);
        const selected = known.find(app => app.app === appName);
        if (!selected || configuredApp(selected.unique_id)) return undefined;
        adoptApp(selected);
        return selected.unique_id;
      },
    };
  }

  /**
   * One pass of the config flow as a person adding every app it shows: discovery, the form,
   * each entry picked once. An app that answers although it is configured but never
   * registered missed `user_config_completed` (it was not ready yet): it is told again.
   */
  async function discoveryRound(windowMs: number): Promise<string[]> {
    const replies = await identifyAll(windowMs);
    const flow = flowOf(replies);
    const adopted: string[] = [];
    for (const appName of Object.keys(flow.choices)) {
      const uniqueId = flow.pick(appName);
      if (uniqueId) adopted.push(uniqueId);
    }
    for (const reply of replies) {
      const existing = configuredApp(reply.unique_id);
      if (existing && !existing.everRegistered && !adopted.includes(existing.data.unique_id)) {
        core.fire("synapse/user_config_completed", { unique_id: existing.data.unique_id, message: "Bridge is ready - please register via WebSocket" });
      }
    }
    scheduleRounds();
    return adopted;
  }

  const MAX_ROUNDS = 5;
  /** Keep discovering while a new connection might be an app that has not answered yet. */
  function scheduleRounds() {
    if (!options.autoAdopt || roundTimer || round) return;
    for (const [connection, rounds] of unsettled) {
      if (!connection.isOpen() || rounds >= MAX_ROUNDS || bridgeForConnection(connection)) unsettled.delete(connection);
    }
    if (unsettled.size === 0) return;
    for (const [connection, rounds] of unsettled) unsettled.set(connection, rounds + 1);
    roundTimer = later(0, () => {
      roundTimer = undefined;
      void discoveryRound(1000);
    });
  }

  return {
    setupEntry,
    discoveryRound,
    identifyAll,
    flowOf,
    scheduleRounds,
    /** HA stopping: a running round ends with no apps. */
    stop() {
      abandonRound?.();
      abandonRound = undefined;
      round = undefined;
      roundTimer = undefined;
    },
  };
}
