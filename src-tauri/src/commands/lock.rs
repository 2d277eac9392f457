//! The door lock card and its activity log.

use lockstep_core::view::KnobsView;
use lockstep_core::{ActivityEntry, Core, LockView};
use tauri::State;

use crate::CommandError;

/// The lock of the active profile.
#[tauri::command]
pub fn lock_view(core: State<'_, Core>) -> Result<LockView, CommandError> {
    Ok(core.lock_view())
}

/// The activity log, newest first (at most 500 entries).
#[tauri::command]
pub fn lock_activity(core: State<'_, Core>) -> Result<Vec<ActivityEntry>, CommandError> {
    Ok(core.lock_activity())
}

/// Empties the activity log.
#[tauri::command]
pub fn clear_activity(core: State<'_, Core>) -> Result<(), CommandError> {
    core.clear_activity();
    Ok(())
}

/// Device ids on the active hub, for picking the lock's device.
#[tauri::command]
pub async fn list_hub_devices(core: State<'_, Core>) -> Result<Vec<String>, CommandError> {
    Ok(core.list_hub_devices().await?)
}

/// Makes a device (created first when `create`) the lock and connects it.
#[tauri::command]
pub async fn use_lock_device(
    core: State<'_, Core>,
    device_id: String,
    create: bool,
) -> Result<LockView, CommandError> {
    Ok(core.use_lock_device(&device_id, create).await?)
}

/// Makes the device of a pasted connection string the lock and connects it.
#[tauri::command]
pub async fn use_lock_connection_string(
    core: State<'_, Core>,
    connection_string: String,
) -> Result<LockView, CommandError> {
    Ok(core.use_lock_connection_string(&connection_string).await?)
}

/// Connects the lock.
#[tauri::command]
pub async fn connect_lock(core: State<'_, Core>) -> Result<LockView, CommandError> {
    Ok(core.connect_lock().await?)
}

/// Disconnects the lock.
#[tauri::command]
pub async fn disconnect_lock(core: State<'_, Core>) -> Result<LockView, CommandError> {
    Ok(core.disconnect_lock().await?)
}

/// Sets the lock's rehearsal switches.
#[tauri::command]
pub fn set_lock_knobs(core: State<'_, Core>, knobs: KnobsView) -> Result<LockView, CommandError> {
    Ok(core.set_lock_knobs(knobs)?)
}
