import { describe, expect, it } from "vitest";

import { PageCache, pagesCovering, type PageRequest } from "./pages";

function rows(offset: number, limit: number, total: number): number[] {
  return Array.from({ length: Math.max(0, Math.min(limit, total - offset)) }, (_, i) => offset + i);
}

/** The first element, failing the test when there is none. */
function first<T>(list: readonly T[]): T {
  const [item] = list;
  if (item === undefined) throw new Error("expected at least one element");
  return item;
}

/** Answers every wanted request at once from a list of `total` rows numbered by position. */
function answerAll(cache: PageCache<number>, total: number): PageRequest[] {
  const asked = cache.wanted();
  for (const request of asked) {
    cache.accept(request, rows(request.offset, request.limit, total), total);
  }
  return asked;
}

describe("pagesCovering", () => {
  it("lists the pages holding a range of rows", () => {
    expect(pagesCovering(0, 30, 250)).toEqual([0]);
    expect(pagesCovering(240, 270, 250)).toEqual([0, 1]);
    expect(pagesCovering(50_000, 50_030, 250)).toEqual([200]);
    expect(pagesCovering(250, 500, 250)).toEqual([1]);
  });

  it("is empty for an empty range and tolerates odd input", () => {
    expect(pagesCovering(10, 10, 250)).toEqual([]);
    expect(pagesCovering(20, 10, 250)).toEqual([]);
    expect(pagesCovering(-5, 3, 0)).toEqual([0, 1, 2]);
  });
});

describe("PageCache", () => {
  const options = { pageSize: 250, keep: 2, maxInFlight: 2 };

  it("asks for the first page before the total is known", () => {
    const cache = new PageCache<number>(options);
    expect(cache.wanted()).toEqual([{ page: 0, offset: 0, limit: 250, generation: 0 }]);
    // Already in flight: not asked twice.
    expect(cache.wanted()).toEqual([]);
  });

  it("jumps straight to the page in view by offset, without reading the ones before", () => {
    const cache = new PageCache<number>(options);
    answerAll(cache, 100_000);
    cache.view(50_000, 50_030);
    const asked = answerAll(cache, 100_000);
    expect(asked.map((r) => r.offset)).toEqual([50_000]);
    expect(cache.rowAt(50_000)).toBe(50_000);
    expect(cache.rowAt(50_029)).toBe(50_029);
    // Pages far from the view were dropped; what is loaded stays bounded.
    expect(cache.loadedPages()).toEqual([200]);
    expect(cache.rowAt(0)).toBeUndefined();
  });

  it("shows nothing (placeholders) for rows whose page is still loading", () => {
    const cache = new PageCache<number>(options);
    cache.view(300, 320);
    const request = first(cache.wanted());
    expect(request.page).toBe(1);
    expect(cache.rowAt(300)).toBeUndefined();
    expect(cache.busy()).toBe(true);
    cache.accept(request, rows(250, 250, 1000), 1000);
    expect(cache.rowAt(300)).toBe(300);
    expect(cache.busy()).toBe(false);
  });

  it("keeps pages near the view and drops those farther than `keep`", () => {
    const cache = new PageCache<number>(options);
    for (let page = 0; page < 8; page++) {
      cache.view(page * 250, page * 250 + 30);
      answerAll(cache, 10_000);
    }
    // In view: page 7; kept: 5 and 6 (and 8, 9 had they been loaded).
    expect(cache.loadedPages()).toEqual([5, 6, 7]);
    expect(cache.loadedRows()).toBe(750);
  });

  it("asks for at most `maxInFlight` pages at once, nearest the top first", () => {
    const cache = new PageCache<number>({ pageSize: 10, keep: 1, maxInFlight: 2 });
    answerAll(cache, 1000);
    cache.view(100, 145);
    const asked = cache.wanted();
    expect(asked.map((r) => r.page)).toEqual([10, 11]);
    cache.accept(first(asked), rows(100, 10, 1000), 1000);
    expect(cache.wanted().map((r) => r.page)).toEqual([12]);
  });

  it("does not ask for pages past the end", () => {
    const cache = new PageCache<number>(options);
    answerAll(cache, 260);
    cache.view(0, 600);
    expect(answerAll(cache, 260).map((r) => r.page)).toEqual([1]);
    expect(cache.wanted()).toEqual([]);
    expect(cache.rowAt(259)).toBe(259);
    expect(cache.rowAt(260)).toBeUndefined();
  });

  it("ignores answers to requests made before a reset", () => {
    const cache = new PageCache<number>(options);
    const old = first(cache.wanted());
    cache.reset();
    expect(cache.accept(old, [1, 2, 3], 3)).toBe(false);
    expect(cache.rowAt(0)).toBeUndefined();
    expect(cache.total).toBeUndefined();
    // The new generation asks again.
    expect(cache.wanted()).toEqual([{ page: 0, offset: 0, limit: 250, generation: 1 }]);
  });

  it("keeps showing pages on refresh while reading the ones in view again", () => {
    const cache = new PageCache<number>(options);
    cache.view(0, 30);
    answerAll(cache, 1000);
    expect(cache.wanted()).toEqual([]);
    cache.refresh();
    expect(cache.rowAt(5)).toBe(5);
    const again = first(cache.wanted());
    expect(again).toEqual({ page: 0, offset: 0, limit: 250, generation: 1 });
    cache.accept(
      again,
      rows(0, 250, 1000).map((n) => n + 1),
      1000,
    );
    expect(cache.rowAt(5)).toBe(6);
    expect(cache.wanted()).toEqual([]);
  });

  it("lets a failed page be asked for again", () => {
    const cache = new PageCache<number>(options);
    const request = first(cache.wanted());
    cache.fail(request);
    expect(cache.wanted()).toEqual([request]);
  });
});
