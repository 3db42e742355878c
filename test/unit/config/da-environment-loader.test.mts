/**
 * The bundles wrap Digital Alchemy's environment loader to return nothing at once when the
 * environment and the switches are both off as sources (scripts/bundle.mts): what DA's own
 * loader returns then too. Should a DA release read either source anyway, this fails.
 */
import { ConfigLoaderEnvironment } from "@digital-alchemy/core";
import { afterEach, describe, expect, it } from "vitest";

type LoaderParams = Parameters<typeof ConfigLoaderEnvironment>[0];

const argv = [...process.argv];
afterEach(() => {
  delete process.env.DRONE_REPOSITORY;
  process.argv.splice(0, process.argv.length, ...argv);
});

/** DA's loader on one key, with the given sources, while the environment and a switch both name that key. */
async function load(configSources: { env?: boolean; argv?: boolean } | undefined) {
  process.env.DRONE_REPOSITORY = "/from/the/environment";
  process.argv.push("--ARCHIVE_PREFIX=from-a-switch");
  const set = (target: Record<string, Record<string, unknown>>, path: string, value: unknown) => {
    const [module = "", key = ""] = path.split(".");
    target[module] = { ...target[module], [key]: value };
  };
  const quiet = () => undefined;
  const params = {
    configs: new Map([["drone", { REPOSITORY: { type: "string" }, ARCHIVE_PREFIX: { type: "string" } }]]),
    internal: { boot: { options: configSources === undefined ? {} : { configSources } }, utils: { object: { set } } },
    logger: { debug: quiet, trace: quiet, warn: quiet, info: quiet },
  } as unknown as LoaderParams;
  return await ConfigLoaderEnvironment(params);
}

describe("Digital Alchemy's environment loader", () => {
  it("returns nothing when the environment and the switches are both off", async () => {
    expect(await load({ env: false, argv: false })).toEqual({});
  });

  it("reads both when they are on (so the case above had something to ignore)", async () => {
    expect(await load(undefined)).toEqual({ drone: { REPOSITORY: "/from/the/environment", ARCHIVE_PREFIX: "from-a-switch" } });
  });
});
