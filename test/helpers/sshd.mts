/**
 * A real OpenSSH server for tests, the way a NAS serves borg: its own host key, one client key
 * per drone in authorized_keys with `command="borg serve --restrict-to-path …",restrict`, and
 * nothing of the machine's own ssh configuration. It listens on 127.0.0.1 (a free port) or, in
 * a network namespace the test made, on that namespace's address.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { freePort } from "../homeassistant/instance.mjs";
import { tempDir } from "./fs.mjs";

const run = promisify(execFile);

/** A client key the server knows, and the BORG_RSH that uses it. */
export interface SshClientKey {
  /** Private key file (no passphrase). */
  keyPath: string;
  /** The `ssh …` command for BORG_RSH: this key, the server's host key pinned, no prompts, no system config. */
  rsh: string;
}

/** A running sshd. */
export interface SshServer {
  /** Folder of its keys, config and known_hosts. */
  root: string;
  /** Address it listens on. */
  address: string;
  port: number;
  /** The process, for tests that kill it. */
  process: () => ChildProcess;
  /** known_hosts with the server's host key. */
  knownHosts: string;
  /** `ssh://root@address:port/path`. */
  url: (path: string) => string;
  /** A new client key allowed to run only `borg serve` restricted to `paths`. */
  addClient: (options: { restrictTo: string[]; appendOnly?: boolean; name?: string }) => Promise<SshClientKey>;
  /** Start sshd again after it was killed (same keys, same port). */
  restart: () => Promise<void>;
  /** Stop it (SIGTERM, then SIGKILL) and remove its folder. */
  stop: () => Promise<void>;
}

/** Options of {@link startSshd}. */
export interface SshdOptions {
  /** Listen address; 127.0.0.1 by default. */
  address?: string;
  /** Port; a free one on 127.0.0.1 by default, 22 inside a namespace. */
  port?: number;
  /** Run sshd inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** sshd's ClientAliveInterval (seconds); 0 (sshd's default: off) unless given. */
  clientAliveInterval?: number;
}

/** A port nobody listens on now, on 127.0.0.1 (Home Assistant's harness has it). */
export { freePort } from "../homeassistant/instance.mjs";

/** The ssh command a drone would use, with everything pinned to this test's files. */
export function sshCommand(keyPath: string, knownHosts: string, extra: string[] = []): string {
  return ["ssh", "-F", "/dev/null", "-i", keyPath, "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", ...extra].join(" ");
}

/** Start an sshd; it is ready (accepting connections) when this resolves. */
export async function startSshd(options: SshdOptions = {}): Promise<SshServer> {
  const dir = await tempDir("sshd");
  const root = dir.path;
  const address = options.address ?? "127.0.0.1";
  const port = options.port ?? (options.netns ? 22 : await freePort());
  const hostKey = join(root, "host_ed25519");
  const authorizedKeys = join(root, "authorized_keys");
  const knownHosts = join(root, "known_hosts");
  const config = join(root, "sshd_config");
  // sshd's privilege separation needs this folder; a fresh machine may not have it
  await mkdir("/run/sshd", { recursive: true });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  await writeFile(authorizedKeys, "", { mode: 0o600 });
  const hostPublic = (await readFile(`${hostKey}.pub`, "utf8")).trim().split(" ").slice(0, 2).join(" ");
  const hostName = port === 22 ? address : `[${address}]:${port}`;
  await writeFile(knownHosts, `${hostName} ${hostPublic}\n`);
  await writeFile(
    config,
    [
      `Port ${port}`,
      `ListenAddress ${address}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(root, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin prohibit-password",
      "MaxStartups 100",
      `ClientAliveInterval ${options.clientAliveInterval ?? 0}`,
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );

  let child: ChildProcess | undefined;
  const log: string[] = [];
  const launch = async () => {
    const argv = ["/usr/sbin/sshd", "-D", "-e", "-f", config];
    const [command, ...args] = options.netns ? ["ip", "netns", "exec", options.netns, ...argv] : argv;
    const started = spawn(command ?? "ip", args, { stdio: ["ignore", "ignore", "pipe"] });
    child = started;
    const ready = new Promise<void>((resolve, reject) => {
      started.stderr?.setEncoding("utf8");
      started.stderr?.on("data", (text: string) => {
        log.push(text);
        if (text.includes("Server listening on")) resolve();
      });
      started.once("exit", code => reject(new Error(`sshd exited with ${code}: ${log.join("").trim()}`)));
    });
    await ready;
  };
  await launch();

  let clients = 0;
  const server: SshServer = {
    root,
    address,
    port,
    process: () => {
      if (!child) throw new Error("sshd is not running");
      return child;
    },
    knownHosts,
    url: path => `ssh://root@${address.includes(":") ? `[${address}]` : address}:${port}${path.startsWith("/") ? path : `/${path}`}`,
    addClient: async ({ restrictTo, appendOnly = false, name }) => {
      clients += 1;
      const keyPath = join(root, `${name ?? "client"}-${clients}`);
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyPath]);
      const publicKey = (await readFile(`${keyPath}.pub`, "utf8")).trim();
      const serve = ["borg serve", ...restrictTo.map(path => `--restrict-to-path ${path}`), ...(appendOnly ? ["--append-only"] : [])].join(" ");
      await writeFile(authorizedKeys, `command="${serve}",restrict ${publicKey}\n`, { flag: "a" });
      return { keyPath, rsh: sshCommand(keyPath, knownHosts) };
    },
    restart: async () => {
      await launch();
    },
    stop: async () => {
      const current = child;
      if (current && current.exitCode === null && current.signalCode === null) {
        const exited = new Promise(resolve => current.once("exit", resolve));
        current.kill("SIGTERM");
        const timer = setTimeout(() => current.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
      }
      await dir.remove();
    },
  };
  return server;
}
