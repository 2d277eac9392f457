// Windowed rendering for long lists of fixed-height rows: which rows to put in the DOM for a
// scroll position, and the empty space above and below them. Pure, so the maths is tested
// without a browser.

/** The rows to render: `first` up to (not including) `last`, and the space around them. */
export interface RowWindow {
  first: number;
  last: number;
  /** Pixels of empty space before the first rendered row. */
  before: number;
  /** Pixels of empty space after the last rendered row. */
  after: number;
  /** The whole list's height in pixels. */
  total: number;
}

/** Inputs of {@link rowWindow}. */
export interface WindowInput {
  count: number;
  rowHeight: number;
  scrollTop: number;
  viewportHeight: number;
  /** Extra rows rendered above and below the visible ones, so fast scrolling shows no gaps. */
  overscan?: number;
}

/** The rows visible at `scrollTop` in a viewport of `viewportHeight`, plus `overscan`. */
export function rowWindow({
  count,
  rowHeight,
  scrollTop,
  viewportHeight,
  overscan = 6,
}: WindowInput): RowWindow {
  const rows = Math.max(0, Math.floor(count));
  const height = rowHeight > 0 ? rowHeight : 1;
  const total = rows * height;
  if (rows === 0) return { first: 0, last: 0, before: 0, after: 0, total: 0 };
  const maxTop = Math.max(0, total - Math.max(0, viewportHeight));
  const top = Math.min(Math.max(0, Number.isFinite(scrollTop) ? scrollTop : 0), maxTop);
  const visible = Math.ceil(Math.max(0, viewportHeight) / height) + 1;
  const first = Math.max(0, Math.floor(top / height) - overscan);
  const last = Math.min(rows, Math.floor(top / height) + visible + overscan);
  return { first, last, before: first * height, after: (rows - last) * height, total };
}

/**
 * The scroll position that brings row `index` into view, moving as little as possible
 * (unchanged when it is already fully visible).
 */
export function scrollToRow(
  index: number,
  rowHeight: number,
  scrollTop: number,
  viewportHeight: number,
): number {
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewportHeight) return Math.max(0, bottom - viewportHeight);
  return scrollTop;
}

/** The index `delta` rows away from `index` (PageUp/PageDown, arrows), kept in the list. */
export function moveIndex(index: number, delta: number, count: number): number {
  if (count <= 0) return -1;
  return Math.min(count - 1, Math.max(0, index + delta));
}
