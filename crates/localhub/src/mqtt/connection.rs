//! The task of one device connection: reads MQTT packets from its byte stream (TLS over TCP,
//! or the pipe of a WebSocket connection), feeds them, the hub's messages and the timer to
//! the [`Session`], and carries out its [`Action`]s.
//! Nothing here decides anything about the protocol.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use iothub::model::{DeviceStatus, ErrorCode, HubError};
use rumqttc::mqttbytes::Error as CodecError;
use rumqttc::mqttbytes::v4::Packet;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::MqttStats;
use super::session::{
    Action, CloseReason, Credentials, DeviceCredentials, HubReply, HubRequest, Now,
    PolicyCredentials, Session,
};
use crate::Hub;
use crate::hub::DeviceConnection;
use crate::policies::Permission;

/// Largest packet accepted or sent: the hub's 256 KiB message limit plus headroom.
pub const MAX_PACKET: usize = 512 * 1024;

/// How many hub messages may wait for a connection that is busy writing.
const INBOX_CAPACITY: usize = 64;

/// How long writing to a device may take before it is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long closing the stream (TLS close, WebSocket close) may take once it is over.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The outgoing buffer keeps up to this much capacity between writes; a larger one (after a
/// twin document, say) is freed once written. Idle connections are most of a fleet.
const KEPT_OUTGOING: usize = 512;

/// Serves one device connection on `stream` until it closes or `shutdown` is cancelled.
///
/// The stream is read through its own buffer (rustls keeps one per connection anyway), so an
/// idle connection holds no read buffer here: bytes are copied out only when some arrive,
/// and only a partial packet stays between reads.
pub async fn run<S>(stream: S, hub: Hub, stats: MqttStats, shutdown: CancellationToken)
where
    S: AsyncBufRead + AsyncWrite + Unpin + Send,
{
    let mut connection = Connection {
        session: Session::new(hub.host_name(), now()),
        hub,
        stats,
        registration: None,
        outgoing: BytesMut::new(),
        pending_patch: None,
        queue: VecDeque::new(),
    };
    let mut stream = stream;
    let mut incoming = BytesMut::new();
    let reason = loop {
        let deadline = connection.session.deadline();
        let timer = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let inbox = async {
            match connection.registration.as_mut() {
                Some(registration) => registration.inbox.recv().await,
                None => std::future::pending().await,
            }
        };
        let waiting = connection.pending_patch.is_some();
        let patched = async {
            match connection.pending_patch.as_mut() {
                Some((_, answer)) => answer.await,
                None => std::future::pending().await,
            }
        };
        let closed = tokio::select! {
            () = shutdown.cancelled() => Some(CloseReason::Shutdown),
            answer = patched => connection.on_patched(answer),
            // While a reported PATCH waits for its commit nothing more is read: what follows
            // it is handled after its answer, and a flood of PATCHes is held by TCP.
            read = stream.fill_buf(), if !waiting => match read {
                Ok([]) => Some(CloseReason::Io("closed by the device".to_owned())),
                Ok(bytes) => {
                    let count = bytes.len();
                    incoming.extend_from_slice(bytes);
                    stream.consume(count);
                    let closed = connection.on_bytes(&mut incoming);
                    if incoming.is_empty() {
                        // Frees the buffer once the packets decoded from it are gone.
                        incoming = BytesMut::new();
                    }
                    closed
                }
                Err(error) => Some(CloseReason::Io(error.to_string())),
            },
            message = inbox => match message {
                Some(message) => {
                    let actions = connection.session.on_to_device(message);
                    connection.carry_out(actions)
                }
                None => Some(CloseReason::Hub("the hub dropped the connection")),
            },
            () = timer => {
                let actions = connection.session.on_timer(now());
                connection.carry_out(actions)
            }
        };
        if closed.is_none() && connection.pending_patch.is_some() {
            // What was sent before a reported PATCH that now waits for its commit (the PATCH's
            // own PUBACK, often a method answer's too) goes out with the PATCH's answer: one
            // TLS record and one socket write instead of two, for the hub and the device.
            // Nothing is held longer than the commit, which everything after the PATCH
            // waits for anyway.
            continue;
        }
        // What was sent before a close (a refusing CONNACK) still goes out.
        let flushed = tokio::select! {
            () = shutdown.cancelled() => Err(CloseReason::Shutdown),
            flushed = connection.flush(&mut stream) => flushed,
        };
        if let Err(error) = flushed {
            break closed.unwrap_or(error);
        }
        if let Some(reason) = closed {
            break reason;
        }
    };
    let device_id = connection
        .registration
        .as_ref()
        .map(|r| r.device_id.as_str())
        .unwrap_or("-");
    tracing::debug!(device_id, %reason, "device connection closed");
    if let Some(registration) = connection.registration.take() {
        connection
            .hub
            .disconnect_device(&registration.device_id, registration.connection_id);
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
}

/// The state of the task besides the socket.
struct Connection {
    session: Session,
    hub: Hub,
    stats: MqttStats,
    registration: Option<DeviceConnection>,
    outgoing: BytesMut,
    /// A reported PATCH handed to the hub's group commit: its request id and its answer.
    pending_patch: Option<(String, PatchAnswer)>,
    /// Actions waiting, in order, for the pending PATCH's answer.
    queue: VecDeque<Action>,
}

type PatchAnswer = oneshot::Receiver<Result<i64, HubError>>;

impl Connection {
    /// Decodes every whole packet in `incoming` and hands it to the session.
    fn on_bytes(&mut self, incoming: &mut BytesMut) -> Option<CloseReason> {
        loop {
            match Packet::read(incoming, MAX_PACKET) {
                Ok(packet) => {
                    let actions = self.session.on_packet(packet, now());
                    if let Some(reason) = self.carry_out(actions) {
                        return Some(reason);
                    }
                }
                Err(CodecError::InsufficientBytes(missing)) => {
                    incoming.reserve(missing);
                    return None;
                }
                Err(error) => return Some(CloseReason::Malformed(error.to_string())),
            }
        }
    }

    /// Carries out actions (and those that hub replies lead to) in order; returns why to
    /// close, if the session closed. Once a reported PATCH is pending, the rest waits in
    /// `queue` for its answer ([`Connection::on_patched`]), so nothing overtakes it.
    fn carry_out(&mut self, actions: Vec<Action>) -> Option<CloseReason> {
        if self.pending_patch.is_some() {
            self.queue.extend(actions);
            return None;
        }
        self.run(VecDeque::from(actions))
    }

    fn run(&mut self, mut queue: VecDeque<Action>) -> Option<CloseReason> {
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Send(packet) => {
                    if let Err(error) = packet.write(&mut self.outgoing, MAX_PACKET) {
                        tracing::warn!(%error, "could not encode a packet for a device");
                    }
                }
                Action::Hub(request) => {
                    if let Some(reply) = self.call_hub(request) {
                        queue.extend(self.session.on_hub_reply(reply, now()));
                    } else if self.pending_patch.is_some() {
                        // The rest waits for the PATCH's answer. (`queue` is only ever
                        // filled while a PATCH is pending, and emptied when it is answered.)
                        self.queue.extend(queue);
                        return None;
                    }
                }
                Action::Close(reason) => return Some(reason),
            }
        }
        None
    }

    /// The pending reported PATCH is committed (or refused): answer it, then carry on with
    /// what waited behind it.
    fn on_patched(
        &mut self,
        answer: Result<Result<i64, HubError>, oneshot::error::RecvError>,
    ) -> Option<CloseReason> {
        let (rid, _) = self.pending_patch.take()?;
        let result = answer.unwrap_or_else(|_| {
            Err(HubError::new(
                ErrorCode::ServerError,
                "localhub stopped before the reported properties were written",
            ))
        });
        // The answer goes before everything that arrived after the PATCH. Taking the queue
        // frees it: idle connections are most of a fleet.
        let mut queue = VecDeque::from(
            self.session
                .on_hub_reply(HubReply::ReportedPatched { rid, result }, now()),
        );
        queue.extend(std::mem::take(&mut self.queue));
        self.run(queue)
    }

    fn call_hub(&mut self, request: HubRequest) -> Option<HubReply> {
        let hub = &self.hub;
        match request {
            HubRequest::Credentials {
                device_id,
                key_name,
            } => Some(HubReply::Credentials(credentials(
                hub,
                &device_id,
                key_name.as_deref(),
            ))),
            HubRequest::Register { device_id } => {
                self.stats.connection_accepted();
                self.registration = Some(hub.connect_device(&device_id, INBOX_CAPACITY));
                None
            }
            HubRequest::Subscriptions { device_id, change } => {
                // The hub updates its memory before it stores, so a storage failure only
                // loses the change across a hub restart: worth a warning, not the connection.
                if let Err(error) =
                    hub.subscribe(&device_id, |subscriptions| change.apply(subscriptions))
                {
                    tracing::warn!(%device_id, %error, "could not store subscriptions");
                }
                None
            }
            HubRequest::GetTwin { device_id, rid } => Some(HubReply::TwinDocument {
                rid,
                result: hub.device_twin_document(&device_id),
            }),
            HubRequest::PatchReported {
                device_id,
                rid,
                patch,
            } => {
                self.pending_patch = Some((rid, hub.patch_reported_queued(&device_id, patch)));
                None
            }
            HubRequest::MethodResponse {
                device_id,
                rid,
                status,
                payload,
            } => {
                hub.method_response(&device_id, &rid, status, payload);
                None
            }
            HubRequest::Telemetry { device_id, bytes } => {
                tracing::trace!(%device_id, bytes, "device-to-cloud message");
                self.stats.telemetry(bytes);
                None
            }
        }
    }

    /// Writes what the session sent.
    async fn flush<S>(&mut self, stream: &mut S) -> Result<(), CloseReason>
    where
        S: AsyncWrite + Unpin,
    {
        if self.outgoing.is_empty() {
            return Ok(());
        }
        let write = async {
            stream.write_all(&self.outgoing).await?;
            stream.flush().await
        };
        let result = match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(CloseReason::Io(error.to_string())),
            Err(_) => Err(CloseReason::Io(
                "writing to the device timed out".to_owned(),
            )),
        };
        if self.outgoing.capacity() > KEPT_OUTGOING {
            self.outgoing = BytesMut::new();
        } else {
            self.outgoing.clear();
        }
        result
    }
}

/// What the hub knows about `device_id` and the policy `key_name`, for a CONNECT.
fn credentials(
    hub: &Hub,
    device_id: &str,
    key_name: Option<&str>,
) -> Result<Credentials, HubError> {
    let device = match hub.get_device(device_id) {
        Ok(identity) => {
            let keys = identity
                .authentication
                .and_then(|auth| auth.symmetric_key)
                .map(|keys| {
                    [keys.primary_key(), keys.secondary_key()]
                        .into_iter()
                        .filter_map(|key| key.ok().flatten())
                        .collect()
                })
                .unwrap_or_default();
            Some(DeviceCredentials {
                enabled: matches!(identity.status, None | Some(DeviceStatus::Enabled)),
                keys,
            })
        }
        Err(error) if error.known_code() == Some(ErrorCode::DeviceNotFound) => None,
        Err(error) => return Err(error),
    };
    let policy = match key_name {
        Some(name) => hub.policy(name)?.map(|policy| PolicyCredentials {
            device_connect: policy.rights.grants(Permission::DeviceConnect),
            keys: vec![policy.primary_key, policy.secondary_key],
        }),
        None => None,
    };
    Ok(Credentials {
        device,
        policy,
        subscriptions: hub.subscriptions(device_id),
    })
}

fn now() -> Now {
    Now {
        instant: Instant::now(),
        unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}
