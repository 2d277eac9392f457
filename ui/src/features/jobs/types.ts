// The shapes the jobs feature works with. The wire types are the ones `crates/lockstep-jobs`
// exports with ts-rs (src/platform/bindings), re-exported here; the rest are the feature's own.
//
// Times are the hub's ISO 8601 UTC text (`2025-06-01T12:00:00.0000000Z`); statuses are the
// hub's spellings (job level `cancelled`, device level `canceled`), unknown ones pass through.

/** A job's status as the hub spells it (`queued` right after creation). */
export type JobStatus =
  | "queued"
  | "enqueued"
  | "pending"
  | "scheduled"
  | "running"
  | "completed"
  | "failed"
  | "cancelled"
  | "unknown"
  | (string & {});

/** A device job row's status (note the device-level spelling `canceled`). */
export const DEVICE_STATUSES = [
  "pending",
  "scheduled",
  "running",
  "completed",
  "failed",
  "canceled",
] as const;

/** A device job row's status. */
export type DeviceStatus = (typeof DEVICE_STATUSES)[number] | (string & {});

import type { FieldError } from "../../platform";

export type {
  DeviceResult,
  DraftField,
  FieldError,
  JobDraft,
  JobKind,
  JobPreview,
  JobProgress,
  JobSummary,
  StartMode,
  StatusCount,
} from "../../platform";

/**
 * A failure to show in words. Both `lockstep_jobs::errors::ErrorWords` (kind, code,
 * message, action) and the app's `CommandError` (code, message) fit.
 */
export interface Problem {
  /** What happened, as a sentence. */
  message: string;
  /** What to do about it, as a sentence. */
  action?: string | null;
  /** The hub's numeric code (e.g. 429004) or the app's error code. */
  code?: number | string | null;
  /** What kind of failure (`ErrorWordsKind`), e.g. `tooManyActiveJobs`. */
  kind?: string;
}

/** What the parent's `submit` resolves to. */
export type SubmitResult =
  | { kind: "scheduled"; jobId: string }
  | { kind: "invalid"; fieldErrors: FieldError[] }
  | { kind: "failed"; problem: Problem };

/** Reads whatever a parent function threw as a {@link Problem}. */
export function toProblem(thrown: unknown): Problem {
  if (typeof thrown === "object" && thrown !== null && "message" in thrown) {
    const message = (thrown as { message: unknown }).message;
    if (typeof message === "string") {
      const t = thrown as { action?: unknown; code?: unknown; kind?: unknown };
      const problem: Problem = { message };
      if (typeof t.action === "string") problem.action = t.action;
      if (typeof t.code === "string" || typeof t.code === "number") problem.code = t.code;
      if (typeof t.kind === "string") problem.kind = t.kind;
      return problem;
    }
  }
  return { message: typeof thrown === "string" ? thrown : String(thrown) };
}
