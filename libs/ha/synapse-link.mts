/**
 * Does Home Assistant take this app's entities (a drone's or the coordinator's)? The synapse
 * integration (synapse-extension 25.10.19-beta.5) keeps an application's connection until the application sends
 * `synapse/going_offline`; a connection that died without it (sleep, a lost network, kill -9,
 * power loss) stays, and every later registration of the same application is refused with
 * `already_connected` (bridge.py `handle_registration`). synapse, the DA client, drops that
 * answer unread. Heartbeats from the new socket then find no bridge (websocket.py
 * `get_bridge_for_connection` matches the socket object) and ask for a registration that is
 * refused again. Nothing in the integration forgets the dead connection but a restart of
 * Home Assistant: reloading the entry unloads nothing (`async_unload_entry` returns at once).
 *
 * The app asks `synapse/get_health` (answered per socket, like a heartbeat) every
 * {@link LINK_PROBE_MS}: a bridge that knows this socket answers with its health; "no bridge"
 * twice in a row, while HA lists the app's device, means locked out. The question names no
 * application: the integration's "no bridge" answer then asks for a registration without a
 * unique id, which synapse ignores, so the probe adds no refused registration of its own.
 */
import { type TServiceParams } from "@digital-alchemy/core";
import { z } from "zod";

import { type SynapseLink } from "../protocol/index.mjs";
import { withDeadline } from "./deadline.mjs";

/** How often the app asks. */
export const LINK_PROBE_MS = 15_000;
/** After a (re)connect, the registration is under way: no question before this. */
export const LINK_SETTLE_MS = 10_000;
/** "No bridge for this socket" this many times in a row: locked out. */
export const LOCKED_AFTER = 2;

/** What one `synapse/get_health` answer says of this socket. */
export type HealthAnswer = "known" | "unknown_socket" | "no_answer";

const healthReply = z.object({ success: z.boolean(), error_code: z.string().optional() });

/**
 * Read a `synapse/get_health` reply (undefined: none came in time). The integration answers
 * `success: true` only when a bridge holds this very socket (websocket.py
 * `get_bridge_for_connection`), and `bridge_not_found` when none does.
 */
export function readHealth(reply: unknown): HealthAnswer {
  const parsed = healthReply.safeParse(reply);
  if (!parsed.success) return "no_answer";
  if (parsed.data.success) return "known";
  return parsed.data.error_code === "bridge_not_found" ? "unknown_socket" : "no_answer";
}

/** What the app remembers between two looks. */
export interface LinkMemory {
  link: SynapseLink;
  /** "No bridge" answers in a row. */
  misses: number;
}

/** One look: is the socket up, does HA list the app's device, and what did the probe say (if one was sent). */
export interface LinkObservation {
  socket: boolean;
  added: boolean;
  health?: HealthAnswer;
}

/** The first memory: nothing known. */
export const INITIAL_LINK: LinkMemory = { link: "unknown", misses: 0 };

/** The next memory after one look. Pure. */
export function nextLink(memory: LinkMemory, seen: LinkObservation): LinkMemory {
  if (!seen.socket) return { link: "unknown", misses: 0 };
  if (!seen.added) return { link: "not_added", misses: 0 };
  if (seen.health === "known") return { link: "connected", misses: 0 };
  if (seen.health === "unknown_socket") {
    const misses = memory.misses + 1;
    return { link: misses >= LOCKED_AFTER ? "locked_out" : memory.link === "not_added" ? "unknown" : memory.link, misses };
  }
  // no answer (HA busy, the integration not loaded yet): nothing learnt
  return memory.link === "not_added" ? { link: "unknown", misses: 0 } : memory;
}

/**
 * The one line an app logs when it finds itself locked out: what happened (`app`: "drone
 * laptop", "the coordinator"), what it means and what still works (`consequence`), and the
 * step that fixes it.
 */
export function lockedOutMessage(app: string, consequence: string): string {
  return (
    `Home Assistant still holds an earlier connection of ${app} (it ended without going offline: sleep, a lost network, ` +
    `kill -9 or power loss), so the synapse integration refuses this one: ${consequence}. To fix it, restart Home ` +
    `Assistant (Settings → System → power icon → Restart Home Assistant); reloading the Digital Alchemy entry does not help.`
  );
}

/** What an app does when its link changes: say a lockout once (log and elsewhere), and its end. */
export interface LockoutReport {
  /** The lockout begins: `message` is the line of {@link lockedOutMessage}. */
  lockedOut(message: string): void;
  /** HA takes the connection again after a lockout that was reported. */
  recovered(): void;
}

/**
 * An `onChange` for {@link createLinkWatch} that reports a lockout once when it begins and
 * once when it ends (a connection that flips between unknown and locked_out while the
 * socket reconnects is one lockout, not many).
 */
export function reportLockout(message: () => string, report: LockoutReport): (link: SynapseLink) => void {
  let said = false;
  return link => {
    if (link === "locked_out" && !said) {
      said = true;
      report.lockedOut(message());
    } else if (link === "connected" && said) {
      said = false;
      report.recovered();
    }
  };
}

/** What the watcher needs. */
export interface LinkWatchOptions {
  socketConnected(): boolean;
  /** HA lists the app's device (synapse's `isRegistered`). */
  added(): boolean;
  /** Send `synapse/get_health`; resolves with the reply, or undefined when none came in time. */
  probe(): Promise<unknown>;
  now(): number;
  onChange(link: SynapseLink, previous: SynapseLink): void;
}

/** The watcher's API. */
export interface LinkWatch {
  link(): SynapseLink;
  /** Look now (what the timer does). */
  check(): Promise<void>;
  /** The socket (re)connected: forget what was learnt, wait {@link LINK_SETTLE_MS} before asking. */
  connected(): void;
}

/** Create the watcher (the caller runs `check` every {@link LINK_PROBE_MS}). */
export function createLinkWatch(options: LinkWatchOptions): LinkWatch {
  let memory = INITIAL_LINK;
  let connectedAt = options.now();
  let busy = false;

  const update = (next: LinkMemory) => {
    const previous = memory.link;
    memory = next;
    if (next.link !== previous) options.onChange(next.link, previous);
  };

  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const socket = options.socketConnected();
      const added = socket && options.added();
      if (!socket || !added) return update(nextLink(memory, { socket, added }));
      if (options.now() - connectedAt < LINK_SETTLE_MS) return;
      const health = readHealth(await options.probe());
      // the socket may have dropped while the question was out: that answer is about the old one
      update(nextLink(memory, { socket: options.socketConnected(), added: options.added(), health }));
    } finally {
      busy = false;
    }
  };

  return {
    link: () => memory.link,
    check,
    connected: () => {
      connectedAt = options.now();
      update(INITIAL_LINK);
    },
  };
}

/**
 * Watch an app's own link over its hass socket: `synapse/get_health` every
 * {@link LINK_PROBE_MS} (a reply later than `deadlineMs` counts as none), and a fresh start
 * at every (re)connect. Returns the watcher.
 */
export function watchSynapseLink(options: {
  hass: TServiceParams["hass"];
  synapse: TServiceParams["synapse"];
  scheduler: TServiceParams["scheduler"];
  deadlineMs: () => number;
  onChange: (link: SynapseLink, previous: SynapseLink) => void;
}): LinkWatch {
  const { hass, synapse, scheduler } = options;
  const watch = createLinkWatch({
    socketConnected: () => hass.socket.connectionState === "connected",
    added: () => synapse.configure.isRegistered(),
    probe: async () => {
      const outcome = await withDeadline(hass.socket.sendMessage({ type: "synapse/get_health" }), options.deadlineMs());
      return outcome.ok ? outcome.value : undefined;
    },
    now: () => Date.now(),
    onChange: options.onChange,
  });
  hass.socket.onConnect(() => watch.connected());
  scheduler.setInterval(() => void watch.check(), LINK_PROBE_MS);
  return watch;
}
