import { describe, expect, it } from "vitest";

import { createPacer, PACER_HOLD_MS, type PacerClock, type PacerGate } from "../../../libs/ha/pacer.mjs";

/** A clock that moves only when the test says so, and runs the timers that fall due. */
function fakeClock() {
  let now = 0;
  let timers: { at: number; run: () => void }[] = [];
  const clock: PacerClock = {
    now: () => now,
    after: (ms, run) => {
      const timer = { at: now + ms, run };
      timers.push(timer);
      return () => {
        timers = timers.filter(t => t !== timer);
      };
    },
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = timers.filter(t => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      timers = timers.filter(t => t !== due);
      now = due.at;
      due.run();
    }
    now = end;
  };
  return { clock, advance, pendingTimers: () => timers.length };
}

const noError = (error: unknown) => {
  throw error;
};

describe("pacing messages to Home Assistant", () => {
  it("starts at most perSecond jobs in any second, in the order they were queued", () => {
    const { clock, advance } = fakeClock();
    const pacer = createPacer({ perSecond: 3, clock, onError: noError });
    const ran: [number, number][] = [];
    for (let i = 0; i < 8; i++) pacer.push(() => ran.push([i, clock.now()]));

    // the first three at once, the rest wait
    expect(ran).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
    ]);
    expect(pacer.waiting).toBe(5);
    advance(999);
    expect(ran).toHaveLength(3);
    advance(1);
    expect(ran.slice(3)).toEqual([
      [3, 1000],
      [4, 1000],
      [5, 1000],
    ]);
    advance(1000);
    expect(ran.slice(6)).toEqual([
      [6, 2000],
      [7, 2000],
    ]);
    expect(pacer.waiting).toBe(0);
  });

  it("starts a job at once while the window has room, and a later one behind those waiting", () => {
    const { clock, advance } = fakeClock();
    const pacer = createPacer({ perSecond: 2, clock, onError: noError });
    const ran: string[] = [];
    pacer.push(() => ran.push("a"));
    advance(600);
    pacer.push(() => ran.push("b"));
    pacer.push(() => ran.push("c"));
    expect(ran).toEqual(["a", "b"]);
    // "a" leaves the window at 1000: "c" goes then, and "d", queued meanwhile, after it
    advance(100);
    pacer.push(() => ran.push("d"));
    expect(ran).toEqual(["a", "b"]);
    advance(300);
    expect(ran).toEqual(["a", "b", "c"]);
    advance(600);
    expect(ran).toEqual(["a", "b", "c", "d"]);
  });

  it("keeps the order when a job queues another one", () => {
    const { clock, advance } = fakeClock();
    const pacer = createPacer({ perSecond: 2, clock, onError: noError });
    const ran: string[] = [];
    pacer.push(() => ran.push("x"));
    pacer.push(() => ran.push("y"));
    pacer.push(() => {
      ran.push("a");
      pacer.push(() => ran.push("a2"));
    });
    pacer.push(() => ran.push("b"));
    pacer.push(() => ran.push("c"));
    advance(5_000);
    expect(ran).toEqual(["x", "y", "a", "b", "c", "a2"]);
  });

  it("goes on after a job that threw, and says so", () => {
    const { clock } = fakeClock();
    const errors: unknown[] = [];
    const pacer = createPacer({ perSecond: 5, clock, onError: error => errors.push(error) });
    const ran: string[] = [];
    pacer.push(() => {
      throw new Error("boom");
    });
    pacer.push(() => ran.push("b"));
    expect(ran).toEqual(["b"]);
    expect(errors).toEqual([new Error("boom")]);
  });

  it("drops what is queued when it closes, and refuses what comes after", () => {
    const { clock, advance, pendingTimers } = fakeClock();
    const pacer = createPacer({ perSecond: 1, clock, onError: noError });
    const ran: string[] = [];
    const dropped: string[] = [];
    for (const name of ["a", "b", "c"]) pacer.push(() => ran.push(name), () => dropped.push(name));
    expect(pendingTimers()).toBe(1);
    pacer.close();
    expect(dropped).toEqual(["b", "c"]);
    expect(pendingTimers()).toBe(0);
    pacer.push(() => ran.push("d"), () => dropped.push("d"));
    advance(10_000);
    expect(ran).toEqual(["a"]);
    expect(dropped).toEqual(["b", "c", "d"]);
    expect(pacer.waiting).toBe(0);
  });

  it("starts an urgent job before every normal one queued, each lane in order", () => {
    const { clock, advance } = fakeClock();
    const pacer = createPacer({ perSecond: 2, clock, onError: noError });
    const ran: string[] = [];
    for (const name of ["e1", "e2", "e3", "e4"]) pacer.push(() => ran.push(name));
    pacer.push(() => ran.push("p1"), undefined, "urgent");
    pacer.push(() => ran.push("p2"), undefined, "urgent");
    expect(ran).toEqual(["e1", "e2"]);
    advance(1000);
    expect(ran).toEqual(["e1", "e2", "p1", "p2"]);
    advance(1000);
    expect(ran).toEqual(["e1", "e2", "p1", "p2", "e3", "e4"]);
  });

  it("drops every queued job at once when the gate says so, without taking a slot", () => {
    const { clock, advance } = fakeClock();
    let gate: PacerGate = "open";
    const drops: number[] = [];
    const pacer = createPacer({ perSecond: 2, clock, onError: noError, gate: () => gate, onDropped: count => drops.push(count) });
    const ran: string[] = [];
    const dropped: string[] = [];
    for (const name of ["a", "b", "c", "d", "e"]) pacer.push(() => ran.push(name), () => dropped.push(name), name === "e" ? "urgent" : "normal");
    expect(ran).toEqual(["a", "b"]);
    gate = "drop";
    advance(1000);
    expect(dropped).toEqual(["e", "c", "d"]);
    expect(drops).toEqual([3]);
    expect(pacer.waiting).toBe(0);
    // the connection is back at once: both slots of this second are free
    gate = "open";
    pacer.push(() => ran.push("f"));
    pacer.push(() => ran.push("g"));
    expect(ran).toEqual(["a", "b", "f", "g"]);
  });

  it("holds queued jobs while the gate says hold, taking no slot, and starts them when it opens", () => {
    const { clock, advance } = fakeClock();
    let gate: PacerGate = "hold";
    const pacer = createPacer({ perSecond: 2, clock, onError: noError, gate: () => gate });
    const ran: [string, number][] = [];
    for (const name of ["a", "b", "c"]) pacer.push(() => ran.push([name, clock.now()]));
    advance(5_000);
    expect(ran).toEqual([]);
    expect(pacer.waiting).toBe(3);
    gate = "open";
    advance(PACER_HOLD_MS);
    expect(ran).toEqual([
      ["a", 5_000 + PACER_HOLD_MS],
      ["b", 5_000 + PACER_HOLD_MS],
    ]);
    advance(1000);
    expect(ran.map(([name]) => name)).toEqual(["a", "b", "c"]);
  });

  it("drops what is queued on request and goes on with what comes after", () => {
    const { clock } = fakeClock();
    const pacer = createPacer({ perSecond: 1, clock, onError: noError });
    const ran: string[] = [];
    const dropped: string[] = [];
    for (const name of ["a", "b", "c"]) pacer.push(() => ran.push(name), () => dropped.push(name));
    expect(pacer.drop()).toBe(2);
    expect(dropped).toEqual(["b", "c"]);
    pacer.push(() => ran.push("d"), () => dropped.push("d"));
    expect(pacer.waiting).toBe(1);
  });

  it("refuses a rate that is not a whole number of at least one", () => {
    const { clock } = fakeClock();
    expect(() => createPacer({ perSecond: 0, clock, onError: noError })).toThrow(/whole number of jobs per second \(got 0\)/);
    expect(() => createPacer({ perSecond: 2.5, clock, onError: noError })).toThrow(/got 2.5/);
  });
});
