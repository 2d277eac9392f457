//! The MQTT device client: a device (or module) identity talking to IoT Hub over MQTT 3.1.1.
//!
//! What it does (see `docs/iothub-protocol.md` §6–7 for the protocol):
//! - connects over TLS on 8883, or MQTT over WebSocket on 443 at `/$iothub/websocket`, with
//!   rustls (ring), the webpki roots plus an optional extra CA;
//! - authenticates with a SAS token minted from the device key for every connection, and
//!   reconnects with a fresh token before it expires;
//! - reconnects after any loss with exponential backoff and full jitter, re-subscribes after
//!   every connect (it never relies on the hub's persistent session, unlike the Python SDK) and
//!   then GETs the whole twin, so that desired changes made while offline reach the app as one
//!   synthetic patch (`full: true`); patches whose `$version` is not newer are dropped;
//! - streams direct-method requests and desired patches to the app, answers methods, GETs the
//!   twin, PATCHes reported properties (awaiting the hub's 204 and its new version) and sends
//!   telemetry with a property bag.
//!
//! Layout, after rumqttc's `state.rs` / `eventloop.rs` split:
//! - `session`: [`session::Session`], the protocol state as a sans-I/O struct (pending `$rid`s,
//!   subscriptions, desired `$version`, token renewal, backoff): inputs in, [`session::Output`]s
//!   out, time passed in.
//! - `connection`: [`DeviceClientOptions`] and everything that turns options and a connection
//!   string into rumqttc options: username, SAS password, TLS configuration.
//! - `eventloop`: the task that does the I/O for a session: rumqttc connections, commands
//!   from handles, timers, events to the app.
//! - `client`: [`DeviceClient`], the cheap `Clone` handle over a bounded channel, and
//!   [`DeviceEvents`], the receiving end of the app's event stream.
//! - `error`: [`DeviceError`], free of keys and tokens.

mod client;
mod connection;
mod error;
mod eventloop;
pub mod session;

use std::time::Duration;

use serde_json::{Map, Value};

pub use client::{DeviceClient, DeviceEvents};
pub use connection::{DeviceClientOptions, MqttTransport, username};
pub use error::DeviceError;

use crate::topic::{PropertyBag, system_property};

/// What the device client tells the app.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceEvent {
    /// A direct method was invoked; answer with [`DeviceClient::respond_to_method`].
    MethodRequest(MethodRequest),
    /// The desired properties changed (or, with `full`, were re-read after a connect).
    DesiredPatch(DesiredPatch),
    /// The connection changed state.
    ConnectionState(ConnectionState),
    /// Something the hub sent could not be used; the client carries on.
    Error(ProtocolError),
}

/// A direct-method invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodRequest {
    /// The method name, e.g. `lockDoor`.
    pub name: String,
    /// The request id to pass back to [`DeviceClient::respond_to_method`].
    pub rid: String,
    /// The invocation payload (`null` when the hub sent none).
    pub payload: Value,
}

/// A change to the desired properties.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredPatch {
    /// `$version` of the desired document after this change; always newer than any patch
    /// delivered before.
    pub version: i64,
    /// The changed keys (`null` deletes a key), without `$version` and `$metadata`.
    pub patch: Map<String, Value>,
    /// `true` when this is the whole desired document, read after a (re)connect because it
    /// is newer than the last patch delivered; the app should replace, not merge.
    pub full: bool,
}

/// The state of the device's connection to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening a connection (TCP, TLS, CONNECT).
    Connecting,
    /// Connected and authenticated.
    Connected,
    /// The connection failed or was lost; the next attempt starts in `retry_in`.
    Reconnecting {
        /// Failed attempts in a row, from 1.
        attempt: u32,
        /// Delay before the next attempt.
        retry_in: Duration,
        /// What went wrong, for display (never contains a secret).
        cause: String,
    },
    /// No longer connected and not retrying.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
}

/// Why a device client stopped for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// [`DeviceClient::shutdown`] was called, or every handle was dropped.
    ShutDown,
    /// The hub refused the credentials (CONNACK 4 or 5): wrong key, disabled or unknown
    /// device. Retrying with the same key cannot help.
    Unauthorized,
    /// The hub refused the connection with another return code that retrying cannot fix
    /// (1: protocol version, 2: client id).
    Refused {
        /// The CONNACK return code.
        code: u8,
    },
}

/// Something the hub sent that the client could not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A message on `topic` was not in the expected form.
    #[error("malformed message on {topic}: {reason}")]
    Malformed {
        /// The topic, as received.
        topic: String,
        /// What was wrong.
        reason: String,
    },
    /// The twin GET after a connect failed; it is retried while connected.
    #[error("re-reading the twin after connecting failed: {reason}")]
    TwinResyncFailed {
        /// What went wrong.
        reason: String,
    },
}

/// A device-to-cloud message: a body and a property bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryMessage {
    /// The body, sent as is.
    pub body: Vec<u8>,
    /// Application properties and system properties (`$.mid`, `$.ct`, … see
    /// [`system_property`]).
    pub properties: PropertyBag,
}

impl TelemetryMessage {
    /// A message with `body` and no properties.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            properties: PropertyBag::new(),
        }
    }

    /// A JSON message, with content type `application/json` and encoding `utf-8` set so that
    /// hub routing can look into the body.
    pub fn json(body: &Value) -> Self {
        Self::new(body.to_string())
            .with_property(system_property::CONTENT_TYPE, "application/json")
            .with_property(system_property::CONTENT_ENCODING, "utf-8")
    }

    /// Adds a property (application property, or a system one by its `$.` key).
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push(key, value);
        self
    }

    /// Sets the message id (`$.mid`).
    pub fn with_message_id(self, id: impl Into<String>) -> Self {
        self.with_property(system_property::MESSAGE_ID, id)
    }
}
