import { describe, expect, it } from "vitest";

import { republishOnRegistration } from "../../../libs/ha/registration.mjs";

describe("patching every entity again when the registration begins", () => {
  it("sends each entity's stored values once per start of the registration", () => {
    let registered = false;
    let tick = () => undefined as void;
    const sent: [string, object][] = [];
    const values: Record<string, object> = { a: { state: "idle" }, b: { is_on: true } };
    republishOnRegistration({
      isRegistered: () => registered,
      entities: () => Object.entries(values).map(([id, data]) => ({ storage: { unique_id: id, export: () => data } })),
      send: (id, data) => {
        sent.push([id, data]);
        return Promise.resolve();
      },
      every: (_ms, check) => {
        tick = check;
        return () => undefined;
      },
      onError: message => {
        throw new Error(message);
      },
    });

    tick();
    expect(sent).toEqual([]);
    registered = true;
    tick();
    tick();
    expect(sent).toEqual([
      ["a", { state: "idle" }],
      ["b", { is_on: true }],
    ]);
    // lost (a reconnect, an app restart HA noticed) and back: everything once more
    registered = false;
    tick();
    registered = true;
    values.a = { state: "creating" };
    tick();
    expect(sent.slice(2)).toEqual([
      ["a", { state: "creating" }],
      ["b", { is_on: true }],
    ]);
  });
});
