//! From a connection string and options to rumqttc options: where to connect, the MQTT user
//! name, the SAS password, TLS.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::utf8_percent_encode;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::error::DeviceError;
use super::session::{Backoff, SessionConfig};
use crate::auth::DeviceConnectionString;
use crate::topic::QUOTE_ALL;

/// The API version sent in the user name: the one the IoT Hub docs recommend.
pub const API_VERSION: &str = "2021-04-12";

/// The path of MQTT over WebSocket on the hub.
const WEBSOCKET_PATH: &str = "/$iothub/websocket";

/// Largest MQTT packet accepted or sent: the hub's 256 KiB message limit plus headroom.
const MAX_PACKET: usize = 512 * 1024;

/// How the MQTT connection is carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MqttTransport {
    /// MQTT over TLS, port 8883 by default.
    #[default]
    Tls,
    /// MQTT over a WebSocket (subprotocol `mqtt`) over TLS at `/$iothub/websocket`, port 443
    /// by default; for networks that block 8883.
    WebSocket,
}

impl MqttTransport {
    /// The port used when [`DeviceClientOptions::port`] is not set.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tls => 8883,
            Self::WebSocket => 443,
        }
    }
}

/// How a [`super::DeviceClient`] connects and behaves. `Default` is what Azure expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceClientOptions {
    /// TLS or WebSocket.
    pub transport: MqttTransport,
    /// The port to connect to; `None` is the transport's default (8883 or 443). The
    /// connection string's `HostName` port is not used: on a local hub it is the HTTPS port.
    pub port: Option<u16>,
    /// Extra trusted CA certificates (PEM), on top of the webpki roots; e.g. a local hub's.
    pub extra_ca_pem: Option<String>,
    /// MQTT keep-alive (whole seconds, at least 1 s; the hub allows up to 1177 s).
    pub keep_alive: Duration,
    /// Lifetime of the SAS token minted for each connection; it is renewed (by reconnecting)
    /// 2 minutes before expiry, or at 80 % of short lifetimes.
    pub token_ttl: Duration,
    /// How long a twin GET or reported PATCH may wait for its answer.
    pub request_timeout: Duration,
    /// How long one connection attempt (TCP, TLS, CONNECT/CONNACK) may take (whole
    /// seconds, at least 1 s).
    pub connect_timeout: Duration,
    /// Ceiling of the first reconnect delay; it doubles per failed attempt (full jitter).
    pub backoff_initial: Duration,
    /// Largest reconnect delay ceiling.
    pub backoff_max: Duration,
    /// Delay before retrying a failed twin GET after a connect.
    pub resync_retry: Duration,
    /// How many telemetry messages and method responses may wait for a connection.
    pub max_queued: usize,
}

impl Default for DeviceClientOptions {
    fn default() -> Self {
        Self {
            transport: MqttTransport::Tls,
            port: None,
            extra_ca_pem: None,
            keep_alive: Duration::from_secs(60),
            token_ttl: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            resync_retry: Duration::from_secs(10),
            max_queued: 1000,
        }
    }
}

/// The MQTT client id: `deviceId`, or `deviceId/moduleId` for a module.
pub(crate) fn client_id(connection_string: &DeviceConnectionString) -> String {
    match connection_string.module_id() {
        Some(module_id) => format!("{}/{module_id}", connection_string.device_id()),
        None => connection_string.device_id().to_owned(),
    }
}

/// The MQTT user name:
/// `{HostName}/{clientId}/?api-version=2021-04-12&DeviceClientType=lockstep%2F{version}`.
pub fn username(connection_string: &DeviceConnectionString) -> String {
    let client_type = format!("lockstep/{}", env!("CARGO_PKG_VERSION"));
    format!(
        "{}/{}/?api-version={API_VERSION}&DeviceClientType={}",
        connection_string.host_name(),
        client_id(connection_string),
        utf8_percent_encode(&client_type, QUOTE_ALL),
    )
}

/// Everything the event loop needs to open connection after connection.
#[derive(Clone)]
pub(crate) struct ConnectionConfig {
    connection_string: DeviceConnectionString,
    options: DeviceClientOptions,
    tls: Arc<ClientConfig>,
}

impl ConnectionConfig {
    /// Validates the options and builds the TLS configuration once.
    pub(crate) fn new(
        connection_string: DeviceConnectionString,
        options: DeviceClientOptions,
    ) -> Result<Self, DeviceError> {
        if options.keep_alive < Duration::from_secs(1) {
            return Err(DeviceError::InvalidOptions(
                "keep_alive must be at least 1 s",
            ));
        }
        if options.token_ttl < Duration::from_secs(10) {
            return Err(DeviceError::InvalidOptions(
                "token_ttl must be at least 10 s",
            ));
        }
        if options.backoff_max < options.backoff_initial {
            return Err(DeviceError::InvalidOptions(
                "backoff_max must not be below backoff_initial",
            ));
        }
        let tls = tls_config(options.extra_ca_pem.as_deref())?;
        Ok(Self {
            connection_string,
            options,
            tls,
        })
    }

    pub(crate) fn session_config(&self) -> SessionConfig {
        SessionConfig {
            device_id: self.connection_string.device_id().to_owned(),
            module_id: self.connection_string.module_id().map(str::to_owned),
            request_timeout: self.options.request_timeout,
            token_ttl: self.options.token_ttl,
            backoff: Backoff {
                initial: self.options.backoff_initial,
                max: self.options.backoff_max,
            },
            resync_retry: self.options.resync_retry,
            max_queued: self.options.max_queued,
        }
    }

    /// The TCP/TLS host: `GatewayHostName` if set, else `HostName`, without port.
    fn connect_host(&self) -> &str {
        match self.connection_string.gateway_host_name() {
            Some(gateway) => gateway.host(),
            None => self.connection_string.host(),
        }
    }

    pub(crate) fn connect_timeout_secs(&self) -> u64 {
        self.options.connect_timeout.as_secs().max(1)
    }

    /// rumqttc options for one connection, with a token valid for `token_ttl` from `now`.
    pub(crate) fn mqtt_options(&self, now: SystemTime) -> MqttOptions {
        let port = self
            .options
            .port
            .unwrap_or(self.options.transport.default_port());
        let host = self.connect_host();
        let tls = TlsConfiguration::Rustls(self.tls.clone());
        let (broker, transport) = match self.options.transport {
            MqttTransport::Tls => (host.to_owned(), Transport::tls_with_config(tls)),
            MqttTransport::WebSocket => (
                format!("wss://{host}:{port}{WEBSOCKET_PATH}"),
                Transport::wss_with_config(tls),
            ),
        };
        let unix_now = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let token = self
            .connection_string
            .sas_token(unix_now + self.options.token_ttl.as_secs());
        let mut options = MqttOptions::new(client_id(&self.connection_string), broker, port);
        options
            .set_transport(transport)
            .set_keep_alive(Duration::from_secs(
                self.options.keep_alive.as_secs().max(1),
            ))
            // The hub keeps subscriptions of persistent sessions, as the Python SDK expects;
            // this client re-subscribes after every connect anyway, so it never depends on it.
            .set_clean_session(false)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_credentials(
                username(&self.connection_string),
                token.expose_secret_string(),
            );
        options
    }
}

/// rustls with the ring provider, trusting the webpki roots plus `extra_ca_pem`.
fn tls_config(extra_ca_pem: Option<&str>) -> Result<Arc<ClientConfig>, DeviceError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let certificate = certificate
                .map_err(|error| DeviceError::Tls(format!("extra CA is not valid PEM: {error}")))?;
            roots
                .add(certificate)
                .map_err(|error| DeviceError::Tls(format!("extra CA is not usable: {error}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(DeviceError::Tls(
                "extra CA holds no CERTIFICATE block".to_owned(),
            ));
        }
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| DeviceError::Tls(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn device(extra: &str) -> DeviceConnectionString {
        format!("HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey={KEY}{extra}")
            .parse()
            .expect("valid")
    }

    #[test]
    fn username_has_api_version_and_encoded_client_type() {
        let version = env!("CARGO_PKG_VERSION");
        let table = [
            (
                device(""),
                format!(
                    "myhub.azure-devices.net/dev1/?api-version=2021-04-12&DeviceClientType=lockstep%2F{version}"
                ),
            ),
            (
                device(";ModuleId=mod1"),
                format!(
                    "myhub.azure-devices.net/dev1/mod1/?api-version=2021-04-12&DeviceClientType=lockstep%2F{version}"
                ),
            ),
        ];
        for (connection_string, expected) in table {
            assert_eq!(username(&connection_string), expected);
        }
        assert_eq!(client_id(&device(";ModuleId=mod1")), "dev1/mod1");
    }

    #[test]
    fn options_carry_client_id_credentials_and_the_connect_host() {
        let config = ConnectionConfig::new(
            device(";GatewayHostName=edge.local:9000"),
            DeviceClientOptions::default(),
        )
        .expect("valid");
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let options = config.mqtt_options(now);
        assert_eq!(options.client_id(), "dev1");
        assert_eq!(options.broker_address(), ("edge.local".to_owned(), 8883));
        assert!(!options.clean_session());
        assert_eq!(options.keep_alive(), Duration::from_secs(60));
        let login = options.credentials().expect("credentials");
        let token: crate::auth::SasToken = login.password.parse().expect("a SAS token");
        assert_eq!(token.expiry(), 1_700_003_600);
        assert_eq!(token.resource_uri(), "myhub.azure-devices.net/devices/dev1");
        let websocket = ConnectionConfig::new(
            device(""),
            DeviceClientOptions {
                transport: MqttTransport::WebSocket,
                ..DeviceClientOptions::default()
            },
        )
        .expect("valid")
        .mqtt_options(now);
        assert_eq!(
            websocket.broker_address(),
            (
                "wss://myhub.azure-devices.net:443/$iothub/websocket".to_owned(),
                443
            )
        );
    }

    #[test]
    fn bad_options_and_bad_ca_are_rejected_without_secrets() {
        let table = [
            DeviceClientOptions {
                keep_alive: Duration::from_millis(10),
                ..DeviceClientOptions::default()
            },
            DeviceClientOptions {
                token_ttl: Duration::from_secs(1),
                ..DeviceClientOptions::default()
            },
            DeviceClientOptions {
                extra_ca_pem: Some("not a pem".into()),
                ..DeviceClientOptions::default()
            },
            DeviceClientOptions {
                extra_ca_pem: Some(
                    "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".into(),
                ),
                ..DeviceClientOptions::default()
            },
        ];
        for options in table {
            let error = ConnectionConfig::new(device(""), options.clone())
                .err()
                .unwrap_or_else(|| panic!("accepted {options:?}"));
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains("AAECAwQF"), "{text}");
            }
        }
    }
}
