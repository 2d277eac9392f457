//! Helpers for the MQTT tests: a hub served on 127.0.0.1:0 with a fresh test CA, our device
//! client and a hand-written MQTT 3.1.1 client (`RawClient`) for what a well-behaved client
//! never sends.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use iothub::auth::{DeviceConnectionString, SasToken, SharedAccessKey};
use iothub::device::{DeviceClient, DeviceClientOptions, DeviceEvents};
use iothub::model::DeviceIdentity;
use localhub::mqtt::{MqttStats, serve_with_stats};
use localhub::store::Store;
use localhub::{Hub, IfMatch};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rumqttc::mqttbytes::v4::{ConnAck, Connect, Login, Packet};
use rumqttc::mqttbytes::{Error as CodecError, Protocol};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

/// How long any single wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The host name devices sign and put in their user name (localhub's connection strings
/// carry no port).
pub const HOST: &str = "localhost";

/// A hub with its MQTT endpoint running.
pub struct TestHub {
    pub hub: Hub,
    pub port: u16,
    pub ca_pem: String,
    pub stats: MqttStats,
    client_tls: Arc<rustls::ClientConfig>,
    shutdown: CancellationToken,
    server: JoinHandle<()>,
}

impl TestHub {
    /// A hub over an in-memory store, served over TLS on a free port.
    pub async fn start() -> Self {
        Self::start_on(Store::open_in_memory().expect("store")).await
    }

    /// A hub over `store` (a database file, say), served over TLS on a free port.
    pub async fn start_on(store: Store) -> Self {
        let hub = Hub::new(store, "localhost:8443").expect("hub");
        let (server_tls, ca_pem, ca_der) = certificates();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let stats = MqttStats::default();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve_with_stats(
            listener,
            server_tls,
            hub.clone(),
            shutdown.clone(),
            stats.clone(),
        ));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der).expect("CA");
        let client_tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            hub,
            port,
            ca_pem,
            stats,
            client_tls: Arc::new(client_tls),
            shutdown,
            server,
        }
    }

    /// Registers `id` and returns its primary key.
    pub fn add_device(&self, id: &str) -> SharedAccessKey {
        let identity = self
            .hub
            .put_device(id, DeviceIdentity::default(), &IfMatch::Absent)
            .expect("device created");
        let keys = identity
            .authentication
            .and_then(|auth| auth.symmetric_key)
            .expect("generated keys");
        keys.primary_key().expect("base64").expect("a primary key")
    }

    /// The connection string localhub would hand out for `id`.
    pub fn connection_string(&self, id: &str, key: &SharedAccessKey) -> DeviceConnectionString {
        format!(
            "HostName={HOST};DeviceId={id};SharedAccessKey={}",
            key.expose_base64()
        )
        .parse()
        .expect("valid connection string")
    }

    /// Our device client for `id`, trusting the test CA.
    pub async fn device_client(
        &self,
        id: &str,
        key: &SharedAccessKey,
    ) -> Result<(DeviceClient, DeviceEvents), iothub::device::DeviceError> {
        DeviceClient::connect(self.connection_string(id, key), self.device_options()).await
    }

    pub fn device_options(&self) -> DeviceClientOptions {
        DeviceClientOptions {
            port: Some(self.port),
            extra_ca_pem: Some(self.ca_pem.clone()),
            connect_timeout: Duration::from_secs(5),
            request_timeout: PATIENCE,
            ..DeviceClientOptions::default()
        }
    }

    /// A TLS connection with nothing sent yet.
    pub async fn open(&self) -> RawClient {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("tcp connect");
        let name = ServerName::try_from(HOST).expect("server name");
        let stream = TlsConnector::from(self.client_tls.clone())
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        RawClient {
            stream,
            buffer: BytesMut::new(),
        }
    }

    /// A raw client that sent CONNECT for `id` with `password`; returns its CONNACK.
    pub async fn raw_connect(&self, connect: Connect) -> (RawClient, ConnAck) {
        let mut client = self.open().await;
        client.send(Packet::Connect(connect)).await;
        match client.recv().await {
            Some(Packet::ConnAck(ack)) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// `raw_connect` with a valid token, asserting CONNACK 0.
    pub async fn raw_device(&self, id: &str, key: &SharedAccessKey, clean: bool) -> RawClient {
        let (client, ack) = self
            .raw_connect(connect(id, &token(id, key, 3600), clean, 60))
            .await;
        assert_eq!(ack.code, rumqttc::mqttbytes::v4::ConnectReturnCode::Success);
        client
    }

    /// rustls client configuration trusting the test CA.
    pub fn client_tls(&self) -> Arc<rustls::ClientConfig> {
        self.client_tls.clone()
    }

    /// Cancels the endpoint and waits for `serve` to return.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("serve returns after shutdown")
            .expect("serve did not panic");
    }
}

/// A CONNECT for `id` as our device client sends it, with keep-alive in seconds.
pub fn connect(id: &str, password: &str, clean_session: bool, keep_alive: u16) -> Connect {
    Connect {
        protocol: Protocol::V4,
        keep_alive,
        client_id: id.to_owned(),
        clean_session,
        last_will: None,
        login: Some(Login {
            username: format!("{HOST}/{id}/?api-version=2021-04-12&DeviceClientType=test"),
            password: password.to_owned(),
        }),
    }
}

/// A device token for `id` valid for `ttl` seconds from now (negative: already expired).
pub fn token(id: &str, key: &SharedAccessKey, ttl: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let expiry = now.saturating_add_signed(ttl);
    SasToken::for_device(&format!("{HOST}/devices/{id}"), key, expiry).expose_secret_string()
}

/// A hand-written MQTT 3.1.1 client over TLS, to send exactly what a test needs.
pub struct RawClient {
    stream: TlsStream<TcpStream>,
    buffer: BytesMut,
}

impl RawClient {
    pub async fn send(&mut self, packet: Packet) {
        let mut bytes = BytesMut::new();
        packet.write(&mut bytes, 1 << 20).expect("encodable");
        self.send_bytes(&bytes).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    /// The next packet, or `None` when the hub closed the connection. Fails after
    /// [`PATIENCE`].
    pub async fn recv(&mut self) -> Option<Packet> {
        tokio::time::timeout(PATIENCE, self.read_packet())
            .await
            .expect("a packet or a close in time")
    }

    /// Asserts that the hub sends nothing (and does not close) for `quiet`.
    pub async fn expect_nothing_for(&mut self, quiet: Duration) {
        if let Ok(packet) = tokio::time::timeout(quiet, self.read_packet()).await {
            panic!("expected nothing for {quiet:?}, got {packet:?}");
        }
    }

    async fn read_packet(&mut self) -> Option<Packet> {
        loop {
            match Packet::read(&mut self.buffer, 1 << 20) {
                Ok(packet) => return Some(packet),
                Err(CodecError::InsufficientBytes(_)) => {}
                Err(error) => panic!("the hub sent a malformed packet: {error}"),
            }
            match self.stream.read_buf(&mut self.buffer).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Asserts that the hub closes the connection (within [`PATIENCE`]), skipping packets.
    pub async fn expect_closed(&mut self) {
        while let Some(packet) = self.recv().await {
            tracing::debug!(?packet, "skipped while waiting for the close");
        }
    }

    /// Sends PINGREQ and expects PINGRESP: the connection is alive.
    pub async fn ping(&mut self) {
        self.send(Packet::PingReq).await;
        assert_eq!(self.recv().await, Some(Packet::PingResp));
    }
}

/// Polls `condition` until it holds, failing after [`PATIENCE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test CA and a server certificate for `localhost` it signed: the server configuration,
/// the CA as PEM and as DER.
fn certificates() -> (Arc<rustls::ServerConfig>, String, CertificateDer<'static>) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "localhub test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("server key");
    let server_params = CertificateParams::new(vec![HOST.to_owned()]).expect("server params");
    let server = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");

    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(
            vec![server.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .expect("server config");
    (Arc::new(config), ca.pem(), ca.der().clone())
}
