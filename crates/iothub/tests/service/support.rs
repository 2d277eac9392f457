//! A scripted HTTPS "hub" for the service client tests: axum served through tokio-rustls on
//! 127.0.0.1 port 0, with a fresh rcgen CA and a server certificate for `localhost` and
//! `127.0.0.1`. It records every request and answers from a script of canned responses, so
//! tests assert on exactly what the client sent.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use iothub::auth::{SasToken, ServiceConnectionString, SharedAccessKey};
use iothub::service::{RetryPolicy, ServiceClient, ServiceClientOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The policy key of the test hub: bytes 0x00..=0x1F, as in the protocol reference.
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const POLICY: &str = "iothubowner";

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// How long to wait before answering (for timeout tests).
    pub delay: Duration,
}

impl Canned {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json; charset=utf-8".to_owned())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// An answer with a raw body (error bodies are JSON text inside JSON).
    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json; charset=utf-8".to_owned())],
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    /// The same answer with one more header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// The same answer, sent after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the hub received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The query string as sent.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// A header's value as text, if present (exactly once).
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.get_all(name).iter();
        let value = values.next()?;
        assert!(values.next().is_none(), "header {name} sent twice");
        Some(value.to_str().expect("ASCII header"))
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The query parameters, in order, form-decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Canned>>,
    requests: Mutex<Vec<Recorded>>,
    /// TCP connections accepted, including those whose TLS handshake then failed.
    connections: AtomicUsize,
}

/// A running scripted hub.
pub struct Hub {
    pub addr: SocketAddr,
    pub ca_pem: Vec<u8>,
    script: Arc<Script>,
}

impl Hub {
    /// Starts a hub that will answer with `answers`, in order (500 once they run out).
    pub async fn start(answers: Vec<Canned>) -> Self {
        let (ca_pem, tls) = certificates();
        let script = Arc::new(Script {
            answers: Mutex::new(answers.into()),
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        });
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("address");
        let (sender, receiver) = mpsc::channel(16);
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        // Handshakes run in their own tasks so that a client that aborts one (the trust
        // failure test) does not hold up the next.
        let counter = script.clone();
        tokio::spawn(async move {
            while let Ok((stream, peer)) = tcp.accept().await {
                counter.connections.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = sender.send((stream, peer)).await;
                    }
                });
            }
        });
        let router = Router::new().fallback(answer).with_state(script.clone());
        let listener = TlsListener {
            receiver,
            local: addr,
        };
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            ca_pem,
            script,
        }
    }

    /// `HostName` of the hub: `localhost:<port>`.
    pub fn host_name(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }

    /// The service connection string of the hub's `iothubowner` policy.
    pub fn connection_string(&self) -> ServiceConnectionString {
        format!(
            "HostName={};SharedAccessKeyName={POLICY};SharedAccessKey={KEY}",
            self.host_name()
        )
        .parse()
        .expect("valid connection string")
    }

    /// Options trusting the hub's CA, with fast retries (3 attempts, 5–20 ms) and a 5 s
    /// request timeout.
    pub fn options(&self) -> ServiceClientOptions {
        ServiceClientOptions {
            extra_ca_pem: Some(self.ca_pem.clone()),
            request_timeout: Duration::from_secs(5),
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            },
            ..ServiceClientOptions::default()
        }
    }

    /// A client with [`Hub::options`].
    pub fn client(&self) -> ServiceClient {
        self.client_with(self.options())
    }

    /// A client with the given options.
    pub fn client_with(&self, options: ServiceClientOptions) -> ServiceClient {
        ServiceClient::new(self.connection_string(), options).expect("client")
    }

    /// TCP connections accepted so far, whether or not TLS then succeeded.
    pub fn connections(&self) -> usize {
        self.script.connections.load(Ordering::SeqCst)
    }

    /// Every request received so far, each checked for the headers every request carries:
    /// a genuine, unexpired, hub-scoped SAS, `api-version`, `Accept` and `User-Agent`.
    pub fn requests(&self) -> Vec<Recorded> {
        let requests = self.script.requests.lock().expect("lock").clone();
        for request in &requests {
            self.check_common(request);
        }
        requests
    }

    /// The one request received; fails if there were more or none.
    pub fn only_request(&self) -> Recorded {
        let mut requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.remove(0)
    }

    fn check_common(&self, request: &Recorded) {
        let authorization = request.header("authorization").expect("Authorization");
        let token: SasToken = authorization.parse().expect("a SAS token");
        let key = SharedAccessKey::from_base64(KEY).expect("key");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        token
            .verify(&key, &self.host_name(), now)
            .expect("a genuine SAS for the hub");
        assert_eq!(token.key_name(), Some(POLICY));
        assert_eq!(
            token.encoded_resource_uri(),
            format!("localhost%3A{}", self.addr.port())
        );
        assert!(token.expiry() > now + 3000, "about an hour of validity");

        let api_versions: Vec<String> = request
            .query_pairs()
            .into_iter()
            .filter(|(name, _)| name == "api-version")
            .map(|(_, value)| value)
            .collect();
        assert_eq!(api_versions, ["2021-04-12"], "{}", request.query);
        assert_eq!(request.header("accept"), Some("application/json"));
        assert_eq!(
            request.header("user-agent"),
            Some(concat!("lockstep/", env!("CARGO_PKG_VERSION")))
        );
        match request.method.as_str() {
            "PUT" | "PATCH" => assert_eq!(
                request.header("content-type"),
                Some("application/json; charset=utf-8")
            ),
            "GET" | "DELETE" => {
                assert_eq!(request.header("content-type"), None);
                assert!(request.body.is_empty());
            }
            _ => {}
        }
    }
}

async fn answer(State(script): State<Arc<Script>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    script.requests.lock().expect("lock").push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
    });
    let canned = script.answers.lock().expect("lock").pop_front();
    let Some(canned) = canned else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "unscripted request").into_response();
    };
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let mut response = canned.body.into_response();
    *response.status_mut() = StatusCode::from_u16(canned.status).expect("status");
    for (name, value) in canned.headers {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("header value"),
        );
    }
    response
}

/// Hands axum the connections whose TLS handshake succeeded.
struct TlsListener {
    receiver: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.receiver.recv().await {
            Some(connection) => connection,
            // The acceptor task ended with the runtime; nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// A fresh CA (as PEM, for the client) and a server config with a certificate it signed.
fn certificates() -> (Vec<u8>, rustls::ServerConfig) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.distinguished_name = name("Lockstep test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("server key");
    let mut server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
    server_params.distinguished_name = name("localhost");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");

    let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    (ca_cert.pem().into_bytes(), config)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}
