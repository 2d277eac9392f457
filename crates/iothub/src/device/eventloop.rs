//! The task that does a session's I/O: it owns the rumqttc connection of the moment, reads
//! commands from [`super::DeviceClient`] handles, runs the session's timers and sends events
//! to the app. All protocol decisions are the [`Session`]'s.
//!
//! Each connection is a fresh rumqttc `AsyncClient`/`EventLoop` pair built with a freshly
//! minted SAS token; a lost connection is dropped, never polled again (rumqttc would
//! reconnect by itself with the old token and without our backoff).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, NetworkOptions, Outgoing,
    Packet, QoS, SubscribeFilter, SubscribeReasonCode,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::ConnectionConfig;
use super::error::DeviceError;
use super::session::{ConnectFailure, Output, Reply, Session};
use super::{ConnectionState, DeviceEvent, DisconnectReason, TelemetryMessage};
use crate::model::TwinProperties;

/// Capacity of each connection's rumqttc request channel.
const REQUEST_CAPACITY: usize = 64;

/// How long sending DISCONNECT may take before the connection is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A request from a handle.
pub(crate) enum Command {
    Respond {
        rid: String,
        status: i32,
        payload: Value,
        reply: oneshot::Sender<Result<(), DeviceError>>,
    },
    GetTwin {
        reply: oneshot::Sender<Result<TwinProperties, DeviceError>>,
    },
    PatchReported {
        patch: Value,
        reply: oneshot::Sender<Result<i64, DeviceError>>,
    },
    Telemetry {
        message: TelemetryMessage,
        reply: oneshot::Sender<Result<(), DeviceError>>,
    },
}

/// Who waits for a pending `$rid`.
enum Waiter {
    Twin(oneshot::Sender<Result<TwinProperties, DeviceError>>),
    Reported(oneshot::Sender<Result<i64, DeviceError>>),
}

/// The connection of the moment.
struct Link {
    client: AsyncClient,
    eventloop: EventLoop,
    /// CONNACK 0 received.
    connected: bool,
    /// DISCONNECT requested.
    closing: bool,
}

/// What polling the link produced.
enum Polled {
    Event(Result<Event, ConnectionError>),
    CloseTimedOut,
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

pub(crate) struct Driver {
    config: ConnectionConfig,
    session: Session,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<DeviceEvent>,
    cancel: CancellationToken,
    /// Told the outcome of the first connection attempt, then `None`.
    first: Option<oneshot::Sender<Result<(), DeviceError>>>,
    link: Option<Link>,
    /// Requests rumqttc's channel had no room for, in order.
    backlog: VecDeque<Output>,
    waiters: HashMap<String, Waiter>,
    shutting_down: bool,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Driver {
    pub(crate) fn new(
        config: ConnectionConfig,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<DeviceEvent>,
        cancel: CancellationToken,
        first: oneshot::Sender<Result<(), DeviceError>>,
    ) -> Self {
        let session = Session::new(config.session_config(), fastrand::u64(..), now());
        Self {
            config,
            session,
            commands,
            events,
            cancel,
            first: Some(first),
            link: None,
            backlog: VecDeque::new(),
            waiters: HashMap::new(),
            shutting_down: false,
        }
    }

    /// Runs until the session stops: shutdown, every handle dropped, refused credentials,
    /// or a failed first connection.
    pub(crate) async fn run(mut self) {
        loop {
            while let Some(output) = self.session.poll_output() {
                if self.apply(output).await == Flow::Stop {
                    return;
                }
            }
            self.flush_backlog();
            let deadline = self.session.next_deadline().map(Instant::from_std);
            tokio::select! {
                biased;
                () = self.cancel.cancelled(), if !self.shutting_down => self.begin_shutdown(),
                polled = poll(&mut self.link) => self.on_polled(polled),
                command = self.commands.recv(), if !self.shutting_down => match command {
                    Some(command) => self.on_command(command),
                    // Every handle is gone: nobody can use the client any more.
                    None => self.begin_shutdown(),
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.session.handle_tick(now());
                }
            }
        }
    }

    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        self.session.shutdown();
    }

    async fn apply(&mut self, output: Output) -> Flow {
        match output {
            Output::Connect => self.open(),
            Output::Subscribe(_) | Output::Publish(_) | Output::Disconnect => {
                if self.backlog.is_empty() {
                    self.send(output);
                } else {
                    self.backlog.push_back(output);
                }
            }
            Output::Event(event) => return self.emit(event).await,
            Output::Completed { rid, result } => self.complete(&rid, result),
            Output::Stop => return Flow::Stop,
        }
        Flow::Continue
    }

    fn open(&mut self) {
        let options = self.config.mqtt_options(SystemTime::now());
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        let mut network = NetworkOptions::new();
        network.set_connection_timeout(self.config.connect_timeout_secs());
        eventloop.set_network_options(network);
        self.backlog.clear();
        self.link = Some(Link {
            client,
            eventloop,
            connected: false,
            closing: false,
        });
    }

    /// Hands an MQTT request to rumqttc, or keeps it for later if its channel is full.
    fn send(&mut self, output: Output) {
        let Some(link) = &mut self.link else {
            tracing::debug!("dropping a request for a connection that is gone");
            return;
        };
        let sent = match &output {
            Output::Subscribe(filters) => link.client.try_subscribe_many(
                filters
                    .iter()
                    .map(|filter| SubscribeFilter::new(filter.to_string(), QoS::AtLeastOnce)),
            ),
            Output::Publish(publish) => link.client.try_publish(
                publish.topic.clone(),
                publish.qos,
                false,
                publish.payload.clone(),
            ),
            Output::Disconnect => {
                link.closing = true;
                link.client.try_disconnect()
            }
            Output::Connect | Output::Event(_) | Output::Completed { .. } | Output::Stop => Ok(()),
        };
        if sent.is_err() {
            self.backlog.push_back(output);
        }
    }

    fn flush_backlog(&mut self) {
        while let Some(output) = self.backlog.pop_front() {
            let before = self.backlog.len();
            self.send(output);
            if self.backlog.len() > before {
                // Still full: `send` put it at the back; restore the order and wait.
                if let Some(output) = self.backlog.pop_back() {
                    self.backlog.push_front(output);
                }
                return;
            }
        }
    }

    async fn emit(&mut self, event: DeviceEvent) -> Flow {
        let mut flow = Flow::Continue;
        if let DeviceEvent::ConnectionState(state) = &event
            && let Some(outcome) = first_outcome(state)
            && let Some(first) = self.first.take()
        {
            if outcome.is_err() {
                // `connect` fails; nobody will drive this client.
                flow = Flow::Stop;
            }
            // The caller of `connect` may have gone away; nothing to do then.
            let _ = first.send(outcome);
        }
        if self.shutting_down {
            // Never block a shutdown on an app that does not read its events.
            let _ = self.events.try_send(event);
        } else {
            tokio::select! {
                // A dropped receiver just means the app does not want events.
                _ = self.events.send(event) => {}
                () = self.cancel.cancelled() => {}
            }
        }
        flow
    }

    fn complete(&mut self, rid: &str, result: Result<Reply, super::session::RequestError>) {
        let Some(waiter) = self.waiters.remove(rid) else {
            return;
        };
        let mismatch = || DeviceError::Malformed("answer of the wrong kind".to_owned());
        // A waiter that went away (its caller was cancelled) is fine to ignore.
        match waiter {
            Waiter::Twin(reply) => {
                let _ = reply.send(match result {
                    Ok(Reply::Twin(twin)) => Ok(twin),
                    Ok(Reply::Reported { .. }) => Err(mismatch()),
                    Err(error) => Err(error.into()),
                });
            }
            Waiter::Reported(reply) => {
                let _ = reply.send(match result {
                    Ok(Reply::Reported { version }) => Ok(version),
                    Ok(Reply::Twin(_)) => Err(mismatch()),
                    Err(error) => Err(error.into()),
                });
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        // Replies are best effort: a caller that stopped waiting does not matter.
        match command {
            Command::Respond {
                rid,
                status,
                payload,
                reply,
            } => {
                let result = self.session.respond_to_method(&rid, status, &payload);
                let _ = reply.send(result.map_err(DeviceError::from));
            }
            Command::Telemetry { message, reply } => {
                let result = self.session.send_telemetry(message);
                let _ = reply.send(result.map_err(DeviceError::from));
            }
            Command::GetTwin { reply } => match self.session.get_twin(now()) {
                Ok(rid) => {
                    self.waiters.insert(rid, Waiter::Twin(reply));
                }
                Err(error) => {
                    let _ = reply.send(Err(error.into()));
                }
            },
            Command::PatchReported { patch, reply } => {
                match self.session.patch_reported(now(), &patch) {
                    Ok(rid) => {
                        self.waiters.insert(rid, Waiter::Reported(reply));
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error.into()));
                    }
                }
            }
        }
    }

    fn on_polled(&mut self, polled: Polled) {
        let now = now();
        let event = match polled {
            Polled::Event(event) => event,
            Polled::CloseTimedOut => {
                self.link = None;
                self.session
                    .handle_connection_lost(now, "DISCONNECT timed out".to_owned());
                return;
            }
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if let Some(link) = &mut self.link {
                    link.connected = true;
                }
                self.session.handle_connected(now);
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .any(|code| matches!(code, SubscribeReasonCode::Failure))
                {
                    // As the Python SDK does, carry on: the hub may still deliver.
                    tracing::warn!(codes = ?ack.return_codes, "the hub refused a subscription");
                }
                self.session.handle_subscribed(now);
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                self.session
                    .handle_publish(now, &publish.topic, &publish.payload);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                self.link = None;
                self.session
                    .handle_connection_lost(now, "disconnected".to_owned());
            }
            Ok(_) => {}
            Err(error) => {
                let connected = self.link.take().is_some_and(|link| link.connected);
                if connected {
                    tracing::info!(%error, "connection to the hub lost");
                    self.session.handle_connection_lost(now, error.to_string());
                } else {
                    tracing::info!(%error, "connecting to the hub failed");
                    self.session
                        .handle_connect_failed(now, connect_failure(&error));
                }
            }
        }
    }
}

/// Polls the link, or never completes when there is none.
async fn poll(link: &mut Option<Link>) -> Polled {
    match link {
        Some(link) if link.closing => {
            match tokio::time::timeout(CLOSE_TIMEOUT, link.eventloop.poll()).await {
                Ok(event) => Polled::Event(event),
                Err(_) => Polled::CloseTimedOut,
            }
        }
        Some(link) => Polled::Event(link.eventloop.poll().await),
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What a connection state means for the first connection attempt, if it decides it.
fn first_outcome(state: &ConnectionState) -> Option<Result<(), DeviceError>> {
    match state {
        ConnectionState::Connecting => None,
        ConnectionState::Connected => Some(Ok(())),
        ConnectionState::Reconnecting { cause, .. } => Some(Err(DeviceError::Connect {
            cause: cause.clone(),
        })),
        ConnectionState::Disconnected { reason } => Some(Err(match reason {
            DisconnectReason::ShutDown => DeviceError::ShutDown,
            DisconnectReason::Unauthorized => DeviceError::Unauthorized,
            DisconnectReason::Refused { code } => DeviceError::Refused { code: *code },
        })),
    }
}

fn connect_failure(error: &ConnectionError) -> ConnectFailure {
    match error {
        ConnectionError::ConnectionRefused(code) => ConnectFailure::Refused {
            code: match code {
                ConnectReturnCode::Success => 0,
                ConnectReturnCode::RefusedProtocolVersion => 1,
                ConnectReturnCode::BadClientId => 2,
                ConnectReturnCode::ServiceUnavailable => 3,
                ConnectReturnCode::BadUserNamePassword => 4,
                ConnectReturnCode::NotAuthorized => 5,
            },
        },
        other => ConnectFailure::Transport(other.to_string()),
    }
}
