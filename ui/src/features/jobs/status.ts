// Job and device-job statuses in words and colours, job types in words, and the progress
// bar's segments from `deviceJobStatistics`. The colours are CSS classes (`tone-…`) whose
// custom properties live in the components' styles, so themes stay in CSS.

import type { DeviceStatus, JobKind, JobProgress, JobStatus, JobSummary } from "./types";

/** A colour group for statuses: one CSS class each (`tone-<name>`). */
export type Tone =
  "waiting" | "scheduled" | "running" | "completed" | "failed" | "cancelled" | "unknown";

/** The colour group of a job status. */
export function jobTone(status: JobStatus | undefined): Tone {
  switch (status) {
    case "queued":
    case "enqueued":
    case "pending":
      return "waiting";
    case "scheduled":
      return "scheduled";
    case "running":
      return "running";
    case "completed":
      return "completed";
    case "failed":
      return "failed";
    case "cancelled":
      return "cancelled";
    default:
      return "unknown";
  }
}

/** The colour group of a device job status. */
export function deviceTone(status: DeviceStatus | undefined): Tone {
  switch (status) {
    case "pending":
      return "waiting";
    case "scheduled":
      return "scheduled";
    case "running":
      return "running";
    case "completed":
      return "completed";
    case "failed":
      return "failed";
    case "canceled":
      return "cancelled";
    default:
      return "unknown";
  }
}

/** A job status as the UI says it ("Queued", "Cancelled"; unknown spellings as they are). */
export function jobStatusLabel(status: JobStatus | undefined): string {
  switch (status) {
    case undefined:
    case "":
      return "Unknown";
    case "queued":
      return "Queued";
    case "enqueued":
      return "Enqueued";
    case "pending":
      return "Pending";
    case "scheduled":
      return "Scheduled";
    case "running":
      return "Running";
    case "completed":
      return "Completed";
    case "failed":
      return "Failed";
    case "cancelled":
      return "Cancelled";
    case "unknown":
      return "Unknown";
    default:
      return status;
  }
}

/** A device job status as the UI says it. */
export function deviceStatusLabel(status: DeviceStatus | undefined): string {
  switch (status) {
    case undefined:
    case "":
      return "Unknown";
    case "pending":
      return "Pending";
    case "scheduled":
      return "Scheduled";
    case "running":
      return "Running";
    case "completed":
      return "Completed";
    case "failed":
      return "Failed";
    case "canceled":
      return "Cancelled";
    default:
      return status;
  }
}

/** Whether a job has stopped for good; unknown statuses are not (a poller keeps going). */
export function isFinished(status: JobStatus | undefined): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
}

/** Whether a job can still be cancelled. */
export function isCancellable(status: JobStatus | undefined): boolean {
  return (
    status === "queued" ||
    status === "enqueued" ||
    status === "pending" ||
    status === "scheduled" ||
    status === "running"
  );
}

/** The job kinds the timeline filters on: the builder's kinds, and everything else. */
export type TypeFilter = JobKind | "other";

/** Which kind of job this is, for filters and labels. */
export function jobKindOf(job: Pick<JobSummary, "kind">): TypeFilter {
  return job.kind ?? "other";
}

/** A job's type in words: `Direct method lockDoor`, `Desired properties`, `Tags`. */
export function jobTypeLabel(job: Pick<JobSummary, "kind" | "jobType" | "methodName">): string {
  switch (jobKindOf(job)) {
    case "method":
      return job.methodName ? `Direct method ${job.methodName}` : "Direct method";
    case "twinDesired":
      return "Desired properties";
    case "twinTags":
      return "Tags";
    case "other":
      if (job.jobType === "scheduleDeviceMethod") return "Direct method";
      if (job.jobType === "scheduleUpdateTwin") return "Twin update";
      return job.jobType || "Unknown type";
  }
}

/** The kinds' labels for filters. */
export const TYPE_FILTER_LABELS: Record<TypeFilter, string> = {
  method: "Direct method",
  twinDesired: "Desired properties",
  twinTags: "Tags",
  other: "Other",
};

/** The status groups the timeline filters on, with their labels, in display order. */
export const STATUS_FILTERS: readonly { tone: Tone; label: string }[] = [
  { tone: "waiting", label: "Queued" },
  { tone: "scheduled", label: "Scheduled" },
  { tone: "running", label: "Running" },
  { tone: "completed", label: "Completed" },
  { tone: "failed", label: "Failed" },
  { tone: "cancelled", label: "Cancelled" },
  { tone: "unknown", label: "Unknown" },
];

/** One coloured part of a progress bar. `start` and `width` are percentages of the bar. */
export interface ProgressSegment {
  kind: "succeeded" | "failed" | "running" | "pending";
  count: number;
  start: number;
  width: number;
}

/** Counts read from statistics, missing as 0 and negative as 0. */
export function counts(stats: Partial<JobProgress> | null | undefined) {
  const n = (v: number | undefined) => (typeof v === "number" && v > 0 ? Math.trunc(v) : 0);
  return {
    devices: n(stats?.deviceCount),
    succeeded: n(stats?.succeededCount),
    failed: n(stats?.failedCount),
    running: n(stats?.runningCount),
    pending: n(stats?.pendingCount),
  };
}

/**
 * The segments of a progress bar: succeeded, failed, running, pending, in that order, as
 * shares of `deviceCount` (or of the sum of the counts when the hub's numbers add up to more,
 * which happens for a moment while it updates them). Empty segments are left out; the rest
 * of the bar is devices not counted yet.
 */
export function progressSegments(
  stats: Partial<JobProgress> | null | undefined,
): ProgressSegment[] {
  const c = counts(stats);
  const total = Math.max(c.devices, c.succeeded + c.failed + c.running + c.pending);
  if (total === 0) return [];
  const segments: ProgressSegment[] = [];
  let start = 0;
  for (const kind of ["succeeded", "failed", "running", "pending"] as const) {
    const count = c[kind];
    if (count === 0) continue;
    const width = (count / total) * 100;
    segments.push({ kind, count, start, width });
    start += width;
  }
  return segments;
}

/** The progress in words: `7 of 10 devices done: 6 succeeded, 1 failed, 2 running, 1 pending`. */
export function progressSummary(stats: Partial<JobProgress> | null | undefined): string {
  const c = counts(stats);
  if (!stats) return "No device statistics yet";
  if (c.devices === 0) return "No devices matched";
  const done = c.succeeded + c.failed;
  const parts = [`${c.succeeded} succeeded`, `${c.failed} failed`];
  if (c.running) parts.push(`${c.running} running`);
  if (c.pending) parts.push(`${c.pending} pending`);
  const noun = c.devices === 1 ? "device" : "devices";
  return `${done} of ${c.devices} ${noun} done: ${parts.join(", ")}`;
}

/** `1/1`, `950/1,000`: finished devices of all (succeeded + failed). */
export function progressShort(stats: Partial<JobProgress> | null | undefined): string {
  const c = counts(stats);
  return `${(c.succeeded + c.failed).toLocaleString("en-US")}/${c.devices.toLocaleString("en-US")}`;
}
