//! The device client's error type.

use super::session::RequestError;

/// Why a device-client operation failed.
///
/// No variant carries the device key or a SAS token: causes from the network layer are kept
/// as text produced by rumqttc and rustls, which never see the password except inside the
/// CONNECT packet they encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The hub refused the credentials (CONNACK 4 or 5): wrong or rotated key, expired token,
    /// unknown or disabled device.
    #[error(
        "the hub refused the device's credentials: check the key and that the device exists and is enabled"
    )]
    Unauthorized,
    /// The hub refused the connection for a reason retrying cannot fix (CONNACK 1 or 2).
    #[error("the hub refused the connection (CONNACK {code})")]
    Refused {
        /// The CONNACK return code.
        code: u8,
    },
    /// The connection could not be established (DNS, TCP, TLS, WebSocket, timeout).
    #[error("could not connect to the hub: {cause}")]
    Connect {
        /// What failed.
        cause: String,
    },
    /// The TLS configuration could not be built, e.g. an extra CA that is not PEM.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The options are unusable.
    #[error("invalid device client options: {0}")]
    InvalidOptions(&'static str),
    /// The hub did not answer in time.
    #[error("the hub did not answer in time")]
    Timeout,
    /// The hub answered with an error status (e.g. 400, 429, 5xx).
    #[error("the hub answered with status {status}")]
    Status {
        /// The status from the response topic.
        status: u16,
    },
    /// The hub's answer could not be understood.
    #[error("malformed answer from the hub: {0}")]
    Malformed(String),
    /// Too many messages are waiting for a connection.
    #[error("too many messages are waiting for a connection")]
    QueueFull,
    /// The client has shut down (or is shutting down).
    #[error("the device client is shut down")]
    ShutDown,
}

impl From<RequestError> for DeviceError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Timeout => Self::Timeout,
            RequestError::Status(status) => Self::Status { status },
            RequestError::Malformed(reason) => Self::Malformed(reason),
            RequestError::QueueFull => Self::QueueFull,
            RequestError::ShutDown => Self::ShutDown,
        }
    }
}
