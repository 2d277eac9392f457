import { describe, expect, it } from "vitest";

import type { JobSummary, JobUpdate } from "../../platform";
import { applyJobUpdate, mergeJobs, submitFailure, submitResult } from "./merge";

function job(jobId: string, status: string, lastSeen: string): JobSummary {
  return {
    profileId: "local",
    jobId,
    jobType: "scheduleDeviceMethod",
    kind: "method",
    status,
    finished: status === "completed",
    queryCondition: "*",
    methodName: "lockDoor",
    createdTime: "2025-06-01T12:00:00Z",
    startTime: "2025-06-01T12:00:00Z",
    endTime: null,
    maxExecutionTimeInSeconds: 3600,
    progress: null,
    failureReason: null,
    statusMessage: null,
    createdByMe: true,
    firstSeen: "2025-06-01T12:00:00Z",
    lastSeen,
  };
}

describe("merging jobs", () => {
  it("adds new jobs and replaces known ones with newer reads", () => {
    const list = [job("a", "running", "2025-06-01T12:00:01Z")];
    const merged = mergeJobs(list, [
      job("a", "completed", "2025-06-01T12:00:05Z"),
      job("b", "scheduled", "2025-06-01T12:00:02Z"),
    ]);
    expect(merged.map((j) => [j.jobId, j.status])).toEqual([
      ["a", "completed"],
      ["b", "scheduled"],
    ]);
  });

  it("keeps a newer copy when an older list arrives late", () => {
    const list = [job("a", "completed", "2025-06-01T12:00:05Z")];
    const merged = mergeJobs(list, [job("a", "running", "2025-06-01T12:00:01Z")]);
    expect(merged).toBe(list);
    expect(merged[0]?.status).toBe("completed");
  });

  it("applies updates of the active profile only, and ignores failed reads", () => {
    const list = [job("a", "running", "2025-06-01T12:00:01Z")];
    const update: JobUpdate = {
      profileId: "local",
      jobId: "a",
      summary: job("a", "completed", "2025-06-01T12:00:09Z"),
      deviceRowsRead: 1,
      problem: null,
      watching: false,
    };
    expect(applyJobUpdate(list, update, "local")[0]?.status).toBe("completed");
    expect(applyJobUpdate(list, update, "azure-1")).toBe(list);
    expect(applyJobUpdate(list, { ...update, summary: null }, "local")).toBe(list);
  });
});

describe("submit answers", () => {
  it("maps Rust's outcome to the builder's result", () => {
    expect(submitResult({ outcome: "submitted", job: job("a", "queued", "x") })).toEqual({
      kind: "scheduled",
      jobId: "a",
    });
    const errors = [{ field: "methodName" as const, message: "Enter the name." }];
    expect(submitResult({ outcome: "invalid", errors })).toEqual({
      kind: "invalid",
      fieldErrors: errors,
    });
  });

  it("shows a hub refusal in words, and a field's invalid input by the field", () => {
    const taken = submitFailure({
      code: "hubRejected",
      message: "A job with this id already exists on the hub: job ids are unique.",
    });
    expect(taken).toMatchObject({ kind: "failed", problem: { kind: "jobExists" } });
    expect(submitFailure({ code: "hubRejected", message: "Too many active jobs." })).toEqual({
      kind: "failed",
      problem: { code: "hubRejected", message: "Too many active jobs." },
    });
    expect(
      submitFailure({ code: "invalidInput", field: "queryCondition", message: "Bad condition." }),
    ).toEqual({
      kind: "invalid",
      fieldErrors: [{ field: "queryCondition", message: "Bad condition." }],
    });
  });
});
