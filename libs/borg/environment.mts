/**
 * What a child process (borg, a passcommand, a hook) inherits of our environment: everything
 * it may need (PATH, HOME, locale, ssh agent, BORG_* settings), never a secret of ours.
 */

/**
 * Variable names that carry a secret by their name, in any case: `BORG_PASSPHRASE`,
 * `DRONE_PASSPHRASE`, `HASS_TOKEN`, `PGPASSWORD`, `AWS_SECRET_ACCESS_KEY`, `BORG_PASSCOMMAND`…
 */
export const SECRET_VARIABLE_NAME = /PASSPHRASE|PASSWORD|PASSWD|PASSCOMMAND|TOKEN|SECRET|API_?KEY|PRIVATE_?KEY/i;

/** Which variables a child does not get, or gets although their name looks secret. */
export interface InheritRules {
  /** Names (any case) that are dropped too, e.g. the variables that configure a secret setting. */
  drop?: Iterable<string>;
  /** Names (any case) that are kept although they look secret or are in `drop`: asked for explicitly. */
  keep?: Iterable<string>;
  /** Which names count as secret by themselves (default {@link SECRET_VARIABLE_NAME}). */
  secretNames?: RegExp;
}

/** borg's own passphrase variables: all a passcommand must not see of the secret-named ones. */
export const BORG_PASSPHRASE_VARIABLE = /^BORG_(PASS|NEW_PASSPHRASE$)/i;

/** The environment a child inherits from `env`: without secret-named variables and `drop`, with `keep`. */
export function inheritedEnv(env: NodeJS.ProcessEnv, rules: InheritRules = {}): Record<string, string> {
  const upper = (names: Iterable<string> | undefined) => new Set([...(names ?? [])].map(name => name.toUpperCase()));
  const drop = upper(rules.drop);
  const keep = upper(rules.keep);
  const secret = rules.secretNames ?? SECRET_VARIABLE_NAME;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const key = name.toUpperCase();
    if (keep.has(key) || (!drop.has(key) && !secret.test(name))) out[name] = value;
  }
  return out;
}
