//! The door lock card.
//!
//! For now a placeholder lock held in app state: the walking skeleton that proves the round
//! trip UI → command → Rust event → UI. The real virtual device (an IoT Hub device over MQTT)
//! replaces it.

use std::sync::Mutex;

use tauri::{AppHandle, Emitter, Runtime, State};

use crate::CommandError;
use crate::events::{DOOR_LOCK_CHANGED, DoorLockChanged};

/// The placeholder lock's state.
#[derive(Debug, Default)]
pub struct PlaceholderLock(Mutex<DoorLockChanged>);

impl PlaceholderLock {
    fn toggle(&self) -> Result<DoorLockChanged, CommandError> {
        let mut state = self
            .0
            .lock()
            .map_err(|_| CommandError::internal("the door lock state is unavailable"))?;
        state.locked = !state.locked;
        state.revision += 1;
        Ok(*state)
    }

    fn get(&self) -> Result<DoorLockChanged, CommandError> {
        self.0
            .lock()
            .map(|state| *state)
            .map_err(|_| CommandError::internal("the door lock state is unavailable"))
    }
}

/// The lock's current state.
#[tauri::command]
pub fn door_lock_state(lock: State<'_, PlaceholderLock>) -> Result<DoorLockChanged, CommandError> {
    lock.get()
}

/// Toggles the lock and tells every window through the [`DOOR_LOCK_CHANGED`] event.
#[tauri::command]
pub fn toggle_door_lock<R: Runtime>(
    app: AppHandle<R>,
    lock: State<'_, PlaceholderLock>,
) -> Result<(), CommandError> {
    let changed = lock.toggle()?;
    app.emit(DOOR_LOCK_CHANGED, changed)
        .map_err(|err| CommandError::internal(format!("could not notify the window: {err}")))
}
