import { describe, expect, it } from "vitest";

import { MAX_JSON_DEPTH, describeJsonProblem, parseJson, position } from "./json";

function problem(text: string) {
  const result = parseJson(text);
  if (result.ok) throw new Error(`expected an error for ${text}`);
  return result.problem;
}

describe("parseJson", () => {
  it("parses valid JSON to its value", () => {
    expect(parseJson('{"lockTime": "10m", "n": [1, -2.5e3, true, null]}')).toEqual({
      ok: true,
      value: { lockTime: "10m", n: [1, -2500, true, null] },
    });
    expect(parseJson('  "\\u00e9\\n"  ')).toEqual({ ok: true, value: "é\n" });
    expect(parseJson("0")).toEqual({ ok: true, value: 0 });
  });

  it("reports the same reason and position as serde_json", () => {
    // The two cases pinned in lockstep_jobs::draft's tests.
    expect(problem('{\n  "lockTime": "10m",\n}')).toEqual({
      reason: "trailing comma",
      line: 3,
      column: 1,
    });
    expect(problem('{"building": 43')).toEqual({
      reason: "EOF while parsing an object",
      line: 1,
      column: 15,
    });
  });

  it("names each kind of mistake where it is", () => {
    expect(problem("")).toMatchObject({ reason: "EOF while parsing a value" });
    expect(problem("{'a': 1}")).toEqual({ reason: "key must be a string", line: 1, column: 2 });
    expect(problem('{"a" 1}')).toEqual({ reason: "expected `:`", line: 1, column: 6 });
    expect(problem('{"a": 1 "b": 2}')).toEqual({
      reason: "expected `,` or `}`",
      line: 1,
      column: 9,
    });
    expect(problem("[1, 2,]")).toEqual({ reason: "trailing comma", line: 1, column: 7 });
    expect(problem("[1 2]")).toMatchObject({ reason: "expected `,` or `]`", column: 4 });
    expect(problem("01")).toMatchObject({ reason: "invalid number", column: 1 });
    expect(problem("1.")).toMatchObject({ reason: "EOF while parsing a value" });
    expect(problem("1.x")).toMatchObject({ reason: "invalid number", column: 3 });
    expect(problem("tru")).toMatchObject({ reason: "EOF while parsing a value" });
    expect(problem("nul1")).toMatchObject({ reason: "expected ident `null`", column: 4 });
    expect(problem('"a\\x"')).toMatchObject({ reason: "invalid escape", column: 4 });
    expect(problem('"a\tb"')).toMatchObject({
      reason: expect.stringContaining("control character"),
    });
    expect(problem('"abc')).toMatchObject({ reason: "EOF while parsing a string" });
    expect(problem("{} x")).toEqual({ reason: "trailing characters", line: 1, column: 4 });
    expect(problem("undefined")).toMatchObject({ reason: "expected value", column: 1 });
    expect(problem("{\n\n   @}")).toEqual({ reason: "key must be a string", line: 3, column: 4 });
  });

  it("stops at serde_json's nesting limit instead of overflowing the stack", () => {
    const deep = "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1);
    expect(problem(deep)).toMatchObject({ reason: "recursion limit exceeded" });
    const ok = "[".repeat(MAX_JSON_DEPTH) + "]".repeat(MAX_JSON_DEPTH);
    expect(parseJson(ok).ok).toBe(true);
  });

  it("agrees with JSON.parse on what is valid", () => {
    const samples = [
      "{}",
      "[]",
      '{"a":{"b":[1,{"c":"d"}]}}',
      "-0",
      "1e5",
      "1E+5",
      '"\\ud83d\\ude00"',
      "[1,]",
      "{,}",
      "+1",
      ".5",
      "[\n1\n,\n2\n]",
      '{"a":1,}',
    ];
    for (const text of samples) {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      expect(parseJson(text).ok, text).toBe(valid);
    }
  });
});

describe("position and messages", () => {
  it("counts lines and columns from 1", () => {
    expect(position("ab\ncd", 0)).toEqual({ line: 1, column: 1 });
    expect(position("ab\ncd", 4)).toEqual({ line: 2, column: 2 });
  });

  it("says what, why and where", () => {
    expect(
      describeJsonProblem("The method payload", { reason: "trailing comma", line: 3, column: 1 }),
    ).toBe("The method payload is not valid JSON: trailing comma (line 3, column 1).");
  });
});
