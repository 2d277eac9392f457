import { describe, expect, it } from "vitest";

import { moveIndex, rowWindow, scrollToRow } from "./virtual";

describe("rowWindow", () => {
  it("renders only the visible rows plus the overscan", () => {
    const w = rowWindow({
      count: 100_000,
      rowHeight: 30,
      scrollTop: 30_000,
      viewportHeight: 600,
      overscan: 5,
    });
    expect(w.first).toBe(995);
    expect(w.last).toBe(1000 + 21 + 5);
    expect(w.last - w.first).toBeLessThan(40);
    expect(w.before).toBe(995 * 30);
    expect(w.total).toBe(3_000_000);
    expect(w.before + (w.last - w.first) * 30 + w.after).toBe(w.total);
  });

  it("stays inside the list at both ends and when scrolled past it", () => {
    const top = rowWindow({ count: 50, rowHeight: 20, scrollTop: -40, viewportHeight: 200 });
    expect(top.first).toBe(0);
    expect(top.before).toBe(0);
    const past = rowWindow({ count: 50, rowHeight: 20, scrollTop: 99_999, viewportHeight: 200 });
    expect(past.last).toBe(50);
    expect(past.after).toBe(0);
    expect(past.first).toBe(40 - 6);
    const few = rowWindow({ count: 3, rowHeight: 20, scrollTop: 0, viewportHeight: 500 });
    expect([few.first, few.last, few.total]).toEqual([0, 3, 60]);
  });

  it("copes with empty lists and nonsense input", () => {
    expect(rowWindow({ count: 0, rowHeight: 30, scrollTop: 0, viewportHeight: 500 })).toEqual({
      first: 0,
      last: 0,
      before: 0,
      after: 0,
      total: 0,
    });
    const w = rowWindow({ count: 10, rowHeight: 0, scrollTop: Number.NaN, viewportHeight: -5 });
    expect(w.first).toBe(0);
    expect(w.last).toBeLessThanOrEqual(10);
  });

  it("window size does not grow with the list", () => {
    const small = rowWindow({ count: 1000, rowHeight: 30, scrollTop: 3000, viewportHeight: 600 });
    const huge = rowWindow({
      count: 1_000_000,
      rowHeight: 30,
      scrollTop: 3000,
      viewportHeight: 600,
    });
    expect(huge.last - huge.first).toBe(small.last - small.first);
  });
});

describe("keyboard scrolling", () => {
  it("scrolls as little as needed to show a row", () => {
    expect(scrollToRow(10, 30, 0, 600)).toBe(0);
    expect(scrollToRow(25, 30, 0, 600)).toBe(26 * 30 - 600);
    expect(scrollToRow(2, 30, 300, 600)).toBe(60);
  });

  it("keeps the index inside the list", () => {
    expect(moveIndex(0, -1, 10)).toBe(0);
    expect(moveIndex(5, 20, 10)).toBe(9);
    expect(moveIndex(0, 1, 0)).toBe(-1);
  });
});
