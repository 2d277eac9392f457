import { describe, expect, it } from "vitest";

import {
  MAX_CONDITION_CHARS,
  checkCondition,
  checkJobId,
  checkMethodName,
  checkMethodPayload,
  checkSeconds,
  checkStartAt,
  checkTwinSection,
  conditionWarnings,
  largestInList,
  messageFor,
  newDraft,
  newJobId,
  validateDraft,
  RESPONSE_TIMEOUT,
  MAX_TAGS_BYTES,
  MAX_DESIRED_BYTES,
} from "./validate";
import type { JobDraft } from "./types";

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);

function methodDraft(over: Partial<JobDraft> = {}): JobDraft {
  return {
    ...newDraft("job-1"),
    queryCondition: "deviceId = 'door-1'",
    methodName: "lockDoor",
    methodPayload: '{"lockTime": "10m"}',
    ...over,
  };
}

describe("validateDraft", () => {
  it("accepts a complete method draft and the defaults", () => {
    expect(validateDraft(methodDraft(), NOW)).toEqual([]);
    const d = newDraft("x");
    expect(d.responseTimeoutInSeconds).toBe(30);
    expect(d.connectTimeoutInSeconds).toBe(0);
    expect(d.maxExecutionTimeInSeconds).toBe(3600);
    expect(d.startMode).toBe("now");
  });

  it("lists every bad field in form order", () => {
    const errors = validateDraft(
      methodDraft({
        queryCondition: "",
        methodName: " ",
        methodPayload: "{",
        responseTimeoutInSeconds: 400,
        connectTimeoutInSeconds: 2.5,
        maxExecutionTimeInSeconds: 0,
        jobId: "my job",
      }),
      NOW,
    );
    expect(errors.map((e) => e.field)).toEqual([
      "queryCondition",
      "methodName",
      "methodPayload",
      "responseTimeout",
      "connectTimeout",
      "maxExecutionTime",
      "jobId",
    ]);
    expect(messageFor(errors, "responseTimeout")).toBe(
      "The response timeout must be between 5 and 300 seconds (the hub's limits), not 400.",
    );
    expect(messageFor(errors, "connectTimeout")).toBe(
      "The connect timeout must be a whole number of seconds, between 0 and 300 seconds.",
    );
    expect(messageFor(errors, "maxExecutionTime")).toBe(
      "The maximum execution time must be between 1 and 2,147,483,647 seconds (the hub's limits), not 0.",
    );
  });

  it("checks only the fields of the job type", () => {
    const tags = methodDraft({
      jobType: "twinTags",
      twinTags: '{"building": 43}',
      methodName: "",
      responseTimeoutInSeconds: 1,
    });
    expect(validateDraft(tags, NOW)).toEqual([]);
    const desired = methodDraft({ jobType: "twinDesired", twinDesired: "" });
    expect(validateDraft(desired, NOW)).toEqual([
      {
        field: "twinDesired",
        message:
          'The desired properties patch is empty: enter a JSON object such as {"building": 43, "floor": 3}.',
      },
    ]);
  });

  it("treats empty numbers as the hub's defaults", () => {
    expect(
      validateDraft(
        methodDraft({ responseTimeoutInSeconds: null, maxExecutionTimeInSeconds: null }),
        NOW,
      ),
    ).toEqual([]);
  });
});

describe("conditions", () => {
  it("wants a condition, not a query, within the limit", () => {
    expect(checkCondition("  ")).toMatch(/^Enter a query condition/);
    expect(checkCondition("*")).toBeUndefined();
    expect(checkCondition("SELECT * FROM devices")).toMatch(/only the condition/);
    const long = `deviceId IN [${Array(700).fill("'door-0001'").join(",")}]`;
    expect(checkCondition(long)).toMatch(
      /^The query condition is 8,413 characters; .* at most 8,164\. Target the devices with a tag/,
    );
    const exact = `deviceId = '${"x".repeat(MAX_CONDITION_CHARS - 13)}'`;
    expect([...exact].length).toBe(MAX_CONDITION_CHARS);
    expect(checkCondition(exact)).toBeUndefined();
  });

  it("warns near the limit and for long id lists", () => {
    expect(conditionWarnings("tags.building = 43")).toEqual([]);
    const ids = Array.from({ length: 150 }, (_, i) => `'door-${i}'`).join(", ");
    const condition = `deviceId IN [${ids}]`;
    expect(largestInList(condition)).toBe(150);
    const warnings = conditionWarnings(condition);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/lists 150 device ids/);
    const near = `deviceId = '${"x".repeat(7100)}'`;
    expect(conditionWarnings(near)[0]).toMatch(/^The condition is 7,113 characters, close to/);
    expect(largestInList("deviceId in ['a,b', 'c']")).toBe(2);
    expect(largestInList("tags.x IN [1, 2]")).toBe(0);
  });
});

describe("fields", () => {
  it("method names fit in an MQTT topic", () => {
    expect(checkMethodName("lockDoor")).toBeUndefined();
    expect(checkMethodName("")).toBe(
      "Enter the name of the direct method to invoke, such as lockDoor.",
    );
    expect(checkMethodName("lock/door")).toBe(
      "The method name cannot contain '/': the hub sends it to the device inside an MQTT topic.",
    );
    expect(checkMethodName("lock door")).toMatch(/cannot contain spaces/);
  });

  it("payloads are JSON with line and column, at most 128 KB", () => {
    expect(checkMethodPayload("")).toBeUndefined();
    expect(checkMethodPayload('{\n  "lockTime": "10m",\n}')).toBe(
      "The method payload is not valid JSON: trailing comma (line 3, column 1).",
    );
    expect(checkMethodPayload(`"${"x".repeat(128 * 1024)}"`)).toBe(
      "The method payload is 131,074 bytes; the hub accepts at most 131,072 bytes (128 KB).",
    );
  });

  it("twin patches follow the hub's twin rules", () => {
    const tags = (text: string) => checkTwinSection("The tags", text, MAX_TAGS_BYTES);
    expect(tags('{"building": 43, "floor": 3}')).toBeUndefined();
    expect(tags('{"building": null}')).toBeUndefined();
    expect(tags("[1, 2]")).toBe(
      'The tags patch must be a JSON object such as {"building": 43}, not an array.',
    );
    expect(tags('{"a.b": 1}')).toBe(
      "The key \"a.b\" cannot be used: '.' is not allowed in keys (nest an object instead).",
    );
    expect(tags('{"$version": 1}')).toBe(
      "The key \"$version\" cannot be used: '$' is reserved for the hub's own properties.",
    );
    expect(tags('{"my key": 1}')).toBe(
      'The key "my key" cannot be used: spaces are not allowed in keys.',
    );
    expect(tags("{}")).toBe(
      "The tags patch is an empty object: add at least one property (null deletes one).",
    );
    expect(tags('{"n": 9007199254740991}')).toBe(
      'The number at "n" is too large: twins hold integers within ±4,503,599,627,370,495.',
    );
    const deep = '{"a":'.repeat(11) + "1" + "}".repeat(11);
    expect(tags(deep)).toMatch(/deeper than 10 levels/);
    const s = `{"a": "${"x".repeat(4000)}"}`;
    expect(tags(`{"a": ${s}, "b": ${s}, "c": ${s}}`)).toBe(
      "The tags patch is 12,040 bytes; the hub accepts at most 8,192 bytes.",
    );
    expect(checkTwinSection("The desired properties", '{"building": 43', MAX_DESIRED_BYTES)).toBe(
      "The desired properties patch is not valid JSON: EOF while parsing an object (line 1, column 15).",
    );
    expect(tags(`{"t": "${"é".repeat(2049)}"}`)).toBe(
      'The text at "t" is 4,098 bytes; twins hold strings of at most 4,096 bytes.',
    );
  });

  it("seconds are whole and in range", () => {
    expect(checkSeconds("The response timeout", 5, RESPONSE_TIMEOUT)).toBeUndefined();
    expect(checkSeconds("The response timeout", 300, RESPONSE_TIMEOUT)).toBeUndefined();
    expect(checkSeconds("The response timeout", 4, RESPONSE_TIMEOUT)).toMatch(/not 4\.$/);
    expect(checkSeconds("The response timeout", Number.NaN, RESPONSE_TIMEOUT)).toMatch(
      /whole number/,
    );
    expect(checkSeconds("The response timeout", null, RESPONSE_TIMEOUT)).toBeUndefined();
  });

  it("start times are UTC date-times not in the past", () => {
    const at = (startAt: string) => checkStartAt(methodDraft({ startMode: "at", startAt }), NOW);
    expect(at("")).toBe("Choose the date and time the job should start, or start it now.");
    expect(at("2025-06-01 14:30")).toBe(
      '"2025-06-01 14:30" is not a date and time with its UTC offset, such as 2025-06-01T14:30:00Z.',
    );
    expect(at("2025-06-01T10:00:00Z")).toBe(
      "The start time 2025-06-01 10:00 UTC is 2 hours in the past: choose a later time, or start the job now.",
    );
    expect(at("2025-06-01T11:59:30Z")).toBeUndefined();
    expect(at("2025-06-01T14:30:00+02:00")).toBeUndefined();
    expect(checkStartAt(methodDraft({ startMode: "now", startAt: "junk" }), NOW)).toBeUndefined();
  });

  it("job ids are 1-64 ASCII letters, digits and '-'", () => {
    expect(checkJobId("")).toBe("Enter a job id, or keep the generated one.");
    expect(checkJobId("a".repeat(65))).toBe(
      "The job id has 65 characters; the hub accepts at most 64.",
    );
    expect(checkJobId("a".repeat(64))).toBeUndefined();
    expect(checkJobId("nightly_lock")).toBe(
      "The job id cannot contain '_': use only ASCII letters, digits and '-'.",
    );
    expect(checkJobId("my job")).toBe(
      "The job id cannot contain spaces: use only ASCII letters, digits and '-'.",
    );
    expect(checkJobId("jöb")).toMatch(/cannot contain 'ö'/);
    const fresh = newJobId();
    expect(fresh).toHaveLength(36);
    expect(checkJobId(fresh)).toBeUndefined();
  });
});
