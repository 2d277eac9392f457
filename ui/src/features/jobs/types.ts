// The shapes the jobs feature works with.
//
// Each interface mirrors, field for field, a type that `crates/lockstep-jobs` exports to
// TypeScript with ts-rs (named in its comment). They are declared here because the
// generated files do not exist yet in src/platform/bindings (they appear when that crate's
// tests first run); once they do, each declaration below can become
// `export type { X } from "../../platform/bindings/X";` with no other change.
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

/** What the builder makes (`lockstep_jobs::draft::JobKind`). */
export type JobKind = "method" | "twinDesired" | "twinTags";

/** When the job starts (`lockstep_jobs::draft::StartMode`). */
export type StartMode = "now" | "at";

/**
 * The builder's form as sent to Rust (`lockstep_jobs::draft::JobDraft`): text as typed,
 * numbers as entered, `null` for "the hub's default". `startAt` is RFC 3339 in UTC.
 */
export interface JobDraft {
  jobType: JobKind;
  queryCondition: string;
  methodName: string;
  methodPayload: string;
  responseTimeoutInSeconds: number | null;
  connectTimeoutInSeconds: number | null;
  twinDesired: string;
  twinTags: string;
  startMode: StartMode;
  startAt: string;
  maxExecutionTimeInSeconds: number | null;
  jobId: string;
}

/** A field of {@link JobDraft} as a {@link FieldError} names it (`DraftField`). */
export type DraftField =
  | "jobType"
  | "queryCondition"
  | "methodName"
  | "methodPayload"
  | "responseTimeout"
  | "connectTimeout"
  | "twinDesired"
  | "twinTags"
  | "startAt"
  | "maxExecutionTime"
  | "jobId";

/** One thing wrong with a draft (`lockstep_jobs::draft::FieldError`). */
export interface FieldError {
  field: DraftField;
  message: string;
}

/** The live preview of a condition (`lockstep_jobs::preview::JobPreview`). */
export interface JobPreview {
  /** How many devices match; `null` when the count query would be too long. */
  matching: number | null;
  /** How many of them are connected; `null` likewise. */
  connected: number | null;
  /** The first matching device ids (at most 20). */
  firstDeviceIds: string[];
  /** Sentences about the condition (near the limit, huge id lists, counts skipped). */
  warnings: string[];
}

/** `deviceJobStatistics` (`lockstep_jobs::summary::JobProgress`). */
export interface JobProgress {
  deviceCount: number;
  succeededCount: number;
  failedCount: number;
  runningCount: number;
  pendingCount: number;
}

/** A job as the timeline shows it (`lockstep_jobs::summary::JobSummary`). */
export interface JobSummary {
  profileId: string;
  jobId: string;
  /** The hub's type, e.g. `scheduleDeviceMethod` (empty if the hub did not say). */
  jobType: string;
  /** Method, desired properties or tags, when the job says which. */
  kind: JobKind | null;
  /** The hub's status (empty if the hub did not say). */
  status: JobStatus;
  /** Whether the status is final (`completed`, `failed`, `cancelled`). */
  finished: boolean;
  queryCondition: string | null;
  methodName: string | null;
  createdTime: string | null;
  startTime: string | null;
  endTime: string | null;
  maxExecutionTimeInSeconds: number | null;
  progress: JobProgress | null;
  failureReason: string | null;
  statusMessage: string | null;
  /** Whether this app created the job (then the request as sent is archived). */
  createdByMe: boolean;
  firstSeen: string;
  lastSeen: string;
}

/** One device's part in a job (`lockstep_jobs::summary::DeviceResult`). */
export interface DeviceResult {
  deviceId: string;
  status: DeviceStatus;
  startTime: string | null;
  endTime: string | null;
  /** The status the device answered the method with. */
  methodStatus: number | null;
  /** What the device answered, as compact JSON text. */
  methodPayload: string | null;
  /** The error code's name, e.g. `DeviceNotOnline`. */
  errorCode: string | null;
  errorDescription: string | null;
  lastUpdated: string | null;
}

/** How many of a job's devices have one status (`lockstep_jobs::archive::StatusCount`). */
export interface StatusCount {
  status: DeviceStatus;
  count: number;
}

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
