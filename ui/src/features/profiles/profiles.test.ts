import { describe, expect, it } from "vitest";

import type { ProfileSummary } from "../../platform";
import {
  PROFILE_COLOURS,
  activeProfile,
  dotColour,
  isHexColour,
  nameProblem,
  chosenTier,
  pastedKind,
  sameTier,
  unusedColour,
} from "./profiles";

const local: ProfileSummary = {
  id: "local",
  name: "Local hub",
  kind: "local",
  hostName: "localhost:8443",
  colour: "#3b82f6",
  unavailable: null,
  tier: null,
  queriesPerMinute: null,
};
const azure: ProfileSummary = {
  id: "a1",
  name: "Production",
  kind: "azure",
  hostName: "prod.azure-devices.net",
  colour: "#10B981",
  unavailable: null,
  tier: null,
  queriesPerMinute: 10,
};

describe("activeProfile", () => {
  it("finds the active one", () => {
    expect(activeProfile({ profiles: [local, azure], activeId: "a1" })).toBe(azure);
    expect(activeProfile({ profiles: [local], activeId: null })).toBeUndefined();
    expect(activeProfile(undefined)).toBeUndefined();
  });
});

describe("nameProblem", () => {
  it("accepts a fresh name and says what is wrong otherwise", () => {
    expect(nameProblem("  Staging ", [local, azure])).toBeUndefined();
    expect(nameProblem("   ")).toBe("Give the profile a name.");
    expect(nameProblem("x".repeat(61))).toBe("Keep the name to 60 characters (it has 61).");
    expect(nameProblem("production", [local, azure])).toBe(
      "A profile named “production” already exists.",
    );
  });
});

describe("colours", () => {
  it("picks a colour nobody uses yet, case-insensitively", () => {
    expect(unusedColour([local, azure])).toBe(PROFILE_COLOURS[2]);
    expect(unusedColour([])).toBe(PROFILE_COLOURS[0]);
  });

  it("accepts only hex colours for the dot", () => {
    expect(isHexColour("#abc")).toBe(true);
    expect(isHexColour("#A1B2C3")).toBe(true);
    expect(isHexColour("red")).toBe(false);
    expect(isHexColour("#12345")).toBe(false);
    expect(dotColour({ ...azure, colour: "url(x)" })).toBe("#64748b");
    expect(dotColour(azure)).toBe("#10B981");
  });
});

describe("pastedKind", () => {
  it("tells service from device connection strings by their keys", () => {
    expect(pastedKind("")).toBe("empty");
    expect(pastedKind("HostName=h;SharedAccessKeyName=owner;SharedAccessKey=abc=")).toBe("service");
    expect(pastedKind("HostName=h;DeviceId=d;SharedAccessKey=abc=")).toBe("device");
    expect(pastedKind("garbage")).toBe("other");
  });
});

describe("the hub tier from the profile dialog", () => {
  it("is null when not known; Free has one unit; other counts are whole and at least 1", () => {
    expect(chosenTier("", 5)).toBeNull();
    expect(chosenTier("S1", 4)).toEqual({ name: "S1", units: 4 });
    expect(chosenTier("F1", 3)).toEqual({ name: "F1", units: 1 });
    expect(chosenTier("S3", 2.4)).toEqual({ name: "S3", units: 2 });
    // Rust refuses counts a tier cannot have (an S3 hub has at most 10), in words.
    expect(chosenTier("S3", 40)).toEqual({ name: "S3", units: 40 });
    expect(chosenTier("S2", 0)).toEqual({ name: "S2", units: 1 });
    expect(chosenTier("S2", Number.NaN)).toEqual({ name: "S2", units: 1 });
  });
  it("compares tiers by name and units", () => {
    expect(sameTier(null, null)).toBe(true);
    expect(sameTier(null, { name: "S1", units: 1 })).toBe(false);
    expect(sameTier({ name: "S1", units: 2 }, { name: "S1", units: 2 })).toBe(true);
    expect(sameTier({ name: "S1", units: 2 }, { name: "S2", units: 2 })).toBe(false);
  });
});
