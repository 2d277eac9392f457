//! The local hub view.

use lockstep_core::Core;
use lockstep_core::view::{LocalHubView, SecretKind};
use tauri::State;

use crate::CommandError;

/// The local hub's coordinates (connection strings masked).
#[tauri::command]
pub fn local_hub_info(core: State<'_, Core>) -> Result<LocalHubView, CommandError> {
    Ok(core.local_hub_info()?)
}

/// A local hub connection string in full, on the user's explicit reveal or copy.
#[tauri::command]
pub fn reveal_secret(core: State<'_, Core>, kind: SecretKind) -> Result<String, CommandError> {
    Ok(core.reveal_secret(kind)?)
}

/// Starts the local hub again after it failed to; fails with why it still does not.
#[tauri::command]
pub async fn retry_local_hub(core: State<'_, Core>) -> Result<LocalHubView, CommandError> {
    Ok(core.retry_local_hub().await?)
}
