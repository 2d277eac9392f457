//! Lockstep's app logic, without Tauri: hub profiles whose secrets live only in the OS
//! keychain, the local hub running in-process, and the virtual door lock on a real MQTT
//! connection. The Tauri app is a thin shell over [`Core`]: its commands call one method
//! each and it forwards [`CoreEvent`]s to the window.
//!
//! Layout:
//! - [`core`]: [`Core`], the start-up phases ([`AppStatus`]) and every operation the UI can
//!   ask for, with [`CoreConfig`] (paths, ports, how to open the keychain).
//! - [`profiles`]: profile metadata in `profiles.json` (no secrets), written atomically.
//! - [`secrets`]: [`secrets::SecretStore`] over the OS keychain, and the account names.
//! - [`hub`]: service connection strings parsed with precise errors, the service client, the
//!   live check and the permission probes, device registration.
//! - [`local`]: the local hub (localhub in-process) on the standard ports when free.
//! - [`lock`]: the virtual door lock ([`simulator::SimulatedDevice`]), its view, its bounded
//!   activity log and the watcher that pushes changes.
//! - [`view`]: the wire types the UI sees (generated into TypeScript by ts-rs).
//! - [`error`]: [`CoreError`], split by what the UI does about a failure.

pub mod core;
pub mod error;
pub mod hub;
pub mod local;
pub mod lock;
pub mod profiles;
pub mod secrets;
pub mod view;

pub use crate::core::{Core, CoreConfig};
pub use error::CoreError;
pub use local::LocalHubPorts;
pub use view::{ActivityEntry, AppStatus, LockView, ProfilesView};

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
}
