// The components rendered to HTML with Svelte's server renderer: what the first paint holds
// (fields, test ids, values, windowing of long lists). Interaction runs in the real window
// (the e2e tests), since this environment has no DOM.
process.env.TZ = "Europe/Berlin";

import { describe, expect, it } from "vitest";
import { render } from "svelte/server";

import JobBuilder from "./JobBuilder.svelte";
import JobDetail from "./JobDetail.svelte";
import Timeline from "./Timeline.svelte";
import type { DeviceResult, JobDraft, JobPreview, JobSummary, SubmitResult } from "./types";

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);

const preview = (): Promise<JobPreview> =>
  Promise.resolve({ matching: 1, connected: 1, firstDeviceIds: ["door-lock"], warnings: [] });
const submit = (draft: JobDraft): Promise<SubmitResult> =>
  Promise.resolve({ kind: "scheduled", jobId: draft.jobId });

function count(html: string, pattern: RegExp): number {
  return html.match(pattern)?.length ?? 0;
}

/** Every element with `data-testid="<id>"`, as its opening tag. */
function tags(html: string, id: string): string[] {
  return html.match(new RegExp(`<[a-z]+[^>]*data-testid="${id}"[^>]*>`, "g")) ?? [];
}

function builder(props: Record<string, unknown> = {}) {
  return render(JobBuilder, {
    props: {
      preview,
      submit,
      now: () => NOW,
      newJobId: () => "11111111-2222-4333-8444-555555555555",
      ...props,
    },
  }).body;
}

describe("JobBuilder", () => {
  it("has every documented field of a method job, with the hub's defaults", () => {
    const html = builder({ thisDeviceId: "door-lock" });
    for (const id of [
      "job-type",
      "query-condition",
      "query-preview-count",
      "method-name",
      "method-payload",
      "start-mode",
      "max-execution-time",
      "job-id",
      "submit-job",
    ]) {
      expect(tags(html, id), id).toHaveLength(1);
    }
    expect(tags(html, "response-timeout")[0]).toContain('value="30"');
    expect(tags(html, "connect-timeout")[0]).toContain('value="0"');
    expect(tags(html, "max-execution-time")[0]).toContain('value="3600"');
    expect(tags(html, "job-id")[0]).toContain('value="11111111-2222-4333-8444-555555555555"');
    expect(tags(html, "preset-this-lock")[0]).toContain("title=\"deviceId = 'door-lock'\"");
    // Twin editors and the start time appear only when they apply.
    expect(tags(html, "twin-desired")).toHaveLength(0);
    expect(tags(html, "start-at")).toHaveLength(0);
    // No error is shown before the person has touched anything.
    expect(html).not.toContain('aria-invalid="true"');
  });

  it("shows the twin editors and the start time with its UTC value", () => {
    const desired = builder({ initial: { jobType: "twinDesired", twinDesired: '{"floor": 3}' } });
    expect(tags(desired, "twin-desired")).toHaveLength(1);
    expect(desired).toContain('data-testid="twin-desired" aria-describedby');
    expect(desired).toContain('>{"floor": 3}</textarea>');
    expect(tags(desired, "method-name")).toHaveLength(0);
    const tagsJob = builder({ initial: { jobType: "twinTags" } });
    expect(tags(tagsJob, "twin-tags")).toHaveLength(1);
    const later = builder({ initial: { startMode: "at", startAt: "2025-06-01T12:30:00Z" } });
    expect(tags(later, "start-at")[0]).toContain('value="2025-06-01T14:30"');
    expect(later).toContain("= 2025-06-01 12:30 UTC");
  });

  it("takes a cloned draft as it is", () => {
    const html = builder({
      initial: {
        jobId: "nightly-lock",
        queryCondition: "tags.building = 43",
        methodName: "lockDoor",
        maxExecutionTimeInSeconds: 60,
      },
    });
    expect(tags(html, "job-id")[0]).toContain('value="nightly-lock"');
    expect(tags(html, "method-name")[0]).toContain('value="lockDoor"');
    expect(html).toContain("tags.building = 43</textarea>");
    expect(tags(html, "max-execution-time")[0]).toContain('value="60"');
  });

  it("offers the copy buttons only when the parent provides them", () => {
    expect(tags(builder(), "copy-az")).toHaveLength(0);
    const html = builder({ copyAzCli: () => Promise.resolve(), copyRest: () => Promise.resolve() });
    expect(tags(html, "copy-az")).toHaveLength(1);
    expect(tags(html, "copy-rest")).toHaveLength(1);
  });
});

function job(i: number, over: Partial<JobSummary> = {}): JobSummary {
  const created = new Date(NOW - (1000 - i) * 60_000).toISOString();
  return {
    profileId: "local",
    jobId: `job-${String(i).padStart(4, "0")}`,
    jobType: "scheduleDeviceMethod",
    kind: "method",
    status: i % 3 === 0 ? "running" : "completed",
    finished: i % 3 !== 0,
    queryCondition: "tags.building = 43",
    methodName: "lockDoor",
    createdTime: created,
    startTime: created,
    endTime: i % 3 === 0 ? null : new Date(Date.parse(created) + 30_000).toISOString(),
    maxExecutionTimeInSeconds: 3600,
    progress: {
      deviceCount: 10,
      succeededCount: 7,
      failedCount: 1,
      runningCount: 2,
      pendingCount: 0,
    },
    failureReason: null,
    statusMessage: null,
    createdByMe: true,
    firstSeen: created,
    lastSeen: created,
    ...over,
  };
}

describe("Timeline", () => {
  it("renders only the rows in view for a thousand jobs, newest first", () => {
    const jobs = Array.from({ length: 1000 }, (_, i) => job(i));
    const html = render(Timeline, { props: { jobs, now: NOW } }).body;
    const rows = tags(html, "job-row");
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThan(25);
    expect(rows[0]).toContain('data-job-id="job-0999"');
    expect(rows[0]).toContain('data-status="running"');
    expect(rows[1]).toContain('data-job-id="job-0998"');
    expect(rows[1]).toContain('data-status="completed"');
    expect(html).toContain("1000 of 1000 jobs");
    // The spacer after the rendered rows stands for the rest of the thousand rows.
    const heights = [...html.matchAll(/<svg width="1" height="(\d+)"/g)].map((m) => Number(m[1]));
    expect(heights[0]).toBe(0);
    expect(heights[1]).toBe((1000 - rows.length) * 56);
  });

  it("shows progress and marks the selected job", () => {
    const html = render(Timeline, {
      props: { jobs: [job(1)], now: NOW, selectedJobId: "job-0001" },
    }).body;
    expect(tags(html, "job-row")[0]).toContain('aria-selected="true"');
    expect(html).toContain(
      'aria-valuetext="8 of 10 devices done: 7 succeeded, 1 failed, 2 running"',
    );
    expect(html).toContain(">8/10</span>");
  });

  it("says when there are no jobs", () => {
    const html = render(Timeline, { props: { jobs: [], now: NOW } }).body;
    expect(tags(html, "job-row")).toHaveLength(0);
    expect(html).toContain("No jobs yet.");
  });
});

function result(i: number): DeviceResult {
  return {
    deviceId: `sim-${String(i).padStart(6, "0")}`,
    status: i % 10 === 0 ? "failed" : "completed",
    startTime: "2025-06-01T12:00:00.0000000Z",
    endTime: "2025-06-01T12:00:01.0000000Z",
    methodStatus: i % 10 === 0 ? null : 200,
    methodPayload: i % 10 === 0 ? null : '{"locked":true}',
    errorCode: i % 10 === 0 ? "DeviceNotOnline" : null,
    errorDescription: i % 10 === 0 ? "Timed out waiting for device to connect" : null,
    lastUpdated: null,
  };
}

describe("JobDetail", () => {
  const rows = Array.from({ length: 100_000 }, (_, i) => result(i));

  it("windows a hundred thousand device rows", () => {
    const html = render(JobDetail, {
      props: { job: job(3), rows, now: NOW, cancel: () => Promise.resolve() },
    }).body;
    expect(tags(html, "job-detail")).toHaveLength(1);
    const shown = tags(html, "device-result-row");
    expect(shown.length).toBeGreaterThan(5);
    expect(shown.length).toBeLessThan(40);
    expect(shown[0]).toContain('data-device-id="sim-000000"');
    expect(html).toContain('aria-rowcount="100001"');
    expect(tags(html, "cancel-job")).toHaveLength(1);
    expect(html).toContain("DeviceNotOnline");
  });

  it("filters by status on its own when the parent does not", () => {
    const html = render(JobDetail, {
      props: { job: job(1), rows: rows.slice(0, 1000), statusFilter: "failed", now: NOW },
    }).body;
    const shown = tags(html, "device-result-row");
    expect(shown.every((row) => row.includes('data-status="failed"'))).toBe(true);
    expect(html).toContain('aria-rowcount="101"');
  });

  it("shows loading rows past what the parent has loaded", () => {
    const html = render(JobDetail, {
      props: {
        job: job(1),
        rows: rows.slice(0, 3),
        total: 100_000,
        onstatusfilter: () => {},
        onloadmore: () => {},
        now: NOW,
      },
    }).body;
    expect(tags(html, "device-result-row")).toHaveLength(3);
    expect(html).toContain("Loading…");
    expect(html).toContain("3 of 100,000 loaded");
  });

  it("reads rows through rowAt when the parent pages them, showing loading rows for the gaps", () => {
    // Only rows 2..9 are loaded (a page in the middle of 100,000).
    const rowAt = (index: number) => (index >= 2 && index < 10 ? result(index) : undefined);
    const html = render(JobDetail, {
      props: {
        job: job(1),
        rows: [],
        rowAt,
        loaded: 8,
        total: 100_000,
        onstatusfilter: () => {},
        onwindow: () => {},
        now: NOW,
      },
    }).body;
    const shown = tags(html, "device-result-row");
    expect(shown).toHaveLength(8);
    expect(shown[0]).toContain('data-device-id="sim-000002"');
    expect(html).toContain("Loading…");
    expect(html).toContain('aria-rowcount="100001"');
    expect(html).toContain("8 of 100,000 loaded");
  });

  it("offers cancel only while the job can still be cancelled, and shows the request", () => {
    const html = render(JobDetail, {
      props: {
        job: job(1),
        rows: [],
        requestJson: '{\n  "jobId": "job-0001"\n}',
        cancel: () => Promise.resolve(),
        now: NOW,
      },
    }).body;
    expect(tags(html, "cancel-job")).toHaveLength(0);
    expect(tags(html, "job-request")).toHaveLength(1);
    expect(html).toContain('"jobId": "job-0001"');
    expect(html).toContain("No device results yet.");
  });
});

describe("CSP", () => {
  it("no component writes an inline style attribute", () => {
    const all = [
      builder({ initial: { startMode: "at", startAt: "2025-06-01T12:30:00Z" } }),
      render(Timeline, { props: { jobs: [job(1), job(3)], now: NOW } }).body,
      render(JobDetail, { props: { job: job(3), rows: [result(0), result(1)], now: NOW } }).body,
    ];
    for (const html of all) expect(count(html, /\sstyle=/g)).toBe(0);
  });
});
