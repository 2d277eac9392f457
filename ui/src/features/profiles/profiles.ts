// Pure helpers for the profile sidebar and its dialogs.

import type { HubTier, ProfileSummary, ProfilesView, TierName } from "../../platform";

/** Colours offered for a profile's dot; the local profile starts with the first. */
export const PROFILE_COLOURS = [
  "#3b82f6",
  "#10b981",
  "#f59e0b",
  "#ef4444",
  "#8b5cf6",
  "#ec4899",
  "#14b8a6",
  "#64748b",
] as const;

/** The longest profile name the dialogs accept. */
export const MAX_NAME_LENGTH = 60;

/** The active profile, if any. */
export function activeProfile(view: ProfilesView | undefined): ProfileSummary | undefined {
  if (!view || view.activeId === null) return undefined;
  return view.profiles.find((profile) => profile.id === view.activeId);
}

/** Why a profile name cannot be used, or undefined when it can (after trimming). */
export function nameProblem(
  name: string,
  others: readonly ProfileSummary[] = [],
): string | undefined {
  const trimmed = name.trim();
  if (trimmed === "") return "Give the profile a name.";
  if (trimmed.length > MAX_NAME_LENGTH) {
    return `Keep the name to ${MAX_NAME_LENGTH} characters (it has ${trimmed.length}).`;
  }
  const lower = trimmed.toLowerCase();
  if (others.some((profile) => profile.name.trim().toLowerCase() === lower)) {
    return `A profile named “${trimmed}” already exists.`;
  }
  return undefined;
}

/** A colour the profiles do not use yet (the first of the palette when all are taken). */
export function unusedColour(profiles: readonly ProfileSummary[]): string {
  const used = new Set(profiles.map((profile) => profile.colour.toLowerCase()));
  return PROFILE_COLOURS.find((colour) => !used.has(colour)) ?? PROFILE_COLOURS[0];
}

/** Whether `colour` is a CSS hex colour Rust will accept and an SVG fill can show. */
export function isHexColour(colour: string): boolean {
  return /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(colour);
}

/** The colour to draw for a profile: its own when valid, a neutral grey otherwise. */
export function dotColour(profile: ProfileSummary): string {
  return isHexColour(profile.colour) ? profile.colour : "#64748b";
}

/** What the pasted text is, judged without parsing its secret: helps the inline hint. */
export function pastedKind(text: string): "empty" | "device" | "service" | "other" {
  const trimmed = text.trim();
  if (trimmed === "") return "empty";
  const keys = trimmed.split(";").map((pair) => pair.split("=", 1)[0]?.trim() ?? "");
  if (keys.includes("DeviceId")) return "device";
  if (keys.includes("SharedAccessKeyName")) return "service";
  return "other";
}

/** The tiers the profile dialog offers, smallest quota first. */
export const TIER_NAMES: readonly TierName[] = ["F1", "S1", "S2", "S3"];

/**
 * The tier to save from the dialog's fields: null when the person does not know it. A Free
 * hub has one unit; other counts go to Rust as typed (whole, at least 1), which refuses
 * those the tier cannot have, in words.
 */
export function chosenTier(name: TierName | "", units: number): HubTier | null {
  if (name === "") return null;
  if (name === "F1") return { name, units: 1 };
  return { name, units: Number.isFinite(units) ? Math.max(Math.round(units), 1) : 1 };
}

/** Whether two tiers (or "not known") are the same. */
export function sameTier(a: HubTier | null, b: HubTier | null): boolean {
  return a === null || b === null ? a === b : a.name === b.name && a.units === b.units;
}
