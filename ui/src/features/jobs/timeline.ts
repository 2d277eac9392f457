// The timeline's time axis: a view (a window of time), zoom around a point, pan, fitting the
// jobs, tick marks, and each job's spans and markers as fractions of the view. Pure: times
// are milliseconds since the epoch and "now" is passed in.

import { parseHubTime } from "./format";
import { jobTone, type Tone } from "./status";
import type { JobSummary } from "./types";

/** The window of time the timeline shows. */
export interface View {
  start: number;
  end: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The narrowest view (10 s) and the widest (about two years). */
export const MIN_SPAN = 10 * SECOND;
export const MAX_SPAN = 2 * 366 * DAY;

/** Clamps a view's span to the limits, keeping its middle. */
export function clampView(view: View): View {
  const span = view.end - view.start;
  if (!Number.isFinite(span) || span <= 0) {
    const mid = Number.isFinite(view.start) ? view.start : 0;
    return { start: mid - MIN_SPAN / 2, end: mid + MIN_SPAN / 2 };
  }
  const clamped = Math.min(MAX_SPAN, Math.max(MIN_SPAN, span));
  if (clamped === span) return view;
  const mid = view.start + span / 2;
  return { start: mid - clamped / 2, end: mid + clamped / 2 };
}

/** Where `time` falls in the view: 0 at its start, 1 at its end (outside gives <0 or >1). */
export function fractionOf(view: View, time: number): number {
  return (time - view.start) / (view.end - view.start);
}

/** The time at `fraction` of the view. */
export function timeAt(view: View, fraction: number): number {
  return view.start + fraction * (view.end - view.start);
}

/**
 * Zooms by `factor` (below 1 zooms in) keeping the time under `anchor` (a fraction of the
 * view, e.g. where the pointer is) where it is.
 */
export function zoom(view: View, factor: number, anchor = 0.5): View {
  const span = view.end - view.start;
  const next = Math.min(MAX_SPAN, Math.max(MIN_SPAN, span * factor));
  const pivot = timeAt(view, anchor);
  return { start: pivot - anchor * next, end: pivot + (1 - anchor) * next };
}

/** Moves the view by `fraction` of its span (positive: later). */
export function pan(view: View, fraction: number): View {
  const shift = (view.end - view.start) * fraction;
  return { start: view.start + shift, end: view.end + shift };
}

/** A view of `span` with `time` at `at` (a fraction of the view). */
export function centreOn(view: View, time: number, at = 0.5): View {
  const span = view.end - view.start;
  return { start: time - at * span, end: time + (1 - at) * span };
}

/** The wheel's zoom factor for a wheel delta (pixels; about ±100 a notch): smooth, bounded. */
export function wheelZoomFactor(deltaY: number): number {
  const clamped = Math.max(-500, Math.min(500, deltaY));
  return Math.exp(clamped * 0.0015);
}

/** The times a job is drawn with. Missing times are `undefined`. */
export interface JobTimes {
  created?: number;
  start?: number;
  end?: number;
}

/** A job's times, read from the hub's strings. */
export function jobTimes(job: Pick<JobSummary, "createdTime" | "startTime" | "endTime">): JobTimes {
  const times: JobTimes = {};
  const created = parseHubTime(job.createdTime)?.getTime();
  const start = parseHubTime(job.startTime)?.getTime();
  const end = parseHubTime(job.endTime)?.getTime();
  if (created !== undefined) times.created = created;
  if (start !== undefined) times.start = start;
  if (end !== undefined) times.end = end;
  return times;
}

/** A horizontal part of a job's row, as fractions of the view (clipped to just outside it). */
export interface Span {
  kind: "waiting" | "running";
  from: number;
  to: number;
}

/** A point on a job's row. */
export interface Marker {
  kind: "created" | "start" | "end";
  at: number;
  time: number;
}

/** What a job's row draws: spans and markers as fractions, and its colour group. */
export interface JobGeometry {
  tone: Tone;
  spans: Span[];
  markers: Marker[];
}

const clip = (f: number) => Math.max(-0.01, Math.min(1.01, f));

/**
 * A job's drawing in `view`: waiting from creation to its scheduled start, running from its
 * start to its end (or to `now` while it runs), and markers at creation, start and end.
 * Parts entirely outside the view are left out.
 */
export function jobGeometry(
  job: Pick<JobSummary, "createdTime" | "startTime" | "endTime" | "status" | "finished">,
  view: View,
  now: number,
): JobGeometry {
  const t = jobTimes(job);
  const tone = jobTone(job.status);
  const finished = job.finished;
  const spans: Span[] = [];
  const markers: Marker[] = [];
  const add = (kind: Span["kind"], from: number | undefined, to: number | undefined) => {
    if (from === undefined || to === undefined || to <= from) return;
    const a = fractionOf(view, from);
    const b = fractionOf(view, to);
    if (b < 0 || a > 1) return;
    spans.push({ kind, from: clip(a), to: clip(b) });
  };
  // Until it starts: waiting (queued or scheduled), ending early if it was cancelled first.
  const waitEnd =
    t.start === undefined
      ? finished
        ? t.end
        : now
      : t.end !== undefined && t.end < t.start
        ? t.end
        : t.start;
  if (t.created !== undefined) add("waiting", t.created, waitEnd);
  const started =
    t.start !== undefined &&
    (job.status === "running" || (finished && (t.end === undefined || t.end >= t.start)));
  if (started) add("running", t.start, finished ? (t.end ?? now) : now);
  const mark = (kind: Marker["kind"], time: number | undefined) => {
    if (time === undefined) return;
    const at = fractionOf(view, time);
    if (at >= 0 && at <= 1) markers.push({ kind, at, time });
  };
  mark("created", t.created);
  mark("start", t.start);
  if (finished) mark("end", t.end);
  return { tone, spans, markers };
}

/**
 * A view that shows every job (from the earliest creation or start to the latest end,
 * scheduled start, or `now` for unfinished jobs) with a margin; one hour around `now` when
 * there are none.
 */
export function fitView(
  jobs: readonly Pick<JobSummary, "createdTime" | "startTime" | "endTime" | "finished">[],
  now: number,
): View {
  let lo = Infinity;
  let hi = -Infinity;
  for (const job of jobs) {
    const t = jobTimes(job);
    for (const time of [t.created, t.start, t.end]) {
      if (time === undefined) continue;
      lo = Math.min(lo, time);
      hi = Math.max(hi, time);
    }
    if (!job.finished) hi = Math.max(hi, now);
  }
  if (!Number.isFinite(lo)) return { start: now - 45 * MINUTE, end: now + 15 * MINUTE };
  hi = Math.max(hi, lo);
  const margin = Math.max((hi - lo) * 0.06, 30 * SECOND);
  return clampView({ start: lo - margin, end: hi + margin });
}

/** A tick on the axis. `major` ticks start a new day and carry the date. */
export interface Tick {
  time: number;
  at: number;
  label: string;
  major: boolean;
}

const STEPS = [
  SECOND,
  2 * SECOND,
  5 * SECOND,
  10 * SECOND,
  15 * SECOND,
  30 * SECOND,
  MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
  14 * DAY,
  30 * DAY,
  60 * DAY,
  90 * DAY,
  180 * DAY,
  365 * DAY,
];

/** The tick step for a view: the smallest round step giving at most `maxTicks` ticks. */
export function tickStep(view: View, maxTicks: number): number {
  const span = view.end - view.start;
  for (const step of STEPS) if (span / step <= maxTicks) return step;
  return STEPS[STEPS.length - 1] ?? DAY;
}

const pad = (n: number) => String(n).padStart(2, "0");
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * Ticks for `view`, on round local times (whole minutes, hours, local midnights), at most
 * about `maxTicks` of them.
 */
export function ticks(view: View, maxTicks = 8): Tick[] {
  const step = tickStep(view, Math.max(1, maxTicks));
  const out: Tick[] = [];
  // Round in local time: shift by the zone offset, round, shift back.
  const offset = -new Date(view.start).getTimezoneOffset() * MINUTE;
  let time = Math.ceil((view.start + offset) / step) * step - offset;
  for (let guard = 0; time <= view.end && guard < 500; guard++, time += step) {
    const date = new Date(time);
    const midnight = date.getHours() === 0 && date.getMinutes() === 0 && date.getSeconds() === 0;
    const dateLabel = `${MONTHS[date.getMonth()] ?? ""} ${date.getDate()}`;
    let label: string;
    if (step >= DAY) label = dateLabel;
    else if (step < MINUTE)
      label = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
    else label = midnight ? dateLabel : `${pad(date.getHours())}:${pad(date.getMinutes())}`;
    out.push({ time, at: fractionOf(view, time), label, major: midnight });
  }
  return out;
}
