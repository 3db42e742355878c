/**
 * The drone's end of `backup_drone_command`: every event of that type on HA's bus reaches
 * every drone; each validates it, acts only on its own drone id, acts once per request id,
 * and answers with `backup_drone_command_ack`. No `TServiceParams`: the service hands in how
 * to act and how to answer.
 */
import {
  type CommandAckEvent,
  commandAckEventSchema,
  type CommandAction,
  type CommandEvent,
  commandEventSchema,
  PROTOCOL_VERSION,
} from "../../../libs/protocol/index.mjs";
import { errorText, issueLines } from "../../../libs/config/errors.mjs";

/** A command more than this far from the drone's clock (either way) is refused: it is stale, or a clock is wrong. */
export const COMMAND_MAX_SKEW_MS = 10 * 60_000;
/** How many answered request ids the drone remembers (a repeat among them gets the first answer, and nothing is done again). */
export const COMMAND_MEMORY = 500;

/** What carrying out a command came to. */
export interface CommandOutcome {
  accepted: boolean;
  reason: string | null;
  runId: string | null;
}

/** What the receiver needs. */
export interface CommandReceiverOptions {
  droneId: string;
  /** Carry out an action (never rejects: a failure is an outcome that is not accepted). */
  act(action: CommandAction, command: CommandEvent): Promise<CommandOutcome>;
  /** Put the answer on HA's bus; resolves false when it did not get there. */
  answer(ack: CommandAckEvent): Promise<boolean>;
  log: { info(message: string): void; warn(message: string): void; debug(message: string): void };
  now(): Date;
}

/** The receiver's API. */
export interface CommandReceiver {
  /** One `backup_drone_command` event's data, as it came. Never rejects. */
  receive(data: unknown): Promise<void>;
}

/** The drone id a payload names, if it names one (to tell a malformed command for this drone from someone else's). */
const addressee = (data: unknown): unknown => (typeof data === "object" && data !== null && "drone_id" in data ? data.drone_id : undefined);

/** Create the receiver. */
export function createCommandReceiver(options: CommandReceiverOptions): CommandReceiver {
  const { droneId, log } = options;
  /** Answers by request id, oldest first; a request being carried out is in here already. */
  const answered = new Map<string, Promise<CommandAckEvent>>();

  const remember = (requestId: string, ack: Promise<CommandAckEvent>) => {
    answered.set(requestId, ack);
    while (answered.size > COMMAND_MEMORY) {
      const oldest = answered.keys().next();
      if (oldest.done) break;
      answered.delete(oldest.value);
    }
  };

  const ackOf = (command: CommandEvent, outcome: CommandOutcome, duplicate: boolean): CommandAckEvent => ({
    v: PROTOCOL_VERSION,
    drone_id: droneId,
    request_id: command.request_id,
    action: command.action,
    sender: command.sender,
    accepted: outcome.accepted,
    reason: outcome.reason === null ? null : outcome.reason.slice(0, 500),
    run_id: outcome.runId,
    duplicate,
    time: options.now().toISOString(),
  });

  const send = async (ack: CommandAckEvent) => {
    const valid = commandAckEventSchema.safeParse(ack);
    if (!valid.success) {
      log.warn(`the answer to command ${ack.request_id} does not match the protocol: ${valid.error.issues.map(issue => issue.path.join(".")).join(", ")}`);
      return;
    }
    if (!(await options.answer(valid.data))) log.debug(`the answer to command ${ack.request_id} was not confirmed by Home Assistant`);
  };

  const carryOut = async (command: CommandEvent): Promise<CommandAckEvent> => {
    const skew = Math.abs(options.now().getTime() - Date.parse(command.time));
    if (skew > COMMAND_MAX_SKEW_MS) {
      const minutes = Math.round(skew / 60_000);
      const reason = `the command was sent at ${command.time}, ${minutes} min away from this drone's clock: too old, or a clock is wrong`;
      log.warn(`command ${command.action} from ${command.sender} (${command.request_id}) refused: ${reason}`);
      return ackOf(command, { accepted: false, reason, runId: null }, false);
    }
    log.info(`command ${command.action} from ${command.sender} (${command.request_id})`);
    let outcome: CommandOutcome;
    try {
      outcome = await options.act(command.action, command);
    } catch (error) {
      outcome = { accepted: false, reason: errorText(error), runId: null };
    }
    return ackOf(command, outcome, false);
  };

  const receive = async (data: unknown) => {
    const parsed = commandEventSchema.safeParse(data);
    if (!parsed.success) {
      // every drone sees every command: only one addressed to this drone is worth a warning
      const fields = issueLines(parsed.error).join("; ");
      if (addressee(data) === droneId) log.warn(`ignored a malformed backup_drone_command for this drone: ${fields}`);
      else log.debug(`ignored a backup_drone_command that is malformed or not for this drone: ${fields}`);
      return;
    }
    const command = parsed.data;
    if (command.drone_id !== droneId) return;
    const earlier = answered.get(command.request_id);
    if (earlier) {
      const first = await earlier;
      log.info(`command ${command.request_id} from ${command.sender} repeated: answered again, nothing done again`);
      await send({ ...first, duplicate: true, time: options.now().toISOString() });
      return;
    }
    const answer = carryOut(command);
    remember(command.request_id, answer);
    await send(await answer);
  };

  return {
    receive: async data => {
      try {
        await receive(data);
      } catch (error) {
        log.warn(`handling a backup_drone_command failed: ${errorText(error)}`);
      }
    },
  };
}
