//! Lockstep, the app: a Tauri shell over the library crates.
//!
//! The app holds no protocol logic; commands are thin adapters over
//! [`lockstep_core::Core`] that unpack arguments and state, call one method, and map the
//! error for the UI.
//!
//! Layout:
//! - [`commands`]: the Tauri commands, one module per area of the UI.
//! - [`error`]: [`CommandError`], the `{code, message, field?}` shape every command fails
//!   with.
//! - [`events`]: names of the events Rust pushes to the UI, and the task forwarding the
//!   core's events to the windows.
//! - [`builder`]: the wiring (commands, and a setup hook that calls [`start`]), generic over
//!   the runtime so tests drive it on `tauri::test::mock_builder()`; [`start`]: the core in
//!   the app's state, its events forwarded, start-up in the background (tests call it with
//!   their own dirs); [`run`] starts the real app and [`shutdown`] stops the core on exit,
//!   also when a termination signal (SIGTERM, SIGINT) asks the app to stop.

pub mod commands;
pub mod error;
pub mod events;

pub use error::CommandError;

use lockstep_core::{Core, CoreConfig};
use tauri::{AppHandle, Manager, Runtime};

/// Wires Lockstep's commands into a Tauri builder, and a setup hook that [`start`]s the
/// core with the app's own dirs (Tauri's path resolver: the app data dir and the app config
/// dir, which follow `XDG_DATA_HOME` / `XDG_CONFIG_HOME` on Linux), the OS keychain and the
/// standard local hub ports.
///
/// Generic over [`Runtime`] so the same wiring runs in the real app (Wry) and in tests on
/// the mock runtime. The mock runtime never runs setup hooks: tests call [`start`] with
/// their own [`CoreConfig`] (temporary dirs, port 0) after building.
pub fn builder<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            let paths = app.path();
            let config = CoreConfig {
                downloads_dir: paths.download_dir().ok(),
                ..CoreConfig::new(paths.app_data_dir()?, paths.app_config_dir()?)
            };
            start(app.handle(), config);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app::app_status,
            commands::app::retry_start,
            commands::profiles::list_profiles,
            commands::profiles::add_azure_profile,
            commands::profiles::rename_profile,
            commands::profiles::set_profile_colour,
            commands::profiles::set_profile_tier,
            commands::profiles::switch_profile,
            commands::profiles::delete_profile,
            commands::hub::local_hub_info,
            commands::hub::reveal_secret,
            commands::hub::retry_local_hub,
            commands::lock::lock_view,
            commands::lock::lock_activity,
            commands::lock::clear_activity,
            commands::lock::list_hub_devices,
            commands::lock::use_lock_device,
            commands::lock::use_lock_connection_string,
            commands::lock::connect_lock,
            commands::lock::disconnect_lock,
            commands::lock::set_lock_knobs,
            commands::jobs::job_defaults,
            commands::jobs::validate_job,
            commands::jobs::preview_condition,
            commands::jobs::submit_job,
            commands::jobs::render_job,
            commands::jobs::list_jobs,
            commands::jobs::refresh_jobs,
            commands::jobs::job_detail,
            commands::jobs::device_results,
            commands::jobs::cancel_job,
            commands::jobs::clone_job,
            commands::jobs::export_results,
            commands::jobs::set_window_visible,
            commands::fleet::fleet_status,
            commands::fleet::add_simulated_devices,
        ])
}

/// Puts a [`Core`] for `config` into the app's state, forwards its events to the windows
/// and runs its start-up in the background, so that the window paints at once; the UI
/// follows start-up through the `app_status` command and the `app-status` event. A second
/// call keeps the first core.
pub fn start<R: Runtime>(app: &AppHandle<R>, config: CoreConfig) -> Core {
    if let Some(core) = app.try_state::<Core>() {
        return core.inner().clone();
    }
    let core = Core::new(config);
    // Subscribed before starting, so the window hears every phase.
    let events = core.subscribe();
    tauri::async_runtime::spawn(events::forward(app.clone(), core.clone(), events));
    app.manage(core.clone());
    let starting = core.clone();
    tauri::async_runtime::spawn(async move {
        starting.start().await;
    });
    core
}

/// Stops the lock and the local hub, waiting for them (what the app does on exit).
pub fn shutdown<R: Runtime, M: Manager<R>>(manager: &M) {
    if let Some(core) = manager.try_state::<Core>() {
        let core = core.inner().clone();
        tauri::async_runtime::block_on(core.shutdown());
    }
}

/// Runs the app until its last window closes or it is asked to stop (SIGTERM, SIGINT;
/// Ctrl+C elsewhere), then shuts the core down gracefully (fleet, job polls, lock, local hub
/// and its database) and exits with code 0.
pub fn run() {
    let app = match builder(tauri::Builder::default()).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(err) => {
            eprintln!("lockstep: could not start: {err}");
            std::process::exit(1);
        }
    };
    tauri::async_runtime::spawn(exit_on_signal(app.handle().clone()));
    let code = app.run_return(|app, event| {
        if let tauri::RunEvent::Exit = event {
            shutdown(app);
        }
    });
    std::process::exit(code);
}

/// Waits for a termination signal, then asks the event loop to exit with code 0, which
/// runs [`shutdown`] on its `Exit` event. A second signal while shutting down exits at once
/// (code 130), for a shutdown that hangs.
async fn exit_on_signal<R: Runtime>(app: AppHandle<R>) {
    let signal = match termination_signal().await {
        Ok(signal) => signal,
        Err(error) => {
            // Without handlers the OS default applies: the process ends without a shutdown.
            tracing::warn!(%error, "cannot listen for termination signals");
            return;
        }
    };
    tracing::info!(signal, "shutting down");
    app.exit(0);
    if let Ok(signal) = termination_signal().await {
        eprintln!("lockstep: {signal} again while shutting down: exiting now");
        std::process::exit(130);
    }
}

/// The name of the next termination signal the process receives.
#[cfg(unix)]
async fn termination_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    })
}

/// The name of the next termination signal the process receives.
#[cfg(not(unix))]
async fn termination_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await.map(|()| "Ctrl+C")
}
