//! The service endpoint: IoT Hub's REST API over HTTPS, an adapter over [`Hub`].
//!
//! [`serve`] accepts TCP connections, does the TLS handshake and serves [`router`] on each
//! connection with hyper (HTTP/1.1 or HTTP/2, whichever the client speaks). Every request is
//! authenticated first ([`auth`]); handlers then parse, call the hub and serialize, nothing
//! more. Errors always answer in the hub's shape ([`error`]).
//!
//! [`serve`] also serves `GET /$iothub/websocket`, MQTT over WebSocket
//! ([`crate::mqtt::websocket`]), outside that authentication: its MQTT CONNECT carries the
//! SAS token, as over TCP.
//!
//! Layout:
//! - [`auth`]: SAS tokens of shared-access policies, and who may do what.
//! - [`error`]: [`ApiError`], the error response every failure becomes.
//! - [`json`]: request bodies in, JSON responses out.
//! - [`registry`]: `/devices` and `/statistics`.
//! - [`twins`]: `/twins/{id}` and direct methods.
//! - [`query`]: `POST /devices/query`.
//! - [`jobs`]: `/jobs/v2` (create, get, cancel, query).
//!
//! Every `api-version` is accepted: the hub speaks one version of each operation.

pub mod auth;
pub mod error;
pub mod jobs;
pub mod json;
pub mod query;
pub mod registry;
pub mod twins;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::ApiError;

use crate::Hub;

/// The largest request body: room for a direct method's 128 KB payload with its envelope,
/// and far above the twin limits (8 KB tags, 32 KB desired). Larger bodies answer 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish once the hub shuts down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long to pause accepting after an accept error (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The REST API: every route, the authentication in front of them, the body limit and the
/// error-shaped answers for unknown routes and methods.
pub fn router(hub: Hub) -> Router {
    Router::new()
        .route("/devices", get(registry::list_devices))
        .route("/devices/query", post(query::query_devices))
        .route(
            "/devices/{id}",
            get(registry::get_device)
                .put(registry::put_device)
                .delete(registry::delete_device),
        )
        .route("/statistics/devices", get(registry::device_statistics))
        .route("/statistics/service", get(registry::service_statistics))
        .route(
            "/twins/{id}",
            get(twins::get_twin)
                .patch(twins::patch_twin)
                .put(twins::replace_twin),
        )
        .route("/twins/{id}/methods", post(twins::invoke_method))
        .merge(jobs::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            hub.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(hub)
}

/// Serves the REST API on `listener` (TLS with `tls`) until `shutdown` is cancelled, then
/// closes every connection (requests in flight get a few seconds) and returns once every
/// connection task has finished.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    hub: Hub,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let connections = TaskTracker::new();
    // MQTT over WebSocket shares the port, outside the SAS check (CONNECT carries the
    // token); its connections are tracked with the HTTPS ones, so shutdown waits for them.
    let websocket = crate::mqtt::websocket::router(
        hub.clone(),
        crate::mqtt::MqttStats::default(),
        shutdown.clone(),
        connections.clone(),
    );
    let app = router(hub).merge(websocket);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tracing::trace!(%peer, "https connection");
                // Small request/response exchanges: without this, Nagle's algorithm and
                // delayed ACKs add ~40 ms to a fifth of direct-method calls (see
                // docs/benchmarks.md).
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(
                    stream,
                    acceptor.clone(),
                    app.clone(),
                    shutdown.clone(),
                ));
            }
            Err(error) => {
                tracing::warn!(%error, "https accept failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// One connection: TLS handshake, then HTTP until the client leaves or the hub stops.
async fn serve_connection(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: CancellationToken,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let tls = tokio::select! {
        () = shutdown.cancelled() => return,
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(%error, "https TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("https TLS handshake timed out");
                return;
            }
        },
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    // With upgrades: `/$iothub/websocket` upgrades to a WebSocket.
    let connection =
        builder.serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(app));
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "https connection ended with an error");
            }
        }
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            if tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()).await.is_err() {
                tracing::debug!("https connection closed with a request still running");
            }
        }
    }
}
