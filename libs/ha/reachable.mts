/**
 * Is Home Assistant there, and does it take the token? Asked once over its REST API before
 * the hass library connects: the library retries a refused token for nearly a minute and
 * ends an unreachable one with a stack trace, neither naming the URL. This says, in one
 * line, which URL failed, why, and what to do; a refused token is final at once.
 */

/** What one request to Home Assistant's API found. */
export type ProbeResult =
  | { kind: "ok" }
  /** 401/403: the token is wrong; asking again does not help. */
  | { kind: "token_refused"; status: number }
  /** Something answers that is not Home Assistant's API (404): the URL is wrong. */
  | { kind: "not_home_assistant"; status: number }
  /** The address redirects elsewhere (a proxy sending http to https): the URL to set is that one. */
  | { kind: "redirected"; status: number; location: string | null }
  /** The token cannot be sent in an HTTP header (a line break, a space): no request was made. */
  | { kind: "token_unsendable" }
  /** Nothing answered, or Home Assistant is starting (5xx): worth asking again. */
  | { kind: "unreachable"; cause: string };

/**
 * Why a request failed, in words: node's fetch hides the socket error in `cause`. Only codes
 * are turned into words, never an error's own text: fetch puts the request's headers (the
 * token) into some of its messages.
 */
function unreachableCause(error: unknown, url: URL, timeoutMs: number, token: string): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `no answer within ${timeoutMs / 1000} s`;
  }
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  const code = cause instanceof Error && "code" in cause && typeof cause.code === "string" ? cause.code : undefined;
  const where = `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
  if (code === "ECONNREFUSED") return `connection refused (nothing listens on ${where})`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `host ${url.hostname} not found`;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return `host ${url.hostname} unreachable`;
  if (code === "ETIMEDOUT" || code === "UND_ERR_CONNECT_TIMEOUT") return `connecting to ${where} timed out`;
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET") return `${where} closed the connection`;
  if (code !== undefined && /CERT|TLS|SSL/.test(code)) {
    return `its TLS certificate was not accepted (${code}); for a certificate of your own authority, give the service NODE_EXTRA_CA_CERTS=/path/to/ca.pem`;
  }
  if (code !== undefined) return `the request failed (${code})`;
  // no code (fetch refusing a port, say): its cause's own words, without the token should they hold it
  const words = cause instanceof Error ? cause.message : error instanceof Error ? error.message : "unknown error";
  return `the request failed (${words.replaceAll(token, "…")})`;
}

/** A token fetch can put in a header: printable ASCII without spaces. */
const SENDABLE_TOKEN = /^[\x21-\x7e]+$/;

/** Ask Home Assistant's API root once, with the token, within `timeoutMs`. Never throws. */
export async function probeHomeAssistant(baseUrl: string, token: string, timeoutMs: number): Promise<ProbeResult> {
  let url: URL;
  try {
    url = new URL("api/", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  } catch {
    return { kind: "not_home_assistant", status: 0 };
  }
  if (!SENDABLE_TOKEN.test(token)) return { kind: "token_unsendable" };
  try {
    // not followed: a redirect to another origin would drop the token and read as a refused one
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    if (response.ok) return { kind: "ok" };
    if (response.status >= 300 && response.status < 400) return { kind: "redirected", status: response.status, location: response.headers.get("location") };
    if (response.status === 401 || response.status === 403) return { kind: "token_refused", status: response.status };
    if (response.status >= 500) return { kind: "unreachable", cause: `it answers ${response.status} (starting or failing)` };
    return { kind: "not_home_assistant", status: response.status };
  } catch (error) {
    return { kind: "unreachable", cause: unreachableCause(error, url, timeoutMs, token) };
  }
}

/** How long to keep asking, and what to call the settings in messages. */
export interface WaitOptions {
  baseUrl: string;
  token: string;
  /** Requests at most (the first included). */
  attempts: number;
  intervalMs: number;
  timeoutMs: number;
  /** How a person sets the URL and the token of this app, e.g. `BASE_URL (or HASS_URL)`. */
  urlSetting: string;
  tokenSetting: string;
  /** One line, said once, when the first request fails for a reason worth waiting out. */
  warn: (line: string) => void;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** Strip any user:password from a URL before it is shown. */
function shownUrl(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    return baseUrl;
  }
}

/**
 * Why Home Assistant cannot be used: the one line that says what failed and what to do, and
 * whether asking again later can help (`final`: a refused or unsendable token, a wrong
 * address; not final: nothing answered in time, which a service manager may retry).
 */
export interface HomeAssistantProblem {
  line: string;
  final: boolean;
}

/**
 * Wait until Home Assistant answers with the token accepted: undefined then, else the problem.
 * A refused token or a wrong URL fails at once.
 */
export async function waitForHomeAssistant(options: WaitOptions): Promise<HomeAssistantProblem | undefined> {
  const url = shownUrl(options.baseUrl);
  const final = (line: string): HomeAssistantProblem => ({ line, final: true });
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    const result = await probeHomeAssistant(options.baseUrl, options.token, options.timeoutMs);
    switch (result.kind) {
      case "ok":
        return undefined;
      case "token_refused":
        return final(
          `Home Assistant at ${url} refused the token (HTTP ${result.status}): it is wrong, expired or revoked. Create a long-lived access token (your user profile in Home Assistant, Security tab) and set it as ${options.tokenSetting}.`,
        );
      case "token_unsendable":
        return final(
          `the token for Home Assistant at ${url} holds a character that cannot be sent (a line break or a space: the token was wrapped or cut when it was pasted). Copy the long-lived access token again, on one line, and set it as ${options.tokenSetting}.`,
        );
      case "redirected":
        return final(
          `${url} redirects (HTTP ${result.status}${result.location ? ` to ${shownUrl(result.location)}` : ""}). Set ${options.urlSetting} to the address Home Assistant answers at itself (the redirect's, without /api/).`,
        );
      case "not_home_assistant":
        return final(
          `${url} is not Home Assistant's address${result.status ? ` (its /api/ answers HTTP ${result.status})` : " (not a URL)"}. Set ${options.urlSetting} to the address you open Home Assistant at, e.g. http://homeassistant.local:8123.`,
        );
      case "unreachable":
        if (attempt >= options.attempts) {
          const attempts = `${options.attempts} attempt${options.attempts === 1 ? "" : "s"} over ${seconds(performance.now() - started)}`;
          return {
            line: `Home Assistant at ${url} is not reachable: ${result.cause}, ${attempts}. Check that Home Assistant runs and that ${options.urlSetting} is its address; the service manager may start this again later.`,
            final: false,
          };
        }
        if (attempt === 1) {
          options.warn(`Home Assistant at ${url}: ${result.cause}; asking again every ${seconds(options.intervalMs)}, ${options.attempts - 1} more time${options.attempts === 2 ? "" : "s"}`);
        }
        await new Promise(resolve => setTimeout(resolve, options.intervalMs));
    }
  }
}

/** Requests to Home Assistant at start-up before an app gives up (at hass.RETRY_INTERVAL, 5 s: 50 s). */
const START_ATTEMPTS = 11;

/** How long one start-up request to Home Assistant may take. */
const START_TIMEOUT_MS = 10_000;

/** The start-up check both apps run before hass connects, from hass's configuration; the one warning goes to stderr. */
export function waitAtStart(
  hass: { BASE_URL: string; TOKEN: string; RETRY_INTERVAL: number },
  settings: Pick<WaitOptions, "urlSetting" | "tokenSetting">,
): Promise<HomeAssistantProblem | undefined> {
  return waitForHomeAssistant({
    baseUrl: hass.BASE_URL,
    token: hass.TOKEN,
    attempts: START_ATTEMPTS,
    intervalMs: hass.RETRY_INTERVAL * 1000,
    timeoutMs: START_TIMEOUT_MS,
    ...settings,
    warn: line => process.stderr.write(`warning: ${line}\n`),
  });
}
