// The builder's own checks, run as the person types and again before anything is sent.
//
// They mirror `lockstep_jobs::draft::validate` (the hub's limits, with the same sentences),
// so a draft that passes here normally passes in Rust too. Rust stays the authority: it
// also parses the query condition, and whatever it refuses comes back as field errors that
// the builder shows next to the same fields.

import { describeJsonProblem, parseJson } from "./json";
import { describeDuration, formatUtc, groupDigits, parseHubTime } from "./format";
import type { DraftField, FieldError, JobDraft } from "./types";

/** What the hub puts before a job's condition to make its device query. */
export const CONDITION_PREFIX = "SELECT * FROM devices WHERE ";
/** The hub's longest query. */
export const MAX_QUERY_CHARS = 8192;
/** The longest condition: the query limit minus {@link CONDITION_PREFIX}. */
export const MAX_CONDITION_CHARS = MAX_QUERY_CHARS - CONDITION_PREFIX.length;
/** From this length on the preview warns that the condition is getting close to the limit. */
export const CONDITION_WARN_CHARS = 7000;
/** From this many ids on, a `deviceId IN [...]` list gets a warning. */
export const IN_LIST_WARN_ITEMS = 100;
/** The longest job id. */
export const MAX_JOB_ID_CHARS = 64;
/** Seconds ranges and defaults, as the hub has them. */
export const RESPONSE_TIMEOUT = { min: 5, max: 300, default: 30 } as const;
export const CONNECT_TIMEOUT = { min: 0, max: 300, default: 0 } as const;
export const MAX_EXECUTION_TIME = { min: 1, max: 2_147_483_647, default: 3600 } as const;
/** The largest method payload, in bytes of compact JSON. */
export const MAX_METHOD_PAYLOAD_BYTES = 128 * 1024;
/** The largest tags and desired-properties patches, in bytes of compact JSON. */
export const MAX_TAGS_BYTES = 8 * 1024;
export const MAX_DESIRED_BYTES = 32 * 1024;
/** How far in the past a start time may be before it is refused as a mistake. */
export const START_GRACE_SECONDS = 60;

const MAX_TWIN_DEPTH = 10;
const MAX_TWIN_KEY_BYTES = 1024;
const MAX_TWIN_STRING_BYTES = 4 * 1024;
const MAX_TWIN_INTEGER = 4_503_599_627_370_495;

const utf8 = new TextEncoder();
const bytes = (text: string) => utf8.encode(text).length;

/** A blank method-job form with the hub's defaults and `jobId` as its id. */
export function newDraft(jobId: string): JobDraft {
  return {
    jobType: "method",
    queryCondition: "",
    methodName: "",
    methodPayload: "",
    responseTimeoutInSeconds: RESPONSE_TIMEOUT.default,
    connectTimeoutInSeconds: CONNECT_TIMEOUT.default,
    twinDesired: "",
    twinTags: "",
    startMode: "now",
    startAt: "",
    maxExecutionTimeInSeconds: MAX_EXECUTION_TIME.default,
    jobId,
  };
}

/** A fresh job id: a random UUID (36 characters the hub accepts). */
export function newJobId(): string {
  return crypto.randomUUID();
}

/** `spaces`, `tabs`, `'_'`, `the character U+0007`: a character as the messages name it. */
export function describeChar(c: string): string {
  if (c === " ") return "spaces";
  if (c === "\t") return "tabs";
  if (c === "\n" || c === "\r") return "line breaks";
  if (/[\p{Cc}\s]/u.test(c)) {
    return `the character U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
  }
  return `'${c}'`;
}

/** The condition: present, short enough, and a condition rather than a whole query. */
export function checkCondition(text: string): string | undefined {
  const condition = text.trim();
  if (!condition) {
    return "Enter a query condition, such as deviceId = 'door-1', tags.building = 43, or * for all devices.";
  }
  const length = [...condition].length;
  if (length > MAX_CONDITION_CHARS) {
    return (
      `The query condition is ${groupDigits(length)} characters; the hub adds ` +
      `"${CONDITION_PREFIX.trimEnd()}" and accepts queries of at most ${groupDigits(MAX_QUERY_CHARS)} ` +
      `characters, so the condition may have at most ${groupDigits(MAX_CONDITION_CHARS)}. ` +
      "Target the devices with a tag instead of listing them."
    );
  }
  if (condition.slice(0, 6).toLowerCase() === "select") {
    return 'Enter only the condition (the WHERE part), not a whole query: the hub adds "SELECT * FROM devices WHERE" itself.';
  }
  return undefined;
}

/** How many ids the largest `deviceId IN [...]` list in `condition` has (0 if none). */
export function largestInList(condition: string): number {
  let largest = 0;
  for (const match of condition.matchAll(/\bdeviceId\s+IN\s*\[([^\]]*)\]?/gi)) {
    const inner = (match[1] ?? "").trim();
    if (!inner) continue;
    // Count the quoted ids; commas inside quotes do not split.
    const ids = inner.match(/'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"/g);
    largest = Math.max(largest, ids ? ids.length : inner.split(",").length);
  }
  return largest;
}

/** Warnings the builder shows under the condition before the hub has been asked. */
export function conditionWarnings(text: string): string[] {
  const condition = text.trim();
  const warnings: string[] = [];
  const length = [...condition].length;
  if (length >= CONDITION_WARN_CHARS && length <= MAX_CONDITION_CHARS) {
    warnings.push(
      `The condition is ${groupDigits(length)} characters, close to the hub's limit of ` +
        `${groupDigits(MAX_CONDITION_CHARS)} (${groupDigits(MAX_QUERY_CHARS)} for the whole query).`,
    );
  }
  const ids = largestInList(condition);
  if (ids >= IN_LIST_WARN_ITEMS) {
    warnings.push(
      `This condition lists ${groupDigits(ids)} device ids. Long lists approach the query limit ` +
        "and are hard to review: give these devices a tag (a tags job) and target the tag instead.",
    );
  }
  return warnings;
}

/** A direct method's name: present, and usable in the MQTT topic the hub sends it on. */
export function checkMethodName(text: string): string | undefined {
  const name = text.trim();
  if (!name) return "Enter the name of the direct method to invoke, such as lockDoor.";
  const bad = [...name].find((c) => "/?#+".includes(c) || /[\s\p{Cc}]/u.test(c));
  if (bad !== undefined) {
    return `The method name cannot contain ${describeChar(bad)}: the hub sends it to the device inside an MQTT topic.`;
  }
  return undefined;
}

/** The method payload: empty (no payload) or JSON of at most 128 KB. */
export function checkMethodPayload(text: string): string | undefined {
  if (!text.trim()) return undefined;
  const parsed = parseJson(text);
  if (!parsed.ok) return describeJsonProblem("The method payload", parsed.problem);
  const size = bytes(JSON.stringify(parsed.value));
  if (size > MAX_METHOD_PAYLOAD_BYTES) {
    return (
      `The method payload is ${groupDigits(size)} bytes; the hub accepts at most ` +
      `${groupDigits(MAX_METHOD_PAYLOAD_BYTES)} bytes (128 KB).`
    );
  }
  return undefined;
}

function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "boolean":
      return "a boolean";
    case "number":
      return "a number";
    case "string":
      return "a string";
    default:
      return "an object";
  }
}

/**
 * A twin patch section (`what` is "The tags" or "The desired properties"): a non-empty JSON
 * object that the hub's twin rules accept, at most `maxBytes`.
 */
export function checkTwinSection(what: string, text: string, maxBytes: number): string | undefined {
  if (!text.trim()) {
    return `${what} patch is empty: enter a JSON object such as {"building": 43, "floor": 3}.`;
  }
  const parsed = parseJson(text);
  if (!parsed.ok) return describeJsonProblem(`${what} patch`, parsed.problem);
  const value = parsed.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return `${what} patch must be a JSON object such as {"building": 43}, not ${jsonKind(value)}.`;
  }
  const object = value as Record<string, unknown>;
  if (Object.keys(object).length === 0) {
    return `${what} patch is an empty object: add at least one property (null deletes one).`;
  }
  const rule = checkTwinObject(object, "", 1);
  if (rule) return rule;
  const size = bytes(JSON.stringify(object));
  if (size > maxBytes) {
    return `${what} patch is ${groupDigits(size)} bytes; the hub accepts at most ${groupDigits(maxBytes)} bytes.`;
  }
  return undefined;
}

function checkTwinObject(
  object: Record<string, unknown>,
  path: string,
  depth: number,
): string | undefined {
  if (depth > MAX_TWIN_DEPTH) {
    return `The patch nests objects deeper than ${MAX_TWIN_DEPTH} levels at "${path}"; the hub refuses deeper twins.`;
  }
  for (const [key, value] of Object.entries(object)) {
    const keyProblem = checkTwinKey(key);
    if (keyProblem) return keyProblem;
    const problem = checkTwinValue(value, path ? `${path}.${key}` : key, depth);
    if (problem) return problem;
  }
  return undefined;
}

function checkTwinKey(key: string): string | undefined {
  let reason: string | undefined;
  if (!key) reason = "an empty key is not allowed";
  else if (bytes(key) > MAX_TWIN_KEY_BYTES) reason = "keys may have at most 1,024 bytes";
  else if (key.includes("$")) reason = "'$' is reserved for the hub's own properties";
  else if (key.includes(".")) reason = "'.' is not allowed in keys (nest an object instead)";
  else if (key.includes(" ")) reason = "spaces are not allowed in keys";
  else if (/\p{Cc}/u.test(key)) reason = "control characters are not allowed in keys";
  if (!reason) return undefined;
  return `The key "${[...key].slice(0, 64).join("")}" cannot be used: ${reason}.`;
}

function checkTwinValue(value: unknown, path: string, depth: number): string | undefined {
  if (value === null || typeof value === "boolean") return undefined;
  if (typeof value === "number") {
    const fits =
      Number.isFinite(value) && !(Number.isInteger(value) && Math.abs(value) > MAX_TWIN_INTEGER);
    return fits
      ? undefined
      : `The number at "${path}" is too large: twins hold integers within ±4,503,599,627,370,495.`;
  }
  if (typeof value === "string") {
    const size = bytes(value);
    return size > MAX_TWIN_STRING_BYTES
      ? `The text at "${path}" is ${groupDigits(size)} bytes; twins hold strings of at most 4,096 bytes.`
      : undefined;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem =
        typeof item === "object" && item !== null && !Array.isArray(item)
          ? checkTwinObject(item as Record<string, unknown>, path, depth + 1)
          : checkTwinValue(item, path, depth);
      if (problem) return problem;
    }
    return undefined;
  }
  return checkTwinObject(value as Record<string, unknown>, path, depth + 1);
}

/** A whole number of seconds within `range`; `null` means the default and is fine. */
export function checkSeconds(
  what: string,
  value: number | null | undefined,
  range: { min: number; max: number },
): string | undefined {
  if (value === null || value === undefined) return undefined;
  const limits = `between ${groupDigits(range.min)} and ${groupDigits(range.max)} seconds`;
  if (!Number.isFinite(value) || !Number.isInteger(value)) {
    return `${what} must be a whole number of seconds, ${limits}.`;
  }
  if (value < range.min || value > range.max) {
    return `${what} must be ${limits} (the hub's limits), not ${groupDigits(value)}.`;
  }
  return undefined;
}

/** The start time (`startAt`, RFC 3339) when the job starts later; `now` in ms. */
export function checkStartAt(draft: JobDraft, now: number): string | undefined {
  if (draft.startMode === "now") return undefined;
  const text = draft.startAt.trim();
  if (!text) return "Choose the date and time the job should start, or start it now.";
  const at = /(Z|[+-]\d{2}:\d{2})$/i.test(text) ? parseHubTime(text) : undefined;
  if (!at) {
    return `"${[...text].slice(0, 40).join("")}" is not a date and time with its UTC offset, such as 2025-06-01T14:30:00Z.`;
  }
  const behind = Math.trunc((now - at.getTime()) / 1000);
  if (behind > START_GRACE_SECONDS) {
    return `The start time ${formatUtc(at)} is ${describeDuration(behind)} in the past: choose a later time, or start the job now.`;
  }
  return undefined;
}

/** Job ids: 1–64 ASCII letters, digits and `-`. */
export function checkJobId(text: string): string | undefined {
  const id = text.trim();
  if (!id) return "Enter a job id, or keep the generated one.";
  const length = [...id].length;
  if (length > MAX_JOB_ID_CHARS) {
    return `The job id has ${length} characters; the hub accepts at most ${MAX_JOB_ID_CHARS}.`;
  }
  const bad = [...id].find((c) => !/^[A-Za-z0-9-]$/.test(c));
  if (bad !== undefined) {
    return `The job id cannot contain ${describeChar(bad)}: use only ASCII letters, digits and '-'.`;
  }
  return undefined;
}

/**
 * Every check for `draft`, in form order; fields that do not apply to its job type are not
 * checked. `now` is in milliseconds since the epoch.
 */
export function validateDraft(draft: JobDraft, now: number): FieldError[] {
  const errors: FieldError[] = [];
  const check = (field: DraftField, message: string | undefined) => {
    if (message) errors.push({ field, message });
  };
  check("queryCondition", checkCondition(draft.queryCondition));
  switch (draft.jobType) {
    case "method":
      check("methodName", checkMethodName(draft.methodName));
      check("methodPayload", checkMethodPayload(draft.methodPayload));
      check(
        "responseTimeout",
        checkSeconds("The response timeout", draft.responseTimeoutInSeconds, RESPONSE_TIMEOUT),
      );
      check(
        "connectTimeout",
        checkSeconds("The connect timeout", draft.connectTimeoutInSeconds, CONNECT_TIMEOUT),
      );
      break;
    case "twinDesired":
      check(
        "twinDesired",
        checkTwinSection("The desired properties", draft.twinDesired, MAX_DESIRED_BYTES),
      );
      break;
    case "twinTags":
      check("twinTags", checkTwinSection("The tags", draft.twinTags, MAX_TAGS_BYTES));
      break;
  }
  check("startAt", checkStartAt(draft, now));
  check(
    "maxExecutionTime",
    checkSeconds("The maximum execution time", draft.maxExecutionTimeInSeconds, MAX_EXECUTION_TIME),
  );
  check("jobId", checkJobId(draft.jobId));
  return errors;
}

/** The first message for `field` in `errors`, if any. */
export function messageFor(errors: readonly FieldError[], field: DraftField): string | undefined {
  return errors.find((e) => e.field === field)?.message;
}
