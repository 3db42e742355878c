/**
 * What borg prints outside its JSON log reaches the drone's log as lines of their own (a
 * terminal shows them above the progress bar); a traceback's lines go to the debug log only.
 * borg is a stand-in script here: the lines are what matters, not what borg does.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { defaultConfigValues, parseDroneConfig } from "../../../apps/drone/config.mjs";
import { createDroneEngine } from "../../../apps/drone/core/engine.mjs";
import { openStateStore } from "../../../apps/drone/core/state.mjs";
import { createTerminal } from "../../../apps/drone/cli/terminal.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const quiet = () => undefined;

describe("borg's plain stderr lines", () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir("borg-text");
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("are logged one by one as warnings; a traceback only at debug level", async () => {
    const borg = join(dir.path, "borg");
    await writeFile(
      borg,
      [
        "#!/bin/sh",
        'if [ "$1" = "--version" ]; then echo "borg 1.2.4"; exit 0; fi',
        "echo 'Enter passphrase for key /srv/borg/laptop: ' >&2",
        "echo 'Traceback (most recent call last):' >&2",
        "echo '  File \"/usr/lib/python3/dist-packages/borg/archiver.py\", line 5, in main' >&2",
        "echo 'OSError: [Errno 5] Input/output error' >&2",
        "exit 2",
        "",
      ].join("\n"),
    );
    await chmod(borg, 0o755);
    await mkdir(join(dir.path, "source"));
    const config = parseDroneConfig({
      ...defaultConfigValues(),
      DRONE_ID: "laptop",
      REPOSITORY: join(dir.path, "repo"),
      SOURCES: [join(dir.path, "source")],
      STATE_DIR: join(dir.path, "state"),
      BORG_BINARY: borg,
    });
    const store = await openStateStore(join(config.stateDir, "laptop.json"), quiet);
    const warnings: string[] = [];
    const debug: string[] = [];
    const engine = createDroneEngine({ config, store, log: { debug: message => void debug.push(message), info: quiet, warn: message => void warnings.push(message), error: quiet } });
    try {
      const result = await engine.run("stats", "library");
      expect(result.outcome, JSON.stringify({ result, warnings, debug })).toBe("failed");
      expect(warnings, JSON.stringify({ warnings, debug })).toContain("borg: Enter passphrase for key /srv/borg/laptop:");
      expect(warnings.filter(line => line.includes("Traceback") || line.includes("OSError"))).toEqual([]);
      expect(debug).toContain("borg: OSError: [Errno 5] Input/output error");
    } finally {
      await engine.shutdown();
    }
  });

  it("on a terminal, a line goes above the progress bar, which is drawn again below it", () => {
    let written = "";
    const err = { isTTY: true, columns: 80, write: (text: string) => (written += text) } as unknown as NodeJS.WriteStream;
    const out = { write: () => true } as unknown as NodeJS.WriteStream;
    const previous = process.env.TERM;
    process.env.TERM = "xterm";
    try {
      const terminal = createTerminal({ out, err });
      terminal.status("⠋ creating · 1.00 GiB");
      written = "";
      terminal.line("warning: borg: Enter passphrase for key /srv/borg/laptop:");
      // the bar's line is cleared, the text gets a line of its own, the bar comes back under it
      expect(written).toBe("\r\u001B[2Kwarning: borg: Enter passphrase for key /srv/borg/laptop:\n⠋ creating · 1.00 GiB");
    } finally {
      process.env.TERM = previous;
    }
  });
});
