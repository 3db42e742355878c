/**
 * The synapse integration (the Home Assistant custom component of
 * Digital-Alchemy-TS/synapse-extension), as its sources behave, split as its files are:
 * the config flow's discovery (synapse/config-flow.mts: config_flow.py), one bridge per
 * configured app with its connections, registration, heartbeat and online sensor
 * (synapse/bridge.mts: bridge.py, health.py), the entity platforms (synapse/entities.mts:
 * button.py, number.py, select.py, text.py, sensor.py, binary_sensor.py, switch.py,
 * base_entity.py) and what HA sends to apps (synapse/commands.mts). The websocket commands
 * (websocket.py) are each with the part they act on.
 */
import { type WsConnection } from "./commands.mjs";
import { type HassCore } from "./core.mjs";
import { newContext, slugify } from "./model.mjs";
import { createBridges } from "./synapse/bridge.mjs";
import { createAppCommands } from "./synapse/commands.mjs";
import { createConfigFlow } from "./synapse/config-flow.mjs";
import { createEntities } from "./synapse/entities.mjs";
import { createSynapseContext, type SynapseOptions } from "./synapse/shared.mjs";

export type { ConfigFlow } from "./synapse/config-flow.mjs";
export type { SynapseOptions } from "./synapse/shared.mjs";

/** Create the integration on a core; `start` sets it up, as HA does at every start. */
export function createSynapseIntegration(core: HassCore, options: SynapseOptions) {
  const ctx = createSynapseContext(core, options);
  const { stored, bridges, unsettled, bridgeForConnection } = ctx;
  const app = createAppCommands(ctx);
  const entities = createEntities(ctx, app);
  const bridge = createBridges(ctx, app, entities);
  const flow = createConfigFlow(ctx, bridge);

  return {
    commands: { ...bridge.handlers, ...entities.handlers, ...app.handlers },
    /** Set up at HA start: a bridge (offline) and the online sensor per configured app. */
    start() {
      entities.listenForEntityEvents();
      app.registerReloadService();
      for (const configured of stored.values()) flow.setupEntry(configured, false);
    },
    /** HA stopping: every bridge and timer goes; configured apps and their hashes stay. */
    stop() {
      ctx.stop();
      flow.stop();
    },
    /** A new authenticated connection subscribed to every event: it may be an app waiting to be found. */
    connectionSubscribed(connection: WsConnection) {
      if (!options.autoAdopt) return;
      if (!unsettled.has(connection)) unsettled.set(connection, 0);
      flow.scheduleRounds();
    },
    connectionClosed(connection: WsConnection) {
      unsettled.delete(connection);
      if (!options.dropClosedAppConnections) return;
      const found = bridgeForConnection(connection);
      if (found) bridge.unregisterConnection(found[0], found[1]);
    },
    /** Run the config flow now, picking every app it shows; resolves with the unique ids of the apps it added. */
    adopt: () => flow.discoveryRound(1000),
    /** Open the config flow's form (discovery, one second of replies) without picking anything. */
    configFlow: async () => flow.flowOf(await flow.identifyAll(1000)),
    applications: () =>
      [...stored.values()].map(configured => {
        const found = bridges.get(configured.data.unique_id);
        return {
          unique_id: configured.data.unique_id,
          name: configured.data.title,
          app: configured.data.app,
          online: found?.online ?? false,
          connected: found !== undefined && [...found.connections.values()].some(connection => connection.isOpen()),
          lastHeartbeat: found?.lastHeartbeat ?? null,
        };
      }),
    /** The object id HA gives an app's online sensor (for tests that look it up). */
    onlineSensorObjectId: (title: string) => slugify(`${title} Online`),
    newContext,
  };
}

/** The integration's API. */
export type SynapseIntegration = ReturnType<typeof createSynapseIntegration>;
