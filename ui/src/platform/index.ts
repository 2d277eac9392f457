// The only module that talks to Tauri. Every call to Rust and every event from Rust goes
// through the typed functions here; the rest of the UI imports from "src/platform" and never
// from "@tauri-apps/*" (eslint enforces it). Wire types are generated from Rust by ts-rs into
// ./bindings and re-exported, never written by hand.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

import type { ActivityDetail } from "./bindings/ActivityDetail";
import type { ActivityEntry } from "./bindings/ActivityEntry";
import type { AddAzureProfile } from "./bindings/AddAzureProfile";
import type { AddedProfile } from "./bindings/AddedProfile";
import type { AppStatus } from "./bindings/AppStatus";
import type { CommandError } from "./bindings/CommandError";
import type { DeviceConnectionView } from "./bindings/DeviceConnectionView";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { KnobsView } from "./bindings/KnobsView";
import type { LocalHubView } from "./bindings/LocalHubView";
import type { LockView } from "./bindings/LockView";
import type { MaskedSecret } from "./bindings/MaskedSecret";
import type { ProfileKind } from "./bindings/ProfileKind";
import type { ProfileSummary } from "./bindings/ProfileSummary";
import type { ProfilesView } from "./bindings/ProfilesView";
import type { SecretKind } from "./bindings/SecretKind";
import type { JsonValue } from "./bindings/serde_json/JsonValue";

export type {
  ActivityDetail,
  ActivityEntry,
  AddAzureProfile,
  AddedProfile,
  AppStatus,
  CommandError,
  DeviceConnectionView,
  ErrorCode,
  JsonValue,
  KnobsView,
  LocalHubView,
  LockView,
  MaskedSecret,
  ProfileKind,
  ProfileSummary,
  ProfilesView,
  SecretKind,
};
export type Unsubscribe = UnlistenFn;

/** Names of the events Rust emits; must match `src-tauri/src/events.rs`. */
const EVENTS = {
  appStatus: "app-status",
  profilesChanged: "profiles-changed",
  lockChanged: "lock-changed",
  lockActivity: "lock-activity",
} as const;

/** Turns whatever a rejected command threw into a {@link CommandError}. */
export function toCommandError(thrown: unknown): CommandError {
  if (
    typeof thrown === "object" &&
    thrown !== null &&
    "code" in thrown &&
    "message" in thrown &&
    typeof thrown.message === "string"
  ) {
    return thrown as CommandError;
  }
  return { code: "internal", message: String(thrown) };
}

/** The input field a failed command blames (`invalidInput` errors may name one). */
export function errorField(error: CommandError): string | undefined {
  const field: unknown = (error as { field?: unknown }).field;
  return typeof field === "string" ? field : undefined;
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (thrown) {
    throw toCommandError(thrown);
  }
}

function subscribe<T>(event: string, handler: (payload: T) => void): Promise<Unsubscribe> {
  return listen<T>(event, (received) => handler(received.payload));
}

// --- start-up -----------------------------------------------------------------------------

/** Where the app is in its start-up (keychain check, local hub, lock). */
export function appStatus(): Promise<AppStatus> {
  return call<AppStatus>("app_status");
}

/** Checks the keychain again and starts over; used by the keychain help screen. */
export function retryStart(): Promise<AppStatus> {
  return call<AppStatus>("retry_start");
}

/** Calls `handler` with every start-up phase change. */
export function onAppStatus(handler: (status: AppStatus) => void): Promise<Unsubscribe> {
  return subscribe(EVENTS.appStatus, handler);
}

// --- profiles -----------------------------------------------------------------------------

/** All hub profiles and which one is active. */
export function listProfiles(): Promise<ProfilesView> {
  return call<ProfilesView>("list_profiles");
}

/**
 * Adds an Azure IoT Hub profile from a pasted service connection string. Rust parses it,
 * checks it against the hub and stores the secret in the keychain; any failure stores nothing.
 */
export function addAzureProfile(request: AddAzureProfile): Promise<AddedProfile> {
  return call<AddedProfile>("add_azure_profile", { request });
}

/** Gives a profile a new name. */
export function renameProfile(id: string, name: string): Promise<ProfilesView> {
  return call<ProfilesView>("rename_profile", { id, name });
}

/** Changes the colour that marks a profile (a CSS hex colour). */
export function setProfileColour(id: string, colour: string): Promise<ProfilesView> {
  return call<ProfilesView>("set_profile_colour", { id, colour });
}

/** Makes a profile the active one; the lock follows it. */
export function switchProfile(id: string): Promise<ProfilesView> {
  return call<ProfilesView>("switch_profile", { id });
}

/** Deletes a profile and its keychain entries (the local profile cannot be deleted). */
export function deleteProfile(id: string): Promise<ProfilesView> {
  return call<ProfilesView>("delete_profile", { id });
}

/** Calls `handler` whenever the profiles or the active profile change. */
export function onProfilesChanged(handler: (view: ProfilesView) => void): Promise<Unsubscribe> {
  return subscribe(EVENTS.profilesChanged, handler);
}

// --- local hub ----------------------------------------------------------------------------

/** Where the embedded local hub listens and how to reach it (secrets masked). */
export function localHubInfo(): Promise<LocalHubView> {
  return call<LocalHubView>("local_hub_info");
}

/** The plain text of a local hub secret; only on an explicit reveal or copy by the user. */
export function revealSecret(kind: SecretKind): Promise<string> {
  return call<string>("reveal_secret", { kind });
}

// --- the virtual door lock ----------------------------------------------------------------

/** The lock of the active profile. */
export function lockView(): Promise<LockView> {
  return call<LockView>("lock_view");
}

/** The lock's activity log, newest first. */
export function lockActivity(): Promise<ActivityEntry[]> {
  return call<ActivityEntry[]>("lock_activity");
}

/** Empties the activity log. */
export async function clearActivity(): Promise<void> {
  await call<null>("clear_activity");
}

/** Device ids on the active hub (the first 200), to pick the lock device from. */
export function listHubDevices(): Promise<string[]> {
  return call<string[]>("list_hub_devices");
}

/** Makes `deviceId` the lock device, creating its identity on the hub first when `create`. */
export function useLockDevice(deviceId: string, create: boolean): Promise<LockView> {
  return call<LockView>("use_lock_device", { deviceId, create });
}

/** Makes the device of a pasted device connection string the lock device. */
export function useLockConnectionString(connectionString: string): Promise<LockView> {
  return call<LockView>("use_lock_connection_string", { connectionString });
}

/** Connects the lock device to its hub. */
export function connectLock(): Promise<LockView> {
  return call<LockView>("connect_lock");
}

/** Disconnects the lock device. */
export function disconnectLock(): Promise<LockView> {
  return call<LockView>("disconnect_lock");
}

/** Sets the rehearsal switches (error answers, no answers, offline). */
export function setLockKnobs(knobs: KnobsView): Promise<LockView> {
  return call<LockView>("set_lock_knobs", { knobs });
}

/** Calls `handler` with every change of the lock (state, connection, desired, switches). */
export function onLockChanged(handler: (view: LockView) => void): Promise<Unsubscribe> {
  return subscribe(EVENTS.lockChanged, handler);
}

/** Calls `handler` with every new activity log entry. */
export function onLockActivity(handler: (entry: ActivityEntry) => void): Promise<Unsubscribe> {
  return subscribe(EVENTS.lockActivity, handler);
}
