// Times and numbers as the jobs screens show them. Pure: the time zone is the runtime's
// (what the person sees on their clock), and "now" is always passed in.

/** `8192` as `8,192` (the grouping Rust uses in its messages, independent of locale). */
export function groupDigits(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const sign = n < 0 ? "-" : "";
  const digits = String(Math.trunc(Math.abs(n)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/**
 * Reads a time as the hub writes it (`2025-06-01T12:00:00.0000000Z`, sometimes without the
 * `Z`, which still means UTC). The hub's "never" (`0001-01-01T00:00:00`) and anything
 * unreadable give `undefined`.
 */
export function parseHubTime(text: string | null | undefined): Date | undefined {
  if (!text) return undefined;
  const m =
    /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(
      text.trim(),
    );
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  if (year <= 1) return undefined;
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  let at = Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0), ms);
  if (zone && zone.toUpperCase() !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    at -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** `2025-06-01T12:30:00Z`: what the draft's `startAt` holds. */
export function toUtcRfc3339(date: Date): string {
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}Z`
  );
}

/** `2025-06-01 12:30 UTC` (seconds shown only when not zero). */
export function formatUtc(date: Date): string {
  const seconds = date.getUTCSeconds() ? `:${pad(date.getUTCSeconds())}` : "";
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}${seconds} UTC`
  );
}

/** `2025-06-01 14:30:05` in local time. */
export function formatLocal(date: Date, withSeconds = true): string {
  const seconds = withSeconds ? `:${pad(date.getSeconds())}` : "";
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}${seconds}`
  );
}

/** `14:30:05` in local time. */
export function formatLocalTime(date: Date): string {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** The value of an `<input type="datetime-local">` for `date`: `2025-06-01T14:30`. */
export function toLocalInput(date: Date): string {
  const seconds = date.getSeconds() ? `:${pad(date.getSeconds())}` : "";
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}${seconds}`
  );
}

/** What a local date-time input means. */
export type LocalInput =
  | { kind: "empty" }
  | { kind: "invalid" }
  /** `shifted`: the time does not exist on this clock (a daylight-saving gap). */
  | { kind: "ok"; date: Date; shifted: boolean };

/** Reads an `<input type="datetime-local">` value as a moment in the local time zone. */
export function fromLocalInput(value: string): LocalInput {
  const text = value.trim();
  if (!text) return { kind: "empty" };
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(text);
  if (!m) return { kind: "invalid" };
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) {
    return { kind: "invalid" };
  }
  const date = new Date(y, mo - 1, d, h, mi, s);
  date.setFullYear(y); // years below 100 would otherwise mean 19xx
  if (Number.isNaN(date.getTime())) return { kind: "invalid" };
  if (date.getMonth() !== mo - 1 || date.getDate() !== d) return { kind: "invalid" };
  const shifted = date.getHours() !== h || date.getMinutes() !== mi;
  return { kind: "ok", date, shifted };
}

/** A span in words: `45 s`, `12 min`, `1 h 5 min`, `2 d 3 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) {
    const s = total % 60;
    return s && minutes < 10 ? `${minutes} min ${s} s` : `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 48) {
    const m = minutes % 60;
    return m ? `${hours} h ${m} min` : `${hours} h`;
  }
  const days = Math.floor(hours / 24);
  const h = hours % 24;
  return h ? `${days} d ${h} h` : `${days} d`;
}

/** Like Rust's `describe_duration`: `2 hours`, `1 minute`, `90 seconds`. */
export function describeDuration(seconds: number): string {
  const plural = (n: number, unit: string) => (n === 1 ? `1 ${unit}` : `${n} ${unit}s`);
  const s = Math.max(0, Math.trunc(seconds));
  if (s < 120) return plural(s, "second");
  if (s < 2 * 3600) return plural(Math.trunc(s / 60), "minute");
  if (s < 2 * 86_400) return plural(Math.trunc(s / 3600), "hour");
  return plural(Math.trunc(s / 86_400), "day");
}

/** A time relative to `now`: `in 5 min`, `3 h ago`, `now`. */
export function formatRelative(date: Date, now: number): string {
  const delta = date.getTime() - now;
  if (Math.abs(delta) < 1000) return "now";
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}
