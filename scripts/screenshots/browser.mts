/**
 * Debian's headless Chromium driven through the DevTools protocol over its websocket: one
 * page, navigated, waited on with expressions evaluated in it, and photographed into a PNG.
 * The few protocol calls the docs' pictures need, written here instead of a browser-automation
 * dependency.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import WebSocket from "ws";
import { z } from "zod";

/** The browser the pictures are taken with: CHROMIUM, else Debian's package. */
export const CHROMIUM = process.env.CHROMIUM?.trim() || "/usr/bin/chromium";

/** How long Chromium may take to open its DevTools endpoint, and any one protocol call to answer. */
const LAUNCH_DEADLINE_MS = 60_000;
const CALL_DEADLINE_MS = 60_000;

const replySchema = z.object({
  id: z.number().optional(),
  method: z.string().optional(),
  sessionId: z.string().optional(),
  result: z.record(z.string(), z.unknown()).optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  error: z.object({ message: z.string() }).optional(),
});
const exceptionSchema = z.object({ exceptionDetails: z.object({ text: z.string(), exception: z.object({ description: z.string().optional() }).optional() }) });
const consoleSchema = z.object({ type: z.string(), args: z.array(z.object({ value: z.unknown().optional(), description: z.string().optional() })) });
const evaluateSchema = z.object({
  result: z.object({ type: z.string(), value: z.unknown().optional(), description: z.string().optional() }),
  exceptionDetails: z.object({ text: z.string(), exception: z.object({ description: z.string().optional() }).optional() }).optional(),
});

/** The page being photographed. */
export interface Page {
  /** Viewport in CSS pixels (device scale 1). */
  setViewport(width: number, height: number): Promise<void>;
  /** Run `source` in every document before its own scripts (e.g. to put the login in localStorage). */
  addInitScript(source: string): Promise<void>;
  /** Navigate and wait for the load event. */
  goto(url: string): Promise<void>;
  /** The value of `expression` evaluated in the page (promises awaited). */
  evaluate(expression: string): Promise<unknown>;
  /** Resolves once `expression` is truthy in the page; rejects after `timeoutMs` naming `what`. */
  waitFor(expression: string, timeoutMs: number, what: string): Promise<void>;
  /** Uncaught exceptions and console errors of the page so far, for a failure's message. */
  errors(): string[];
  /** A PNG of the viewport, or of `clip` (CSS pixels) when given, written to `file`. */
  screenshot(file: string, clip?: { x: number; y: number; width: number; height: number }): Promise<void>;
}

/** A running headless Chromium with one page. */
export interface Browser {
  page: Page;
  close(): Promise<void>;
}

/** Start Chromium headless on 127.0.0.1 with a throw-away profile and open one page. */
export async function launchBrowser(options: { log?: (line: string) => void } = {}): Promise<Browser> {
  const say = options.log ?? (() => undefined);
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt install chromium, or set CHROMIUM to a Chromium binary`);
  const profile = await mkdtemp(join(tmpdir(), "bc-chromium-"));
  const args = [
    "--headless",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    `--user-data-dir=${profile}`,
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-gpu",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--lang=en-US",
    // root in a container has no user namespace for the sandbox
    ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
    "about:blank",
  ];
  const child: ChildProcess = spawn(CHROMIUM, args, { stdio: ["ignore", "ignore", "pipe"] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`${CHROMIUM} opened no DevTools endpoint within ${LAUNCH_DEADLINE_MS / 1000} s:\n${seen.slice(-2000)}`)), LAUNCH_DEADLINE_MS);
    child.stderr?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const found = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (found?.[1]) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    child.once("exit", code => {
      clearTimeout(timer);
      reject(new Error(`${CHROMIUM} exited (${code}) before opening its DevTools endpoint:\n${seen.slice(-2000)}`));
    });
  });
  say(`Chromium's DevTools on ${endpoint}`);

  const socket = new WebSocket(endpoint);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: Record<string, unknown>) => void; reject: (error: Error) => void }>();
  const listeners = new Set<(method: string, sessionId: string | undefined, params: Record<string, unknown>) => void>();
  socket.on("message", raw => {
    const text = Array.isArray(raw) ? Buffer.concat(raw).toString() : Buffer.from(raw as ArrayBuffer).toString();
    const message = replySchema.parse(JSON.parse(text));
    if (message.id !== undefined) {
      const waiting = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) waiting?.reject(new Error(message.error.message));
      else waiting?.resolve(message.result ?? {});
    } else if (message.method) {
      for (const listener of listeners) listener(message.method, message.sessionId, message.params ?? {});
    }
  });
  socket.on("close", () => {
    for (const waiting of pending.values()) waiting.reject(new Error("Chromium closed its DevTools connection"));
    pending.clear();
  });

  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`Chromium did not answer ${method} within ${CALL_DEADLINE_MS / 1000} s`));
      }, CALL_DEADLINE_MS);
      pending.set(id, {
        resolve: value => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: error => {
          clearTimeout(timer);
          reject(error);
        },
      });
      socket.send(JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) }));
    });

  const { targetId } = z.object({ targetId: z.string() }).parse(await send("Target.createTarget", { url: "about:blank" }));
  const { sessionId } = z.object({ sessionId: z.string() }).parse(await send("Target.attachToTarget", { targetId, flatten: true }));
  const call = (method: string, params: Record<string, unknown> = {}) => send(method, params, sessionId);
  const pageErrors: string[] = [];
  listeners.add((method, from, params) => {
    if (from !== sessionId) return;
    if (method === "Runtime.exceptionThrown") {
      const { exceptionDetails } = exceptionSchema.parse(params);
      pageErrors.push(exceptionDetails.exception?.description ?? exceptionDetails.text);
    } else if (method === "Runtime.consoleAPICalled") {
      const entry = consoleSchema.parse(params);
      if (entry.type === "error") pageErrors.push(entry.args.map(arg => arg.description ?? String(arg.value)).join(" "));
    }
  });
  await call("Page.enable");
  await call("Runtime.enable");

  const evaluate = async (expression: string) => {
    const reply = evaluateSchema.parse(await call("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true }));
    if (reply.exceptionDetails) throw new Error(`in the page: ${reply.exceptionDetails.exception?.description ?? reply.exceptionDetails.text}`);
    return reply.result.value;
  };

  const page: Page = {
    setViewport: async (width, height) => {
      await call("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
    },
    addInitScript: async source => {
      await call("Page.addScriptToEvaluateOnNewDocument", { source });
    },
    goto: async url => {
      const loaded = new Promise<void>(resolve => {
        const listener = (method: string, from: string | undefined) => {
          if (method === "Page.loadEventFired" && from === sessionId) {
            listeners.delete(listener);
            resolve();
          }
        };
        listeners.add(listener);
      });
      const navigated = z.object({ errorText: z.string().optional() }).parse(await call("Page.navigate", { url }));
      if (navigated.errorText) throw new Error(`navigating to ${url}: ${navigated.errorText}`);
      await loaded;
    },
    evaluate,
    errors: () => [...pageErrors],
    waitFor: async (expression, timeoutMs, what) => {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      for (;;) {
        try {
          if (await evaluate(expression)) return;
        } catch (error) {
          last = error;
        }
        if (Date.now() > deadline) {
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in the page${last instanceof Error ? ` (last error: ${last.message})` : ""}`);
        }
        await new Promise(resolve => setTimeout(resolve, 250));
      }
    },
    screenshot: async (file, clip) => {
      const shot = z
        .object({ data: z.string() })
        .parse(await call("Page.captureScreenshot", { format: "png", ...(clip ? { clip: { ...clip, scale: 1 }, captureBeyondViewport: true } : {}) }));
      await writeFile(file, Buffer.from(shot.data, "base64"));
    },
  };

  return {
    page,
    close: async () => {
      socket.close();
      const exited = new Promise(resolve => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      if (child.exitCode === null && child.signalCode === null) await exited;
      clearTimeout(timer);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
