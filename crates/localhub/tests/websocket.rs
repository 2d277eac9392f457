//! MQTT over WebSocket at `/$iothub/websocket` on the HTTPS port, end to end on a whole hub
//! started on port 0.
//!
//! Contents:
//! 1. Our device client (`iothub::device::DeviceClient`) with the WebSocket transport:
//!    - `device_client_over_websocket_method_round_trip`: `hub.invoke_method` → device → 200.
//!    - `desired_patch_reaches_a_websocket_device`
//!    - `reported_patch_and_twin_get_over_websocket`
//!    - `device_client_over_websocket_with_a_wrong_key_is_unauthorized`
//!    - `rest_routes_still_work_on_the_same_port`: REST (auth still required) next to a
//!      WebSocket device, including a method invoked over REST.
//! 2. A hand-written WebSocket client (what a well-behaved client never sends):
//!    - `the_mqtt_subprotocol_is_required`: none or another → 400; a list with `mqtt` → 101.
//!    - `not_a_websocket_request_is_refused_without_authentication_noise`
//!    - `a_bad_sas_over_websocket_is_connack_5`
//!    - `mqtt_packets_may_span_and_share_messages`
//!    - `pings_are_answered_and_text_closes_the_connection`
//!    - `a_close_from_the_device_disconnects_it`
//!    - `shutdown_closes_websocket_connections`

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use iothub::auth::{DeviceConnectionString, SasToken, SharedAccessKey};
use iothub::device::{
    DeviceClient, DeviceClientOptions, DeviceError, DeviceEvent, DeviceEvents, MqttTransport,
};
use iothub::model::{CloudToDeviceMethod, DeviceIdentity};
use iothub::service::{ServiceClient, ServiceClientOptions};
use localhub::IfMatch;
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Packet};
use rumqttc::mqttbytes::v4::{Connect, Login};
use rumqttc::mqttbytes::{Error as CodecError, Protocol};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use support::{TestHub, start_hub, unix_now};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How long any single wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

const PATH: &str = "/$iothub/websocket";

// ---- helpers ----------------------------------------------------------------------------

/// Registers `id` on the hub and returns its primary key.
fn add_device(hub: &TestHub, id: &str) -> SharedAccessKey {
    let identity = hub
        .hub()
        .put_device(id, DeviceIdentity::default(), &IfMatch::Absent)
        .expect("device created");
    identity
        .authentication
        .and_then(|auth| auth.symmetric_key)
        .expect("generated keys")
        .primary_key()
        .expect("base64")
        .expect("a primary key")
}

/// Our device client's options: WebSocket to the HTTPS port, trusting the hub's CA.
fn websocket_options(hub: &TestHub) -> DeviceClientOptions {
    DeviceClientOptions {
        transport: MqttTransport::WebSocket,
        port: Some(hub.https_port()),
        extra_ca_pem: Some(hub.ca_pem().to_owned()),
        connect_timeout: Duration::from_secs(5),
        request_timeout: PATIENCE,
        ..DeviceClientOptions::default()
    }
}

async fn websocket_client(hub: &TestHub, id: &str) -> (DeviceClient, DeviceEvents) {
    add_device(hub, id);
    let connection_string = hub.device_connection_string(id).expect("connection string");
    DeviceClient::connect(connection_string, websocket_options(hub))
        .await
        .expect("connects over WebSocket")
}

/// Waits for the next event matching `pick`, skipping others.
async fn next_event<T>(
    events: &mut DeviceEvents,
    mut pick: impl FnMut(DeviceEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = events.recv().await.expect("the client is running");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("the event in time")
}

/// Polls `condition` until it holds, failing after [`PATIENCE`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn method(name: &str, payload: Value) -> CloudToDeviceMethod {
    CloudToDeviceMethod {
        response_timeout_in_seconds: Some(5),
        ..CloudToDeviceMethod::new(name, payload)
    }
}

fn service_client(hub: &TestHub) -> ServiceClient {
    let options = ServiceClientOptions {
        extra_ca_pem: Some(hub.ca_pem().as_bytes().to_vec()),
        ..ServiceClientOptions::default()
    };
    ServiceClient::new(hub.service_connection_string().clone(), options).expect("client")
}

/// A device token for `id` valid for an hour, signed with `key`.
fn device_token(id: &str, key: &SharedAccessKey) -> String {
    SasToken::for_device(&format!("localhost/devices/{id}"), key, unix_now() + 3600)
        .expose_secret_string()
}

/// A CONNECT for `id` with `password`, as a device sends it.
fn connect(id: &str, password: &str) -> Packet {
    Packet::Connect(Connect {
        protocol: Protocol::V4,
        keep_alive: 60,
        client_id: id.to_owned(),
        clean_session: true,
        last_will: None,
        login: Some(Login {
            username: format!("localhost/{id}/?api-version=2021-04-12"),
            password: password.to_owned(),
        }),
    })
}

fn encode(packet: &Packet) -> Vec<u8> {
    let mut bytes = BytesMut::new();
    packet.write(&mut bytes, 1 << 20).expect("encodable");
    bytes.to_vec()
}

fn connack(code: ConnectReturnCode) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code,
    })
}

// ---- a hand-written WebSocket client -------------------------------------------------------

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// What the hub answered to an upgrade request: status line, headers, and the connection
/// (for a 101).
struct Upgrade {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    client: RawWebSocket,
}

impl Upgrade {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A WebSocket client speaking frames by hand, over TLS to the HTTPS port.
struct RawWebSocket {
    stream: TlsStream<TcpStream>,
    buffer: BytesMut,
    /// MQTT bytes received in binary messages, not yet decoded.
    mqtt: BytesMut,
}

/// A frame the hub sent.
#[derive(Debug, PartialEq)]
struct Frame {
    opcode: u8,
    payload: Vec<u8>,
}

fn client_tls(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(certificate.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(tls)
}

/// Sends `GET {path}` with the upgrade headers (and `Sec-WebSocket-Protocol: {protocols}`
/// if given, and plain GET headers if `websocket` is false), and reads the answer's head.
async fn request_upgrade(
    hub: &TestHub,
    path: &str,
    protocols: Option<&str>,
    websocket: bool,
) -> Upgrade {
    let tcp = TcpStream::connect(("127.0.0.1", hub.https_port()))
        .await
        .expect("tcp connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let mut stream = TlsConnector::from(client_tls(hub.ca_pem()))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\n",
        hub.https_port()
    );
    if websocket {
        request.push_str(
            "Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        );
    }
    if let Some(protocols) = protocols {
        request.push_str(&format!("Sec-WebSocket-Protocol: {protocols}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.flush().await.expect("flush");

    let mut buffer = BytesMut::new();
    let head_end = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                return end;
            }
            let read = stream.read_buf(&mut buffer).await.expect("read");
            assert!(read > 0, "the hub closed before answering");
        }
    })
    .await
    .expect("an answer in time");
    let head = String::from_utf8(buffer.split_to(head_end + 4).to_vec()).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut body = String::new();
    if status != 101 {
        let length: usize = headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0);
        while buffer.len() < length {
            let read = tokio::time::timeout(PATIENCE, stream.read_buf(&mut buffer))
                .await
                .expect("the body in time")
                .expect("read");
            assert!(read > 0, "the hub closed before the body");
        }
        body = String::from_utf8(buffer.split_to(length).to_vec()).expect("utf-8 body");
    }
    Upgrade {
        status,
        headers,
        body,
        client: RawWebSocket {
            stream,
            buffer,
            mqtt: BytesMut::new(),
        },
    }
}

/// An upgraded connection with subprotocol `mqtt`.
async fn open(hub: &TestHub) -> RawWebSocket {
    let upgrade = request_upgrade(hub, PATH, Some("mqtt"), true).await;
    assert_eq!(upgrade.status, 101, "{}", upgrade.body);
    assert_eq!(upgrade.header("sec-websocket-protocol"), Some("mqtt"));
    upgrade.client
}

impl RawWebSocket {
    /// Sends one masked frame, as a client must.
    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x80 | opcode];
        let length = payload.len();
        if length < 126 {
            frame.push(0x80 | u8::try_from(length).expect("small"));
        } else if let Ok(length) = u16::try_from(length) {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&length.to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&u64::try_from(length).expect("fits").to_be_bytes());
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    async fn send_packet(&mut self, packet: &Packet) {
        self.send_frame(OP_BINARY, &encode(packet)).await;
    }

    /// The next frame, or `None` when the connection closed. Fails after [`PATIENCE`].
    async fn recv_frame(&mut self) -> Option<Frame> {
        tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(frame) = self.parse_frame() {
                    return Some(frame);
                }
                match self.stream.read_buf(&mut self.buffer).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("a frame or a close in time")
    }

    fn parse_frame(&mut self) -> Option<Frame> {
        let bytes = &self.buffer[..];
        if bytes.len() < 2 {
            return None;
        }
        assert_eq!(bytes[1] & 0x80, 0, "the hub must not mask its frames");
        let (length, header) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 if bytes.len() >= 10 => {
                let mut length = [0u8; 8];
                length.copy_from_slice(&bytes[2..10]);
                (
                    usize::try_from(u64::from_be_bytes(length)).expect("fits"),
                    10,
                )
            }
            126 | 127 => return None,
            small => (usize::from(small), 2),
        };
        if bytes.len() < header + length {
            return None;
        }
        assert_eq!(bytes[0] & 0x80, 0x80, "the hub sends whole messages");
        let opcode = bytes[0] & 0x0f;
        self.buffer.advance(header);
        let payload = self.buffer.split_to(length).to_vec();
        Some(Frame { opcode, payload })
    }

    /// The next MQTT packet from binary messages, or `None` when the connection closed
    /// (a close frame or the end of the stream). Answers nothing itself.
    async fn recv_packet(&mut self) -> Option<Packet> {
        loop {
            match Packet::read(&mut self.mqtt, 1 << 20) {
                Ok(packet) => return Some(packet),
                Err(CodecError::InsufficientBytes(_)) => {}
                Err(error) => panic!("the hub sent a malformed packet: {error}"),
            }
            let frame = self.recv_frame().await?;
            match frame.opcode {
                OP_BINARY => self.mqtt.extend_from_slice(&frame.payload),
                OP_CLOSE => return None,
                other => panic!("unexpected frame {other:#x} while waiting for MQTT"),
            }
        }
    }

    /// The close frame's code, skipping MQTT; `None` if the stream ended without one.
    async fn expect_close(&mut self) -> Option<u16> {
        while let Some(frame) = self.recv_frame().await {
            if frame.opcode == OP_CLOSE {
                let code = frame
                    .payload
                    .get(..2)
                    .map(|code| u16::from_be_bytes([code[0], code[1]]));
                return code;
            }
        }
        None
    }
}

// ---- 1. our device client ------------------------------------------------------------------

#[tokio::test]
async fn device_client_over_websocket_method_round_trip() {
    let hub = start_hub().await;
    let (client, mut events) = websocket_client(&hub, "door1").await;
    eventually("the device subscribed to methods", || {
        hub.hub().subscriptions("door1").methods
    })
    .await;
    assert!(hub.hub().is_connected("door1"));

    let invoker = {
        let hub = hub.hub().clone();
        tokio::spawn(async move {
            hub.invoke_method("door1", &method("lockDoor", json!({"force": true})))
                .await
        })
    };
    let request = next_event(&mut events, |event| match event {
        DeviceEvent::MethodRequest(request) => Some(request),
        _ => None,
    })
    .await;
    assert_eq!(request.name, "lockDoor");
    assert_eq!(request.payload, json!({"force": true}));
    client
        .respond_to_method(&request.rid, 200, json!({"locked": true}))
        .await
        .expect("answered");
    let result = invoker
        .await
        .expect("joined")
        .expect("the invocation succeeds");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload, json!({"locked": true}));

    client.shutdown().await;
    eventually("the hub saw the disconnect", || {
        !hub.hub().is_connected("door1")
    })
    .await;
    hub.stop().await;
}

#[tokio::test]
async fn desired_patch_reaches_a_websocket_device() {
    let hub = start_hub().await;
    let (client, mut events) = websocket_client(&hub, "door1").await;
    eventually("the device subscribed to desired patches", || {
        hub.hub().subscriptions("door1").desired
    })
    .await;
    let twin = hub
        .hub()
        .patch_twin(
            "door1",
            &json!({"properties": {"desired": {"mode": "eco"}}}),
            &IfMatch::Absent,
        )
        .expect("patched");
    let version = twin["properties"]["desired"]["$version"]
        .as_i64()
        .expect("a desired $version");
    let patch = next_event(&mut events, |event| match event {
        DeviceEvent::DesiredPatch(patch) if patch.patch.contains_key("mode") => Some(patch),
        _ => None,
    })
    .await;
    assert_eq!(patch.version, version);
    assert_eq!(patch.patch.get("mode"), Some(&json!("eco")));
    client.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn reported_patch_and_twin_get_over_websocket() {
    let hub = start_hub().await;
    let (client, _events) = websocket_client(&hub, "door1").await;
    let version = client
        .patch_reported(json!({"locked": true}))
        .await
        .expect("patched");
    let twin = hub.hub().get_twin("door1").expect("twin");
    assert_eq!(twin["properties"]["reported"]["locked"], json!(true));
    assert_eq!(twin["properties"]["reported"]["$version"], json!(version));
    let properties = client.get_twin().await.expect("twin GET");
    assert_eq!(
        properties.reported.expect("reported").version,
        Some(version)
    );
    client.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn device_client_over_websocket_with_a_wrong_key_is_unauthorized() {
    let hub = start_hub().await;
    add_device(&hub, "door1");
    let wrong = SharedAccessKey::from_bytes([7u8; 32]).expect("key");
    let connection_string: DeviceConnectionString = format!(
        "HostName=localhost;DeviceId=door1;SharedAccessKey={}",
        wrong.expose_base64()
    )
    .parse()
    .expect("valid connection string");
    let error = DeviceClient::connect(connection_string, websocket_options(&hub))
        .await
        .expect_err("refused");
    assert_eq!(error, DeviceError::Unauthorized);
    assert!(!hub.hub().is_connected("door1"));
    hub.stop().await;
}

#[tokio::test]
async fn rest_routes_still_work_on_the_same_port() {
    let hub = start_hub().await;
    let (client, mut events) = websocket_client(&hub, "door1").await;
    eventually("the device subscribed to methods", || {
        hub.hub().subscriptions("door1").methods
    })
    .await;
    let service = service_client(&hub);

    let devices = service.list_devices(None).await.expect("GET /devices");
    assert_eq!(devices.len(), 1);
    let twin = service.get_twin("door1").await.expect("GET /twins/door1");
    assert_eq!(twin.device_id.as_deref(), Some("door1"));

    // A method over REST reaches the device connected over WebSocket on the same port.
    let invoker = {
        let service = service.clone();
        tokio::spawn(async move {
            service
                .invoke_method("door1", &method("ping", json!(null)))
                .await
        })
    };
    let request = next_event(&mut events, |event| match event {
        DeviceEvent::MethodRequest(request) => Some(request),
        _ => None,
    })
    .await;
    client
        .respond_to_method(&request.rid, 200, json!({"pong": 1}))
        .await
        .expect("answered");
    let result = invoker.await.expect("joined").expect("invoked over REST");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload, json!({"pong": 1}));

    // The REST routes and unknown routes still demand a token.
    for path in ["/devices", "/twins/door1", "/no/such/route"] {
        let answer = request_upgrade(&hub, path, None, false).await;
        assert_eq!(answer.status, 401, "{path}: {}", answer.body);
        assert_eq!(
            answer.header("iothub-errorcode"),
            Some("IotHubUnauthorizedAccess")
        );
    }
    client.shutdown().await;
    hub.stop().await;
}

// ---- 2. a hand-written WebSocket client ----------------------------------------------------

#[tokio::test]
async fn the_mqtt_subprotocol_is_required() {
    let hub = start_hub().await;
    for protocols in [None, Some("chat"), Some("mqttv3.1, chat")] {
        let answer = request_upgrade(&hub, PATH, protocols, true).await;
        assert_eq!(answer.status, 400, "{protocols:?}");
        assert!(answer.body.contains("subprotocol"), "{}", answer.body);
        assert_eq!(answer.header("sec-websocket-accept"), None);
    }
    let answer = request_upgrade(&hub, PATH, Some("chat, mqtt"), true).await;
    assert_eq!(answer.status, 101);
    assert_eq!(answer.header("sec-websocket-protocol"), Some("mqtt"));
    assert_eq!(
        answer.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    hub.stop().await;
}

#[tokio::test]
async fn not_a_websocket_request_is_refused_without_authentication_noise() {
    let hub = start_hub().await;
    // A plain GET: not an upgrade, so no WebSocket; the route itself asks no token.
    let answer = request_upgrade(&hub, PATH, Some("mqtt"), false).await;
    assert!(
        (400..500).contains(&answer.status) && answer.status != 401,
        "{} {}",
        answer.status,
        answer.body
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_bad_sas_over_websocket_is_connack_5() {
    let hub = start_hub().await;
    add_device(&hub, "door1");
    let wrong = SharedAccessKey::from_bytes([7u8; 32]).expect("key");
    let mut client = open(&hub).await;
    client
        .send_packet(&connect("door1", &device_token("door1", &wrong)))
        .await;
    assert_eq!(
        client.recv_packet().await,
        Some(connack(ConnectReturnCode::NotAuthorized))
    );
    // Then the hub closes the WebSocket (normally).
    assert_eq!(client.expect_close().await, Some(1000));
    assert!(!hub.hub().is_connected("door1"));
    hub.stop().await;
}

#[tokio::test]
async fn mqtt_packets_may_span_and_share_messages() {
    let hub = start_hub().await;
    let key = add_device(&hub, "door1");
    let mut client = open(&hub).await;
    // CONNECT split over three binary messages (one of them empty), then two PINGREQs in one.
    let bytes = encode(&connect("door1", &device_token("door1", &key)));
    let (first, rest) = bytes.split_at(5);
    client.send_frame(OP_BINARY, first).await;
    client.send_frame(OP_BINARY, &[]).await;
    client.send_frame(OP_BINARY, rest).await;
    assert_eq!(
        client.recv_packet().await,
        Some(connack(ConnectReturnCode::Success))
    );
    assert!(hub.hub().is_connected("door1"));
    let mut pings = encode(&Packet::PingReq);
    pings.extend(encode(&Packet::PingReq));
    client.send_frame(OP_BINARY, &pings).await;
    for _ in 0..2 {
        assert_eq!(client.recv_packet().await, Some(Packet::PingResp));
    }
    hub.stop().await;
}

#[tokio::test]
async fn pings_are_answered_and_text_closes_the_connection() {
    let hub = start_hub().await;
    let key = add_device(&hub, "door1");
    let mut client = open(&hub).await;
    client
        .send_packet(&connect("door1", &device_token("door1", &key)))
        .await;
    assert_eq!(
        client.recv_packet().await,
        Some(connack(ConnectReturnCode::Success))
    );
    client.send_frame(OP_PING, b"are you there").await;
    assert_eq!(
        client.recv_frame().await,
        Some(Frame {
            opcode: OP_PONG,
            payload: b"are you there".to_vec()
        })
    );
    assert!(hub.hub().is_connected("door1"));
    client.send_frame(OP_TEXT, b"hello").await;
    // 1003: unsupported data.
    assert_eq!(client.expect_close().await, Some(1003));
    eventually("the hub dropped the device", || {
        !hub.hub().is_connected("door1")
    })
    .await;
    hub.stop().await;
}

#[tokio::test]
async fn a_close_from_the_device_disconnects_it() {
    let hub = start_hub().await;
    let key = add_device(&hub, "door1");
    let mut client = open(&hub).await;
    client
        .send_packet(&connect("door1", &device_token("door1", &key)))
        .await;
    assert_eq!(
        client.recv_packet().await,
        Some(connack(ConnectReturnCode::Success))
    );
    assert!(hub.hub().is_connected("door1"));
    client.send_frame(OP_CLOSE, &1000u16.to_be_bytes()).await;
    // The hub answers the close, then ends the connection.
    assert_eq!(client.expect_close().await, Some(1000));
    eventually("the hub dropped the device", || {
        !hub.hub().is_connected("door1")
    })
    .await;
    hub.stop().await;
}

#[tokio::test]
async fn shutdown_closes_websocket_connections() {
    let hub = start_hub().await;
    let key = add_device(&hub, "door1");
    let mut connected = open(&hub).await;
    connected
        .send_packet(&connect("door1", &device_token("door1", &key)))
        .await;
    assert_eq!(
        connected.recv_packet().await,
        Some(connack(ConnectReturnCode::Success))
    );
    // Upgraded, but silent: no CONNECT yet.
    let mut idle = open(&hub).await;
    let (client, _events) = websocket_client(&hub, "door2").await;

    let handle = hub.hub().clone();
    assert!(handle.is_connected("door1") && handle.is_connected("door2"));
    tokio::time::timeout(PATIENCE, hub.stop())
        .await
        .expect("the hub stops with WebSocket connections open");
    // By the time shutdown returns, both devices are gone.
    assert!(!handle.is_connected("door1"));
    assert!(!handle.is_connected("door2"));
    for socket in [&mut connected, &mut idle] {
        // 1001: going away.
        assert_eq!(socket.expect_close().await, Some(1001));
    }
    client.shutdown().await;
}
