//! Connection strings: raw text from the Azure portal or CLI → validated types.
//!
//! The grammar is the one the Azure SDKs share: `Key=Value` pairs separated by `;`, each split
//! at the **first** `=` (base64 keys end in `=`), keys case-sensitive, unknown and duplicate
//! keys rejected. On top of that this module rejects what the SDKs would only trip over later:
//! empty values, a `HostName` with a scheme or a path, a port outside 1..=65535, a key that is
//! not base64, a device id with characters IoT Hub never allows.
//!
//! Parsed types keep the key as a [`SharedAccessKey`], so `Debug`, `Display` and every error
//! message are free of the secret; `expose_secret_string()` is the one way to get the full
//! string back, e.g. to store it in the keychain.

use std::fmt;
use std::str::FromStr;

use super::key::{KeyError, REDACTED, SharedAccessKey, is_showable_name};
use super::sas::SasToken;

/// Device and module ids are at most this long (IoT Hub's documented limit).
const MAX_ID_LEN: usize = 128;

/// Punctuation IoT Hub allows in device and module ids besides ASCII letters and digits.
const ID_PUNCTUATION: &str = "-:.+%_#*?!(),=@;$'";

/// Which kind of connection string a parser expected; used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStringKind {
    /// A shared access policy's string: `HostName`, `SharedAccessKeyName`, `SharedAccessKey`.
    Service,
    /// A device's (or module's) own string: `HostName`, `DeviceId`, `SharedAccessKey`, ….
    Device,
}

impl fmt::Display for ConnectionStringKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Service => "service",
            Self::Device => "device",
        })
    }
}

/// Why a connection string was rejected.
///
/// Messages name the offending key and never contain a value: a connection string is a
/// credential, and a mistyped one is still mostly secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    /// Nothing but whitespace (and at most a `;`).
    #[error("the connection string is empty")]
    Empty,
    /// A `;`-separated part has no `=`. Counted from 1; the part itself is not shown because
    /// it may be a fragment of the key.
    #[error("part {position} of the connection string is not Key=Value")]
    NotAPair {
        /// 1-based position of the part.
        position: usize,
    },
    /// A key that no IoT Hub connection string has (keys are case-sensitive).
    #[error("{}", unknown_key_message(.key.as_deref()))]
    UnknownKey {
        /// The key as written (never its value), or `None` when it is withheld because it
        /// looks like a secret: what a missing `SharedAccessKey=` leaves in the key position.
        key: Option<String>,
    },
    /// An IoT Hub key that Lockstep deliberately does not handle.
    #[error(
        "{key} connection strings are not supported by Lockstep; use one with a SharedAccessKey"
    )]
    Unsupported {
        /// `SharedAccessSignature` or `x509`.
        key: &'static str,
    },
    /// The same key twice.
    #[error("{key} appears more than once")]
    DuplicateKey {
        /// The repeated key.
        key: &'static str,
    },
    /// `Key=` with nothing after the `=`.
    #[error("{key} is empty")]
    EmptyValue {
        /// The key whose value is empty.
        key: &'static str,
    },
    /// A key this kind of connection string must have.
    #[error("{key} is missing")]
    MissingKey {
        /// The absent key.
        key: &'static str,
    },
    /// A valid key that belongs to the other kind of connection string, e.g. `DeviceId` when
    /// a service connection string was asked for: usually the wrong string was pasted.
    #[error("{key} does not belong in a {expected} connection string")]
    WrongKind {
        /// The out-of-place key.
        key: &'static str,
        /// The kind that was being parsed.
        expected: ConnectionStringKind,
    },
    /// `HostName` or `GatewayHostName` is not `host` or `host:port`.
    #[error("{key} is not a valid host name: {reason}")]
    InvalidHostName {
        /// `HostName` or `GatewayHostName`.
        key: &'static str,
        /// What is wrong with it.
        reason: HostNameError,
    },
    /// `DeviceId` or `ModuleId` breaks IoT Hub's id rules.
    #[error("{key} is not valid: {reason}")]
    InvalidId {
        /// `DeviceId` or `ModuleId`.
        key: &'static str,
        /// What is wrong with it.
        reason: IdError,
    },
    /// `SharedAccessKey` is not standard padded base64.
    #[error("SharedAccessKey is not valid base64")]
    KeyNotBase64,
    /// `SharedAccessKey` decodes to no bytes at all.
    #[error("SharedAccessKey decodes to an empty key")]
    KeyEmpty,
}

fn unknown_key_message(key: Option<&str>) -> String {
    match key {
        Some(key) => format!("unknown key '{key}' (keys are case-sensitive)"),
        None => "unknown key, not shown because it looks like a secret (is a 'Name=' missing?)"
            .to_owned(),
    }
}

impl From<KeyError> for ConnectionStringError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::NotBase64 => Self::KeyNotBase64,
            KeyError::Empty => Self::KeyEmpty,
        }
    }
}

/// Why a host name was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostNameError {
    /// Nothing at all.
    #[error("it is empty")]
    Empty,
    /// Starts with `https://` or similar: IoT Hub host names are bare, the SDKs add the scheme.
    #[error("it must not have a scheme such as https://")]
    HasScheme,
    /// Contains a `/`: a path has no place in a host name.
    #[error("it must not contain '/'")]
    HasPath,
    /// Nothing before the `:port`.
    #[error("the host before ':' is empty")]
    EmptyHost,
    /// A character that is not a letter, digit, `-`, `.` or `_` (or, inside `[…]`, part of an
    /// IPv6 address).
    #[error("it may contain only letters, digits, '-', '.', '_' and an optional ':port'")]
    BadCharacter,
    /// The port is not a decimal number from 1 to 65535.
    #[error("the port must be a number from 1 to 65535")]
    BadPort,
}

/// Why a device or module id was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Longer than IoT Hub's 128-character limit.
    #[error("it is longer than 128 characters")]
    TooLong,
    /// A character IoT Hub does not allow in ids.
    #[error("it may contain only ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '")]
    BadCharacter,
}

/// A validated IoT Hub host name, optionally with a port: `myhub.azure-devices.net`,
/// `localhost:8443`, `[::1]:8443`.
///
/// The text is kept as given because it is used verbatim: the service SDK builds
/// `https://{HostName}` and signs `quote_plus(HostName)` (so a port is part of the SAS `sr`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostName {
    text: String,
    /// Byte length of the host part, i.e. where `:port` starts (or the whole text).
    host_len: usize,
    port: Option<u16>,
}

impl HostName {
    /// The host name exactly as given, with the port if there was one.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host without the port (an IPv6 address keeps its brackets, ready for a URL).
    pub fn host(&self) -> &str {
        &self.text[..self.host_len]
    }

    /// The port, if the host name carried one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl FromStr for HostName {
    type Err = HostNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(HostNameError::Empty);
        }
        // Checked before '/' so that the commonest paste mistake gets the precise message.
        if text.contains("://") {
            return Err(HostNameError::HasScheme);
        }
        if text.contains('/') {
            return Err(HostNameError::HasPath);
        }
        let (host, port) = if text.starts_with('[') {
            // An IPv6 literal: the colons inside the brackets are not a port separator.
            let end = text.find(']').ok_or(HostNameError::BadCharacter)? + 1;
            let (host, rest) = text.split_at(end);
            let address = &host[1..host.len() - 1];
            if address.is_empty()
                || !address
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err(HostNameError::BadCharacter);
            }
            match rest {
                "" => (host, None),
                _ => match rest.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(HostNameError::BadCharacter),
                },
            }
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err(HostNameError::EmptyHost);
        }
        if !host.starts_with('[')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(HostNameError::BadCharacter);
        }
        let port = port.map(parse_port).transpose()?;
        Ok(Self {
            text: text.to_owned(),
            host_len: host.len(),
            port,
        })
    }
}

/// Parses a TCP port strictly: `u16::from_str` would also take `+443`, which no URL allows.
fn parse_port(text: &str) -> Result<u16, HostNameError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostNameError::BadPort);
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(HostNameError::BadPort),
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HostName").field(&self.text).finish()
    }
}

/// Checks a device or module id against IoT Hub's rules, so that an id that could never
/// exist on a hub fails here rather than as a puzzling 401 or a broken MQTT topic later.
fn validate_id(key: &'static str, id: &str) -> Result<(), ConnectionStringError> {
    let reason = if id.len() > MAX_ID_LEN {
        IdError::TooLong
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ID_PUNCTUATION.contains(c))
    {
        IdError::BadCharacter
    } else {
        return Ok(());
    };
    Err(ConnectionStringError::InvalidId { key, reason })
}

/// A shared access policy's connection string, what the service side (jobs, twins, registry)
/// authenticates with: `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`.
///
/// `Debug` and `Display` redact the key; [`ServiceConnectionString::expose_secret_string`]
/// does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConnectionString {
    host_name: HostName,
    shared_access_key_name: String,
    shared_access_key: SharedAccessKey,
}

impl ServiceConnectionString {
    /// `HostName` exactly as given, with the port if any (what URLs and SAS tokens use).
    pub fn host_name(&self) -> &str {
        self.host_name.as_str()
    }

    /// `HostName` without the port.
    pub fn host(&self) -> &str {
        self.host_name.host()
    }

    /// The port in `HostName`, if any (a local hub; Azure itself is always 443).
    pub fn port(&self) -> Option<u16> {
        self.host_name.port()
    }

    /// The policy name, e.g. `iothubowner`; sent as `skn` in SAS tokens.
    pub fn shared_access_key_name(&self) -> &str {
        &self.shared_access_key_name
    }

    /// The policy's key.
    pub fn shared_access_key(&self) -> &SharedAccessKey {
        &self.shared_access_key
    }

    /// A hub-scoped SAS token as the Python service SDK builds it, valid until `expiry` (unix
    /// seconds; the caller owns the clock).
    pub fn sas_token(&self, expiry: u64) -> SasToken {
        SasToken::for_service(
            self.host_name(),
            &self.shared_access_key_name,
            &self.shared_access_key,
            expiry,
        )
    }

    /// The full connection string, key included, in canonical key order; for storing it.
    pub fn expose_secret_string(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.write(&mut out, &self.shared_access_key.expose_base64());
        out
    }

    fn write(&self, out: &mut dyn fmt::Write, key: &str) -> fmt::Result {
        write!(
            out,
            "{}={};{}={};{}={}",
            Field::HostName,
            self.host_name,
            Field::SharedAccessKeyName,
            self.shared_access_key_name,
            Field::SharedAccessKey,
            key
        )
    }
}

impl FromStr for ServiceConnectionString {
    type Err = ConnectionStringError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let pairs = Pairs::parse(raw)?;
        for field in [Field::DeviceId, Field::ModuleId, Field::GatewayHostName] {
            if pairs.get(field).is_some() {
                return Err(ConnectionStringError::WrongKind {
                    key: field.name(),
                    expected: ConnectionStringKind::Service,
                });
            }
        }
        let host_name = pairs.require(Field::HostName)?;
        let shared_access_key_name = pairs.require(Field::SharedAccessKeyName)?;
        let shared_access_key = pairs.require(Field::SharedAccessKey)?;
        Ok(Self {
            host_name: parse_host_name(Field::HostName, host_name)?,
            shared_access_key_name: shared_access_key_name.to_owned(),
            shared_access_key: SharedAccessKey::from_base64(shared_access_key)?,
        })
    }
}

impl fmt::Display for ServiceConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, REDACTED)
    }
}

/// A device's (or module's) own connection string, what the MQTT device client authenticates
/// with: `HostName=…;DeviceId=…[;ModuleId=…];SharedAccessKey=…[;GatewayHostName=…]`.
///
/// `Debug` and `Display` redact the key; [`DeviceConnectionString::expose_secret_string`]
/// does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConnectionString {
    host_name: HostName,
    device_id: String,
    module_id: Option<String>,
    gateway_host_name: Option<HostName>,
    shared_access_key: SharedAccessKey,
}

impl DeviceConnectionString {
    /// `HostName` exactly as given, with the port if any. Even behind a gateway this is the
    /// name that goes into the SAS resource URI and the MQTT user name.
    pub fn host_name(&self) -> &str {
        self.host_name.as_str()
    }

    /// `HostName` without the port.
    pub fn host(&self) -> &str {
        self.host_name.host()
    }

    /// The port in `HostName`, if any.
    pub fn port(&self) -> Option<u16> {
        self.host_name.port()
    }

    /// The device id (case-sensitive).
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The module id, for a module identity.
    pub fn module_id(&self) -> Option<&str> {
        self.module_id.as_deref()
    }

    /// `GatewayHostName`: where the TCP/TLS connection goes instead of `HostName`, if set.
    pub fn gateway_host_name(&self) -> Option<&HostName> {
        self.gateway_host_name.as_ref()
    }

    /// The device's (or module's) key.
    pub fn shared_access_key(&self) -> &SharedAccessKey {
        &self.shared_access_key
    }

    /// The SAS resource URI, unencoded, as the Python device SDK forms it:
    /// `{HostName}/devices/{DeviceId}[/modules/{ModuleId}]`.
    pub fn resource_uri(&self) -> String {
        match &self.module_id {
            Some(module_id) => format!(
                "{}/devices/{}/modules/{module_id}",
                self.host_name, self.device_id
            ),
            None => format!("{}/devices/{}", self.host_name, self.device_id),
        }
    }

    /// A device-scoped SAS token as the Python device SDK builds it, valid until `expiry`
    /// (unix seconds; the caller owns the clock).
    pub fn sas_token(&self, expiry: u64) -> SasToken {
        SasToken::for_device(&self.resource_uri(), &self.shared_access_key, expiry)
    }

    /// The full connection string, key included, in canonical key order; for storing it.
    pub fn expose_secret_string(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.write(&mut out, &self.shared_access_key.expose_base64());
        out
    }

    fn write(&self, out: &mut dyn fmt::Write, key: &str) -> fmt::Result {
        write!(
            out,
            "{}={};{}={}",
            Field::HostName,
            self.host_name,
            Field::DeviceId,
            self.device_id
        )?;
        if let Some(module_id) = &self.module_id {
            write!(out, ";{}={module_id}", Field::ModuleId)?;
        }
        write!(out, ";{}={key}", Field::SharedAccessKey)?;
        // Last, where the Azure docs put it for devices behind an IoT Edge gateway.
        if let Some(gateway) = &self.gateway_host_name {
            write!(out, ";{}={gateway}", Field::GatewayHostName)?;
        }
        Ok(())
    }
}

impl FromStr for DeviceConnectionString {
    type Err = ConnectionStringError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let pairs = Pairs::parse(raw)?;
        // A device string carrying a policy name would be signed with a policy key, which the
        // device side of Lockstep does not do; say so instead of ignoring the key.
        if pairs.get(Field::SharedAccessKeyName).is_some() {
            return Err(ConnectionStringError::WrongKind {
                key: Field::SharedAccessKeyName.name(),
                expected: ConnectionStringKind::Device,
            });
        }
        let host_name = pairs.require(Field::HostName)?;
        let device_id = pairs.require(Field::DeviceId)?;
        let shared_access_key = pairs.require(Field::SharedAccessKey)?;
        validate_id(Field::DeviceId.name(), device_id)?;
        if let Some(module_id) = pairs.get(Field::ModuleId) {
            validate_id(Field::ModuleId.name(), module_id)?;
        }
        Ok(Self {
            host_name: parse_host_name(Field::HostName, host_name)?,
            device_id: device_id.to_owned(),
            module_id: pairs.get(Field::ModuleId).map(str::to_owned),
            gateway_host_name: pairs
                .get(Field::GatewayHostName)
                .map(|gateway| parse_host_name(Field::GatewayHostName, gateway))
                .transpose()?,
            shared_access_key: SharedAccessKey::from_base64(shared_access_key)?,
        })
    }
}

impl fmt::Display for DeviceConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, REDACTED)
    }
}

fn parse_host_name(field: Field, text: &str) -> Result<HostName, ConnectionStringError> {
    text.parse()
        .map_err(|reason| ConnectionStringError::InvalidHostName {
            key: field.name(),
            reason,
        })
}

/// The connection string keys Lockstep accepts (called `Field` here only because one of
/// them is itself named `SharedAccessKey`). `SharedAccessSignature` and `x509` are recognised separately,
/// only to be refused with a clear message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    HostName,
    SharedAccessKeyName,
    SharedAccessKey,
    DeviceId,
    ModuleId,
    GatewayHostName,
}

impl Field {
    const ALL: [Self; 6] = [
        Self::HostName,
        Self::SharedAccessKeyName,
        Self::SharedAccessKey,
        Self::DeviceId,
        Self::ModuleId,
        Self::GatewayHostName,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::HostName => "HostName",
            Self::SharedAccessKeyName => "SharedAccessKeyName",
            Self::SharedAccessKey => "SharedAccessKey",
            Self::DeviceId => "DeviceId",
            Self::ModuleId => "ModuleId",
            Self::GatewayHostName => "GatewayHostName",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first, kind-independent stage: syntax, known keys, no duplicates, no empty values.
struct Pairs<'a> {
    values: [Option<&'a str>; Field::ALL.len()],
}

impl<'a> Pairs<'a> {
    fn parse(raw: &'a str) -> Result<Self, ConnectionStringError> {
        let trimmed = raw.trim();
        // A trailing `;` is common in strings copied from docs and scripts; one is harmless.
        let body = trimmed.strip_suffix(';').unwrap_or(trimmed);
        if body.is_empty() {
            return Err(ConnectionStringError::Empty);
        }
        let mut pairs = Self {
            values: [None; Field::ALL.len()],
        };
        for (index, part) in body.split(';').enumerate() {
            let (name, value) = part
                .split_once('=')
                .ok_or(ConnectionStringError::NotAPair {
                    position: index + 1,
                })?;
            let field = match name {
                "SharedAccessSignature" => {
                    return Err(ConnectionStringError::Unsupported {
                        key: "SharedAccessSignature",
                    });
                }
                "x509" => return Err(ConnectionStringError::Unsupported { key: "x509" }),
                _ => Field::ALL
                    .into_iter()
                    .find(|field| field.name() == name)
                    .ok_or_else(|| ConnectionStringError::UnknownKey {
                        key: is_showable_name(name).then(|| name.to_owned()),
                    })?,
            };
            let slot = &mut pairs.values[field.index()];
            if slot.is_some() {
                return Err(ConnectionStringError::DuplicateKey { key: field.name() });
            }
            if value.is_empty() {
                return Err(ConnectionStringError::EmptyValue { key: field.name() });
            }
            *slot = Some(value);
        }
        Ok(pairs)
    }

    fn get(&self, field: Field) -> Option<&'a str> {
        self.values[field.index()]
    }

    fn require(&self, field: Field) -> Result<&'a str, ConnectionStringError> {
        self.get(field)
            .ok_or(ConnectionStringError::MissingKey { key: field.name() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes 0x00..=0x1F. Long enough that a leak of any part of it is unmistakable.
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const SERVICE: &str = "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const DEVICE: &str = "HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn service(raw: &str) -> Result<ServiceConnectionString, ConnectionStringError> {
        raw.parse()
    }

    fn device(raw: &str) -> Result<DeviceConnectionString, ConnectionStringError> {
        raw.parse()
    }

    /// Asserts that no rendering of `text` contains the key or a recognisable piece of it.
    fn assert_no_secret(text: &str) {
        assert!(!text.contains(KEY), "key leaked: {text}");
        assert!(!text.contains("AAECAwQF"), "key fragment leaked: {text}");
    }

    #[test]
    fn parses_a_service_connection_string() {
        let cs = service(SERVICE).expect("valid");
        assert_eq!(cs.host_name(), "myhub.azure-devices.net");
        assert_eq!(cs.host(), "myhub.azure-devices.net");
        assert_eq!(cs.port(), None);
        assert_eq!(cs.shared_access_key_name(), "iothubowner");
        assert_eq!(cs.shared_access_key().expose_base64(), KEY);
    }

    #[test]
    fn parses_a_device_connection_string() {
        let cs = device(DEVICE).expect("valid");
        assert_eq!(cs.host_name(), "myhub.azure-devices.net");
        assert_eq!(cs.device_id(), "dev1");
        assert_eq!(cs.module_id(), None);
        assert_eq!(cs.gateway_host_name(), None);
        assert_eq!(cs.resource_uri(), "myhub.azure-devices.net/devices/dev1");
    }

    #[test]
    fn parses_module_and_gateway_keys_in_any_order() {
        let cs = device(&format!(
            "GatewayHostName=edge.local:8883;SharedAccessKey={KEY};ModuleId=mod1;DeviceId=dev1;HostName=myhub.azure-devices.net"
        ))
        .expect("valid");
        assert_eq!(cs.module_id(), Some("mod1"));
        let gateway = cs.gateway_host_name().expect("gateway set");
        assert_eq!(gateway.as_str(), "edge.local:8883");
        assert_eq!(gateway.host(), "edge.local");
        assert_eq!(gateway.port(), Some(8883));
        // The resource URI stays on HostName even behind a gateway.
        assert_eq!(
            cs.resource_uri(),
            "myhub.azure-devices.net/devices/dev1/modules/mod1"
        );
    }

    #[test]
    fn tolerates_surrounding_whitespace_and_one_trailing_semicolon() {
        let cs = service(&format!("  \n{SERVICE};\t\n")).expect("valid");
        assert_eq!(cs.expose_secret_string(), SERVICE);
        assert_eq!(
            service(&format!("{SERVICE};;")),
            Err(ConnectionStringError::NotAPair { position: 4 })
        );
    }

    #[test]
    fn splits_each_pair_at_the_first_equals_sign() {
        // Both the padding of the key and an `=` inside a device id (allowed by IoT Hub).
        let cs = device(&format!(
            "HostName=h.example;DeviceId=a=b;SharedAccessKey={KEY}"
        ))
        .expect("valid");
        assert_eq!(cs.device_id(), "a=b");
        assert_eq!(cs.shared_access_key().expose_base64(), KEY);
    }

    #[test]
    fn host_name_may_carry_a_port() {
        let cs = service(&format!(
            "HostName=localhost:8443;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}"
        ))
        .expect("valid");
        assert_eq!(cs.host_name(), "localhost:8443");
        assert_eq!(cs.host(), "localhost");
        assert_eq!(cs.port(), Some(8443));

        let ipv6: HostName = "[::1]:8443".parse().expect("valid");
        assert_eq!((ipv6.host(), ipv6.port()), ("[::1]", Some(8443)));
        let ipv6: HostName = "[::1]".parse().expect("valid");
        assert_eq!((ipv6.host(), ipv6.port()), ("[::1]", None));
        for ok in ["127.0.0.1:1", "h:65535", "my_hub-1.example"] {
            assert!(ok.parse::<HostName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_host_names() {
        use HostNameError::*;
        for (text, reason) in [
            ("https://myhub.azure-devices.net", HasScheme),
            ("myhub.azure-devices.net/", HasPath),
            ("myhub.azure-devices.net/devices", HasPath),
            (":8443", EmptyHost),
            ("localhost:0", BadPort),
            ("localhost:65536", BadPort),
            ("localhost:+443", BadPort),
            ("localhost:", BadPort),
            ("localhost:008443", BadPort),
            ("localhost:http", BadPort),
            ("my hub", BadCharacter),
            ("a:b:c", BadPort),
            ("[::1", BadCharacter),
            ("[]:1", BadCharacter),
            ("[::1]x", BadCharacter),
        ] {
            assert_eq!(text.parse::<HostName>(), Err(reason), "{text}");
        }
        assert_eq!(
            service(&format!(
                "HostName=https://h;SharedAccessKeyName=p;SharedAccessKey={KEY}"
            )),
            Err(ConnectionStringError::InvalidHostName {
                key: "HostName",
                reason: HasScheme
            })
        );
        assert_eq!(
            device(&format!(
                "HostName=h;DeviceId=d;SharedAccessKey={KEY};GatewayHostName=g:99999"
            )),
            Err(ConnectionStringError::InvalidHostName {
                key: "GatewayHostName",
                reason: BadPort
            })
        );
    }

    #[test]
    fn each_bad_case_has_its_own_error() {
        use ConnectionStringError::*;
        let cases: [(String, ConnectionStringError); 15] = [
            ("".into(), Empty),
            ("  ;  ".into(), Empty),
            ("HostName=h;SharedAccessKeyName=p;garbage".into(), NotAPair { position: 3 }),
            (
                format!("HostName=h;hostname=h;SharedAccessKeyName=p;SharedAccessKey={KEY}"),
                UnknownKey { key: Some("hostname".into()) },
            ),
            (format!("HostName=h;SharedAccessKeyName=p;{KEY}"), UnknownKey { key: None }),
            (
                format!("HostName=h;HostName=h;SharedAccessKeyName=p;SharedAccessKey={KEY}"),
                DuplicateKey { key: "HostName" },
            ),
            (
                format!("HostName=;SharedAccessKeyName=p;SharedAccessKey={KEY}"),
                EmptyValue { key: "HostName" },
            ),
            (
                "HostName=h;SharedAccessKeyName=p;SharedAccessKey=".into(),
                EmptyValue { key: "SharedAccessKey" },
            ),
            (format!("SharedAccessKeyName=p;SharedAccessKey={KEY}"), MissingKey { key: "HostName" }),
            (format!("HostName=h;SharedAccessKey={KEY}"), MissingKey { key: "SharedAccessKeyName" }),
            ("HostName=h;SharedAccessKeyName=p".into(), MissingKey { key: "SharedAccessKey" }),
            (
                "HostName=h;SharedAccessKeyName=p;SharedAccessKey=not-base64!".into(),
                KeyNotBase64,
            ),
            (
                "HostName=h;SharedAccessKeyName=p;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8".into(),
                KeyNotBase64,
            ),
            (
                "HostName=h;SharedAccessKeyName=p;SharedAccessSignature=SharedAccessSignature sr=h&sig=x&se=1".into(),
                Unsupported { key: "SharedAccessSignature" },
            ),
            (format!("HostName=h;DeviceId=d;SharedAccessKeyName=p;SharedAccessKey={KEY}"), WrongKind { key: "DeviceId", expected: ConnectionStringKind::Service }),
        ];
        for (raw, expected) in cases {
            assert_eq!(service(&raw), Err(expected), "{raw}");
        }
    }

    #[test]
    fn device_specific_errors() {
        use ConnectionStringError::*;
        assert_eq!(
            device(SERVICE),
            Err(WrongKind {
                key: "SharedAccessKeyName",
                expected: ConnectionStringKind::Device
            })
        );
        assert_eq!(
            device(&format!("HostName=h;SharedAccessKey={KEY}")),
            Err(MissingKey { key: "DeviceId" })
        );
        assert_eq!(
            device("HostName=h;DeviceId=d;x509=true"),
            Err(Unsupported { key: "x509" })
        );
        assert_eq!(
            device(&format!("HostName=h;DeviceId=d/e;SharedAccessKey={KEY}")),
            Err(InvalidId {
                key: "DeviceId",
                reason: IdError::BadCharacter
            })
        );
        assert_eq!(
            device(&format!(
                "HostName=h;DeviceId=d;ModuleId=m m;SharedAccessKey={KEY}"
            )),
            Err(InvalidId {
                key: "ModuleId",
                reason: IdError::BadCharacter
            })
        );
        let long = "d".repeat(129);
        assert_eq!(
            device(&format!("HostName=h;DeviceId={long};SharedAccessKey={KEY}")),
            Err(InvalidId {
                key: "DeviceId",
                reason: IdError::TooLong
            })
        );
        // Every punctuation mark IoT Hub allows in ids (`;` cannot occur in a value here).
        let odd = "-:.+%_#*?!(),=@$'";
        let cs =
            device(&format!("HostName=h;DeviceId={odd};SharedAccessKey={KEY}")).expect("valid");
        assert_eq!(cs.device_id(), odd);
        // One byte is short for a key, but Azure lets you choose your own keys.
        assert!(device("HostName=h;DeviceId=d;SharedAccessKey=AA==").is_ok());
    }

    #[test]
    fn empty_decoded_key_is_rejected() {
        // `=` alone is not base64, and a zero-length base64 value is an empty value: the
        // decoder's "empty" outcome is reachable only through `from_bytes`, but map it anyway.
        assert_eq!(
            ConnectionStringError::from(KeyError::Empty),
            ConnectionStringError::KeyEmpty
        );
        assert_eq!(
            service("HostName=h;SharedAccessKeyName=p;SharedAccessKey=="),
            Err(ConnectionStringError::KeyNotBase64)
        );
    }

    #[test]
    fn error_messages_name_the_key_and_never_echo_values() {
        let bad_key = "HostName=h;SharedAccessKeyName=p;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        let error = service(bad_key).expect_err("unpadded");
        assert_eq!(error.to_string(), "SharedAccessKey is not valid base64");

        let error = service(&format!(
            "HostName=h;Secret={KEY};SharedAccessKeyName=p;SharedAccessKey={KEY}"
        ))
        .expect_err("unknown key");
        assert_eq!(
            error.to_string(),
            "unknown key 'Secret' (keys are case-sensitive)"
        );

        // A pasted key without its `SharedAccessKey=`: the "key name" is the secret itself.
        let error =
            service(&format!("HostName=h;SharedAccessKeyName=p;{KEY}")).expect_err("no name");
        assert_eq!(
            error.to_string(),
            "unknown key, not shown because it looks like a secret (is a 'Name=' missing?)"
        );
        assert_no_secret(&format!("{error:?}"));

        let error =
            service("HostName=h;SharedAccessKeyName=p;AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
                .expect_err("no =");
        assert_eq!(
            error.to_string(),
            "part 3 of the connection string is not Key=Value"
        );
        assert_no_secret(&format!("{error:?}"));

        let error = service(&format!(
            "HostName=h;SharedAccessKeyName=p;SharedAccessKey={KEY};SharedAccessKey={KEY}"
        ))
        .expect_err("duplicate");
        assert_eq!(error.to_string(), "SharedAccessKey appears more than once");

        let error = device(&format!(
            "HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=h&sig={KEY}&se=1"
        ))
        .expect_err("unsupported");
        assert_eq!(
            error.to_string(),
            "SharedAccessSignature connection strings are not supported by Lockstep; use one with a SharedAccessKey"
        );

        let error = service(&format!(
            "HostName=h:0;SharedAccessKeyName=p;SharedAccessKey={KEY}"
        ))
        .expect_err("port 0");
        assert_eq!(
            error.to_string(),
            "HostName is not a valid host name: the port must be a number from 1 to 65535"
        );

        for error in [
            service(bad_key).expect_err("bad"),
            device(SERVICE).expect_err("bad"),
            service(DEVICE).expect_err("bad"),
        ] {
            assert_no_secret(&error.to_string());
            assert_no_secret(&format!("{error:?}"));
        }
    }

    #[test]
    fn display_and_debug_redact_the_key() {
        let cs = service(SERVICE).expect("valid");
        assert_eq!(
            cs.to_string(),
            "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=***"
        );
        assert_no_secret(&cs.to_string());
        assert_no_secret(&format!("{cs:?}"));
        assert_no_secret(&format!("{cs:#?}"));
        assert!(format!("{cs:?}").contains("SharedAccessKey(***)"));

        let cs = device(&format!(
            "HostName=h:8883;DeviceId=dev1;ModuleId=m;GatewayHostName=g;SharedAccessKey={KEY}"
        ))
        .expect("valid");
        assert_eq!(
            cs.to_string(),
            "HostName=h:8883;DeviceId=dev1;ModuleId=m;SharedAccessKey=***;GatewayHostName=g"
        );
        assert_no_secret(&cs.to_string());
        assert_no_secret(&format!("{cs:?}"));
        assert_no_secret(&format!("{cs:#?}"));
    }

    #[test]
    fn round_trips_through_the_exposed_string() {
        let cs = service(SERVICE).expect("valid");
        assert_eq!(cs.expose_secret_string(), SERVICE);
        assert_eq!(service(&cs.expose_secret_string()), Ok(cs));

        for raw in [
            DEVICE.to_owned(),
            format!(
                "HostName=localhost:8443;DeviceId=d;ModuleId=m;SharedAccessKey={KEY};GatewayHostName=[::1]:8883"
            ),
        ] {
            let cs = device(&raw).expect("valid");
            assert_eq!(cs.expose_secret_string(), raw);
            assert_eq!(device(&cs.expose_secret_string()), Ok(cs));
        }
    }

    #[test]
    fn builds_tokens_from_connection_strings() {
        // §2.3 vectors 1 and 2, reached through the connection strings.
        assert_eq!(
            device(DEVICE)
                .expect("valid")
                .sas_token(1_700_000_000)
                .expose_secret_string(),
            "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&se=1700000000"
        );
        assert_eq!(
            service(SERVICE)
                .expect("valid")
                .sas_token(1_700_000_000)
                .expose_secret_string(),
            "SharedAccessSignature sr=myhub.azure-devices.net&sig=iIzEw6hi6GK79RY5jNXO6QeQkSL/Ax4zTmy44X2G1VY%3D&se=1700000000&skn=iothubowner"
        );
        // §1: with a port, `quote_plus` turns the colon into %3A.
        let local = service(&format!(
            "HostName=localhost:8443;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}"
        ))
        .expect("valid");
        assert!(
            local
                .sas_token(1)
                .expose_secret_string()
                .starts_with("SharedAccessSignature sr=localhost%3A8443&sig=")
        );
    }
}
