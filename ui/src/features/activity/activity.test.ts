import { describe, expect, it } from "vitest";

import type { ActivityDetail, ActivityEntry } from "../../platform";
import { activityAsText, describeEntry, formatTime, mergeEntries } from "./activity";

// Wire integers may be typed `bigint` by ts-rs but arrive as JSON numbers.
const int = (value: number) => value as never;

function entry(id: number, detail: ActivityDetail, summary = ""): ActivityEntry {
  return { id: int(id), at: `2026-03-01T10:00:0${id % 10}Z`, summary, detail };
}

const method = (status: number | null): ActivityDetail => ({
  kind: "method",
  name: "lockDoor",
  payload: { lockTime: "10m" },
  status,
  response: status === null ? null : { locked: true },
});

describe("mergeEntries", () => {
  it("keeps newest first without duplicates", () => {
    const fetched = [entry(3, method(200)), entry(2, method(200)), entry(1, method(200))];
    const live = [entry(4, method(200)), entry(3, method(200))];
    expect(mergeEntries(fetched, live).map((e) => Number(e.id))).toEqual([4, 3, 2, 1]);
  });

  it("stays bounded", () => {
    const many = Array.from({ length: 10 }, (_, i) => entry(i, method(200)));
    expect(mergeEntries([], many, 4).map((e) => Number(e.id))).toEqual([9, 8, 7, 6]);
  });
});

describe("describeEntry", () => {
  it("shows a method's payload, status and response", () => {
    expect(describeEntry(entry(1, method(200)))).toEqual({
      kind: "Method",
      title: "lockDoor",
      tone: "ok",
      badge: "200",
      lines: [
        { label: "payload", text: '{"lockTime":"10m"}' },
        { label: "response", text: '{"locked":true}' },
      ],
    });
  });

  it("marks error answers and unanswered calls", () => {
    expect(describeEntry(entry(1, method(503))).tone).toBe("error");
    const silent = describeEntry(entry(1, method(null)));
    expect(silent.badge).toBe("no answer");
    expect(silent.tone).toBe("warn");
    expect(silent.lines).toEqual([{ label: "payload", text: '{"lockTime":"10m"}' }]);
  });

  it("shows twin patches with their version", () => {
    const view = describeEntry(
      entry(1, {
        kind: "twinPatch",
        version: int(5),
        patch: { building: 43, floor: 3 },
        full: false,
      }),
    );
    expect(view.badge).toBe("v5");
    expect(view.title).toBe("Desired properties patch");
    expect(view.lines).toEqual([{ label: "patch", text: '{"building":43,"floor":3}' }]);
  });

  it("shows connection events, reported patches and errors", () => {
    const connected = describeEntry(
      entry(1, { kind: "connection", state: "connected", detail: null }, "Connected to localhost"),
    );
    expect(connected).toMatchObject({
      kind: "Connection",
      title: "Connected to localhost",
      tone: "ok",
      lines: [],
    });
    const lost = describeEntry(
      entry(2, { kind: "connection", state: "reconnecting", detail: "timed out" }),
    );
    expect(lost).toMatchObject({ title: "reconnecting", tone: "warn" });
    expect(lost.lines).toEqual([{ label: "detail", text: "timed out" }]);
    expect(
      describeEntry(entry(3, { kind: "reported", patch: { lockState: "locked" } })).lines,
    ).toEqual([{ label: "patch", text: '{"lockState":"locked"}' }]);
    expect(
      describeEntry(entry(4, { kind: "error", message: "bad payload" }, "Method failed")),
    ).toMatchObject({
      title: "Method failed",
      tone: "error",
    });
  });
});

describe("formatTime", () => {
  it("shows local time of day, and the input when it is not a time", () => {
    const at = new Date(2026, 2, 1, 9, 5, 7).toISOString();
    expect(formatTime(at)).toBe("09:05:07");
    expect(formatTime("soon")).toBe("soon");
  });
});

describe("activityAsText", () => {
  it("writes one block per entry, newest first as given", () => {
    const text = activityAsText([
      entry(2, { kind: "twinPatch", version: int(2), patch: { floor: 3 }, full: false }),
      entry(1, method(200)),
    ]);
    expect(text).toBe(
      [
        "2026-03-01T10:00:02Z  Twin  Desired properties patch  v2",
        '  patch: {"floor":3}',
        "2026-03-01T10:00:01Z  Method  lockDoor  200",
        '  payload: {"lockTime":"10m"}',
        '  response: {"locked":true}',
      ].join("\n"),
    );
  });
});
