#!/usr/bin/env node
/**
 * `backup-coordinator`. Digital Alchemy loads only after dotenvx is deferred (see
 * libs/config/defer-dotenvx.mts): the command itself is in ./cli.mts.
 */
import { deferDotenvx } from "../../libs/config/defer-dotenvx.mjs";

// the coordinator reads its env file itself (libs/config/sources.mts): Digital Alchemy's dotenvx,
// which would let ./.env override the exported environment, is never loaded
deferDotenvx();
const { runCoordinator } = await import("./cli.mjs");
await runCoordinator(process.argv.slice(2));
