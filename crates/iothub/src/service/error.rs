//! [`ServiceError`]: everything a service call can fail with, the hub's own answers
//! ([`HubError`]) and the transport's failures, with predicates for what callers branch on.
//!
//! No variant carries a header, a SAS token or a key: transport details come from the error
//! chain of reqwest (which never includes headers) and hub messages are scrubbed of anything
//! that looks like a signature before they are kept.

use std::error::Error as StdError;
use std::time::Duration;

use crate::model::{ErrorKind, HubError};

use super::retry::AttemptOutcome;

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The hub answered with an error status; [`HubError::kind`] says what kind. Boxed
    /// because it is by far the largest variant.
    #[error("IoT Hub error: {0}")]
    Hub(Box<HubError>),
    /// No connection to the hub could be made (DNS, refused, unreachable).
    #[error("could not connect to {host}: {detail}")]
    Connect {
        /// The hub's host name (with port, if any).
        host: String,
        /// What the network stack reported.
        detail: String,
    },
    /// The TLS handshake failed, typically because the hub's certificate is not trusted (a
    /// local hub whose CA was not given in the options) or is for another name.
    #[error("TLS handshake with {host} failed: {detail}")]
    Tls {
        /// The hub's host name (with port, if any).
        host: String,
        /// What rustls reported.
        detail: String,
    },
    /// The hub did not answer within the per-request timeout.
    #[error("{host} did not answer within {after:?}")]
    Timeout {
        /// The hub's host name (with port, if any).
        host: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The connection broke while the request or response was in flight.
    #[error("request to {host} failed: {detail}")]
    Transport {
        /// The hub's host name (with port, if any).
        host: String,
        /// What the HTTP stack reported.
        detail: String,
    },
    /// The hub answered with a success status, but not with what the operation returns.
    #[error("unexpected response from IoT Hub (HTTP {status}): {detail}")]
    InvalidResponse {
        /// The HTTP status of the response.
        status: u16,
        /// What is wrong with it.
        detail: String,
    },
    /// The request could not be built from the arguments (e.g. ids that disagree).
    #[error("invalid request: {detail}")]
    InvalidRequest {
        /// What is wrong with it.
        detail: String,
    },
    /// The client could not be built from its options (e.g. an unreadable CA file).
    #[error("invalid service client configuration: {detail}")]
    Config {
        /// What is wrong with it.
        detail: String,
    },
}

impl ServiceError {
    /// The hub's error, when the hub answered one.
    pub fn hub_error(&self) -> Option<&HubError> {
        match self {
            Self::Hub(error) => Some(error),
            Self::Connect { .. }
            | Self::Tls { .. }
            | Self::Timeout { .. }
            | Self::Transport { .. }
            | Self::InvalidResponse { .. }
            | Self::InvalidRequest { .. }
            | Self::Config { .. } => None,
        }
    }

    /// The kind of the hub's error; `None` when the failure is not an answer of the hub.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.hub_error().map(HubError::kind)
    }

    /// 401: the credentials were refused.
    pub fn is_unauthorized(&self) -> bool {
        self.kind() == Some(ErrorKind::Unauthorized)
    }

    /// 404 other than 404103: no such device, module or job.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ErrorKind::NotFound)
    }

    /// 404103: the device is not connected or has not subscribed to direct methods.
    pub fn is_device_not_online(&self) -> bool {
        self.kind() == Some(ErrorKind::DeviceNotOnline)
    }

    /// 409: the device or job already exists.
    pub fn is_conflict(&self) -> bool {
        self.kind() == Some(ErrorKind::Conflict)
    }

    /// 412 (or 400023): the etag in `If-Match` is stale.
    pub fn is_precondition_failed(&self) -> bool {
        self.kind() == Some(ErrorKind::PreconditionFailed)
    }

    /// 429: throttled, including too many active jobs (429004).
    pub fn is_throttled(&self) -> bool {
        self.kind() == Some(ErrorKind::Throttled)
    }

    /// Either the hub gave up waiting for the device (504101) or the client gave up waiting
    /// for the hub: in both cases nobody knows whether the operation took effect.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. }) || self.kind() == Some(ErrorKind::Timeout)
    }
}

impl From<HubError> for ServiceError {
    fn from(error: HubError) -> Self {
        Self::Hub(Box::new(error))
    }
}

/// Maps a reqwest failure onto a [`ServiceError`] and what it means for retrying.
pub(crate) fn from_transport(
    error: reqwest::Error,
    host: &str,
    timeout: Duration,
) -> (ServiceError, AttemptOutcome) {
    let host = host.to_owned();
    if error.is_timeout() {
        return (
            ServiceError::Timeout {
                host,
                after: timeout,
            },
            AttemptOutcome::Timeout,
        );
    }
    // The URL carries only the path and api-version, but it adds nothing here either.
    let error = error.without_url();
    let detail = chain(&error);
    if has_rustls_error(&error) {
        return (ServiceError::Tls { host, detail }, AttemptOutcome::Other);
    }
    if error.is_connect() {
        return (
            ServiceError::Connect { host, detail },
            AttemptOutcome::Connect,
        );
    }
    (
        ServiceError::Transport { host, detail },
        AttemptOutcome::Interrupted,
    )
}

/// The error and its sources, `: `-separated, without repeating a source whose text is
/// already part of the previous message.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        let message = next.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = next.source();
    }
    text
}

/// Whether a rustls error is somewhere in the chain. It arrives inside `io::Error`s (nested
/// ones, in fact), whose `source()` skips the error they wrap, so those are opened by hand.
fn has_rustls_error(error: &(dyn StdError + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
        && has_rustls_error(inner)
    {
        return true;
    }
    error.source().is_some_and(has_rustls_error)
}

/// Replaces the value of every `sig=` in `text` by `***`: a hub (or a proxy) echoing the
/// `Authorization` header into an error message must not put the token into logs.
pub(crate) fn scrub_signatures(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find("sig=") {
        let (before, after) = rest.split_at(position + "sig=".len());
        out.push_str(before);
        out.push_str("***");
        let end = after
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorCode;

    fn hub(code: ErrorCode) -> ServiceError {
        HubError::new(code, "message").into()
    }

    #[test]
    fn predicates_follow_the_hub_error_kind() {
        type Predicate = fn(&ServiceError) -> bool;
        let predicates: [(&str, Predicate); 7] = [
            ("unauthorized", ServiceError::is_unauthorized),
            ("not_found", ServiceError::is_not_found),
            ("device_not_online", ServiceError::is_device_not_online),
            ("conflict", ServiceError::is_conflict),
            ("precondition_failed", ServiceError::is_precondition_failed),
            ("throttled", ServiceError::is_throttled),
            ("timeout", ServiceError::is_timeout),
        ];
        let table = [
            (hub(ErrorCode::IotHubUnauthorized), "unauthorized"),
            (hub(ErrorCode::DeviceNotFound), "not_found"),
            (hub(ErrorCode::JobNotFound), "not_found"),
            (hub(ErrorCode::DeviceNotOnline), "device_not_online"),
            (hub(ErrorCode::JobAlreadyExists), "conflict"),
            (hub(ErrorCode::PreconditionFailed), "precondition_failed"),
            (hub(ErrorCode::EtagDoesNotMatch), "precondition_failed"),
            (hub(ErrorCode::ThrottlingException), "throttled"),
            (
                hub(ErrorCode::ThrottlingMaxActiveJobCountExceeded),
                "throttled",
            ),
            (hub(ErrorCode::GatewayTimeout), "timeout"),
            (
                ServiceError::Timeout {
                    host: "h".to_owned(),
                    after: Duration::from_secs(1),
                },
                "timeout",
            ),
        ];
        for (error, expected) in &table {
            for (name, predicate) in &predicates {
                assert_eq!(predicate(error), name == expected, "{error} is {name}?");
            }
        }
    }

    #[test]
    fn unknown_codes_fall_back_to_the_status() {
        let error = ServiceError::from(HubError::parse(404, b"gone", None));
        assert!(error.is_not_found());
        assert_eq!(error.kind(), Some(ErrorKind::NotFound));
        let error = ServiceError::from(HubError::parse(429, b"", Some("429999")));
        assert!(error.is_throttled());
    }

    #[test]
    fn transport_errors_have_no_kind() {
        let error = ServiceError::Connect {
            host: "h".to_owned(),
            detail: "refused".to_owned(),
        };
        assert_eq!(error.kind(), None);
        assert!(error.hub_error().is_none());
        assert!(!error.is_timeout());
    }

    #[test]
    fn signatures_are_scrubbed() {
        let table = [
            ("no secret here", "no secret here"),
            (
                "SharedAccessSignature sr=hub&sig=abc%2Bdef&se=1&skn=owner",
                "SharedAccessSignature sr=hub&sig=***&se=1&skn=owner",
            ),
            ("sig=abc", "sig=***"),
            ("a sig=x b sig=y\"c", "a sig=*** b sig=***\"c"),
            ("sig=", "sig=***"),
        ];
        for (text, scrubbed) in table {
            assert_eq!(scrub_signatures(text), scrubbed, "{text}");
        }
    }
}
