// The sidebar rendered to HTML with Svelte's server renderer: how a local hub that did not
// start shows (its reason and Retry). Clicking Retry runs in the real window (e2e).

import { describe, expect, it } from "vitest";
import { render } from "svelte/server";

import type { ProfilesView } from "../../platform";
import { session } from "../../session.svelte";
import Sidebar from "./Sidebar.svelte";

const REASON =
  "The local hub did not start: cannot use the data directory /data/localhub: File exists (os error 17).";

function view(unavailable: string | null): ProfilesView {
  return {
    activeId: "local",
    profiles: [
      {
        id: "local",
        name: "Local hub",
        kind: "local",
        hostName: "localhost:8443",
        colour: "#3b82f6",
        unavailable,
        tier: null,
        queriesPerMinute: null,
      },
      {
        id: "a1",
        name: "Production",
        kind: "azure",
        hostName: "prod.azure-devices.net",
        colour: "#10b981",
        unavailable: null,
        tier: null,
        queriesPerMinute: 10,
      },
    ],
  };
}

/** Every element with `data-testid="<id>"`, as its opening tag. */
function tags(html: string, id: string): string[] {
  return html.match(new RegExp(`<[a-z]+[^>]*data-testid="${id}"[^>]*>`, "g")) ?? [];
}

describe("Sidebar", () => {
  it("shows why the local hub is not running, with a Retry", () => {
    session.profiles = view(REASON);
    const html = render(Sidebar).body;
    const items = tags(html, "profile-item");
    expect(items).toHaveLength(2);
    expect(items[0]).toContain('data-unavailable="true"');
    expect(items[1]).toContain('data-unavailable="false"');
    expect(tags(html, "profile-unavailable")).toHaveLength(1);
    expect(html).toContain(REASON);
    expect(html).toContain("Not running");
    expect(tags(html, "retry-local-hub")).toHaveLength(1);
  });

  it("shows no reason and no Retry while the hub runs", () => {
    session.profiles = view(null);
    const html = render(Sidebar).body;
    expect(tags(html, "profile-item")[0]).toContain('data-unavailable="false"');
    expect(tags(html, "profile-unavailable")).toHaveLength(0);
    expect(tags(html, "retry-local-hub")).toHaveLength(0);
    expect(html).toContain("localhost:8443");
  });
});
