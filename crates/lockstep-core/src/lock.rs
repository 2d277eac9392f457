//! The virtual door lock: one [`SimulatedDevice`] at a time, its [`LockView`] and its activity
//! log, with every change pushed as a [`CoreEvent`].
//!
//! A watcher task per device turns the device's state (a `watch`) and activity (a
//! `broadcast`) into views and log entries. It also wakes at `locked_until`, so that a timed
//! lock visibly opens by itself even while the device is offline. The pure parts (view and
//! log-entry building) are plain functions, tested without I/O.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use iothub::auth::DeviceConnectionString;
use iothub::device::DeviceClientOptions;
use serde_json::{Map, Value};
use simulator::{DeviceActivity, DeviceConnection, DeviceState, Knobs, LockState, SimulatedDevice};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::CoreEvent;
use crate::view::{ActivityDetail, ActivityEntry, DeviceConnectionView, KnobsView, LockView};

/// How many activity entries are kept (the oldest go first).
pub const ACTIVITY_CAPACITY: usize = 500;

/// RFC 3339 text of `at` (UTC).
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

impl From<KnobsView> for Knobs {
    fn from(knobs: KnobsView) -> Self {
        Self {
            respond_with_status: knobs.respond_with_status,
            never_respond: knobs.never_respond,
            offline: knobs.offline,
        }
    }
}

impl From<Knobs> for KnobsView {
    fn from(knobs: Knobs) -> Self {
        Self {
            respond_with_status: knobs.respond_with_status,
            never_respond: knobs.never_respond,
            offline: knobs.offline,
        }
    }
}

/// The bounded activity log, newest first.
#[derive(Debug, Default)]
pub struct ActivityLog {
    entries: VecDeque<ActivityEntry>,
    next_id: u64,
}

impl ActivityLog {
    /// Adds an entry (dropping the oldest beyond [`ACTIVITY_CAPACITY`]) and returns it.
    pub fn push(
        &mut self,
        at: OffsetDateTime,
        summary: String,
        detail: ActivityDetail,
    ) -> ActivityEntry {
        self.next_id += 1;
        let entry = ActivityEntry {
            id: self.next_id,
            at: rfc3339(at),
            summary,
            detail,
        };
        self.entries.push_front(entry.clone());
        self.entries.truncate(ACTIVITY_CAPACITY);
        entry
    }

    /// Every entry, newest first.
    pub fn entries(&self) -> Vec<ActivityEntry> {
        self.entries.iter().cloned().collect()
    }

    /// Forgets every entry (ids keep increasing).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Puts `self` aside and continues with `next` (another profile's log), keeping ids
    /// increasing across both so the UI never sees an id twice.
    pub fn swap_for(&mut self, mut next: ActivityLog) -> ActivityLog {
        next.next_id = next.next_id.max(self.next_id);
        std::mem::replace(self, next)
    }
}

/// The state word and the detail of a connection, for the log.
fn connection_words(connection: &DeviceConnection) -> (&'static str, String, Option<String>) {
    match connection {
        DeviceConnection::Connecting => ("connecting", "Connecting".to_owned(), None),
        DeviceConnection::Connected => ("connected", "Connected".to_owned(), None),
        DeviceConnection::Retrying {
            cause,
            refused: true,
            ..
        } => (
            "disconnected",
            format!("Refused by the hub: {cause}"),
            Some(cause.clone()),
        ),
        DeviceConnection::Retrying {
            cause,
            attempt,
            retry_at,
            refused: false,
        } => {
            let when = retry_at.map(|at| format!(", next try at {}", rfc3339(at)));
            (
                "reconnecting",
                format!("Reconnecting (attempt {attempt}): {cause}"),
                Some(format!("{cause}{}", when.unwrap_or_default())),
            )
        }
        DeviceConnection::Offline => (
            "offline",
            "Offline (rehearsal switch)".to_owned(),
            Some("the go-offline switch is on".to_owned()),
        ),
        DeviceConnection::Stopped => ("disconnected", "Disconnected".to_owned(), None),
    }
}

fn keys(patch: &Map<String, Value>) -> String {
    let keys: Vec<&str> = patch.keys().map(String::as_str).collect();
    if keys.is_empty() {
        "nothing".to_owned()
    } else {
        keys.join(", ")
    }
}

/// The log entry for something the device did: when, one line, the details.
pub fn describe(activity: DeviceActivity) -> (OffsetDateTime, String, ActivityDetail) {
    match activity {
        DeviceActivity::Method {
            at,
            name,
            payload,
            answer,
        } => {
            let summary = match &answer {
                Some((status, _)) => format!("{name} answered {status}"),
                None => format!("{name} not answered"),
            };
            let (status, response) = match answer {
                Some((status, response)) => (Some(status), Some(response)),
                None => (None, None),
            };
            (
                at,
                summary,
                ActivityDetail::Method {
                    name,
                    payload,
                    status,
                    response,
                },
            )
        }
        DeviceActivity::DesiredPatch {
            at,
            version,
            patch,
            full,
        } => {
            let summary = if full {
                format!("Desired properties read after connecting (version {version})")
            } else {
                format!("Desired patch, version {version}: {}", keys(&patch))
            };
            (
                at,
                summary,
                ActivityDetail::TwinPatch {
                    version,
                    patch: Value::Object(patch),
                    full,
                },
            )
        }
        DeviceActivity::Connection { at, connection } => {
            let (state, summary, detail) = connection_words(&connection);
            (
                at,
                summary,
                ActivityDetail::Connection {
                    state: state.to_owned(),
                    detail,
                },
            )
        }
        DeviceActivity::Reported { at, patch } => (
            at,
            format!("Reported {}", keys(&patch)),
            ActivityDetail::Reported {
                patch: Value::Object(patch),
            },
        ),
        DeviceActivity::Error { at, message } => {
            (at, message.clone(), ActivityDetail::Error { message })
        }
    }
}

/// The view of a running device's connection.
pub fn connection_view(connection: &DeviceConnection, now: OffsetDateTime) -> DeviceConnectionView {
    match connection {
        DeviceConnection::Connecting => DeviceConnectionView::Connecting,
        DeviceConnection::Connected => DeviceConnectionView::Connected,
        DeviceConnection::Retrying {
            cause,
            refused: true,
            ..
        } => DeviceConnectionView::Disconnected {
            reason: cause.clone(),
        },
        DeviceConnection::Retrying {
            cause,
            attempt,
            retry_at,
            refused: false,
        } => DeviceConnectionView::Reconnecting {
            attempt: *attempt,
            retry_at: rfc3339(retry_at.unwrap_or(now)),
            cause: cause.clone(),
        },
        DeviceConnection::Offline => DeviceConnectionView::Offline,
        DeviceConnection::Stopped => DeviceConnectionView::Disconnected {
            reason: "stopped".to_owned(),
        },
    }
}

/// Builds the lock card's view at `now` from the device's last state (if it ever ran).
pub fn build_view(
    profile_id: &str,
    device_id: Option<&str>,
    state: Option<&DeviceState>,
    connection: DeviceConnectionView,
    knobs: Knobs,
    now: OffsetDateTime,
) -> LockView {
    let lock = state.map_or(LockState::Unlocked, |s| s.lock.state(now));
    let locked_until = match lock {
        LockState::Locked { until } => until.map(rfc3339),
        LockState::Unlocked => None,
    };
    LockView {
        profile_id: profile_id.to_owned(),
        device_id: device_id.map(str::to_owned),
        state: lock.as_str().to_owned(),
        locked_until,
        connection,
        desired: Value::Object(state.map(|s| s.desired.clone()).unwrap_or_default()),
        last_patch: state
            .and_then(|s| s.lock.last_patch())
            .map(|patch| Value::Object(patch.clone())),
        last_patch_version: state.and_then(|s| s.lock.last_patch_version()),
        last_patch_at: state.and_then(|s| s.last_patch_at).map(rfc3339),
        knobs: knobs.into(),
    }
}

/// What the lock connects with.
#[derive(Debug, Clone)]
pub struct LockTarget {
    /// The device's connection string.
    pub connection_string: DeviceConnectionString,
    /// How to reach the hub's MQTT endpoint.
    pub options: DeviceClientOptions,
}

#[derive(Debug)]
struct Shared {
    profile_id: String,
    device_id: Option<String>,
    device: Option<SimulatedDevice>,
    watcher: Option<CancellationToken>,
    /// Bumped whenever the device changes, so a stale watcher's updates are ignored.
    generation: u64,
    /// The connection shown while no device runs.
    idle: DeviceConnectionView,
    knobs: Knobs,
    last: Option<DeviceState>,
    activity: ActivityLog,
    /// The logs of the other profiles, kept while another profile is active.
    other_logs: HashMap<String, ActivityLog>,
    emitted: Option<LockView>,
}

impl Shared {
    fn view(&self, now: OffsetDateTime) -> LockView {
        let connection = match (&self.device, &self.last) {
            (Some(_), Some(state)) => connection_view(&state.connection, now),
            (Some(_), None) => DeviceConnectionView::Connecting,
            (None, _) => self.idle.clone(),
        };
        build_view(
            &self.profile_id,
            self.device_id.as_deref(),
            self.last.as_ref(),
            connection,
            self.knobs,
            now,
        )
    }
}

/// The virtual lock and its log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LockController {
    shared: Arc<Mutex<Shared>>,
    events: broadcast::Sender<CoreEvent>,
    tracker: TaskTracker,
}

impl LockController {
    /// A lock with no device yet, telling `events` about every change.
    pub fn new(events: broadcast::Sender<CoreEvent>) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                profile_id: String::new(),
                device_id: None,
                device: None,
                watcher: None,
                generation: 0,
                idle: DeviceConnectionView::NotConfigured,
                knobs: Knobs::NONE,
                last: None,
                activity: ActivityLog::default(),
                other_logs: HashMap::new(),
                emitted: None,
            })),
            events,
            tracker: TaskTracker::new(),
        }
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock leaves plain data behind; carry on with it.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The view now.
    pub fn view(&self) -> LockView {
        self.shared().view(OffsetDateTime::now_utc())
    }

    /// The log, newest first.
    pub fn activity(&self) -> Vec<ActivityEntry> {
        self.shared().activity.entries()
    }

    /// Empties the log.
    pub fn clear_activity(&self) {
        self.shared().activity.clear();
    }

    /// The device id the lock uses, if any.
    pub fn device_id(&self) -> Option<String> {
        self.shared().device_id.clone()
    }

    /// The profile the lock belongs to.
    pub fn profile_id(&self) -> String {
        self.shared().profile_id.clone()
    }

    /// Whether a device is running (connected or trying to).
    pub fn is_running(&self) -> bool {
        self.shared().device.is_some()
    }

    /// Stops any device and shows the lock of `profile_id` with `device_id` (not connected).
    pub async fn set_profile(&self, profile_id: &str, device_id: Option<&str>) {
        self.stop_device().await;
        let mut shared = self.shared();
        if shared.profile_id != profile_id {
            shared.last = None;
            // Each profile has its own log; the one left behind waits for a switch back.
            let next = shared.other_logs.remove(profile_id).unwrap_or_default();
            let previous = shared.activity.swap_for(next);
            let previous_id = std::mem::take(&mut shared.profile_id);
            if !previous_id.is_empty() {
                shared.other_logs.insert(previous_id, previous);
            }
        }
        shared.profile_id = profile_id.to_owned();
        shared.device_id = device_id.map(str::to_owned);
        shared.idle = match device_id {
            Some(_) => DeviceConnectionView::Disconnected {
                reason: "not connected".to_owned(),
            },
            None => DeviceConnectionView::NotConfigured,
        };
        self.publish(&mut shared);
    }

    /// Connects the lock as `device_id` with `target`, replacing any running device.
    pub async fn connect(&self, device_id: &str, target: LockTarget) {
        self.stop_device().await;
        let mut shared = self.shared();
        if shared.device_id.as_deref() != Some(device_id) {
            shared.last = None;
        }
        shared.device_id = Some(device_id.to_owned());
        let (device, activity) =
            SimulatedDevice::spawn_observed(target.connection_string, target.options, shared.knobs);
        shared.generation += 1;
        let generation = shared.generation;
        let cancel = CancellationToken::new();
        shared.last = Some(match shared.last.take() {
            // Keep what the lock knew (desired, last patch) until the device says otherwise.
            Some(previous) => DeviceState {
                connection: DeviceConnection::Connecting,
                ..previous
            },
            None => device.state(),
        });
        self.tracker.spawn(watch_device(
            self.clone(),
            generation,
            device.watch(),
            activity,
            cancel.clone(),
        ));
        shared.device = Some(device);
        shared.watcher = Some(cancel);
        self.publish(&mut shared);
    }

    /// Disconnects the lock (the user's choice, or a refusal), showing `reason`.
    pub async fn disconnect(&self, reason: &str) {
        let was_running = self.stop_device().await;
        let mut shared = self.shared();
        if was_running {
            let entry = shared.activity.push(
                OffsetDateTime::now_utc(),
                format!("Disconnected: {reason}"),
                ActivityDetail::Connection {
                    state: "disconnected".to_owned(),
                    detail: Some(reason.to_owned()),
                },
            );
            let _ = self.events.send(CoreEvent::LockActivity(entry));
        }
        shared.idle = match shared.device_id {
            Some(_) => DeviceConnectionView::Disconnected {
                reason: reason.to_owned(),
            },
            None => DeviceConnectionView::NotConfigured,
        };
        self.publish(&mut shared);
    }

    /// Sets the rehearsal switches (kept across devices while the app runs).
    pub fn set_knobs(&self, knobs: Knobs) {
        let mut shared = self.shared();
        shared.knobs = knobs;
        if let Some(device) = &shared.device {
            device.set_knobs(knobs);
        }
        self.publish(&mut shared);
    }

    /// Adds a log entry of the app's own (e.g. an error while choosing a device).
    pub fn log(&self, summary: String, detail: ActivityDetail) {
        let mut shared = self.shared();
        let entry = shared
            .activity
            .push(OffsetDateTime::now_utc(), summary, detail);
        let _ = self.events.send(CoreEvent::LockActivity(entry));
    }

    /// Stops the device and every watcher, waiting for them.
    pub async fn shutdown(&self) {
        self.stop_device().await;
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Stops the running device, if any; whether there was one.
    async fn stop_device(&self) -> bool {
        let device = {
            let mut shared = self.shared();
            shared.generation += 1;
            if let Some(watcher) = shared.watcher.take() {
                watcher.cancel();
            }
            shared.device.take()
        };
        match device {
            Some(device) => {
                device.shutdown().await;
                true
            }
            None => false,
        }
    }

    /// Emits the view if it changed since the last one emitted.
    fn publish(&self, shared: &mut Shared) {
        let view = shared.view(OffsetDateTime::now_utc());
        if shared.emitted.as_ref() != Some(&view) {
            shared.emitted = Some(view.clone());
            let _ = self.events.send(CoreEvent::LockChanged(view));
        }
    }

    fn on_state(&self, generation: u64, state: DeviceState) {
        let mut shared = self.shared();
        if shared.generation != generation {
            return;
        }
        let refused = match &state.connection {
            DeviceConnection::Retrying {
                cause,
                refused: true,
                ..
            } => Some(cause.clone()),
            _ => None,
        };
        shared.last = Some(state);
        if let Some(reason) = refused {
            // Retrying with a refused key cannot help: stop and say why.
            shared.generation += 1;
            if let Some(watcher) = shared.watcher.take() {
                watcher.cancel();
            }
            if let Some(device) = shared.device.take() {
                device.stop();
            }
            shared.idle = DeviceConnectionView::Disconnected { reason };
        }
        self.publish(&mut shared);
    }

    fn on_activity(&self, generation: u64, activity: DeviceActivity) {
        let mut shared = self.shared();
        if shared.generation != generation {
            return;
        }
        let (at, summary, detail) = describe(activity);
        let entry = shared.activity.push(at, summary, detail);
        let _ = self.events.send(CoreEvent::LockActivity(entry));
    }

    fn refresh(&self, generation: u64) {
        let mut shared = self.shared();
        if shared.generation == generation {
            self.publish(&mut shared);
        }
    }

    fn next_change(&self) -> Option<OffsetDateTime> {
        let shared = self.shared();
        let now = OffsetDateTime::now_utc();
        shared.last.as_ref().and_then(|s| s.lock.next_change(now))
    }
}

/// Follows one device until cancelled.
async fn watch_device(
    lock: LockController,
    generation: u64,
    mut state: watch::Receiver<DeviceState>,
    mut activity: broadcast::Receiver<DeviceActivity>,
    cancel: CancellationToken,
) {
    // The state at the start counts too.
    let first = state.borrow_and_update().clone();
    lock.on_state(generation, first);
    let mut activity_open = true;
    loop {
        let expiry = lock.next_change();
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                let snapshot = state.borrow_and_update().clone();
                lock.on_state(generation, snapshot);
            }
            received = activity.recv(), if activity_open => match received {
                Ok(item) => lock.on_activity(generation, item),
                Err(broadcast::error::RecvError::Lagged(missed)) => lock.on_activity(
                    generation,
                    DeviceActivity::Error {
                        at: OffsetDateTime::now_utc(),
                        message: format!("{missed} activity entries were lost (too many at once)"),
                    },
                ),
                Err(broadcast::error::RecvError::Closed) => activity_open = false,
            },
            () = sleep_until(expiry) => lock.refresh(generation),
        }
    }
}

async fn sleep_until(at: Option<OffsetDateTime>) {
    match at {
        Some(at) => {
            let wait = at - OffsetDateTime::now_utc();
            let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
            // A little late, so that "now" has certainly passed the lock's end.
            tokio::time::sleep(wait + Duration::from_millis(5)).await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use simulator::DoorLock;
    use time::macros::datetime;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn the_log_is_bounded_and_newest_first() {
        let mut log = ActivityLog::default();
        let at = datetime!(2026-01-01 0:00 UTC);
        for n in 0..(ACTIVITY_CAPACITY + 20) {
            log.push(
                at,
                format!("entry {n}"),
                ActivityDetail::Error {
                    message: n.to_string(),
                },
            );
        }
        let entries = log.entries();
        assert_eq!(entries.len(), ACTIVITY_CAPACITY);
        assert_eq!(
            entries[0].summary,
            format!("entry {}", ACTIVITY_CAPACITY + 19)
        );
        assert_eq!(entries[0].id, (ACTIVITY_CAPACITY + 20) as u64);
        assert_eq!(entries[ACTIVITY_CAPACITY - 1].summary, "entry 20");
        assert_eq!(entries[0].at, "2026-01-01T00:00:00Z");
        log.clear();
        assert!(log.entries().is_empty());
        let next = log.push(
            at,
            "again".into(),
            ActivityDetail::Error {
                message: String::new(),
            },
        );
        assert_eq!(next.id, (ACTIVITY_CAPACITY + 21) as u64);
    }

    #[test]
    fn a_swapped_log_keeps_its_entries_and_ids_keep_increasing() {
        let at = datetime!(2026-01-01 0:00 UTC);
        let entry = |log: &mut ActivityLog, text: &str| {
            log.push(
                at,
                text.to_owned(),
                ActivityDetail::Error {
                    message: String::new(),
                },
            )
        };
        let mut log = ActivityLog::default();
        entry(&mut log, "local 1");
        entry(&mut log, "local 2");
        let local = log.swap_for(ActivityLog::default());
        assert!(log.entries().is_empty());
        assert_eq!(entry(&mut log, "azure 1").id, 3);
        let azure = log.swap_for(local);
        assert_eq!(azure.entries()[0].summary, "azure 1");
        let back = entry(&mut log, "local 3");
        assert_eq!(back.id, 4);
        let summaries: Vec<_> = log.entries().into_iter().map(|e| e.summary).collect();
        assert_eq!(summaries, ["local 3", "local 2", "local 1"]);
    }

    #[test]
    fn methods_are_described_with_their_answer_or_its_absence() {
        let at = datetime!(2026-01-01 0:00 UTC);
        let (_, summary, detail) = describe(DeviceActivity::Method {
            at,
            name: "lockDoor".into(),
            payload: json!({"lockTime": "10m"}),
            answer: Some((200, json!({"lockState": "locked"}))),
        });
        assert_eq!(summary, "lockDoor answered 200");
        assert_eq!(
            serde_json::to_value(detail).expect("json"),
            json!({"kind": "method", "name": "lockDoor", "payload": {"lockTime": "10m"},
                   "status": 200, "response": {"lockState": "locked"}})
        );
        let (_, summary, detail) = describe(DeviceActivity::Method {
            at,
            name: "lockDoor".into(),
            payload: Value::Null,
            answer: None,
        });
        assert_eq!(summary, "lockDoor not answered");
        assert!(matches!(
            detail,
            ActivityDetail::Method {
                status: None,
                response: None,
                ..
            }
        ));
    }

    #[test]
    fn connections_are_described_in_words() {
        let at = datetime!(2026-01-01 0:00 UTC);
        let (_, summary, detail) = describe(DeviceActivity::Connection {
            at,
            connection: DeviceConnection::Retrying {
                cause: "connection refused".into(),
                attempt: 2,
                retry_at: Some(datetime!(2026-01-01 0:00:05 UTC)),
                refused: false,
            },
        });
        assert_eq!(summary, "Reconnecting (attempt 2): connection refused");
        assert_eq!(
            detail,
            ActivityDetail::Connection {
                state: "reconnecting".into(),
                detail: Some("connection refused, next try at 2026-01-01T00:00:05Z".into())
            }
        );
        let view = connection_view(
            &DeviceConnection::Retrying {
                cause: "bad key".into(),
                attempt: 1,
                retry_at: None,
                refused: true,
            },
            at,
        );
        assert_eq!(
            view,
            DeviceConnectionView::Disconnected {
                reason: "bad key".into()
            }
        );
    }

    #[test]
    fn the_view_counts_down_and_unlocks_at_locked_until() {
        let now = datetime!(2026-01-01 12:00 UTC);
        let mut lock = DoorLock::new();
        lock.on_method("lockDoor", &json!({"lockTime": "10m"}), now);
        lock.on_desired_patch(&object(json!({"building": 43, "floor": 3})), 4, false, now);
        let state = DeviceState {
            lock,
            connection: DeviceConnection::Connected,
            knobs: Knobs::NONE,
            counters: Default::default(),
            desired: object(json!({"building": 43, "floor": 3})),
            last_patch_at: Some(now),
        };
        let view = build_view(
            "local",
            Some("door-lock-1"),
            Some(&state),
            DeviceConnectionView::Connected,
            Knobs::NONE,
            now,
        );
        assert_eq!(view.state, "locked");
        assert_eq!(view.locked_until.as_deref(), Some("2026-01-01T12:10:00Z"));
        assert_eq!(view.desired, json!({"building": 43, "floor": 3}));
        assert_eq!(view.last_patch, Some(json!({"building": 43, "floor": 3})));
        assert_eq!(view.last_patch_version, Some(4));
        assert_eq!(view.last_patch_at.as_deref(), Some("2026-01-01T12:00:00Z"));
        let later = build_view(
            "local",
            Some("door-lock-1"),
            Some(&state),
            DeviceConnectionView::Connected,
            Knobs::NONE,
            datetime!(2026-01-01 12:10 UTC),
        );
        assert_eq!(later.state, "unlocked");
        assert_eq!(later.locked_until, None);
    }

    #[test]
    fn a_lock_without_a_device_is_unlocked_and_empty() {
        let view = build_view(
            "p",
            None,
            None,
            DeviceConnectionView::NotConfigured,
            Knobs {
                offline: true,
                ..Knobs::NONE
            },
            datetime!(2026-01-01 12:00 UTC),
        );
        assert_eq!(view.state, "unlocked");
        assert_eq!(view.desired, json!({}));
        assert!(view.knobs.offline);
        assert_eq!(
            serde_json::to_value(&view).expect("json")["connection"],
            json!({"state": "notConfigured"})
        );
    }
}
