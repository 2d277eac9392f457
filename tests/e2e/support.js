// Helpers for the real-window end-to-end tests: start tauri-driver (which starts Debian's
// WebKitWebDriver, which starts the app) on free ports, open a WebDriver session on the built
// Lockstep binary, and save screenshots under target/e2e-artifacts/.
//
// Run through tests/bin/run-e2e, which provides the X display (Xvfb) and a throwaway keychain.
// Each launch gets fresh XDG data and config dirs, so the app starts as on a new machine.
//
// The "outside client" of the specs (direct methods, twin patches) is node itself talking the
// IoT Hub REST API to the embedded local hub over TLS, with a SAS token computed here from the
// hub's service connection string (docs/iothub-protocol.md §2), not through the app.

import { execFile, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { remote } from "webdriverio";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const artifactsDir =
  process.env.LOCKSTEP_E2E_ARTIFACTS ?? path.join(root, "target", "e2e-artifacts");
/** Where the final screenshots shown in the README go. */
export const docsScreenshotsDir = path.join(root, "docs", "screenshots");
/**
 * Whether this run rewrites the README's pictures in docs/screenshots/ (tracked files): only
 * when asked with LOCKSTEP_UPDATE_SCREENSHOTS=1, so a normal `make test` changes nothing.
 */
export const updateDocsScreenshots = process.env.LOCKSTEP_UPDATE_SCREENSHOTS === "1";
/** The app's identifier: Tauri's app data and config dirs are named after it. */
const IDENTIFIER = "dev.lockstep.app";

/** A TCP port nobody listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`tauri-driver exited with ${child.exitCode}`);
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`tauri-driver did not listen on ${port} within ${timeoutMs} ms`);
}

/** Resolves when `child` has exited (at once if it already has). */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Whether process `pid` is still alive (a zombie counts as gone). */
async function alive(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The pids of processes started with `XDG_DATA_HOME=<dataHome>` (this launch's app). */
async function appProcesses(dataHome) {
  const wanted = `XDG_DATA_HOME=${dataHome}`;
  const pids = [];
  for (const name of await readdir("/proc").catch(() => [])) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = (await readFile(`/proc/${name}/environ`, "utf8")).split("\0");
      const exe = await readFile(`/proc/${name}/cmdline`, "utf8");
      if (environ.includes(wanted) && !/tauri-driver|WebKitWebDriver/.test(exe)) {
        pids.push(Number(name));
      }
    } catch {
      // Gone already, or not ours to read.
    }
  }
  return pids;
}

/** Waits until every pid has exited; after `timeoutMs`, kills the rest and waits for that. */
async function waitForExit(pids, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = [];
    for (const pid of pids) if (await alive(pid)) left.push(pid);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Exited in between.
        }
      }
      pids = left;
      if (Date.now() > deadline + 5_000) {
        throw new Error(`the app (pid ${left.join(", ")}) did not exit after the session closed`);
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts tauri-driver and opens a WebDriver session on the app, with fresh XDG data and config
 * dirs (tauri-driver and WebKitWebDriver pass the environment on to the app), or those below
 * `home` when given (the benchmarks start the app twice on the same dirs). `env` adds to (or
 * overrides) the environment the app gets, e.g. `GTK_THEME` or `DBUS_SESSION_BUS_ADDRESS`.
 * Returns the webdriverio browser, `home`, the app's data and config dirs, tauri-driver's
 * pid, and a `close()` that ends both and waits until the app has exited.
 */
export async function launchApp({ home, env: extraEnv = {} } = {}) {
  const application = process.env.LOCKSTEP_APP;
  if (!application) throw new Error("LOCKSTEP_APP must name the built app binary");
  const driver = process.env.TAURI_DRIVER ?? "tauri-driver";
  home ??= await mkdtemp(path.join(os.tmpdir(), "lockstep-e2e-"));
  const env = {
    ...process.env,
    ...extraEnv,
    XDG_DATA_HOME: path.join(home, "data"),
    XDG_CONFIG_HOME: path.join(home, "config"),
  };
  const port = await freePort();
  const nativePort = await freePort();
  const child = spawn(driver, ["--port", String(port), "--native-port", String(nativePort)], {
    stdio: ["ignore", "inherit", "inherit"],
    env,
  });
  await waitForPort(port, child, 15_000);
  const browser = await remote({
    hostname: "127.0.0.1",
    port,
    logLevel: "warn",
    capabilities: { "tauri:options": { application } },
  });
  return {
    browser,
    /** The dir holding this launch's XDG data and config dirs (to start again on them). */
    home,
    /** `<XDG_DATA_HOME>/dev.lockstep.app`: the app data dir (the local hub lives below). */
    dataDir: path.join(env.XDG_DATA_HOME, IDENTIFIER),
    /** `<XDG_CONFIG_HOME>/dev.lockstep.app`: the app config dir (profiles.json). */
    configDir: path.join(env.XDG_CONFIG_HOME, IDENTIFIER),
    /** tauri-driver's pid: the app runs below it (through WebKitWebDriver). */
    driverPid: child.pid,
    async close() {
      const apps = await appProcesses(env.XDG_DATA_HOME);
      try {
        await browser.deleteSession();
      } finally {
        const driverGone = exited(child);
        child.kill("SIGTERM");
        await driverGone;
        // The app may outlive its driver for a moment; a leftover app keeps the local hub's
        // ports, and the next spec's hub then picks others. Wait until it has really gone.
        await waitForExit(apps, 10_000);
      }
    },
  };
}

/**
 * Saves a screenshot of the app window as target/e2e-artifacts/<name>.png, or under `dir`
 * when given (docs/screenshots for the pictures the README shows).
 */
export async function screenshot(browser, name, dir = artifactsDir) {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  // The DOM can be ahead of what is painted: wait for two frames so the picture shows it.
  await browser.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  await browser.saveScreenshot(file);
  return file;
}

/**
 * Saves a picture the README shows: always as target/e2e-artifacts/<name>.png, and also as
 * docs/screenshots/<name>.png when LOCKSTEP_UPDATE_SCREENSHOTS=1.
 */
export async function docsScreenshot(browser, name) {
  const file = await screenshot(browser, name);
  if (updateDocsScreenshots) {
    await mkdir(docsScreenshotsDir, { recursive: true });
    await copyFile(file, path.join(docsScreenshotsDir, `${name}.png`));
  }
  return file;
}

/**
 * Clicks `element` once it has stopped moving. WebDriver clicks at the element's centre as
 * measured just before; a smooth scroll still running (the job detail scrolls itself into view
 * when opened) can carry the element away in between, and the click lands on something else.
 */
export async function clickSteady(element, timeout = 10_000) {
  let last = "";
  await element.waitUntil(
    async () => {
      const rect = JSON.stringify([await element.getLocation(), await element.getSize()]);
      const still = rect === last;
      last = rect;
      if (!still) await new Promise((r) => setTimeout(r, 150));
      return still;
    },
    { timeout, timeoutMsg: `the element kept moving (last at ${last})` },
  );
  await element.click();
}

/**
 * Clicks the element `find()` returns until `done()` holds, for clicks that are safe to
 * repeat (opening a confirmation, exporting, cloning). The job detail scrolls itself into
 * view once its data has been read, which can start after `clickSteady` saw the button
 * still; a click that landed elsewhere is then simply made again.
 */
export async function clickUntil(find, done, what, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      await clickSteady(await find(), 5_000);
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    try {
      return await eventually(done, what, 3_000);
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
}

/** Waits until the element's attribute has the wanted value, and says what it saw if not. */
export async function waitForAttribute(element, attribute, wanted, timeout = 10_000) {
  let seen;
  await element.waitUntil(
    async () => {
      seen = await element.getAttribute(attribute);
      return seen === wanted;
    },
    { timeout, timeoutMsg: `expected ${attribute}="${wanted}", last saw "${seen}"` },
  );
}

/** Waits until `check()` resolves truthy and returns that value; says `what` on timeout. */
export async function eventually(check, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The parts of a `Key=Value;…` connection string. */
export function parseConnectionString(text) {
  const parts = {};
  for (const pair of text.split(";")) {
    const at = pair.indexOf("=");
    if (at > 0) parts[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return parts;
}

/**
 * A service SAS token (docs/iothub-protocol.md §2.1): HMAC-SHA256 with the base64-decoded key
 * over `<url-encoded host>\n<expiry>`.
 */
export function serviceSasToken(hostName, keyName, key, ttlSeconds = 3600) {
  const sr = encodeURIComponent(hostName);
  const se = Math.floor(Date.now() / 1000) + ttlSeconds;
  const signature = createHmac("sha256", Buffer.from(key, "base64"))
    .update(`${sr}\n${se}`)
    .digest("base64");
  const sig = encodeURIComponent(signature);
  return `SharedAccessSignature sr=${sr}&sig=${sig}&se=${se}&skn=${encodeURIComponent(keyName)}`;
}

/**
 * The embedded local hub as an outside client sees it, from `localhub.json` in the app data
 * dir: where it listens, its owner connection string and the CA to trust.
 */
export async function readLocalHub(dataDir) {
  const file = path.join(dataDir, "localhub", "localhub.json");
  const info = await eventually(
    async () => JSON.parse(await readFile(file, "utf8")),
    `the local hub's ${file}`,
  );
  const parts = parseConnectionString(info.serviceConnectionString);
  return {
    ...info,
    /** `HostName` of the connection string (`host:port`): the SAS resource and the URL host. */
    hubHost: parts.HostName,
    keyName: parts.SharedAccessKeyName,
    key: parts.SharedAccessKey,
    ca: await readFile(info.caCertificate),
  };
}

/** One IoT Hub REST call to the local hub; resolves `{ status, body }` (body parsed if JSON). */
export function hubRequest(hub, method, pathAndQuery, body, headers = {}) {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: hub.hostName,
        port: hub.httpsPort,
        method,
        path: pathAndQuery,
        ca: hub.ca,
        servername: hub.hostName,
        headers: {
          Authorization: serviceSasToken(hub.hubHost, hub.keyName, hub.key),
          Accept: "application/json",
          ...(payload
            ? {
                "Content-Type": "application/json; charset=utf-8",
                "Content-Length": payload.length,
              }
            : { "Content-Length": 0 }),
          ...headers,
        },
        timeout: 60_000,
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON: keep the text.
          }
          resolve({ status: response.statusCode, body: parsed });
        });
      },
    );
    request.on("timeout", () => request.destroy(new Error(`${method} ${pathAndQuery} timed out`)));
    request.on("error", reject);
    request.end(payload);
  });
}

const API = "api-version=2021-04-12";

/** Invokes a direct method on a device, as a service SDK does. */
export function invokeMethod(hub, deviceId, methodName, payload) {
  return hubRequest(hub, "POST", `/twins/${encodeURIComponent(deviceId)}/methods?${API}`, {
    methodName,
    payload,
    responseTimeoutInSeconds: 30,
    connectTimeoutInSeconds: 10,
  });
}

/** Runs an IoT Hub query (`POST /devices/query`); resolves the first page of results. */
export async function queryDevices(hub, query) {
  const answer = await hubRequest(hub, "POST", `/devices/query?${API}`, { query });
  if (answer.status !== 200) {
    throw new Error(`query "${query}" answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

/** A job as the hub reports it (`GET /jobs/v2/{id}`). */
export async function getJob(hub, jobId) {
  const answer = await hubRequest(hub, "GET", `/jobs/v2/${encodeURIComponent(jobId)}?${API}`);
  if (answer.status !== 200) {
    throw new Error(`job ${jobId} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

/** Patches a device twin's desired properties (If-Match *). */
export function patchDesired(hub, deviceId, desired) {
  return hubRequest(
    hub,
    "PATCH",
    `/twins/${encodeURIComponent(deviceId)}?${API}`,
    { properties: { desired } },
    { "If-Match": "*" },
  );
}

/** Every regular file below `dir` (none when it does not exist). */
export async function filesBelow(dir) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (error) {
    if (error.code === "ENOENT") return [];
    throw error;
  }
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

/**
 * Asks the Secret Service (the session bus of tests/bin/with-keyring) for the item Lockstep
 * keeps under `account`; resolves the item paths found (unlocked and locked).
 */
export async function keychainItems(account) {
  const { stdout } = await promisify(execFile)("gdbus", [
    "call",
    "--session",
    "--dest",
    "org.freedesktop.secrets",
    "--object-path",
    "/org/freedesktop/secrets",
    "--method",
    "org.freedesktop.Secret.Service.SearchItems",
    `{'service': '${IDENTIFIER}', 'username': '${account}'}`,
  ]);
  return [...stdout.matchAll(/'(\/org\/freedesktop\/secrets\/collection\/[^']+)'/g)].map(
    (match) => match[1],
  );
}

/** Registers a device with SAS keys the hub generates (`PUT /devices/{id}`); resolves it. */
export async function registerDevice(hub, deviceId) {
  const answer = await hubRequest(hub, "PUT", `/devices/${encodeURIComponent(deviceId)}?${API}`, {
    deviceId,
  });
  if (answer.status !== 200) {
    throw new Error(
      `creating ${deviceId} answered ${answer.status}: ${JSON.stringify(answer.body)}`,
    );
  }
  return answer.body;
}

/** A device's registry entry (`GET /devices/{id}`): `connectionState` and all. */
export async function getDevice(hub, deviceId) {
  const answer = await hubRequest(hub, "GET", `/devices/${encodeURIComponent(deviceId)}?${API}`);
  if (answer.status !== 200) {
    throw new Error(`device ${deviceId} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

/**
 * Starts a private D-Bus session bus with nothing on it: no Secret Service, and no service
 * files, so nothing can be activated on demand (the system's session config would start
 * gnome-keyring when asked for org.freedesktop.secrets). Resolves its `address` (for
 * DBUS_SESSION_BUS_ADDRESS) and a `stop()`.
 */
export async function sessionBusWithoutKeyring() {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lockstep-bare-bus-"));
  const config = path.join(dir, "session.conf");
  await writeFile(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${path.join(dir, "bus")}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
  );
  const child = spawn("dbus-daemon", [`--config-file=${config}`, "--nofork", "--print-address=1"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const started = new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(
      () => reject(new Error("dbus-daemon gave no address in 10 s")),
      10_000,
    );
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
    child.stdout.on("data", (chunk) => {
      text += chunk;
      const line = text.split("\n")[0];
      if (text.includes("\n")) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
  });
  let address;
  try {
    address = await started;
  } catch (error) {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    address,
    async stop() {
      const gone = exited(child);
      child.kill("SIGTERM");
      await gone;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
