//! The device endpoint: MQTT 3.1.1 over TLS. (Being written.)

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Hub;

/// Accepts device connections on `listener` (TLS with `tls`) until `shutdown` is cancelled,
/// then closes them and returns once every connection task has finished.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    hub: Hub,
    shutdown: CancellationToken,
) {
    let _ = (listener, tls, hub);
    shutdown.cancelled().await;
}
