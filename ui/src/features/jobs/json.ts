// Strict JSON (RFC 8259) checking with the line and column of the first error.
//
// `JSON.parse` says where it failed only in some engines (WebKit, which the app runs in on
// Linux and macOS, gives no position at all), so the editors check the text here first and
// parse it only once it is known to be valid. Messages follow serde_json's wording, which
// is what Rust says about the same text when the draft reaches it.

/** Where a JSON text went wrong. Line and column count from 1. */
export interface JsonProblem {
  reason: string;
  line: number;
  column: number;
}

/** The result of {@link parseJson}. */
export type JsonResult = { ok: true; value: unknown } | { ok: false; problem: JsonProblem };

/** The nesting serde_json accepts before it gives up ("recursion limit exceeded"). */
export const MAX_JSON_DEPTH = 128;

class Failure {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {}
}

/** Parses `text` as strict JSON, or says precisely where and why it is not JSON. */
export function parseJson(text: string): JsonResult {
  const failure = scan(text);
  if (failure) {
    return { ok: false, problem: { reason: failure.reason, ...position(text, failure.offset) } };
  }
  return { ok: true, value: JSON.parse(text) as unknown };
}

/** The line and column (from 1) of the character at `offset`. */
export function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** `… is not valid JSON: reason (line L, column C).` */
export function describeJsonProblem(what: string, problem: JsonProblem): string {
  return `${what} is not valid JSON: ${problem.reason} (line ${problem.line}, column ${problem.column}).`;
}

function scan(text: string): Failure | undefined {
  let i = 0;
  const n = text.length;
  // Errors at the end point at the last character, as serde_json does.
  const eofAt = () => Math.max(0, n - 1);

  const skipSpace = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };

  const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

  const str = (): Failure | undefined => {
    // At the opening quote.
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return undefined;
      }
      if (c < 0x20) {
        return new Failure("control character (\\u0000-\\u001F) found while parsing a string", i);
      }
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === undefined) return new Failure("EOF while parsing a string", eofAt());
        if (e === "u") {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            return hex.length < 4 && i + 6 > n
              ? new Failure("EOF while parsing a string", eofAt())
              : new Failure("invalid escape", i + 1);
          }
          i += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(e)) return new Failure("invalid escape", i + 1);
        i += 2;
        continue;
      }
      i++;
    }
    return new Failure("EOF while parsing a string", eofAt());
  };

  const num = (): Failure | undefined => {
    const start = i;
    if (text[i] === "-") i++;
    if (i >= n) return new Failure("EOF while parsing a value", eofAt());
    if (text[i] === "0") {
      i++;
      if (i < n && isDigit(text.charCodeAt(i))) return new Failure("invalid number", start);
    } else if (isDigit(text.charCodeAt(i))) {
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    } else {
      return new Failure("invalid number", i);
    }
    if (text[i] === ".") {
      i++;
      if (i >= n) return new Failure("EOF while parsing a value", eofAt());
      if (!isDigit(text.charCodeAt(i))) return new Failure("invalid number", i);
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    }
    if (text[i] === "e" || text[i] === "E") {
      i++;
      if (text[i] === "+" || text[i] === "-") i++;
      if (i >= n) return new Failure("EOF while parsing a value", eofAt());
      if (!isDigit(text.charCodeAt(i))) return new Failure("invalid number", i);
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    }
    return undefined;
  };

  const word = (w: string): Failure | undefined => {
    for (let k = 0; k < w.length; k++) {
      if (i >= n) return new Failure("EOF while parsing a value", eofAt());
      if (text[i] !== w[k]) return new Failure(`expected ident \`${w}\``, i);
      i++;
    }
    return undefined;
  };

  const value = (depth: number): Failure | undefined => {
    skipSpace();
    if (i >= n) return new Failure("EOF while parsing a value", eofAt());
    const c = text[i];
    switch (c) {
      case "{":
        return object(depth + 1);
      case "[":
        return array(depth + 1);
      case '"':
        return str();
      case "t":
        return word("true");
      case "f":
        return word("false");
      case "n":
        return word("null");
      default:
        if (c === "-" || isDigit(text.charCodeAt(i))) return num();
        return new Failure("expected value", i);
    }
  };

  const object = (depth: number): Failure | undefined => {
    if (depth > MAX_JSON_DEPTH) return new Failure("recursion limit exceeded", i);
    i++;
    skipSpace();
    if (i >= n) return new Failure("EOF while parsing an object", eofAt());
    if (text[i] === "}") {
      i++;
      return undefined;
    }
    for (;;) {
      skipSpace();
      if (i >= n) return new Failure("EOF while parsing an object", eofAt());
      if (text[i] === "}") return new Failure("trailing comma", i);
      if (text[i] !== '"') return new Failure("key must be a string", i);
      const key = str();
      if (key) return key;
      skipSpace();
      if (i >= n) return new Failure("EOF while parsing an object", eofAt());
      if (text[i] !== ":") return new Failure("expected `:`", i);
      i++;
      const inner = value(depth);
      if (inner) return inner;
      skipSpace();
      if (i >= n) return new Failure("EOF while parsing an object", eofAt());
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return undefined;
      }
      return new Failure("expected `,` or `}`", i);
    }
  };

  const array = (depth: number): Failure | undefined => {
    if (depth > MAX_JSON_DEPTH) return new Failure("recursion limit exceeded", i);
    i++;
    skipSpace();
    if (i >= n) return new Failure("EOF while parsing a list", eofAt());
    if (text[i] === "]") {
      i++;
      return undefined;
    }
    for (;;) {
      skipSpace();
      if (i < n && text[i] === "]") return new Failure("trailing comma", i);
      const inner = value(depth);
      if (inner) return inner;
      skipSpace();
      if (i >= n) return new Failure("EOF while parsing a list", eofAt());
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "]") {
        i++;
        return undefined;
      }
      return new Failure("expected `,` or `]`", i);
    }
  };

  const failure = value(0);
  if (failure) return failure;
  skipSpace();
  if (i < n) return new Failure("trailing characters", i);
  return undefined;
}
