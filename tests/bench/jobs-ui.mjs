// Measures the jobs screen at scale in the real window: 1,000 archived jobs on the timeline
// and one job with 100,000 device results. Run through tests/bin/measure-jobs-ui, which seeds
// the archive (lockstep-jobs' seed_archive example), provides Xvfb and a throwaway keychain,
// and prints a Markdown table for docs/benchmarks-app.md.
//
// Every figure is taken inside the webview with performance.now(): from the action (a click,
// a scrollTop change) to two animation frames later, i.e. until the result has been laid out
// and painted. WebDriver only starts the action and reads the numbers.

import { launchApp } from "../e2e/support.js";

const home = process.env.LOCKSTEP_BENCH_HOME;
const steps = 40;
if (!home)
  throw new Error(
    "LOCKSTEP_BENCH_HOME must be set (tests/bin/measure-jobs-ui does)",
  );

/**
 * Does one action in the page and resolves, in the page, once an element matching `ready`
 * (and, when given, whose text matches `text`) is there and two frames have passed; returns
 * the elapsed ms (null after 60 s). Actions: click `target`; scroll the scroller around
 * `target` by `amount` px, or to `amount` × its height when `fraction` is set. (The app's CSP
 * forbids eval, so the action is data, not code.)
 */
function timed(browser, action) {
  return browser.executeAsync((action, done) => {
    const scroller = (selector) => {
      let el = document.querySelector(selector);
      while (
        el &&
        !(
          el.scrollHeight > el.clientHeight + 1 &&
          /(auto|scroll)/.test(getComputedStyle(el).overflowY)
        )
      ) {
        el = el.parentElement;
      }
      return el;
    };
    const start = performance.now();
    if (action.kind === "click") {
      document.querySelector(action.target).click();
    } else {
      const el = scroller(action.target) ?? document.scrollingElement;
      el.scrollTop = action.fraction
        ? el.scrollHeight * action.amount
        : el.scrollTop + action.amount;
    }
    const isReady = () =>
      [...document.querySelectorAll(action.ready)].some(
        (el) => !action.text || new RegExp(action.text).test(el.textContent),
      );
    const check = () => {
      if (isReady()) {
        requestAnimationFrame(() =>
          requestAnimationFrame(() => done(performance.now() - start)),
        );
      } else if (performance.now() - start > 60_000) {
        done(null);
      } else {
        requestAnimationFrame(check);
      }
    };
    check();
  }, action);
}

async function scrollSteps(browser, selector, stepPx) {
  const times = [];
  for (let i = 0; i < steps; i++) {
    times.push(
      await timed(browser, {
        kind: "scroll",
        target: selector,
        amount: stepPx,
        ready: selector,
      }),
    );
  }
  return times;
}

function stats(times) {
  const sorted = times.filter((t) => t !== null).sort((a, b) => a - b);
  if (!sorted.length) return "n/a";
  const pick = (q) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `${pick(0.5).toFixed(1)} ms median, ${pick(0.95).toFixed(1)} ms p95`;
}

const ms = (t) => (t === null ? "not within 60 s" : `${t.toFixed(1)} ms`);

const rows = [];
const { browser, close } = await launchApp({ home });
try {
  await browser.$('[data-testid="jobs-nav"]').waitForExist({ timeout: 60_000 });
  // Let start-up (hub, lock, job import) settle so it does not share the measurements.
  await browser.pause(5_000);

  // The floor under every figure: two frames with nothing to do.
  const idle = [];
  for (let i = 0; i < 10; i++) {
    idle.push(
      await timed(browser, {
        kind: "scroll",
        target: "body",
        amount: 0,
        ready: "body",
      }),
    );
  }
  rows.push(["baseline: two frames, nothing changed", stats(idle)]);

  const jobRow = '[data-testid="job-row"]';
  const resultRow = '[data-testid="device-result-row"]';
  const open = await timed(browser, {
    kind: "click",
    target: '[data-testid="jobs-nav"]',
    ready: jobRow,
  });
  const inDom = await browser.execute(
    (sel) => document.querySelectorAll(sel).length,
    jobRow,
  );
  rows.push([
    `open the jobs screen (1,000 jobs; ${inDom} rows in the DOM)`,
    ms(open),
  ]);
  rows.push([
    `timeline: scroll by 600 px (${steps} steps)`,
    stats(await scrollSteps(browser, jobRow, 600)),
  ]);

  const bigJob = `${jobRow}[data-job-id="big-job"]`;
  await timed(browser, {
    kind: "scroll",
    target: jobRow,
    amount: 0,
    fraction: true,
    ready: bigJob,
  });
  const detail = await timed(browser, {
    kind: "click",
    target: bigJob,
    ready: resultRow,
    text: "sim-lock-",
  });
  rows.push(["open the job with 100,000 device results", ms(detail)]);
  rows.push([
    `results: scroll by 320 px (${steps} steps, loaded rows)`,
    stats(await scrollSteps(browser, resultRow, 320)),
  ]);
  const deep = await timed(browser, {
    kind: "scroll",
    target: resultRow,
    amount: 0.5,
    fraction: true,
    ready: resultRow,
    text: "sim-lock-0[45]\\d{4}",
  });
  rows.push([
    "results: jump to the middle (row 50,000) until its rows show",
    ms(deep),
  ]);
} finally {
  await close();
}

console.log("| action | time (in the webview, to the second frame after) |");
console.log("| --- | --- |");
for (const [what, figure] of rows) console.log(`| ${what} | ${figure} |`);
