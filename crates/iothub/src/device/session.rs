//! The device protocol state, sans I/O: inputs in, [`Output`]s out, time passed in.
//!
//! A [`Session`] knows nothing about sockets, tasks or clocks. The event loop feeds it what
//! happened (`handle_connected`, `handle_publish`, `handle_tick`, commands from the app) and
//! carries out what it asks for ([`Session::poll_output`]): open a connection, subscribe,
//! publish, disconnect, tell the app something, complete a request. [`Session::next_deadline`]
//! says when to call [`Session::handle_tick`] next.
//!
//! What it keeps:
//! - the link state: connecting, connected (and since when subscribed), closing, waiting to
//!   retry (exponential backoff with full jitter, from a seeded generator so tests are
//!   deterministic), stopped;
//! - the pending requests by `$rid` (twin GETs, reported PATCHes and the internal resync GET),
//!   each with a deadline; requests made or left unanswered while offline are (re)sent after
//!   the next connect with the same `$rid`;
//! - the subscriptions, issued again after every connect;
//! - the last desired `$version` delivered to the app: a patch that is not newer is dropped,
//!   and after every connect a twin GET delivers the whole desired document if it is newer;
//! - when the SAS token of the current connection must be renewed.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rumqttc::QoS;
use serde_json::{Map, Value};

use super::{
    ConnectionState, DesiredPatch, DeviceEvent, DisconnectReason, MethodRequest, ProtocolError,
    TelemetryMessage,
};
use crate::model::{TwinCollection, TwinProperties};
use crate::topic::{Filter, Topic};

/// The filters subscribed after every connect.
pub const SUBSCRIPTIONS: [Filter; 3] = [
    Filter::Methods,
    Filter::TwinResponses,
    Filter::DesiredPatches,
];

/// How long before expiry a SAS token is renewed: 2 minutes (as the Python SDK does), but
/// never more than a fifth of its lifetime, so short test TTLs renew at 80 %.
pub fn renew_after(ttl: Duration) -> Duration {
    ttl - (ttl / 5).min(Duration::from_secs(120))
}

/// Exponential backoff with full jitter: attempt `n` waits a uniformly random time between
/// zero and `min(max, initial · 2ⁿ⁻¹)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry.
    pub initial: Duration,
    /// The largest ceiling.
    pub max: Duration,
}

impl Backoff {
    /// The ceiling for attempt `attempt` (counted from 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The delay before attempt `attempt`, for `jitter` drawn uniformly from `[0, 1]`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        self.ceiling(attempt).mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// What a session needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The device id, for telemetry topics.
    pub device_id: String,
    /// The module id, for a module identity.
    pub module_id: Option<String>,
    /// How long a twin GET or PATCH may wait for its answer (offline time included).
    pub request_timeout: Duration,
    /// Lifetime of the SAS token minted for each connection.
    pub token_ttl: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Delay before retrying a failed twin resync while connected.
    pub resync_retry: Duration,
    /// How many publishes (telemetry, method responses) may wait for a connection.
    pub max_queued: usize,
}

/// A PUBLISH for the event loop to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPublish {
    /// The topic, formatted.
    pub topic: String,
    /// Always [`QoS::AtLeastOnce`] here, as the Python SDK sends.
    pub qos: QoS,
    /// The body.
    pub payload: Vec<u8>,
}

/// What the session asks the event loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a new connection with a freshly minted SAS token, then report
    /// [`Session::handle_connected`] or [`Session::handle_connect_failed`].
    Connect,
    /// Send one SUBSCRIBE with these filters (QoS 1), then report
    /// [`Session::handle_subscribed`] on its SUBACK.
    Subscribe(Vec<Filter>),
    /// Send a PUBLISH.
    Publish(OutgoingPublish),
    /// Send DISCONNECT and close the connection, then report
    /// [`Session::handle_connection_lost`].
    Disconnect,
    /// Tell the app.
    Event(DeviceEvent),
    /// A request returned by [`Session::get_twin`] or [`Session::patch_reported`] is done.
    Completed {
        /// Its `$rid`.
        rid: String,
        /// Its outcome.
        result: Result<Reply, RequestError>,
    },
    /// The session is over; stop the event loop.
    Stop,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The twin, as the hub answers a GET: `desired` and `reported`.
    Twin(TwinProperties),
    /// A reported PATCH was applied; the reported document now has this `$version`.
    Reported {
        /// The new reported `$version`.
        version: i64,
    },
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No answer before the request timeout.
    #[error("no answer in time")]
    Timeout,
    /// The hub answered with an error status.
    #[error("status {0}")]
    Status(u16),
    /// The answer could not be understood.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// Too many messages wait for a connection.
    #[error("queue full")]
    QueueFull,
    /// The session is stopping or stopped.
    #[error("shut down")]
    ShutDown,
}

/// Why a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The hub answered CONNACK with this non-zero return code.
    Refused {
        /// 1 protocol version, 2 client id, 3 unavailable, 4 bad user name or password,
        /// 5 not authorized.
        code: u8,
    },
    /// DNS, TCP, TLS, WebSocket or timeout; the text is shown to the user.
    Transport(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// `Output::Connect` was issued; waiting for the outcome.
    Connecting,
    /// CONNACK 0 received; `ready` once the SUBACK is in.
    Connected {
        renew_at: Instant,
        ready: bool,
    },
    /// `Output::Disconnect` was issued; then reconnect (token renewal) or stop.
    Closing {
        then_stop: bool,
    },
    /// Waiting to retry.
    Waiting {
        until: Instant,
    },
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TwinGet,
    Reported,
    /// The GET after every connect; its answer goes to the desired-patch stream.
    Resync,
}

#[derive(Debug, Clone)]
struct Pending {
    kind: Kind,
    deadline: Instant,
    topic: String,
    payload: Vec<u8>,
    /// Sent on the current connection (cleared when it is lost).
    sent: bool,
}

/// The protocol state of one device client. See the module docs.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    rng: fastrand::Rng,
    link: Link,
    shutting_down: bool,
    /// Failed connection attempts in a row.
    attempt: u32,
    /// When the token of the current (or upcoming) connection was minted.
    token_issued_at: Instant,
    next_rid: u64,
    pending: BTreeMap<u64, Pending>,
    /// Publishes waiting for a ready connection.
    outbox: VecDeque<OutgoingPublish>,
    /// The last desired `$version` delivered to the app.
    desired_version: Option<i64>,
    resync_retry_at: Option<Instant>,
    outputs: VecDeque<Output>,
}

impl Session {
    /// A session that starts by asking for a connection. `seed` seeds the backoff jitter.
    pub fn new(config: SessionConfig, seed: u64, now: Instant) -> Self {
        let mut session = Self {
            config,
            rng: fastrand::Rng::with_seed(seed),
            link: Link::Connecting,
            shutting_down: false,
            attempt: 0,
            token_issued_at: now,
            next_rid: 1,
            pending: BTreeMap::new(),
            outbox: VecDeque::new(),
            desired_version: None,
            resync_retry_at: None,
            outputs: VecDeque::new(),
        };
        session.start_connect(now);
        session
    }

    /// The next thing for the event loop to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Session::handle_tick`] must be called next, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let link = match self.link {
            Link::Waiting { until } => Some(until),
            Link::Connected { renew_at, .. } => Some(renew_at),
            Link::Stopped => return None,
            Link::Connecting | Link::Closing { .. } => None,
        };
        let pending = self.pending.values().map(|pending| pending.deadline).min();
        [link, pending, self.resync_retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the session has stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.link == Link::Stopped
    }

    /// The last desired `$version` delivered to the app.
    pub fn desired_version(&self) -> Option<i64> {
        self.desired_version
    }

    /// The connection asked for by [`Output::Connect`] is up (CONNACK 0).
    pub fn handle_connected(&mut self, _now: Instant) {
        if self.link != Link::Connecting {
            return;
        }
        self.attempt = 0;
        self.link = Link::Connected {
            renew_at: self.token_issued_at + renew_after(self.config.token_ttl),
            ready: false,
        };
        self.event(DeviceEvent::ConnectionState(ConnectionState::Connected));
        self.outputs
            .push_back(Output::Subscribe(SUBSCRIPTIONS.to_vec()));
    }

    /// The SUBACK for [`Output::Subscribe`] arrived: resync the twin, send what waited.
    pub fn handle_subscribed(&mut self, now: Instant) {
        let Link::Connected { ready, .. } = &mut self.link else {
            return;
        };
        if *ready {
            return;
        }
        *ready = true;
        self.add_request(now, Kind::Resync, |rid| Topic::TwinGet { rid }, Vec::new());
        self.send_unsent();
        while let Some(publish) = self.outbox.pop_front() {
            self.outputs.push_back(Output::Publish(publish));
        }
    }

    /// The connection asked for by [`Output::Connect`] could not be established.
    pub fn handle_connect_failed(&mut self, now: Instant, failure: ConnectFailure) {
        if self.link != Link::Connecting {
            return;
        }
        if self.shutting_down {
            return self.stop(DisconnectReason::ShutDown);
        }
        match failure {
            ConnectFailure::Refused { code: 4 | 5 } => self.stop(DisconnectReason::Unauthorized),
            ConnectFailure::Refused {
                code: code @ (1 | 2),
            } => {
                self.stop(DisconnectReason::Refused { code });
            }
            ConnectFailure::Refused { code } => {
                self.schedule_retry(
                    now,
                    format!("the hub refused the connection (CONNACK {code})"),
                );
            }
            ConnectFailure::Transport(cause) => self.schedule_retry(now, cause),
        }
    }

    /// The connection closed: lost, closed by the hub, or closed after [`Output::Disconnect`].
    pub fn handle_connection_lost(&mut self, now: Instant, cause: String) {
        match self.link {
            Link::Connected { .. } => {
                self.mark_offline();
                if self.shutting_down {
                    self.stop(DisconnectReason::ShutDown);
                } else {
                    self.schedule_retry(now, cause);
                }
            }
            Link::Closing { then_stop: false } => {
                self.mark_offline();
                self.start_connect(now);
            }
            Link::Closing { then_stop: true } => {
                self.mark_offline();
                self.stop(DisconnectReason::ShutDown);
            }
            Link::Connecting => self.handle_connect_failed(now, ConnectFailure::Transport(cause)),
            Link::Waiting { .. } | Link::Stopped => {}
        }
    }

    /// Time passed: retry a connection, renew the token, time requests out, retry a resync.
    pub fn handle_tick(&mut self, now: Instant) {
        match self.link {
            Link::Waiting { until } if now >= until => self.start_connect(now),
            Link::Connected { renew_at, .. } if now >= renew_at => {
                tracing::debug!("renewing the SAS token: reconnecting");
                self.link = Link::Closing { then_stop: false };
                self.outputs.push_back(Output::Disconnect);
            }
            Link::Waiting { .. }
            | Link::Connected { .. }
            | Link::Connecting
            | Link::Closing { .. }
            | Link::Stopped => {}
        }
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.deadline <= now)
            .map(|(rid, _)| *rid)
            .collect();
        for rid in expired {
            let Some(pending) = self.pending.remove(&rid) else {
                continue;
            };
            match pending.kind {
                Kind::Resync => self.resync_failed(now, "no answer in time".to_owned()),
                Kind::TwinGet | Kind::Reported => self.outputs.push_back(Output::Completed {
                    rid: rid.to_string(),
                    result: Err(RequestError::Timeout),
                }),
            }
        }
        if self.resync_retry_at.is_some_and(|at| now >= at) && self.is_ready() {
            self.resync_retry_at = None;
            self.add_request(now, Kind::Resync, |rid| Topic::TwinGet { rid }, Vec::new());
            self.send_unsent();
        }
    }

    /// A PUBLISH from the hub.
    pub fn handle_publish(&mut self, now: Instant, topic: &str, payload: &[u8]) {
        match Topic::parse(topic) {
            Err(error) => self.malformed(topic, error.to_string()),
            Ok(Topic::MethodRequest { name, rid }) => match parse_json(payload) {
                Ok(payload) => self.event(DeviceEvent::MethodRequest(MethodRequest {
                    name,
                    rid,
                    payload,
                })),
                Err(reason) => self.malformed(topic, reason),
            },
            Ok(Topic::TwinResponse {
                status,
                rid,
                version,
            }) => self.twin_response(now, topic, status, &rid, version, payload),
            Ok(Topic::DesiredPatch { version }) => self.desired_patch(topic, version, payload),
            Ok(
                Topic::CloudToDevice { .. }
                | Topic::MethodResponse { .. }
                | Topic::TwinGet { .. }
                | Topic::ReportedPatch { .. }
                | Topic::Telemetry { .. },
            ) => tracing::debug!(topic, "ignoring a publish this client did not subscribe to"),
        }
    }

    /// Answers the direct method request `rid`.
    pub fn respond_to_method(
        &mut self,
        rid: &str,
        status: i32,
        payload: &Value,
    ) -> Result<(), RequestError> {
        let topic = Topic::MethodResponse {
            status,
            rid: rid.to_owned(),
        };
        self.enqueue(topic.to_string(), payload.to_string().into_bytes())
    }

    /// Sends a device-to-cloud message.
    pub fn send_telemetry(&mut self, message: TelemetryMessage) -> Result<(), RequestError> {
        let topic = Topic::Telemetry {
            device_id: self.config.device_id.clone(),
            module_id: self.config.module_id.clone(),
            properties: message.properties,
        };
        self.enqueue(topic.to_string(), message.body)
    }

    /// Requests the twin; the answer comes as [`Output::Completed`] with the returned `$rid`.
    pub fn get_twin(&mut self, now: Instant) -> Result<String, RequestError> {
        self.check_open()?;
        let rid = self.add_request(now, Kind::TwinGet, |rid| Topic::TwinGet { rid }, Vec::new());
        self.send_unsent();
        Ok(rid)
    }

    /// PATCHes reported properties; the answer comes as [`Output::Completed`] with the
    /// returned `$rid`.
    pub fn patch_reported(&mut self, now: Instant, patch: &Value) -> Result<String, RequestError> {
        self.check_open()?;
        let payload = patch.to_string().into_bytes();
        let rid = self.add_request(
            now,
            Kind::Reported,
            |rid| Topic::ReportedPatch { rid },
            payload,
        );
        self.send_unsent();
        Ok(rid)
    }

    /// Ends the session: DISCONNECT if connected, then [`Output::Stop`].
    pub fn shutdown(&mut self) {
        if self.shutting_down || self.link == Link::Stopped {
            return;
        }
        self.shutting_down = true;
        match self.link {
            Link::Connected { .. } => {
                self.link = Link::Closing { then_stop: true };
                self.outputs.push_back(Output::Disconnect);
            }
            Link::Closing { .. } => self.link = Link::Closing { then_stop: true },
            Link::Connecting | Link::Waiting { .. } => self.stop(DisconnectReason::ShutDown),
            Link::Stopped => {}
        }
    }

    fn is_ready(&self) -> bool {
        matches!(self.link, Link::Connected { ready: true, .. })
    }

    fn check_open(&self) -> Result<(), RequestError> {
        if self.shutting_down || self.link == Link::Stopped {
            Err(RequestError::ShutDown)
        } else {
            Ok(())
        }
    }

    fn event(&mut self, event: DeviceEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    fn malformed(&mut self, topic: &str, reason: String) {
        tracing::warn!(topic, %reason, "malformed message from the hub");
        self.event(DeviceEvent::Error(ProtocolError::Malformed {
            topic: topic.to_owned(),
            reason,
        }));
    }

    fn start_connect(&mut self, now: Instant) {
        self.link = Link::Connecting;
        self.token_issued_at = now;
        self.event(DeviceEvent::ConnectionState(ConnectionState::Connecting));
        self.outputs.push_back(Output::Connect);
    }

    fn schedule_retry(&mut self, now: Instant, cause: String) {
        self.attempt = self.attempt.saturating_add(1);
        let retry_in = self.config.backoff.delay(self.attempt, self.rng.f64());
        self.link = Link::Waiting {
            until: now + retry_in,
        };
        self.event(DeviceEvent::ConnectionState(
            ConnectionState::Reconnecting {
                attempt: self.attempt,
                retry_in,
                cause,
            },
        ));
    }

    fn stop(&mut self, reason: DisconnectReason) {
        self.link = Link::Stopped;
        self.shutting_down = true;
        self.resync_retry_at = None;
        self.outbox.clear();
        for (rid, pending) in std::mem::take(&mut self.pending) {
            match pending.kind {
                Kind::TwinGet | Kind::Reported => self.outputs.push_back(Output::Completed {
                    rid: rid.to_string(),
                    result: Err(RequestError::ShutDown),
                }),
                Kind::Resync => {}
            }
        }
        self.event(DeviceEvent::ConnectionState(
            ConnectionState::Disconnected { reason },
        ));
        self.outputs.push_back(Output::Stop);
    }

    /// Forgets what was sent on a connection that is gone.
    fn mark_offline(&mut self) {
        self.pending
            .retain(|_, pending| pending.kind != Kind::Resync);
        for pending in self.pending.values_mut() {
            pending.sent = false;
        }
        self.resync_retry_at = None;
    }

    fn add_request(
        &mut self,
        now: Instant,
        kind: Kind,
        topic: impl FnOnce(String) -> Topic,
        payload: Vec<u8>,
    ) -> String {
        let rid = self.next_rid;
        self.next_rid += 1;
        self.pending.insert(
            rid,
            Pending {
                kind,
                deadline: now + self.config.request_timeout,
                topic: topic(rid.to_string()).to_string(),
                payload,
                sent: false,
            },
        );
        rid.to_string()
    }

    /// Sends every pending request not yet sent on this connection, oldest first.
    fn send_unsent(&mut self) {
        if !self.is_ready() {
            return;
        }
        for pending in self.pending.values_mut().filter(|pending| !pending.sent) {
            pending.sent = true;
            self.outputs.push_back(Output::Publish(OutgoingPublish {
                topic: pending.topic.clone(),
                qos: QoS::AtLeastOnce,
                payload: pending.payload.clone(),
            }));
        }
    }

    fn enqueue(&mut self, topic: String, payload: Vec<u8>) -> Result<(), RequestError> {
        self.check_open()?;
        let publish = OutgoingPublish {
            topic,
            qos: QoS::AtLeastOnce,
            payload,
        };
        if self.is_ready() {
            self.outputs.push_back(Output::Publish(publish));
        } else if self.outbox.len() >= self.config.max_queued {
            return Err(RequestError::QueueFull);
        } else {
            self.outbox.push_back(publish);
        }
        Ok(())
    }

    fn twin_response(
        &mut self,
        now: Instant,
        topic: &str,
        status: u16,
        rid: &str,
        version: Option<i64>,
        payload: &[u8],
    ) {
        let Some(pending) = rid
            .parse::<u64>()
            .ok()
            .and_then(|key| self.pending.remove(&key))
        else {
            tracing::debug!(topic, "ignoring a twin response for an unknown $rid");
            return;
        };
        let result = match pending.kind {
            Kind::Resync => return self.resync_answer(now, status, payload),
            Kind::TwinGet if status == 200 => serde_json::from_slice::<TwinProperties>(payload)
                .map(Reply::Twin)
                .map_err(|error| RequestError::Malformed(format!("twin body: {error}"))),
            Kind::Reported if (200..300).contains(&status) => match version {
                Some(version) => Ok(Reply::Reported { version }),
                None => Err(RequestError::Malformed(
                    "the PATCH answer has no $version".to_owned(),
                )),
            },
            Kind::TwinGet | Kind::Reported => Err(RequestError::Status(status)),
        };
        self.outputs.push_back(Output::Completed {
            rid: rid.to_owned(),
            result,
        });
    }

    fn resync_answer(&mut self, now: Instant, status: u16, payload: &[u8]) {
        if status != 200 {
            return self.resync_failed(now, format!("the hub answered status {status}"));
        }
        let desired = match serde_json::from_slice::<TwinProperties>(payload) {
            Ok(TwinProperties {
                desired: Some(desired),
                ..
            }) => desired,
            Ok(_) => return self.resync_failed(now, "the twin has no desired part".to_owned()),
            Err(error) => return self.resync_failed(now, format!("twin body: {error}")),
        };
        match desired.version {
            Some(version) => self.deliver_desired(version, desired.values, true),
            None => self.resync_failed(now, "desired has no $version".to_owned()),
        }
    }

    fn resync_failed(&mut self, now: Instant, reason: String) {
        tracing::warn!(%reason, "twin resync failed");
        self.event(DeviceEvent::Error(ProtocolError::TwinResyncFailed {
            reason,
        }));
        if self.is_ready() {
            self.resync_retry_at = Some(now + self.config.resync_retry);
        }
    }

    fn desired_patch(&mut self, topic: &str, topic_version: Option<i64>, payload: &[u8]) {
        let patch = parse_json(payload).and_then(|value| {
            serde_json::from_value::<TwinCollection>(value)
                .map_err(|error| format!("not a desired patch: {error}"))
        });
        match patch {
            Ok(patch) => match patch.version.or(topic_version) {
                Some(version) => self.deliver_desired(version, patch.values, false),
                None => self.malformed(topic, "no $version".to_owned()),
            },
            Err(reason) => self.malformed(topic, reason),
        }
    }

    fn deliver_desired(&mut self, version: i64, patch: Map<String, Value>, full: bool) {
        if self.desired_version.is_some_and(|last| version <= last) {
            tracing::debug!(version, full, "dropping a desired patch that is not newer");
            return;
        }
        self.desired_version = Some(version);
        self.event(DeviceEvent::DesiredPatch(DesiredPatch {
            version,
            patch,
            full,
        }));
    }
}

/// A JSON body; empty (or blank) means `null`, as the Python SDK reads `body or "null"`.
fn parse_json(payload: &[u8]) -> Result<Value, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(payload).map_err(|error| format!("body is not JSON: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TIMEOUT: Duration = Duration::from_secs(30);
    const TTL: Duration = Duration::from_secs(3600);

    fn config() -> SessionConfig {
        SessionConfig {
            device_id: "dev1".into(),
            module_id: None,
            request_timeout: TIMEOUT,
            token_ttl: TTL,
            backoff: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
            resync_retry: Duration::from_secs(5),
            max_queued: 2,
        }
    }

    /// A session plus a fake clock.
    struct Harness {
        session: Session,
        start: Instant,
        now: Instant,
    }

    impl Harness {
        fn new() -> Self {
            let start = Instant::now();
            Self {
                session: Session::new(config(), 7, start),
                start,
                now: start,
            }
        }

        /// A session that is connected, subscribed, and has delivered desired version
        /// `desired` from its first resync (rid 1).
        fn ready(desired: i64) -> Self {
            let mut harness = Self::new();
            harness.drain();
            harness.session.handle_connected(harness.now);
            harness.session.handle_subscribed(harness.now);
            harness.drain();
            harness.publish(
                "$iothub/twin/res/200/?$rid=1",
                &json!({"desired": {"$version": desired}, "reported": {"$version": 1}}),
            );
            harness.drain();
            harness
        }

        fn advance(&mut self, by: Duration) {
            self.now += by;
            self.session.handle_tick(self.now);
        }

        fn publish(&mut self, topic: &str, body: &Value) {
            self.session
                .handle_publish(self.now, topic, body.to_string().as_bytes());
        }

        fn drain(&mut self) -> Vec<Output> {
            std::iter::from_fn(|| self.session.poll_output()).collect()
        }
    }

    fn publish(topic: &str, payload: &[u8]) -> Output {
        Output::Publish(OutgoingPublish {
            topic: topic.to_owned(),
            qos: QoS::AtLeastOnce,
            payload: payload.to_vec(),
        })
    }

    fn state(state: ConnectionState) -> Output {
        Output::Event(DeviceEvent::ConnectionState(state))
    }

    fn desired(version: i64, patch: Value, full: bool) -> Output {
        let Value::Object(patch) = patch else {
            panic!("patch must be an object");
        };
        Output::Event(DeviceEvent::DesiredPatch(DesiredPatch {
            version,
            patch,
            full,
        }))
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let backoff = Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
        };
        // (attempt, jitter, delay)
        let table = [
            (1, 1.0, Duration::from_millis(500)),
            (2, 1.0, Duration::from_secs(1)),
            (3, 1.0, Duration::from_secs(2)),
            (3, 0.5, Duration::from_secs(1)),
            (3, 0.0, Duration::ZERO),
            (6, 1.0, Duration::from_secs(10)),
            (u32::MAX, 1.0, Duration::from_secs(10)),
            (0, 1.0, Duration::from_millis(500)),
            (2, 7.0, Duration::from_secs(1)),
            (2, -1.0, Duration::ZERO),
        ];
        for (attempt, jitter, expected) in table {
            assert_eq!(
                backoff.delay(attempt, jitter),
                expected,
                "attempt {attempt}, jitter {jitter}"
            );
        }
    }

    #[test]
    fn tokens_renew_two_minutes_early_or_at_80_percent() {
        let table = [(3600, 3480), (600, 480), (300, 240), (10, 8), (0, 0)];
        for (ttl, renew) in table {
            assert_eq!(
                renew_after(Duration::from_secs(ttl)),
                Duration::from_secs(renew),
                "ttl {ttl}"
            );
        }
    }

    #[test]
    fn first_connect_subscribes_then_resyncs_the_twin() {
        let mut h = Harness::new();
        assert_eq!(
            h.drain(),
            [state(ConnectionState::Connecting), Output::Connect]
        );
        h.session.handle_connected(h.now);
        assert_eq!(
            h.drain(),
            [
                state(ConnectionState::Connected),
                Output::Subscribe(SUBSCRIPTIONS.to_vec())
            ]
        );
        assert_eq!(
            SUBSCRIPTIONS.map(|filter| filter.to_string()),
            [
                "$iothub/methods/POST/#",
                "$iothub/twin/res/#",
                "$iothub/twin/PATCH/properties/desired/#"
            ]
        );
        h.session.handle_subscribed(h.now);
        assert_eq!(h.drain(), [publish("$iothub/twin/GET/?$rid=1", b"")]);
        h.publish(
            "$iothub/twin/res/200/?$rid=1",
            &json!({"desired": {"lock": "auto", "$version": 4}, "reported": {"$version": 1}}),
        );
        assert_eq!(h.drain(), [desired(4, json!({"lock": "auto"}), true)]);
        assert_eq!(h.session.desired_version(), Some(4));
    }

    #[test]
    fn reconnect_resubscribes_and_resyncs_delivering_only_newer_desired() {
        // (desired $version in the GET answer after the reconnect, expected delivery)
        let table = [
            (3, Some(desired(3, json!({"a": 3}), true))),
            (2, None),
            (1, None),
        ];
        for (version, expected) in table {
            let mut h = Harness::ready(2);
            h.session
                .handle_connection_lost(h.now, "connection reset".into());
            let outputs = h.drain();
            let [
                Output::Event(DeviceEvent::ConnectionState(ConnectionState::Reconnecting {
                    attempt: 1,
                    retry_in,
                    cause,
                })),
            ] = outputs.as_slice()
            else {
                panic!("expected one Reconnecting, got {outputs:?}");
            };
            assert_eq!(cause, "connection reset");
            assert!(*retry_in <= Duration::from_secs(1));
            assert_eq!(h.session.next_deadline(), Some(h.now + *retry_in));
            h.advance(*retry_in);
            assert_eq!(
                h.drain(),
                [state(ConnectionState::Connecting), Output::Connect]
            );
            h.session.handle_connected(h.now);
            assert_eq!(
                h.drain(),
                [
                    state(ConnectionState::Connected),
                    Output::Subscribe(SUBSCRIPTIONS.to_vec())
                ]
            );
            h.session.handle_subscribed(h.now);
            assert_eq!(h.drain(), [publish("$iothub/twin/GET/?$rid=2", b"")]);
            h.publish(
                "$iothub/twin/res/200/?$rid=2",
                &json!({"desired": {"a": version, "$version": version}, "reported": {}}),
            );
            assert_eq!(
                h.drain(),
                expected.into_iter().collect::<Vec<_>>(),
                "v{version}"
            );
        }
    }

    #[test]
    fn desired_patches_are_delivered_in_version_order_only() {
        // Each row: patches in arrival order (topic version, body) → versions delivered.
        type Row<'a> = (&'a [(i64, Value)], &'a [i64]);
        let table: &[Row] = &[
            (&[(3, json!({"x": 1, "$version": 3}))], &[3]),
            (&[(2, json!({"x": 1, "$version": 2}))], &[]),
            (&[(1, json!({"x": 1, "$version": 1}))], &[]),
            (
                &[
                    (4, json!({"x": 1, "$version": 4})),
                    (3, json!({"x": 2, "$version": 3})),
                    (5, json!({"x": 3, "$version": 5})),
                    (5, json!({"x": 3, "$version": 5})),
                ],
                &[4, 5],
            ),
            // The body's $version wins over the topic's, as the Python SDK reads the body.
            (&[(9, json!({"x": 1, "$version": 2}))], &[]),
            // No $version in the body: the topic's is used.
            (&[(3, json!({"x": 1}))], &[3]),
        ];
        for (patches, delivered) in table {
            let mut h = Harness::ready(2);
            for (version, body) in *patches {
                h.publish(
                    &format!("$iothub/twin/PATCH/properties/desired/?$version={version}"),
                    body,
                );
            }
            let versions: Vec<i64> = h
                .drain()
                .into_iter()
                .map(|output| match output {
                    Output::Event(DeviceEvent::DesiredPatch(patch)) => {
                        assert!(!patch.full);
                        assert!(!patch.patch.contains_key("$version"));
                        patch.version
                    }
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            assert_eq!(&versions, delivered, "{patches:?}");
        }
    }

    #[test]
    fn pending_requests_complete_by_rid_and_unknown_rids_are_ignored() {
        let mut h = Harness::ready(1);
        let get = h.session.get_twin(h.now).expect("open");
        let patch = h
            .session
            .patch_reported(h.now, &json!({"locked": true}))
            .expect("open");
        assert_eq!((get.as_str(), patch.as_str()), ("2", "3"));
        assert_eq!(
            h.drain(),
            [
                publish("$iothub/twin/GET/?$rid=2", b""),
                publish(
                    "$iothub/twin/PATCH/properties/reported/?$rid=3",
                    br#"{"locked":true}"#
                ),
            ]
        );
        let twin =
            json!({"desired": {"$version": 1}, "reported": {"locked": false, "$version": 6}});
        // (topic, body, expected outputs)
        let table: Vec<(&str, Value, Vec<Output>)> = vec![
            ("$iothub/twin/res/200/?$rid=99", json!({}), vec![]),
            ("$iothub/twin/res/200/?$rid=abc", json!({}), vec![]),
            (
                "$iothub/twin/res/204/?$rid=3&$version=7",
                Value::Null,
                vec![Output::Completed {
                    rid: "3".into(),
                    result: Ok(Reply::Reported { version: 7 }),
                }],
            ),
            // Already completed: a duplicate answer is ignored.
            (
                "$iothub/twin/res/204/?$rid=3&$version=8",
                Value::Null,
                vec![],
            ),
            (
                "$iothub/twin/res/200/?$rid=2",
                twin.clone(),
                vec![Output::Completed {
                    rid: "2".into(),
                    result: Ok(Reply::Twin(
                        serde_json::from_value(twin).expect("valid twin"),
                    )),
                }],
            ),
        ];
        for (topic, body, expected) in table {
            h.publish(topic, &body);
            assert_eq!(h.drain(), expected, "{topic}");
        }
        assert_eq!(
            h.session.next_deadline(),
            Some(h.now + TTL - Duration::from_secs(120))
        );
    }

    #[test]
    fn error_statuses_and_bad_answers_fail_requests() {
        // (answer topic, body, expected result) for a GET (rid 2) and a PATCH (rid 3).
        let table: Vec<(&str, &[u8], Result<Reply, RequestError>)> = vec![
            (
                "$iothub/twin/res/429/?$rid=2",
                b"",
                Err(RequestError::Status(429)),
            ),
            (
                "$iothub/twin/res/400/?$rid=3",
                b"",
                Err(RequestError::Status(400)),
            ),
            (
                "$iothub/twin/res/204/?$rid=3",
                b"",
                Err(RequestError::Malformed(
                    "the PATCH answer has no $version".into(),
                )),
            ),
        ];
        for (topic, body, expected) in table {
            let mut h = Harness::ready(1);
            h.session.get_twin(h.now).expect("open");
            h.session.patch_reported(h.now, &json!({})).expect("open");
            h.drain();
            h.session.handle_publish(h.now, topic, body);
            let outputs = h.drain();
            let [Output::Completed { result, .. }] = outputs.as_slice() else {
                panic!("expected a completion for {topic}, got {outputs:?}");
            };
            assert_eq!(result, &expected, "{topic}");
        }
        let mut h = Harness::ready(1);
        h.session.get_twin(h.now).expect("open");
        h.drain();
        h.session
            .handle_publish(h.now, "$iothub/twin/res/200/?$rid=2", b"{not json");
        let outputs = h.drain();
        assert!(
            matches!(
                outputs.as_slice(),
                [Output::Completed {
                    result: Err(RequestError::Malformed(_)),
                    ..
                }]
            ),
            "{outputs:?}"
        );
    }

    #[test]
    fn pending_requests_time_out_and_resync_timeouts_retry() {
        let mut h = Harness::new();
        h.drain();
        h.session.handle_connected(h.now);
        h.session.handle_subscribed(h.now);
        h.drain();
        h.advance(Duration::from_secs(10));
        let rid = h.session.get_twin(h.now).expect("open");
        h.drain();
        // The resync GET (rid 1, sent at 0 s) times out first, at 30 s.
        assert_eq!(h.session.next_deadline(), Some(h.start + TIMEOUT));
        h.advance(Duration::from_secs(20));
        assert_eq!(
            h.drain(),
            [Output::Event(DeviceEvent::Error(
                ProtocolError::TwinResyncFailed {
                    reason: "no answer in time".into()
                }
            ))]
        );
        h.advance(Duration::from_secs(5));
        assert_eq!(h.drain(), [publish("$iothub/twin/GET/?$rid=3", b"")]);
        h.advance(Duration::from_secs(5));
        assert_eq!(
            h.drain(),
            [Output::Completed {
                rid,
                result: Err(RequestError::Timeout)
            }]
        );
    }

    #[test]
    fn requests_made_offline_are_sent_after_the_next_connect() {
        let mut h = Harness::ready(1);
        let rid = h
            .session
            .patch_reported(h.now, &json!({"a": 1}))
            .expect("open");
        h.drain();
        h.session.handle_connection_lost(h.now, "gone".into());
        h.session
            .respond_to_method("m1", 200, &json!({"ok": true}))
            .expect("queued");
        h.session
            .send_telemetry(TelemetryMessage::new("t1").with_property("k", "v"))
            .expect("queued");
        assert_eq!(
            h.session.send_telemetry(TelemetryMessage::new("t2")),
            Err(RequestError::QueueFull)
        );
        h.drain();
        h.advance(Duration::from_secs(1));
        h.session.handle_connected(h.now);
        h.drain();
        h.session.handle_subscribed(h.now);
        assert_eq!(
            h.drain(),
            [
                publish(
                    &format!("$iothub/twin/PATCH/properties/reported/?$rid={rid}"),
                    br#"{"a":1}"#
                ),
                publish("$iothub/twin/GET/?$rid=3", b""),
                publish("$iothub/methods/res/200/?$rid=m1", br#"{"ok":true}"#),
                publish("devices/dev1/messages/events/k=v", b"t1"),
            ]
        );
    }

    #[test]
    fn method_requests_are_events_and_malformed_input_is_an_error_event() {
        let mut h = Harness::ready(1);
        // (topic, body, expected outputs)
        let table: Vec<(&str, &[u8], Vec<Output>)> = vec![
            (
                "$iothub/methods/POST/lockDoor/?$rid=1",
                br#"{"lockTime":"10m"}"#,
                vec![Output::Event(DeviceEvent::MethodRequest(MethodRequest {
                    name: "lockDoor".into(),
                    rid: "1".into(),
                    payload: json!({"lockTime": "10m"}),
                }))],
            ),
            (
                "$iothub/methods/POST/reboot/?$rid=2",
                b"",
                vec![Output::Event(DeviceEvent::MethodRequest(MethodRequest {
                    name: "reboot".into(),
                    rid: "2".into(),
                    payload: Value::Null,
                }))],
            ),
            ("devices/dev1/messages/devicebound/", b"hi", vec![]),
        ];
        for (topic, body, expected) in table {
            h.session.handle_publish(h.now, topic, body);
            assert_eq!(h.drain(), expected, "{topic}");
        }
        let malformed = [
            ("$iothub/methods/POST/lockDoor/?$rid=1", &b"{oops"[..]),
            ("$iothub/methods/POST/lockDoor/", &b"{}"[..]),
            (
                "$iothub/twin/PATCH/properties/desired/?$version=5",
                &b"[1,2]"[..],
            ),
            ("$iothub/twin/PATCH/properties/desired/", &br#"{"a":1}"#[..]),
            (
                "$iothub/twin/PATCH/properties/desired/?$version=5",
                &br#"{"$version":"five"}"#[..],
            ),
            (
                "$iothub/twin/PATCH/properties/desired/?$version=5",
                &b"\xff"[..],
            ),
            ("something/else", &b""[..]),
        ];
        for (topic, body) in malformed {
            h.session.handle_publish(h.now, topic, body);
            let outputs = h.drain();
            assert!(
                matches!(
                    outputs.as_slice(),
                    [Output::Event(DeviceEvent::Error(ProtocolError::Malformed { topic: t, .. }))] if t == topic
                ),
                "{topic}: {outputs:?}"
            );
        }
        assert_eq!(h.session.desired_version(), Some(1));
    }

    #[test]
    fn failed_resync_is_reported_and_retried() {
        let mut h = Harness::new();
        h.drain();
        h.session.handle_connected(h.now);
        h.session.handle_subscribed(h.now);
        h.drain();
        h.session
            .handle_publish(h.now, "$iothub/twin/res/500/?$rid=1", b"");
        assert_eq!(
            h.drain(),
            [Output::Event(DeviceEvent::Error(
                ProtocolError::TwinResyncFailed {
                    reason: "the hub answered status 500".into()
                }
            ))]
        );
        h.advance(Duration::from_secs(5));
        assert_eq!(h.drain(), [publish("$iothub/twin/GET/?$rid=2", b"")]);
    }

    #[test]
    fn token_renewal_reconnects_without_backoff() {
        let mut h = Harness::ready(1);
        h.advance(TTL - Duration::from_secs(121));
        assert_eq!(h.drain(), []);
        h.advance(Duration::from_secs(1));
        assert_eq!(h.drain(), [Output::Disconnect]);
        h.session.handle_connection_lost(h.now, "closed".into());
        assert_eq!(
            h.drain(),
            [state(ConnectionState::Connecting), Output::Connect]
        );
        // The new token is minted now, so the next renewal is a full period later.
        h.session.handle_connected(h.now);
        assert_eq!(h.session.next_deadline(), Some(h.now + renew_after(TTL)));
    }

    #[test]
    fn connect_failures_back_off_and_refusals_stop() {
        // (CONNACK code or transport failure, stops with)
        let table = [
            (
                ConnectFailure::Refused { code: 5 },
                Some(DisconnectReason::Unauthorized),
            ),
            (
                ConnectFailure::Refused { code: 4 },
                Some(DisconnectReason::Unauthorized),
            ),
            (
                ConnectFailure::Refused { code: 2 },
                Some(DisconnectReason::Refused { code: 2 }),
            ),
            (ConnectFailure::Refused { code: 3 }, None),
            (ConnectFailure::Transport("timed out".into()), None),
        ];
        for (failure, stops) in table {
            let mut h = Harness::new();
            h.drain();
            h.session.handle_connect_failed(h.now, failure.clone());
            let outputs = h.drain();
            match stops {
                Some(reason) => {
                    assert_eq!(
                        outputs,
                        [
                            state(ConnectionState::Disconnected { reason }),
                            Output::Stop
                        ],
                        "{failure:?}"
                    );
                    assert!(h.session.is_stopped());
                    assert_eq!(h.session.next_deadline(), None);
                }
                None => assert!(
                    matches!(
                        outputs.as_slice(),
                        [Output::Event(DeviceEvent::ConnectionState(
                            ConnectionState::Reconnecting { attempt: 1, .. }
                        ))]
                    ),
                    "{failure:?}: {outputs:?}"
                ),
            }
        }
    }

    #[test]
    fn consecutive_failures_grow_the_attempt_count_and_success_resets_it() {
        let mut h = Harness::new();
        h.drain();
        for attempt in 1..=4 {
            h.session
                .handle_connect_failed(h.now, ConnectFailure::Transport("refused".into()));
            let outputs = h.drain();
            let [
                Output::Event(DeviceEvent::ConnectionState(ConnectionState::Reconnecting {
                    attempt: got,
                    retry_in,
                    ..
                })),
            ] = outputs.as_slice()
            else {
                panic!("{outputs:?}");
            };
            assert_eq!(*got, attempt);
            assert!(*retry_in <= config().backoff.ceiling(attempt));
            h.advance(*retry_in);
            assert_eq!(
                h.drain(),
                [state(ConnectionState::Connecting), Output::Connect]
            );
        }
        h.session.handle_connected(h.now);
        h.session.handle_subscribed(h.now);
        h.session.handle_connection_lost(h.now, "lost".into());
        assert!(h.drain().iter().any(|output| matches!(
            output,
            Output::Event(DeviceEvent::ConnectionState(
                ConnectionState::Reconnecting { attempt: 1, .. }
            ))
        )));
    }

    #[test]
    fn shutdown_disconnects_then_stops_and_fails_pending_requests() {
        let mut h = Harness::ready(1);
        let rid = h.session.get_twin(h.now).expect("open");
        h.drain();
        h.session.shutdown();
        assert_eq!(h.drain(), [Output::Disconnect]);
        assert_eq!(h.session.get_twin(h.now), Err(RequestError::ShutDown));
        assert_eq!(
            h.session.send_telemetry(TelemetryMessage::new("x")),
            Err(RequestError::ShutDown)
        );
        h.session.handle_connection_lost(h.now, "closed".into());
        assert_eq!(
            h.drain(),
            [
                Output::Completed {
                    rid,
                    result: Err(RequestError::ShutDown)
                },
                state(ConnectionState::Disconnected {
                    reason: DisconnectReason::ShutDown
                }),
                Output::Stop
            ]
        );

        // While waiting to retry there is nothing to disconnect.
        let mut h = Harness::new();
        h.drain();
        h.session
            .handle_connect_failed(h.now, ConnectFailure::Transport("x".into()));
        h.drain();
        h.session.shutdown();
        assert_eq!(
            h.drain(),
            [
                state(ConnectionState::Disconnected {
                    reason: DisconnectReason::ShutDown
                }),
                Output::Stop
            ]
        );
    }

    #[test]
    fn module_telemetry_uses_the_module_topic() {
        let mut config = config();
        config.module_id = Some("mod1".into());
        let now = Instant::now();
        let mut session = Session::new(config, 1, now);
        session.handle_connected(now);
        session.handle_subscribed(now);
        std::iter::from_fn(|| session.poll_output()).for_each(drop);
        session
            .send_telemetry(TelemetryMessage::json(&json!({"t": 21})).with_message_id("m1"))
            .expect("ready");
        assert_eq!(
            session.poll_output(),
            Some(publish(
                "devices/dev1/modules/mod1/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&%24.mid=m1",
                br#"{"t":21}"#
            ))
        );
    }
}
