import { describe, expect, it } from "vitest";

import {
  deviceStatusLabel,
  deviceTone,
  isCancellable,
  jobStatusLabel,
  jobTone,
  jobTypeLabel,
  progressSegments,
  progressShort,
  progressSummary,
} from "./status";

describe("statuses", () => {
  it("groups job and device statuses into colours", () => {
    expect(["queued", "enqueued", "pending"].map(jobTone)).toEqual([
      "waiting",
      "waiting",
      "waiting",
    ]);
    expect(jobTone("cancelled")).toBe("cancelled");
    expect(deviceTone("canceled")).toBe("cancelled");
    expect(jobTone("someNewStatus")).toBe("unknown");
    expect(jobTone("")).toBe("unknown");
  });

  it("labels them, passing unknown spellings through", () => {
    expect(jobStatusLabel("cancelled")).toBe("Cancelled");
    expect(deviceStatusLabel("canceled")).toBe("Cancelled");
    expect(jobStatusLabel("archived")).toBe("archived");
    expect(jobStatusLabel("")).toBe("Unknown");
  });

  it("knows which jobs can still be cancelled", () => {
    expect(isCancellable("scheduled")).toBe(true);
    expect(isCancellable("running")).toBe(true);
    expect(isCancellable("completed")).toBe(false);
    expect(isCancellable("cancelled")).toBe(false);
  });

  it("names job types", () => {
    expect(
      jobTypeLabel({ kind: "method", jobType: "scheduleDeviceMethod", methodName: "lockDoor" }),
    ).toBe("Direct method lockDoor");
    expect(
      jobTypeLabel({ kind: "twinTags", jobType: "scheduleUpdateTwin", methodName: null }),
    ).toBe("Tags");
    expect(jobTypeLabel({ kind: null, jobType: "export", methodName: null })).toBe("export");
    expect(jobTypeLabel({ kind: null, jobType: "", methodName: null })).toBe("Unknown type");
  });
});

describe("progress", () => {
  const stats = (
    deviceCount: number,
    succeededCount: number,
    failedCount: number,
    runningCount: number,
    pendingCount: number,
  ) => ({ deviceCount, succeededCount, failedCount, runningCount, pendingCount });

  it("splits the bar by device counts", () => {
    expect(progressSegments(stats(10, 5, 1, 2, 2))).toEqual([
      { kind: "succeeded", count: 5, start: 0, width: 50 },
      { kind: "failed", count: 1, start: 50, width: 10 },
      { kind: "running", count: 2, start: 60, width: 20 },
      { kind: "pending", count: 2, start: 80, width: 20 },
    ]);
  });

  it("leaves room for devices not counted yet and survives odd numbers", () => {
    expect(progressSegments(stats(4, 1, 0, 0, 0))).toEqual([
      { kind: "succeeded", count: 1, start: 0, width: 25 },
    ]);
    // Counts briefly above deviceCount: scaled to their sum, never past 100 %.
    const over = progressSegments(stats(2, 2, 1, 1, 0));
    expect(over.reduce((sum, s) => sum + s.width, 0)).toBeCloseTo(100);
    expect(progressSegments(stats(0, 0, 0, 0, 0))).toEqual([]);
    expect(progressSegments(null)).toEqual([]);
    expect(progressSegments({ deviceCount: -3, succeededCount: Number.NaN })).toEqual([]);
  });

  it("says it in words", () => {
    expect(progressSummary(stats(10, 5, 1, 2, 2))).toBe(
      "6 of 10 devices done: 5 succeeded, 1 failed, 2 running, 2 pending",
    );
    expect(progressSummary(stats(1, 1, 0, 0, 0))).toBe("1 of 1 device done: 1 succeeded, 0 failed");
    expect(progressSummary(null)).toBe("No device statistics yet");
    expect(progressSummary(stats(0, 0, 0, 0, 0))).toBe("No devices matched");
    expect(progressShort(stats(1, 1, 0, 0, 0))).toBe("1/1");
    expect(progressShort(stats(1000, 900, 50, 0, 0))).toBe("950/1,000");
  });
});
