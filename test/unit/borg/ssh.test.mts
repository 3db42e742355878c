import { describe, expect, it } from "vitest";

import {
  type BorgError,
  effectiveRsh,
  errorFromLogs,
  type LogMessage,
  noteOf,
  parseLogLine,
  shellWord,
  sshFailure,
  sshTarget,
  withLogFile,
} from "../../../libs/borg/index.mjs";

/**
 * What ssh 9.2 (Debian 12) wrote to its `-E` log and what borg 1.2.4 wrote to stderr, captured from
 * the real programs against the test sshd (test/helpers/sshd.mts) on 127.0.0.1, port 43083.
 */
const SSH_LOG = {
  unknown: "No ED25519 host key is known for [127.0.0.1]:43083 and you have requested strict checking.\r\nHost key verification failed.\r\n",
  changed:
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\nSomeone could be eavesdropping on you right now (man-in-the-middle attack)!\r\nIt is also possible that a host key has just been changed.\r\nThe fingerprint for the ED25519 key sent by the remote host is\nSHA256:0M7goCtrILMdpN0EOKBpbkasLjhR99cMPc1Qs5CjSlY.\r\nPlease contact your system administrator.\r\nAdd correct host key in /tmp/sshx/work3/wrong_known to get rid of this message.\r\nOffending ED25519 key in /tmp/sshx/work3/wrong_known:1\r\n  remove with:\r\n  ssh-keygen -f \"/tmp/sshx/work3/wrong_known\" -R \"[127.0.0.1]:43083\"\r\nHost key for [127.0.0.1]:43083 has changed and you have requested strict checking.\r\nHost key verification failed.\r\n",
  denied: "root@127.0.0.1: Permission denied (publickey).\r\n",
  refused: "ssh: connect to host 127.0.0.1 port 37195: Connection refused\r\n",
  name: "ssh: Could not resolve hostname nonexistent.invalid: Name or service not known\r\n",
  timeout: "Connection timed out during banner exchange\r\nConnection to 10.255.255.1 port 22 timed out\r\n",
  added: "Warning: Permanently added '[127.0.0.1]:43083' (ED25519) to the list of known hosts.\r\n",
};
const CLOSED_AT_CONNECT =
  '{"type": "log_message", "time": 1796005828.3835523, "message": "Connection closed by remote host. Is borg working on the server?", "levelname": "ERROR", "name": "borg.archiver", "msgid": "ConnectionClosedWithHint"}';
const RELAYED_DENIED = '{"type": "log_message", "time": 1796005718.5398006, "message": "Remote: root@127.0.0.1: Permission denied (publickey).", "levelname": "WARNING", "name": "root"}';
const PATH_REFUSED =
  '{"type": "log_message", "time": 1796005717.6520305, "message": "Repository path not allowed: /tmp/sshx/work/other", "levelname": "ERROR", "name": "borg.archiver", "msgid": "PathNotAllowed"}';

const logsOf = (...lines: string[]) => lines.flatMap(line => parseLogLine(line)).filter((event): event is LogMessage => event.type === "log_message");
const repository = "ssh://borg@127.0.0.1:43083/srv/borg/laptop";
/** As the runner settles a failed run: borg's ERROR lines are the details. */
const failed = (lines: string[], ssh: string[] = []): BorgError => {
  const logs = logsOf(...lines);
  const details = logs.filter(log => log.level === "ERROR").map(log => log.message);
  return errorFromLogs(logs, { command: "create", repository, details }, { ssh });
};

describe("what ssh's own lines say", () => {
  it("names each connect-time failure by ssh's reason line", () => {
    expect(sshFailure([SSH_LOG.unknown])).toEqual({ kind: "ssh_host_unknown", line: "No ED25519 host key is known for [127.0.0.1]:43083 and you have requested strict checking." });
    expect(sshFailure([SSH_LOG.changed])).toEqual({
      kind: "ssh_host_key_changed",
      line: "Host key for [127.0.0.1]:43083 has changed and you have requested strict checking.",
      fingerprint: "SHA256:0M7goCtrILMdpN0EOKBpbkasLjhR99cMPc1Qs5CjSlY",
    });
    expect(sshFailure([SSH_LOG.denied])?.kind).toBe("ssh_auth_denied");
    expect(sshFailure([SSH_LOG.refused])?.kind).toBe("ssh_connection_refused");
    expect(sshFailure([SSH_LOG.name])?.kind).toBe("ssh_unreachable");
    expect(sshFailure([SSH_LOG.timeout])?.kind).toBe("ssh_unreachable");
    expect(sshFailure(["Timeout, server 10.77.0.1 not responding."])?.kind).toBe("connection_lost");
    expect(sshFailure([SSH_LOG.added])).toBeUndefined();
  });

  it("refines borg's connect-time close by ssh's log, or by the line borg relayed", () => {
    const unknown = failed([CLOSED_AT_CONNECT], [SSH_LOG.unknown]);
    expect(unknown.kind).toBe("ssh_host_unknown");
    expect(unknown.message).toMatch(/^ssh: No ED25519 host key is known for \[127\.0\.0\.1\]:43083 and you have requested strict checking: /);
    expect(unknown.message).toContain("ssh-keyscan -p 43083 127.0.0.1 >> ~/.ssh/known_hosts");
    const changed = failed([CLOSED_AT_CONNECT], [SSH_LOG.changed]);
    expect(changed.message).toContain("ssh-keygen -R '[127.0.0.1]:43083'");
    expect(changed.message).toContain("(SHA256:0M7goCtrILMdpN0EOKBpbkasLjhR99cMPc1Qs5CjSlY)");
    expect(failed([RELAYED_DENIED, CLOSED_AT_CONNECT]).kind).toBe("ssh_auth_denied");
    for (const error of [unknown, changed]) expect(error.message).not.toContain("\n");
  });

  it("keeps connection_closed when ssh said nothing, and maps borg serve's path refusal", () => {
    expect(failed([CLOSED_AT_CONNECT]).kind).toBe("connection_closed");
    const path = failed([PATH_REFUSED]);
    expect(path.kind).toBe("repository_path_refused");
    expect(path.message).toContain("Repository path not allowed: /tmp/sshx/work/other");
  });

  it("a BrokenPipeError in borg/remote.py is connection_lost, never a crash; the message says whether a checkpoint was committed", () => {
    const traceback = [
      "Traceback (most recent call last):",
      '  File "/usr/lib/python3/dist-packages/borg/remote.py", line 417, in write',
      "    written = os.write(fd, to_send)",
      "BrokenPipeError: [Errno 32] Broken pipe",
      "",
      "Platform: Linux vm 6.18.44 x86_64",
    ].join("\n");
    const without = errorFromLogs([], { command: "create", repository, traceback });
    expect(without.kind).toBe("connection_lost");
    expect(without.message).toBe(
      `The connection to ${repository} was lost during borg create; borg wrote no checkpoint during this run, so the next run uploads its data again. Check the network and the repository host (is it up, did its ssh service restart?), then run again.`,
    );
    const withCheckpoint = errorFromLogs([], { command: "create", repository, traceback, checkpoint: true }, { ssh: ["Timeout, server 127.0.0.1 not responding."] });
    expect(withCheckpoint.message).toMatch(/^ssh: Timeout, server 127\.0\.0\.1 not responding during borg create; a checkpoint archive keeps what was uploaded/);
  });

  it("ssh's note that it recorded a new host key is a note, not a warning", () => {
    const [relayed] = logsOf('{"type": "log_message", "time": 1, "message": "Remote: Warning: Permanently added \'[127.0.0.1]:43083\' (ED25519) to the list of known hosts.", "levelname": "WARNING", "name": "root"}');
    expect(relayed && noteOf(relayed)).toBe("ssh recorded the ED25519 host key of [127.0.0.1]:43083 in known_hosts (first connection)");
  });
});

describe("the ssh command borg runs", () => {
  it("appends the client's options after the configured ones, and a log file unless one is named", () => {
    expect(effectiveRsh(undefined)).toBe("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -o ConnectTimeout=20");
    expect(effectiveRsh("ssh -i /k", "accept-new")).toMatch(/^ssh -i \/k -o BatchMode=yes -o StrictHostKeyChecking=accept-new /);
    expect(withLogFile("ssh", "/tmp/a b/ssh.log")).toBe("ssh -E '/tmp/a b/ssh.log'");
    expect(withLogFile("ssh -E /var/log/ssh", "/tmp/x")).toBe("ssh -E /var/log/ssh");
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
  });

  it("finds host and port of ssh:// and scp-style locations, none for a local path", () => {
    expect(sshTarget("ssh://borg@nas:2222/./laptop")).toEqual({ host: "nas", port: 2222 });
    expect(sshTarget("ssh://borg@[fd00::2]/srv/borg")).toEqual({ host: "fd00::2", port: 22 });
    expect(sshTarget("borg@nas:laptop")).toEqual({ host: "nas", port: 22 });
    expect(sshTarget("/srv/borg/laptop")).toBeUndefined();
    expect(sshTarget("relative/repo")).toBeUndefined();
  });
});
