//! Lockstep's app logic, without Tauri: hub profiles whose secrets live only in the OS
//! keychain, the local hub running in-process, the virtual door lock on a real MQTT
//! connection, and the jobs of the active profile (archived, watched, notified) with a fleet
//! of simulated devices on the local hub. The Tauri app is a thin shell over [`Core`]: its commands call one method
//! each and it forwards [`CoreEvent`]s to the window.
//!
//! Layout:
//! - [`core`]: [`Core`], the start-up phases ([`AppStatus`]) and every operation the UI can
//!   ask for, with [`CoreConfig`] (paths, ports, how to open the keychain).
//! - [`profiles`]: profile metadata in `profiles.json` (no secrets), written atomically.
//! - [`secrets`]: [`secrets::SecretStore`] over the OS keychain, and the account names.
//! - [`hub`]: service connection strings parsed with precise errors, the service client, the
//!   live check and the permission probes, device registration.
//! - [`local`]: the local hub (localhub in-process) on the standard ports when free, and why
//!   it did not start in words (the app stays usable without it).
//! - [`jobs`]: the job archive, the active profile's job watcher (updates as events), and
//!   which desktop notifications a job's progress calls for ([`jobs::notification`]).
//! - [`fleet`]: simulated door locks on the local hub, added in the background and
//!   reconnected from the hub's registry when the local profile becomes active.
//! - [`lock`]: the virtual door lock ([`simulator::SimulatedDevice`]), its view, its bounded
//!   activity log and the watcher that pushes changes.
//! - [`view`]: the wire types the UI sees (generated into TypeScript by ts-rs).
//! - [`error`]: [`CoreError`], split by what the UI does about a failure.

pub mod core;
pub mod error;
pub mod fleet;
pub mod hub;
pub mod jobs;
pub mod local;
pub mod lock;
pub mod profiles;
pub mod secrets;
pub mod view;

pub use crate::core::{Core, CoreConfig};
pub use error::CoreError;
pub use jobs::Notification;
pub use local::LocalHubPorts;
pub use lockstep_jobs::watch::JobUpdate;
pub use view::{ActivityEntry, AppStatus, FleetView, LockView, ProfilesView};

/// Locks `mutex`, also after a panic elsewhere: the data behind the core's std mutexes is
/// replaced whole, never left half-changed, so it stays consistent.
pub(crate) fn guard<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Something the UI should hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreEvent {
    /// The start-up phase changed.
    Status(AppStatus),
    /// A profile was added, changed, removed, or another became active.
    ProfilesChanged(ProfilesView),
    /// The lock changed (state, connection, desired properties, knobs, or it unlocked by
    /// itself at `locked_until`).
    LockChanged(LockView),
    /// A new activity-log entry.
    LockActivity(ActivityEntry),
    /// A job of the active profile was read, submitted or cancelled.
    JobUpdated(Box<JobUpdate>),
    /// The simulated fleet changed (devices added, connected).
    FleetChanged(FleetView),
    /// A desktop notification to show (a job this app created started, completed or
    /// failed).
    Notify(Notification),
}
