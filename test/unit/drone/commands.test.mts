/**
 * The drone's end of `backup_drone_command`: only its own commands, each request id once, a
 * stale one refused, a malformed one for it named; and every answer valid.
 */
import { describe, expect, it } from "vitest";

import { COMMAND_MAX_SKEW_MS, COMMAND_MEMORY, type CommandOutcome, createCommandReceiver } from "../../../apps/drone/ha/commands.mjs";
import { type CommandAckEvent, commandAckEventSchema, type CommandAction, type CommandEvent } from "../../../libs/protocol/index.mjs";

const NOW = new Date("2026-11-22T02:00:00Z");

function receiver(outcome: (action: CommandAction) => CommandOutcome = () => ({ accepted: true, reason: null, runId: "run-1" })) {
  const acted: CommandAction[] = [];
  const answers: CommandAckEvent[] = [];
  const logs: string[] = [];
  const created = createCommandReceiver({
    droneId: "laptop",
    act: action => {
      acted.push(action);
      return Promise.resolve(outcome(action));
    },
    answer: ack => {
      answers.push(ack);
      return Promise.resolve(true);
    },
    log: { info: m => void logs.push(`info ${m}`), warn: m => void logs.push(`warn ${m}`), debug: m => void logs.push(`debug ${m}`) },
    now: () => NOW,
  });
  return { receive: (data: unknown) => created.receive(data), acted, answers, logs };
}

const command = (extra: Partial<CommandEvent> = {}): CommandEvent => ({
  v: 1,
  drone_id: "laptop",
  action: "scheduled",
  request_id: "req-1",
  sender: "backup_coordinator",
  time: NOW.toISOString(),
  ...extra,
});

describe("backup_drone_command on the drone", () => {
  it("acts on its own command and answers with the run id; every answer matches the schema", async () => {
    const r = receiver();
    await r.receive(command());
    expect(r.acted).toEqual(["scheduled"]);
    expect(r.answers).toEqual([
      {
        v: 1,
        drone_id: "laptop",
        request_id: "req-1",
        action: "scheduled",
        sender: "backup_coordinator",
        accepted: true,
        reason: null,
        run_id: "run-1",
        duplicate: false,
        time: NOW.toISOString(),
      },
    ]);
    for (const answer of r.answers) expect(commandAckEventSchema.safeParse(answer).success).toBe(true);
    expect(r.logs).toContain("info command scheduled from backup_coordinator (req-1)");
  });

  it("ignores another drone's command without a word", async () => {
    const r = receiver();
    await r.receive(command({ drone_id: "nas" }));
    expect(r.acted).toEqual([]);
    expect(r.answers).toEqual([]);
    expect(r.logs.filter(line => !line.startsWith("debug"))).toEqual([]);
  });

  it("acts once per request id: a repeat gets the first answer again, marked duplicate", async () => {
    const r = receiver();
    await Promise.all([r.receive(command()), r.receive(command())]);
    await r.receive(command());
    expect(r.acted).toEqual(["scheduled"]);
    expect(r.answers).toHaveLength(3);
    expect(r.answers.map(answer => answer.duplicate).sort()).toEqual([false, true, true]);
    expect(new Set(r.answers.map(answer => answer.run_id))).toEqual(new Set(["run-1"]));
  });

  it("forgets the oldest ids past COMMAND_MEMORY", async () => {
    const r = receiver();
    for (let i = 0; i <= COMMAND_MEMORY; i++) await r.receive(command({ request_id: `r${i}`, action: "status" }));
    expect(r.acted).toHaveLength(COMMAND_MEMORY + 1);
    await r.receive(command({ request_id: `r${COMMAND_MEMORY}`, action: "status" }));
    expect(r.acted).toHaveLength(COMMAND_MEMORY + 1);
    await r.receive(command({ request_id: "r0", action: "status" }));
    expect(r.acted).toHaveLength(COMMAND_MEMORY + 2);
  });

  it("refuses a command sent too long ago (or with a clock far off), saying so", async () => {
    const r = receiver();
    await r.receive(command({ time: new Date(NOW.getTime() - COMMAND_MAX_SKEW_MS - 60_000).toISOString() }));
    await r.receive(command({ request_id: "req-2", time: new Date(NOW.getTime() + COMMAND_MAX_SKEW_MS + 60_000).toISOString() }));
    expect(r.acted).toEqual([]);
    expect(r.answers.map(answer => [answer.accepted, answer.reason])).toEqual([
      [false, "the command was sent at 2026-11-22T01:49:00.000Z, 11 min away from this drone's clock: too old, or a clock is wrong"],
      [false, "the command was sent at 2026-11-22T02:11:00.000Z, 11 min away from this drone's clock: too old, or a clock is wrong"],
    ]);
  });

  it("passes on the engine's refusal", async () => {
    const r = receiver(() => ({ accepted: false, reason: "scheduled is already running", runId: null }));
    await r.receive(command());
    expect(r.answers[0]).toMatchObject({ accepted: false, reason: "scheduled is already running", run_id: null });
  });

  it("answers a failure to act as a refusal with its message", async () => {
    const r = receiver(() => {
      throw new Error("the state file is not writable");
    });
    await r.receive(command({ action: "release_prune_hold" }));
    expect(r.answers[0]).toMatchObject({ action: "release_prune_hold", accepted: false, reason: "the state file is not writable" });
  });

  it("names the bad fields of a malformed command for this drone, and acts on none", async () => {
    const r = receiver();
    await r.receive({ ...command(), action: "restore" });
    await r.receive({ ...command(), v: 2 });
    await r.receive({ ...command(), request_id: "has spaces" });
    await r.receive({ ...command({ drone_id: "nas" }), action: "explode" });
    await r.receive("not an object");
    expect(r.acted).toEqual([]);
    expect(r.answers).toEqual([]);
    const warnings = r.logs.filter(line => line.startsWith("warn"));
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/^warn ignored a malformed backup_drone_command for this drone: action: /);
    expect(warnings[1]).toMatch(/v: /);
    expect(warnings[2]).toMatch(/request_id: /);
  });

  it("refuses a sender with a newline or another control character (it would reach the log and the answer); a printable one of any script is fine", async () => {
    const r = receiver();
    await r.receive(command({ sender: "automation\nWARN forged: backup failed" }));
    await r.receive(command({ sender: "tab\there", request_id: "req-2" }));
    await r.receive(command({ sender: "bidi \u202Eevil", request_id: "req-3" }));
    expect(r.acted).toEqual([]);
    expect(r.answers).toEqual([]);
    const warnings = r.logs.filter(line => line.startsWith("warn"));
    expect(warnings).toEqual(Array(3).fill(expect.stringMatching(/^warn ignored a malformed backup_drone_command for this drone: sender: printable characters only/)));
    expect(r.logs.join("\n")).not.toContain("forged");
    await r.receive(command({ sender: "Automatisation : sauvegarde 🌙", request_id: "req-4" }));
    expect(r.acted).toEqual(["scheduled"]);
  });
});
