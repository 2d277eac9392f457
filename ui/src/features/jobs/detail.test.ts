import { describe, expect, it } from "vitest";

import { PAYLOAD_CELL_CHARS, resultCells, rowsReadNote, statusChoices, wantsMore } from "./detail";
import {
  conditionPresets,
  deviceCondition,
  deviceListCondition,
  quoteQueryString,
} from "./presets";
import type { DeviceResult } from "./types";

const row: DeviceResult = {
  deviceId: "door-1",
  status: "failed",
  startTime: "2025-06-01T12:00:00.0000000Z",
  endTime: null,
  methodStatus: 404,
  methodPayload: '{"message":"no such method"}',
  errorCode: "DeviceNotOnline",
  errorDescription: "Timed out waiting for device to connect",
  lastUpdated: null,
};

describe("device result cells", () => {
  it("shows every column as text", () => {
    const cells = resultCells(row);
    expect(cells).toMatchObject({
      deviceId: "door-1",
      status: "Failed",
      tone: "failed",
      end: "—",
      methodStatus: "404",
      payload: '{"message":"no such method"}',
      errorCode: "DeviceNotOnline",
    });
    // Local time: whole or half/quarter-hour offsets from UTC (e.g. India, Nepal).
    expect(cells.start).toMatch(/^2025-06-0[12] \d\d:[0-5]\d:00$/);
  });

  it("shortens long payloads and hides a null one", () => {
    const long = JSON.stringify({ data: "x".repeat(500) });
    const cells = resultCells({ ...row, methodPayload: long });
    expect(cells.payload).toHaveLength(PAYLOAD_CELL_CHARS);
    expect(cells.payload.endsWith("…")).toBe(true);
    expect(cells.payloadFull).toBe(long);
    expect(resultCells({ ...row, methodPayload: "null", methodStatus: null })).toMatchObject({
      payload: "",
      methodStatus: "",
    });
  });
});

describe("status filter", () => {
  it("offers all and each status with counts", () => {
    const choices = statusChoices([
      { status: "completed", count: 7 },
      { status: "failed", count: 3 },
      { status: "weird", count: 1 },
    ]);
    expect(choices[0]).toEqual({ status: null, label: "All", count: 11 });
    expect(choices.find((c) => c.status === "canceled")).toEqual({
      status: "canceled",
      label: "Cancelled",
      count: 0,
    });
    expect(choices.at(-1)).toEqual({ status: "weird", label: "weird", count: 1 });
    expect(statusChoices(null)[0]?.count).toBeNull();
  });

  it("asks for more rows only near the end of what is loaded", () => {
    expect(wantsMore(1000, 100_000, 500)).toBe(false);
    expect(wantsMore(1000, 100_000, 850)).toBe(true);
    expect(wantsMore(1000, 1000, 999)).toBe(false);
  });
});

describe("presets", () => {
  it("quotes device ids the way the query language reads them", () => {
    expect(quoteQueryString("door-1")).toBe("'door-1'");
    expect(quoteQueryString("it's\\")).toBe("'it\\'s\\\\'");
    expect(deviceCondition("door-1")).toBe("deviceId = 'door-1'");
    expect(deviceListCondition(["a", "b"])).toBe("deviceId IN ['a', 'b']");
  });

  it("starts with this lock when it is known", () => {
    expect(conditionPresets("door-lock")[0]).toEqual({
      id: "this-lock",
      label: "This lock",
      condition: "deviceId = 'door-lock'",
    });
    const ids = conditionPresets().map((p) => p.id);
    expect(ids).not.toContain("this-lock");
    expect(conditionPresets().find((p) => p.id === "all")?.condition).toBe("*");
    expect(conditionPresets().find((p) => p.id === "building")?.condition).toBe(
      "tags.building = 43",
    );
  });
});

describe("the note while device results are still being read", () => {
  it("says how many of the hub's devices are in, and at what pace on a budget", () => {
    expect(rowsReadNote(150, 201, null)).toBe(
      "Read from the hub so far: 150 of 201 device results.",
    );
    expect(rowsReadNote(2000, 100000, 10)).toMatch(
      /^Read from the hub so far: 2,000 of 100,000 device results\. .*1,000 a minute/,
    );
    expect(rowsReadNote(2000, 100000, 1000)).toMatch(/100,000 a minute/);
  });
  it("says nothing once all are in, or before anything is known", () => {
    expect(rowsReadNote(201, 201, 10)).toBeNull();
    expect(rowsReadNote(null, 201, 10)).toBeNull();
    expect(rowsReadNote(0, 0, null)).toBeNull();
  });
});
