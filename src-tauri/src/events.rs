//! Events Rust pushes to the UI: their names, and the task that forwards the core's events
//! to every window. The core's notifications are shown here as desktop notifications.

use lockstep_core::Notification;
use lockstep_core::{Core, CoreEvent};
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast;

/// The start-up phase changed; payload `AppStatus`.
pub const APP_STATUS: &str = "app-status";
/// The profiles changed; payload `ProfilesView`.
pub const PROFILES_CHANGED: &str = "profiles-changed";
/// The lock changed (also when it unlocks by itself); payload `LockView`.
pub const LOCK_CHANGED: &str = "lock-changed";
/// A new activity-log entry; payload `ActivityEntry`.
pub const LOCK_ACTIVITY: &str = "lock-activity";
/// A job was read, submitted or cancelled; payload `JobUpdate`.
pub const JOB_UPDATED: &str = "job-updated";
/// The simulated fleet changed; payload `FleetView`.
pub const FLEET_CHANGED: &str = "fleet-changed";

/// Emits every core event to the windows until the core's channel closes. When this task
/// falls behind and misses events, it re-sends the current state instead.
pub async fn forward<R: Runtime>(
    app: AppHandle<R>,
    core: Core,
    mut events: broadcast::Receiver<CoreEvent>,
) {
    loop {
        match events.recv().await {
            Ok(event) => emit(&app, event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the window missed events; sending the current state"
                );
                emit(&app, CoreEvent::Status(core.status()));
                if let Ok(profiles) = core.list_profiles() {
                    emit(&app, CoreEvent::ProfilesChanged(profiles));
                }
                emit(&app, CoreEvent::LockChanged(core.lock_view()));
                emit(&app, CoreEvent::FleetChanged(core.fleet_status()));
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn emit<R: Runtime>(app: &AppHandle<R>, event: CoreEvent) {
    let sent = match event {
        CoreEvent::Status(status) => app.emit(APP_STATUS, status),
        CoreEvent::ProfilesChanged(profiles) => app.emit(PROFILES_CHANGED, profiles),
        CoreEvent::LockChanged(view) => app.emit(LOCK_CHANGED, view),
        CoreEvent::LockActivity(entry) => app.emit(LOCK_ACTIVITY, entry),
        CoreEvent::JobUpdated(update) => app.emit(JOB_UPDATED, update),
        CoreEvent::FleetChanged(fleet) => app.emit(FLEET_CHANGED, fleet),
        CoreEvent::Notify(note) => {
            notify(app, &note);
            Ok(())
        }
    };
    if let Err(error) = sent {
        tracing::warn!(%error, "could not notify the window");
    }
}

/// Shows a desktop notification. Failures (no notification daemon, e.g. under Xvfb) are
/// logged and otherwise ignored: a notification is a courtesy, never an error.
fn notify<R: Runtime>(app: &AppHandle<R>, note: &Notification) {
    let Some(notifications) = app.try_state::<tauri_plugin_notification::Notification<R>>() else {
        return;
    };
    let shown = notifications
        .builder()
        .title(&note.title)
        .body(&note.body)
        .show();
    if let Err(error) = shown {
        tracing::debug!(%error, "the desktop notification was not shown");
    }
}
