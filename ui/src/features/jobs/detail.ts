// The job detail's pure parts: the per-device table's cells and the status filter's choices.

import { formatLocal, parseHubTime } from "./format";
import { deviceStatusLabel, deviceTone, type Tone } from "./status";
import { DEVICE_STATUSES, type DeviceResult, type DeviceStatus, type StatusCount } from "./types";

/** The longest payload text shown in a cell; the full text is in the cell's title. */
export const PAYLOAD_CELL_CHARS = 120;

/** A device row's cells as text. */
export interface ResultCells {
  deviceId: string;
  status: string;
  tone: Tone;
  start: string;
  end: string;
  methodStatus: string;
  payload: string;
  payloadFull: string;
  errorCode: string;
  errorDescription: string;
}

/** A hub time as local text, `—` when unset. */
export function localTimeText(text: string | null | undefined): string {
  const date = parseHubTime(text);
  return date ? formatLocal(date) : "—";
}

/** The text of each cell of a device row. */
export function resultCells(row: DeviceResult): ResultCells {
  const payloadFull = row.methodPayload && row.methodPayload !== "null" ? row.methodPayload : "";
  return {
    deviceId: row.deviceId,
    status: deviceStatusLabel(row.status),
    tone: deviceTone(row.status),
    start: localTimeText(row.startTime),
    end: localTimeText(row.endTime),
    methodStatus: row.methodStatus === null ? "" : String(row.methodStatus),
    payload:
      payloadFull.length > PAYLOAD_CELL_CHARS
        ? `${payloadFull.slice(0, PAYLOAD_CELL_CHARS - 1)}…`
        : payloadFull,
    payloadFull,
    errorCode: row.errorCode ?? "",
    errorDescription: row.errorDescription ?? "",
  };
}

/** A choice of the status filter: `null` is "all". */
export interface StatusChoice {
  status: DeviceStatus | null;
  label: string;
  count: number | null;
}

/**
 * The status filter's choices: "All" and every device status, with counts when known.
 * Statuses the hub reported that are not among the known ones are added at the end.
 */
export function statusChoices(counts: readonly StatusCount[] | null | undefined): StatusChoice[] {
  const byStatus = new Map<string, number>();
  for (const c of counts ?? []) byStatus.set(c.status, (byStatus.get(c.status) ?? 0) + c.count);
  const known = counts ? [...byStatus.values()].reduce((a, b) => a + b, 0) : null;
  const choices: StatusChoice[] = [{ status: null, label: "All", count: known }];
  for (const status of DEVICE_STATUSES) {
    choices.push({
      status,
      label: deviceStatusLabel(status),
      count: counts ? (byStatus.get(status) ?? 0) : null,
    });
  }
  for (const [status, count] of byStatus) {
    if (!(DEVICE_STATUSES as readonly string[]).includes(status)) {
      choices.push({ status, label: deviceStatusLabel(status), count });
    }
  }
  return choices;
}

/** Whether to ask the parent for more rows: fewer are loaded than match, and the window is near their end. */
export function wantsMore(
  loaded: number,
  total: number,
  lastRendered: number,
  margin = 200,
): boolean {
  return loaded < total && lastRendered + margin >= loaded;
}

/**
 * What to say while the archive has fewer device results than the hub counts devices (the
 * rows are read from the hub in pages, and on Azure within the profile's query budget,
 * `queriesPerMinute`, null when there is none): null when all are in, or nothing is known yet.
 */
export function rowsReadNote(
  archived: number | null,
  deviceCount: number,
  queriesPerMinute: number | null,
): string | null {
  if (archived === null || deviceCount <= 0 || archived >= deviceCount) return null;
  const so = `Read from the hub so far: ${archived.toLocaleString("en-US")} of ${deviceCount.toLocaleString("en-US")} device results.`;
  if (queriesPerMinute === null) return so;
  const perMinute = (queriesPerMinute * ROWS_PER_QUERY).toLocaleString("en-US");
  return `${so} Lockstep reads them at up to ${perMinute} a minute, half of the hub's query quota (set the hub's tier in the profile).`;
}

/** Device results one query page holds (the most a hub returns). */
export const ROWS_PER_QUERY = 100;
