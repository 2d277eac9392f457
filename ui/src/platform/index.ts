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
import type { ArchivedJob } from "./bindings/ArchivedJob";
import type { BuilderDefaults } from "./bindings/BuilderDefaults";
import type { CommandError } from "./bindings/CommandError";
import type { DeviceConnectionView } from "./bindings/DeviceConnectionView";
import type { DeviceResult } from "./bindings/DeviceResult";
import type { DeviceResultsPage } from "./bindings/DeviceResultsPage";
import type { DeviceResultsQuery } from "./bindings/DeviceResultsQuery";
import type { DraftField } from "./bindings/DraftField";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { ErrorWords } from "./bindings/ErrorWords";
import type { ErrorWordsKind } from "./bindings/ErrorWordsKind";
import type { ExportFormat } from "./bindings/ExportFormat";
import type { ExportedFile } from "./bindings/ExportedFile";
import type { FieldError } from "./bindings/FieldError";
import type { FleetView } from "./bindings/FleetView";
import type { HubTier } from "./bindings/HubTier";
import type { JobDetailView } from "./bindings/JobDetailView";
import type { JobDraft } from "./bindings/JobDraft";
import type { JobFilter } from "./bindings/JobFilter";
import type { JobKind } from "./bindings/JobKind";
import type { JobPreview } from "./bindings/JobPreview";
import type { JobProgress } from "./bindings/JobProgress";
import type { JobSummary } from "./bindings/JobSummary";
import type { JobUpdate } from "./bindings/JobUpdate";
import type { KnobsView } from "./bindings/KnobsView";
import type { LocalHubView } from "./bindings/LocalHubView";
import type { LockView } from "./bindings/LockView";
import type { MaskedSecret } from "./bindings/MaskedSecret";
import type { ProfileKind } from "./bindings/ProfileKind";
import type { ProfileSummary } from "./bindings/ProfileSummary";
import type { ProfilesView } from "./bindings/ProfilesView";
import type { RenderForm } from "./bindings/RenderForm";
import type { SecretKind } from "./bindings/SecretKind";
import type { StartMode } from "./bindings/StartMode";
import type { StatusCount } from "./bindings/StatusCount";
import type { SubmitOutcome } from "./bindings/SubmitOutcome";
import type { TierName } from "./bindings/TierName";
import type { JsonValue } from "./bindings/serde_json/JsonValue";

export type {
  ActivityDetail,
  ActivityEntry,
  AddAzureProfile,
  AddedProfile,
  AppStatus,
  ArchivedJob,
  BuilderDefaults,
  CommandError,
  DeviceConnectionView,
  DeviceResult,
  DeviceResultsPage,
  DeviceResultsQuery,
  DraftField,
  ErrorCode,
  ErrorWords,
  ErrorWordsKind,
  ExportFormat,
  ExportedFile,
  FieldError,
  FleetView,
  HubTier,
  JobDetailView,
  JobDraft,
  JobFilter,
  JobKind,
  JobPreview,
  JobProgress,
  JobSummary,
  JobUpdate,
  JsonValue,
  KnobsView,
  LocalHubView,
  LockView,
  MaskedSecret,
  ProfileKind,
  ProfileSummary,
  ProfilesView,
  RenderForm,
  SecretKind,
  StartMode,
  StatusCount,
  SubmitOutcome,
  TierName,
};
export type Unsubscribe = UnlistenFn;

/** Names of the events Rust emits; must match `src-tauri/src/events.rs`. */
const EVENTS = {
  appStatus: "app-status",
  profilesChanged: "profiles-changed",
  lockChanged: "lock-changed",
  lockActivity: "lock-activity",
  jobUpdated: "job-updated",
  fleetChanged: "fleet-changed",
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

/** Sets an Azure profile's tier and units (null: not known), which set its query budget. */
export function setProfileTier(id: string, tier: HubTier | null): Promise<ProfilesView> {
  return call<ProfilesView>("set_profile_tier", { id, tier });
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

/**
 * Starts the local hub again after it failed to start; resolves with its view, or rejects
 * with why it still does not start (the local profile's `unavailable` follows by event).
 */
export function retryLocalHub(): Promise<LocalHubView> {
  return call<LocalHubView>("retry_local_hub");
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

// --- jobs ---------------------------------------------------------------------------------

/** A fresh job form (new job id, default numbers) and the lock's device id for "This lock". */
export function jobDefaults(): Promise<BuilderDefaults> {
  return call<BuilderDefaults>("job_defaults");
}

/** Every problem Rust finds in a draft; empty when it can be submitted. */
export function validateJob(draft: JobDraft): Promise<FieldError[]> {
  return call<FieldError[]>("validate_job", { draft });
}

/**
 * What a query condition selects on the active hub: how many devices, how many connected,
 * the first ids. A bad condition fails with `invalidInput` (field `queryCondition`).
 */
export function previewCondition(condition: string): Promise<JobPreview> {
  return call<JobPreview>("preview_condition", { condition });
}

/**
 * Validates and submits a job. Field problems come back as `{outcome: "invalid"}` (nothing
 * was sent); the hub refusing it rejects with a `hubRejected` (or other) {@link CommandError}.
 */
export function submitJob(draft: JobDraft): Promise<SubmitOutcome> {
  return call<SubmitOutcome>("submit_job", { draft });
}

/** A draft as an `az iot hub job create` command or a REST request, without secrets. */
export function renderJob(draft: JobDraft, form: RenderForm): Promise<string> {
  return call<string>("render_job", { draft, form });
}

/** The archived jobs of the active profile, most recent first. */
export function listJobs(filter: JobFilter): Promise<JobSummary[]> {
  return call<JobSummary[]>("list_jobs", { filter });
}

/** Imports the hub's jobs into the archive and watches the unfinished ones; how many it read. */
export function refreshJobs(): Promise<number> {
  return call<number>("refresh_jobs");
}

/** An archived job with the request as sent and its device counts per status. */
export function jobDetail(jobId: string): Promise<JobDetailView> {
  return call<JobDetailView>("job_detail", { jobId });
}

/** One page of a job's per-device results (status filter, keyset cursor). */
export function deviceResults(
  jobId: string,
  query: DeviceResultsQuery,
): Promise<DeviceResultsPage> {
  return call<DeviceResultsPage>("device_results", { jobId, query });
}

/** Cancels a job on the hub; resolves with the job as the hub then reports it. */
export function cancelJob(jobId: string): Promise<JobSummary> {
  return call<JobSummary>("cancel_job", { jobId });
}

/** An archived job as a new draft (new job id, starting now). */
export function cloneJob(jobId: string): Promise<JobDraft> {
  return call<JobDraft>("clone_job", { jobId });
}

/** Writes a job's device results as CSV or JSON (to Downloads); resolves with where. */
export function exportResults(jobId: string, format: ExportFormat): Promise<ExportedFile> {
  return call<ExportedFile>("export_results", { jobId, format });
}

/** Tells Rust whether the window is visible: job polling pauses while it is hidden. */
export async function setWindowVisible(visible: boolean): Promise<void> {
  await call<null>("set_window_visible", { visible });
}

/** Calls `handler` with every job update (a poll that changed something, submit, cancel). */
export function onJobUpdated(handler: (update: JobUpdate) => void): Promise<Unsubscribe> {
  return subscribe(EVENTS.jobUpdated, handler);
}

// --- the simulated fleet (local hub only) ------------------------------------------------------

/** The simulated fleet of the active profile (`available` is false on Azure profiles). */
export function fleetStatus(): Promise<FleetView> {
  return call<FleetView>("fleet_status");
}

/** Starts adding 10, 100, 1,000 or 10,000 simulated door locks; progress via `fleet-changed`. */
export function addSimulatedDevices(count: 10 | 100 | 1000 | 10000): Promise<FleetView> {
  return call<FleetView>("add_simulated_devices", { count });
}

/** Calls `handler` with every change of the simulated fleet. */
export function onFleetChanged(handler: (view: FleetView) => void): Promise<Unsubscribe> {
  return subscribe(EVENTS.fleetChanged, handler);
}
