/**
 * Each `borg14` test file starts with borg 1.4's bin folder first on PATH: the client's
 * `borg`, the drone processes the tests start and the wrapper scripts that exec `borg` all
 * find borg 1.4 there.
 */
import { delimiter, dirname } from "node:path";

import { inject } from "vitest";

import { resolveBinary } from "../../libs/borg/runner.mjs";

const bin = inject("borg14Bin");
process.env.PATH = `${bin}${delimiter}${process.env.PATH ?? ""}`;
// the borg the client resolves on PATH must be this one, or the file would test 1.2 twice
const resolved = await resolveBinary("borg");
if (dirname(resolved) !== bin) throw new Error(`borg resolves to ${resolved}, not to borg 1.4 in ${bin}`);
