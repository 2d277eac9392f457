//! The MQTT topic grammar of the device protocol: parse and format.
//!
//! Every topic of `docs/iothub-protocol.md` §6 in both directions, so that the device client
//! and the local hub share one grammar:
//!
//! | Direction | Topic | Variant |
//! | --- | --- | --- |
//! | hub → device | `$iothub/methods/POST/{name}/?$rid={rid}` | [`Topic::MethodRequest`] |
//! | device → hub | `$iothub/methods/res/{status}/?$rid={rid}` | [`Topic::MethodResponse`] |
//! | device → hub | `$iothub/twin/GET/?$rid={rid}` | [`Topic::TwinGet`] |
//! | hub → device | `$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]` | [`Topic::TwinResponse`] |
//! | device → hub | `$iothub/twin/PATCH/properties/reported/?$rid={rid}` | [`Topic::ReportedPatch`] |
//! | hub → device | `$iothub/twin/PATCH/properties/desired/?$version={v}` | [`Topic::DesiredPatch`] |
//! | device → hub | `devices/{d}[/modules/{m}]/messages/events/{bag}` | [`Topic::Telemetry`] |
//! | hub → device | `devices/{d}/messages/devicebound/{bag}` | [`Topic::CloudToDevice`] |
//!
//! plus the subscription filters the hub supports ([`Filter`]).
//!
//! Formatting is the Python SDK's form (the trailing `/` before `?`, property bags appended
//! right after `events/` with every key and value percent-encoded as `quote(…, safe="")`).
//! Parsing is a little more lenient, as a hub has to be: query parameters in any order,
//! unknown parameters ignored, the `/` before `?` optional. `$rid` values are opaque and kept
//! verbatim; method names and property bags are percent-decoded.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Python's `quote(s, safe="")`: everything but the unreserved `A-Za-z0-9-._~` is escaped.
pub(crate) const QUOTE_ALL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What must be escaped in a method name so that it stays one topic segment.
const METHOD_NAME: &AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b'?')
    .add(b'%')
    .add(b'#')
    .add(b'+')
    .add(b'&')
    .add(b'=');

const METHOD_POST: &str = "$iothub/methods/POST/";
const METHOD_RES: &str = "$iothub/methods/res/";
const TWIN_GET: &str = "$iothub/twin/GET/";
const TWIN_RES: &str = "$iothub/twin/res/";
const REPORTED_PATCH: &str = "$iothub/twin/PATCH/properties/reported/";
const DESIRED_PATCH: &str = "$iothub/twin/PATCH/properties/desired/";

/// System property keys of telemetry and cloud-to-device property bags.
pub mod system_property {
    /// `$.mid`: message id.
    pub const MESSAGE_ID: &str = "$.mid";
    /// `$.cid`: correlation id.
    pub const CORRELATION_ID: &str = "$.cid";
    /// `$.uid`: user id.
    pub const USER_ID: &str = "$.uid";
    /// `$.ct`: content type, e.g. `application/json`.
    pub const CONTENT_TYPE: &str = "$.ct";
    /// `$.ce`: content encoding, e.g. `utf-8`.
    pub const CONTENT_ENCODING: &str = "$.ce";
    /// `$.exp`: absolute expiry time.
    pub const EXPIRY: &str = "$.exp";
    /// `$.to`: the destination of a cloud-to-device message.
    pub const TO: &str = "$.to";
}

/// Why a topic (or filter) is not one of the IoT Hub device protocol's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not a topic of the IoT Hub device protocol at all.
    #[error("not an IoT Hub device topic")]
    Unknown,
    /// A required query parameter (`$rid`, `$version`) is absent or empty.
    #[error("the topic has no {0} parameter")]
    MissingParameter(&'static str),
    /// The status segment is not an integer.
    #[error("the status in the topic is not an integer")]
    BadStatus,
    /// `$version` is not an integer.
    #[error("$version in the topic is not an integer")]
    BadVersion,
    /// A percent-encoded part does not decode to UTF-8.
    #[error("a percent-encoded part of the topic is not UTF-8")]
    BadEncoding,
    /// The topic starts like a known one but its segments do not fit, e.g. an empty method
    /// name or a device id missing.
    #[error("malformed topic: {0}")]
    Malformed(&'static str),
}

/// A message property bag: ordered `key[=value]` pairs, as appended to telemetry and
/// cloud-to-device topics. A `None` value is a key without `=` (the hub's null).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertyBag(Vec<(String, Option<String>)>);

impl PropertyBag {
    /// An empty bag.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a `key=value` pair (keys may repeat; order is kept).
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.push((key.into(), Some(value.into())));
    }

    /// Appends a key without a value.
    pub fn push_null(&mut self, key: impl Into<String>) {
        self.0.push((key.into(), None));
    }

    /// Builder form of [`PropertyBag::push`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(key, value);
        self
    }

    /// The first value of `key`: `None` if absent, `Some(None)` if present without a value.
    pub fn get(&self, key: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_deref())
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_deref()))
    }

    /// Whether the bag has no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Parses the percent-encoded form (`a=1&b&c=`); `+` stays a literal `+`.
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        let text = text.strip_prefix('?').unwrap_or(text);
        let mut bag = Self::new();
        for part in text.split('&').filter(|part| !part.is_empty()) {
            match part.split_once('=') {
                Some((key, value)) => bag.0.push((decode(key)?, Some(decode(value)?))),
                None => bag.0.push((decode(part)?, None)),
            }
        }
        Ok(bag)
    }
}

impl fmt::Display for PropertyBag {
    /// The percent-encoded form, without a leading `?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (key, value)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("&")?;
            }
            write!(f, "{}", utf8_percent_encode(key, QUOTE_ALL))?;
            if let Some(value) = value {
                write!(f, "={}", utf8_percent_encode(value, QUOTE_ALL))?;
            }
        }
        Ok(())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for PropertyBag {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(key, value)| (key.into(), Some(value.into())))
                .collect(),
        )
    }
}

fn decode(text: &str) -> Result<String, TopicError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| TopicError::BadEncoding)
}

/// One topic of the IoT Hub device protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// Hub → device: a direct method invocation.
    MethodRequest {
        /// The method name, percent-decoded.
        name: String,
        /// The request id to answer with, opaque.
        rid: String,
    },
    /// Device → hub: the answer to a direct method.
    MethodResponse {
        /// The status the device app chose; it becomes the invocation result's `status`.
        status: i32,
        /// The request id of the invocation.
        rid: String,
    },
    /// Device → hub: request the whole twin (desired and reported).
    TwinGet {
        /// Request id, echoed in the [`Topic::TwinResponse`].
        rid: String,
    },
    /// Hub → device: the answer to a twin GET or a reported-properties PATCH.
    TwinResponse {
        /// 200 for a GET, 204 for a PATCH; 4xx/5xx on failure.
        status: u16,
        /// The request id of the GET or PATCH.
        rid: String,
        /// `$version`: the new reported version, after a PATCH.
        version: Option<i64>,
    },
    /// Device → hub: a reported-properties patch.
    ReportedPatch {
        /// Request id, echoed in the [`Topic::TwinResponse`].
        rid: String,
    },
    /// Hub → device: a desired-properties change.
    DesiredPatch {
        /// `$version` of the desired document after the change. Always sent by the hub; the
        /// body carries it too.
        version: Option<i64>,
    },
    /// Device → hub: a device-to-cloud (telemetry) message.
    Telemetry {
        /// The sending device.
        device_id: String,
        /// The sending module, for a module identity.
        module_id: Option<String>,
        /// Application and system properties.
        properties: PropertyBag,
    },
    /// Hub → device: a cloud-to-device message.
    CloudToDevice {
        /// The receiving device.
        device_id: String,
        /// Application and system properties.
        properties: PropertyBag,
    },
}

impl Topic {
    /// Parses any topic of the device protocol, in either direction.
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        if let Some(rest) = text.strip_prefix(METHOD_POST) {
            let (path, query) = split_query(rest);
            let name = single_segment(path).ok_or(TopicError::Malformed("no method name"))?;
            return Ok(Self::MethodRequest {
                name: decode(name)?,
                rid: required(query, "$rid")?,
            });
        }
        if let Some(rest) = text.strip_prefix(METHOD_RES) {
            let (path, query) = split_query(rest);
            let status = single_segment(path)
                .and_then(|status| status.parse().ok())
                .ok_or(TopicError::BadStatus)?;
            return Ok(Self::MethodResponse {
                status,
                rid: required(query, "$rid")?,
            });
        }
        if let Some(rest) = text.strip_prefix(TWIN_RES) {
            let (path, query) = split_query(rest);
            let status = single_segment(path)
                .and_then(|status| status.parse().ok())
                .ok_or(TopicError::BadStatus)?;
            return Ok(Self::TwinResponse {
                status,
                rid: required(query, "$rid")?,
                version: version(query)?,
            });
        }
        if let Some(query) = strip_request(text, TWIN_GET) {
            return Ok(Self::TwinGet {
                rid: required(query, "$rid")?,
            });
        }
        if let Some(query) = strip_request(text, REPORTED_PATCH) {
            return Ok(Self::ReportedPatch {
                rid: required(query, "$rid")?,
            });
        }
        if let Some(query) = strip_request(text, DESIRED_PATCH) {
            return Ok(Self::DesiredPatch {
                version: version(query)?,
            });
        }
        if let Some(rest) = text.strip_prefix("devices/") {
            return parse_device_topic(rest);
        }
        Err(TopicError::Unknown)
    }

    /// Whether the hub sends this topic to devices (as opposed to receiving it from them).
    pub fn is_hub_to_device(&self) -> bool {
        match self {
            Self::MethodRequest { .. }
            | Self::TwinResponse { .. }
            | Self::DesiredPatch { .. }
            | Self::CloudToDevice { .. } => true,
            Self::MethodResponse { .. }
            | Self::TwinGet { .. }
            | Self::ReportedPatch { .. }
            | Self::Telemetry { .. } => false,
        }
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Topic {
    /// The topic exactly as it goes on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MethodRequest { name, rid } => write!(
                f,
                "{METHOD_POST}{}/?$rid={rid}",
                utf8_percent_encode(name, METHOD_NAME)
            ),
            Self::MethodResponse { status, rid } => write!(f, "{METHOD_RES}{status}/?$rid={rid}"),
            Self::TwinGet { rid } => write!(f, "{TWIN_GET}?$rid={rid}"),
            Self::TwinResponse {
                status,
                rid,
                version,
            } => {
                write!(f, "{TWIN_RES}{status}/?$rid={rid}")?;
                match version {
                    Some(version) => write!(f, "&$version={version}"),
                    None => Ok(()),
                }
            }
            Self::ReportedPatch { rid } => write!(f, "{REPORTED_PATCH}?$rid={rid}"),
            Self::DesiredPatch { version } => match version {
                Some(version) => write!(f, "{DESIRED_PATCH}?$version={version}"),
                None => f.write_str(DESIRED_PATCH),
            },
            Self::Telemetry {
                device_id,
                module_id,
                properties,
            } => match module_id {
                Some(module_id) => write!(
                    f,
                    "devices/{device_id}/modules/{module_id}/messages/events/{properties}"
                ),
                None => write!(f, "devices/{device_id}/messages/events/{properties}"),
            },
            Self::CloudToDevice {
                device_id,
                properties,
            } => write!(f, "devices/{device_id}/messages/devicebound/{properties}"),
        }
    }
}

/// Splits `path?query` (either part may be empty).
fn split_query(text: &str) -> (&str, &str) {
    text.split_once('?').unwrap_or((text, ""))
}

/// `segment/` or `segment` (the slash before `?` is optional), non-empty, no inner `/`.
fn single_segment(path: &str) -> Option<&str> {
    let segment = path.strip_suffix('/').unwrap_or(path);
    (!segment.is_empty() && !segment.contains('/')).then_some(segment)
}

/// The query of a topic that is `prefix` + `?query`, tolerating a missing trailing `/` on
/// the prefix; `None` when the topic is something else (e.g. a longer path).
fn strip_request<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let bare = prefix.strip_suffix('/').unwrap_or(prefix);
    let rest = text
        .strip_prefix(prefix)
        .or_else(|| text.strip_prefix(bare))?;
    if rest.is_empty() {
        return Some("");
    }
    rest.strip_prefix('?')
}

/// The raw value of query parameter `name`, if present.
fn parameter<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some((key, value)) if key == name => Some(value),
            _ => None,
        })
}

fn required(query: &str, name: &'static str) -> Result<String, TopicError> {
    match parameter(query, name) {
        Some(value) if !value.is_empty() => Ok(value.to_owned()),
        _ => Err(TopicError::MissingParameter(name)),
    }
}

fn version(query: &str) -> Result<Option<i64>, TopicError> {
    parameter(query, "$version")
        .map(|version| version.parse().map_err(|_| TopicError::BadVersion))
        .transpose()
}

/// `{d}/messages/events/{bag}`, `{d}/modules/{m}/messages/events/{bag}` or
/// `{d}/messages/devicebound/{bag}` (the part after `devices/`).
fn parse_device_topic(rest: &str) -> Result<Topic, TopicError> {
    let (device_id, rest) = rest
        .split_once('/')
        .ok_or(TopicError::Malformed("nothing after the device id"))?;
    if device_id.is_empty() {
        return Err(TopicError::Malformed("empty device id"));
    }
    let (module_id, rest) = match rest.strip_prefix("modules/") {
        Some(rest) => {
            let (module_id, rest) = rest
                .split_once('/')
                .ok_or(TopicError::Malformed("nothing after the module id"))?;
            if module_id.is_empty() {
                return Err(TopicError::Malformed("empty module id"));
            }
            (Some(module_id.to_owned()), rest)
        }
        None => (None, rest),
    };
    if let Some(bag) = bag_after(rest, "messages/events") {
        return Ok(Topic::Telemetry {
            device_id: device_id.to_owned(),
            module_id,
            properties: PropertyBag::parse(bag)?,
        });
    }
    if module_id.is_none()
        && let Some(bag) = bag_after(rest, "messages/devicebound")
    {
        return Ok(Topic::CloudToDevice {
            device_id: device_id.to_owned(),
            properties: PropertyBag::parse(bag)?,
        });
    }
    Err(TopicError::Unknown)
}

/// The property bag after `path/`, or `""` for `path` alone.
fn bag_after<'a>(text: &'a str, path: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(path)?;
    if rest.is_empty() {
        return Some("");
    }
    rest.strip_prefix('/')
}

/// A subscription filter the hub supports (§6.3); any other filter is refused by the hub.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `$iothub/methods/POST/#`: direct method requests.
    Methods,
    /// `$iothub/twin/res/#`: answers to twin GETs and reported patches.
    TwinResponses,
    /// `$iothub/twin/PATCH/properties/desired/#`: desired-property notifications.
    DesiredPatches,
    /// `devices/{deviceId}/messages/devicebound/#`: cloud-to-device messages.
    CloudToDevice {
        /// The subscribing device.
        device_id: String,
    },
    /// `devices/{deviceId}/modules/{moduleId}/inputs/#`: IoT Edge module inputs (parsed so a
    /// hub can accept the subscription; no [`Topic`] matches it).
    ModuleInputs {
        /// The device.
        device_id: String,
        /// The module.
        module_id: String,
    },
}

impl Filter {
    /// Parses a filter as a device sends it in SUBSCRIBE.
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        match text {
            "$iothub/methods/POST/#" => return Ok(Self::Methods),
            "$iothub/twin/res/#" => return Ok(Self::TwinResponses),
            "$iothub/twin/PATCH/properties/desired/#" => return Ok(Self::DesiredPatches),
            _ => {}
        }
        let rest = text.strip_prefix("devices/").ok_or(TopicError::Unknown)?;
        let (device_id, rest) = rest.split_once('/').ok_or(TopicError::Unknown)?;
        if device_id.is_empty() {
            return Err(TopicError::Malformed("empty device id"));
        }
        if rest == "messages/devicebound/#" {
            return Ok(Self::CloudToDevice {
                device_id: device_id.to_owned(),
            });
        }
        if let Some(rest) = rest.strip_prefix("modules/")
            && let Some(module_id) = rest.strip_suffix("/inputs/#")
            && !module_id.is_empty()
            && !module_id.contains('/')
        {
            return Ok(Self::ModuleInputs {
                device_id: device_id.to_owned(),
                module_id: module_id.to_owned(),
            });
        }
        Err(TopicError::Unknown)
    }

    /// Whether a hub → device `topic` is delivered to a subscriber of this filter.
    pub fn matches(&self, topic: &Topic) -> bool {
        match (self, topic) {
            (Self::Methods, Topic::MethodRequest { .. })
            | (Self::TwinResponses, Topic::TwinResponse { .. })
            | (Self::DesiredPatches, Topic::DesiredPatch { .. }) => true,
            (
                Self::CloudToDevice { device_id },
                Topic::CloudToDevice {
                    device_id: target, ..
                },
            ) => device_id == target,
            _ => false,
        }
    }
}

impl FromStr for Filter {
    type Err = TopicError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Methods => f.write_str("$iothub/methods/POST/#"),
            Self::TwinResponses => f.write_str("$iothub/twin/res/#"),
            Self::DesiredPatches => f.write_str("$iothub/twin/PATCH/properties/desired/#"),
            Self::CloudToDevice { device_id } => {
                write!(f, "devices/{device_id}/messages/devicebound/#")
            }
            Self::ModuleInputs {
                device_id,
                module_id,
            } => write!(f, "devices/{device_id}/modules/{module_id}/inputs/#"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(rid: &str) -> String {
        rid.to_owned()
    }

    /// Golden strings from the protocol reference (§6.4–6.6), each with its parsed form.
    /// Every one must parse to the value and format back to exactly the same text.
    #[test]
    fn reference_topics_parse_and_format_exactly() {
        let d2c_bag = PropertyBag::new()
            .with("$.mid", "m1")
            .with("$.ct", "application/json")
            .with("$.ce", "utf-8")
            .with("a b", "c/d")
            .with("k", "v");
        let table: Vec<(&str, Topic)> = vec![
            (
                "$iothub/methods/POST/lockDoor/?$rid=1",
                Topic::MethodRequest {
                    name: "lockDoor".into(),
                    rid: rid("1"),
                },
            ),
            (
                "$iothub/methods/res/200/?$rid=1",
                Topic::MethodResponse {
                    status: 200,
                    rid: rid("1"),
                },
            ),
            (
                "$iothub/methods/res/-1/?$rid=a1",
                Topic::MethodResponse {
                    status: -1,
                    rid: rid("a1"),
                },
            ),
            (
                "$iothub/twin/GET/?$rid=0e2b7e43-5b2a-4e1c-9f6e-0d6c1c7a9b10",
                Topic::TwinGet {
                    rid: rid("0e2b7e43-5b2a-4e1c-9f6e-0d6c1c7a9b10"),
                },
            ),
            (
                "$iothub/twin/res/200/?$rid=7",
                Topic::TwinResponse {
                    status: 200,
                    rid: rid("7"),
                    version: None,
                },
            ),
            (
                "$iothub/twin/res/204/?$rid=8&$version=2",
                Topic::TwinResponse {
                    status: 204,
                    rid: rid("8"),
                    version: Some(2),
                },
            ),
            (
                "$iothub/twin/PATCH/properties/reported/?$rid=8",
                Topic::ReportedPatch { rid: rid("8") },
            ),
            (
                "$iothub/twin/PATCH/properties/desired/?$version=2",
                Topic::DesiredPatch { version: Some(2) },
            ),
            (
                "devices/dev1/messages/events/%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&a%20b=c%2Fd&k=v",
                Topic::Telemetry {
                    device_id: "dev1".into(),
                    module_id: None,
                    properties: d2c_bag,
                },
            ),
            (
                "devices/dev1/messages/events/",
                Topic::Telemetry {
                    device_id: "dev1".into(),
                    module_id: None,
                    properties: PropertyBag::new(),
                },
            ),
            (
                "devices/dev1/modules/mod1/messages/events/k=v",
                Topic::Telemetry {
                    device_id: "dev1".into(),
                    module_id: Some("mod1".into()),
                    properties: PropertyBag::new().with("k", "v"),
                },
            ),
            (
                "devices/dev1/messages/devicebound/%24.mid=42&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&empty=&nothing",
                Topic::CloudToDevice {
                    device_id: "dev1".into(),
                    properties: {
                        let mut bag = PropertyBag::new()
                            .with("$.mid", "42")
                            .with("$.to", "/devices/dev1/messages/devicebound")
                            .with("empty", "");
                        bag.push_null("nothing");
                        bag
                    },
                },
            ),
        ];
        for (text, topic) in table {
            assert_eq!(Topic::parse(text).as_ref(), Ok(&topic), "parsing {text}");
            assert_eq!(topic.to_string(), text, "formatting {topic:?}");
        }
    }

    #[test]
    fn parsing_is_lenient_where_a_hub_must_be() {
        let table: Vec<(&str, Topic)> = vec![
            // No `/` before `?`.
            (
                "$iothub/methods/POST/lockDoor?$rid=1",
                Topic::MethodRequest {
                    name: "lockDoor".into(),
                    rid: rid("1"),
                },
            ),
            ("$iothub/twin/GET?$rid=1", Topic::TwinGet { rid: rid("1") }),
            // Parameters in another order, unknown ones ignored.
            (
                "$iothub/twin/res/204/?$version=5&foo=bar&$rid=x",
                Topic::TwinResponse {
                    status: 204,
                    rid: rid("x"),
                    version: Some(5),
                },
            ),
            // Method names are percent-decoded.
            (
                "$iothub/methods/POST/set%20mode/?$rid=2",
                Topic::MethodRequest {
                    name: "set mode".into(),
                    rid: rid("2"),
                },
            ),
            // `+` stays `+` in bags; no trailing slash after `events`.
            (
                "devices/d-1/messages/events",
                Topic::Telemetry {
                    device_id: "d-1".into(),
                    module_id: None,
                    properties: PropertyBag::new(),
                },
            ),
            (
                "devices/d/messages/events/a=1+2",
                Topic::Telemetry {
                    device_id: "d".into(),
                    module_id: None,
                    properties: PropertyBag::new().with("a", "1+2"),
                },
            ),
        ];
        for (text, topic) in table {
            assert_eq!(Topic::parse(text), Ok(topic), "parsing {text}");
        }
    }

    #[test]
    fn bad_topics_are_typed_errors() {
        let table: &[(&str, TopicError)] = &[
            ("a/b", TopicError::Unknown),
            (
                "$iothub/methods/POST/lockDoor/",
                TopicError::MissingParameter("$rid"),
            ),
            (
                "$iothub/methods/POST/lockDoor/?$rid=",
                TopicError::MissingParameter("$rid"),
            ),
            (
                "$iothub/methods/POST//?$rid=1",
                TopicError::Malformed("no method name"),
            ),
            (
                "$iothub/methods/POST/a/b/?$rid=1",
                TopicError::Malformed("no method name"),
            ),
            ("$iothub/methods/res/ok/?$rid=1", TopicError::BadStatus),
            ("$iothub/twin/res/99999/?$rid=1", TopicError::BadStatus),
            (
                "$iothub/twin/res/204/?$rid=1&$version=x",
                TopicError::BadVersion,
            ),
            (
                "$iothub/twin/PATCH/properties/desired/?$version=two",
                TopicError::BadVersion,
            ),
            ("$iothub/twin/GET/extra?$rid=1", TopicError::Unknown),
            ("$iothub/methods/POST/%ff/?$rid=1", TopicError::BadEncoding),
            (
                "devices/dev1",
                TopicError::Malformed("nothing after the device id"),
            ),
            (
                "devices//messages/events/",
                TopicError::Malformed("empty device id"),
            ),
            ("devices/dev1/messages/other/", TopicError::Unknown),
            (
                "devices/dev1/modules/m/messages/devicebound/",
                TopicError::Unknown,
            ),
        ];
        for (text, error) in table {
            assert_eq!(Topic::parse(text).as_ref(), Err(error), "parsing {text}");
        }
    }

    #[test]
    fn directions() {
        let hub_to_device = [
            "$iothub/methods/POST/m/?$rid=1",
            "$iothub/twin/res/200/?$rid=1",
            "$iothub/twin/PATCH/properties/desired/?$version=1",
            "devices/d/messages/devicebound/",
        ];
        let device_to_hub = [
            "$iothub/methods/res/200/?$rid=1",
            "$iothub/twin/GET/?$rid=1",
            "$iothub/twin/PATCH/properties/reported/?$rid=1",
            "devices/d/messages/events/",
        ];
        for text in hub_to_device {
            assert!(Topic::parse(text).expect(text).is_hub_to_device(), "{text}");
        }
        for text in device_to_hub {
            assert!(
                !Topic::parse(text).expect(text).is_hub_to_device(),
                "{text}"
            );
        }
    }

    #[test]
    fn method_names_that_need_escaping_round_trip() {
        let topic = Topic::MethodRequest {
            name: "a/b?c d%".into(),
            rid: rid("1"),
        };
        let text = topic.to_string();
        assert_eq!(text, "$iothub/methods/POST/a%2Fb%3Fc%20d%25/?$rid=1");
        assert_eq!(Topic::parse(&text), Ok(topic));
    }

    #[test]
    fn filters_parse_format_and_match() {
        let table: Vec<(&str, Filter)> = vec![
            ("$iothub/methods/POST/#", Filter::Methods),
            ("$iothub/twin/res/#", Filter::TwinResponses),
            (
                "$iothub/twin/PATCH/properties/desired/#",
                Filter::DesiredPatches,
            ),
            (
                "devices/dev1/messages/devicebound/#",
                Filter::CloudToDevice {
                    device_id: "dev1".into(),
                },
            ),
            (
                "devices/dev1/modules/m1/inputs/#",
                Filter::ModuleInputs {
                    device_id: "dev1".into(),
                    module_id: "m1".into(),
                },
            ),
        ];
        for (text, filter) in table {
            assert_eq!(Filter::parse(text).as_ref(), Ok(&filter), "{text}");
            assert_eq!(filter.to_string(), text);
        }
        for bad in [
            "#",
            "$iothub/#",
            "devices/dev1/messages/events/#",
            "devices//messages/devicebound/#",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }

        let method = Topic::parse("$iothub/methods/POST/m/?$rid=1").expect("valid");
        let c2d = Topic::parse("devices/dev1/messages/devicebound/").expect("valid");
        assert!(Filter::Methods.matches(&method));
        assert!(!Filter::TwinResponses.matches(&method));
        assert!(
            Filter::CloudToDevice {
                device_id: "dev1".into()
            }
            .matches(&c2d)
        );
        assert!(
            !Filter::CloudToDevice {
                device_id: "dev2".into()
            }
            .matches(&c2d)
        );
    }

    #[test]
    fn property_bags_keep_nulls_empties_and_order() {
        let bag = PropertyBag::parse("b=2&a&c=&a=3").expect("valid");
        assert_eq!(bag.get("a"), Some(None));
        assert_eq!(bag.get("c"), Some(Some("")));
        assert_eq!(bag.get("z"), None);
        assert_eq!(bag.len(), 4);
        assert_eq!(bag.to_string(), "b=2&a&c=&a=3");
        let keys: Vec<_> = bag.iter().map(|(key, _)| key).collect();
        assert_eq!(keys, ["b", "a", "c", "a"]);
        assert!(PropertyBag::parse("").expect("valid").is_empty());
        let collected: PropertyBag = [("x", "1")].into_iter().collect();
        assert_eq!(collected.to_string(), "x=1");
    }
}
