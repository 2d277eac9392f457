//! One simulated door lock on a real MQTT connection: a task that connects with our
//! [`DeviceClient`], feeds method calls and desired patches to the [`DoorLock`] model,
//! answers (unless [`Knobs`] say otherwise) and reports, and a cheap `Clone` handle,
//! [`SimulatedDevice`], to set knobs, watch the state and shut down.
//!
//! The task owns the model; the handle sees it through a `watch` channel of
//! [`DeviceState`]s, and what happens (method calls and their answers, desired patches,
//! connection changes, reported patches) through a `broadcast` of [`DeviceActivity`]
//! ([`SimulatedDevice::activity`]), for an activity log. Reported properties go out from a second task per connection, so that
//! a slow reported PATCH never delays a method answer; it coalesces changes and sends only
//! the difference to what the hub already has ([`reported_patch`]).

use std::sync::Arc;
use std::time::Duration;

use iothub::auth::DeviceConnectionString;
use iothub::device::{
    ConnectionState, DeviceClient, DeviceClientOptions, DeviceError, DeviceEvent, DeviceEvents,
    DisconnectReason,
};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::door_lock::{DoorLock, Knobs, reported_patch};

/// First delay before connecting again after a failed first connect; doubles per failure.
const RETRY_INITIAL: Duration = Duration::from_millis(500);
/// Largest delay between connect attempts.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Delay before retrying a failed reported PATCH (or the twin GET before it).
const REPORT_RETRY: Duration = Duration::from_secs(2);
/// How many activity items a slow observer may fall behind before it loses the oldest.
const ACTIVITY_CAPACITY: usize = 256;

/// Where a simulated device's connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceConnection {
    /// Connecting (first attempt, or the client reconnecting by itself).
    Connecting,
    /// Connected and subscribed.
    Connected,
    /// The last attempt failed; another follows.
    Retrying {
        /// What went wrong (never contains a secret).
        cause: String,
        /// Failed attempts in a row, from 1.
        attempt: u32,
        /// When the next attempt starts, if known.
        retry_at: Option<OffsetDateTime>,
        /// Whether the hub refused the device's credentials (wrong key, unknown or disabled
        /// device): retrying with the same key cannot help.
        refused: bool,
    },
    /// Disconnected on purpose: the `offline` knob is set.
    Offline,
    /// Shut down.
    Stopped,
}

/// What a simulated device has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceCounters {
    /// Successful connections (reconnects included).
    pub connects: u64,
    /// Direct method calls received.
    pub methods_received: u64,
    /// Direct method calls answered (knob errors included).
    pub methods_answered: u64,
    /// Direct method calls left unanswered on purpose (`never_respond`).
    pub methods_ignored: u64,
    /// Desired patches applied (resyncs after a connect included).
    pub patches_applied: u64,
    /// Reported PATCHes the hub accepted.
    pub reports_sent: u64,
    /// Answers or reports that failed to go out.
    pub errors: u64,
}

/// A snapshot of a simulated device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceState {
    /// The door-lock model (call [`DoorLock::state`] with "now" for the lock).
    pub lock: DoorLock,
    /// The connection.
    pub connection: DeviceConnection,
    /// The knobs the device currently applies.
    pub knobs: Knobs,
    /// What it has done.
    pub counters: DeviceCounters,
    /// The whole desired document as the device knows it (patches merged, `null`s removed),
    /// without `$version` and `$metadata`.
    pub desired: Map<String, Value>,
    /// When the last desired patch was applied.
    pub last_patch_at: Option<OffsetDateTime>,
}

/// Something a simulated device did, for an activity log. Timestamps are the device's clock.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceActivity {
    /// A direct method call and what became of it.
    Method {
        /// When it arrived.
        at: OffsetDateTime,
        /// The method name.
        name: String,
        /// The invocation payload.
        payload: Value,
        /// The answer sent (status and payload); `None` when the knobs left it unanswered.
        answer: Option<(i32, Value)>,
    },
    /// A desired patch was applied.
    DesiredPatch {
        /// When.
        at: OffsetDateTime,
        /// The desired `$version` after it.
        version: i64,
        /// The changed keys (the whole document when `full`).
        patch: Map<String, Value>,
        /// Whether it is the whole desired document, re-read after a connect.
        full: bool,
    },
    /// The connection changed.
    Connection {
        /// When.
        at: OffsetDateTime,
        /// The new state.
        connection: DeviceConnection,
    },
    /// The hub accepted a reported patch.
    Reported {
        /// When.
        at: OffsetDateTime,
        /// The patch sent.
        patch: Map<String, Value>,
    },
    /// An answer or report failed to go out.
    Error {
        /// When.
        at: OffsetDateTime,
        /// What went wrong (never contains a secret).
        message: String,
    },
}

/// A handle on a running simulated device. Cloning is cheap; every clone controls the same
/// device. Dropping the handles does not stop it: call [`SimulatedDevice::shutdown`].
#[derive(Debug, Clone)]
pub struct SimulatedDevice {
    device_id: Arc<str>,
    knobs: Arc<watch::Sender<Knobs>>,
    state: watch::Receiver<DeviceState>,
    activity: broadcast::Sender<DeviceActivity>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl SimulatedDevice {
    /// Starts a device that connects with `connection_string` and `options` (reconnecting
    /// until shut down) and applies `knobs` from the start. Returns at once; watch
    /// [`SimulatedDevice::state`] for the connection.
    pub fn spawn(
        connection_string: DeviceConnectionString,
        options: DeviceClientOptions,
        knobs: Knobs,
    ) -> Self {
        Self::spawn_observed(connection_string, options, knobs).0
    }

    /// [`SimulatedDevice::spawn`], with a receiver of the device's [`DeviceActivity`]
    /// subscribed before the device starts, so that it misses nothing (not even the first
    /// `Connecting`).
    pub fn spawn_observed(
        connection_string: DeviceConnectionString,
        options: DeviceClientOptions,
        knobs: Knobs,
    ) -> (Self, broadcast::Receiver<DeviceActivity>) {
        let (activity, observer) = broadcast::channel(ACTIVITY_CAPACITY);
        let device_id: Arc<str> = Arc::from(connection_string.device_id());
        let (knobs_sender, knobs_receiver) = watch::channel(knobs);
        let knobs_sender = Arc::new(knobs_sender);
        let (state_sender, state) = watch::channel(DeviceState {
            lock: DoorLock::new(),
            connection: DeviceConnection::Connecting,
            knobs,
            counters: DeviceCounters::default(),
            desired: Map::new(),
            last_patch_at: None,
        });
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let runner = Runner {
            device_id: device_id.clone(),
            connection_string,
            options,
            knobs: knobs_receiver,
            _knobs_sender: knobs_sender.clone(),
            state: Arc::new(state_sender),
            activity: activity.clone(),
            lock: DoorLock::new(),
            cancel: cancel.clone(),
            tracker: tracker.clone(),
        };
        tracker.spawn(runner.run());
        let device = Self {
            device_id,
            knobs: knobs_sender,
            state,
            activity,
            cancel,
            tracker,
        };
        (device, observer)
    }

    /// A receiver of what the device does from now on (see [`DeviceActivity`]).
    pub fn activity(&self) -> broadcast::Receiver<DeviceActivity> {
        self.activity.subscribe()
    }

    /// The device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Changes the knobs; the device applies them at once (setting `offline` disconnects,
    /// clearing it reconnects). [`DeviceState::knobs`] follows when the task has seen them.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.knobs.send_replace(knobs);
    }

    /// The knobs last set.
    pub fn knobs(&self) -> Knobs {
        *self.knobs.borrow()
    }

    /// The device's current state.
    pub fn state(&self) -> DeviceState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every new state, e.g. to wait for one with
    /// `watch::Receiver::wait_for`.
    pub fn watch(&self) -> watch::Receiver<DeviceState> {
        self.state.clone()
    }

    /// Waits until the state satisfies `predicate`, at most `timeout`; returns the state
    /// that did, or `None` on timeout or once the device has stopped.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&DeviceState) -> bool,
    ) -> Option<DeviceState> {
        let mut state = self.state.clone();
        tokio::time::timeout(timeout, state.wait_for(|s| predicate(s)))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|state| state.clone())
    }

    /// Stops the device (disconnecting it) without waiting; see [`SimulatedDevice::shutdown`].
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Disconnects and returns once every task of the device has finished.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Why a connection's loop ended.
enum End {
    /// Shut down.
    Cancelled,
    /// The `offline` knob was set.
    Offline,
    /// The client stopped for good (e.g. the key was refused).
    Lost {
        /// Why.
        cause: String,
        /// Whether the hub refused the credentials.
        refused: bool,
    },
}

/// What the reporter should bring the hub's reported document to.
#[derive(Debug, Clone, Default)]
struct Report {
    /// Bumped on every connect: the hub's reported document must be read again.
    generation: u64,
    /// The model's reported document.
    document: Option<Map<String, Value>>,
}

/// The device task: connection after connection, until cancelled.
struct Runner {
    device_id: Arc<str>,
    connection_string: DeviceConnectionString,
    options: DeviceClientOptions,
    knobs: watch::Receiver<Knobs>,
    /// Kept so that `knobs.changed()` never fails once the handles are gone.
    _knobs_sender: Arc<watch::Sender<Knobs>>,
    state: Arc<watch::Sender<DeviceState>>,
    activity: broadcast::Sender<DeviceActivity>,
    lock: DoorLock,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Runner {
    async fn run(mut self) {
        let mut failures: u32 = 0;
        loop {
            let knobs = *self.knobs.borrow_and_update();
            self.state.send_modify(|s| s.knobs = knobs);
            if knobs.offline {
                self.set_connection(DeviceConnection::Offline);
                tokio::select! {
                    () = self.cancel.cancelled() => break,
                    () = until_knobs(&mut self.knobs, |k| !k.offline) => continue,
                }
            }
            self.set_connection(DeviceConnection::Connecting);
            let connect =
                DeviceClient::connect(self.connection_string.clone(), self.options.clone());
            let result = tokio::select! {
                () = self.cancel.cancelled() => break,
                () = until_knobs(&mut self.knobs, |k| k.offline) => continue,
                result = connect => result,
            };
            let (cause, refused) = match result {
                Ok((client, events)) => {
                    failures = 0;
                    let end = self.run_connected(&client, events).await;
                    client.shutdown().await;
                    match end {
                        End::Cancelled => break,
                        End::Offline => continue,
                        End::Lost { cause, refused } => (cause, refused),
                    }
                }
                Err(error) => {
                    let refused = matches!(error, DeviceError::Unauthorized);
                    (error.to_string(), refused)
                }
            };
            tracing::debug!(device_id = %self.device_id, %cause, "connection failed");
            let delay = retry_delay(failures);
            failures = failures.saturating_add(1);
            self.set_connection(DeviceConnection::Retrying {
                cause,
                attempt: failures,
                retry_at: Some(OffsetDateTime::now_utc() + delay),
                refused,
            });
            tokio::select! {
                () = self.cancel.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
                () = until_knobs(&mut self.knobs, |k| k.offline) => {}
            }
        }
        self.set_connection(DeviceConnection::Stopped);
    }

    /// Serves one connected client until it stops, the device goes offline or shuts down.
    async fn run_connected(&mut self, client: &DeviceClient, mut events: DeviceEvents) -> End {
        let (report, reports) = watch::channel(Report::default());
        let reporter_cancel = self.cancel.child_token();
        self.tracker.spawn(reporter(
            client.clone(),
            reports,
            reporter_cancel.clone(),
            self.state.clone(),
            self.activity.clone(),
        ));
        // Why the client stopped, if it said so before its event stream ended.
        let mut refused = false;
        let _stop_reporter = reporter_cancel.drop_guard();
        loop {
            let now = OffsetDateTime::now_utc();
            let expiry = self.lock.next_change(now).map(|until| {
                Instant::now() + Duration::try_from(until - now).unwrap_or(Duration::ZERO)
            });
            tokio::select! {
                () = self.cancel.cancelled() => return End::Cancelled,
                () = until_knobs(&mut self.knobs, |_| true) => {
                    let knobs = *self.knobs.borrow();
                    self.state.send_modify(|s| s.knobs = knobs);
                    if knobs.offline {
                        return End::Offline;
                    }
                }
                event = events.recv() => match event {
                    Some(event) => {
                        if let DeviceEvent::ConnectionState(ConnectionState::Disconnected {
                            reason: DisconnectReason::Unauthorized,
                        }) = &event
                        {
                            refused = true;
                        }
                        self.on_event(event, client, &report).await;
                    }
                    None => {
                        let cause = if refused {
                            "the hub refused the device's credentials"
                        } else {
                            "the device client stopped"
                        };
                        return End::Lost { cause: cause.to_owned(), refused };
                    }
                },
                () = sleep_until(expiry) => {
                    // The lock opened by itself.
                    self.publish_lock();
                    self.report(&report, false);
                }
            }
        }
    }

    async fn on_event(
        &mut self,
        event: DeviceEvent,
        client: &DeviceClient,
        report: &watch::Sender<Report>,
    ) {
        let now = OffsetDateTime::now_utc();
        match event {
            DeviceEvent::MethodRequest(request) => {
                let knobs = *self.knobs.borrow();
                self.count(|c| c.methods_received += 1);
                let Some(outcome) =
                    knobs.answer(&mut self.lock, &request.name, &request.payload, now)
                else {
                    self.count(|c| c.methods_ignored += 1);
                    self.emit(DeviceActivity::Method {
                        at: now,
                        name: request.name,
                        payload: request.payload,
                        answer: None,
                    });
                    return;
                };
                let answer = (outcome.status, outcome.payload.clone());
                match client
                    .respond_to_method(&request.rid, outcome.status, outcome.payload)
                    .await
                {
                    Ok(()) => {
                        self.count(|c| c.methods_answered += 1);
                        self.emit(DeviceActivity::Method {
                            at: now,
                            name: request.name,
                            payload: request.payload,
                            answer: Some(answer),
                        });
                    }
                    Err(error) => {
                        tracing::warn!(device_id = %self.device_id, %error, "method answer failed");
                        self.count(|c| c.errors += 1);
                        self.emit(DeviceActivity::Method {
                            at: now,
                            name: request.name.clone(),
                            payload: request.payload,
                            answer: None,
                        });
                        self.emit(DeviceActivity::Error {
                            at: OffsetDateTime::now_utc(),
                            message: format!(
                                "the answer to {} did not go out: {error}",
                                request.name
                            ),
                        });
                    }
                }
                if outcome.changed {
                    self.publish_lock();
                    self.report(report, false);
                }
            }
            DeviceEvent::DesiredPatch(patch) => {
                self.lock
                    .on_desired_patch(&patch.patch, patch.version, patch.full, now);
                let lock = self.lock.clone();
                self.state.send_modify(|s| {
                    merge_desired(&mut s.desired, &patch.patch, patch.full);
                    s.last_patch_at = Some(now);
                    s.counters.patches_applied += 1;
                    s.lock = lock;
                });
                self.emit(DeviceActivity::DesiredPatch {
                    at: now,
                    version: patch.version,
                    patch: patch.patch,
                    full: patch.full,
                });
                self.report(report, false);
            }
            DeviceEvent::ConnectionState(state) => match state {
                ConnectionState::Connected => {
                    self.set_connection(DeviceConnection::Connected);
                    self.count(|c| c.connects += 1);
                    self.report(report, true);
                }
                ConnectionState::Connecting => self.set_connection(DeviceConnection::Connecting),
                ConnectionState::Reconnecting {
                    attempt,
                    retry_in,
                    cause,
                } => {
                    self.set_connection(DeviceConnection::Retrying {
                        cause,
                        attempt,
                        retry_at: Some(now + retry_in),
                        refused: false,
                    });
                }
                ConnectionState::Disconnected { reason } => {
                    let (cause, refused) = match reason {
                        DisconnectReason::ShutDown => ("shut down".to_owned(), false),
                        DisconnectReason::Unauthorized => {
                            ("the hub refused the device's key".to_owned(), true)
                        }
                        DisconnectReason::Refused { code } => (
                            format!("the hub refused the connection (CONNACK {code})"),
                            false,
                        ),
                    };
                    self.set_connection(DeviceConnection::Retrying {
                        cause,
                        attempt: 1,
                        retry_at: None,
                        refused,
                    });
                }
            },
            DeviceEvent::Error(error) => {
                tracing::debug!(device_id = %self.device_id, %error, "protocol error");
            }
        }
    }

    /// Hands the current reported document to the reporter; `resync` after a connect.
    fn report(&self, report: &watch::Sender<Report>, resync: bool) {
        let document = self.lock.reported_properties(OffsetDateTime::now_utc());
        report.send_modify(|r| {
            if resync {
                r.generation += 1;
            }
            r.document = Some(document);
        });
    }

    fn publish_lock(&self) {
        let lock = self.lock.clone();
        self.state.send_modify(|s| s.lock = lock);
    }

    fn set_connection(&self, connection: DeviceConnection) {
        let changed = self.state.send_if_modified(|s| {
            let changed = s.connection != connection;
            s.connection = connection.clone();
            changed
        });
        if changed {
            self.emit(DeviceActivity::Connection {
                at: OffsetDateTime::now_utc(),
                connection,
            });
        }
    }

    /// Tells the observers, if any (having none is fine).
    fn emit(&self, activity: DeviceActivity) {
        let _ = self.activity.send(activity);
    }

    fn count(&self, change: impl FnOnce(&mut DeviceCounters)) {
        self.state.send_modify(|s| change(&mut s.counters));
    }
}

/// Brings the hub's reported document to the latest [`Report`], one PATCH at a time, until
/// cancelled.
async fn reporter(
    client: DeviceClient,
    mut reports: watch::Receiver<Report>,
    cancel: CancellationToken,
    state: Arc<watch::Sender<DeviceState>>,
    activity: broadcast::Sender<DeviceActivity>,
) {
    // What the hub has, as far as this connection knows; `None`: read it first.
    let mut hub_has: Option<Map<String, Value>> = None;
    let mut generation = 0;
    let mut retry = false;
    loop {
        let wait = async {
            if retry {
                tokio::select! {
                    () = tokio::time::sleep(REPORT_RETRY) => true,
                    changed = reports.changed() => changed.is_ok(),
                }
            } else {
                reports.changed().await.is_ok()
            }
        };
        let go_on = tokio::select! {
            () = cancel.cancelled() => false,
            go_on = wait => go_on,
        };
        if !go_on {
            return;
        }
        let report = reports.borrow_and_update().clone();
        let Some(target) = report.document else {
            continue;
        };
        if report.generation != generation {
            generation = report.generation;
            hub_has = None;
        }
        let from = match hub_has.take() {
            Some(from) => from,
            None => {
                let twin = tokio::select! {
                    () = cancel.cancelled() => return,
                    twin = client.get_twin() => twin,
                };
                match twin {
                    Ok(twin) => twin.reported.map(|r| r.values).unwrap_or_default(),
                    Err(error) => {
                        tracing::debug!(%error, "reading the twin before reporting failed");
                        retry = true;
                        continue;
                    }
                }
            }
        };
        let patch = reported_patch(&from, &target);
        if patch.is_empty() {
            hub_has = Some(target);
            retry = false;
            continue;
        }
        let sent = tokio::select! {
            () = cancel.cancelled() => return,
            sent = client.patch_reported(Value::Object(patch.clone())) => sent,
        };
        match sent {
            Ok(_) => {
                hub_has = Some(target);
                retry = false;
                state.send_modify(|s| s.counters.reports_sent += 1);
                let _ = activity.send(DeviceActivity::Reported {
                    at: OffsetDateTime::now_utc(),
                    patch,
                });
            }
            Err(error) => {
                // The hub may or may not have applied it: read again before the next try.
                tracing::debug!(%error, "reporting failed");
                retry = true;
                state.send_modify(|s| s.counters.errors += 1);
                let _ = activity.send(DeviceActivity::Error {
                    at: OffsetDateTime::now_utc(),
                    message: format!("reporting the lock state failed: {error}"),
                });
            }
        }
    }
}

/// Resolves once the knobs change to something `accept` takes.
async fn until_knobs(knobs: &mut watch::Receiver<Knobs>, accept: impl Fn(&Knobs) -> bool) {
    loop {
        if knobs.changed().await.is_err() {
            // The runner keeps a sender, so this does not happen; never resolve if it does.
            std::future::pending::<()>().await;
        }
        if accept(&knobs.borrow_and_update()) {
            return;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        // A millisecond late, so that the wall clock has certainly passed the lock's end.
        Some(deadline) => tokio::time::sleep_until(deadline + Duration::from_millis(1)).await,
        None => std::future::pending().await,
    }
}

/// Applies a desired patch to the desired document the device knows: `full` replaces it, a
/// partial patch merges (recursively for objects) and a `null` deletes. `$`-keys are skipped.
pub fn merge_desired(desired: &mut Map<String, Value>, patch: &Map<String, Value>, full: bool) {
    if full {
        desired.clear();
    }
    merge_object(desired, patch);
}

fn merge_object(into: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                into.remove(key);
            }
            Value::Object(inner) => match into.get_mut(key) {
                Some(Value::Object(existing)) => merge_object(existing, inner),
                _ => {
                    let mut fresh = Map::new();
                    merge_object(&mut fresh, inner);
                    into.insert(key.clone(), Value::Object(fresh));
                }
            },
            other => {
                into.insert(key.clone(), other.clone());
            }
        }
    }
}

/// Full jitter between half and all of the ceiling, which doubles per failure.
fn retry_delay(failures: u32) -> Duration {
    let ceiling = RETRY_INITIAL
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(RETRY_MAX);
    let half = ceiling / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_patches_merge_delete_and_replace() {
        let object = |value: Value| match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        };
        let mut desired = Map::new();
        merge_desired(
            &mut desired,
            &object(
                serde_json::json!({"building": 43, "floor": 1, "$version": 2, "nested": {"a": 1, "b": 2}}),
            ),
            false,
        );
        assert_eq!(
            Value::Object(desired.clone()),
            serde_json::json!({"building": 43, "floor": 1, "nested": {"a": 1, "b": 2}})
        );
        merge_desired(
            &mut desired,
            &object(
                serde_json::json!({"floor": 3, "building": null, "nested": {"a": null, "c": {"d": null}}}),
            ),
            false,
        );
        assert_eq!(
            Value::Object(desired.clone()),
            serde_json::json!({"floor": 3, "nested": {"b": 2, "c": {}}})
        );
        merge_desired(
            &mut desired,
            &object(serde_json::json!({"room": "A"})),
            true,
        );
        assert_eq!(Value::Object(desired), serde_json::json!({"room": "A"}));
    }

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        for failures in 0..40 {
            let ceiling = RETRY_INITIAL
                .saturating_mul(2u32.saturating_pow(failures.min(16)))
                .min(RETRY_MAX);
            let delay = retry_delay(failures);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{failures}: {delay:?}"
            );
        }
        assert!(retry_delay(0) <= RETRY_INITIAL);
        assert!(retry_delay(30) >= RETRY_MAX / 2);
    }
}
