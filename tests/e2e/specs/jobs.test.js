// Issue 7 in the real window: jobs scheduled by clicking in the job builder run on the
// embedded local hub, fill the timeline and toggle the lock. A lockDoor job on this lock
// completes 1/1 and locks it; a desired-properties job reaches the lock's twin; a job 20 s
// ahead is scheduled, then runs; a job far ahead is cancelled from its detail; and with 1,000
// simulated devices, a method job over `tags.building = 43` previews and runs over exactly as
// many devices as the hub itself counts (asked by node over REST, not through the app).
//
// The tests share one app and run in order (each builds on the state the previous one left).

import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { after, before, test } from "node:test";

import {
  clickUntil,
  docsScreenshot,
  eventually,
  getJob,
  launchApp,
  queryDevices,
  readLocalHub,
  screenshot,
  waitForAttribute,
} from "../support.js";

const DEVICE = "door-lock-1";
let app;
let hub;

before(async () => {
  app = await launchApp();
});

after(async () => {
  if (app) await screenshot(app.browser, "jobs-99-last").catch(() => {});
  await app?.close();
});

const byTestId = (id) => app.browser.$(`[data-testid="${id}"]`);
const jobRow = (jobId) => app.browser.$(`[data-testid="job-row"][data-job-id="${jobId}"]`);

/** `YYYY-MM-DDTHH:MM:SS` in the local time zone (what a datetime-local input holds). */
function localInput(date) {
  const two = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}` +
    `T${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`
  );
}

/** Replaces a text field's content by typing (emptied through an input event, as a cut would). */
async function typeInto(id, text) {
  const field = await byTestId(id);
  await field.waitForExist({ timeout: 10_000 });
  await app.browser.execute((element) => {
    element.value = "";
    element.dispatchEvent(new Event("input", { bubbles: true }));
  }, field);
  if (text) await field.addValue(text);
  await eventually(async () => (await field.getValue()) === text, `${id} to hold ${text}`);
}

/** Picks an option of a `<select>` by its value. */
async function choose(id, value) {
  const select = await byTestId(id);
  await select.selectByAttribute("value", value);
  await eventually(async () => (await select.getValue()) === value, `${id} = ${value}`);
}

/**
 * Sets the builder's start: "now", or a local date-time `at` (set through the input's value
 * and an input event: WebKitWebDriver cannot type into date-time pickers).
 */
async function startAt(at) {
  if (!at) {
    await choose("start-mode", "now");
    return;
  }
  await choose("start-mode", "at");
  const input = await byTestId("start-at");
  await input.waitForExist({ timeout: 5_000 });
  const value = localInput(at);
  await app.browser.execute(
    (element, text) => {
      element.value = text;
      element.dispatchEvent(new Event("input", { bubbles: true }));
      element.dispatchEvent(new Event("change", { bubbles: true }));
    },
    input,
    value,
  );
  await eventually(
    async () => /UTC/.test(await (await byTestId("start-at-utc")).getText()),
    "the start time shown in UTC",
  );
}

/** Waits for the live preview to answer and returns its count. */
async function previewCount(timeout = 20_000) {
  const count = await byTestId("query-preview-count");
  await waitForAttribute(count, "data-state", "ready", timeout);
  return Number(await count.getAttribute("data-count"));
}

/** Clicks "Start job"/"Schedule job" and returns the job id the form had. */
async function submit() {
  const jobId = await (await byTestId("job-id")).getValue();
  assert.ok(jobId, "the builder proposes a job id");
  await (await byTestId("submit-job")).click();
  const row = await jobRow(jobId);
  await row.waitForExist({ timeout: 30_000 });
  return jobId;
}

async function waitForStatus(jobId, status, timeout = 60_000) {
  await waitForAttribute(await jobRow(jobId), "data-status", status, timeout);
}

test("the Jobs screen opens from the sidebar, with the lock in view", async () => {
  const { browser } = app;
  const profile = await browser.$('[data-testid="profile-item"][data-kind="local"]');
  await profile.waitForExist({ timeout: 60_000 });
  await waitForAttribute(await byTestId("device-connection"), "data-state", "connected", 60_000);
  hub = await readLocalHub(app.dataDir);

  await (await byTestId("jobs-nav")).click();
  await (await byTestId("jobs-screen")).waitForExist({ timeout: 10_000 });
  await waitForAttribute(await byTestId("jobs-nav"), "aria-current", "page");
  await (await byTestId("submit-job")).waitForExist({ timeout: 15_000 });
  await waitForAttribute(await byTestId("lock-strip"), "data-state", "unlocked", 30_000);
  await (await byTestId("job-timeline")).waitForExist();
});

test("lockDoor on this lock, by clicking: the row completes 1/1 and the lock locks", async () => {
  const { browser } = app;
  await choose("job-type", "method");
  await (await byTestId("preset-this-lock")).click();
  assert.equal(await (await byTestId("query-condition")).getValue(), `deviceId = '${DEVICE}'`);
  assert.equal(await previewCount(), 1);
  await typeInto("method-name", "lockDoor");
  await typeInto("method-payload", '{"lockTime": "10m"}');
  await (await byTestId("method-name")).scrollIntoView({ block: "center" });
  await browser.execute(() => document.activeElement?.blur());
  await docsScreenshot(browser, "jobs-builder");

  // "Copy as" asks Rust for the text and puts it on the clipboard (no secrets in it).
  for (const [id, said] of [
    ["copy-az", /az CLI command/],
    ["copy-rest", /REST request/],
  ]) {
    await (await byTestId(id)).click();
    await eventually(
      async () => said.test(await (await byTestId("copy-done")).getText()),
      `the note after ${id}`,
    );
  }
  const copied = await browser.execute(() => navigator.clipboard?.readText?.().catch(() => null));
  if (typeof copied === "string" && copied) {
    assert.match(copied, /lockDoor/);
    assert.ok(!copied.includes(hub.key), "the copied request holds no key");
  }

  const jobId = await submit();
  await waitForStatus(jobId, "completed");
  const row = await jobRow(jobId);
  assert.equal(await (await row.$('[data-testid="job-progress"]')).getText(), "1/1");
  await waitForAttribute(await byTestId("door-lock"), "data-state", "locked", 15_000);
  await waitForAttribute(await byTestId("lock-strip"), "data-state", "locked");

  // The hub agrees.
  const job = await getJob(hub, jobId);
  assert.equal(job.status, "completed", JSON.stringify(job));
  assert.equal(job.deviceJobStatistics?.succeededCount, 1, JSON.stringify(job));
  await screenshot(browser, "jobs-01-lockdoor");
});

test("a desired-properties job {building: 43, floor: 3} reaches the lock card", async () => {
  const { browser } = app;
  await (await byTestId("job-type")).scrollIntoView({ block: "center" });
  await choose("job-type", "twinDesired");
  await (await byTestId("preset-this-lock")).click();
  await typeInto("twin-desired", '{"building": 43, "floor": 3}');
  const jobId = await submit();
  await waitForStatus(jobId, "completed");

  for (const [key, value] of [
    ["building", "43"],
    ["floor", "3"],
  ]) {
    const chip = await browser.$(
      `[data-testid="lock-strip"] [data-testid="desired-property"][data-key="${key}"]`,
    );
    await chip.waitForExist({ timeout: 15_000 });
    assert.equal((await chip.$("dd").getProperty("textContent")).trim(), value);
  }

  // The lock card on the lock screen shows the same, highlighted as the last patch.
  await (await byTestId("lock-nav")).click();
  const desired = await byTestId("desired-properties");
  await desired.waitForExist({ timeout: 10_000 });
  for (const [key, value] of [
    ["building", "43"],
    ["floor", "3"],
  ]) {
    const row = await desired.$(`[data-testid="desired-property"][data-key="${key}"]`);
    await row.waitForExist({ timeout: 10_000 });
    await waitForAttribute(row, "data-changed", "true");
    assert.equal(await row.$("dd").getText(), value);
  }
  await screenshot(browser, "jobs-02-desired-on-card");
  await (await byTestId("jobs-nav")).click();
  await (await byTestId("submit-job")).waitForExist({ timeout: 10_000 });
});

test("a job scheduled 20 s ahead shows scheduled, then completes (unlocking the door)", async () => {
  await (await byTestId("job-type")).scrollIntoView({ block: "center" });
  await choose("job-type", "method");
  await (await byTestId("preset-this-lock")).click();
  await typeInto("method-name", "unlockDoor");
  await typeInto("method-payload", "");
  await startAt(new Date(Date.now() + 20_000));
  const jobId = await submit();
  await waitForStatus(jobId, "scheduled", 15_000);
  assert.equal(await (await byTestId("door-lock")).getAttribute("data-state"), "locked");
  await screenshot(app.browser, "jobs-03-scheduled");

  await waitForStatus(jobId, "completed", 90_000);
  await waitForAttribute(await byTestId("door-lock"), "data-state", "unlocked", 15_000);
  const job = await getJob(hub, jobId);
  assert.equal(job.status, "completed", JSON.stringify(job));
});

test("a job scheduled far ahead is cancelled from its detail", async () => {
  const { browser } = app;
  await (await byTestId("job-type")).scrollIntoView({ block: "center" });
  await typeInto("method-name", "lockDoor");
  await startAt(new Date(Date.now() + 3 * 3600_000));
  const jobId = await submit();
  await waitForStatus(jobId, "scheduled", 15_000);

  await (await jobRow(jobId)).click();
  const detail = await browser.$(`[data-testid="job-detail"][data-job-id="${jobId}"]`);
  await detail.waitForExist({ timeout: 10_000 });
  await clickUntil(
    () => byTestId("cancel-job"),
    () => browser.$('[data-testid="confirm-cancel-job"]').isDisplayed(),
    "the cancel confirmation",
  );
  await clickUntil(
    () => byTestId("confirm-cancel-job"),
    async () =>
      (await detail.getAttribute("data-status")) === "cancelled" ||
      (await (await byTestId("cancel-job")).getText()).includes("Cancel requested"),
    "the cancel request to go out",
  );
  await waitForStatus(jobId, "cancelled", 30_000);
  await waitForAttribute(detail, "data-status", "cancelled", 10_000);
  const job = await getJob(hub, jobId);
  assert.equal(job.status, "cancelled", JSON.stringify(job));
  await screenshot(browser, "jobs-04-cancelled");

  // Clone into the builder: the same job under a new id, starting now.
  await clickUntil(
    () => byTestId("clone-job"),
    async () => {
      const id = await (await byTestId("job-id")).getValue();
      return id && id !== jobId;
    },
    "the clone's new job id",
  );
  assert.equal(await (await byTestId("method-name")).getValue(), "lockDoor");
  assert.equal(await (await byTestId("start-mode")).getValue(), "now");
  assert.equal(await (await byTestId("query-condition")).getValue(), `deviceId = '${DEVICE}'`);
});

test("1,000 simulated devices: a job over tags.building = 43 previews and runs over the hub's count", async () => {
  const { browser } = app;
  const fleet = await byTestId("fleet-control");
  await fleet.scrollIntoView({ block: "center" });
  await (await byTestId("fleet-add-1000")).click();
  await waitForAttribute(fleet, "data-devices", "1000", 300_000);
  await waitForAttribute(fleet, "data-adding", "false", 300_000);
  await waitForAttribute(fleet, "data-connected", "1000", 300_000);

  const condition = "tags.building = 43";
  const [counted] = await queryDevices(hub, `SELECT COUNT() AS n FROM devices WHERE ${condition}`);
  const expected = counted.n;
  assert.ok(expected > 100, `the hub counts ${expected} devices in building 43`);

  await (await byTestId("job-type")).scrollIntoView({ block: "center" });
  await choose("job-type", "method");
  await startAt(null);
  await typeInto("query-condition", condition);
  assert.equal(await previewCount(), expected, "the preview counts what the hub counts");
  await typeInto("method-name", "lockDoor");
  await typeInto("method-payload", '{"lockTime": "2m"}');
  await (await byTestId("query-condition")).scrollIntoView({ block: "center" });
  await screenshot(browser, "jobs-05-preview-1000");

  const jobId = await submit();
  await waitForStatus(jobId, "completed", 180_000);
  const job = await getJob(hub, jobId);
  const stats = job.deviceJobStatistics;
  assert.equal(stats.deviceCount, expected, JSON.stringify(job));
  const row = await jobRow(jobId);
  await eventually(
    async () =>
      (await (await row.$('[data-testid="job-progress"]')).getText()) ===
      `${(stats.succeededCount + stats.failedCount).toLocaleString("en-US")}/${expected.toLocaleString("en-US")}`,
    "the row's progress to match the hub's statistics",
  );
  await (await byTestId("job-timeline")).scrollIntoView({ block: "start" });
  await docsScreenshot(browser, "jobs-timeline");

  // Its detail: the hub's statistics, and one row per device.
  await row.click();
  const detail = await browser.$(`[data-testid="job-detail"][data-job-id="${jobId}"]`);
  await detail.waitForExist({ timeout: 10_000 });
  const stat = (name) => detail.$(`[data-stat="${name}"]`);
  await eventually(
    async () => (await (await stat("deviceCount")).getText()) === expected.toLocaleString("en-US"),
    "the detail's device count",
  );
  assert.equal(
    await (await stat("succeededCount")).getText(),
    stats.succeededCount.toLocaleString("en-US"),
  );
  const firstRow = await detail.$('[data-testid="device-result-row"]');
  await firstRow.waitForExist({ timeout: 15_000 });
  assert.equal(await firstRow.getAttribute("data-status"), "completed");

  // Export as CSV: the file Rust wrote is named in the detail, with a row per device.
  await clickUntil(
    () => byTestId("export-csv"),
    async () =>
      (await browser.$('[data-testid="export-done"]').isExisting()) ||
      (await browser.$('[data-testid="job-detail-problem"]').isExisting()) ||
      (await (await byTestId("export-csv")).getText()).includes("Exporting"),
    "the export to start",
  );
  const said = await eventually(
    async () => {
      const problem = await browser.$('[data-testid="job-detail-problem"]');
      if (await problem.isExisting())
        throw new Error(`the export failed: ${await problem.getText()}`);
      const done = await browser.$('[data-testid="export-done"]');
      return (await done.isExisting()) && (await done.getText());
    },
    "the export's answer",
    30_000,
  ).catch(async (error) => {
    await screenshot(browser, "jobs-export-failed").catch(() => {});
    const shown = await detail.getText().catch((e) => `(detail gone: ${e.message})`);
    throw new Error(`${error.message}\nthe detail shows:\n${shown}`);
  });
  const file = said.match(/ to (\/.+-results\.csv)$/)?.[1];
  assert.ok(file, `the export names its file: ${said}`);
  const lines = (await readFile(file, "utf8")).trim().split("\n");
  assert.equal(lines.length, expected + 1, "a header and one line per device");
  await rm(file, { force: true });

  // The picture: the detail's head, statistics and results (the request folded away).
  await (await detail.$("details.request > summary")).click();
  await detail.scrollIntoView({ block: "start" });
  await docsScreenshot(browser, "job-detail");
});
