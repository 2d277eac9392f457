// The walking skeleton in the real window: the lock reads its state from Rust, and clicking
// the button makes Rust emit an event that the page renders.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launchApp, screenshot, waitForAttribute } from "../support.js";

let app;

before(async () => {
  app = await launchApp();
});

after(async () => {
  await app?.close();
});

test("the window shows the door lock with the state Rust reports", async () => {
  const { browser } = app;
  assert.equal(await browser.getTitle(), "Lockstep");
  const lock = await browser.$('[data-testid="door-lock"]');
  await lock.waitForExist({ timeout: 15_000 });
  await waitForAttribute(lock, "data-state", "unlocked");
  await screenshot(browser, "skeleton-unlocked");
});

test("clicking the button makes Rust emit an event that locks the drawing", async () => {
  const { browser } = app;
  const lock = await browser.$('[data-testid="door-lock"]');
  const button = await browser.$('[data-testid="toggle-lock"]');
  assert.equal(await button.getText(), "Lock");

  await button.click();
  await waitForAttribute(lock, "data-state", "locked");
  const status = await browser.$('[data-testid="lock-status"]');
  assert.match(await status.getText(), /locked/);
  assert.equal(await button.getText(), "Unlock");
  // Let the shackle animation settle so the screenshot shows the end state.
  await browser.pause(600);
  await screenshot(browser, "skeleton-locked");

  await button.click();
  await waitForAttribute(lock, "data-state", "unlocked");
});
