//! The wire types the UI sees: requests, views and events, exactly as the Rust↔UI contract
//! spells them. Each derives `ts_rs::TS`; `cargo test` writes them to
//! `ui/src/platform/bindings` (see `.cargo/config.toml`).
//!
//! Timestamps are RFC 3339 UTC strings; JSON values are `serde_json::Value` (`JsonValue` in
//! TypeScript). 64-bit integers are JSON numbers on the wire, so they are typed `number`
//! rather than ts-rs's default `bigint`.

use localhub::hub::tier::{Tier, TierConfig, TierError};
use lockstep_jobs::archive::{ArchivedJob, StatusCount};
use lockstep_jobs::draft::{FieldError, JobDraft};
use lockstep_jobs::summary::JobSummary;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

/// Where a profile's hub lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ProfileKind {
    /// The local hub running inside the app.
    Local,
    /// An Azure IoT Hub reached with a service connection string.
    Azure,
}

/// A profile as the sidebar lists it. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProfileSummary {
    /// Stable id (`local` for the local hub).
    pub id: String,
    /// What the user calls it.
    pub name: String,
    /// Local hub or Azure.
    pub kind: ProfileKind,
    /// The hub's host name (with port for the local hub).
    pub host_name: String,
    /// A CSS colour, e.g. `#3b82f6`.
    pub colour: String,
    /// Why the profile's hub cannot be used now, with what to do (the local hub did not
    /// start); `None` when it can.
    pub unavailable: Option<String>,
    /// An Azure hub's tier and units as the person gave them; `None`: not given (the
    /// smallest is assumed) or the local hub.
    pub tier: Option<HubTier>,
    /// The queries a minute Lockstep spends on this hub's job results: half of its tier's
    /// quota; `None` on the local hub (no limit).
    pub queries_per_minute: Option<u32>,
}

/// The tiers that run jobs, as the profile dialog offers them (Basic tiers have no jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum TierName {
    /// Free: one unit.
    F1,
    /// Standard 1: up to 200 units.
    S1,
    /// Standard 2: up to 200 units.
    S2,
    /// Standard 3: up to 10 units.
    S3,
}

/// An Azure hub's tier and number of units, as the person gave them. Azure does not tell
/// apps a hub's tier, and its query quota (S1: 20 queries a minute per unit) is what the app
/// budgets its queries by; the tier facts are localhub's [`Tier`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HubTier {
    /// The tier.
    pub name: TierName,
    /// How many units.
    pub units: u32,
}

impl HubTier {
    /// What the app assumes when the person did not say: the smallest quota.
    pub const ASSUMED: Self = Self {
        name: TierName::S1,
        units: 1,
    };

    /// The tier as localhub knows it, or why it has too few or too many units.
    pub fn config(self) -> Result<TierConfig, TierError> {
        let tier = match self.name {
            TierName::F1 => Tier::F1,
            TierName::S1 => Tier::S1,
            TierName::S2 => Tier::S2,
            TierName::S3 => Tier::S3,
        };
        TierConfig::new(tier, self.units)
    }
}

/// Every profile and which one is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProfilesView {
    /// In the order they were added; the local hub first.
    pub profiles: Vec<ProfileSummary>,
    /// The active profile, if any.
    pub active_id: Option<String>,
}

/// The app's start-up phase. The UI shows a splash while `starting`, the keychain help
/// screen on `keychainUnavailable`, an error screen on `failed`, the normal layout on
/// `ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "camelCase")]
#[ts(export)]
pub enum AppStatus {
    /// Checking the keychain, starting the local hub, restoring the profile.
    Starting,
    /// Everything is up.
    Ready,
    /// No OS keychain answers; Lockstep will not store secrets anywhere else.
    #[serde(rename_all = "camelCase")]
    KeychainUnavailable {
        /// The platform's diagnostic.
        detail: String,
        /// What to install or unlock.
        hint: String,
    },
    /// Start-up failed for another reason.
    Failed {
        /// What went wrong, in words.
        message: String,
    },
}

/// A secret shown masked until the user reveals it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MaskedSecret {
    /// The connection string with its key replaced by bullets.
    pub masked: String,
}

/// The local hub's coordinates, for pointing the official SDKs or the az CLI at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LocalHubView {
    /// The host clients use, without a port.
    pub host_name: String,
    /// The MQTT/TLS port devices connect to.
    pub mqtt_port: u16,
    /// The HTTPS port of the service API.
    pub https_port: u16,
    /// Whether the standard ports 8883/8443 were free and are used.
    pub preferred_ports: bool,
    /// Why other ports are used, and what that means for the official SDKs.
    pub port_note: Option<String>,
    /// The CA certificate to trust.
    pub ca_path: String,
    /// Where the hub keeps its data.
    pub data_dir: String,
    /// The `iothubowner` connection string, masked.
    pub service_connection_string: MaskedSecret,
    /// The lock device's connection string, masked, when there is one.
    pub device_connection_string: Option<MaskedSecret>,
    /// Registered devices.
    #[ts(type = "number")]
    pub device_count: u64,
}

/// Which secret of the local hub to reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum SecretKind {
    /// The `iothubowner` service connection string.
    ServiceConnectionString,
    /// The lock device's connection string.
    DeviceConnectionString,
}

/// Adding an Azure IoT Hub profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AddAzureProfile {
    /// The profile's name (the hub's name when empty).
    pub name: String,
    /// The shared access policy's connection string.
    pub connection_string: String,
}

/// What adding a profile did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AddedProfile {
    /// Every profile after the addition (the new one active).
    pub profiles: ProfilesView,
    /// The new profile.
    pub profile: ProfileSummary,
    /// Permissions jobs need that the policy lacks (`ServiceConnect`, `RegistryRead`,
    /// `RegistryWrite`).
    pub missing_permissions: Vec<String>,
    /// What the missing permissions mean, in words.
    pub warning: Option<String>,
}

/// The virtual lock's rehearsal switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KnobsView {
    /// Answer every method with this status instead of acting on it.
    pub respond_with_status: Option<i32>,
    /// Receive methods but never answer.
    pub never_respond: bool,
    /// Stay disconnected.
    pub offline: bool,
}

/// The lock device's connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "camelCase")]
#[ts(export)]
pub enum DeviceConnectionView {
    /// No lock device chosen on this profile yet.
    NotConfigured,
    /// Connecting.
    Connecting,
    /// Connected and subscribed.
    Connected,
    /// The connection failed or was lost; another attempt follows.
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        /// Failed attempts in a row, from 1.
        attempt: u32,
        /// When the next attempt starts (RFC 3339).
        retry_at: String,
        /// What went wrong.
        cause: String,
    },
    /// The "go offline" rehearsal switch is on.
    Offline,
    /// Stopped by the user, or refused by the hub (wrong key).
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// The virtual door lock as the lock card shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LockView {
    /// The profile whose hub the lock lives on.
    pub profile_id: String,
    /// The lock's device id, once chosen.
    pub device_id: Option<String>,
    /// `locked` or `unlocked`.
    pub state: String,
    /// When a timed lock opens by itself (RFC 3339), for the countdown.
    pub locked_until: Option<String>,
    /// The connection.
    pub connection: DeviceConnectionView,
    /// The desired properties the lock has (an object, without `$version`/`$metadata`).
    pub desired: Value,
    /// The keys of the last desired patch.
    pub last_patch: Option<Value>,
    /// The desired `$version` after the last patch.
    #[ts(type = "number | null")]
    pub last_patch_version: Option<i64>,
    /// When the last patch arrived (RFC 3339).
    pub last_patch_at: Option<String>,
    /// The rehearsal switches.
    pub knobs: KnobsView,
}

/// What one activity-log entry is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum ActivityDetail {
    /// A direct method call.
    #[serde(rename_all = "camelCase")]
    Method {
        /// The method name.
        name: String,
        /// The invocation payload.
        payload: Value,
        /// The status answered; `None`: not answered (never-respond, offline).
        status: Option<i32>,
        /// The answer's payload.
        response: Option<Value>,
    },
    /// A desired-properties patch.
    #[serde(rename_all = "camelCase")]
    TwinPatch {
        /// The desired `$version` after it.
        #[ts(type = "number")]
        version: i64,
        /// The patch (the whole desired document when `full`).
        patch: Value,
        /// Whether the whole desired document was re-read after a connect.
        full: bool,
    },
    /// A connection change.
    #[serde(rename_all = "camelCase")]
    Connection {
        /// `connecting`, `connected`, `reconnecting`, `offline` or `disconnected`.
        state: String,
        /// Why, when there is more to say.
        detail: Option<String>,
    },
    /// A reported-properties patch the hub accepted.
    #[serde(rename_all = "camelCase")]
    Reported {
        /// The patch.
        patch: Value,
    },
    /// Something failed.
    #[serde(rename_all = "camelCase")]
    Error {
        /// What.
        message: String,
    },
}

/// One line of the lock's activity log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ActivityEntry {
    /// Increasing id, unique while the app runs.
    #[ts(type = "number")]
    pub id: u64,
    /// When (RFC 3339).
    pub at: String,
    /// One line for the log.
    pub summary: String,
    /// The details.
    pub detail: ActivityDetail,
}

// ---- Jobs (issue 7) ----

/// What submitting a job did.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "outcome", rename_all = "camelCase")]
#[ts(export)]
pub enum SubmitOutcome {
    /// The hub has the job.
    Submitted {
        /// The job as the hub answered, archived and watched.
        job: Box<JobSummary>,
    },
    /// The draft has errors; nothing was sent.
    Invalid {
        /// Every bad field, in form order.
        errors: Vec<FieldError>,
    },
}

/// How "copy as" renders a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum RenderForm {
    /// An `az iot hub job create` command.
    AzCli,
    /// The REST request (`PUT /jobs/v2/{id}`), without the key.
    Rest,
}

/// Which file format an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ExportFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array of device results.
    Json,
}

/// A file an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ExportedFile {
    /// Where (absolute).
    pub path: String,
    /// How many device rows it holds.
    pub rows: u32,
}

/// A job with how many of its devices have each status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct JobDetailView {
    /// The job from the archive: summary, the job as last read, the request as sent.
    pub job: ArchivedJob,
    /// Device rows per status.
    pub status_counts: Vec<StatusCount>,
}

/// The simulated fleet on the local hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FleetView {
    /// Whether the active profile can have a fleet (only the local hub's).
    pub available: bool,
    /// Simulated devices running in the app.
    pub devices: u32,
    /// How many of them are connected.
    pub connected: u32,
    /// Whether devices are being added now.
    pub adding: bool,
    /// What to know: why the fleet is unavailable, or why adding stopped.
    pub note: Option<String>,
}

/// What a new job starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BuilderDefaults {
    /// A blank method job with a fresh job id and the default numbers.
    pub draft: JobDraft,
    /// The lock device of the active profile, for the "this lock" preset.
    pub lock_device_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tagged_enums_use_the_contracts_spelling() {
        assert_eq!(
            serde_json::to_value(AppStatus::KeychainUnavailable {
                detail: "d".into(),
                hint: "h".into()
            })
            .expect("json"),
            json!({"state": "keychainUnavailable", "detail": "d", "hint": "h"})
        );
        assert_eq!(
            serde_json::to_value(DeviceConnectionView::Reconnecting {
                attempt: 2,
                retry_at: "2026-01-01T00:00:00Z".into(),
                cause: "c".into()
            })
            .expect("json"),
            json!({"state": "reconnecting", "attempt": 2, "retryAt": "2026-01-01T00:00:00Z", "cause": "c"})
        );
        assert_eq!(
            serde_json::to_value(ActivityDetail::TwinPatch {
                version: 3,
                patch: json!({"floor": 3}),
                full: false
            })
            .expect("json"),
            json!({"kind": "twinPatch", "version": 3, "patch": {"floor": 3}, "full": false})
        );
        assert_eq!(
            serde_json::to_value(SecretKind::ServiceConnectionString).expect("json"),
            json!("serviceConnectionString")
        );
        assert_eq!(
            serde_json::to_value(SubmitOutcome::Invalid { errors: vec![] }).expect("json"),
            json!({"outcome": "invalid", "errors": []})
        );
        assert_eq!(
            serde_json::to_value(RenderForm::AzCli).expect("json"),
            json!("azCli")
        );
        assert_eq!(
            serde_json::to_value(KnobsView::default()).expect("json"),
            json!({"respondWithStatus": null, "neverRespond": false, "offline": false})
        );
    }
}
