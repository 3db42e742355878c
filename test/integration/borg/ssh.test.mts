/**
 * borg over a real ssh to a real sshd that serves `borg serve --restrict-to-path`, the way a NAS
 * does: every way ssh fails has its own kind and a one-line message that starts with ssh's own
 * reason, a link that breaks mid-run is `connection_lost`, and a checkpoint is claimed only when
 * borg committed one.
 */
import { execFile, spawn } from "node:child_process";
import { chmod, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type BorgError, type BorgEvent, type BorgRepository, checkpointWatch, createBorgClient, Secret } from "../../../libs/borg/index.mjs";
import { rejection, TEST_PASSPHRASE } from "../../helpers/borg.mjs";
import { tempDir, writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin } from "../../helpers/process.mjs";
import { freePort, type SshClientKey, type SshServer, startSshd } from "../../helpers/sshd.mjs";

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** An ssh command that pins this test's key and known_hosts and sets nothing about prompts: the client's options must. */
const bareRsh = (keyPath: string, knownHosts: string) => `ssh -F /dev/null -i ${keyPath} -o IdentitiesOnly=yes -o UserKnownHostsFile=${knownHosts}`;

/** A message people read: one line, no traceback, no passphrase. */
function expectOneLine(error: BorgError) {
  expect(error.message).not.toContain("\n");
  expect(error.message).not.toContain("Traceback");
  expect(error.message).not.toContain(TEST_PASSPHRASE);
}

/** Processes whose parent is `pid`, read from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // the fields after the command name (which may hold spaces) start with the state, then the parent pid
    const parent = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
    if (parent === String(pid)) found.push(Number(entry));
  }
  return found;
}

/** The pid of the `borg serve` restricted to exactly `path` (this test's own), if one runs. */
async function borgServeOf(path: string): Promise<number | undefined> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0").filter(Boolean);
    if (argv.includes("serve") && argv.join(" ").endsWith(`--restrict-to-path ${path}`)) return Number(entry);
  }
  return undefined;
}

describe("borg over ssh: every failure has its kind and ssh's own reason", () => {
  let server: SshServer;
  let root: { path: string; remove: () => Promise<void> };
  let key: SshClientKey;
  let repoPath: string;
  let source: string;

  const repository = (extra: Partial<BorgRepository> = {}): BorgRepository => ({
    location: server.url(repoPath),
    passphrase: { kind: "passphrase", value: new Secret(TEST_PASSPHRASE) },
    baseDir: join(root.path, "borg-base"),
    lockWaitSeconds: 5,
    rsh: bareRsh(key.keyPath, server.knownHosts),
    ...extra,
  });

  beforeAll(async () => {
    server = await startSshd();
    root = await tempDir("ssh-client");
    repoPath = join(root.path, "repo");
    source = join(root.path, "source");
    await writeRandomFiles(source, 24, MiB);
    key = await server.addClient({ restrictTo: [repoPath] });
    await createBorgClient(repository()).init({ encryption: "repokey" });
  });

  afterAll(async () => {
    await server?.stop();
    await root?.remove();
  });

  it("a host key that is not in known_hosts is ssh_host_unknown at once (the client's StrictHostKeyChecking), with ssh-keyscan for this host and port", async () => {
    const empty = join(root.path, "known_hosts-empty");
    await writeFile(empty, "");
    const error = await rejection(createBorgClient(repository({ rsh: bareRsh(key.keyPath, empty) })).list());
    expect(error.kind).toBe("ssh_host_unknown");
    expect(error.message).toMatch(new RegExp(`^ssh: No ED25519 host key is known for \\[127\\.0\\.0\\.1\\]:${server.port} `));
    expect(error.message).toContain(`ssh-keyscan -p ${server.port} 127.0.0.1 >> ~/.ssh/known_hosts`);
    expectOneLine(error);
  });

  it("with SSH_HOST_KEY_POLICY accept-new the first connection records the key, and says so as a note", async () => {
    const fresh = join(root.path, "known_hosts-fresh");
    await writeFile(fresh, "");
    const client = createBorgClient(repository({ rsh: bareRsh(key.keyPath, fresh), sshHostKeyPolicy: "accept-new" }));
    const first = await client.list();
    expect(first.outcome).toBe("success");
    expect(first.notes.join("\n")).toContain(`ssh recorded the ED25519 host key of [127.0.0.1]:${server.port} in known_hosts`);
    expect(await readFile(fresh, "utf8")).toContain(`[127.0.0.1]:${server.port} ssh-ed25519 `);
    const second = await client.list();
    expect(second.notes).toEqual([]);
  });

  it("a changed host key is ssh_host_key_changed: the fingerprint ssh saw and ssh-keygen -R for this host", async () => {
    const wrong = join(root.path, "known_hosts-wrong");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root.path, "impostor")]);
    const impostor = (await readFile(join(root.path, "impostor.pub"), "utf8")).split(" ").slice(0, 2).join(" ");
    await writeFile(wrong, `[127.0.0.1]:${server.port} ${impostor}\n`);
    const error = await rejection(createBorgClient(repository({ rsh: bareRsh(key.keyPath, wrong) })).list());
    expect(error.kind).toBe("ssh_host_key_changed");
    expect(error.message).toMatch(new RegExp(`^ssh: Host key for \\[127\\.0\\.0\\.1\\]:${server.port} has changed`));
    expect(error.message).toMatch(/\(SHA256:[\w+/]+\)/);
    expect(error.message).toContain(`ssh-keygen -R '[127.0.0.1]:${server.port}'`);
    expectOneLine(error);
  });

  it("a key the server does not know is ssh_auth_denied", async () => {
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root.path, "stranger")]);
    const error = await rejection(createBorgClient(repository({ rsh: bareRsh(join(root.path, "stranger"), server.knownHosts) })).list());
    expect(error.kind).toBe("ssh_auth_denied");
    expect(error.message).toMatch(/^ssh: root@127\.0\.0\.1: Permission denied \(publickey\): /);
    expect(error.message).toContain("authorized_keys");
    expectOneLine(error);
  });

  it("a port nobody listens on is ssh_connection_refused", async () => {
    const port = await freePort();
    const error = await rejection(createBorgClient(repository({ location: `ssh://root@127.0.0.1:${port}${repoPath}` })).list());
    expect(error.kind).toBe("ssh_connection_refused");
    expect(error.message).toMatch(new RegExp(`^ssh: ssh: connect to host 127\\.0\\.0\\.1 port ${port}: Connection refused: nothing accepts ssh on 127\\.0\\.0\\.1 port ${port}`));
    expectOneLine(error);
  });

  it("a host name that does not resolve is ssh_unreachable", async () => {
    const error = await rejection(createBorgClient(repository({ location: `ssh://root@no-such-nas.invalid${repoPath}` })).list());
    expect(error.kind).toBe("ssh_unreachable");
    expect(error.message).toMatch(/^ssh: ssh: Could not resolve hostname no-such-nas\.invalid/);
    expectOneLine(error);
  });

  it("a path outside the key's --restrict-to-path is repository_path_refused", async () => {
    const other = join(root.path, "elsewhere");
    const error = await rejection(createBorgClient(repository({ location: server.url(other) })).list());
    expect(error.kind).toBe("repository_path_refused");
    expect(error.message).toContain(`Repository path not allowed: ${other}`);
    expect(error.message).toContain("--restrict-to-path");
    expectOneLine(error);
  });

  it("ssh never gets the passphrase: not in its environment, with either transport", async () => {
    const dump = join(root.path, "ssh-env");
    const wrapper = join(root.path, "ssh-wrapper");
    await writeFile(wrapper, `#!/bin/sh\ncat /proc/$$/environ | tr '\\0' '\\n' >> ${dump}\nexec ssh "$@"\n`);
    await chmod(wrapper, 0o755);
    const rsh = bareRsh(key.keyPath, server.knownHosts).replace(/^ssh /, `${wrapper} `);
    for (const transport of ["fd", "env"] as const) {
      const listed = await createBorgClient(repository({ rsh, passphraseTransport: transport })).list();
      expect(listed.outcome).toBe("success");
    }
    const seen = await readFile(dump, "utf8");
    expect(seen).toContain("BORG_RSH=");
    expect(seen).not.toContain(TEST_PASSPHRASE);
  });

  /** Start a slow create (rate-limited upload); `breakLink` runs once `ready` says so. */
  async function createAndBreak(options: { checkpointIntervalSeconds: number; archive: string; ready: (checkpointed: boolean, event: BorgEvent) => boolean; breakLink: () => Promise<void> }) {
    const watch = checkpointWatch();
    let broken: Promise<void> | undefined;
    const error = await rejection(
      createBorgClient(repository()).create(
        { archive: options.archive, paths: [source], checkpointIntervalSeconds: options.checkpointIntervalSeconds, uploadRateLimitKiB: 2048 },
        {
          onEvent: event => {
            watch.see(event);
            if (broken === undefined && options.ready(watch.committed(), event)) broken = options.breakLink();
          },
        },
      ),
    );
    await broken;
    return error;
  }

  const archivesWithCheckpoints = async () => (await createBorgClient(repository()).list({ considerCheckpoints: true })).value.archives.map(archive => archive.name);

  it("borg serve killed mid-create after a checkpoint: connection_lost, no traceback, and the checkpoint it claims is in the repository", async () => {
    const error = await createAndBreak({
      archive: "lost-after-checkpoint",
      checkpointIntervalSeconds: 1,
      ready: checkpointed => checkpointed,
      breakLink: async () => {
        const pid = await borgServeOf(repoPath);
        expect(pid).toBeDefined();
        if (pid !== undefined) process.kill(pid, "SIGKILL");
      },
    });
    expect(error.kind).toBe("connection_lost");
    expect(error.message).toContain("was lost during borg create; a checkpoint archive keeps what was uploaded");
    expectOneLine(error);
    // borg meets the dead serve as a broken pipe (with a traceback) or a closed connection, by
    // timing: either way nothing of a traceback reaches the message
    expect(error.message).not.toMatch(/BrokenPipeError|File "/);
    expect(await archivesWithCheckpoints()).toContain("lost-after-checkpoint.checkpoint");
  });

  it("the ssh session killed before any checkpoint: connection_lost, and the message says nothing was kept", async () => {
    const error = await createAndBreak({
      archive: "lost-before-checkpoint",
      checkpointIntervalSeconds: 3600,
      ready: (_, event) => event.type === "archive_progress" && (event.nfiles ?? 0) >= 1,
      breakLink: async () => {
        // the per-connection sshd is a child of the listening one: killing it is a session dropped by the host
        for (const pid of await childrenOf(server.process().pid ?? 0)) process.kill(pid, "SIGKILL");
      },
    });
    expect(error.kind).toBe("connection_lost");
    expect(error.message).toContain("borg wrote no checkpoint during this run, so the next run uploads its data again");
    expectOneLine(error);
    expect((await archivesWithCheckpoints()).filter(name => name.startsWith("lost-before-checkpoint"))).toEqual([]);
  });
});

describe("a drone started from a terminal with an unknown host key", () => {
  it("ends at once with ssh_host_unknown instead of waiting at ssh's question", async () => {
    const server = await startSshd();
    const dir = await tempDir("ssh-drone");
    try {
      const repoPath = join(dir.path, "repo");
      const key = await server.addClient({ restrictTo: [repoPath] });
      await writeRandomFiles(join(dir.path, "source"), 2, 4096);
      const empty = join(dir.path, "known_hosts");
      await writeFile(empty, "");
      const config = join(dir.path, "backup_drone.json");
      await writeFile(
        config,
        JSON.stringify({
          drone: {
            DRONE_ID: "sshdrone",
            REPOSITORY: server.url(repoPath),
            SOURCES: [join(dir.path, "source")],
            STATE_DIR: join(dir.path, "state"),
            BORG_BASE_DIR: join(dir.path, "borg-base"),
            BORG_RSH: bareRsh(key.keyPath, empty),
          },
        }),
      );
      const bin = await builtBin("backup-drone");
      // `script` gives the drone, borg and ssh a terminal of their own: without BatchMode ssh would ask there and wait
      const command = [process.execPath, bin, "create", "--json", "--config", config].map(word => `'${word}'`).join(" ");
      const drone = spawn("script", ["-qefc", command, "/dev/null"], {
        cwd: dir.path,
        env: { PATH: process.env.PATH ?? "", HOME: dir.path, DRONE_PASSPHRASE: TEST_PASSPHRASE, NO_COLOR: "1" },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let output = "";
      drone.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      drone.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>(resolve => drone.on("close", resolve));
      const result = output
        .split(/\r?\n/)
        .filter(line => line.includes('"error_kind"'))
        .map(line => JSON.parse(line.slice(line.indexOf("{"))) as { error_kind: string; error: string })
        .at(-1);
      expect(result?.error_kind, output).toBe("ssh_host_unknown");
      expect(result?.error).toContain("ssh-keyscan");
      expect(code).not.toBe(0);
      expect(output).not.toContain(TEST_PASSPHRASE);
    } finally {
      await server.stop();
      await dir.remove();
    }
  }, 60_000);
});
