//! Events Rust pushes to the UI: their names and payloads.

use serde::Serialize;
use ts_rs::TS;

/// Emitted whenever the door lock changes state.
pub const DOOR_LOCK_CHANGED: &str = "door-lock-changed";

/// Payload of [`DOOR_LOCK_CHANGED`], and the answer of the `door_lock_state` command.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DoorLockChanged {
    /// Whether the door is locked now.
    pub locked: bool,
    /// How many times the lock has changed since the app started; lets the UI drop stale
    /// events that arrive after a newer command answer.
    pub revision: u32,
}
