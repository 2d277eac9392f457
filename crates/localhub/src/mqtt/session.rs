//! The protocol state of one device connection, sans I/O: MQTT packets, hub replies, hub
//! messages and timer ticks in; [`Action`]s out (packets to send, hub calls, close).
//!
//! Time is an input ([`Now`]): keep-alive and token expiry are deadlines that the connection
//! task sleeps until ([`Session::deadline`]) and reports with [`Session::on_timer`].
//!
//! The session decides everything a device may do. Hub calls that answer something (the
//! credentials at CONNECT, a twin GET, a reported PATCH) come back as a [`HubReply`] through
//! [`Session::on_hub_reply`], so that every decision stays here and is unit-tested without
//! sockets or a store.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use iothub::auth::{SasError, SasToken, SharedAccessKey};
use iothub::model::HubError;
use iothub::topic::{Filter, Topic};
use percent_encoding::percent_decode_str;
use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, Publish, SubAck, Subscribe,
    SubscribeReasonCode, UnsubAck, Unsubscribe,
};
use rumqttc::mqttbytes::{Protocol, QoS};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::hub::{Subscriptions, ToDevice};

/// How long a client may take to send CONNECT after the TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The hub's longest keep-alive grace (1.5 × the largest keep-alive it allows, 1177 s).
pub const MAX_KEEP_ALIVE_GRACE: Duration = Duration::from_secs(1767);

/// A moment as the session sees it: monotonic for deadlines, unix seconds for SAS expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time.
    pub instant: Instant,
    /// Wall-clock time, unix seconds.
    pub unix: u64,
}

/// What the connection task must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write this packet to the device.
    Send(Packet),
    /// Call the hub; if it answers with a [`HubReply`], feed it to [`Session::on_hub_reply`].
    Hub(HubRequest),
    /// Close the connection (after writing what was sent before).
    Close(CloseReason),
}

/// A call on the hub, on behalf of the session's device.
#[derive(Debug, Clone, PartialEq)]
pub enum HubRequest {
    /// Look up what a CONNECT needs; answered with [`HubReply::Credentials`].
    Credentials {
        /// The device connecting.
        device_id: String,
        /// The policy that signed the token (`skn`), if any.
        key_name: Option<String>,
    },
    /// Register this connection (closing the device's previous one); from then on the hub
    /// sends it [`ToDevice`] messages.
    Register {
        /// The device.
        device_id: String,
    },
    /// Change the device's persistent subscriptions.
    Subscriptions {
        /// The device.
        device_id: String,
        /// What changes.
        change: SubscriptionChange,
    },
    /// Read the twin as a device sees it; answered with [`HubReply::TwinDocument`].
    GetTwin {
        /// The device.
        device_id: String,
        /// The request id to answer with.
        rid: String,
    },
    /// Apply a reported-properties patch; answered with [`HubReply::ReportedPatched`].
    PatchReported {
        /// The device.
        device_id: String,
        /// The request id to answer with.
        rid: String,
        /// The patch (a JSON object, as far as the session checked).
        patch: Value,
    },
    /// The device's answer to a direct method.
    MethodResponse {
        /// The device.
        device_id: String,
        /// The request id of the invocation.
        rid: String,
        /// The status the device chose.
        status: i32,
        /// The body (`null` when empty; a JSON string when the body is not JSON).
        payload: Value,
    },
    /// A device-to-cloud message was accepted: count it.
    Telemetry {
        /// The device.
        device_id: String,
        /// Size of the body in bytes.
        bytes: usize,
    },
}

/// A hub answer to a [`HubRequest`].
#[derive(Debug, Clone)]
pub enum HubReply {
    /// Answer to [`HubRequest::Credentials`].
    Credentials(Result<Credentials, HubError>),
    /// Answer to [`HubRequest::GetTwin`].
    TwinDocument {
        /// The request id.
        rid: String,
        /// The `{"desired":…,"reported":…}` document.
        result: Result<Value, HubError>,
    },
    /// Answer to [`HubRequest::PatchReported`].
    ReportedPatched {
        /// The request id.
        rid: String,
        /// The new reported `$version`.
        result: Result<i64, HubError>,
    },
}

/// What the hub knows that decides whether a CONNECT is accepted.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The device identity, `None` if it does not exist.
    pub device: Option<DeviceCredentials>,
    /// The policy named by the token's `skn`, if it named one and it exists.
    pub policy: Option<PolicyCredentials>,
    /// The device's persistent subscriptions (for CONNACK's session-present flag).
    pub subscriptions: Subscriptions,
}

/// A device identity's part of [`Credentials`].
#[derive(Debug, Clone)]
pub struct DeviceCredentials {
    /// Whether its status is `enabled`.
    pub enabled: bool,
    /// Its symmetric keys (primary, secondary).
    pub keys: Vec<SharedAccessKey>,
}

/// A shared-access policy's part of [`Credentials`].
#[derive(Debug, Clone)]
pub struct PolicyCredentials {
    /// Whether it grants DeviceConnect.
    pub device_connect: bool,
    /// Its keys (primary, secondary).
    pub keys: Vec<SharedAccessKey>,
}

/// A change to a device's persistent [`Subscriptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// Subscribe to those that are `true`.
    Add(Subscriptions),
    /// Unsubscribe from those that are `true`.
    Remove(Subscriptions),
    /// Forget all (a clean-session CONNECT).
    Clear,
}

impl SubscriptionChange {
    /// Applies the change to `subscriptions`.
    pub fn apply(self, subscriptions: &mut Subscriptions) {
        match self {
            Self::Add(added) => {
                subscriptions.methods |= added.methods;
                subscriptions.desired |= added.desired;
                subscriptions.twin_responses |= added.twin_responses;
            }
            Self::Remove(removed) => {
                subscriptions.methods &= !removed.methods;
                subscriptions.desired &= !removed.desired;
                subscriptions.twin_responses &= !removed.twin_responses;
            }
            Self::Clear => *subscriptions = Subscriptions::default(),
        }
    }
}

/// Why a connection was closed (for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The device sent DISCONNECT.
    Disconnected,
    /// CONNECT was refused with this return code.
    Refused(ConnectReturnCode),
    /// No CONNECT in time.
    ConnectTimeout,
    /// No packet within 1.5 × keep-alive.
    KeepAliveExpired,
    /// The CONNECT token's `se` passed.
    TokenExpired,
    /// A packet that is not allowed here (e.g. a second CONNECT, or anything before CONNECT).
    ProtocolViolation(&'static str),
    /// A publish with QoS 2, which IoT Hub does not support.
    ExactlyOnce,
    /// A publish to a topic this device may not publish to.
    ForbiddenTopic(String),
    /// Bytes that are not an MQTT 3.1.1 packet, or a packet over the size limit.
    Malformed(String),
    /// The hub closed the connection (another connection took over, the device was
    /// deleted).
    Hub(&'static str),
    /// The socket failed or the peer closed it.
    Io(String),
    /// localhub is shutting down.
    Shutdown,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("the device disconnected"),
            Self::Refused(code) => write!(f, "CONNECT refused ({code:?})"),
            Self::ConnectTimeout => f.write_str("no CONNECT in time"),
            Self::KeepAliveExpired => f.write_str("keep-alive expired"),
            Self::TokenExpired => f.write_str("the SAS token expired"),
            Self::ProtocolViolation(what) => write!(f, "protocol violation: {what}"),
            Self::ExactlyOnce => f.write_str("QoS 2 is not supported"),
            Self::ForbiddenTopic(topic) => write!(f, "publish to a forbidden topic '{topic}'"),
            Self::Malformed(what) => write!(f, "malformed packet: {what}"),
            Self::Hub(reason) => write!(f, "closed by the hub: {reason}"),
            Self::Io(error) => write!(f, "connection lost: {error}"),
            Self::Shutdown => f.write_str("localhub is shutting down"),
        }
    }
}

/// Why a CONNECT's credentials were refused (for logs; the device only sees CONNACK 5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No login in CONNECT.
    #[error("no user name and password")]
    NoLogin,
    /// The user name does not name the client id's device.
    #[error("user name '{0}' does not match the client id")]
    UsernameMismatch(String),
    /// A module client id: localhub has no module identities.
    #[error("module identities are not supported")]
    Module,
    /// The password is not a SAS token.
    #[error("password: {0}")]
    Token(SasError),
    /// No such device.
    #[error("unknown device")]
    UnknownDevice,
    /// The device is disabled.
    #[error("the device is disabled")]
    Disabled,
    /// `skn` names no policy.
    #[error("unknown policy '{0}'")]
    UnknownPolicy(String),
    /// The policy does not grant DeviceConnect.
    #[error("policy '{0}' does not grant DeviceConnect")]
    NoDeviceConnect(String),
    /// The token's host is not this hub's.
    #[error("token for host '{0}' does not match this hub")]
    WrongHost(String),
}

/// The parts of an MQTT user name, `{host}/{deviceId}[/{moduleId}]/?{query}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    /// The host name the device thinks it connects to.
    pub host: String,
    /// The device id.
    pub device_id: String,
    /// The module id, for module identities.
    pub module_id: Option<String>,
    /// Query parameters (`api-version`, `DeviceClientType`, `model-id`, …), decoded.
    pub parameters: Vec<(String, String)>,
}

impl Username {
    /// Parses leniently: the host up to the first `/`, then the device (and module) segments,
    /// then query parameters after `?` — or, as old SDKs sent it without `?`, in the first
    /// segment that contains `=`. Any api-version is accepted.
    pub fn parse(text: &str) -> Option<Self> {
        let (path, query) = match text.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (text, None),
        };
        let mut segments = path.split('/');
        let host = segments.next().filter(|h| !h.is_empty())?.to_owned();
        let mut ids = Vec::new();
        let mut query = query.map(str::to_owned);
        for segment in segments.filter(|s| !s.is_empty()) {
            if query.is_none() && segment.contains('=') {
                query = Some(segment.to_owned());
                break;
            }
            ids.push(segment);
        }
        let (device_id, module_id) = match ids.as_slice() {
            [device] => (device.to_string(), None),
            [device, module] => (device.to_string(), Some(module.to_string())),
            _ => return None,
        };
        let parameters = query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_lossy(key), decode_lossy(value))
            })
            .collect();
        Some(Self {
            host,
            device_id,
            module_id,
            parameters,
        })
    }
}

fn decode_lossy(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[derive(Debug)]
enum State {
    /// TLS is up; waiting for CONNECT.
    AwaitingConnect { deadline: Instant },
    /// CONNECT received; waiting for [`HubReply::Credentials`].
    Authenticating(PendingConnect),
    /// CONNACK 0 sent.
    Connected(Connected),
    /// Closed: every input is ignored.
    Closed,
}

#[derive(Debug)]
struct PendingConnect {
    device_id: String,
    token: SasToken,
    clean_session: bool,
    keep_alive: u16,
}

#[derive(Debug)]
struct Connected {
    device_id: String,
    /// 1.5 × keep-alive (capped), `None` when the client disabled keep-alive.
    keep_alive_grace: Option<Duration>,
    token_expires: Instant,
}

/// One device connection's protocol state. See the module documentation.
#[derive(Debug)]
pub struct Session {
    host_name: String,
    state: State,
    last_packet: Instant,
}

impl Session {
    /// A session for a connection whose TLS handshake just finished, on the hub answering as
    /// `host_name` (e.g. `localhost:8443`).
    pub fn new(host_name: impl Into<String>, now: Now) -> Self {
        Self {
            host_name: host_name.into(),
            state: State::AwaitingConnect {
                deadline: now.instant + CONNECT_TIMEOUT,
            },
            last_packet: now.instant,
        }
    }

    /// The authenticated device, once CONNACK 0 was sent.
    pub fn device_id(&self) -> Option<&str> {
        match &self.state {
            State::Connected(connected) => Some(&connected.device_id),
            State::AwaitingConnect { .. } | State::Authenticating(_) | State::Closed => None,
        }
    }

    /// Whether the session has closed (a [`Action::Close`] was returned).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// When [`Session::on_timer`] must be called next, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::AwaitingConnect { deadline } => Some(*deadline),
            State::Authenticating(_) | State::Closed => None,
            State::Connected(connected) => {
                let keep_alive = connected
                    .keep_alive_grace
                    .map(|grace| self.last_packet + grace);
                Some(match keep_alive {
                    Some(keep_alive) => keep_alive.min(connected.token_expires),
                    None => connected.token_expires,
                })
            }
        }
    }

    /// Time passed: closes the connection when a deadline is reached.
    pub fn on_timer(&mut self, now: Now) -> Vec<Action> {
        let reason = match &self.state {
            State::AwaitingConnect { deadline } if now.instant >= *deadline => {
                CloseReason::ConnectTimeout
            }
            State::Connected(connected) if now.instant >= connected.token_expires => {
                CloseReason::TokenExpired
            }
            State::Connected(Connected {
                keep_alive_grace: Some(grace),
                ..
            }) if now.instant >= self.last_packet + *grace => CloseReason::KeepAliveExpired,
            State::AwaitingConnect { .. }
            | State::Authenticating(_)
            | State::Connected(_)
            | State::Closed => return Vec::new(),
        };
        self.close(reason)
    }

    /// A packet from the device.
    pub fn on_packet(&mut self, packet: Packet, now: Now) -> Vec<Action> {
        self.last_packet = now.instant;
        match (&self.state, packet) {
            (State::Closed, _) => Vec::new(),
            (State::AwaitingConnect { .. }, Packet::Connect(connect)) => self.on_connect(connect),
            (State::AwaitingConnect { .. }, _) => {
                self.close(CloseReason::ProtocolViolation("a packet before CONNECT"))
            }
            (State::Authenticating(_), _) => {
                self.close(CloseReason::ProtocolViolation("a packet before CONNACK"))
            }
            (State::Connected(_), Packet::Publish(publish)) => self.on_publish(publish),
            (State::Connected(_), Packet::Subscribe(subscribe)) => self.on_subscribe(subscribe),
            (State::Connected(_), Packet::Unsubscribe(unsubscribe)) => {
                self.on_unsubscribe(unsubscribe)
            }
            (State::Connected(_), Packet::PingReq) => vec![Action::Send(Packet::PingResp)],
            // The hub publishes at QoS 0, so there is nothing to match an acknowledgement to;
            // a client acknowledging anyway does no harm.
            (State::Connected(_), Packet::PubAck(_)) => Vec::new(),
            (State::Connected(_), Packet::Disconnect) => self.close(CloseReason::Disconnected),
            (State::Connected(_), Packet::Connect(_)) => {
                self.close(CloseReason::ProtocolViolation("a second CONNECT"))
            }
            (State::Connected(_), Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_)) => {
                self.close(CloseReason::ExactlyOnce)
            }
            (
                State::Connected(_),
                Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp,
            ) => self.close(CloseReason::ProtocolViolation(
                "a packet only a server sends",
            )),
        }
    }

    /// A message the hub sends this connection.
    pub fn on_to_device(&mut self, message: ToDevice) -> Vec<Action> {
        if !matches!(self.state, State::Connected(_)) {
            return Vec::new();
        }
        match message {
            ToDevice::MethodRequest { name, rid, payload } => {
                let topic = Topic::MethodRequest { name, rid };
                vec![publish(&topic, json_bytes(&payload))]
            }
            ToDevice::DesiredPatch(patch) => {
                let version = patch.get("$version").and_then(Value::as_i64);
                let topic = Topic::DesiredPatch { version };
                vec![publish(&topic, json_bytes(&patch))]
            }
            ToDevice::Close(reason) => self.close(CloseReason::Hub(reason)),
        }
    }

    /// The hub's answer to a [`HubRequest`] this session asked for.
    pub fn on_hub_reply(&mut self, reply: HubReply, now: Now) -> Vec<Action> {
        match reply {
            HubReply::Credentials(result) => self.on_credentials(result, now),
            HubReply::TwinDocument { rid, result } => {
                if !matches!(self.state, State::Connected(_)) {
                    return Vec::new();
                }
                match result {
                    Ok(document) => vec![twin_response(200, rid, None, json_bytes(&document))],
                    Err(error) => vec![twin_error(rid, &error)],
                }
            }
            HubReply::ReportedPatched { rid, result } => {
                if !matches!(self.state, State::Connected(_)) {
                    return Vec::new();
                }
                match result {
                    Ok(version) => vec![twin_response(204, rid, Some(version), Bytes::new())],
                    Err(error) => vec![twin_error(rid, &error)],
                }
            }
        }
    }

    fn close(&mut self, reason: CloseReason) -> Vec<Action> {
        self.state = State::Closed;
        vec![Action::Close(reason)]
    }

    fn refuse(&mut self, code: ConnectReturnCode) -> Vec<Action> {
        self.state = State::Closed;
        vec![
            Action::Send(Packet::ConnAck(ConnAck::new(code, false))),
            Action::Close(CloseReason::Refused(code)),
        ]
    }

    fn on_connect(&mut self, connect: Connect) -> Vec<Action> {
        if connect.protocol != Protocol::V4 {
            return self.refuse(ConnectReturnCode::RefusedProtocolVersion);
        }
        if connect.client_id.is_empty() {
            return self.refuse(ConnectReturnCode::BadClientId);
        }
        match self.check_connect(&connect) {
            Ok(token) => {
                let device_id = connect.client_id.clone();
                let key_name = token.key_name().map(str::to_owned);
                self.state = State::Authenticating(PendingConnect {
                    device_id: device_id.clone(),
                    token,
                    clean_session: connect.clean_session,
                    keep_alive: connect.keep_alive,
                });
                vec![Action::Hub(HubRequest::Credentials {
                    device_id,
                    key_name,
                })]
            }
            Err(refusal) => {
                tracing::info!(client_id = %connect.client_id, %refusal, "refusing CONNECT");
                self.refuse(ConnectReturnCode::NotAuthorized)
            }
        }
    }

    /// What can be checked without the hub: login, user name, token syntax.
    fn check_connect(&self, connect: &Connect) -> Result<SasToken, Refusal> {
        if connect.client_id.contains('/') {
            return Err(Refusal::Module);
        }
        let login = connect.login.as_ref().ok_or(Refusal::NoLogin)?;
        let username = Username::parse(&login.username)
            .filter(|u| u.device_id == connect.client_id && u.module_id.is_none())
            .ok_or_else(|| Refusal::UsernameMismatch(login.username.clone()))?;
        tracing::debug!(
            device_id = %username.device_id,
            host = %username.host,
            parameters = ?username.parameters,
            "CONNECT"
        );
        login.password.parse::<SasToken>().map_err(Refusal::Token)
    }

    fn on_credentials(&mut self, result: Result<Credentials, HubError>, now: Now) -> Vec<Action> {
        if !matches!(self.state, State::Authenticating(_)) {
            return Vec::new();
        }
        let State::Authenticating(pending) = std::mem::replace(&mut self.state, State::Closed)
        else {
            return Vec::new();
        };
        let credentials = match result {
            Ok(credentials) => credentials,
            Err(error) => {
                tracing::warn!(device_id = %pending.device_id, %error, "could not check credentials");
                return self.refuse(ConnectReturnCode::ServiceUnavailable);
            }
        };
        if let Err(refusal) = authenticate(&pending, &credentials, &self.host_name, now.unix) {
            tracing::info!(device_id = %pending.device_id, %refusal, "refusing CONNECT");
            return self.refuse(ConnectReturnCode::NotAuthorized);
        }
        let lifetime = Duration::from_secs(pending.token.expiry().saturating_sub(now.unix));
        let keep_alive_grace = (pending.keep_alive > 0).then(|| {
            (Duration::from_secs(u64::from(pending.keep_alive)) * 3 / 2).min(MAX_KEEP_ALIVE_GRACE)
        });
        let session_present =
            !pending.clean_session && credentials.subscriptions != Subscriptions::default();
        let device_id = pending.device_id;
        let mut actions = Vec::new();
        if pending.clean_session {
            actions.push(Action::Hub(HubRequest::Subscriptions {
                device_id: device_id.clone(),
                change: SubscriptionChange::Clear,
            }));
        }
        actions.push(Action::Hub(HubRequest::Register {
            device_id: device_id.clone(),
        }));
        actions.push(Action::Send(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::Success,
            session_present,
        ))));
        self.state = State::Connected(Connected {
            device_id,
            keep_alive_grace,
            token_expires: now.instant + lifetime,
        });
        actions
    }

    fn connected_device(&self) -> &str {
        match &self.state {
            State::Connected(connected) => &connected.device_id,
            State::AwaitingConnect { .. } | State::Authenticating(_) | State::Closed => "",
        }
    }

    fn on_publish(&mut self, publish: Publish) -> Vec<Action> {
        if publish.qos == QoS::ExactlyOnce {
            return self.close(CloseReason::ExactlyOnce);
        }
        let topic = match Topic::parse(&publish.topic) {
            Ok(topic) => topic,
            Err(error) => {
                tracing::debug!(topic = %publish.topic, %error, "unknown topic");
                return self.close(CloseReason::ForbiddenTopic(publish.topic));
            }
        };
        let device_id = self.connected_device().to_owned();
        let request = match topic {
            Topic::MethodResponse { status, rid } => Action::Hub(HubRequest::MethodResponse {
                device_id,
                rid,
                status,
                payload: method_payload(&publish.payload),
            }),
            Topic::TwinGet { rid } => Action::Hub(HubRequest::GetTwin { device_id, rid }),
            Topic::ReportedPatch { rid } => {
                match serde_json::from_slice::<Value>(&publish.payload) {
                    Ok(patch) => Action::Hub(HubRequest::PatchReported {
                        device_id,
                        rid,
                        patch,
                    }),
                    Err(error) => twin_response(
                        400,
                        rid,
                        None,
                        json_bytes(&json!({ "message": format!("malformed JSON: {error}") })),
                    ),
                }
            }
            Topic::Telemetry {
                device_id: target,
                module_id: None,
                ..
            } if target == device_id => Action::Hub(HubRequest::Telemetry {
                device_id,
                bytes: publish.payload.len(),
            }),
            Topic::Telemetry { .. }
            | Topic::MethodRequest { .. }
            | Topic::TwinResponse { .. }
            | Topic::DesiredPatch { .. }
            | Topic::CloudToDevice { .. } => {
                return self.close(CloseReason::ForbiddenTopic(publish.topic));
            }
        };
        let mut actions = Vec::with_capacity(2);
        if publish.qos == QoS::AtLeastOnce {
            actions.push(Action::Send(Packet::PubAck(PubAck::new(publish.pkid))));
        }
        actions.push(request);
        actions
    }

    fn on_subscribe(&mut self, subscribe: Subscribe) -> Vec<Action> {
        let device_id = self.connected_device().to_owned();
        let mut added = Subscriptions::default();
        let return_codes = subscribe
            .filters
            .iter()
            .map(|filter| {
                let granted = SubscribeReasonCode::Success(if filter.qos == QoS::AtMostOnce {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                });
                match Filter::parse(&filter.path) {
                    Ok(Filter::Methods) => {
                        added.methods = true;
                        granted
                    }
                    Ok(Filter::TwinResponses) => {
                        added.twin_responses = true;
                        granted
                    }
                    Ok(Filter::DesiredPatches) => {
                        added.desired = true;
                        granted
                    }
                    Ok(
                        Filter::CloudToDevice { device_id: target }
                        | Filter::ModuleInputs {
                            device_id: target, ..
                        },
                    ) if target == device_id => granted,
                    Ok(Filter::CloudToDevice { .. } | Filter::ModuleInputs { .. }) | Err(_) => {
                        tracing::debug!(%device_id, filter = %filter.path, "refusing a subscription");
                        SubscribeReasonCode::Failure
                    }
                }
            })
            .collect();
        let mut actions = Vec::with_capacity(2);
        if added != Subscriptions::default() {
            actions.push(Action::Hub(HubRequest::Subscriptions {
                device_id,
                change: SubscriptionChange::Add(added),
            }));
        }
        actions.push(Action::Send(Packet::SubAck(SubAck::new(
            subscribe.pkid,
            return_codes,
        ))));
        actions
    }

    fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) -> Vec<Action> {
        let device_id = self.connected_device().to_owned();
        let mut removed = Subscriptions::default();
        for topic in &unsubscribe.topics {
            match Filter::parse(topic) {
                Ok(Filter::Methods) => removed.methods = true,
                Ok(Filter::TwinResponses) => removed.twin_responses = true,
                Ok(Filter::DesiredPatches) => removed.desired = true,
                Ok(Filter::CloudToDevice { .. } | Filter::ModuleInputs { .. }) | Err(_) => {}
            }
        }
        let mut actions = Vec::with_capacity(2);
        if removed != Subscriptions::default() {
            actions.push(Action::Hub(HubRequest::Subscriptions {
                device_id,
                change: SubscriptionChange::Remove(removed),
            }));
        }
        actions.push(Action::Send(Packet::UnsubAck(UnsubAck::new(
            unsubscribe.pkid,
        ))));
        actions
    }
}

/// Checks a CONNECT's token against what the hub knows. Pure: time is `now_unix`.
fn authenticate(
    pending: &PendingConnect,
    credentials: &Credentials,
    host_name: &str,
    now_unix: u64,
) -> Result<(), Refusal> {
    let device = credentials.device.as_ref().ok_or(Refusal::UnknownDevice)?;
    if !device.enabled {
        return Err(Refusal::Disabled);
    }
    let keys = match pending.token.key_name() {
        None => &device.keys,
        Some(name) => {
            let policy = credentials
                .policy
                .as_ref()
                .ok_or_else(|| Refusal::UnknownPolicy(name.to_owned()))?;
            if !policy.device_connect {
                return Err(Refusal::NoDeviceConnect(name.to_owned()));
            }
            &policy.keys
        }
    };
    // Devices sign the connection string's HostName, which localhub hands out without its
    // port; accept the hub's host with or without port, in any case.
    let token_host = pending
        .token
        .resource_uri()
        .split('/')
        .next()
        .unwrap_or_default();
    if !strip_port(token_host).eq_ignore_ascii_case(strip_port(host_name)) {
        return Err(Refusal::WrongHost(token_host.to_owned()));
    }
    let resource = format!("{token_host}/devices/{}", pending.device_id);
    let mut error = SasError::BadSignature;
    for key in keys {
        match pending.token.verify(key, &resource, now_unix) {
            Ok(()) => return Ok(()),
            // A genuine signature's error says more than another key's mismatch.
            Err(SasError::BadSignature) => {}
            Err(other) => error = other,
        }
    }
    Err(Refusal::Token(error))
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) | None => host,
    }
}

fn publish(topic: &Topic, payload: Bytes) -> Action {
    Action::Send(Packet::Publish(Publish::from_bytes(
        topic.to_string(),
        QoS::AtMostOnce,
        payload,
    )))
}

fn twin_response(status: u16, rid: String, version: Option<i64>, body: Bytes) -> Action {
    publish(
        &Topic::TwinResponse {
            status,
            rid,
            version,
        },
        body,
    )
}

fn twin_error(rid: String, error: &HubError) -> Action {
    let body = json!({ "errorCode": error.code, "message": error.message });
    twin_response(error.http_status, rid, None, json_bytes(&body))
}

fn json_bytes(value: &Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// A method response body: JSON as sent, `null` when empty, and — so that the invoker still
/// sees what the device said — the text as a JSON string when it is not JSON.
fn method_payload(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use rumqttc::mqttbytes::v4::{Login, SubscribeFilter};

    use super::*;

    const HOST: &str = "localhost:8443";
    const DEVICE: &str = "dev1";
    /// Unix time of the tests' start.
    const T0: u64 = 1_700_000_000;

    struct Clock(Instant);

    impl Clock {
        fn new() -> Self {
            Self(Instant::now())
        }

        fn at(&self, seconds: u64) -> Now {
            Now {
                instant: self.0 + Duration::from_secs(seconds),
                unix: T0 + seconds,
            }
        }
    }

    fn key(byte: u8) -> SharedAccessKey {
        SharedAccessKey::from_bytes([byte; 32]).expect("non-empty")
    }

    fn device_token(host: &str, device: &str, key: &SharedAccessKey, expiry: u64) -> String {
        SasToken::for_device(&format!("{host}/devices/{device}"), key, expiry)
            .expose_secret_string()
    }

    fn username(host: &str, device: &str) -> String {
        format!("{host}/{device}/?api-version=2021-04-12&DeviceClientType=test")
    }

    fn connect(client_id: &str, username: &str, password: &str) -> Connect {
        Connect {
            protocol: Protocol::V4,
            keep_alive: 60,
            client_id: client_id.to_owned(),
            clean_session: false,
            last_will: None,
            login: Some(Login {
                username: username.to_owned(),
                password: password.to_owned(),
            }),
        }
    }

    /// A valid CONNECT of `dev1` with its primary key, token valid for an hour.
    fn good_connect() -> Connect {
        connect(
            DEVICE,
            &username("localhost", DEVICE),
            &device_token("localhost", DEVICE, &key(1), T0 + 3600),
        )
    }

    fn credentials() -> Credentials {
        Credentials {
            device: Some(DeviceCredentials {
                enabled: true,
                keys: vec![key(1), key(2)],
            }),
            policy: None,
            subscriptions: Subscriptions::default(),
        }
    }

    fn accepted(session_present: bool) -> Vec<Action> {
        vec![
            Action::Hub(HubRequest::Register {
                device_id: DEVICE.into(),
            }),
            Action::Send(Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::Success,
                session_present,
            ))),
        ]
    }

    fn refused(code: ConnectReturnCode) -> Vec<Action> {
        vec![
            Action::Send(Packet::ConnAck(ConnAck::new(code, false))),
            Action::Close(CloseReason::Refused(code)),
        ]
    }

    /// Runs a CONNECT through the session, answering the credentials lookup with
    /// `credentials`; returns every action after the lookup.
    fn run_connect(
        session: &mut Session,
        packet: Connect,
        credentials: Credentials,
        now: Now,
    ) -> Vec<Action> {
        let mut actions = session.on_packet(Packet::Connect(packet), now);
        if let [Action::Hub(HubRequest::Credentials { device_id, .. })] = actions.as_slice() {
            assert_eq!(device_id, DEVICE);
            actions = session.on_hub_reply(HubReply::Credentials(Ok(credentials)), now);
        }
        actions
    }

    fn connected(clock: &Clock) -> Session {
        let mut session = Session::new(HOST, clock.at(0));
        let actions = run_connect(&mut session, good_connect(), credentials(), clock.at(0));
        assert_eq!(actions, accepted(false));
        session
    }

    fn publish_packet(topic: &str, qos: QoS, body: &str) -> Packet {
        let mut publish = Publish::new(topic, qos, body.as_bytes().to_vec());
        if qos != QoS::AtMostOnce {
            publish.pkid = 7;
        }
        Packet::Publish(publish)
    }

    fn sent(topic: &str, body: &str) -> Action {
        Action::Send(Packet::Publish(Publish::new(
            topic,
            QoS::AtMostOnce,
            body.as_bytes().to_vec(),
        )))
    }

    fn puback() -> Action {
        Action::Send(Packet::PubAck(PubAck::new(7)))
    }

    #[test]
    fn connect_accepts_good_tokens_and_refuses_the_rest_with_5() {
        use ConnectReturnCode::*;
        let good = device_token("localhost", DEVICE, &key(1), T0 + 3600);
        let user = username("localhost", DEVICE);
        let policy = |device_connect: bool| Credentials {
            policy: Some(PolicyCredentials {
                device_connect,
                keys: vec![key(3), key(4)],
            }),
            ..credentials()
        };
        let service_token = |name: &str, key: &SharedAccessKey, host: &str| {
            SasToken::for_service(host, name, key, T0 + 3600).expose_secret_string()
        };
        let v5 = Connect {
            protocol: Protocol::V5,
            ..good_connect()
        };
        let anonymous = Connect {
            login: None,
            ..good_connect()
        };
        let table: Vec<(&str, Connect, Credentials, Vec<Action>)> = vec![
            (
                "primary key",
                good_connect(),
                credentials(),
                accepted(false),
            ),
            (
                "secondary key",
                connect(
                    DEVICE,
                    &user,
                    &device_token("localhost", DEVICE, &key(2), T0 + 60),
                ),
                credentials(),
                accepted(false),
            ),
            (
                "host with the port, other case",
                connect(
                    DEVICE,
                    &user,
                    &device_token("LocalHost:8443", DEVICE, &key(1), T0 + 60),
                ),
                credentials(),
                accepted(false),
            ),
            (
                "old user name without '?'",
                connect(
                    DEVICE,
                    "localhost/dev1/api-version=2016-11-14&DeviceClientType=x",
                    &good,
                ),
                credentials(),
                accepted(false),
            ),
            (
                "policy with DeviceConnect, hub-scoped",
                connect(
                    DEVICE,
                    &user,
                    &service_token("device", &key(4), "localhost"),
                ),
                policy(true),
                accepted(false),
            ),
            (
                "persistent session with subscriptions",
                good_connect(),
                Credentials {
                    subscriptions: Subscriptions {
                        methods: true,
                        ..Subscriptions::default()
                    },
                    ..credentials()
                },
                accepted(true),
            ),
            (
                "policy without DeviceConnect",
                connect(
                    DEVICE,
                    &user,
                    &service_token("service", &key(3), "localhost"),
                ),
                policy(false),
                refused(NotAuthorized),
            ),
            (
                "unknown policy",
                connect(
                    DEVICE,
                    &user,
                    &service_token("nobody", &key(3), "localhost"),
                ),
                credentials(),
                refused(NotAuthorized),
            ),
            (
                "wrong key",
                connect(
                    DEVICE,
                    &user,
                    &device_token("localhost", DEVICE, &key(9), T0 + 60),
                ),
                credentials(),
                refused(NotAuthorized),
            ),
            (
                "expired",
                connect(
                    DEVICE,
                    &user,
                    &device_token("localhost", DEVICE, &key(1), T0),
                ),
                credentials(),
                refused(NotAuthorized),
            ),
            (
                "another device's token",
                connect(
                    DEVICE,
                    &user,
                    &device_token("localhost", "dev2", &key(1), T0 + 60),
                ),
                credentials(),
                refused(NotAuthorized),
            ),
            (
                "another hub's token",
                connect(
                    DEVICE,
                    &user,
                    &device_token("otherhost", DEVICE, &key(1), T0 + 60),
                ),
                credentials(),
                refused(NotAuthorized),
            ),
            (
                "unknown device",
                good_connect(),
                Credentials {
                    device: None,
                    ..credentials()
                },
                refused(NotAuthorized),
            ),
            (
                "disabled device",
                good_connect(),
                Credentials {
                    device: Some(DeviceCredentials {
                        enabled: false,
                        keys: vec![key(1)],
                    }),
                    ..credentials()
                },
                refused(NotAuthorized),
            ),
            ("no login", anonymous, credentials(), refused(NotAuthorized)),
            (
                "user name of another device",
                connect(DEVICE, &username("localhost", "dev2"), &good),
                credentials(),
                refused(NotAuthorized),
            ),
            (
                "module client id",
                connect("dev1/mod1", "localhost/dev1/mod1/?api-version=1", &good),
                credentials(),
                refused(NotAuthorized),
            ),
            (
                "password not a token",
                connect(DEVICE, &user, "hunter2"),
                credentials(),
                refused(NotAuthorized),
            ),
            ("MQTT 5", v5, credentials(), refused(RefusedProtocolVersion)),
            (
                "empty client id",
                connect("", &user, &good),
                credentials(),
                refused(BadClientId),
            ),
        ];
        let clock = Clock::new();
        for (name, packet, credentials, expected) in table {
            let mut session = Session::new(HOST, clock.at(0));
            let actions = run_connect(&mut session, packet, credentials, clock.at(0));
            assert_eq!(actions, expected, "{name}");
            let is_closed = matches!(expected.last(), Some(Action::Close(_)));
            assert_eq!(session.is_closed(), is_closed, "{name}");
        }
    }

    #[test]
    fn a_clean_session_forgets_subscriptions_before_registering() {
        let clock = Clock::new();
        let mut session = Session::new(HOST, clock.at(0));
        let packet = Connect {
            clean_session: true,
            ..good_connect()
        };
        let mut credentials = credentials();
        credentials.subscriptions.methods = true;
        let actions = run_connect(&mut session, packet, credentials, clock.at(0));
        let mut expected = vec![Action::Hub(HubRequest::Subscriptions {
            device_id: DEVICE.into(),
            change: SubscriptionChange::Clear,
        })];
        expected.extend(accepted(false));
        assert_eq!(actions, expected);
        assert_eq!(session.device_id(), Some(DEVICE));
        // A stray lookup answer changes nothing.
        let stray = HubReply::Credentials(Ok(Credentials::default()));
        assert!(session.on_hub_reply(stray, clock.at(1)).is_empty());
        assert_eq!(session.device_id(), Some(DEVICE));
    }

    #[test]
    fn a_credentials_lookup_failure_is_connack_3() {
        let clock = Clock::new();
        let mut session = Session::new(HOST, clock.at(0));
        session.on_packet(Packet::Connect(good_connect()), clock.at(0));
        let error = HubError::new(iothub::model::ErrorCode::ServerError, "disk on fire");
        let actions = session.on_hub_reply(HubReply::Credentials(Err(error)), clock.at(0));
        assert_eq!(actions, refused(ConnectReturnCode::ServiceUnavailable));
    }

    /// Host, device, module and parameters of a user name.
    type Parts<'a> = (&'a str, &'a str, Option<&'a str>, Vec<(&'a str, &'a str)>);

    #[test]
    fn user_names_parse_leniently() {
        let python = "localhost/dev1/?api-version=2019-10-01&DeviceClientType=azure-iot-device-iothub-py%2F2.14.0%283.11.7%29";
        let table: Vec<(&str, Option<Parts>)> = vec![
            (
                python,
                Some((
                    "localhost",
                    "dev1",
                    None,
                    vec![
                        ("api-version", "2019-10-01"),
                        (
                            "DeviceClientType",
                            "azure-iot-device-iothub-py/2.14.0(3.11.7)",
                        ),
                    ],
                )),
            ),
            (
                "hub:8443/dev1/mod1/?api-version=2021-04-12&model-id=dtmi%3Ax%3B1",
                Some((
                    "hub:8443",
                    "dev1",
                    Some("mod1"),
                    vec![("api-version", "2021-04-12"), ("model-id", "dtmi:x;1")],
                )),
            ),
            (
                "hub/dev1/api-version=2016-11-14&DeviceClientType=old",
                Some((
                    "hub",
                    "dev1",
                    None,
                    vec![("api-version", "2016-11-14"), ("DeviceClientType", "old")],
                )),
            ),
            ("hub/dev1", Some(("hub", "dev1", None, vec![]))),
            (
                "hub/dev1/?flag",
                Some(("hub", "dev1", None, vec![("flag", "")])),
            ),
            ("hub", None),
            ("/dev1/?api-version=1", None),
            ("hub/a/b/c/?api-version=1", None),
        ];
        for (text, expected) in table {
            let expected = expected.map(|(host, device, module, parameters)| Username {
                host: host.into(),
                device_id: device.into(),
                module_id: module.map(Into::into),
                parameters: parameters
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            });
            assert_eq!(Username::parse(text), expected, "{text}");
        }
    }

    #[test]
    fn publishes_become_hub_calls_and_acks() {
        let device = || DEVICE.to_owned();
        let forbidden =
            |topic: &str| vec![Action::Close(CloseReason::ForbiddenTopic(topic.into()))];
        let table: Vec<(Packet, Vec<Action>)> = vec![
            (
                publish_packet(
                    "$iothub/methods/res/200/?$rid=1",
                    QoS::AtLeastOnce,
                    r#"{"ok":true}"#,
                ),
                vec![
                    puback(),
                    Action::Hub(HubRequest::MethodResponse {
                        device_id: device(),
                        rid: "1".into(),
                        status: 200,
                        payload: json!({"ok": true}),
                    }),
                ],
            ),
            (
                publish_packet("$iothub/methods/res/-1/?$rid=2", QoS::AtMostOnce, ""),
                vec![Action::Hub(HubRequest::MethodResponse {
                    device_id: device(),
                    rid: "2".into(),
                    status: -1,
                    payload: Value::Null,
                })],
            ),
            (
                publish_packet(
                    "$iothub/methods/res/500/?$rid=3",
                    QoS::AtMostOnce,
                    "not json",
                ),
                vec![Action::Hub(HubRequest::MethodResponse {
                    device_id: device(),
                    rid: "3".into(),
                    status: 500,
                    payload: json!("not json"),
                })],
            ),
            (
                publish_packet("$iothub/twin/GET/?$rid=abc", QoS::AtLeastOnce, " "),
                vec![
                    puback(),
                    Action::Hub(HubRequest::GetTwin {
                        device_id: device(),
                        rid: "abc".into(),
                    }),
                ],
            ),
            (
                publish_packet(
                    "$iothub/twin/PATCH/properties/reported/?$rid=9",
                    QoS::AtLeastOnce,
                    r#"{"locked":true}"#,
                ),
                vec![
                    puback(),
                    Action::Hub(HubRequest::PatchReported {
                        device_id: device(),
                        rid: "9".into(),
                        patch: json!({"locked": true}),
                    }),
                ],
            ),
            (
                publish_packet(
                    "devices/dev1/messages/events/%24.ct=application%2Fjson&k=v",
                    QoS::AtLeastOnce,
                    "12345",
                ),
                vec![
                    puback(),
                    Action::Hub(HubRequest::Telemetry {
                        device_id: device(),
                        bytes: 5,
                    }),
                ],
            ),
            (
                publish_packet("devices/dev1/messages/events/", QoS::AtMostOnce, ""),
                vec![Action::Hub(HubRequest::Telemetry {
                    device_id: device(),
                    bytes: 0,
                })],
            ),
            (
                publish_packet("devices/dev2/messages/events/", QoS::AtLeastOnce, ""),
                forbidden("devices/dev2/messages/events/"),
            ),
            (
                publish_packet(
                    "devices/dev1/modules/m/messages/events/",
                    QoS::AtLeastOnce,
                    "",
                ),
                forbidden("devices/dev1/modules/m/messages/events/"),
            ),
            (
                publish_packet("$iothub/methods/POST/x/?$rid=1", QoS::AtMostOnce, ""),
                forbidden("$iothub/methods/POST/x/?$rid=1"),
            ),
            (
                publish_packet("devices/dev1/messages/devicebound/", QoS::AtMostOnce, ""),
                forbidden("devices/dev1/messages/devicebound/"),
            ),
            (
                publish_packet("a/b", QoS::AtLeastOnce, ""),
                forbidden("a/b"),
            ),
            (
                publish_packet("devices/dev1/messages/events/", QoS::ExactlyOnce, ""),
                vec![Action::Close(CloseReason::ExactlyOnce)],
            ),
        ];
        let clock = Clock::new();
        for (packet, expected) in table {
            let mut session = connected(&clock);
            let shown = format!("{packet:?}");
            assert_eq!(session.on_packet(packet, clock.at(1)), expected, "{shown}");
        }
    }

    #[test]
    fn a_malformed_reported_patch_is_answered_400() {
        let clock = Clock::new();
        let mut session = connected(&clock);
        let actions = session.on_packet(
            publish_packet(
                "$iothub/twin/PATCH/properties/reported/?$rid=5",
                QoS::AtLeastOnce,
                "{not json",
            ),
            clock.at(1),
        );
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[0], puback());
        let Action::Send(Packet::Publish(answer)) = &actions[1] else {
            panic!("expected a publish, got {actions:?}");
        };
        assert_eq!(answer.topic, "$iothub/twin/res/400/?$rid=5");
        assert_eq!(answer.qos, QoS::AtMostOnce);
    }

    #[test]
    fn hub_replies_become_twin_responses() {
        let not_found = HubError::new(iothub::model::ErrorCode::DeviceNotFound, "gone");
        let document = json!({"desired": {"$version": 1}, "reported": {"$version": 1}});
        let table: Vec<(HubReply, Action)> = vec![
            (
                HubReply::TwinDocument {
                    rid: "a".into(),
                    result: Ok(document.clone()),
                },
                sent("$iothub/twin/res/200/?$rid=a", &document.to_string()),
            ),
            (
                HubReply::ReportedPatched {
                    rid: "b".into(),
                    result: Ok(4),
                },
                sent("$iothub/twin/res/204/?$rid=b&$version=4", ""),
            ),
            (
                HubReply::TwinDocument {
                    rid: "c".into(),
                    result: Err(not_found.clone()),
                },
                sent(
                    "$iothub/twin/res/404/?$rid=c",
                    r#"{"errorCode":404001,"message":"gone"}"#,
                ),
            ),
            (
                HubReply::ReportedPatched {
                    rid: "d".into(),
                    result: Err(HubError::new(
                        iothub::model::ErrorCode::ArgumentInvalid,
                        "bad",
                    )),
                },
                sent(
                    "$iothub/twin/res/400/?$rid=d",
                    r#"{"errorCode":400004,"message":"bad"}"#,
                ),
            ),
        ];
        let clock = Clock::new();
        for (reply, expected) in table {
            let mut session = connected(&clock);
            let shown = format!("{reply:?}");
            assert_eq!(
                session.on_hub_reply(reply, clock.at(1)),
                vec![expected],
                "{shown}"
            );
        }
    }

    #[test]
    fn subscribe_grants_the_five_filters_at_qos_1_at_most() {
        use SubscribeReasonCode::{Failure, Success};
        let filters = [
            (
                "$iothub/methods/POST/#",
                QoS::AtLeastOnce,
                Success(QoS::AtLeastOnce),
            ),
            (
                "$iothub/twin/res/#",
                QoS::AtMostOnce,
                Success(QoS::AtMostOnce),
            ),
            (
                "$iothub/twin/PATCH/properties/desired/#",
                QoS::ExactlyOnce,
                Success(QoS::AtLeastOnce),
            ),
            (
                "devices/dev1/messages/devicebound/#",
                QoS::AtLeastOnce,
                Success(QoS::AtLeastOnce),
            ),
            (
                "devices/dev1/modules/m1/inputs/#",
                QoS::AtLeastOnce,
                Success(QoS::AtLeastOnce),
            ),
            (
                "devices/dev2/messages/devicebound/#",
                QoS::AtLeastOnce,
                Failure,
            ),
            ("#", QoS::AtLeastOnce, Failure),
            ("$iothub/twin/#", QoS::AtLeastOnce, Failure),
        ];
        let clock = Clock::new();
        let mut session = connected(&clock);
        let subscribe = Subscribe {
            pkid: 3,
            filters: filters
                .iter()
                .map(|(path, qos, _)| SubscribeFilter::new((*path).to_owned(), *qos))
                .collect(),
        };
        let actions = session.on_packet(Packet::Subscribe(subscribe), clock.at(1));
        let all = Subscriptions {
            methods: true,
            desired: true,
            twin_responses: true,
        };
        assert_eq!(
            actions,
            vec![
                Action::Hub(HubRequest::Subscriptions {
                    device_id: DEVICE.into(),
                    change: SubscriptionChange::Add(all),
                }),
                Action::Send(Packet::SubAck(SubAck::new(
                    3,
                    filters.iter().map(|(_, _, code)| *code).collect()
                ))),
            ]
        );

        // Only C2D: acknowledged, nothing for the hub to record.
        let c2d = Subscribe::new("devices/dev1/messages/devicebound/#", QoS::AtLeastOnce);
        let actions = session.on_packet(Packet::Subscribe(c2d), clock.at(1));
        assert!(matches!(
            actions.as_slice(),
            [Action::Send(Packet::SubAck(_))]
        ));

        let unsubscribe = Unsubscribe {
            pkid: 4,
            topics: vec!["$iothub/methods/POST/#".into(), "nonsense".into()],
        };
        let actions = session.on_packet(Packet::Unsubscribe(unsubscribe), clock.at(1));
        assert_eq!(
            actions,
            vec![
                Action::Hub(HubRequest::Subscriptions {
                    device_id: DEVICE.into(),
                    change: SubscriptionChange::Remove(Subscriptions {
                        methods: true,
                        ..Subscriptions::default()
                    }),
                }),
                Action::Send(Packet::UnsubAck(UnsubAck::new(4))),
            ]
        );
    }

    #[test]
    fn subscription_changes_apply() {
        let mut subscriptions = Subscriptions::default();
        SubscriptionChange::Add(Subscriptions {
            methods: true,
            desired: true,
            twin_responses: false,
        })
        .apply(&mut subscriptions);
        SubscriptionChange::Remove(Subscriptions {
            desired: true,
            ..Subscriptions::default()
        })
        .apply(&mut subscriptions);
        assert_eq!(
            subscriptions,
            Subscriptions {
                methods: true,
                ..Subscriptions::default()
            }
        );
        SubscriptionChange::Clear.apply(&mut subscriptions);
        assert_eq!(subscriptions, Subscriptions::default());
    }

    #[test]
    fn hub_messages_go_out_at_qos_0_on_the_exact_topics() {
        let table: Vec<(ToDevice, Vec<Action>)> = vec![
            (
                ToDevice::MethodRequest {
                    name: "lockDoor".into(),
                    rid: "1f".into(),
                    payload: json!({"force": true}),
                },
                vec![sent(
                    "$iothub/methods/POST/lockDoor/?$rid=1f",
                    r#"{"force":true}"#,
                )],
            ),
            (
                ToDevice::MethodRequest {
                    name: "ping".into(),
                    rid: "2".into(),
                    payload: Value::Null,
                },
                vec![sent("$iothub/methods/POST/ping/?$rid=2", "null")],
            ),
            (
                ToDevice::DesiredPatch(json!({"mode": "eco", "$version": 3})),
                vec![sent(
                    "$iothub/twin/PATCH/properties/desired/?$version=3",
                    r#"{"$version":3,"mode":"eco"}"#,
                )],
            ),
            (
                ToDevice::Close("another connection with the same device id"),
                vec![Action::Close(CloseReason::Hub(
                    "another connection with the same device id",
                ))],
            ),
        ];
        let clock = Clock::new();
        for (message, expected) in table {
            let mut session = connected(&clock);
            let shown = format!("{message:?}");
            assert_eq!(session.on_to_device(message), expected, "{shown}");
        }
        // Nothing reaches a device that is not connected yet.
        let mut session = Session::new(HOST, clock.at(0));
        assert!(session.on_to_device(ToDevice::Close("x")).is_empty());
    }

    #[test]
    fn packets_out_of_place_close_the_connection() {
        let clock = Clock::new();
        let violation = |what| vec![Action::Close(CloseReason::ProtocolViolation(what))];
        let mut session = Session::new(HOST, clock.at(0));
        assert_eq!(
            session.on_packet(Packet::PingReq, clock.at(0)),
            violation("a packet before CONNECT")
        );
        assert!(
            session.on_packet(Packet::PingReq, clock.at(0)).is_empty(),
            "closed"
        );

        let table: Vec<(Packet, Vec<Action>)> = vec![
            (Packet::PingReq, vec![Action::Send(Packet::PingResp)]),
            (Packet::PubAck(PubAck::new(1)), vec![]),
            (
                Packet::Disconnect,
                vec![Action::Close(CloseReason::Disconnected)],
            ),
            (
                Packet::Connect(good_connect()),
                violation("a second CONNECT"),
            ),
            (
                Packet::PubRel(rumqttc::mqttbytes::v4::PubRel::new(1)),
                vec![Action::Close(CloseReason::ExactlyOnce)],
            ),
            (Packet::PingResp, violation("a packet only a server sends")),
        ];
        for (packet, expected) in table {
            let mut session = connected(&clock);
            let shown = format!("{packet:?}");
            assert_eq!(session.on_packet(packet, clock.at(1)), expected, "{shown}");
        }
    }

    #[test]
    fn deadlines_follow_keep_alive_token_expiry_and_connect_timeout() {
        let clock = Clock::new();
        let at = |s| clock.at(s).instant;

        // No CONNECT within 10 s.
        let mut session = Session::new(HOST, clock.at(0));
        assert_eq!(session.deadline(), Some(at(10)));
        assert!(session.on_timer(clock.at(9)).is_empty());
        assert_eq!(
            session.on_timer(clock.at(10)),
            vec![Action::Close(CloseReason::ConnectTimeout)]
        );

        // Keep-alive 60 s: closed after 90 s of silence; every packet resets it.
        let mut session = connected(&clock);
        assert_eq!(session.deadline(), Some(at(90)));
        assert!(session.on_timer(clock.at(89)).is_empty());
        session.on_packet(Packet::PingReq, clock.at(50));
        assert_eq!(session.deadline(), Some(at(140)));
        assert!(session.on_timer(clock.at(139)).is_empty());
        assert_eq!(
            session.on_timer(clock.at(140)),
            vec![Action::Close(CloseReason::KeepAliveExpired)]
        );
        assert_eq!(session.deadline(), None);

        // A token that expires before keep-alive does: closed at `se`.
        let mut session = Session::new(HOST, clock.at(0));
        let short = connect(
            DEVICE,
            &username("localhost", DEVICE),
            &device_token("localhost", DEVICE, &key(1), T0 + 30),
        );
        run_connect(&mut session, short, credentials(), clock.at(0));
        assert_eq!(session.deadline(), Some(at(30)));
        assert_eq!(
            session.on_timer(clock.at(30)),
            vec![Action::Close(CloseReason::TokenExpired)]
        );

        // Keep-alive 0 disables the keep-alive deadline, not the token's; long keep-alives
        // are capped at 1767 s.
        for (keep_alive, deadline) in [(0, 3600), (1200, 1767), (u16::MAX, 1767)] {
            let mut session = Session::new(HOST, clock.at(0));
            let packet = Connect {
                keep_alive,
                ..good_connect()
            };
            run_connect(&mut session, packet, credentials(), clock.at(0));
            assert_eq!(
                session.deadline(),
                Some(at(deadline)),
                "keep-alive {keep_alive}"
            );
        }
    }
}
