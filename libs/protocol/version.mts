/** The version of backup-coordinator, from its package.json (found from this file upward): both apps report it (status events, device info, `--version`). */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { z } from "zod";

const PACKAGE_NAME = "backup-coordinator";
const packageSchema = z.object({ name: z.string(), version: z.string().min(1) });

let cached: string | undefined;

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The package version, read once. Looks upward from this module, so it works from the
 * sources and from a build in `dist/`; "unknown" when no matching package.json is found.
 */
export function packageVersion(start = import.meta.dirname): string {
  if (cached !== undefined) return cached;
  let dir = start;
  for (;;) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const parsed = packageSchema.safeParse(readJson(file));
      if (parsed.success && parsed.data.name === PACKAGE_NAME) return (cached = parsed.data.version);
    }
    const parent = dirname(dir);
    if (parent === dir) return (cached = "unknown");
    dir = parent;
  }
}
