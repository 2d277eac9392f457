//! MQTT over WebSocket: `GET /$iothub/websocket` on the HTTPS port, subprotocol `mqtt`.
//!
//! The route is served by the HTTPS front end (merged into its router, outside the SAS
//! authentication of the REST routes: the MQTT CONNECT carries the SAS token as password,
//! exactly as over TCP). After the upgrade, a pump moves bytes between the WebSocket's
//! binary messages and one end of an in-memory pipe; the other end is the byte stream the
//! ordinary MQTT connection task runs on. So both transports run the same session code.
//!
//! - Binary messages carry the MQTT byte stream; a message may hold several packets or part
//!   of one.
//! - A text message closes the connection (close code 1003).
//! - Pings are answered with pongs (by the WebSocket layer); pongs are ignored.
//! - A close from the device, or the end of the MQTT connection, closes both sides.
//! - Hub shutdown closes the connection (close code 1001); the task is tracked by the
//!   HTTPS server's connection tracker, so shutdown waits for it.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::{Buf, Bytes, BytesMut};
use iothub::model::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::MqttStats;
use super::connection::{self, MAX_PACKET};
use crate::Hub;
use crate::http::ApiError;
use crate::http::error::method_not_allowed;

/// The path of MQTT over WebSocket, as on IoT Hub.
pub const PATH: &str = "/$iothub/websocket";

/// The WebSocket subprotocol devices must ask for.
pub const SUBPROTOCOL: &str = "mqtt";

/// Largest WebSocket message (and frame) accepted from a device: room for the largest MQTT
/// packet with headroom (a message may carry more than one packet).
const MAX_MESSAGE: usize = 2 * MAX_PACKET;

/// Capacity of each direction of the pipe between the pump and the MQTT connection task.
const PIPE_CAPACITY: usize = 64 * 1024;

/// How long sending one message to the device may take before it is considered gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the closing handshake may take once the connection is over.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the WebSocket route needs: the hub, the shutdown signal and the tracker that
/// shutdown waits on.
#[derive(Debug, Clone)]
struct Endpoint {
    hub: Hub,
    stats: MqttStats,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// The route `GET /$iothub/websocket`, without authentication, to merge into the HTTPS
/// router. Every connection counts in `stats`, is tracked by `tracker` (so waiting on it
/// waits for WebSocket connections too) and closes when `shutdown` is cancelled.
pub fn router(
    hub: Hub,
    stats: MqttStats,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) -> Router {
    Router::new()
        .route(PATH, get(upgrade).fallback(method_not_allowed))
        .with_state(Endpoint {
            hub,
            stats,
            shutdown,
            tracker,
        })
}

/// Checks the subprotocol and upgrades; the connection then runs in a tracked task.
async fn upgrade(
    State(endpoint): State<Endpoint>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            tracing::debug!(%rejection, "not a WebSocket upgrade");
            return rejection.into_response();
        }
    };
    let upgrade = upgrade.protocols([SUBPROTOCOL]);
    if upgrade.selected_protocol().is_none() {
        tracing::debug!("WebSocket upgrade without the mqtt subprotocol refused");
        return ApiError::new(
            ErrorCode::ArgumentInvalid,
            "MQTT over WebSocket needs the WebSocket subprotocol 'mqtt'.",
        )
        .into_response();
    }
    if endpoint.shutdown.is_cancelled() {
        return ApiError::new(ErrorCode::ServiceUnavailable, "The hub is shutting down.")
            .into_response();
    }
    // Taken now, before the upgrade, so that shutdown waits for the connection from the
    // moment it is accepted.
    let token = endpoint.tracker.token();
    upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_failed_upgrade(|error| tracing::debug!(%error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            tracing::debug!("device connection over WebSocket");
            let (mqtt_end, pump_end) = tokio::io::duplex(PIPE_CAPACITY);
            let Endpoint {
                hub,
                stats,
                shutdown,
                tracker: _,
            } = endpoint;
            tokio::join!(
                connection::run(
                    tokio::io::BufReader::new(mqtt_end),
                    hub,
                    stats,
                    shutdown.clone()
                ),
                pump(socket, pump_end, shutdown),
            );
            drop(token);
        })
}

/// Moves bytes between the WebSocket and the MQTT connection task's pipe until either side
/// ends, then closes the other.
async fn pump(mut socket: WebSocket, pipe: DuplexStream, shutdown: CancellationToken) {
    let (mut from_mqtt, mut to_mqtt) = tokio::io::split(pipe);
    let mut outgoing = BytesMut::with_capacity(PIPE_CAPACITY);
    // What the device sent and the MQTT task has not taken yet. New messages are read only
    // once it is empty: the pipe's capacity is the backpressure.
    let mut incoming = Bytes::new();
    let close = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Some(close_frame(close_code::AWAY, "shutdown")),
            read = from_mqtt.read_buf(&mut outgoing) => match read {
                Ok(0) | Err(_) if shutdown.is_cancelled() => {
                    break Some(close_frame(close_code::AWAY, "shutdown"));
                }
                Ok(0) | Err(_) => break Some(close_frame(close_code::NORMAL, "")),
                Ok(_) => {
                    let message = Message::Binary(outgoing.split().freeze());
                    let sent = tokio::select! {
                        () = shutdown.cancelled() => break None,
                        sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(message)) => sent,
                    };
                    match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => {
                            tracing::debug!(%error, "sending to a WebSocket device failed");
                            break None;
                        }
                        Err(_) => {
                            tracing::debug!("sending to a WebSocket device timed out");
                            break None;
                        }
                    }
                }
            },
            written = to_mqtt.write(&incoming), if !incoming.is_empty() => match written {
                Ok(0) | Err(_) => break Some(close_frame(close_code::NORMAL, "")),
                Ok(written) => incoming.advance(written),
            },
            message = socket.recv(), if incoming.is_empty() => match message {
                Some(Ok(Message::Binary(data))) => incoming = data,
                // Pings are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    tracing::debug!("a text message over MQTT WebSocket: closing");
                    break Some(close_frame(
                        close_code::UNSUPPORTED,
                        "MQTT over WebSocket uses binary messages",
                    ));
                }
                Some(Ok(Message::Close(_))) => {
                    // The WebSocket layer queued the answering close; reading again sends it
                    // and then reports the end.
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.recv()).await;
                    break None;
                }
                None => break None,
                Some(Err(error)) => {
                    tracing::debug!(%error, "reading from a WebSocket device failed");
                    break None;
                }
            },
        }
    };
    // The MQTT task reads the end of its stream and closes.
    let _ = to_mqtt.shutdown().await;
    drop(to_mqtt);
    drop(from_mqtt);
    if let Some(frame) = close {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    }
}

fn close_frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}
