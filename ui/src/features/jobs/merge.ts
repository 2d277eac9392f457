// Keeping the window's job list current: Rust answers `list_jobs` with the archive and pushes
// `job-updated` for every change, and the two can cross. Each job keeps whichever copy Rust
// read last (`lastSeen`), so a list that was read before an update cannot undo it.

import type { JobSummary, JobUpdate, SubmitOutcome } from "../../platform";
import type { FieldError, Problem, SubmitResult } from "./types";

/** Whether `candidate` is at least as recent a read of the job as `current`. */
function newer(candidate: JobSummary, current: JobSummary): boolean {
  const a = Date.parse(candidate.lastSeen);
  const b = Date.parse(current.lastSeen);
  if (Number.isNaN(a) || Number.isNaN(b)) return true;
  return a >= b;
}

/**
 * `jobs` with `incoming` merged in by job id: new jobs are added, known ones replaced when
 * the incoming copy is not older. Returns `jobs` itself when nothing changed.
 */
export function mergeJobs(
  jobs: readonly JobSummary[],
  incoming: readonly JobSummary[],
): JobSummary[] {
  if (incoming.length === 0) return jobs as JobSummary[];
  const index = new Map<string, number>();
  jobs.forEach((job, i) => index.set(job.jobId, i));
  let out: JobSummary[] | undefined;
  for (const job of incoming) {
    const at = index.get(job.jobId);
    if (at === undefined) {
      out ??= [...jobs];
      index.set(job.jobId, out.length);
      out.push(job);
    } else if (newer(job, (out ?? jobs)[at] as JobSummary)) {
      out ??= [...jobs];
      out[at] = job;
    }
  }
  return out ?? (jobs as JobSummary[]);
}

/** Applies one `job-updated` event of the profile `profileId` (others' and failed reads are ignored). */
export function applyJobUpdate(
  jobs: readonly JobSummary[],
  update: JobUpdate,
  profileId: string | null | undefined,
): JobSummary[] {
  if (!update.summary || (profileId && update.profileId !== profileId)) return jobs as JobSummary[];
  return mergeJobs(jobs, [update.summary]);
}

const DRAFT_FIELDS = new Set<string>([
  "jobType",
  "queryCondition",
  "methodName",
  "methodPayload",
  "responseTimeout",
  "connectTimeout",
  "twinDesired",
  "twinTags",
  "startAt",
  "maxExecutionTime",
  "jobId",
]);

/** What the builder shows for Rust's answer to `submit_job`. */
export function submitResult(outcome: SubmitOutcome): SubmitResult {
  switch (outcome.outcome) {
    case "submitted":
      return { kind: "scheduled", jobId: outcome.job.jobId };
    case "invalid":
      return { kind: "invalid", fieldErrors: outcome.errors };
  }
}

/**
 * What the builder shows when `submit_job` failed: an `invalidInput` naming a form field is
 * a field error; everything else (hubRejected, hubUnreachable, unauthorized…) is a problem in
 * Rust's words, which already say what to do.
 */
export function submitFailure(error: {
  code: string;
  message: string;
  field?: string;
}): SubmitResult {
  if (error.code === "invalidInput" && error.field && DRAFT_FIELDS.has(error.field)) {
    const fieldErrors: FieldError[] = [
      { field: error.field as FieldError["field"], message: error.message },
    ];
    return { kind: "invalid", fieldErrors };
  }
  const problem: Problem = { message: error.message, code: error.code };
  if (/already exists|409104/i.test(error.message)) problem.kind = "jobExists";
  return { kind: "failed", problem };
}
