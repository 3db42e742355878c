/**
 * `npm run docs:screenshots`: the pictures in docs/images, taken from the real thing. A real
 * Home Assistant (the one the real-HA suite boots, with its web interface) gets two drones,
 * "laptop" and "nas", and the coordinator through the real synapse integration
 * (SYNAPSE_EXTENSION_DIR); the coordinator backs both up; headless Chromium photographs a
 * drone's device page, the coordinator's device page and homeassistant/dashboards/backups.yaml
 * loaded as a dashboard. The progress bar of `backup-drone create` is captured under a pty
 * (`script`) and drawn by terminal.mts in the same browser. Run it again whenever entities or
 * the terminal output change.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { isDeepStrictEqual } from "node:util";

import yaml from "js-yaml";
import { z } from "zod";

import { coordinatorDeviceId, coordinatorObjectId } from "../apps/backup_coordinator/ha/entities.mjs";
import { COORDINATOR_EVENT_TYPES } from "../libs/protocol/coordinator-events.mjs";
import { droneDeviceId, entityId } from "../libs/protocol/index.mjs";
import { type DroneProcess } from "../test/emulator/drone-process.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../test/helpers/borg.mjs";
import { tempDir, writeRandomFiles } from "../test/helpers/fs.mjs";
import { builtBin, childEnv, type Running } from "../test/helpers/process.mjs";
import { addSynapseApp, coordinatorEvents, startCoordinator, startDrone } from "../test/homeassistant/apps.mjs";
import { type HomeAssistant, startHomeAssistant } from "../test/homeassistant/instance.mjs";
import { type Browser, launchBrowser, type Page } from "./screenshots/browser.mjs";
import { PICTURES } from "./screenshots/pictures.mjs";
import { middleFrame, replay, screenText, terminalHtml } from "./screenshots/terminal.mjs";

const ROOT = join(import.meta.dirname, "..");
const IMAGES = join(ROOT, "docs", "images");
const DASHBOARD = join(ROOT, "homeassistant", "dashboards", "backups.yaml");
/** The viewport of every Home Assistant picture (CSS pixels, scale 1). */
const VIEWPORT = { width: 1280, height: 900 };
/** The terminal the progress bar is captured in. */
const TERMINAL = { columns: 100, rows: 30 };
const COORDINATOR_ID = "backup_coordinator";

const say = (line: string) => console.log(`docs:screenshots: ${line}`);

const checkout = process.env.SYNAPSE_EXTENSION_DIR?.trim() ?? "";
if (checkout === "") {
  console.error(
    "docs:screenshots needs the real synapse integration: set SYNAPSE_EXTENSION_DIR to a checkout of Digital-Alchemy-TS/synapse-extension (fetched, never committed here)",
  );
  process.exit(2);
}

// ------------------------------------------------------------------ the terminal

/** A folder on PATH whose `backup-drone` runs the project's built bin, as an installed command does. */
async function commandFolder(dir: string): Promise<string> {
  const bin = await builtBin("backup-drone");
  const folder = join(dir, "bin");
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, "backup-drone"), `#!/bin/sh\nexec '${process.execPath}' '${bin}' "$@"\n`);
  await chmod(join(folder, "backup-drone"), 0o755);
  return folder;
}

/** Run `command` under a pseudo-terminal of TERMINAL's size (util-linux `script`); resolves with everything the terminal received. */
async function underPty(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn("script", ["--quiet", "--return", "--command", `stty cols ${TERMINAL.columns} rows ${TERMINAL.rows}; ${command}`, "/dev/null"], {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let errors = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString()));
  const code = await new Promise<number | null>(resolve => child.once("close", resolve));
  if (code !== 0) throw new Error(`${command} under a pty exited ${code}:\n${output}\n${errors}`);
  return output;
}

/**
 * `backup-drone create` on a terminal: a first archive of 256 MiB, then a quarter of the files
 * changed (below the prune guard's 50 % of new data), and the second create captured (its
 * estimate comes from the first archive). zstd at level 10 makes the run last a few seconds.
 */
async function progressPicture(page: Page, work: string) {
  const repo = await makeTestRepository();
  try {
    const source = join(repo.root, "source");
    await writeRandomFiles(source, 64, 4 * 1024 * 1024);
    const folder = await commandFolder(work);
    const env = childEnv(
      {
        PATH: `${folder}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        TERM: "xterm-256color",
        DRONE_ID: "laptop",
        DRONE_REPOSITORY: repo.repository.location,
        DRONE_PASSPHRASE: TEST_PASSPHRASE,
        DRONE_SOURCES: source,
        DRONE_COMPRESSION: "zstd,10",
        DRONE_STATE_DIR: join(repo.root, "state"),
        DRONE_BORG_BASE_DIR: repo.repository.baseDir ?? join(repo.root, "borg-base"),
      },
      join(work, "home"),
    );
    // colour, as on a person's terminal
    delete env.NO_COLOR;
    await underPty("backup-drone create", work, env);
    await writeRandomFiles(source, 16, 4 * 1024 * 1024);
    const output = await underPty("backup-drone create", work, env);
    const { frames, final } = replay(output, TERMINAL.columns);
    const frame = middleFrame(frames);
    if (frame === undefined) throw new Error(`backup-drone create drew no progress bar on the terminal:\n${output}`);
    say(`progress bar: ${frames.length} frames, showing "${screenText(frame).at(-1)?.trim() ?? ""}"`);
    const html = join(work, "terminal.html");
    await writeFile(
      html,
      terminalHtml(
        [
          { caption: "While it runs", command: "backup-drone create", screen: frame },
          { caption: "When it ends", command: "backup-drone create", screen: final },
        ],
        TERMINAL.columns,
      ),
    );
    await page.setViewport(VIEWPORT.width, VIEWPORT.height);
    await page.goto(`file://${html}`);
    await page.evaluate("document.fonts.ready.then(() => true)");
    const box = z
      .object({ width: z.number(), height: z.number() })
      .parse(await page.evaluate("(() => { const r = document.body.getBoundingClientRect(); return { width: Math.ceil(r.width), height: Math.ceil(r.height) }; })()"));
    await page.screenshot(join(IMAGES, PICTURES.progress), { x: 0, y: 0, ...box });
  } finally {
    await repo.remove();
  }
}

// ------------------------------------------------------------------ Home Assistant

/** Every text the page shows, through the shadow roots the frontend's components live in (not the text of its styles and scripts). */
const DEEP_TEXT = `(() => {
  const hidden = new Set(["STYLE", "SCRIPT", "TEMPLATE", "NOSCRIPT"]);
  const walk = root => {
    let text = "";
    for (const node of root.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) text += node.textContent + " ";
      else if (node.nodeType === Node.ELEMENT_NODE && !hidden.has(node.nodeName)) {
        if (node.shadowRoot) text += walk(node.shadowRoot);
        text += walk(node);
      }
    }
    return text;
  };
  return walk(document).replace(/\\s+/g, " ");
})()`;

/**
 * Resolves once every text of `texts` shows on the page, the fonts are loaded, and the page has
 * settled. When they never show, the page as it was is kept in `debugDir` for a look.
 */
async function showing(page: Page, texts: string[], what: string, debugDir: string) {
  try {
    await page.waitFor(`(t => ${JSON.stringify(texts)}.every(x => t.includes(x)))(${DEEP_TEXT})`, 60_000, what);
  } catch (error) {
    const file = join(debugDir, `${what.replace(/\W+/g, "-")}.png`);
    await page.screenshot(file).catch(() => undefined);
    const errors = page.errors().slice(-5);
    throw new Error(`${error instanceof Error ? error.message : String(error)}; the page as it was: ${file}${errors.length > 0 ? `; the page's last errors:\n${errors.join("\n")}` : ""}`);
  }
  await page.evaluate("document.fonts.ready.then(() => true)");
  // cards fade in and charts draw after their data arrives: let the last frame settle
  await new Promise(resolve => setTimeout(resolve, 2_000));
}

/**
 * Grow the viewport to the height of the page's scrolling content (at most `max`), so that a
 * long page shows every card: a device page scrolls inside HA's own layout, a dashboard's view
 * scrolls the document.
 */
async function fitHeight(page: Page, max: number) {
  const needed = z.number().parse(
    await page.evaluate(`(() => {
      let most = Math.max(window.innerHeight, document.documentElement.scrollHeight);
      const walk = root => {
        for (const element of root.querySelectorAll("*")) {
          if (element.scrollHeight > element.clientHeight + 1 && getComputedStyle(element).overflowY !== "visible") {
            most = Math.max(most, element.getBoundingClientRect().top + element.scrollHeight);
          }
          if (element.shadowRoot) walk(element.shadowRoot);
        }
      };
      walk(document);
      return Math.ceil(most);
    })()`),
  );
  await page.setViewport(VIEWPORT.width, Math.min(Math.max(VIEWPORT.height, needed + 16), max));
  await new Promise(resolve => setTimeout(resolve, 1_000));
}

/** Log the browser in as the owner: the frontend's stored tokens, with the admin's long-lived token as the access token. */
async function logIn(page: Page, ha: HomeAssistant) {
  const tokens = {
    hassUrl: ha.url,
    clientId: `${ha.url}/`,
    access_token: ha.adminToken,
    token_type: "Bearer",
    refresh_token: "",
    // the long-lived token outlives the run: the frontend never tries to refresh it
    expires_in: 30 * 86_400,
    expires: Date.now() + 30 * 86_400_000,
  };
  await page.addInitScript(`if (location.origin === ${JSON.stringify(ha.url)}) localStorage.setItem("hassTokens", ${JSON.stringify(JSON.stringify(tokens))});`);
}

const deviceSchema = z.array(z.object({ id: z.string(), identifiers: z.array(z.tuple([z.string(), z.string()])) }));

/** HA's device id of the device synapse registered with `identifier`. */
async function deviceOf(ha: HomeAssistant, identifier: string): Promise<string> {
  const found = deviceSchema.parse(await ha.deviceRegistry()).find(device => device.identifiers.some(([domain, id]) => domain === "synapse" && id === identifier));
  if (!found) throw new Error(`Home Assistant has no device ${identifier}`);
  return found.id;
}

/** Resolves once `entity` has a state that is neither unknown nor unavailable. */
async function known(ha: HomeAssistant, entity: string) {
  await ha.waitFor(
    async () => {
      const state = (await ha.states()).find(item => item.entity_id === entity)?.state;
      return state !== undefined && state !== "unknown" && state !== "unavailable" ? state : undefined;
    },
    120_000,
    `${entity} to have a value`,
  );
}

/**
 * The parts of the dashboard file the script reads. Every level passes its other keys through:
 * zod drops unknown keys by default, and a view stripped to its `path` is saved as an empty view.
 */
const dashboardSchema = z.object({ title: z.string(), views: z.array(z.object({ path: z.string() }).passthrough()).min(1) }).passthrough();

/**
 * The example dashboard, loaded into HA as a person does (a new dashboard, then its raw
 * configuration), and read back: what HA serves must be the file, card for card.
 */
async function loadDashboard(ha: HomeAssistant): Promise<string> {
  const urlPath = "dashboard-backups";
  const config = dashboardSchema.parse(yaml.load(await readFile(DASHBOARD, "utf8")));
  const socket = await ha.socket();
  try {
    await socket.command({ type: "lovelace/dashboards/create", url_path: urlPath, title: config.title, icon: "mdi:backup-restore", show_in_sidebar: true, require_admin: false, mode: "storage" });
    await socket.command({ type: "lovelace/config/save", url_path: urlPath, config });
    const served = await socket.command({ type: "lovelace/config", url_path: urlPath, force: true });
    if (!isDeepStrictEqual(served, config)) {
      throw new Error(`Home Assistant serves another configuration for the dashboard than ${relative(ROOT, DASHBOARD)}: ${JSON.stringify(served).slice(0, 300)}`);
    }
  } finally {
    await socket.close();
  }
  return `/${urlPath}/${config.views[0]?.path ?? ""}`;
}

async function homeAssistantPictures(page: Page, ha: HomeAssistant, work: string) {
  const repos: TestRepository[] = [];
  const drones: DroneProcess[] = [];
  let coordinator: Running | undefined;
  try {
    // the two machines of the example dashboard: a laptop, and a NAS with more data and an offsite copy
    for (const [droneId, files] of [
      ["laptop", 48],
      ["nas", 120],
    ] as const) {
      const repo = await makeTestRepository();
      repos.push(repo);
      await writeRandomFiles(join(repo.root, "source"), files, 1024 * 1024);
      const settings: Record<string, unknown> = { MODE: "coordinated" };
      if (droneId === "nas") {
        const offsite = await makeTestRepository();
        repos.push(offsite);
        settings.OFFSITE_REPOSITORY = offsite.repository.location;
      }
      const drone = await startDrone({ ha, repo, droneId, drone: settings });
      drones.push(drone);
      await drone.waitForOutput(/application is not registered in hass/, 60_000);
      await addSynapseApp(ha, `Backup drone ${droneId}`);
      await drone.waitForOutput(/application confirmed registration/, 60_000);
      say(`drone ${droneId} added in Home Assistant`);
    }

    coordinator = await startCoordinator(ha, join(work, "coordinator"));
    await coordinator.waitFor(/application is not registered in hass/, 60_000);
    await addSynapseApp(ha, "Backup Coordinator");
    say("coordinator added; waiting for its backups of both drones and the NAS's offsite copy");
    for (const [droneId, kind] of [
      ["laptop", "primary"],
      ["nas", "primary"],
      ["nas", "offsite"],
    ] as const) {
      const finished = await ha.waitFor(
        () => coordinatorEvents(ha, COORDINATOR_EVENT_TYPES.runFinished).find(event => event.drone_id === droneId && event.kind === kind && event.ours),
        600_000,
        `the coordinator's ${kind} backup of ${droneId}`,
      );
      if (finished.outcome !== "success") throw new Error(`the coordinator's ${kind} backup of ${droneId} ended ${finished.outcome}: ${finished.error ?? ""}`);
    }
    await known(ha, entityId("nas", "last_offsite_backup"));
    await known(ha, entityId("laptop", "archive_count"));
    await known(ha, entityId("laptop", "last_backup"));
    await known(ha, `sensor.${coordinatorObjectId(COORDINATOR_ID, "last_round_completed")}`);

    await logIn(page, ha);
    await page.setViewport(VIEWPORT.width, VIEWPORT.height);

    await page.goto(`${ha.url}/config/devices/device/${await deviceOf(ha, droneDeviceId("laptop"))}`);
    await showing(page, ["laptop", "Last Backup", "Create Backup"], "the laptop's device page", work);
    await fitHeight(page, 2_400);
    await page.screenshot(join(IMAGES, PICTURES.droneDevice));
    await page.setViewport(VIEWPORT.width, VIEWPORT.height);

    await page.goto(`${ha.url}/config/devices/device/${await deviceOf(ha, coordinatorDeviceId(COORDINATOR_ID))}`);
    await showing(page, ["Run Now"], "the coordinator's device page", work);
    await fitHeight(page, 2_400);
    await page.screenshot(join(IMAGES, PICTURES.coordinatorDevice));
    await page.setViewport(VIEWPORT.width, VIEWPORT.height);

    await page.goto(`${ha.url}${await loadDashboard(ha)}`);
    await showing(page, ["Backup coordinator", "laptop", "nas", "Repository size on disk"], "the example dashboard", work);
    await fitHeight(page, 2_000);
    await page.screenshot(join(IMAGES, PICTURES.dashboard));
  } finally {
    await Promise.all(drones.map(drone => drone.stop().catch(() => undefined)));
    coordinator?.kill();
    await coordinator?.done.catch(() => undefined);
    await Promise.all(repos.map(repo => repo.remove()));
  }
}

// ------------------------------------------------------------------ the files

/** Make the PNGs smaller with Debian's pngquant and optipng where installed; returns what ran. */
function optimise(files: string[]): string[] {
  const tools: string[] = [];
  const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
  if (has("pngquant")) {
    // 256 colours lose nothing visible on flat interface colours and halve the size
    for (const file of files) spawnSync("pngquant", ["--force", "--skip-if-larger", "--strip", "--quality=85-100", "--output", file, "--", file], { stdio: "inherit" });
    tools.push("pngquant");
  }
  if (has("optipng")) {
    for (const file of files) spawnSync("optipng", ["-quiet", "-o2", "-strip", "all", file], { stdio: "inherit" });
    tools.push("optipng");
  }
  return tools;
}

const started = Date.now();
await mkdir(IMAGES, { recursive: true });
const { path: work, remove: removeWork } = await tempDir("screenshots");
let browser: Browser | undefined;
let ha: HomeAssistant | undefined;
let failed = false;
try {
  browser = await launchBrowser({ log: say });
  await progressPicture(browser.page, work);
  say(`wrote ${PICTURES.progress}`);
  // inside the work folder: kept with HA's logs when something fails
  ha = await startHomeAssistant({ root: join(work, "homeassistant"), synapseDir: checkout, frontend: true, log: say });
  await homeAssistantPictures(browser.page, ha, work);
  say(`wrote ${PICTURES.droneDevice}, ${PICTURES.coordinatorDevice}, ${PICTURES.dashboard}`);
  const files = Object.values(PICTURES).map(name => join(IMAGES, name));
  const tools = optimise(files);
  if (tools.length === 0) say("pngquant and optipng are not installed: the pictures are left as Chromium wrote them (apt install pngquant optipng)");
  for (const file of files) say(`${relative(ROOT, file)}: ${Math.round((await stat(file)).size / 1024)} KiB`);
  const unexpected = (await readdir(IMAGES)).filter(name => !(Object.values(PICTURES) as string[]).includes(name));
  if (unexpected.length > 0) say(`docs/images also holds ${unexpected.join(", ")}, which this script does not make`);
  say(`done in ${Math.round((Date.now() - started) / 1000)} s`);
} catch (error) {
  failed = true;
  console.error(`docs:screenshots failed: ${error instanceof Error ? error.message : String(error)}`);
  console.error(`kept for a look: ${work} (Home Assistant's logs in homeassistant/)`);
} finally {
  await browser?.close().catch(() => undefined);
  await ha?.remove().catch(() => undefined);
  if (!failed) await removeWork();
}
process.exit(failed ? 1 : 0);
