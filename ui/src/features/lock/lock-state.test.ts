import { describe, expect, it } from "vitest";

import type { LockView } from "../../platform";
import {
  canConnect,
  canDisconnect,
  connectionText,
  describeCountdown,
  desiredRows,
  formatCountdown,
  formatValue,
  lockLabel,
  remainingMs,
  removedKeys,
} from "./lock-state";

// Wire integers may be typed `bigint` by ts-rs but arrive as JSON numbers.
const int = (value: number) => value as never;

function view(overrides: Partial<LockView> = {}): LockView {
  return {
    profileId: "local",
    deviceId: "door-lock-1",
    state: "unlocked",
    lockedUntil: null,
    connection: { state: "connected" },
    desired: {},
    lastPatch: null,
    lastPatchVersion: null,
    lastPatchAt: null,
    knobs: { respondWithStatus: null, neverRespond: false, offline: false },
    ...overrides,
  };
}

describe("lockLabel", () => {
  it("names the states Rust reports, and anything else unknown", () => {
    expect(lockLabel(undefined)).toBe("unknown");
    expect(lockLabel(view({ state: "locked" }))).toBe("locked");
    expect(lockLabel(view({ state: "unlocked" }))).toBe("unlocked");
    expect(lockLabel(view({ state: "jammed" }))).toBe("unknown");
  });
});

describe("countdown", () => {
  const now = Date.parse("2026-03-01T10:00:00Z");

  it("measures the time left, never negative", () => {
    expect(remainingMs("2026-03-01T10:10:00Z", now)).toBe(600_000);
    expect(remainingMs("2026-03-01T09:59:00Z", now)).toBe(0);
    expect(remainingMs(null, now)).toBe(0);
    expect(remainingMs("not a time", now)).toBe(0);
  });

  it("reads like a clock and rounds up", () => {
    expect(formatCountdown(600_000)).toBe("10:00");
    expect(formatCountdown(598_200)).toBe("9:59");
    expect(formatCountdown(5_000)).toBe("0:05");
    expect(formatCountdown(1)).toBe("0:01");
    expect(formatCountdown(0)).toBe("0:00");
    expect(formatCountdown(3_723_000)).toBe("1:02:03");
    expect(formatCountdown(-5)).toBe("0:00");
  });

  it("says it in words for screen readers", () => {
    expect(describeCountdown(598_000)).toBe("9 minutes 58 seconds");
    expect(describeCountdown(3_601_000)).toBe("1 hour 1 second");
    expect(describeCountdown(60_000)).toBe("1 minute");
    expect(describeCountdown(0)).toBe("0 seconds");
  });
});

describe("connectionText", () => {
  const now = Date.parse("2026-03-01T10:00:00Z");

  it("words every state", () => {
    expect(connectionText({ state: "connected" }, now)).toEqual({ tone: "ok", label: "Connected" });
    expect(connectionText({ state: "connecting" }, now).tone).toBe("busy");
    expect(connectionText({ state: "notConfigured" }, now).label).toBe("Not configured");
    expect(connectionText({ state: "offline" }, now).label).toBe("Offline");
    expect(connectionText({ state: "disconnected", reason: "stopped by you" }, now)).toEqual({
      tone: "off",
      label: "Disconnected",
      detail: "stopped by you",
    });
  });

  it("counts down to the next reconnect attempt", () => {
    const reconnecting = {
      state: "reconnecting" as const,
      attempt: 3,
      retryAt: "2026-03-01T10:00:04.200Z",
      cause: "connection refused",
    };
    expect(connectionText(reconnecting, now)).toEqual({
      tone: "warn",
      label: "Reconnecting (attempt 3)",
      detail: "next try in 0:05 · connection refused",
    });
    expect(connectionText(reconnecting, now + 10_000).detail).toBe(
      "trying now · connection refused",
    );
  });

  it("offers connect and disconnect only where they make sense", () => {
    expect(canConnect({ state: "disconnected", reason: "" })).toBe(true);
    expect(canConnect({ state: "connected" })).toBe(false);
    expect(canConnect({ state: "notConfigured" })).toBe(false);
    expect(canDisconnect({ state: "connected" })).toBe(true);
    expect(canDisconnect({ state: "offline" })).toBe(true);
    expect(canDisconnect({ state: "notConfigured" })).toBe(false);
    expect(canDisconnect({ state: "disconnected", reason: "" })).toBe(false);
  });
});

describe("desired properties", () => {
  it("lists keys sorted, marks the last patch, hides metadata", () => {
    const rows = desiredRows(
      { floor: 3, building: 43, name: "north door", $version: int(7) },
      { floor: 3, building: 43 },
    );
    expect(rows).toEqual([
      { key: "building", value: "43", changed: true },
      { key: "floor", value: "3", changed: true },
      { key: "name", value: "north door", changed: false },
    ]);
  });

  it("copes with no patch and with values that are not objects", () => {
    expect(desiredRows({ a: { b: [1, 2] } }, null)).toEqual([
      { key: "a", value: '{"b":[1,2]}', changed: false },
    ]);
    expect(desiredRows(null, null)).toEqual([]);
    expect(desiredRows([1, 2], { 0: 1 })).toEqual([]);
  });

  it("names keys the last patch removed", () => {
    expect(removedKeys({ building: 43 }, { floor: null, building: 43 })).toEqual(["floor"]);
    expect(removedKeys({ floor: 2 }, { floor: null })).toEqual([]);
    expect(removedKeys({}, null)).toEqual([]);
  });

  it("formats values on one line", () => {
    expect(formatValue("x")).toBe("x");
    expect(formatValue(true)).toBe("true");
    expect(formatValue(null)).toBe("null");
    expect(formatValue(undefined)).toBe("");
  });
});
