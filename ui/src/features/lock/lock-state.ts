// Pure bookkeeping for the lock card: what the drawing shows, the countdowns, the connection
// indicator's words, and the desired properties with the last patch marked.

import type { DeviceConnectionView, JsonValue, LockView } from "../../platform";

/** What the lock drawing shows as `data-state`, and what assistive technology reads. */
export type LockLabel = "locked" | "unlocked" | "unknown";

/** The lock's state as the drawing shows it; anything Rust did not name is `unknown`. */
export function lockLabel(view: LockView | undefined): LockLabel {
  if (view === undefined) return "unknown";
  if (view.state === "locked" || view.state === "unlocked") return view.state;
  return "unknown";
}

/** Milliseconds from `now` until the RFC 3339 instant `until` (never negative; 0 if invalid). */
export function remainingMs(until: string | null | undefined, now: number): number {
  if (!until) return 0;
  const at = Date.parse(until);
  if (Number.isNaN(at)) return 0;
  return Math.max(0, at - now);
}

/**
 * A countdown as a clock reads: `9:58`, `0:05`, `1:02:03`. Rounds up, so the display reaches
 * `0:00` only when the time is really over.
 */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const ss = String(seconds).padStart(2, "0");
  if (hours > 0) return `${hours}:${String(minutes).padStart(2, "0")}:${ss}`;
  return `${minutes}:${ss}`;
}

/** A countdown in words for screen readers: "9 minutes 58 seconds". */
export function describeCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const parts: string[] = [];
  if (hours > 0) parts.push(plural(hours, "hour"));
  if (minutes > 0) parts.push(plural(minutes, "minute"));
  if (seconds > 0 || parts.length === 0) parts.push(plural(seconds, "second"));
  return parts.join(" ");
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}

/** The connection states the indicator knows; equal to `DeviceConnectionView["state"]`. */
export type ConnectionState = DeviceConnectionView["state"];

/** The tone of the connection indicator's dot. */
export type Tone = "ok" | "busy" | "warn" | "off";

/** The connection indicator: a tone for the dot, a short label and an optional detail line. */
export interface ConnectionText {
  tone: Tone;
  label: string;
  detail?: string;
}

/** Words for the connection indicator; `now` drives the reconnect countdown. */
export function connectionText(connection: DeviceConnectionView, now: number): ConnectionText {
  switch (connection.state) {
    case "notConfigured":
      return { tone: "off", label: "Not configured", detail: "Pick or create the lock device." };
    case "connecting":
      return { tone: "busy", label: "Connecting…" };
    case "connected":
      return { tone: "ok", label: "Connected" };
    case "reconnecting": {
      const wait = remainingMs(connection.retryAt, now);
      const when = wait > 0 ? `next try in ${formatCountdown(wait)}` : "trying now";
      return {
        tone: "warn",
        label: `Reconnecting (attempt ${connection.attempt})`,
        detail: `${when} · ${connection.cause}`,
      };
    }
    case "offline":
      return { tone: "off", label: "Offline", detail: "The “go offline” rehearsal switch is on." };
    case "disconnected":
      return { tone: "off", label: "Disconnected", detail: connection.reason };
  }
}

/** Whether a connect button makes sense (the device is configured and not connected). */
export function canConnect(connection: DeviceConnectionView): boolean {
  return connection.state === "disconnected";
}

/** Whether a disconnect button makes sense. */
export function canDisconnect(connection: DeviceConnectionView): boolean {
  return (
    connection.state === "connected" ||
    connection.state === "connecting" ||
    connection.state === "reconnecting" ||
    connection.state === "offline"
  );
}

/** One desired property as the card lists it. */
export interface DesiredRow {
  key: string;
  value: string;
  /** The last desired patch set or removed this key. */
  changed: boolean;
}

function isObject(value: JsonValue | null | undefined): value is { [key in string]: JsonValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON value in one short line: strings unquoted, everything else as JSON. */
export function formatValue(value: JsonValue | undefined): string {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/**
 * The desired properties as rows sorted by key, with the keys of the last patch marked.
 * `$`-prefixed metadata (`$version`, `$metadata`) is left out should it ever arrive.
 */
export function desiredRows(desired: JsonValue, lastPatch: JsonValue | null): DesiredRow[] {
  if (!isObject(desired)) return [];
  const patched = new Set(isObject(lastPatch) ? Object.keys(lastPatch) : []);
  return Object.keys(desired)
    .filter((key) => !key.startsWith("$"))
    .sort((a, b) => a.localeCompare(b))
    .map((key) => ({ key, value: formatValue(desired[key]), changed: patched.has(key) }));
}

/** Keys the last patch removed (set to null), which no longer show among the rows. */
export function removedKeys(desired: JsonValue, lastPatch: JsonValue | null): string[] {
  if (!isObject(lastPatch)) return [];
  const present = isObject(desired) ? desired : {};
  return Object.keys(lastPatch)
    .filter((key) => !key.startsWith("$") && lastPatch[key] === null && !(key in present))
    .sort((a, b) => a.localeCompare(b));
}
