process.env.TZ = "Europe/Berlin";

import { describe, expect, it } from "vitest";

import {
  MAX_SPAN,
  MIN_SPAN,
  clampView,
  fitView,
  fractionOf,
  jobGeometry,
  pan,
  tickStep,
  ticks,
  timeAt,
  wheelZoomFactor,
  zoom,
} from "./timeline";

const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);
const MIN = 60_000;
const view = { start: T0, end: T0 + 60 * MIN };
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", ".0000000Z");

function job(over: {
  status: string;
  finished?: boolean;
  created?: number;
  start?: number;
  end?: number;
}) {
  return {
    status: over.status,
    finished: over.finished ?? ["completed", "failed", "cancelled"].includes(over.status),
    createdTime: over.created === undefined ? null : iso(over.created),
    startTime: over.start === undefined ? null : iso(over.start),
    endTime: over.end === undefined ? null : iso(over.end),
  };
}

describe("scale", () => {
  it("maps times to fractions and back", () => {
    expect(fractionOf(view, T0 + 15 * MIN)).toBe(0.25);
    expect(timeAt(view, 0.5)).toBe(T0 + 30 * MIN);
  });

  it("zooms around the anchor, keeping the time under it in place", () => {
    const anchor = 0.25;
    const pivot = timeAt(view, anchor);
    const zoomed = zoom(view, 0.5, anchor);
    expect(zoomed.end - zoomed.start).toBe(30 * MIN);
    expect(timeAt(zoomed, anchor)).toBeCloseTo(pivot);
    const out = zoom(zoomed, 2, anchor);
    expect(out.start).toBeCloseTo(view.start);
    expect(out.end).toBeCloseTo(view.end);
  });

  it("stops zooming at the limits", () => {
    let v = view;
    for (let i = 0; i < 100; i++) v = zoom(v, 0.5);
    expect(v.end - v.start).toBe(MIN_SPAN);
    for (let i = 0; i < 100; i++) v = zoom(v, 2);
    expect(v.end - v.start).toBe(MAX_SPAN);
    expect(clampView({ start: 5, end: 5 }).end - clampView({ start: 5, end: 5 }).start).toBe(
      MIN_SPAN,
    );
  });

  it("pans by a share of the span", () => {
    expect(pan(view, 0.1)).toEqual({ start: T0 + 6 * MIN, end: T0 + 66 * MIN });
    expect(pan(view, -1)).toEqual({ start: T0 - 60 * MIN, end: T0 });
  });

  it("turns wheel notches into gentle, symmetric zoom factors", () => {
    expect(wheelZoomFactor(100)).toBeGreaterThan(1);
    expect(wheelZoomFactor(-100)).toBeLessThan(1);
    expect(wheelZoomFactor(100) * wheelZoomFactor(-100)).toBeCloseTo(1);
    expect(wheelZoomFactor(1e9)).toBe(wheelZoomFactor(500));
  });
});

describe("ticks", () => {
  it("picks round steps and round local times", () => {
    expect(tickStep(view, 8)).toBe(10 * MIN);
    const t = ticks(view, 8);
    expect(t.map((x) => x.label)).toEqual([
      "14:00",
      "14:10",
      "14:20",
      "14:30",
      "14:40",
      "14:50",
      "15:00",
    ]);
    expect(t[0]?.at).toBe(0);
    expect(t.every((x) => x.at >= 0 && x.at <= 1)).toBe(true);
  });

  it("marks local midnight with the date", () => {
    // 20:00 to 04:00 UTC is 22:00 to 06:00 in Berlin in summer.
    const night = { start: Date.UTC(2025, 5, 1, 20), end: Date.UTC(2025, 5, 2, 4) };
    const t = ticks(night, 8);
    const midnight = t.find((x) => x.major);
    expect(midnight?.label).toBe("Jun 2");
    expect(midnight?.time).toBe(Date.UTC(2025, 5, 1, 22));
  });

  it("uses seconds when zoomed in and dates when zoomed out", () => {
    expect(ticks({ start: T0, end: T0 + 30_000 }, 6)[0]?.label).toBe("14:00:00");
    const month = ticks({ start: T0, end: T0 + 30 * 86_400_000 }, 6);
    expect(month.every((x) => /^[A-Z][a-z]{2} \d+$/.test(x.label))).toBe(true);
  });
});

describe("job geometry", () => {
  it("draws a finished job: waiting, running, markers", () => {
    const g = jobGeometry(
      job({ status: "completed", created: T0 + 6 * MIN, start: T0 + 12 * MIN, end: T0 + 30 * MIN }),
      view,
      T0 + 50 * MIN,
    );
    expect(g.tone).toBe("completed");
    expect(g.spans).toEqual([
      { kind: "waiting", from: 0.1, to: 0.2 },
      { kind: "running", from: 0.2, to: 0.5 },
    ]);
    expect(g.markers.map((m) => [m.kind, m.at])).toEqual([
      ["created", 0.1],
      ["start", 0.2],
      ["end", 0.5],
    ]);
  });

  it("runs a running job up to now, and a scheduled job waits until its start", () => {
    const now = T0 + 30 * MIN;
    const running = jobGeometry(job({ status: "running", created: T0, start: T0 }), view, now);
    expect(running.spans).toEqual([{ kind: "running", from: 0, to: 0.5 }]);
    const scheduled = jobGeometry(
      job({ status: "scheduled", created: T0 + 24 * MIN, start: T0 + 48 * MIN }),
      view,
      now,
    );
    expect(scheduled.spans).toEqual([{ kind: "waiting", from: 0.4, to: 0.8 }]);
    expect(scheduled.markers.map((m) => m.kind)).toEqual(["created", "start"]);
  });

  it("a job cancelled before its start never runs", () => {
    const g = jobGeometry(
      job({ status: "cancelled", created: T0, start: T0 + 48 * MIN, end: T0 + 12 * MIN }),
      view,
      T0 + 50 * MIN,
    );
    expect(g.spans).toEqual([{ kind: "waiting", from: 0, to: 0.2 }]);
  });

  it("clips to the view and leaves out what is outside", () => {
    const g = jobGeometry(
      job({
        status: "completed",
        created: T0 - 600 * MIN,
        start: T0 - 500 * MIN,
        end: T0 + 6 * MIN,
      }),
      view,
      T0,
    );
    expect(g.spans).toEqual([{ kind: "running", from: -0.01, to: 0.1 }]);
    expect(g.markers.map((m) => m.kind)).toEqual(["end"]);
    const gone = jobGeometry(
      job({ status: "completed", created: T0 - 9e6, start: T0 - 8e6, end: T0 - 7e6 }),
      view,
      T0,
    );
    expect(gone.spans).toEqual([]);
    expect(gone.markers).toEqual([]);
  });
});

describe("fitView", () => {
  it("covers every job with a margin, and now for unfinished ones", () => {
    const now = T0 + 120 * MIN;
    const v = fitView(
      [
        job({ status: "completed", created: T0, start: T0, end: T0 + 10 * MIN }),
        job({ status: "running", created: T0 + 60 * MIN, start: T0 + 60 * MIN }),
      ],
      now,
    );
    expect(v.start).toBeLessThan(T0);
    expect(v.end).toBeGreaterThan(now);
    expect(v.end - v.start).toBeLessThan(150 * MIN);
  });

  it("shows the last hour around now without jobs", () => {
    const v = fitView([], T0);
    expect(v.start).toBeLessThan(T0);
    expect(v.end).toBeGreaterThan(T0);
  });
});
