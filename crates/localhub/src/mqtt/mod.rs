//! The device endpoint: MQTT 3.1.1 over TLS, or over a WebSocket on the HTTPS port
//! ([`websocket`]), an adapter over [`Hub`].
//!
//! What devices get (see `docs/iothub-protocol.md` §6–7):
//! - CONNECT with client id = device id, a leniently parsed user name and a SAS token as
//!   password, signed with the device's key or a policy's with DeviceConnect; CONNACK 5 for
//!   bad, expired or wrong-scope tokens and for unknown or disabled devices. A second
//!   connection of a device closes the first.
//! - SUBACK granting QoS ≤ 1 for the five filters IoT Hub supports (0x80 for the rest);
//!   subscriptions persist per device across reconnects, as the Python SDK expects.
//! - Direct methods at QoS 0 on `$iothub/methods/POST/{name}/?$rid={rid}`, answers routed to
//!   the waiting invoker; twin GET (200), reported PATCH (204 with `$version`), desired
//!   patches with `$version`; device-to-cloud messages acknowledged and counted.
//! - The connection closes after 1.5 × keep-alive without a packet, when the CONNECT token
//!   expires, on a malformed packet, a QoS 2 publish or a publish to a topic the device may
//!   not use — that connection only.
//!
//! Layout:
//! - [`session`]: the protocol state of one connection, sans I/O: packets in, actions out.
//! - `connection`: the task of one connection over any byte stream (TLS over TCP, or the
//!   pipe [`websocket`] pumps): reads and writes, hub calls, timers.
//! - [`websocket`]: `GET /$iothub/websocket` (subprotocol `mqtt`) for the HTTPS router.
//! - this module: the accept loop and TLS handshakes, and [`MqttStats`].

mod connection;
pub mod session;
pub mod websocket;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Hub;

/// How long a client may take to complete the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to pause accepting after `accept` fails (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Counters of one MQTT endpoint. Cheap to clone; every clone counts the same.
#[derive(Debug, Clone, Default)]
pub struct MqttStats {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    telemetry_messages: AtomicU64,
    telemetry_bytes: AtomicU64,
}

impl MqttStats {
    /// Connections accepted (CONNACK 0) so far.
    pub fn connections_accepted(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// Device-to-cloud messages accepted so far.
    pub fn telemetry_messages(&self) -> u64 {
        self.inner.telemetry_messages.load(Ordering::Relaxed)
    }

    /// Bytes of device-to-cloud message bodies accepted so far.
    pub fn telemetry_bytes(&self) -> u64 {
        self.inner.telemetry_bytes.load(Ordering::Relaxed)
    }

    fn connection_accepted(&self) {
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
    }

    fn telemetry(&self, bytes: usize) {
        self.inner
            .telemetry_messages
            .fetch_add(1, Ordering::Relaxed);
        self.inner
            .telemetry_bytes
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Accepts device connections on `listener` (TLS with `tls`) until `shutdown` is cancelled,
/// then closes them and returns once every connection task has finished.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    hub: Hub,
    shutdown: CancellationToken,
) {
    serve_with_stats(listener, tls, hub, shutdown, MqttStats::default()).await;
}

/// [`serve`], counting connections and device-to-cloud messages in `stats`.
pub async fn serve_with_stats(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    hub: Hub,
    shutdown: CancellationToken,
    stats: MqttStats,
) {
    let acceptor = TlsAcceptor::from(tls);
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => {
                tracing::debug!(%peer, "device connection");
                tracker.spawn(handle(
                    tcp,
                    acceptor.clone(),
                    hub.clone(),
                    stats.clone(),
                    shutdown.clone(),
                ));
            }
            Err(error) => {
                tracing::warn!(%error, "accepting a device connection failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    tracker.close();
    tracker.wait().await;
}

/// One connection: the TLS handshake, then the MQTT connection task.
async fn handle(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    hub: Hub,
    stats: MqttStats,
    shutdown: CancellationToken,
) {
    // Small packets (PUBACK, method requests) must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
    let stream = tokio::select! {
        () = shutdown.cancelled() => return,
        handshake = handshake => match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%error, "TLS handshake with a device failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake with a device timed out");
                return;
            }
        },
    };
    connection::run(stream, hub, stats, shutdown).await;
}
