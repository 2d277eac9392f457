import { describe, expect, it } from "vitest";

import { lockLabel, newest } from "./lock-state";

describe("newest", () => {
  it("takes the first report", () => {
    expect(newest(undefined, { locked: true, revision: 0 })).toEqual({ locked: true, revision: 0 });
  });

  it("keeps a newer report over a stale one that arrives later", () => {
    const fresh = { locked: true, revision: 3 };
    expect(newest(fresh, { locked: false, revision: 2 })).toBe(fresh);
  });

  it("replaces an older report", () => {
    const next = { locked: false, revision: 4 };
    expect(newest({ locked: true, revision: 3 }, next)).toBe(next);
  });
});

describe("lockLabel", () => {
  it("names each state", () => {
    expect(lockLabel(undefined)).toBe("unknown");
    expect(lockLabel({ locked: true, revision: 1 })).toBe("locked");
    expect(lockLabel({ locked: false, revision: 2 })).toBe("unlocked");
  });
});
