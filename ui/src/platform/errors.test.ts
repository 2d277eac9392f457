import { describe, expect, it } from "vitest";

import { toCommandError } from "./index";

describe("toCommandError", () => {
  it("passes a Rust CommandError through", () => {
    const err = { code: "keychainUnavailable", message: "no keychain" };
    expect(toCommandError(err)).toEqual(err);
  });

  it("wraps anything else as internal", () => {
    expect(toCommandError("boom")).toEqual({ code: "internal", message: "boom" });
    expect(toCommandError(new Error("bad"))).toEqual({ code: "internal", message: "Error: bad" });
  });
});
