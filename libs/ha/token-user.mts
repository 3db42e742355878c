/**
 * Whose token the app holds. Home Assistant lets only administrators fire events
 * (`fire_event` is `@require_admin`) and subscribe to events other than a short allow-list;
 * a refused command gets an error reply that hass never hands back (its promise never
 * settles), so without this check every event would end as a silent timeout, and each
 * refusal as an ERROR line in HA's log. Asked once per connection (`auth/current_user`,
 * allowed to every user).
 */
import { z } from "zod";

import { withDeadline } from "./deadline.mjs";

const currentUserSchema = z.object({
  name: z.string().nullable().optional(),
  is_admin: z.boolean(),
});

/** The token's user, as far as the apps care. */
export interface TokenUser {
  name: string;
  isAdmin: boolean;
}

/** Ask HA about the token's user; undefined when it did not answer in time or the answer had an unexpected shape. */
export async function tokenUser(send: (message: { type: string }) => Promise<unknown>, deadlineMs: number): Promise<TokenUser | undefined> {
  const outcome = await withDeadline(send({ type: "auth/current_user" }), deadlineMs);
  if (!outcome.ok) return undefined;
  const parsed = currentUserSchema.safeParse(outcome.value);
  if (!parsed.success) return undefined;
  return { name: parsed.data.name ?? "(no name)", isAdmin: parsed.data.is_admin };
}

/** The one line an app logs when its token is not an administrator's: what happened and what to do. */
export function notAdminMessage(app: string, user: TokenUser, consequence: string): string {
  return (
    `the Home Assistant token belongs to "${user.name}", who is not an administrator: Home Assistant refuses ${app}'s events (fire_event needs an administrator), so ${consequence}. ` +
    `Create a long-lived access token while logged in as an administrator (your profile → Security → Long-lived access tokens) and configure it as the token.`
  );
}

/** What an app knows of its token: asked on every connection, said once when it is not an administrator's. */
export interface TokenCheck {
  /** Ask HA now (on a new connection). */
  check(): Promise<void>;
  /** False once HA said the token's user is no administrator; undefined while unknown (events are tried then). */
  isAdmin(): boolean | undefined;
}

/** Check the token on each connection; log {@link notAdminMessage} once per change to a non-administrator. */
export function createTokenCheck(options: {
  send: (message: { type: string }) => Promise<unknown>;
  deadlineMs: () => number;
  error: (message: string) => void;
  app: string;
  consequence: string;
}): TokenCheck {
  let admin: boolean | undefined;
  let told = false;
  return {
    check: async () => {
      const user = await tokenUser(options.send, options.deadlineMs());
      admin = user?.isAdmin;
      if (user && !user.isAdmin && !told) {
        told = true;
        options.error(notAdminMessage(options.app, user, options.consequence));
      }
      if (user?.isAdmin) told = false;
    },
    isAdmin: () => admin,
  };
}
