import { describe, expect, it } from "vitest";

import { type BorgLocation, parseLocation } from "../../../libs/borg/index.mjs";

const read = (text: string): BorgLocation => {
  const reading = parseLocation(text);
  if (!reading.ok) throw new Error(`expected ${text} to be read, got: ${reading.reason}`);
  return reading.location;
};

const refused = (text: string): string => {
  const reading = parseLocation(text);
  if (reading.ok) throw new Error(`expected ${text} to be refused, got ${JSON.stringify(reading.location)}`);
  return reading.reason;
};

describe("repository locations, read as borg 1.2/1.4 read them", () => {
  it("ssh:// URLs: user, host, port and path", () => {
    expect(read("ssh://borg@NAS.lan:2222/srv/borg/laptop")).toEqual({ kind: "ssh", user: "borg", host: "nas.lan", port: 2222, path: "/srv/borg/laptop" });
    expect(read("ssh://borg@nas/./laptop")).toEqual({ kind: "ssh", user: "borg", host: "nas", path: "/./laptop" });
    expect(read("ssh://nas/~/laptop")).toEqual({ kind: "ssh", host: "nas", path: "/~/laptop" });
    expect(read("ssh://192.168.1.10:22/srv/b:c")).toEqual({ kind: "ssh", host: "192.168.1.10", port: 22, path: "/srv/b:c" });
  });

  it("IPv6 addresses in brackets lose the brackets and are lowercased", () => {
    expect(read("ssh://borg@[::1]:2222/srv/repo")).toEqual({ kind: "ssh", user: "borg", host: "::1", port: 2222, path: "/srv/repo" });
    expect(read("ssh://[FD00::1]/./repo")).toEqual({ kind: "ssh", host: "fd00::1", path: "/./repo" });
    expect(read("borg@[fe80::1]:repo")).toEqual({ kind: "ssh", user: "borg", host: "fe80::1", path: "repo" });
    expect(read("[::1]:/srv/repo")).toEqual({ kind: "ssh", host: "::1", path: "/srv/repo" });
  });

  it("scp-like host:path, with an absolute, a relative or a home path (issue 15: `nas:/srv/x` is remote)", () => {
    expect(read("nas:/srv/borg/laptop")).toEqual({ kind: "ssh", host: "nas", path: "/srv/borg/laptop" });
    expect(read("borg@nas:/srv/borg/laptop")).toEqual({ kind: "ssh", user: "borg", host: "nas", path: "/srv/borg/laptop" });
    expect(read("NAS:repo")).toEqual({ kind: "ssh", host: "nas", path: "repo" });
    expect(read("nas:~/repo")).toEqual({ kind: "ssh", host: "nas", path: "~/repo" });
    expect(read("nas:/srv/a:b")).toEqual({ kind: "ssh", host: "nas", path: "/srv/a:b" });
  });

  it("file:// URLs and local paths are local", () => {
    expect(read("file:///srv/borg")).toEqual({ kind: "local", path: "/srv/borg" });
    expect(read("/srv/borg")).toEqual({ kind: "local", path: "/srv/borg" });
    expect(read("borg/repo")).toEqual({ kind: "local", path: "borg/repo" });
    expect(read("repo")).toEqual({ kind: "local", path: "repo" });
    expect(read("~/borg")).toEqual({ kind: "local", path: "~/borg" });
  });

  it("a colon in a local path: local when a `/` comes before it, a host otherwise (borg's rule)", () => {
    expect(read("./a:b")).toEqual({ kind: "local", path: "./a:b" });
    expect(read("/srv/a:b")).toEqual({ kind: "local", path: "/srv/a:b" });
    expect(read("backups/a:b")).toEqual({ kind: "local", path: "backups/a:b" });
    expect(read("a:b")).toEqual({ kind: "ssh", host: "a", path: "b" });
    // `h:` has no path after the host, and a path after a host may not start with `//`
    expect(read("nas:")).toEqual({ kind: "local", path: "nas:" });
    expect(read("nas://x")).toEqual({ kind: "local", path: "nas://x" });
  });

  it("the user is the part before the first `@`; borg then takes the rest as the host", () => {
    expect(read("ssh://u@h@x/p")).toEqual({ kind: "ssh", user: "u", host: "h@x", path: "/p" });
    expect(read("u@:repo")).toEqual({ kind: "ssh", host: "u@", path: "repo" });
  });

  it("port 0 is no port (as in borg)", () => {
    expect(read("ssh://nas:0/p")).toEqual({ kind: "ssh", host: "nas", path: "/p" });
  });

  it("refuses what borg refuses, saying why and showing the forms", () => {
    expect(refused("")).toMatch(/empty.*e\.g\. \/srv\/borg\/repo/);
    expect(refused("ssh://nas")).toMatch(/needs a path after the host/);
    expect(refused("ssh://nas/")).toMatch(/needs a path after the host/);
    expect(refused("ssh://nas:/srv")).toMatch(/host must be a name/);
    expect(refused("ssh://u:secret@nas/srv")).toMatch(/host must be a name/);
    expect(refused("ssh://[zz]/srv")).toMatch(/IPv6 address in brackets/);
    expect(refused("ssh://[fe80::1%eth0]/srv")).toMatch(/IPv6 address in brackets/);
    expect(refused(":repo")).toMatch(/may not start with : or \/\//);
    expect(refused("//server/repo")).toMatch(/may not start with : or \/\//);
  });

  it("refuses a port above 65535 and a location that names an archive", () => {
    expect(refused("ssh://nas:99999/srv")).toMatch(/port 99999 is above 65535/);
    expect(refused("/srv/borg::laptop@2026")).toMatch(/names an archive \(`::`\); give the repository alone/);
    expect(refused("ssh://[::1]/srv::a")).toMatch(/names an archive/);
    expect(refused("nas:repo::a")).toMatch(/names an archive/);
  });
});
