// Issue 6 in the real window: first run lands on the local hub with a connected, unlocked door
// lock; an outside service client (node over the IoT Hub REST API, with its own SAS token)
// locks it with a direct method and patches its twin, and the window follows; the local hub
// view shows its connection strings masked until revealed; adding an Azure profile checks the
// string precisely, stores nothing on failure, and keeps the secret only in the keychain; a
// profile can be renamed, and the device dialog creates a new lock device on the hub.
//
// The tests share one app and run in order (each builds on the state the previous one left).

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";

import {
  docsScreenshot,
  eventually,
  filesBelow,
  invokeMethod,
  keychainItems,
  launchApp,
  patchDesired,
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
  // The last picture tells what the window showed when something failed.
  if (app) await screenshot(app.browser, "99-last").catch(() => {});
  await app?.close();
});

const byTestId = (id) => app.browser.$(`[data-testid="${id}"]`);
const profilesFile = () => path.join(app.configDir, "profiles.json");

test("first run creates the local hub profile, and the lock shows connected and unlocked", async () => {
  const { browser } = app;
  assert.equal(await browser.getTitle(), "Lockstep");

  const profile = await browser.$('[data-testid="profile-item"][data-kind="local"]');
  await profile.waitForExist({ timeout: 60_000 });
  await waitForAttribute(profile, "data-active", "true");

  const connection = await byTestId("device-connection");
  await waitForAttribute(connection, "data-state", "connected", 60_000);
  await waitForAttribute(await byTestId("door-lock"), "data-state", "unlocked");
  assert.equal(await (await byTestId("lock-device-id")).getText(), DEVICE);

  // The app ran with the fresh XDG dirs of this test (the environment reached it), and keeps
  // its profile metadata there.
  const profiles = JSON.parse(await readFile(profilesFile(), "utf8"));
  assert.ok(JSON.stringify(profiles).includes("Local hub"), "profiles.json names the local hub");
  hub = await readLocalHub(app.dataDir);

  await screenshot(browser, "01-first-run");
});

test("a desired patch from outside (building 43, floor 3) shows on the card, highlighted", async () => {
  const patched = await patchDesired(hub, DEVICE, { building: 43, floor: 3 });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));

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
  const twinEntry = await app.browser.$('[data-testid="activity-entry"][data-kind="twinPatch"]');
  await twinEntry.waitForExist({ timeout: 10_000 });
  assert.match(await twinEntry.getText(), /"building":43/);
});

test("lockDoor {lockTime: 10m} from an outside client locks the door with a countdown", async () => {
  const { browser } = app;
  const answer = await invokeMethod(hub, DEVICE, "lockDoor", { lockTime: "10m" });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.status, 200, JSON.stringify(answer.body));

  await waitForAttribute(await byTestId("door-lock"), "data-state", "locked");
  const countdown = await byTestId("lock-countdown");
  await countdown.waitForExist({ timeout: 10_000 });
  const remaining = Number(await countdown.getAttribute("data-remaining-ms"));
  assert.ok(remaining > 9 * 60_000 && remaining <= 10 * 60_000, `remaining ${remaining} ms`);
  const clock = await byTestId("lock-countdown-clock");
  assert.match(await clock.getText(), /^(10:00|9:[0-5]\d)$/);
  // It counts down: a second or two later the clock shows less.
  const first = await clock.getText();
  await eventually(async () => (await clock.getText()) !== first, "the countdown to tick", 5_000);

  const method = await browser.$('[data-testid="activity-entry"][data-kind="method"]');
  // textContent, not getText: WebDriver's visible-text rules drop the ellipsised title.
  const text = await eventually(async () => {
    const seen = await method.getProperty("textContent");
    return /lockDoor/.test(seen) && seen;
  }, "the lockDoor call in the activity log");
  assert.match(text, /200/);
  assert.match(text, /"lockTime":"10m"/);

  // Let the shackle settle so the picture shows the end state.
  await browser.pause(900);
  await screenshot(browser, "02-locked");
  await docsScreenshot(browser, "lock-locked");
});

test("unlockDoor unlocks it, and an unknown method answers 404 with a message", async () => {
  const { browser } = app;
  const unlocked = await invokeMethod(hub, DEVICE, "unlockDoor", null);
  assert.equal(unlocked.body?.status, 200, JSON.stringify(unlocked.body));
  await waitForAttribute(await byTestId("door-lock"), "data-state", "unlocked");
  assert.equal(await (await byTestId("lock-countdown")).isExisting(), false);

  const unknown = await invokeMethod(hub, DEVICE, "openWindow", {});
  assert.equal(unknown.body?.status, 404, JSON.stringify(unknown.body));
  const entry = await browser.$('[data-testid="activity-entry"][data-kind="method"]');
  const text = await eventually(async () => {
    const seen = await entry.getProperty("textContent");
    return /openWindow\s*404/.test(seen) && seen;
  }, "the 404 in the log");
  assert.match(text, /unknown method/);

  await browser.pause(900);
  await screenshot(browser, "03-unlocked");
  await docsScreenshot(browser, "lock-unlocked");
});

test("rehearsal switches and connect/disconnect change what the hub sees", async () => {
  const { browser } = app;
  const connection = await byTestId("device-connection");

  await (await byTestId("knob-error-status")).click();
  await eventually(
    async () => (await (await byTestId("knob-error-status")).isSelected()) === true,
    "the error switch to be on",
  );
  const refused = await invokeMethod(hub, DEVICE, "lockDoor", { lockTime: "1m" });
  assert.equal(refused.body?.status, 500, JSON.stringify(refused.body));
  assert.equal(await (await byTestId("door-lock")).getAttribute("data-state"), "unlocked");
  await screenshot(browser, "03b-error-status");
  await (await byTestId("knob-error-status")).click();
  await eventually(
    async () => (await (await byTestId("knob-error-status")).isSelected()) === false,
    "the error switch to be off",
  );

  await (await byTestId("knob-offline")).click();
  await waitForAttribute(connection, "data-state", "offline");
  await (await byTestId("knob-offline")).click();
  await waitForAttribute(connection, "data-state", "connected", 30_000);

  await (await byTestId("disconnect-lock")).click();
  await waitForAttribute(connection, "data-state", "disconnected");
  await (await byTestId("connect-lock")).click();
  await waitForAttribute(connection, "data-state", "connected", 30_000);
});

test("the local hub view shows ports, CA and connection strings, masked until revealed", async () => {
  const { browser } = app;
  await (await byTestId("local-hub-nav")).click();
  const view = await byTestId("local-hub-view");
  await view.waitForExist({ timeout: 10_000 });

  const https = await byTestId("local-hub-https-port");
  await https.waitForExist({ timeout: 10_000 });
  assert.equal(await https.getText(), String(hub.httpsPort));
  assert.equal(await (await byTestId("local-hub-mqtt-port")).getText(), String(hub.mqttPort));
  assert.equal(await (await byTestId("local-hub-host")).getText(), hub.hostName);
  assert.equal(await (await byTestId("local-hub-ca-path")).getText(), hub.caCertificate);

  const service = await byTestId("service-connection-string");
  assert.equal(await service.getAttribute("data-revealed"), "false");
  const masked = await service.getText();
  assert.ok(!masked.includes(hub.key), "the masked string does not show the key");
  assert.match(masked, /SharedAccessKeyName=iothubowner/);
  await docsScreenshot(browser, "local-hub");

  await (await byTestId("reveal-service-connection-string")).click();
  await waitForAttribute(service, "data-revealed", "true");
  assert.equal(await service.getText(), hub.serviceConnectionString);
  await (await byTestId("reveal-service-connection-string")).click();
  await waitForAttribute(service, "data-revealed", "false");
  assert.ok(!(await service.getText()).includes(hub.key));

  await (await byTestId("copy-service-connection-string")).click();
  await waitForAttribute(
    await byTestId("copy-service-connection-string"),
    "data-copy-state",
    "copied",
  );
  await screenshot(browser, "04-local-hub");
});

/** Opens the add dialog and submits `name` and `connectionString`. */
async function submitAzureProfile(name, connectionString) {
  await (await byTestId("add-profile")).click();
  const dialog = await byTestId("add-profile-dialog");
  await waitForAttribute(dialog, "open", "true");
  await (await byTestId("profile-name-input")).setValue(name);
  await (await byTestId("profile-connection-string")).setValue(connectionString);
  await (await byTestId("add-profile-submit")).click();
  return dialog;
}

test("a malformed Azure connection string gets a precise error and stores nothing", async () => {
  const { browser } = app;
  const before = await readFile(profilesFile(), "utf8");
  const count = (await browser.$$('[data-testid="profile-item"]')).length;

  const dialog = await submitAzureProfile(
    "Broken hub",
    "HostName=broken.azure-devices.net;SharedAccessKeyName=iothubowner",
  );
  const error = await byTestId("profile-error");
  await error.waitForExist({ timeout: 15_000 });
  assert.equal(await error.getAttribute("data-field"), "connectionString");
  assert.match(await error.getText(), /SharedAccessKey/);
  await screenshot(browser, "05-malformed-profile");

  await browser.keys("Escape");
  await eventually(async () => (await dialog.getAttribute("open")) === null, "the dialog to close");
  assert.equal(await readFile(profilesFile(), "utf8"), before, "profiles.json is unchanged");
  assert.equal((await browser.$$('[data-testid="profile-item"]')).length, count);
});

test("an added profile's secret is in the keychain and nowhere on disk; delete removes it", async () => {
  const { browser } = app;
  // The local hub is a reachable hub, so its own owner string makes a valid "Azure" profile.
  const dialog = await submitAzureProfile("Loopback hub", hub.serviceConnectionString);
  const added = await browser.$('[data-testid="profile-item"][data-kind="azure"]');
  await added.waitForExist({ timeout: 30_000 });
  await eventually(async () => (await dialog.getAttribute("open")) === null, "the dialog to close");
  const id = await added.getAttribute("data-profile-id");
  assert.ok(id, "the new profile has an id");
  await screenshot(browser, "06-azure-profile-added");

  const profiles = await readFile(profilesFile(), "utf8");
  assert.ok(profiles.includes(id), "profiles.json lists the new profile");

  // The key is in no file of the app's config and data dirs. The embedded hub's own store
  // (data dir/localhub: its database and localhub.json) necessarily holds it, being the
  // server whose key this is, so it is left out.
  const localHubDir = path.join(app.dataDir, "localhub");
  const files = [...(await filesBelow(app.configDir)), ...(await filesBelow(app.dataDir))].filter(
    (file) => !file.startsWith(localHubDir + path.sep),
  );
  assert.ok(files.length > 0, "the app wrote files to check");
  for (const file of files) {
    const bytes = await readFile(file);
    assert.ok(!bytes.includes(hub.key), `${file} holds the profile's key`);
  }

  const account = `profile/${id}/service`;
  assert.ok((await keychainItems(account)).length > 0, `the keychain holds ${account}`);

  await added.moveTo();
  await (await added.$('[data-testid="profile-delete"]')).click();
  await (await byTestId("confirm-delete")).click();
  await added.waitForExist({ timeout: 10_000, reverse: true });
  await eventually(
    async () => (await keychainItems(account)).length === 0,
    `the keychain entry ${account} to go`,
  );
});

test("renaming the local hub profile shows the new name and saves it", async () => {
  const { browser } = app;
  const local = await browser.$('[data-testid="profile-item"][data-kind="local"]');
  await local.moveTo();
  await (await local.$('[data-testid="profile-edit"]')).click();
  const name = await byTestId("edit-profile-name");
  await name.waitForDisplayed({ timeout: 10_000 });
  await name.clearValue();
  await name.setValue("Laptop hub");
  await (await byTestId("save-profile")).click();

  // The row is re-rendered with the new name, so it is looked up again each time.
  const shownName = async () =>
    (await browser
      .$('[data-testid="profile-item"][data-kind="local"] [data-testid="profile-name"]')
      .getProperty("textContent")) ?? "";
  await eventually(
    async () => (await shownName()).trim() === "Laptop hub",
    "the sidebar to show the new name",
  );
  await eventually(
    async () =>
      JSON.parse(await readFile(profilesFile(), "utf8")).profiles[0].name === "Laptop hub",
    "profiles.json to hold the new name",
  );
});

test("creating a new lock device from the device dialog connects the lock as that device", async () => {
  const { browser } = app;
  await (await byTestId("change-lock-device")).click();
  const newId = await byTestId("new-device-id");
  await newId.waitForDisplayed({ timeout: 10_000 });
  await newId.setValue("door-lock-2");
  await (await byTestId("create-lock-device")).click();

  await eventually(
    async () => (await (await byTestId("lock-device-id")).getText()) === "door-lock-2",
    "the lock to use door-lock-2",
  );
  const connection = await byTestId("device-connection");
  await waitForAttribute(connection, "data-state", "connected", 30_000);

  // The hub has the new device, and it answers as the lock.
  const answer = await invokeMethod(hub, "door-lock-2", "lockDoor", { lockTime: "1m" });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  await waitForAttribute(await byTestId("door-lock"), "data-state", "locked");
});
