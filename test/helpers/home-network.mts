/**
 * A home's network for tests, built from Linux network namespaces: a "nas" namespace running a
 * real sshd that serves `borg serve` per restricted client key, and one namespace per drone,
 * each joined to the nas by its own veth pair (a /30 of its own). Optionally a veth from the
 * root namespace to the nas, for processes that must also reach 127.0.0.1 (the HA emulator).
 * Faults are real: a link set down, packets silently dropped (nftables), sshd and its sessions
 * killed, a drone's machine losing power.
 *
 * Names carry a fixed prefix and the test process's pid (`bcn-<pid>-<n>-…`), so that parallel
 * test files never clash and a later run can remove what a crashed run left behind.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { tempDir } from "./fs.mjs";
import { type SshClientKey, type SshServer, startSshd } from "./sshd.mjs";

const exec = promisify(execFile);

/** Every namespace and root-namespace interface of ours starts with this. */
export const NETWORK_PREFIX = "bcn-";
/** Root-namespace veth ends: interface names have 15 characters at most, so no pid in them. */
const ROOT_LINK_PREFIX = "bcnr";
/** The nas side of each drone link: 10.77.<index>.1/30, the drone side .2. */
const DRONE_NET = "10.77";
/** The root links: /30s of 198.18.0.0/15 (RFC 2544, for network tests), claimed by interface name. */
const ROOT_LINK_SLOTS = 32_768;
/** nftables table of a blackhole, one per link and side. */
const BLACKHOLE_TABLE = "bcn_blackhole";
/** nftables table (in the nas namespace) of the flows a router forgot, one per drone. */
const FORGOTTEN_TABLE = "bcn_forgotten";

let worlds = 0;

/** Run a command; its stderr becomes the error. */
async function sh(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await exec(command, args, { encoding: "utf8" });
    return stdout;
  } catch (error) {
    const stderr = typeof error === "object" && error && "stderr" in error ? String(error.stderr).trim() : "";
    throw new Error(`${command} ${args.join(" ")} failed: ${stderr || String(error)}`, { cause: error });
  }
}

/** Like {@link sh} for commands whose failure is expected sometimes (removing what may be gone). */
async function quietly(command: string, args: string[]): Promise<void> {
  await sh(command, args).catch(() => undefined);
}

/** `ip netns pids`: every process inside a namespace. */
async function namespacePids(ns: string): Promise<number[]> {
  const out = await sh("ip", ["netns", "pids", ns]).catch(() => "");
  return out
    .split("\n")
    .map(line => Number.parseInt(line, 10))
    .filter(pid => Number.isInteger(pid) && pid > 0);
}

/** SIGKILL every process in the namespace and wait until none is left (bounded). */
async function killNamespace(ns: string): Promise<number[]> {
  const killed: number[] = [];
  for (let round = 0; round < 50; round++) {
    const pids = await namespacePids(ns);
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
        killed.push(pid);
      } catch {
        // it exited between the listing and the kill
      }
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  throw new Error(`processes in namespace ${ns} survive SIGKILL: ${(await namespacePids(ns)).join(", ")}`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Remove namespaces a crashed earlier run left: ours by prefix, and only those whose creating
 * process is gone (a test file running beside us keeps its own). Deleting a namespace also
 * removes its veths, and with them the root-namespace ends of its links.
 */
export async function sweepLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  const listed = await sh("ip", ["netns", "list"]);
  for (const line of listed.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const match = new RegExp(`^${NETWORK_PREFIX}(\\d+)-`).exec(name);
    if (!match) continue;
    if (alive(Number(match[1]))) continue;
    await killNamespace(name);
    await quietly("ip", ["netns", "del", name]);
    removed.push(name);
  }
  return removed;
}

/** What the machine offers for faults; checked once per world. */
async function requireTools(): Promise<void> {
  for (const [tool, args, hint] of [
    ["ip", ["-V"], "iproute2"],
    ["nft", ["--version"], "nftables"],
    ["tc", ["-V"], "iproute2"],
    ["/usr/sbin/sshd", ["-V"], "openssh-server"],
  ] as const) {
    await exec(tool, [...args]).catch((error: unknown) => {
      // sshd -V prints its version and exits 1 on some releases: only a missing binary counts
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`${tool} is missing: install ${hint} (see .ci/run)`);
    });
  }
}

/** One drone's machine: its namespace, its link to the nas, its key. */
export interface HomeDrone {
  name: string;
  /** Network namespace the drone's processes run in. */
  netns: string;
  /** The drone's address on its link. */
  address: string;
  /** The drone's end of the link (inside its namespace) and the nas's end (inside the nas namespace). */
  link: { drone: string; nas: string };
  /** Key restricted to the drone's repository folder on the nas, and BORG_RSH for it. */
  key: SshClientKey;
  /** The folder on the nas the key may serve (`borg serve --restrict-to-path`). */
  repositoryRoot: string;
}

/** The whole network, with its faults. */
export interface HomeNetwork {
  /** The nas namespace. */
  nasNetns: string;
  /** The one address drones reach the nas at (sshd listens on it, port 22). */
  nasAddress: string;
  /** The nas's sshd. */
  sshd: SshServer;
  /** Folder holding every drone's repository folder (the nas's disk). */
  nasRoot: string;
  drones: Map<string, HomeDrone>;
  drone: (name: string) => HomeDrone;
  /** `ip link set … down` on the drone's end; the peer loses its carrier too. */
  cut: (name: string) => Promise<void>;
  /** Every packet on the drone's link dropped without a word, on both ends. */
  blackhole: (name: string) => Promise<void>;
  /** The link up, without blackhole or throttle, its routes back. */
  restore: (name: string) => Promise<void>;
  /** Limit the drone's upload (a token bucket on its end), so that a backup takes a while. */
  throttle: (name: string, rate: string) => Promise<void>;
  /** SIGKILL sshd with every session and `borg serve` it started; returns the pids killed. */
  killNas: () => Promise<number[]>;
  /** Start the nas's sshd again (same keys, same address). */
  restartNas: () => Promise<void>;
  /** Processes in the nas namespace whose command line contains `text` (e.g. `borg serve`). */
  nasProcesses: (text: string) => Promise<number[]>;
  /** Local ports of the drone's established ssh connections to the nas (`ss -tnp` in its namespace). */
  sshPorts: (name: string) => Promise<number[]>;
  /**
   * Drop, at the nas, every packet of one TCP connection of the drone (its local port) in both
   * directions, until stop(): what a home router or NAT that forgot the flow does. Nothing the
   * nas retransmits reaches the drone, so no reset ever tells the nas's sshd the drone is gone.
   */
  forgetFlow: (name: string, dronePort: number) => Promise<void>;
  /** SIGKILL every process of the drone's machine and abort its TCP sockets (no connection of the dead machine says goodbye). */
  powerCut: (name: string) => Promise<number[]>;
  /** Run a command inside the drone's namespace to its end. */
  execIn: (name: string, command: string, args: string[]) => Promise<{ stdout: string; stderr: string }>;
  /** Remove everything: processes, namespaces, veths, folders. */
  stop: () => Promise<void>;
}

/** Options of {@link startHomeNetwork}. */
export interface HomeNetworkOptions {
  /** Drone names; each gets a namespace, a link and a key. */
  drones: string[];
  /** Also link the root namespace to the nas (for drones that must reach 127.0.0.1 too). */
  rootLink?: boolean;
}

/** Claim a root link: the veth name is the claim, so two processes never take one /30. */
async function claimRootLink(nasNetns: string): Promise<{ rootEnd: string; nasEnd: string; rootAddress: string; nasAddress: string }> {
  for (let attempt = 0; attempt < 64; attempt++) {
    const slot = (process.pid * 8 + worlds * 64 + attempt) % ROOT_LINK_SLOTS;
    const rootEnd = `${ROOT_LINK_PREFIX}${slot}`;
    const nasEnd = "nas-root";
    try {
      await sh("ip", ["link", "add", rootEnd, "type", "veth", "peer", "name", nasEnd, "netns", nasNetns]);
    } catch (error) {
      if (String(error).includes("File exists")) continue;
      throw error;
    }
    const base = slot * 4;
    const octets = (offset: number) => `198.${18 + ((base + offset) >> 16)}.${((base + offset) >> 8) & 255}.${(base + offset) & 255}`;
    return { rootEnd, nasEnd, rootAddress: octets(2), nasAddress: octets(1) };
  }
  throw new Error("no free root link slot in 198.18.0.0/15");
}

/** Build the network and start the nas's sshd; call `stop()` in afterAll. */
export async function startHomeNetwork(options: HomeNetworkOptions): Promise<HomeNetwork> {
  await requireTools();
  await sweepLeftovers();
  worlds += 1;
  const base = `${NETWORK_PREFIX}${process.pid}-${worlds}`;
  const nasNetns = `${base}-nas`;
  const namespaces = [nasNetns];
  const disk = await tempDir("nas");
  let sshd: SshServer | undefined;
  let rootEnd: string | undefined;
  const drones = new Map<string, HomeDrone>();
  const blackholed = new Set<string>();

  const stop = async () => {
    for (const ns of namespaces) await killNamespace(ns).catch(() => undefined);
    await sshd?.stop().catch(() => undefined);
    for (const ns of namespaces) await quietly("ip", ["netns", "del", ns]);
    // the root end goes with its peer's namespace; this is for a failure half-way through setup
    if (rootEnd) await quietly("ip", ["link", "del", rootEnd]);
    await disk.remove();
  };

  try {
    await sh("ip", ["netns", "add", nasNetns]);
    await sh("ip", ["-n", nasNetns, "link", "set", "lo", "up"]);

    let nasAddress = "10.77.0.1";
    if (options.rootLink) {
      const link = await claimRootLink(nasNetns);
      rootEnd = link.rootEnd;
      await sh("ip", ["addr", "add", `${link.rootAddress}/30`, "dev", link.rootEnd]);
      await sh("ip", ["link", "set", link.rootEnd, "up"]);
      await sh("ip", ["-n", nasNetns, "addr", "add", `${link.nasAddress}/30`, "dev", link.nasEnd]);
      await sh("ip", ["-n", nasNetns, "link", "set", link.nasEnd, "up"]);
      nasAddress = link.nasAddress;
    } else {
      // the nas's one address, on its loopback: every drone routes to it over its own link
      await sh("ip", ["-n", nasNetns, "addr", "add", `${nasAddress}/32`, "dev", "lo"]);
    }

    const routeDrone = async (drone: HomeDrone, index: number) => {
      await sh("ip", ["-n", drone.netns, "link", "set", drone.link.drone, "up"]);
      await sh("ip", ["-n", nasNetns, "link", "set", drone.link.nas, "up"]);
      await sh("ip", ["-n", drone.netns, "route", "replace", `${nasAddress}/32`, "via", `${DRONE_NET}.${index}.1`, "dev", drone.link.drone]);
    };

    const linkDrone = async (drone: HomeDrone, index: number) => {
      await sh("ip", ["netns", "add", drone.netns]);
      await sh("ip", ["-n", drone.netns, "link", "set", "lo", "up"]);
      // fixed MACs: a machine keeps its hardware address across a power cut, and borg derives
      // its host id (lock ownership) from it
      const mac = (end: number) => `02:bc:00:00:${index.toString(16).padStart(2, "0")}:0${end}`;
      await sh("ip", ["-n", nasNetns, "link", "add", drone.link.nas, "address", mac(1), "type", "veth", "peer", "name", drone.link.drone, "address", mac(2), "netns", drone.netns]);
      await sh("ip", ["-n", nasNetns, "addr", "add", `${DRONE_NET}.${index}.1/30`, "dev", drone.link.nas]);
      await sh("ip", ["-n", drone.netns, "addr", "add", `${drone.address}/30`, "dev", drone.link.drone]);
      await routeDrone(drone, index);
    };

    const indexOf = (name: string) => options.drones.indexOf(name) + 1;
    for (const [position, name] of options.drones.entries()) {
      if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) throw new Error(`drone name ${JSON.stringify(name)}: use 1–12 lowercase letters and digits`);
      const index = position + 1;
      const drone: HomeDrone = {
        name,
        netns: `${base}-${name}`,
        address: `${DRONE_NET}.${index}.2`,
        link: { drone: "eth-nas", nas: `to-${name}` },
        // filled in once sshd runs
        key: { keyPath: "", rsh: "" },
        repositoryRoot: join(disk.path, name),
      };
      namespaces.push(drone.netns);
      drones.set(name, drone);
      await linkDrone(drone, index);
      await mkdir(drone.repositoryRoot, { recursive: true });
    }

    const server = await startSshd({ netns: nasNetns, address: nasAddress });
    sshd = server;
    for (const drone of drones.values()) drone.key = await server.addClient({ restrictTo: [drone.repositoryRoot], name: drone.name });

    const drone = (name: string) => {
      const found = drones.get(name);
      if (!found) throw new Error(`no drone ${name} in this network`);
      return found;
    };

    const dropTable = (side: "drone" | "nas", target: HomeDrone) => ({
      ns: side === "drone" ? target.netns : nasNetns,
      table: `${BLACKHOLE_TABLE}_${target.name}`,
      device: side === "drone" ? target.link.drone : target.link.nas,
    });

    const unblackhole = async (target: HomeDrone) => {
      for (const side of ["drone", "nas"] as const) {
        const { ns, table } = dropTable(side, target);
        await quietly("ip", ["netns", "exec", ns, "nft", "delete", "table", "inet", table]);
      }
      blackholed.delete(target.name);
    };

    return {
      nasNetns,
      nasAddress,
      sshd: server,
      nasRoot: disk.path,
      drones,
      drone,
      cut: async name => {
        await sh("ip", ["-n", drone(name).netns, "link", "set", drone(name).link.drone, "down"]);
      },
      blackhole: async name => {
        const target = drone(name);
        // sch_netem is often missing from the kernel (it is here): a DROP rule on both ends says
        // nothing either, no RST, no ICMP, exactly what a dead uplink looks like to TCP
        for (const side of ["drone", "nas"] as const) {
          const { ns, table, device } = dropTable(side, target);
          const rules = [
            `table inet ${table} {`,
            `  chain in { type filter hook input priority -100; policy accept; iifname "${device}" drop; }`,
            `  chain out { type filter hook output priority -100; policy accept; oifname "${device}" drop; }`,
            "}",
          ].join("\n");
          await sh("ip", ["netns", "exec", ns, "nft", rules]);
        }
        blackholed.add(name);
      },
      restore: async name => {
        const target = drone(name);
        await unblackhole(target);
        await quietly("tc", ["-n", target.netns, "qdisc", "del", "dev", target.link.drone, "root"]);
        await routeDrone(target, indexOf(name));
      },
      throttle: async (name, rate) => {
        const target = drone(name);
        await sh("tc", ["-n", target.netns, "qdisc", "replace", "dev", target.link.drone, "root", "tbf", "rate", rate, "burst", "32kb", "latency", "2s"]);
      },
      killNas: async () => {
        const killed = await killNamespace(nasNetns);
        // let the helper's handle see its process end before a restart replaces it
        await new Promise<void>(resolve => {
          const child = server.process();
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once("exit", () => resolve());
        });
        return killed;
      },
      restartNas: () => server.restart(),
      nasProcesses: async text => {
        const found: number[] = [];
        for (const pid of await namespacePids(nasNetns)) {
          const command = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
          if (command.replaceAll("\0", " ").includes(text)) found.push(pid);
        }
        return found;
      },
      sshPorts: async name => {
        const target = drone(name);
        const out = await sh("ip", ["netns", "exec", target.netns, "ss", "-t", "-n", "-p", "-H", "state", "established", "dst", `${nasAddress}:22`]);
        const ports: number[] = [];
        for (const line of out.split("\n")) {
          if (!line.includes('"ssh"')) continue;
          // columns: Recv-Q Send-Q Local:Port Peer:Port Process
          const local = line.trim().split(/\s+/)[2] ?? "";
          const port = Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 10);
          if (Number.isInteger(port)) ports.push(port);
        }
        return ports;
      },
      forgetFlow: async (name, dronePort) => {
        const target = drone(name);
        const table = `${FORGOTTEN_TABLE}_${target.name}`;
        const flow = (from: "saddr" | "daddr", port: "sport" | "dport") => `ip ${from} ${target.address} tcp ${port} ${dronePort} drop;`;
        const rules = [
          `table inet ${table} {`,
          `  chain in { type filter hook input priority -100; policy accept; ${flow("saddr", "sport")} }`,
          `  chain out { type filter hook output priority -100; policy accept; ${flow("daddr", "dport")} }`,
          "}",
        ].join("\n");
        // declaring the table again adds its rules to it: several forgotten flows of one drone
        await sh("ip", ["netns", "exec", nasNetns, "nft", rules]);
      },
      powerCut: async name => {
        const target = drone(name);
        const killed = await killNamespace(target.netns);
        // a machine that lost power sends nothing more: its sockets die with its network stack,
        // and the nas side keeps dropping until restore() (a blackholed link stays blackholed)
        // its sockets die with its processes' memory: abort every TCP socket left (orphans
        // still sending FIN), so nothing of the dead machine's connections ever reaches the nas
        await sh("ip", ["netns", "exec", target.netns, "ss", "-K", "-t", "-a"]);
        const left = await sh("ip", ["netns", "exec", target.netns, "ss", "-t", "-a", "-H"]);
        if (left.trim()) throw new Error(`TCP sockets survive in ${target.netns} (ss -K needs CONFIG_INET_DIAG_DESTROY): ${left.trim()}`);
        return killed;
      },
      execIn: async (name, command, args) => {
        const { stdout, stderr } = await exec("ip", ["netns", "exec", drone(name).netns, command, ...args], { encoding: "utf8" });
        return { stdout, stderr };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
