//! The simulated fleet on the local hub.

use lockstep_core::{Core, FleetView};
use tauri::State;

use crate::CommandError;

/// The fleet now.
#[tauri::command]
pub fn fleet_status(core: State<'_, Core>) -> FleetView {
    core.fleet_status()
}

/// Starts adding 10, 100, 1,000 or 10,000 simulated devices; progress via `fleet-changed`.
///
/// Async so that it runs on the async runtime: the core spawns the devices there (a sync
/// command runs on the GTK main thread, which has no tokio runtime).
#[tauri::command]
pub async fn add_simulated_devices(
    core: State<'_, Core>,
    count: u32,
) -> Result<FleetView, CommandError> {
    Ok(core.add_simulated_devices(count).await?)
}
