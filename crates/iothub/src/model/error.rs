//! Error bodies of the service REST API, parsed into one typed error.
//!
//! The hub answers errors in two shapes, both a `{"Message","ExceptionMessage"}` object:
//! - classic: `Message` is `ErrorCode:<Name>;<text>`, `ExceptionMessage` is
//!   `Tracking ID:<id>`, and the `iothub-errorcode` header repeats the name;
//! - newer (direct methods since 2018, and what Azure sends today): `Message` is itself JSON
//!   text, `{"errorCode":404103,"trackingId":"…","message":"…","info":{…},"timestampUtc":"…"}`,
//!   and `ExceptionMessage` is empty.
//!
//! [`HubError::parse`] reads both (and the inner object on its own, and plain text), and never
//! fails: whatever it cannot read, it reports with the HTTP status. [`HubError::to_body`]
//! writes the newer shape for a local hub; [`HubError::to_classic_body`] the classic one.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::time::HubTime;

/// How much of an unreadable body an error message keeps.
const MAX_MESSAGE_CHARS: usize = 500;

/// What the caller of a REST operation branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 400: the request was malformed or invalid (also 413 and other client errors).
    BadRequest,
    /// 401: bad, expired or insufficient credentials.
    Unauthorized,
    /// 403: quota, tier (Basic has no jobs, twins or methods) or a disabled device.
    Forbidden,
    /// 404: no such device, module or job.
    NotFound,
    /// 404103: the device is not connected, or has not subscribed to direct methods.
    DeviceNotOnline,
    /// 409: the device or job already exists.
    Conflict,
    /// 412 (and 400023 `EtagDoesNotMatch`): the etag in `If-Match` is stale.
    PreconditionFailed,
    /// 429: throttled, including too many active jobs (429004).
    Throttled,
    /// 504 (504101): the device did not answer in time; also 408.
    Timeout,
    /// 5xx: the hub failed; usually transient.
    Server,
    /// Anything else (e.g. a non-error status with an error body).
    Other,
}

impl ErrorKind {
    /// The kind an HTTP status implies when no error code says more.
    pub fn from_http_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            408 | 504 => Self::Timeout,
            409 => Self::Conflict,
            412 => Self::PreconditionFailed,
            429 => Self::Throttled,
            400..=499 => Self::BadRequest,
            500..=599 => Self::Server,
            _ => Self::Other,
        }
    }
}

/// Declares [`ErrorCode`] from one table: variant (= wire name), number, kind.
macro_rules! error_codes {
    ($(
        $(#[$doc:meta])*
        $name:ident = $number:literal => $kind:ident,
    )+) => {
        /// The IoT Hub error codes this crate knows by name.
        ///
        /// The number's first three digits are the HTTP status; the variant's name is the
        /// textual code of classic bodies and the `iothub-errorcode` header. From the protocol
        /// reference's list, plus a few from the C# SDK's `ErrorCode`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                $(#[$doc])*
                $name,
            )+
        }

        impl ErrorCode {
            /// Every known code, in numeric order.
            pub const ALL: &'static [Self] = &[$(Self::$name),+];

            /// The numeric code, e.g. 404001.
            pub fn number(self) -> u32 {
                match self {
                    $(Self::$name => $number,)+
                }
            }

            /// The textual code, e.g. `DeviceNotFound`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)+
                }
            }

            /// What a caller should make of it.
            pub fn kind(self) -> ErrorKind {
                match self {
                    $(Self::$name => ErrorKind::$kind,)+
                }
            }

            /// The code with this number, if known.
            pub fn from_number(number: u32) -> Option<Self> {
                match number {
                    $($number => Some(Self::$name),)+
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// 400000.
    GenericBadRequest = 400000 => BadRequest,
    /// 400001: the api-version is not supported.
    InvalidProtocolVersion = 400001 => BadRequest,
    /// 400003.
    InvalidOperation = 400003 => BadRequest,
    /// 400004: something in the request is invalid (e.g. a twin key with `.`).
    ArgumentInvalid = 400004 => BadRequest,
    /// 400005.
    ArgumentNull = 400005 => BadRequest,
    /// 400006: the body is not valid JSON for the operation.
    IotHubFormatError = 400006 => BadRequest,
    /// 400011.
    DeviceDefinedMultipleTimes = 400011 => BadRequest,
    /// 400012.
    DeserializationError = 400012 => BadRequest,
    /// 400013.
    BulkRegistryOperationFailure = 400013 => BadRequest,
    /// 400023: an etag mismatch reported as a bad request; treated as a precondition failure.
    EtagDoesNotMatch = 400023 => PreconditionFailed,
    /// 400027: a second connection with the same device id closed the first.
    ConnectionForcefullyClosedOnNewConnection = 400027 => BadRequest,
    /// 401000.
    GenericUnauthorized = 401000 => Unauthorized,
    /// 401002.
    IotHubUnauthorizedAccess = 401002 => Unauthorized,
    /// 401003: bad or expired SAS, or a policy without the needed permission.
    IotHubUnauthorized = 401003 => Unauthorized,
    /// 403002.
    IotHubQuotaExceeded = 403002 => Forbidden,
    /// 403003.
    JobQuotaExceeded = 403003 => Forbidden,
    /// 403004: too many cloud-to-device messages queued.
    DeviceMaximumQueueDepthExceeded = 403004 => Forbidden,
    /// 403010: jobs, twins and methods on a Basic tier hub.
    OperationNotAvailableInCurrentTier = 403010 => Forbidden,
    /// 403012.
    DeviceDisabled = 403012 => Forbidden,
    /// 404001.
    DeviceNotFound = 404001 => NotFound,
    /// 404002.
    JobNotFound = 404002 => NotFound,
    /// 404010.
    ModuleNotFound = 404010 => NotFound,
    /// 404103 (the docs' table says 404102; the hub sends 404103).
    DeviceNotOnline = 404103 => DeviceNotOnline,
    /// 404104: the device's connection closed (MQTT side).
    DeviceConnectionClosedRemotely = 404104 => NotFound,
    /// 409001.
    DeviceAlreadyExists = 409001 => Conflict,
    /// 409103.
    DeviceJobAlreadyExists = 409103 => Conflict,
    /// 409104.
    JobAlreadyExists = 409104 => Conflict,
    /// 409301.
    ModuleAlreadyExistsOnDevice = 409301 => Conflict,
    /// 412001: etag mismatch.
    PreconditionFailed = 412001 => PreconditionFailed,
    /// 412003.
    JobRunPreconditionFailed = 412003 => PreconditionFailed,
    /// 413001.
    MessageTooLarge = 413001 => BadRequest,
    /// 413002.
    TooManyDevices = 413002 => BadRequest,
    /// 429001.
    ThrottlingException = 429001 => Throttled,
    /// 429002.
    ThrottleBacklogLimitExceeded = 429002 => Throttled,
    /// 429003.
    ThrottlingBacklogTimeout = 429003 => Throttled,
    /// 429004: more concurrent jobs than the tier allows (1 on Free/S1).
    ThrottlingMaxActiveJobCountExceeded = 429004 => Throttled,
    /// 500001.
    ServerError = 500001 => Server,
    /// 500008: a timeout inside the hub (retryable), not a device timeout.
    GenericTimeout = 500008 => Server,
    /// 503001.
    ServiceUnavailable = 503001 => Server,
    /// 504101: "Timed out waiting for the response from device."
    GatewayTimeout = 504101 => Timeout,
}

impl ErrorCode {
    /// The HTTP status that goes with the code: its first three digits.
    pub fn http_status(self) -> u16 {
        u16::try_from(self.number() / 1000).unwrap_or(500)
    }

    /// The code with this textual name: exact, else ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Self> {
        let all = || Self::ALL.iter().copied();
        all()
            .find(|code| code.name() == name)
            .or_else(|| all().find(|code| code.name().eq_ignore_ascii_case(name)))
    }
}

/// An error answered by the hub: what both body shapes carry, plus the HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct HubError {
    /// The HTTP status of the response.
    pub http_status: u16,
    /// The numeric code, e.g. 404001, when the body or header gave one or the name is known.
    pub code: Option<u32>,
    /// The textual code, e.g. `DeviceNotFound`, when the body or header gave one or the
    /// number is known.
    pub code_name: Option<String>,
    /// The human-readable message (for unreadable bodies: the start of the body text).
    pub message: String,
    /// The tracking id, as the hub wrote it (often with `-G:…-TimeStamp:…` appended).
    pub tracking_id: Option<String>,
    /// `timestampUtc` of the newer shape.
    pub timestamp: Option<HubTime>,
    /// `info` of the newer shape, e.g. `{"timeout":"00:00:00"}`.
    pub info: Option<Value>,
}

/// The JSON object of every hub error response (`{"Message","ExceptionMessage"}`).
///
/// Both fields are always written; `null` reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `Message`: `ErrorCode:<Name>;<text>`, or the newer shape's JSON text.
    #[serde(rename = "Message", default, deserialize_with = "null_as_empty")]
    pub message: String,
    /// `ExceptionMessage`: `Tracking ID:<id>` in the classic shape, empty in the newer one.
    #[serde(
        rename = "ExceptionMessage",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub exception_message: String,
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// The newer shape's inner object, as written into `Message`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Details<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracking_id: Option<&'a str>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_utc: Option<HubTime>,
}

impl HubError {
    /// An error with a known code, its HTTP status and `message`; for a hub to answer with.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            http_status: code.http_status(),
            code: Some(code.number()),
            code_name: Some(code.name().to_owned()),
            message: message.into(),
            tracking_id: None,
            timestamp: None,
            info: None,
        }
    }

    /// The same error with a tracking id.
    pub fn with_tracking_id(mut self, tracking_id: impl Into<String>) -> Self {
        self.tracking_id = Some(tracking_id.into());
        self
    }

    /// The same error with a `timestampUtc`.
    pub fn with_timestamp(mut self, timestamp: HubTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The same error with an `info` object.
    pub fn with_info(mut self, info: Value) -> Self {
        self.info = Some(info);
        self
    }

    /// Reads an error response: its status, body and `iothub-errorcode` header (name or
    /// number). Never fails; the body wins over the header where both say something.
    pub fn parse(http_status: u16, body: &[u8], iothub_errorcode: Option<&str>) -> Self {
        let mut error = Self {
            http_status,
            code: None,
            code_name: None,
            message: String::new(),
            tracking_id: None,
            timestamp: None,
            info: None,
        };
        let text = String::from_utf8_lossy(body);
        let text = text.trim_start_matches('\u{feff}').trim();
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(outer)) => error.read_outer(&outer),
            Ok(Value::String(message)) => error.read_message_text(&message),
            Ok(_) | Err(_) => error.read_message_text(text),
        }
        if let Some(header) = iothub_errorcode.map(str::trim).filter(|h| !h.is_empty()) {
            match header.parse::<u32>() {
                Ok(number) => {
                    error.code.get_or_insert(number);
                }
                Err(_) => {
                    error.code_name.get_or_insert_with(|| header.to_owned());
                }
            }
        }
        if error.code.is_none() {
            error.code = error.known_code().map(ErrorCode::number);
        }
        if error.code_name.is_none() {
            error.code_name = error.known_code().map(|code| code.name().to_owned());
        }
        error
    }

    /// The code, if this crate knows it: by number, else by name.
    pub fn known_code(&self) -> Option<ErrorCode> {
        self.code
            .and_then(ErrorCode::from_number)
            .or_else(|| self.code_name.as_deref().and_then(ErrorCode::from_name))
    }

    /// What a caller should make of the error: from the known code, else from the numeric
    /// code's first three digits, else from the HTTP status.
    pub fn kind(&self) -> ErrorKind {
        if let Some(code) = self.known_code() {
            return code.kind();
        }
        let status_of_code = self
            .code
            .and_then(|number| u16::try_from(number / 1000).ok())
            .filter(|status| (400..=599).contains(status));
        ErrorKind::from_http_status(status_of_code.unwrap_or(self.http_status))
    }

    /// The value for the `iothub-errorcode` response header: the textual code.
    pub fn errorcode_header(&self) -> Option<&str> {
        self.code_name.as_deref()
    }

    /// The body in the newer shape (JSON inside `Message`, empty `ExceptionMessage`): what
    /// Azure sends today, and what a local hub should send.
    pub fn to_body(&self) -> ErrorBody {
        let details = Details {
            error_code: self.code,
            tracking_id: self.tracking_id.as_deref(),
            message: &self.message,
            info: self.info.as_ref(),
            timestamp_utc: self.timestamp,
        };
        match serde_json::to_string(&details) {
            Ok(message) => ErrorBody {
                message,
                exception_message: String::new(),
            },
            // Strings, numbers and an already parsed JSON value always serialize; should
            // that ever change, the classic shape still carries the essentials.
            Err(_) => self.to_classic_body(),
        }
    }

    /// The body in the classic shape: `ErrorCode:<Name>;<message>` and `Tracking ID:<id>`.
    pub fn to_classic_body(&self) -> ErrorBody {
        let message = match &self.code_name {
            Some(name) => format!("ErrorCode:{name};{}", self.message),
            None => self.message.clone(),
        };
        let exception_message = self
            .tracking_id
            .as_ref()
            .map(|id| format!("Tracking ID:{id}"))
            .unwrap_or_default();
        ErrorBody {
            message,
            exception_message,
        }
    }

    /// The outer object: `Message`/`ExceptionMessage`, or the inner object on its own.
    fn read_outer(&mut self, outer: &Map<String, Value>) {
        if field(outer, &["errorCode", "ErrorCode"]).is_some() {
            self.read_details(outer);
            return;
        }
        let message = string_field(outer, &["Message", "message"]);
        let exception = string_field(outer, &["ExceptionMessage", "exceptionMessage"]);
        if let Some(message) = message {
            match parse_object(message) {
                Some(details) => self.read_details(&details),
                None => self.read_message_text(message),
            }
        }
        if self.tracking_id.is_none() {
            self.tracking_id = exception
                .and_then(tracking_id_in)
                .or_else(|| message.and_then(tracking_id_in));
        }
        if self.message.is_empty()
            && let Some(exception) = exception.map(str::trim)
            && !exception.is_empty()
            && !exception.starts_with("Tracking ID:")
        {
            self.message = shorten(exception);
        }
    }

    /// The newer shape's inner object.
    fn read_details(&mut self, details: &Map<String, Value>) {
        match field(details, &["errorCode", "ErrorCode"]) {
            Some(Value::Number(number)) => {
                self.code = number.as_u64().and_then(|n| u32::try_from(n).ok());
            }
            Some(Value::String(text)) => self.read_code(text),
            _ => {}
        }
        if let Some(id) = string_field(details, &["trackingId", "TrackingId"]) {
            self.tracking_id = Some(id.trim().to_owned()).filter(|id| !id.is_empty());
        }
        if let Some(message) = string_field(details, &["message", "Message"]) {
            self.read_message_text(message);
        }
        self.info = field(details, &["info", "Info"])
            .filter(|info| !info.is_null())
            .cloned();
        self.timestamp = string_field(details, &["timestampUtc", "TimestampUtc"])
            .and_then(|text| HubTime::parse(text.trim()).ok());
    }

    /// A message text, which in the classic shape starts with `ErrorCode:<Name>;`.
    fn read_message_text(&mut self, text: &str) {
        let text = text.trim();
        match text.strip_prefix("ErrorCode:") {
            Some(rest) => {
                let (code, message) = rest.split_once(';').unwrap_or((rest, ""));
                self.read_code(code);
                self.message = shorten(message.trim());
            }
            None => self.message = shorten(text),
        }
    }

    /// A code given as text: a number, or a name. Does not override one already read.
    fn read_code(&mut self, code: &str) {
        let code = code.trim();
        if code.is_empty() {
            return;
        }
        match code.parse::<u32>() {
            Ok(number) => {
                self.code.get_or_insert(number);
            }
            Err(_) => {
                self.code_name.get_or_insert_with(|| code.to_owned());
            }
        }
    }
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code_name, self.code) {
            (Some(name), Some(number)) => write!(f, "{name} ({number})")?,
            (Some(name), None) => f.write_str(name)?,
            (None, Some(number)) => write!(f, "{number}")?,
            (None, None) => f.write_str("IoT Hub error")?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        write!(f, " (HTTP {}", self.http_status)?;
        if let Some(id) = &self.tracking_id {
            write!(f, ", tracking ID {id}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for HubError {}

fn field<'a>(object: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|name| object.get(*name))
}

fn string_field<'a>(object: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    field(object, names).and_then(Value::as_str)
}

/// `text` as a JSON object, if it is one.
fn parse_object(text: &str) -> Option<Map<String, Value>> {
    let text = text.trim();
    if !text.starts_with('{') {
        return None;
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Some(object),
        Ok(_) | Err(_) => None,
    }
}

/// What follows `Tracking ID:` up to the end of its line.
fn tracking_id_in(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("Tracking ID:")?;
    let id = rest.lines().next().unwrap_or_default().trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let mut short: String = chars.by_ref().take(MAX_MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// §3.6 shape 1, with its header.
    const CLASSIC: &str = r#"{"Message":"ErrorCode:DeviceNotOnline;Timed out waiting for device to connect.","ExceptionMessage":"Tracking ID:66b8d590…-G:5-TimeStamp:01/18/2017 08:11:45"}"#;
    /// §3.6 shape 2.
    const NEWER: &str = r#"{"Message":"{\"errorCode\":404103,\"trackingId\":\"aa76…-TimeStamp:03/14/2024 09:54:49\",\"message\":\"The operation failed because the requested device isn't online or hasn't registered the direct method callback. To learn more, see https://aka.ms/iothub404103\",\"info\":{\"timeout\":\"00:00:00\"},\"timestampUtc\":\"2024-03-14T09:54:49.6536567Z\"}","ExceptionMessage":""}"#;
    /// §3.6 shape 3.
    const THROTTLED: &str = r#"{"Message":"ErrorCode:ThrottlingMaxActiveJobCountExceeded;…429…","ExceptionMessage":"Tracking ID:…"}"#;

    #[test]
    fn classic_shape() {
        let error = HubError::parse(404, CLASSIC.as_bytes(), Some("DeviceNotOnline"));
        assert_eq!(error.code, Some(404103));
        assert_eq!(error.code_name.as_deref(), Some("DeviceNotOnline"));
        assert_eq!(error.message, "Timed out waiting for device to connect.");
        assert_eq!(
            error.tracking_id.as_deref(),
            Some("66b8d590…-G:5-TimeStamp:01/18/2017 08:11:45")
        );
        assert_eq!(error.timestamp, None);
        assert_eq!(error.kind(), ErrorKind::DeviceNotOnline);
        assert_eq!(error.known_code(), Some(ErrorCode::DeviceNotOnline));
        // The header is not needed to read it.
        assert_eq!(HubError::parse(404, CLASSIC.as_bytes(), None), error);
    }

    #[test]
    fn newer_shape() {
        let error = HubError::parse(404, NEWER.as_bytes(), None);
        assert_eq!(error.code, Some(404103));
        assert_eq!(error.code_name.as_deref(), Some("DeviceNotOnline"));
        assert!(
            error
                .message
                .starts_with("The operation failed because the requested device")
        );
        assert!(error.message.ends_with("https://aka.ms/iothub404103"));
        assert_eq!(
            error.tracking_id.as_deref(),
            Some("aa76…-TimeStamp:03/14/2024 09:54:49")
        );
        assert_eq!(
            error.timestamp.map(|t| t.to_string()).as_deref(),
            Some("2024-03-14T09:54:49.6536567Z")
        );
        assert_eq!(error.info, Some(json!({"timeout": "00:00:00"})));
        assert_eq!(error.kind(), ErrorKind::DeviceNotOnline);
    }

    #[test]
    fn throttled_job_creation() {
        let error = HubError::parse(429, THROTTLED.as_bytes(), None);
        assert_eq!(error.code, Some(429004));
        assert_eq!(
            error.code_name.as_deref(),
            Some("ThrottlingMaxActiveJobCountExceeded")
        );
        assert_eq!(error.message, "…429…");
        assert_eq!(error.tracking_id.as_deref(), Some("…"));
        assert_eq!(error.kind(), ErrorKind::Throttled);
    }

    #[test]
    fn csharp_sdk_classic_sample() {
        // The sample in the C# SDK's ErrorPayload2: no text after the device id but a `;`.
        let body = r#"{"Message":"ErrorCode:DeviceNotFound;E2E_f16d18b2","ExceptionMessage":"Tracking ID:aeec4c1e4e914a4c9f40fdba7be68fa5-G:0-TimeStamp:10/18/2022 20:50:39"}"#;
        let error = HubError::parse(404, body.as_bytes(), None);
        assert_eq!(error.code, Some(404001));
        assert_eq!(error.message, "E2E_f16d18b2");
        assert_eq!(
            error.tracking_id.as_deref(),
            Some("aeec4c1e4e914a4c9f40fdba7be68fa5-G:0-TimeStamp:10/18/2022 20:50:39")
        );
        assert_eq!(error.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn inner_object_on_its_own_and_string_codes() {
        let body = r#"{"errorCode":"409104","trackingId":"t1","message":"Job already exists","timestampUtc":"2024-03-14T09:54:49Z"}"#;
        let error = HubError::parse(409, body.as_bytes(), None);
        assert_eq!(error.known_code(), Some(ErrorCode::JobAlreadyExists));
        assert_eq!(error.code_name.as_deref(), Some("JobAlreadyExists"));
        assert_eq!(error.message, "Job already exists");
        assert_eq!(error.tracking_id.as_deref(), Some("t1"));
        assert_eq!(error.kind(), ErrorKind::Conflict);

        let named = HubError::parse(
            412,
            br#"{"Message":"{\"errorCode\":\"PreconditionFailed\",\"message\":\"etag\"}"}"#,
            None,
        );
        assert_eq!(named.code, Some(412001));
        assert_eq!(named.kind(), ErrorKind::PreconditionFailed);
    }

    #[test]
    fn header_fills_gaps() {
        let error = HubError::parse(401, b"", Some("IotHubUnauthorizedAccess"));
        assert_eq!(error.code, Some(401002));
        assert_eq!(error.code_name.as_deref(), Some("IotHubUnauthorizedAccess"));
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert_eq!(error.message, "");

        let numeric = HubError::parse(404, br#"{"Message":"gone"}"#, Some("404002"));
        assert_eq!(numeric.known_code(), Some(ErrorCode::JobNotFound));
        assert_eq!(numeric.message, "gone");
    }

    #[test]
    fn garbage_gives_a_best_effort_error() {
        let html = HubError::parse(502, b"<html><body>Bad Gateway</body></html>", None);
        assert_eq!(html.http_status, 502);
        assert_eq!(html.code, None);
        assert_eq!(html.message, "<html><body>Bad Gateway</body></html>");
        assert_eq!(html.kind(), ErrorKind::Server);
        assert_eq!(
            html.to_string(),
            "IoT Hub error: <html><body>Bad Gateway</body></html> (HTTP 502)"
        );

        for (status, body) in [
            (500, &b""[..]),
            (503, b"   \n"),
            (400, b"\xff\xfe\x00garbage"),
            (400, b"[1,2,3]"),
            (400, b"42"),
            (400, b"null"),
            (400, br#"{"Message":42,"ExceptionMessage":[]}"#),
            (400, br#"{"Message":"{not json","ExceptionMessage":null}"#),
            (400, br#"{"errorCode":-5,"message":7}"#),
            (400, br#"{"errorCode":1e99,"trackingId":{}}"#),
            (200, b"{}"),
        ] {
            let error = HubError::parse(status, body, None);
            assert_eq!(error.http_status, status);
            assert_eq!(error.known_code(), None, "{body:?}");
            let _ = error.to_string();
        }
        assert_eq!(HubError::parse(200, b"{}", None).kind(), ErrorKind::Other);
        assert_eq!(
            HubError::parse(404, b"no such thing", None).kind(),
            ErrorKind::NotFound
        );

        let long = "x".repeat(10_000);
        let error = HubError::parse(500, long.as_bytes(), None);
        assert_eq!(error.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(error.message.ends_with('…'));
    }

    #[test]
    fn unknown_codes_classify_by_their_digits_then_by_status() {
        let unknown = HubError::parse(400, br#"{"Message":"{\"errorCode\":429999}"}"#, None);
        assert_eq!(unknown.known_code(), None);
        assert_eq!(unknown.kind(), ErrorKind::Throttled);
        let odd = HubError::parse(409, br#"{"errorCode":17}"#, None);
        assert_eq!(odd.kind(), ErrorKind::Conflict);
        let name_only = HubError::parse(403, b"ErrorCode:SomethingNew;nope", None);
        assert_eq!(name_only.code_name.as_deref(), Some("SomethingNew"));
        assert_eq!(name_only.code, None);
        assert_eq!(name_only.kind(), ErrorKind::Forbidden);
    }

    #[test]
    fn classification_of_the_codes_a_client_branches_on() {
        let kind = |number| ErrorCode::from_number(number).map(ErrorCode::kind);
        assert_eq!(kind(401003), Some(ErrorKind::Unauthorized));
        assert_eq!(kind(404001), Some(ErrorKind::NotFound));
        assert_eq!(kind(404002), Some(ErrorKind::NotFound));
        assert_eq!(kind(404103), Some(ErrorKind::DeviceNotOnline));
        assert_eq!(kind(412001), Some(ErrorKind::PreconditionFailed));
        assert_eq!(kind(429001), Some(ErrorKind::Throttled));
        assert_eq!(kind(429004), Some(ErrorKind::Throttled));
        assert_eq!(kind(504101), Some(ErrorKind::Timeout));
        assert_eq!(kind(409104), Some(ErrorKind::Conflict));
        assert_eq!(kind(400000), Some(ErrorKind::BadRequest));
        assert_eq!(kind(500001), Some(ErrorKind::Server));
        assert_eq!(kind(403010), Some(ErrorKind::Forbidden));
        assert_eq!(kind(404102), None, "the docs' mislabel is not a code");
    }

    #[test]
    fn code_table_is_consistent() {
        let mut previous = 0;
        for &code in ErrorCode::ALL {
            assert!(code.number() > previous, "{code:?} out of order");
            previous = code.number();
            assert_eq!(ErrorCode::from_number(code.number()), Some(code));
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
            assert_eq!(format!("{code:?}"), code.name());
            let status = code.http_status();
            assert!((400..=599).contains(&status), "{code:?}");
            // A code's kind only refines what its status says.
            match code.kind() {
                ErrorKind::DeviceNotOnline => assert_eq!(status, 404),
                ErrorKind::PreconditionFailed => assert!(status == 412 || status == 400),
                ErrorKind::Server => assert!(status >= 500),
                kind => assert_eq!(kind, ErrorKind::from_http_status(status), "{code:?}"),
            }
        }
        assert_eq!(
            ErrorCode::from_name("devicenotfound"),
            Some(ErrorCode::DeviceNotFound)
        );
        assert_eq!(ErrorCode::from_name("NoSuchCode"), None);
    }

    #[test]
    fn newer_body_round_trips() {
        let error = HubError::new(ErrorCode::DeviceNotOnline, "The device isn't online.")
            .with_tracking_id("abc-G:1-TimeStamp:03/14/2024 09:54:49")
            .with_timestamp(HubTime::parse("2024-03-14T09:54:49.6536567Z").expect("valid"))
            .with_info(json!({"timeout": "00:00:00"}));
        assert_eq!(error.http_status, 404);
        let body = error.to_body();
        assert_eq!(body.exception_message, "");
        assert_eq!(
            serde_json::from_str::<Value>(&body.message).expect("JSON inside Message"),
            json!({
                "errorCode": 404103,
                "trackingId": "abc-G:1-TimeStamp:03/14/2024 09:54:49",
                "message": "The device isn't online.",
                "info": {"timeout": "00:00:00"},
                "timestampUtc": "2024-03-14T09:54:49.6536567Z",
            })
        );
        let bytes = serde_json::to_vec(&body).expect("serializes");
        assert_eq!(
            HubError::parse(404, &bytes, error.errorcode_header()),
            error
        );
    }

    #[test]
    fn classic_body_round_trips() {
        let error = HubError::new(ErrorCode::JobNotFound, "Job not found")
            .with_tracking_id("t-G:5-TimeStamp:01/18/2017 08:11:45");
        let body = error.to_classic_body();
        assert_eq!(body.message, "ErrorCode:JobNotFound;Job not found");
        assert_eq!(
            body.exception_message,
            "Tracking ID:t-G:5-TimeStamp:01/18/2017 08:11:45"
        );
        assert_eq!(
            serde_json::to_string(&body).expect("serializes"),
            r#"{"Message":"ErrorCode:JobNotFound;Job not found","ExceptionMessage":"Tracking ID:t-G:5-TimeStamp:01/18/2017 08:11:45"}"#
        );
        let bytes = serde_json::to_vec(&body).expect("serializes");
        assert_eq!(HubError::parse(404, &bytes, None), error);
    }

    #[test]
    fn error_body_reads_both_fields_leniently() {
        let body: ErrorBody = serde_json::from_str(CLASSIC).expect("parses");
        assert_eq!(
            body.message,
            "ErrorCode:DeviceNotOnline;Timed out waiting for device to connect."
        );
        let body: ErrorBody =
            serde_json::from_str(r#"{"Message":null,"Other":1}"#).expect("parses");
        assert_eq!(body, ErrorBody::default());
    }

    #[test]
    fn display() {
        let error = HubError::parse(404, CLASSIC.as_bytes(), None);
        assert_eq!(
            error.to_string(),
            "DeviceNotOnline (404103): Timed out waiting for device to connect. \
             (HTTP 404, tracking ID 66b8d590…-G:5-TimeStamp:01/18/2017 08:11:45)"
        );
        let header_only = HubError::parse(401, b"", Some("IotHubUnauthorizedAccess"));
        assert_eq!(
            header_only.to_string(),
            "IotHubUnauthorizedAccess (401002) (HTTP 401)"
        );
    }
}
