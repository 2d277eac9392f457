import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { EMPTY_NOTE, Previewer, type PreviewState } from "./preview";
import type { JobPreview } from "./types";

const answer = (matching: number): JobPreview => ({
  matching,
  connected: 0,
  firstDeviceIds: [],
  warnings: [],
});

describe("Previewer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("asks once, after typing pauses, for the last condition", async () => {
    const fetch = vi.fn((condition: string) => Promise.resolve(answer(condition.length)));
    const states: PreviewState[] = [];
    const p = new Previewer(fetch, 400, (s) => states.push(s));
    p.request("tags.b");
    await vi.advanceTimersByTimeAsync(200);
    p.request("tags.building = 43");
    await vi.advanceTimersByTimeAsync(399);
    expect(fetch).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch).toHaveBeenCalledWith("tags.building = 43");
    expect(states.at(-1)).toEqual({
      kind: "ready",
      condition: "tags.building = 43",
      result: answer(18),
    });
  });

  it("drops an answer that arrives after the condition changed", async () => {
    const resolvers: ((value: JobPreview) => void)[] = [];
    const fetch = vi.fn(() => new Promise<JobPreview>((resolve) => resolvers.push(resolve)));
    const states: PreviewState[] = [];
    const p = new Previewer(fetch, 100, (s) => states.push(s));
    p.request("*");
    await vi.advanceTimersByTimeAsync(100);
    p.request("tags.building = 43");
    await vi.advanceTimersByTimeAsync(100);
    resolvers[1]?.(answer(2));
    resolvers[0]?.(answer(1000));
    await vi.runAllTimersAsync();
    expect(states.filter((s) => s.kind === "ready")).toEqual([
      { kind: "ready", condition: "tags.building = 43", result: answer(2) },
    ]);
  });

  it("does not ask the hub about an empty or over-long condition", async () => {
    const fetch = vi.fn(() => Promise.resolve(answer(1)));
    const states: PreviewState[] = [];
    const p = new Previewer(fetch, 10, (s) => states.push(s));
    p.request("   ");
    p.request("x".repeat(9000));
    await vi.runAllTimersAsync();
    expect(fetch).not.toHaveBeenCalled();
    expect(states[0]).toEqual({ kind: "idle", note: EMPTY_NOTE });
    expect(states[1]).toMatchObject({
      kind: "idle",
      note: expect.stringMatching(/9,000 characters/),
    });
  });

  it("shows the parent's failure in words, including a thrown one", async () => {
    const states: PreviewState[] = [];
    const failing = new Previewer(
      () => Promise.reject({ message: "The query condition is not valid.", action: "Fix it." }),
      10,
      (s) => states.push(s),
    );
    failing.request("tags.building =");
    await vi.runAllTimersAsync();
    expect(states.at(-1)).toEqual({
      kind: "error",
      condition: "tags.building =",
      problem: { message: "The query condition is not valid.", action: "Fix it." },
    });
    const throwing = new Previewer(
      () => {
        throw new Error("boom");
      },
      10,
      (s) => states.push(s),
    );
    throwing.request("*");
    await vi.runAllTimersAsync();
    expect(states.at(-1)).toMatchObject({ kind: "error", problem: { message: "boom" } });
  });

  it("sends nothing after dispose", async () => {
    const fetch = vi.fn(() => Promise.resolve(answer(1)));
    const p = new Previewer(fetch, 50, () => {});
    p.request("*");
    p.dispose();
    await vi.runAllTimersAsync();
    expect(fetch).not.toHaveBeenCalled();
  });
});
