//! Start-up: the phase, and trying again after a failure.

use lockstep_core::{AppStatus, Core};
use tauri::State;

use crate::CommandError;

/// The start-up phase.
#[tauri::command]
pub fn app_status(core: State<'_, Core>) -> Result<AppStatus, CommandError> {
    Ok(core.status())
}

/// Checks the keychain and starts again (after `keychainUnavailable` or `failed`).
#[tauri::command]
pub async fn retry_start(core: State<'_, Core>) -> Result<AppStatus, CommandError> {
    Ok(core.start().await)
}
