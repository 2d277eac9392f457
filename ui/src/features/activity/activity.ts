// Pure bookkeeping for the activity log: merging the fetched log with live entries, and
// turning entries into the words and text the log shows and copies.

import type { ActivityEntry, JsonValue } from "../../platform";

/** As many entries as Rust keeps; the UI keeps no more. */
export const MAX_ENTRIES = 500;

/**
 * Merges entries into a log, newest first, without duplicates (by id), at most `max` long.
 * The fetched log and live events overlap when an event lands while the fetch is in flight.
 */
export function mergeEntries(
  current: readonly ActivityEntry[],
  incoming: readonly ActivityEntry[],
  max = MAX_ENTRIES,
): ActivityEntry[] {
  const byId = new Map<string, ActivityEntry>();
  for (const entry of [...current, ...incoming]) byId.set(String(entry.id), entry);
  return [...byId.values()].sort((a, b) => Number(b.id) - Number(a.id)).slice(0, max);
}

/** The time of day of an RFC 3339 instant, local time, `14:03:27`; the input as is if invalid. */
export function formatTime(at: string): string {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return at;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** How an entry is marked in the log. */
export type EntryTone = "ok" | "error" | "warn" | "info";

/** One labelled detail line (payload, response, patch…). */
export interface DetailLine {
  label: string;
  text: string;
}

/** An entry as the log shows it. */
export interface EntryView {
  /** Short kind label: Method, Twin, Connection, Reported, Error. */
  kind: string;
  title: string;
  tone: EntryTone;
  /** e.g. "200", "no answer"; absent for entries without one. */
  badge?: string;
  lines: DetailLine[];
}

function json(value: JsonValue | null | undefined): string {
  if (value === undefined || value === null) return "null";
  return JSON.stringify(value);
}

/** The words, tone and detail lines of an entry. */
export function describeEntry(entry: ActivityEntry): EntryView {
  const detail = entry.detail;
  switch (detail.kind) {
    case "method": {
      const lines: DetailLine[] = [{ label: "payload", text: json(detail.payload) }];
      if (detail.status === null) {
        return { kind: "Method", title: detail.name, tone: "warn", badge: "no answer", lines };
      }
      lines.push({ label: "response", text: json(detail.response) });
      const ok = detail.status >= 200 && detail.status < 300;
      return {
        kind: "Method",
        title: detail.name,
        tone: ok ? "ok" : "error",
        badge: String(detail.status),
        lines,
      };
    }
    case "twinPatch":
      return {
        kind: "Twin",
        title: detail.full ? "Desired properties (full twin)" : "Desired properties patch",
        tone: "info",
        badge: `v${String(detail.version)}`,
        lines: [{ label: "patch", text: json(detail.patch) }],
      };
    case "connection":
      return {
        kind: "Connection",
        title: entry.summary || detail.state,
        tone: connectionTone(detail.state),
        lines: detail.detail ? [{ label: "detail", text: detail.detail }] : [],
      };
    case "reported":
      return {
        kind: "Reported",
        title: "Reported properties",
        tone: "info",
        lines: [{ label: "patch", text: json(detail.patch) }],
      };
    case "error":
      return {
        kind: "Error",
        title: entry.summary || "Error",
        tone: "error",
        lines: [{ label: "message", text: detail.message }],
      };
  }
}

function connectionTone(state: string): EntryTone {
  if (state === "connected") return "ok";
  if (state === "reconnecting" || state === "offline") return "warn";
  if (state === "disconnected") return "error";
  return "info";
}

/** The log as plain text, one block per entry, newest first: what the Copy button copies. */
export function activityAsText(entries: readonly ActivityEntry[]): string {
  return entries
    .map((entry) => {
      const view = describeEntry(entry);
      const head = [entry.at, view.kind, view.title, view.badge].filter(Boolean).join("  ");
      return [head, ...view.lines.map((line) => `  ${line.label}: ${line.text}`)].join("\n");
    })
    .join("\n");
}
