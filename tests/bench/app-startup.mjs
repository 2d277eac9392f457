// Measures Lockstep's start-up in the real window: launch to first contentful paint, launch
// to the door lock drawn, and memory once idle. Run through tests/bin/measure-app, which
// provides Xvfb and a throwaway keychain; results go to stdout as a Markdown table.
//
// How each figure is taken:
// - launch: the app process's start time, from /proc/<pid>/stat (clock ticks since boot).
// - first paint: the webview's own Paint Timing entry (first-contentful-paint), converted to
//   wall-clock time with performance.timeOrigin. WebDriver only reads these values afterwards,
//   so its overhead is not in the figure.
// - lock drawn: when [data-testid=door-lock] first has a data-state of locked/unlocked (the
//   moment a user sees a usable lock), polled through WebDriver every 20 ms, so it includes
//   up to one polling round trip.
// - idle memory: after IDLE_MS without interaction, RSS and PSS (smaps_rollup) of the app
//   process and of its WebKit child processes.
//
//   node tests/bench/app-startup.mjs [--runs N]

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { launchApp } from "../e2e/support.js";

const IDLE_MS = 10_000;
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const app = process.env.LOCKSTEP_APP;
if (!app) throw new Error("LOCKSTEP_APP must name the built app binary");

const ticksPerSecond = Number(
  execFileSync("getconf", ["CLK_TCK"]).toString().trim(),
);
const bootTimeMs =
  Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))[1]) * 1000;

function children(pid) {
  const out = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

function processStartMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return bootTimeMs + (Number(fields[19]) / ticksPerSecond) * 1000;
}

function memoryKiB(pid) {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const field = (name) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(rollup)[1]);
  return { rss: field("Rss"), pss: field("Pss") };
}

/** The app process: the descendant of tauri-driver (via WebKitWebDriver) running LOCKSTEP_APP. */
function findApp(driverPid) {
  const name = path.basename(app).slice(0, 15);
  const stack = [driverPid];
  while (stack.length) {
    const pid = stack.pop();
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === name) return pid;
    } catch {
      continue;
    }
    stack.push(...children(pid));
  }
  throw new Error("the app process was not found under tauri-driver");
}

async function measureOnce(home) {
  const { browser, driverPid, close } = await launchApp({ home });
  try {
    const pid = findApp(driverPid);
    const started = processStartMs(pid);
    // Wait until the lock shows a real state, then read when the page first had it.
    await browser.waitUntil(
      () =>
        browser.execute(() => {
          const lock = document.querySelector('[data-testid="door-lock"]');
          const state = lock?.getAttribute("data-state");
          return state === "locked" || state === "unlocked";
        }),
      {
        timeout: 60_000,
        interval: 20,
        timeoutMsg: "the lock never showed a state",
      },
    );
    const seenAt = Date.now();
    const paint = await browser.execute(() => {
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      return {
        origin: performance.timeOrigin,
        fcp: fcp ? fcp.startTime : null,
      };
    });
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const appMemory = memoryKiB(pid);
    let total = { ...appMemory };
    const stack = children(pid);
    while (stack.length) {
      const next = stack.pop();
      try {
        const m = memoryKiB(next);
        total = { rss: total.rss + m.rss, pss: total.pss + m.pss };
        stack.push(...children(next));
      } catch {
        // gone
      }
    }
    return {
      firstPaintMs:
        paint.fcp === null ? null : paint.origin + paint.fcp - started,
      lockSeenMs: seenAt - started,
      appMemory,
      total,
    };
  } finally {
    // Waits until the app has exited, so the next run's hub gets the same ports.
    await close();
  }
}

function median(values) {
  const sorted = values.filter((v) => v !== null).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
}

const rows = { cold: [], warm: [] };
for (let i = 0; i < runs; i++) {
  const home = mkdtempSync(path.join(os.tmpdir(), "lockstep-startup-"));
  try {
    rows.cold.push(await measureOnce(home)); // fresh dirs: creates the profile, hub, certs
    rows.warm.push(await measureOnce(home)); // same dirs again: restores them
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  process.stderr.write(`run ${i + 1}/${runs} done\n`);
}

const fmt = (v, unit) => (v === null ? "n/a" : `${Math.round(v)} ${unit}`);
console.log(
  `| start | first contentful paint | lock drawn with state | app RSS / PSS | app + WebKit RSS / PSS |`,
);
console.log(`| --- | --- | --- | --- | --- |`);
for (const [name, list] of Object.entries(rows)) {
  console.log(
    `| ${name} (median of ${list.length}) | ${fmt(median(list.map((r) => r.firstPaintMs)), "ms")} | ` +
      `${fmt(median(list.map((r) => r.lockSeenMs)), "ms")} | ` +
      `${fmt(median(list.map((r) => r.appMemory.rss)) / 1024, "MiB")} / ${fmt(median(list.map((r) => r.appMemory.pss)) / 1024, "MiB")} | ` +
      `${fmt(median(list.map((r) => r.total.rss)) / 1024, "MiB")} / ${fmt(median(list.map((r) => r.total.pss)) / 1024, "MiB")} |`,
  );
}
