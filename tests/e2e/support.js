// Helpers for the real-window end-to-end tests: start tauri-driver (which starts Debian's
// WebKitWebDriver, which starts the app) on free ports, open a WebDriver session on the built
// Lockstep binary, and save screenshots under target/e2e-artifacts/.
//
// Run through tests/bin/run-e2e, which provides the X display (Xvfb) and a throwaway keychain.

import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { remote } from "webdriverio";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const artifactsDir =
  process.env.LOCKSTEP_E2E_ARTIFACTS ?? path.join(root, "target", "e2e-artifacts");

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

/**
 * Starts tauri-driver and opens a WebDriver session on the app. Returns the webdriverio
 * browser and a `close()` that ends both.
 */
export async function launchApp() {
  const application = process.env.LOCKSTEP_APP;
  if (!application) throw new Error("LOCKSTEP_APP must name the built app binary");
  const driver = process.env.TAURI_DRIVER ?? "tauri-driver";
  const port = await freePort();
  const nativePort = await freePort();
  const child = spawn(driver, ["--port", String(port), "--native-port", String(nativePort)], {
    stdio: ["ignore", "inherit", "inherit"],
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
    async close() {
      try {
        await browser.deleteSession();
      } finally {
        child.kill("SIGTERM");
      }
    },
  };
}

/** Saves a screenshot of the app window as target/e2e-artifacts/<name>.png. */
export async function screenshot(browser, name) {
  await mkdir(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  // The DOM can be ahead of what is painted: wait for two frames so the picture shows it.
  await browser.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  await browser.saveScreenshot(file);
  return file;
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
