/**
 * README.md "Backing up a machine", pasted as a new user would: the sh blocks marked
 * `<!-- tested: readme-backup -->` and `<!-- tested: readme-daemon -->` run literally in bash,
 * in a fresh HOME, with the built `backup-drone` on the PATH and the real borg. Nothing in them
 * is substituted: the folder the reader picks to back up (`$HOME/Documents`) is made here.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

import { tempDir } from "../../helpers/fs.mjs";
import { testedBlocks } from "../../helpers/markdown.mjs";
import { builtBin, ROOT, startCommand } from "../../helpers/process.mjs";

const run = promisify(execFile);

const archiveList = z.object({ archives: z.array(z.object({ name: z.string() })) });
const archiveItem = z.object({ path: z.string(), type: z.string() });

/** What the reader picks to back up: the README's first line names `$HOME/Documents`. */
const DOCUMENTS = { "notes.txt": "shopping: milk, bread\n", "taxes/2026.csv": "month,amount\n1,100\n" };

describe("README.md: Backing up a machine, pasted literally", () => {
  let remove: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await remove?.();
    remove = undefined;
  });

  it("creates the passphrase and the repository, backs up the chosen folder, lists it, shows it in status, and the daemon starts and stops on SIGTERM", async () => {
    const blocks = testedBlocks(await readFile(join(ROOT, "README.md"), "utf8"));
    const backup = blocks.get("readme-backup") ?? [];
    const daemon = blocks.get("readme-daemon") ?? [];
    expect(backup.length).toBeGreaterThan(0);
    expect(daemon).toHaveLength(1);
    // the daemon runs until it is stopped: the test starts it in the background, so it must be one command
    const daemonLine = (daemon[0] ?? "").trim();
    expect(daemonLine, "the readme-daemon block is one command line without a comment").toMatch(/^[^\n#]+$/);

    const temp = await tempDir("readme");
    remove = temp.remove;
    const home = join(temp.path, "home");
    const bin = join(temp.path, "bin");
    for (const [name, text] of Object.entries(DOCUMENTS)) {
      await mkdir(join(home, "Documents", name, ".."), { recursive: true });
      await writeFile(join(home, "Documents", name), text);
    }
    // `backup-drone` as `npm install -g` puts it on the PATH: the project's built bin
    await mkdir(bin);
    await writeFile(join(bin, "backup-drone"), `#!/bin/sh\nexec "${process.execPath}" "${await builtBin("backup-drone")}" "$@"\n`);
    await chmod(join(bin, "backup-drone"), 0o755);

    const script = [
      "set -euo pipefail",
      `trap 'echo "README command failed (exit $?): $BASH_COMMAND" >&2' ERR`,
      ...backup,
      `${daemonLine} &`,
      "daemon=$!",
      'echo "daemon pid $daemon"',
      'wait "$daemon"',
    ].join("\n");
    const shell = startCommand("bash", ["-c", script], { cwd: home, home, env: { PATH: `${bin}:${process.env.PATH ?? ""}` } });
    // a command that fails ends the script: stop waiting then, with its output
    const ended = shell.done.then(({ code, stdout, stderr }) => Promise.reject(new Error(`the README's commands ended early (exit ${String(code)}):\n${stdout}\n${stderr}`)));
    await Promise.race([shell.waitFor(/daemon pid (\d+)/, 60_000), ended]);
    const pid = Number(/daemon pid (\d+)/.exec(shell.output().stdout)?.[1]);
    // ready, in standalone mode, with the backup made above as its last one
    await Promise.race([shell.waitFor(/standalone: a scheduled backup every 24 h; last backup [^\n]*just now/, 60_000), ended]);
    process.kill(pid, "SIGTERM");
    const finished = await shell.done;
    expect(finished.stderr).not.toContain("README command failed");
    expect(finished.code, finished.stdout + finished.stderr).toBe(0);

    const repository = join(home, "backups", "borg");
    const passphraseFile = join(home, ".config", "backup-drone", "passphrase");
    const passphrase = (await readFile(passphraseFile, "utf8")).trim();
    expect(passphrase.length).toBeGreaterThanOrEqual(40);
    expect(((await stat(passphraseFile)).mode & 0o777).toString(8)).toBe("600");

    const output = finished.stdout + finished.stderr;
    expect(output).toContain(`repository created at ${repository}`);
    expect(output).toMatch(/✔ create succeeded/);
    expect(output).toMatch(/^1 archive$/m);
    expect(output).toMatch(new RegExp(`^repository +${repository}$`, "m"));
    expect(output).toMatch(/^last result +success/m);
    expect(output).toContain("starting shutdown");

    // the archive is in the repository, and holds the chosen folder's files (and nothing of /home)
    const env = { ...process.env, HOME: home, BORG_PASSPHRASE: passphrase };
    const { archives } = archiveList.parse(JSON.parse((await run("borg", ["list", "--json", repository], { env })).stdout));
    expect(archives).toHaveLength(1);
    const lines = (await run("borg", ["list", "--json-lines", `${repository}::${archives[0]?.name ?? ""}`], { env })).stdout.trim().split("\n");
    const files = lines.map(line => archiveItem.parse(JSON.parse(line))).filter(item => item.type === "-").map(item => `/${item.path}`);
    expect(files.sort()).toEqual(Object.keys(DOCUMENTS).map(name => join(home, "Documents", name)).sort());
  });
});
