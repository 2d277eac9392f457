//! A scripted stand-in for IoT Hub's MQTT endpoint: TLS on 127.0.0.1 port 0 with a fresh
//! rcgen CA, packets read and written with rumqttc's MQTT 3.1.1 codec. Each test drives it
//! step by step and asserts on exactly what the device client sends.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rumqttc::mqttbytes;
use rumqttc::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, Publish, QoS, SubAck, Subscribe,
    SubscribeReasonCode,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::bytes::BytesMut;

/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);

const MAX_PACKET: usize = 1024 * 1024;

/// A listening fake hub.
pub struct FakeHub {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    /// The CA that signed the hub's certificate (for `localhost`), as PEM.
    pub ca_pem: String,
    /// The port it listens on.
    pub port: u16,
}

impl FakeHub {
    pub async fn start() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Lockstep test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let server_key = KeyPair::generate().expect("server key");
        let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &ca)
            .expect("server certificate");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .expect("server config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        Self {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem: ca.pem(),
            port,
        }
    }

    /// Accepts the next connection and completes the TLS handshake.
    pub async fn accept(&self) -> Conn {
        self.try_accept().await.expect("TLS handshake")
    }

    /// Accepts the next connection; the handshake may fail (e.g. an untrusted certificate).
    pub async fn try_accept(&self) -> std::io::Result<Conn> {
        let (tcp, _) = tokio::time::timeout(STEP, self.listener.accept())
            .await
            .expect("no connection in time")?;
        let stream = tokio::time::timeout(STEP, self.acceptor.accept(tcp))
            .await
            .expect("no handshake in time")?;
        Ok(Conn {
            stream,
            buffer: BytesMut::new(),
        })
    }
}

/// One accepted connection.
pub struct Conn {
    stream: TlsStream<TcpStream>,
    buffer: BytesMut,
}

impl Conn {
    /// The next packet, or `None` when the client closed the connection. Answers PINGREQ
    /// by itself.
    pub async fn next(&mut self) -> Option<Packet> {
        loop {
            match Packet::read(&mut self.buffer, MAX_PACKET) {
                Ok(Packet::PingReq) => {
                    self.send(Packet::PingResp).await;
                    continue;
                }
                Ok(packet) => return Some(packet),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(error) => panic!("undecodable packet from the client: {error:?}"),
            }
            let read = tokio::time::timeout(STEP, self.stream.read_buf(&mut self.buffer))
                .await
                .expect("the client sent nothing in time");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    pub async fn recv(&mut self) -> Packet {
        self.next().await.expect("the client closed the connection")
    }

    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, MAX_PACKET).expect("encodable");
        self.stream.write_all(&out).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    pub async fn expect_connect(&mut self) -> Connect {
        match self.recv().await {
            Packet::Connect(connect) => connect,
            other => panic!("expected CONNECT, got {other:?}"),
        }
    }

    pub async fn connack(&mut self, code: ConnectReturnCode) {
        self.send(Packet::ConnAck(ConnAck::new(code, false))).await;
    }

    /// Reads a SUBSCRIBE, grants QoS 1 for each filter, returns the filters.
    pub async fn expect_subscribe(&mut self) -> Vec<(String, QoS)> {
        let Subscribe { pkid, filters } = match self.recv().await {
            Packet::Subscribe(subscribe) => subscribe,
            other => panic!("expected SUBSCRIBE, got {other:?}"),
        };
        let codes = filters
            .iter()
            .map(|_| SubscribeReasonCode::Success(QoS::AtLeastOnce))
            .collect();
        self.send(Packet::SubAck(SubAck::new(pkid, codes))).await;
        filters
            .into_iter()
            .map(|filter| (filter.path, filter.qos))
            .collect()
    }

    /// Reads a PUBLISH (acknowledging QoS 1), returns topic and body.
    pub async fn expect_publish(&mut self) -> (String, Vec<u8>) {
        let publish = match self.recv().await {
            Packet::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {other:?}"),
        };
        if publish.qos == QoS::AtLeastOnce {
            self.send(Packet::PubAck(PubAck::new(publish.pkid))).await;
        }
        (publish.topic, publish.payload.to_vec())
    }

    /// Publishes at QoS 0, as the hub sends methods, twin answers and desired patches.
    pub async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.send(Packet::Publish(Publish::new(
            topic,
            QoS::AtMostOnce,
            payload,
        )))
        .await;
    }

    /// Waits for DISCONNECT (skipping anything else) and then for the socket to close.
    pub async fn expect_disconnect(&mut self) {
        loop {
            match self.next().await {
                Some(Packet::Disconnect) => break,
                Some(_) => {}
                None => panic!("closed without DISCONNECT"),
            }
        }
        assert!(self.next().await.is_none(), "more after DISCONNECT");
    }
}
