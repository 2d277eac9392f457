//! The public face of the device client: a cheap `Clone` handle and the app's event stream.

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::{ConnectionConfig, DeviceClientOptions};
use super::error::DeviceError;
use super::eventloop::{Command, Driver};
use super::{DeviceEvent, TelemetryMessage};
use crate::auth::DeviceConnectionString;
use crate::model::TwinProperties;

/// Capacity of the handle → event loop channel.
const COMMAND_CAPACITY: usize = 64;

/// Capacity of the event loop → app channel. The event loop waits when it is full, so an
/// app that stops reading events eventually stalls its own connection.
const EVENT_CAPACITY: usize = 256;

/// A connected device client. Cloning is cheap; every clone talks to the same connection.
///
/// Dropping every clone shuts the client down as [`DeviceClient::shutdown`] does, except
/// that nothing waits for it.
#[derive(Debug, Clone)]
pub struct DeviceClient {
    commands: mpsc::Sender<Command>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// The app's stream of [`DeviceEvent`]s: method requests, desired patches, connection
/// states, protocol errors. Read it continuously.
#[derive(Debug)]
pub struct DeviceEvents {
    events: mpsc::Receiver<DeviceEvent>,
}

impl DeviceEvents {
    /// The next event; `None` once the client has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<DeviceEvent> {
        self.events.recv().await
    }
}

impl DeviceClient {
    /// Connects to the hub and returns once the first connection is up (CONNACK 0), or with
    /// the error of the first attempt ([`DeviceError::Unauthorized`] for a refused key,
    /// [`DeviceError::Connect`] for a network or TLS failure). From then on the client
    /// reconnects by itself until [`DeviceClient::shutdown`].
    ///
    /// Subscribing and the first twin GET follow right after; the current desired document
    /// arrives as a [`super::DesiredPatch`] with `full: true`.
    pub async fn connect(
        connection_string: DeviceConnectionString,
        options: DeviceClientOptions,
    ) -> Result<(Self, DeviceEvents), DeviceError> {
        let config = ConnectionConfig::new(connection_string, options)?;
        let (commands, command_receiver) = mpsc::channel(COMMAND_CAPACITY);
        let (event_sender, events) = mpsc::channel(EVENT_CAPACITY);
        let (first_sender, first) = oneshot::channel();
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let driver = Driver::new(
            config,
            command_receiver,
            event_sender,
            cancel.clone(),
            first_sender,
        );
        tracker.spawn(driver.run());
        tracker.close();
        let client = Self {
            commands,
            cancel,
            tracker,
        };
        match first.await {
            Ok(Ok(())) => Ok((client, DeviceEvents { events })),
            Ok(Err(error)) => {
                client.shutdown().await;
                Err(error)
            }
            Err(_) => {
                client.shutdown().await;
                Err(DeviceError::ShutDown)
            }
        }
    }

    /// Answers the direct method request `rid` with `status` (e.g. 200) and a JSON payload.
    /// Returns once the answer is handed to the connection (or queued while offline).
    pub async fn respond_to_method(
        &self,
        rid: &str,
        status: i32,
        payload: Value,
    ) -> Result<(), DeviceError> {
        let rid = rid.to_owned();
        self.call(|reply| Command::Respond {
            rid,
            status,
            payload,
            reply,
        })
        .await
    }

    /// Reads the whole twin (`desired` and `reported`) from the hub.
    pub async fn get_twin(&self) -> Result<TwinProperties, DeviceError> {
        self.call(|reply| Command::GetTwin { reply }).await
    }

    /// Patches the reported properties (`null` deletes a key) and returns the reported
    /// `$version` the hub answered with, once it has applied the patch.
    pub async fn patch_reported(&self, patch: Value) -> Result<i64, DeviceError> {
        self.call(|reply| Command::PatchReported { patch, reply })
            .await
    }

    /// Sends a device-to-cloud message (QoS 1). Returns once it is handed to the connection
    /// (or queued while offline); a message in flight when the connection drops is lost.
    pub async fn send_telemetry(&self, message: TelemetryMessage) -> Result<(), DeviceError> {
        self.call(|reply| Command::Telemetry { message, reply })
            .await
    }

    /// Sends DISCONNECT (if connected), fails pending requests with
    /// [`DeviceError::ShutDown`], and returns when the client's task has finished.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.wait().await;
    }

    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, DeviceError>>) -> Command,
    ) -> Result<T, DeviceError> {
        if self.cancel.is_cancelled() {
            return Err(DeviceError::ShutDown);
        }
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| DeviceError::ShutDown)?;
        answer.await.unwrap_or(Err(DeviceError::ShutDown))
    }
}
