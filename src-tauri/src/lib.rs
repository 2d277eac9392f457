//! Lockstep, the app: a Tauri shell over the library crates.
//!
//! The app holds no protocol logic; commands are thin adapters that unpack arguments and
//! state, call a library, and map the error for the UI.
//!
//! Layout:
//! - [`commands`]: the Tauri commands, one module per area of the UI.
//! - [`error`]: [`CommandError`], the `{code, message}` shape every command fails with.
//! - [`events`]: names and payloads of the events Rust pushes to the UI.
//! - [`builder`]: the wiring (state, commands), generic over the runtime so tests drive it
//!   on `tauri::test::mock_builder()`; [`run`] starts the real app with it.

pub mod commands;
pub mod error;
pub mod events;

pub use error::CommandError;

use tauri::Runtime;

/// Wires Lockstep's state and commands into a Tauri builder.
///
/// Generic over [`Runtime`] so the same wiring runs in the real app (Wry) and in tests on
/// the mock runtime.
pub fn builder<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .manage(commands::lock::PlaceholderLock::default())
        .invoke_handler(tauri::generate_handler![
            commands::lock::door_lock_state,
            commands::lock::toggle_door_lock,
        ])
}

/// Runs the app until its last window closes.
pub fn run() {
    if let Err(err) = builder(tauri::Builder::default()).run(tauri::generate_context!()) {
        eprintln!("lockstep: could not start: {err}");
        std::process::exit(1);
    }
}
