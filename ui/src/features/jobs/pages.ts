// The results table's pages: rows are read from Rust by offset, one fixed-size page at a time,
// only for the pages that cover the rows in view. Loaded pages are kept by index; pages far
// from the view are dropped so 100,000 rows never sit in memory at once; answers to requests
// made before a reset (new job, new filter) are ignored. Pure bookkeeping, no platform calls,
// so it is tested without a browser or Rust.

/** Settings of a {@link PageCache}. */
export interface PageCacheOptions {
  /** Rows per page (the `limit` of each request). */
  pageSize: number;
  /** Pages kept on each side of the pages in view; farther ones are dropped. */
  keep: number;
  /** Requests in flight at once; more pages are asked for as answers come in. */
  maxInFlight: number;
}

/** One page to read: rows `offset` up to `offset + limit`, tagged with the cache's generation. */
export interface PageRequest {
  page: number;
  offset: number;
  limit: number;
  generation: number;
}

/** The pages holding rows `first` up to (not including) `last`. */
export function pagesCovering(first: number, last: number, pageSize: number): number[] {
  const size = Math.max(1, Math.floor(pageSize));
  const from = Math.max(0, Math.floor(first));
  const to = Math.max(from, Math.floor(last));
  if (to === from) return [];
  const pages: number[] = [];
  for (let page = Math.floor(from / size); page <= Math.floor((to - 1) / size); page++) {
    pages.push(page);
  }
  return pages;
}

/**
 * A sparse cache of result pages. Call {@link view} when the rows in view change, send the
 * requests {@link wanted} returns, and hand each answer to {@link accept} (or {@link fail}).
 */
export class PageCache<T> {
  readonly pageSize: number;
  readonly keep: number;
  readonly maxInFlight: number;
  /** Bumped by {@link reset} and {@link refresh}; answers tagged with an older one are stale. */
  generation = 0;
  /** How many rows match in all, as the last answer said (`undefined` before any answer). */
  total: number | undefined;
  private pages = new Map<number, readonly T[]>();
  /** Loaded pages read before the last {@link refresh}: shown, but read again when in view. */
  private stale = new Set<number>();
  private inFlight = new Set<number>();
  private first = 0;
  private last = 0;

  constructor({ pageSize, keep, maxInFlight }: PageCacheOptions) {
    this.pageSize = Math.max(1, Math.floor(pageSize));
    this.keep = Math.max(0, Math.floor(keep));
    this.maxInFlight = Math.max(1, Math.floor(maxInFlight));
  }

  /** Forgets every page (another job or filter): answers still on their way are ignored. */
  reset(): void {
    this.generation++;
    this.pages.clear();
    this.stale.clear();
    this.inFlight.clear();
    this.total = undefined;
  }

  /**
   * The rows changed on the Rust side (the job ran on): loaded pages stay shown, but the ones
   * in view are read again; answers to earlier requests are ignored.
   */
  refresh(): void {
    this.generation++;
    this.inFlight.clear();
    for (const page of this.pages.keys()) this.stale.add(page);
  }

  /** The rows in view are now `first` up to (not including) `last`. */
  view(first: number, last: number): void {
    this.first = Math.max(0, Math.floor(first));
    this.last = Math.max(this.first, Math.floor(last));
  }

  /** The pages covering the rows in view. */
  inView(): number[] {
    const pages = pagesCovering(this.first, this.last, this.pageSize);
    if (this.total === undefined) return pages.length > 0 ? pages : [0];
    const lastPage = Math.ceil(this.total / this.pageSize) - 1;
    return pages.filter((page) => page <= lastPage);
  }

  /**
   * The requests to send now: pages in view that are missing or stale and not already asked
   * for, nearest the top of the view first, as many as the in-flight limit allows. They count
   * as in flight from here on.
   */
  wanted(): PageRequest[] {
    const requests: PageRequest[] = [];
    for (const page of this.inView()) {
      if (this.inFlight.size >= this.maxInFlight) break;
      if (this.inFlight.has(page)) continue;
      if (this.pages.has(page) && !this.stale.has(page)) continue;
      this.inFlight.add(page);
      requests.push({
        page,
        offset: page * this.pageSize,
        limit: this.pageSize,
        generation: this.generation,
      });
    }
    return requests;
  }

  /**
   * Stores the answer to `request`; `false` (and nothing stored) when it is stale. Pages far
   * from the view, this one included, are dropped.
   */
  accept(request: PageRequest, rows: readonly T[], total: number): boolean {
    if (request.generation !== this.generation) return false;
    this.inFlight.delete(request.page);
    this.total = Math.max(0, total);
    this.pages.set(request.page, rows);
    this.stale.delete(request.page);
    this.dropFar();
    return true;
  }

  /** The request failed: it is no longer in flight (asked again on the next {@link wanted}). */
  fail(request: PageRequest): void {
    if (request.generation === this.generation) this.inFlight.delete(request.page);
  }

  /** Row `index`, or `undefined` while its page is not loaded. */
  rowAt(index: number): T | undefined {
    if (!Number.isInteger(index) || index < 0) return undefined;
    return this.pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** The indices of the loaded pages, in order. */
  loadedPages(): number[] {
    return [...this.pages.keys()].sort((a, b) => a - b);
  }

  /** How many rows are loaded. */
  loadedRows(): number {
    let count = 0;
    for (const rows of this.pages.values()) count += rows.length;
    return count;
  }

  /** Whether any request is on its way. */
  busy(): boolean {
    return this.inFlight.size > 0;
  }

  private dropFar(): void {
    const covering = pagesCovering(this.first, Math.max(this.last, this.first + 1), this.pageSize);
    const low = (covering[0] ?? 0) - this.keep;
    const high = (covering[covering.length - 1] ?? 0) + this.keep;
    for (const page of [...this.pages.keys()]) {
      if (page < low || page > high) {
        this.pages.delete(page);
        this.stale.delete(page);
      }
    }
  }
}
