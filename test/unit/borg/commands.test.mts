import { describe, expect, it } from "vitest";

import {
  type BorgRepository,
  breakLockCommand,
  breakLockLine,
  checkCommand,
  commandLine,
  compactCommand,
  createCommand,
  extractCommand,
  infoCommand,
  initCommand,
  listCommand,
  listItemsCommand,
  prefixGlob,
  pruneCommand,
  Secret,
  versionCommand,
} from "../../../libs/borg/index.mjs";
import { isRemote } from "../../../libs/borg/ssh.mjs";

const SECRET = "unit-canary-secret";
const repo: BorgRepository = {
  location: "/srv/borg/repo",
  passphrase: { kind: "passphrase", value: new Secret(SECRET) },
};
const remote: BorgRepository = {
  location: "ssh://borg@nas:22/./repo",
  rsh: "ssh -i /root/.ssh/borg -o BatchMode=yes",
  remotePath: "/usr/local/bin/borg",
  baseDir: "/var/lib/backup-drone/borg",
  hostId: "laptop@1234",
  lockWaitSeconds: 30,
  allowRelocated: true,
  allowUnknownUnencrypted: false,
  passphraseTransport: "env",
};

describe("command builders: exact argv", () => {
  it("version", () => {
    expect(versionCommand().args).toEqual(["--version"]);
  });

  it("init", () => {
    expect(initCommand(repo, { encryption: "repokey" }).args).toEqual([
      "init",
      "--log-json",
      "--encryption",
      "repokey",
      "/srv/borg/repo",
    ]);
    expect(
      initCommand(remote, { encryption: "keyfile-blake2", appendOnly: true, storageQuota: "500G", makeParentDirs: true }).args,
    ).toEqual([
      "init",
      "--log-json",
      "--lock-wait",
      "30",
      "--remote-path",
      "/usr/local/bin/borg",
      "--encryption",
      "keyfile-blake2",
      "--append-only",
      "--storage-quota",
      "500G",
      "--make-parent-dirs",
      "ssh://borg@nas:22/./repo",
    ]);
  });

  it("create with defaults excludes folders marked .nobackup", () => {
    expect(createCommand(repo, { archive: "laptop@2026-11-22T02:00:00", paths: ["/home", "/etc"] }).args).toEqual([
      "create",
      "--log-json",
      "--progress",
      "--json",
      "--exclude-if-present",
      ".nobackup",
      "/srv/borg/repo::laptop@2026-11-22T02:00:00",
      "/home",
      "/etc",
    ]);
  });

  it("create with dumps: includes before every exclude, an exclude file, a working directory and a relative path", () => {
    const command = createCommand(repo, {
      archive: "a",
      paths: ["/home", "backup-drone-dumps"],
      includes: ["pp:backup-drone-dumps"],
      excludes: ["*.sql"],
      excludeFrom: "/state/run/special-files",
      readSpecial: true,
      cwd: "/state/run",
    });
    expect(command.args).toEqual([
      "create",
      "--log-json",
      "--progress",
      "--json",
      "--pattern",
      "+pp:backup-drone-dumps",
      "--exclude",
      "*.sql",
      "--exclude-from",
      "/state/run/special-files",
      "--exclude-if-present",
      ".nobackup",
      "--read-special",
      "/srv/borg/repo::a",
      "/home",
      "backup-drone-dumps",
    ]);
    expect(command.cwd).toBe("/state/run");
  });

  it("create with every option", () => {
    const command = createCommand(remote, {
      archive: "a",
      paths: ["/home"],
      compression: "zstd,3",
      excludes: ["*.tmp", "/home/*/.cache"],
      excludeIfPresent: [".nobackup", "CACHEDIR.TAG"],
      excludeCaches: true,
      oneFileSystem: true,
      checkpointIntervalSeconds: 600,
      uploadRateLimitKiB: 5000,
      listFiles: true,
      readSpecial: true,
      comment: "before upgrade",
    });
    expect(command.args).toEqual([
      "create",
      "--log-json",
      "--lock-wait",
      "30",
      "--remote-path",
      "/usr/local/bin/borg",
      "--progress",
      "--json",
      "--compression",
      "zstd,3",
      "--exclude",
      "*.tmp",
      "--exclude",
      "/home/*/.cache",
      "--exclude-if-present",
      ".nobackup",
      "--exclude-if-present",
      "CACHEDIR.TAG",
      "--exclude-caches",
      "--one-file-system",
      "--checkpoint-interval",
      "600",
      "--upload-ratelimit",
      "5000",
      "--list",
      "--filter",
      "AME",
      "--read-special",
      "--comment",
      "before upgrade",
      "ssh://borg@nas:22/./repo::a",
      "/home",
    ]);
    expect(createCommand(repo, { archive: "a", paths: ["/x"], excludeIfPresent: [] }).args).not.toContain(
      "--exclude-if-present",
    );
    expect(() => createCommand(repo, { archive: "a", paths: [] })).toThrow(/at least one path/);
  });

  it("list, list items and info", () => {
    expect(listCommand(repo).args).toEqual(["list", "--log-json", "--json", "/srv/borg/repo"]);
    expect(listCommand(repo, { prefix: "laptop@", considerCheckpoints: true, last: 5 }).args).toEqual([
      "list",
      "--log-json",
      "--json",
      "--glob-archives",
      "laptop@*",
      "--consider-checkpoints",
      "--last",
      "5",
      "/srv/borg/repo",
    ]);
    expect(listItemsCommand(repo, "a", ["home/me"]).args).toEqual([
      "list",
      "--log-json",
      "--json-lines",
      "/srv/borg/repo::a",
      "home/me",
    ]);
    expect(infoCommand(repo).args).toEqual(["info", "--log-json", "--json", "/srv/borg/repo"]);
    expect(infoCommand(repo, { prefix: "laptop@", last: 1 }).args).toEqual([
      "info",
      "--log-json",
      "--json",
      "--glob-archives",
      "laptop@*",
      "--last",
      "1",
      "/srv/borg/repo",
    ]);
    expect(infoCommand(repo, { archive: "a" }).args).toEqual(["info", "--log-json", "--json", "/srv/borg/repo::a"]);
  });

  it("prune is always scoped to the prefix and maps every keep rule", () => {
    const command = pruneCommand(repo, {
      prefix: "laptop@",
      keep: { within: "14d", last: 2, hourly: 24, daily: 7, weekly: 4, monthly: 6, yearly: 1 },
      dryRun: true,
    });
    expect(command.args).toEqual([
      "prune",
      "--log-json",
      "--progress",
      "--list",
      "--dry-run",
      "--glob-archives",
      "laptop@*",
      "--keep-within",
      "14d",
      "--keep-last",
      "2",
      "--keep-hourly",
      "24",
      "--keep-daily",
      "7",
      "--keep-weekly",
      "4",
      "--keep-monthly",
      "6",
      "--keep-yearly",
      "1",
      "/srv/borg/repo",
    ]);
  });

  it("prune: zero disables a rule, no rule at all is refused, bad intervals and 1.4-only rules are refused", () => {
    expect(pruneCommand(repo, { prefix: "p-", keep: { daily: 0, weekly: 3 } }).args).not.toContain("--keep-daily");
    expect(() => pruneCommand(repo, { prefix: "p-", keep: { daily: 0 } })).toThrow(/at least one keep rule/);
    expect(() => pruneCommand(repo, { prefix: "p-", keep: { within: "2 weeks" } })).toThrow(/14d/);
    expect(() => pruneCommand(repo, { prefix: "p-", keep: { quarterly13Weekly: 4 } })).toThrow(/1\.4/);
    const borg14 = { modernExitCodes: true, quarterlyKeepRules: true };
    expect(pruneCommand(repo, { prefix: "p-", keep: { quarterly13Weekly: 4, daily: 7 }, features: borg14 }).args).toEqual(
      expect.arrayContaining(["--keep-13weekly", "4", "--keep-daily", "7"]),
    );
    expect(pruneCommand(repo, { prefix: "p-", keep: { quarterly3Monthly: 2 }, features: borg14 }).args).toEqual(expect.arrayContaining(["--keep-3monthly", "2"]));
    // borg 1.4.5 refuses the two together with a usage error (test/fixtures/borg-1.4.5/prune_13weekly_and_3monthly)
    expect(() => pruneCommand(repo, { prefix: "p-", keep: { quarterly13Weekly: 4, quarterly3Monthly: 2 }, features: borg14 })).toThrow(
      /--keep-13weekly and --keep-3monthly cannot be combined/,
    );
    expect(() => pruneCommand(repo, { prefix: "", keep: { daily: 1 } })).toThrow(/prefix/);
  });

  it("list --bypass-lock reads without the lock only when asked", () => {
    expect(listCommand(repo, { bypassLock: true, considerCheckpoints: true }).args).toEqual([
      "list",
      "--log-json",
      "--json",
      "--bypass-lock",
      "--consider-checkpoints",
      "/srv/borg/repo",
    ]);
    expect(listCommand(repo).args).not.toContain("--bypass-lock");
  });

  it("break-lock as a person must paste it: BORG_RSH and --remote-path for a remote repository, quoted, no passphrase", () => {
    expect(breakLockLine(remote)).toBe(
      "BORG_BASE_DIR=/var/lib/backup-drone/borg BORG_RSH='ssh -i /root/.ssh/borg -o BatchMode=yes' borg break-lock --remote-path /usr/local/bin/borg ssh://borg@nas:22/./repo",
    );
    expect(breakLockLine({ ...remote, location: "borg@nas:repo", remotePath: undefined, baseDir: undefined })).toBe(
      "BORG_RSH='ssh -i /root/.ssh/borg -o BatchMode=yes' borg break-lock borg@nas:repo",
    );
    expect(breakLockLine({ location: "ssh://nas/./repo", rsh: "ssh -o 'ProxyCommand=nc %h 22'" })).toBe(
      "BORG_RSH='ssh -o '\\''ProxyCommand=nc %h 22'\\''' borg break-lock ssh://nas/./repo",
    );
    // a local repository needs no ssh: BORG_RSH would only mislead
    expect(breakLockLine({ ...repo, rsh: "ssh -i /k" })).toBe("borg break-lock /srv/borg/repo");
    expect(breakLockLine({ location: "/srv/my backups/repo" })).toBe("borg break-lock '/srv/my backups/repo'");
    expect(breakLockLine({ location: "/srv/borg/repo", baseDir: "/var/lib/drone/borg" })).toBe("BORG_BASE_DIR=/var/lib/drone/borg borg break-lock /srv/borg/repo");
    expect(breakLockLine(repo)).not.toContain(SECRET);
    expect(breakLockCommand(remote).breakLockLine).toBe(breakLockLine(remote));
  });

  it("tells remote repositories from local paths", () => {
    expect(isRemote("ssh://borg@nas/./repo")).toBe(true);
    expect(isRemote("borg@nas:repo")).toBe(true);
    expect(isRemote("nas:/srv/repo")).toBe(true);
    expect(isRemote("/srv/borg/repo")).toBe(false);
    expect(isRemote("relative/repo")).toBe(false);
    expect(isRemote("file:///srv/repo")).toBe(false);
  });

  it("prefix globs escape glob characters, so a prefix can never widen", () => {
    expect(prefixGlob("laptop@")).toBe("laptop@*");
    expect(prefixGlob("we*rd?[x]")).toBe("we[*]rd[?][[]x[]]*");
  });

  it("compact, check, break-lock, extract", () => {
    expect(compactCommand(repo).args).toEqual(["compact", "--log-json", "--progress", "/srv/borg/repo"]);
    expect(compactCommand(repo, { thresholdPercent: 5 }).args).toEqual([
      "compact",
      "--log-json",
      "--progress",
      "--threshold",
      "5",
      "/srv/borg/repo",
    ]);
    expect(checkCommand(repo).args).toEqual(["check", "--log-json", "--progress", "/srv/borg/repo"]);
    expect(checkCommand(repo, { scope: "repository" }).args).toContain("--repository-only");
    expect(checkCommand(repo, { scope: "archives", verifyData: true, last: 3, prefix: "l@" }).args).toEqual([
      "check",
      "--log-json",
      "--progress",
      "--archives-only",
      "--verify-data",
      "--last",
      "3",
      "--glob-archives",
      "l@*",
      "/srv/borg/repo",
    ]);
    expect(checkCommand(repo, { archive: "a" }).args.at(-1)).toBe("/srv/borg/repo::a");
    expect(breakLockCommand(repo).args).toEqual(["break-lock", "--log-json", "/srv/borg/repo"]);
    const extract = extractCommand(repo, { archive: "a", target: "/restore", paths: ["home/me"], dryRun: true, listFiles: true, stripComponents: 1 });
    expect(extract.args).toEqual([
      "extract",
      "--log-json",
      "--progress",
      "--dry-run",
      "--list",
      "--strip-components",
      "1",
      "/srv/borg/repo::a",
      "home/me",
    ]);
    expect(extract.cwd).toBe("/restore");
  });

  it("nice and ionice wrap borg without changing its argv", () => {
    const command = listCommand(repo);
    expect(commandLine("/usr/bin/borg", command, { nice: 10, ionice: { class: "best-effort", level: 7 } })).toEqual([
      "ionice",
      "-c",
      "2",
      "-n",
      "7",
      "nice",
      "-n",
      "10",
      "/usr/bin/borg",
      ...command.args,
    ]);
    expect(commandLine("/usr/bin/borg", command, { ionice: { class: "idle", level: 3 } }).slice(0, 4)).toEqual([
      "ionice",
      "-c",
      "3",
      "/usr/bin/borg",
    ]);
  });

  it("a parent-death signal wraps borg in setpriv first, which execs the rest", () => {
    const command = listCommand(repo);
    expect(commandLine("/usr/bin/borg", command, { parentDeathSignal: "SIGTERM", nice: 5 })).toEqual([
      "setpriv",
      "--pdeathsig",
      "TERM",
      "--",
      "nice",
      "-n",
      "5",
      "/usr/bin/borg",
      ...command.args,
    ]);
  });
});

describe("command environment", () => {
  it("answers every unattended question explicitly and carries the connection settings", () => {
    expect(listCommand(remote).env).toEqual({
      BORG_EXIT_CODES: "modern",
      BORG_DISPLAY_PASSPHRASE: "no",
      BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes",
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "no",
      BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: "NO",
      BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: "NO",
      // the configured command first (ssh keeps the first value of an option), then the client's
      BORG_RSH:
        "ssh -i /root/.ssh/borg -o BatchMode=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -o ConnectTimeout=20",
      BORG_BASE_DIR: "/var/lib/backup-drone/borg",
      BORG_HOST_ID: "laptop@1234",
    });
    expect(listCommand(repo).env.BORG_RELOCATED_REPO_ACCESS_IS_OK).toBe("no");
  });

  it("runs a remote repository's ssh so that it never asks, with or without a configured BORG_RSH", () => {
    const plain = listCommand({ location: "ssh://borg@nas:2222/./laptop" }).env.BORG_RSH;
    expect(plain).toBe("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -o ConnectTimeout=20");
    const accepting = listCommand({ location: "borg@nas:laptop", rsh: "ssh -o StrictHostKeyChecking=no", sshHostKeyPolicy: "accept-new" }).env.BORG_RSH;
    expect(accepting).toBe(
      "ssh -o StrictHostKeyChecking=no -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -o ConnectTimeout=20",
    );
    // a local repository has no ssh: nothing is added
    expect(listCommand({ location: "/srv/borg" }).env.BORG_RSH).toBeUndefined();
  });

  it("never puts the passphrase into argv or the command's env; fd is the default transport", () => {
    const commands = [
      initCommand(repo, { encryption: "repokey" }),
      createCommand(repo, { archive: "a", paths: ["/x"] }),
      listCommand(repo),
      infoCommand(repo),
      pruneCommand(repo, { prefix: "a", keep: { daily: 1 } }),
      compactCommand(repo),
      checkCommand(repo),
      breakLockCommand(repo),
      extractCommand(repo, { archive: "a", target: "/t" }),
    ];
    for (const command of commands) {
      expect(JSON.stringify(command)).not.toContain(SECRET);
      expect(command.args.join(" ")).not.toContain(SECRET);
      expect(Object.values(command.env).join(" ")).not.toContain(SECRET);
      expect(command.passphraseTransport).toBe("fd");
    }
  });

  it("break-lock, which reads no key, gets no passphrase (no passcommand runs for it); a command that reads the key does", () => {
    expect(breakLockCommand(repo).passphrase).toBeUndefined();
    expect(listCommand(repo).passphrase).toBe(repo.passphrase);
  });
});
