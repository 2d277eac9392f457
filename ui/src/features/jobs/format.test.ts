// Runs in a zone with daylight saving time so the local↔UTC conversions are really tested
// (vitest runs each test file in its own process, so this does not leak into other files).
process.env.TZ = "Europe/Berlin";

import { describe, expect, it } from "vitest";

import {
  describeDuration,
  formatDuration,
  formatLocal,
  formatRelative,
  formatUtc,
  fromLocalInput,
  groupDigits,
  parseHubTime,
  toLocalInput,
  toUtcRfc3339,
} from "./format";

describe("local and UTC", () => {
  it("runs in the zone it set", () => {
    expect(new Date(Date.UTC(2025, 5, 1, 12)).getHours()).toBe(14);
  });

  it("reads a local date-time input and shows its UTC value", () => {
    const summer = fromLocalInput("2025-06-01T14:30");
    expect(summer.kind).toBe("ok");
    if (summer.kind !== "ok") return;
    expect(summer.shifted).toBe(false);
    expect(toUtcRfc3339(summer.date)).toBe("2025-06-01T12:30:00Z");
    expect(formatUtc(summer.date)).toBe("2025-06-01 12:30 UTC");
    const winter = fromLocalInput("2025-01-15T09:05:30");
    expect(winter.kind === "ok" && toUtcRfc3339(winter.date)).toBe("2025-01-15T08:05:30Z");
  });

  it("notices a time that the clock skips, and refuses nonsense", () => {
    // 2025-03-30 02:30 does not exist in Berlin (02:00 → 03:00).
    const gap = fromLocalInput("2025-03-30T02:30");
    expect(gap).toMatchObject({ kind: "ok", shifted: true });
    expect(fromLocalInput("")).toEqual({ kind: "empty" });
    expect(fromLocalInput("2025-02-30T10:00")).toEqual({ kind: "invalid" });
    expect(fromLocalInput("2025-06-01 14:30")).toEqual({ kind: "invalid" });
    expect(fromLocalInput("2025-13-01T10:00")).toEqual({ kind: "invalid" });
  });

  it("round-trips through the input's format", () => {
    const date = new Date(Date.UTC(2025, 5, 1, 12, 30));
    expect(toLocalInput(date)).toBe("2025-06-01T14:30");
    const back = fromLocalInput(toLocalInput(date));
    expect(back.kind === "ok" && back.date.getTime()).toBe(date.getTime());
    expect(formatLocal(date)).toBe("2025-06-01 14:30:00");
  });

  it("reads the hub's times, with or without Z, and its 'never'", () => {
    expect(parseHubTime("2025-06-01T12:00:00.1234567Z")?.toISOString()).toBe(
      "2025-06-01T12:00:00.123Z",
    );
    expect(parseHubTime("2024-05-01T12:34:56")?.toISOString()).toBe("2024-05-01T12:34:56.000Z");
    expect(parseHubTime("2025-06-01T14:30:00+02:00")?.toISOString()).toBe(
      "2025-06-01T12:30:00.000Z",
    );
    expect(parseHubTime("0001-01-01T00:00:00")).toBeUndefined();
    expect(parseHubTime("")).toBeUndefined();
    expect(parseHubTime(null)).toBeUndefined();
    expect(parseHubTime("yesterday")).toBeUndefined();
  });
});

describe("numbers and durations", () => {
  it("groups digits like Rust's messages", () => {
    expect(groupDigits(8192)).toBe("8,192");
    expect(groupDigits(2_147_483_647)).toBe("2,147,483,647");
    expect(groupDigits(-1000)).toBe("-1,000");
    expect(groupDigits(12)).toBe("12");
  });

  it("says spans briefly", () => {
    expect(formatDuration(45_000)).toBe("45 s");
    expect(formatDuration(150_000)).toBe("2 min 30 s");
    expect(formatDuration(12 * 60_000)).toBe("12 min");
    expect(formatDuration(65 * 60_000)).toBe("1 h 5 min");
    expect(formatDuration(51 * 3_600_000)).toBe("2 d 3 h");
    expect(formatRelative(new Date(10_000 + 300_000), 10_000)).toBe("in 5 min");
    expect(formatRelative(new Date(0), 3 * 3_600_000)).toBe("3 h ago");
  });

  it("says durations like Rust's describe_duration", () => {
    expect(describeDuration(1)).toBe("1 second");
    expect(describeDuration(119)).toBe("119 seconds");
    expect(describeDuration(7200)).toBe("2 hours");
    expect(describeDuration(3 * 86_400)).toBe("3 days");
  });
});
