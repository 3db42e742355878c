/**
 * The loopback Home Assistant as a process, for manual use and demos:
 *
 *   tsx test/emulator/main.mts --port 8123 --token T [--offline-after-ms 30000] [--verbose]
 *
 * The token may come from EMULATOR_TOKEN instead of the command line. Prints one JSON line
 * `{"url": …, "port": …}` once listening; SIGTERM or SIGINT stops it (exit 0).
 */
import { parseArgs } from "node:util";

import { z } from "zod";

import { startEmulator } from "./index.mjs";
import { errorText } from "../../libs/config/errors.mjs";

const USAGE = "usage: main.mts [--port N] [--token T | EMULATOR_TOKEN=T] [--offline-after-ms MS] [--drop-closed-app-connections] [--verbose]";

const optionsSchema = z.object({
  port: z.coerce.number().int().min(0).max(65_535).default(8123),
  token: z.string({ error: "a token is required: --token T or EMULATOR_TOKEN" }).min(1, "a token is required: --token T or EMULATOR_TOKEN"),
  offlineAfterMs: z.coerce.number().int().positive().default(30_000),
  dropClosedAppConnections: z.boolean().default(false),
  verbose: z.boolean().default(false),
});

function fail(message: string): never {
  process.stderr.write(`emulator: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: ReturnType<typeof parseArgs<{ options: Record<string, { type: "string" | "boolean" }> }>>["values"];
try {
  values = parseArgs({
    options: {
      port: { type: "string" },
      token: { type: "string" },
      "offline-after-ms": { type: "string" },
      "drop-closed-app-connections": { type: "boolean" },
      verbose: { type: "boolean" },
    },
  }).values;
} catch (error) {
  fail(errorText(error));
}

const parsed = optionsSchema.safeParse({
  port: values.port,
  token: values.token ?? process.env.EMULATOR_TOKEN,
  offlineAfterMs: values["offline-after-ms"],
  dropClosedAppConnections: values["drop-closed-app-connections"],
  verbose: values.verbose,
});
if (!parsed.success) fail(parsed.error.issues.map(issue => `${issue.path.join(".") || "options"}: ${issue.message}`).join("; "));
const options = parsed.data;

const emulator = await startEmulator({
  token: options.token,
  port: options.port,
  offlineAfterMs: options.offlineAfterMs,
  dropClosedAppConnections: options.dropClosedAppConnections,
  log: options.verbose ? line => process.stderr.write(`${new Date().toISOString()} ${line}\n`) : undefined,
});
process.stdout.write(`${JSON.stringify({ url: emulator.url, port: emulator.port })}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  emulator.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`emulator: ${errorText(error)}\n`);
      process.exit(1);
    },
  );
};
process.once("SIGTERM", stop).once("SIGINT", stop);
