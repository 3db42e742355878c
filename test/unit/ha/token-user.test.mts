import { describe, expect, it } from "vitest";

import { synapseLoaded, synapseMissingMessage } from "../../../libs/ha/integration.mjs";
import { notAdminMessage, tokenUser } from "../../../libs/ha/token-user.mjs";

// HA 2025.4's answer to auth/current_user for a user added without "Administrator"
const MEMBER = {
  id: "fb3f5c1ada6f45a5933ddd01324eb8c2",
  name: "Member",
  is_owner: false,
  is_admin: false,
  credentials: [{ auth_provider_type: "homeassistant", auth_provider_id: null }],
  mfa_modules: [{ id: "totp", name: "Authenticator app", enabled: false }],
};

describe("whose token the app holds", () => {
  it("asks auth/current_user and reads whether the user is an administrator", async () => {
    const sent: unknown[] = [];
    const user = await tokenUser(message => {
      sent.push(message);
      return Promise.resolve(MEMBER);
    }, 1_000);
    expect(sent).toEqual([{ type: "auth/current_user" }]);
    expect(user).toEqual({ name: "Member", isAdmin: false });
    expect(await tokenUser(() => Promise.resolve({ ...MEMBER, name: "Owner", is_admin: true }), 1_000)).toEqual({ name: "Owner", isAdmin: true });
  });

  it("knows nothing when HA does not answer in time or answers something else (a mock's null)", async () => {
    expect(await tokenUser(() => new Promise(() => undefined), 20)).toBeUndefined();
    expect(await tokenUser(() => Promise.resolve(null), 1_000)).toBeUndefined();
    expect(await tokenUser(() => Promise.reject(new Error("closed")), 1_000)).toBeUndefined();
  });

  it("says in one line what happened and what to do", () => {
    const line = notAdminMessage("the drone", { name: "Member", isAdmin: false }, "nobody sees its events");
    expect(line).not.toContain("\n");
    expect(line).toContain('"Member", who is not an administrator');
    expect(line).toContain("fire_event needs an administrator");
    expect(line).toContain("Long-lived access tokens");
  });
});

describe("whether HA has loaded the synapse integration", () => {
  it("looks for it among the loaded components, as the synapse library does", () => {
    expect(synapseLoaded(["homeassistant", "http", "synapse"])).toBe(true);
    expect(synapseLoaded(["homeassistant", "synapse.sensor"])).toBe(true);
    expect(synapseLoaded(["homeassistant", "http", "recorder"])).toBe(false);
  });

  it("names the integration, both reasons it may be missing and both steps, on one line", () => {
    const line = synapseMissingMessage("the drone", "its buttons cannot be reached");
    expect(line).not.toContain("\n");
    expect(line).toContain('has not loaded the synapse integration ("Digital Alchemy"): it is not installed, or no app has been added to it yet');
    expect(line).toContain("docs/install.md");
    expect(line).toContain("then add the drone: Settings → Devices & services → Add integration → Digital Alchemy");
  });
});
