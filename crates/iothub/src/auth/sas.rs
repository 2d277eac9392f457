//! Shared access signature (SAS) tokens: generate, parse, verify.
//!
//! ```text
//! SharedAccessSignature sr={encoded resource URI}&sig={encoded signature}&se={expiry}[&skn={policy}]
//! signature = base64(HMAC-SHA256(key, "{sr exactly as sent}\n{se}"))
//! ```
//!
//! Generation is byte-exact with the Python SDKs, because the hub (and our local hub) signs
//! over the `sr` text as sent, and tests compare whole tokens:
//! - device SDK: `sr = quote(uri, safe="")`, `sig = quote(base64, safe="")`, no `skn`;
//! - service SDK: `sr = quote_plus(host_name)`, `sig = quote(base64)` (keeps `/` literal),
//!   then `&skn=`.
//!
//! Nothing here reads a clock: expiry and "now" are unix seconds passed in by the caller.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use subtle::ConstantTimeEq;

use super::key::{REDACTED, SharedAccessKey, is_showable_name};

/// What every SAS token starts with (one space included), in headers and MQTT passwords.
const PREFIX: &str = "SharedAccessSignature ";

/// Python's `quote(s, safe="")`: everything but the unreserved `A-Za-z0-9-._~` is escaped.
const QUOTE_ALL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Python's `quote(s)` with its default `safe="/"`.
const QUOTE_KEEP_SLASH: &AsciiSet = &QUOTE_ALL.remove(b'/');

/// A SAS token: the credential in an `Authorization` header or an MQTT password.
///
/// Holds each field as it is (or will be) sent, plus decoded forms for checking. `Debug`
/// prints the signature as `***`, and there is deliberately no `Display`: the token is a
/// bearer credential for up to its lifetime, so turning it into text is spelled
/// [`SasToken::expose_secret_string`].
#[derive(Clone)]
pub struct SasToken {
    /// `sr` as sent (percent-encoded): the exact bytes the signature covers.
    encoded_resource_uri: String,
    /// `sr` percent-decoded: what scope checks compare.
    resource_uri: String,
    /// `sig` as sent (percent-encoded, in whichever style the signer chose).
    encoded_signature: String,
    /// `sig` percent-decoded: plain base64.
    signature: String,
    /// `se` as sent: signed as text, so kept as text.
    expiry_text: String,
    expiry: u64,
    /// `skn` as sent; `None` for a token signed with a device's own key.
    key_name: Option<String>,
}

/// Why a SAS token could not be parsed or was not accepted.
///
/// Never carries the signature or the key; the resource URIs it may name are not secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SasError {
    /// The text is not a SAS token.
    #[error("malformed SAS token: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: Malformation,
    },
    /// The signature is valid but `se` is not after `now`.
    #[error("SAS token expired at {expiry} (now {now})")]
    Expired {
        /// The token's `se`, unix seconds.
        expiry: u64,
        /// The time it was checked against, unix seconds.
        now: u64,
    },
    /// The signature does not match the key (wrong key, or `sr`/`se` changed after signing).
    #[error("SAS token signature does not match")]
    BadSignature,
    /// The token is genuine but for a resource that does not cover the one asked for.
    #[error("SAS token for '{scope}' does not grant access to '{resource}'")]
    OutOfScope {
        /// The token's decoded `sr`.
        scope: String,
        /// The resource that was requested.
        resource: String,
    },
}

impl From<Malformation> for SasError {
    fn from(reason: Malformation) -> Self {
        Self::Malformed { reason }
    }
}

/// The ways a SAS token's text can be malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformation {
    /// No `SharedAccessSignature ` prefix (case and the single space matter).
    #[error("it does not start with 'SharedAccessSignature '")]
    MissingPrefix,
    /// An `&`-separated part without `=` (not shown: it may be part of a signature).
    #[error("part {position} is not name=value")]
    NotAField {
        /// 1-based position of the part after the prefix.
        position: usize,
    },
    /// A field other than `sr`, `sig`, `se`, `skn`: its name, or `None` when the name is
    /// withheld because it looks like a signature that lost its `sig=`.
    #[error("{}", unknown_field_message(.0.as_deref()))]
    UnknownField(Option<String>),
    /// The same field twice: which one would the hub trust?
    #[error("field '{0}' appears more than once")]
    DuplicateField(&'static str),
    /// One of `sr`, `sig`, `se` is absent.
    #[error("field '{0}' is missing")]
    MissingField(&'static str),
    /// `sr=`, `sig=` or `se=` with no value.
    #[error("field '{0}' is empty")]
    EmptyField(&'static str),
    /// `sr` does not percent-decode to UTF-8.
    #[error("field '{0}' is not percent-encoded UTF-8")]
    BadEncoding(&'static str),
    /// `se` is not a decimal number of seconds that fits in 64 bits.
    #[error("field 'se' is not a whole number of seconds")]
    BadExpiry,
    /// `sig` does not percent-decode to standard padded base64.
    #[error("field 'sig' is not valid base64")]
    SignatureNotBase64,
}

fn unknown_field_message(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("unknown field '{name}'"),
        None => "unknown field, not shown because it looks like a signature".to_owned(),
    }
}

impl SasToken {
    /// A token signed with a device's (or module's) own key, encoded as the Python device SDK
    /// does. `resource_uri` is unencoded, e.g. `myhub.azure-devices.net/devices/dev1`;
    /// `expiry` is unix seconds.
    pub fn for_device(resource_uri: &str, key: &SharedAccessKey, expiry: u64) -> Self {
        let encoded_resource_uri = utf8_percent_encode(resource_uri, QUOTE_ALL).to_string();
        Self::sign(
            resource_uri,
            encoded_resource_uri,
            key,
            expiry,
            QUOTE_ALL,
            None,
        )
    }

    /// A hub-scoped token signed with a shared access policy's key, encoded as the Python
    /// service SDK does. `host_name` is the connection string's `HostName` (with a port, if
    /// it has one); `expiry` is unix seconds.
    pub fn for_service(
        host_name: &str,
        key_name: &str,
        key: &SharedAccessKey,
        expiry: u64,
    ) -> Self {
        Self::sign(
            host_name,
            quote_plus(host_name),
            key,
            expiry,
            QUOTE_KEEP_SLASH,
            // Sent as-is: the service SDK does not encode the policy name either.
            Some(key_name.to_owned()),
        )
    }

    fn sign(
        resource_uri: &str,
        encoded_resource_uri: String,
        key: &SharedAccessKey,
        expiry: u64,
        signature_encoding: &'static AsciiSet,
        key_name: Option<String>,
    ) -> Self {
        let expiry_text = expiry.to_string();
        let signature = key.sign(&string_to_sign(&encoded_resource_uri, &expiry_text));
        Self {
            encoded_signature: utf8_percent_encode(&signature, signature_encoding).to_string(),
            signature,
            resource_uri: resource_uri.to_owned(),
            encoded_resource_uri,
            expiry_text,
            expiry,
            key_name,
        }
    }

    /// The resource the token is scoped to, percent-decoded
    /// (e.g. `myhub.azure-devices.net/devices/dev1`).
    pub fn resource_uri(&self) -> &str {
        &self.resource_uri
    }

    /// `sr` as sent, still percent-encoded: the text the signature covers.
    pub fn encoded_resource_uri(&self) -> &str {
        &self.encoded_resource_uri
    }

    /// `se`: when the token stops being valid, unix seconds.
    pub fn expiry(&self) -> u64 {
        self.expiry
    }

    /// `skn`: the shared access policy that signed the token; `None` for device-key tokens.
    pub fn key_name(&self) -> Option<&str> {
        self.key_name.as_deref()
    }

    /// The whole token, signature included, for an `Authorization` header or MQTT password.
    ///
    /// Fields come out in the order the Python SDKs write them (`sr`, `sig`, `se`, `skn`),
    /// each exactly as generated or received; a parsed token with another field order is
    /// therefore re-ordered, which changes nothing the signature covers.
    pub fn expose_secret_string(&self) -> String {
        let mut token = format!(
            "{PREFIX}sr={}&sig={}&se={}",
            self.encoded_resource_uri, self.encoded_signature, self.expiry_text
        );
        if let Some(key_name) = &self.key_name {
            token.push_str("&skn=");
            token.push_str(key_name);
        }
        token
    }

    /// Checks the token as a hub would before letting it at `resource_uri` (unencoded, e.g.
    /// `myhub.azure-devices.net/devices/dev1`): signed with `key`, not expired at `now` (unix
    /// seconds; expired when `se <= now`), and scoped to cover the resource.
    ///
    /// The signature is checked first, so that a forged token learns nothing else.
    pub fn verify(
        &self,
        key: &SharedAccessKey,
        resource_uri: &str,
        now: u64,
    ) -> Result<(), SasError> {
        // Every SDK signs exactly the `sr` text it sends, whatever its escaping style, so the
        // HMAC runs over the encoded form as received, never over a re-encoding.
        let expected = key.sign(&string_to_sign(
            &self.encoded_resource_uri,
            &self.expiry_text,
        ));
        // Constant time: a byte-by-byte early exit would let a client find a valid signature
        // for a chosen `sr` by timing.
        if !bool::from(self.signature.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(SasError::BadSignature);
        }
        if self.expiry <= now {
            return Err(SasError::Expired {
                expiry: self.expiry,
                now,
            });
        }
        if !self.covers(resource_uri) {
            return Err(SasError::OutOfScope {
                scope: self.resource_uri.clone(),
                resource: resource_uri.to_owned(),
            });
        }
        Ok(())
    }

    /// Whether the token's scope covers `resource_uri` (see [`scope_covers`]).
    pub fn covers(&self, resource_uri: &str) -> bool {
        scope_covers(&self.resource_uri, resource_uri)
    }
}

/// Whether a token scoped to `scope` may act on `resource` (both unencoded resource URIs).
///
/// The host names compare case-insensitively (DNS names are); the path compares by whole
/// `/`-separated segments and case-sensitively (device ids are case-sensitive), so
/// `hub/devices/a` covers `hub/devices/a/modules/m` but not `hub/devices/ab`, and a bare
/// `hub` covers everything on that hub. One trailing `/` on either side is ignored.
pub fn scope_covers(scope: &str, resource: &str) -> bool {
    let scope = scope.strip_suffix('/').unwrap_or(scope);
    let resource = resource.strip_suffix('/').unwrap_or(resource);
    let (scope_host, scope_path) = split_host(scope);
    let (resource_host, resource_path) = split_host(resource);
    if !scope_host.eq_ignore_ascii_case(resource_host) {
        return false;
    }
    match scope_path {
        None => true,
        Some(scope_path) => resource_path.is_some_and(|resource_path| {
            let mut resource_segments = resource_path.split('/');
            scope_path
                .split('/')
                .all(|segment| resource_segments.next() == Some(segment))
        }),
    }
}

fn split_host(uri: &str) -> (&str, Option<&str>) {
    match uri.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (uri, None),
    }
}

fn string_to_sign(encoded_resource_uri: &str, expiry_text: &str) -> String {
    format!("{encoded_resource_uri}\n{expiry_text}")
}

/// Python's `quote_plus(s)`: like `quote(s, safe="")` but a space becomes `+`.
fn quote_plus(text: &str) -> String {
    text.split(' ')
        .map(|piece| utf8_percent_encode(piece, QUOTE_ALL).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// Percent-decodes without turning `+` into a space: `+` is a base64 character in `sig`, and
/// no SDK form-encodes a token.
fn percent_decode(field: &'static str, text: &str) -> Result<String, Malformation> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Malformation::BadEncoding(field))
}

impl FromStr for SasToken {
    type Err = SasError;

    /// Parses a token the way the device SDK does (`get_sastoken_info_from_string`): after the
    /// prefix, `&`-separated fields in any order, each split at the first `=`; `sr`, `sig` and
    /// `se` required, `skn` optional, anything else rejected.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let body = text
            .strip_prefix(PREFIX)
            .ok_or(Malformation::MissingPrefix)?;
        let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
        for (index, part) in body.split('&').enumerate() {
            let (name, value) = part.split_once('=').ok_or(Malformation::NotAField {
                position: index + 1,
            })?;
            let (name, slot): (&'static str, _) = match name {
                "sr" => ("sr", &mut sr),
                "sig" => ("sig", &mut sig),
                "se" => ("se", &mut se),
                "skn" => ("skn", &mut skn),
                other => {
                    let shown = is_showable_name(other).then(|| other.to_owned());
                    return Err(Malformation::UnknownField(shown).into());
                }
            };
            if slot.is_some() {
                return Err(Malformation::DuplicateField(name).into());
            }
            *slot = Some(value);
        }

        let required = |name: &'static str, value: Option<&'_ str>| match value {
            None => Err(Malformation::MissingField(name)),
            Some("") => Err(Malformation::EmptyField(name)),
            Some(value) => Ok(value.to_owned()),
        };
        let encoded_resource_uri = required("sr", sr)?;
        let encoded_signature = required("sig", sig)?;
        let expiry_text = required("se", se)?;

        // Digits only: `u64::from_str` would also take a leading `+`.
        if !expiry_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformation::BadExpiry.into());
        }
        let expiry = expiry_text
            .parse::<u64>()
            .map_err(|_| Malformation::BadExpiry)?;

        let resource_uri = percent_decode("sr", &encoded_resource_uri)?;
        // Service-SDK tokens leave `/` literal, device-SDK tokens send `%2F`; decoding first
        // accepts both, and the base64 check rejects garbage before any HMAC is computed.
        let signature = percent_decode("sig", &encoded_signature)
            .map_err(|_| Malformation::SignatureNotBase64)?;
        if STANDARD.decode(&signature).is_err() {
            return Err(Malformation::SignatureNotBase64.into());
        }

        Ok(Self {
            encoded_resource_uri,
            resource_uri,
            encoded_signature,
            signature,
            expiry_text,
            expiry,
            // An empty `skn=` is what old Java device SDKs sent for device-key tokens: it
            // means "no policy".
            key_name: skn.filter(|name| !name.is_empty()).map(str::to_owned),
        })
    }
}

impl fmt::Debug for SasToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasToken")
            .field("resource_uri", &self.resource_uri)
            .field("signature", &REDACTED)
            .field("expiry", &self.expiry)
            .field("key_name", &self.key_name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §2.3: base64 of the bytes 0x00..=0x1F, and the common expiry.
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const SE: u64 = 1_700_000_000;

    const DEVICE_TOKEN: &str = "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&se=1700000000";
    const SERVICE_TOKEN: &str = "SharedAccessSignature sr=myhub.azure-devices.net&sig=iIzEw6hi6GK79RY5jNXO6QeQkSL/Ax4zTmy44X2G1VY%3D&se=1700000000&skn=iothubowner";
    const SERVICE_TOKEN_ESCAPED: &str = "SharedAccessSignature sr=myhub.azure-devices.net&sig=iIzEw6hi6GK79RY5jNXO6QeQkSL%2FAx4zTmy44X2G1VY%3D&se=1700000000&skn=iothubowner";
    const MODULE_TOKEN: &str = "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1&sig=kA6xjFLkZvk4Cdh0nD8uWAzassq6PB47f7BepMMtmlY%3D&se=1700000000";

    const HUB: &str = "myhub.azure-devices.net";
    const DEV1: &str = "myhub.azure-devices.net/devices/dev1";
    const MOD1: &str = "myhub.azure-devices.net/devices/dev1/modules/mod1";

    fn key() -> SharedAccessKey {
        SharedAccessKey::from_base64(KEY).expect("valid key")
    }

    fn parse(text: &str) -> Result<SasToken, SasError> {
        text.parse()
    }

    fn malformed(reason: Malformation) -> Result<SasToken, SasError> {
        Err(SasError::Malformed { reason })
    }

    #[test]
    fn vector_1_device_token() {
        let token = SasToken::for_device(DEV1, &key(), SE);
        assert_eq!(
            token.encoded_resource_uri(),
            "myhub.azure-devices.net%2Fdevices%2Fdev1"
        );
        assert_eq!(
            token.signature,
            "i+YmMcSSZc4KzBi6ejz3l0iL+2sN0CE3q6vSm837h2g="
        );
        assert_eq!(token.expose_secret_string(), DEVICE_TOKEN);
        assert_eq!(token.key_name(), None);
    }

    #[test]
    fn vector_2_service_token() {
        let token = SasToken::for_service(HUB, "iothubowner", &key(), SE);
        assert_eq!(
            token.signature,
            "iIzEw6hi6GK79RY5jNXO6QeQkSL/Ax4zTmy44X2G1VY="
        );
        assert_eq!(token.expose_secret_string(), SERVICE_TOKEN);
        assert_eq!(token.key_name(), Some("iothubowner"));
    }

    #[test]
    fn vector_3_module_token() {
        let token = SasToken::for_device(MOD1, &key(), SE);
        assert_eq!(
            token.signature,
            "kA6xjFLkZvk4Cdh0nD8uWAzassq6PB47f7BepMMtmlY="
        );
        assert_eq!(token.expose_secret_string(), MODULE_TOKEN);
    }

    #[test]
    fn encodes_like_python_quote_and_quote_plus() {
        // §1: a port's colon is escaped in the service `sr`.
        let token = SasToken::for_service("localhost:8443", "p", &key(), SE);
        assert_eq!(token.encoded_resource_uri(), "localhost%3A8443");
        assert_eq!(quote_plus("a b/c~d"), "a+b%2Fc~d");
        // Device ids may hold characters that `quote(safe="")` must escape.
        let token = SasToken::for_device("h/devices/a+b%c#d", &key(), SE);
        assert_eq!(token.encoded_resource_uri(), "h%2Fdevices%2Fa%2Bb%25c%23d");
        assert_eq!(token.resource_uri(), "h/devices/a+b%c#d");
        let parsed = parse(&token.expose_secret_string()).expect("parses");
        assert_eq!(parsed.resource_uri(), "h/devices/a+b%c#d");
        assert_eq!(parsed.verify(&key(), "h/devices/a+b%c#d", 0), Ok(()));
    }

    #[test]
    fn parses_the_vectors() {
        let token = parse(SERVICE_TOKEN).expect("parses");
        assert_eq!(token.resource_uri(), HUB);
        assert_eq!(token.expiry(), SE);
        assert_eq!(token.key_name(), Some("iothubowner"));
        assert_eq!(token.expose_secret_string(), SERVICE_TOKEN);

        let token = parse(MODULE_TOKEN).expect("parses");
        assert_eq!(token.resource_uri(), MOD1);
        assert_eq!(
            token.encoded_resource_uri(),
            "myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1"
        );
        assert_eq!(token.key_name(), None);
        assert_eq!(token.expose_secret_string(), MODULE_TOKEN);
    }

    #[test]
    fn field_order_is_free() {
        let token = parse(
            "SharedAccessSignature skn=iothubowner&se=1700000000&sig=iIzEw6hi6GK79RY5jNXO6QeQkSL/Ax4zTmy44X2G1VY%3D&sr=myhub.azure-devices.net",
        )
        .expect("parses");
        assert_eq!(token.verify(&key(), HUB, SE - 1), Ok(()));
        assert_eq!(token.expose_secret_string(), SERVICE_TOKEN);
    }

    #[test]
    fn verifies_both_signature_escapings() {
        for text in [SERVICE_TOKEN, SERVICE_TOKEN_ESCAPED] {
            let token = parse(text).expect("parses");
            assert_eq!(token.verify(&key(), HUB, SE - 1), Ok(()), "{text}");
            assert_eq!(
                token.verify(&key(), DEV1, SE - 1),
                Ok(()),
                "hub scope covers devices"
            );
        }
        // Unescaped `+` and `=` in `sig` are still base64 once "decoded" (no `+` → space).
        let raw = DEVICE_TOKEN.replace("%2B", "+").replace("%3D&se", "=&se");
        assert_eq!(parse(&raw).expect("parses").verify(&key(), DEV1, 0), Ok(()));
        // Lowercase hex in `sig` decodes to the same base64.
        let lower = DEVICE_TOKEN.replace("%2B", "%2b");
        assert_eq!(
            parse(&lower).expect("parses").verify(&key(), DEV1, 0),
            Ok(())
        );
    }

    #[test]
    fn signs_over_sr_exactly_as_sent() {
        // A client that escapes with lowercase hex signs that text; so must the verifier.
        let encoded = "myhub.azure-devices.net%2fdevices%2fdev1";
        let sig = key().sign(&format!("{encoded}\n{SE}"));
        let text = format!(
            "SharedAccessSignature sr={encoded}&sig={}&se={SE}",
            utf8_percent_encode(&sig, QUOTE_ALL)
        );
        let token = parse(&text).expect("parses");
        assert_eq!(token.resource_uri(), DEV1);
        assert_eq!(token.verify(&key(), DEV1, 0), Ok(()));
        // The uppercase re-encoding is different text, so the same signature fails on it.
        let reencoded = text.replace("%2f", "%2F");
        assert_eq!(
            parse(&reencoded).expect("parses").verify(&key(), DEV1, 0),
            Err(SasError::BadSignature)
        );
    }

    #[test]
    fn rejects_a_tampered_signature() {
        let tampered = DEVICE_TOKEN.replace("sig=i%2BYm", "sig=j%2BYm");
        assert_eq!(
            parse(&tampered).expect("parses").verify(&key(), DEV1, 0),
            Err(SasError::BadSignature)
        );
        let other_key = SharedAccessKey::from_bytes([7u8; 32]).expect("non-empty");
        assert_eq!(
            parse(DEVICE_TOKEN)
                .expect("parses")
                .verify(&other_key, DEV1, 0),
            Err(SasError::BadSignature)
        );
    }

    #[test]
    fn rejects_a_tampered_resource_or_expiry() {
        // Widening the scope from a device to the whole hub breaks the signature.
        let widened = DEVICE_TOKEN.replace("%2Fdevices%2Fdev1&", "&");
        let token = parse(&widened).expect("parses");
        assert_eq!(token.resource_uri(), HUB);
        assert_eq!(token.verify(&key(), DEV1, 0), Err(SasError::BadSignature));
        // So does pushing the expiry out.
        let extended = DEVICE_TOKEN.replace("se=1700000000", "se=1800000000");
        assert_eq!(
            parse(&extended).expect("parses").verify(&key(), DEV1, 0),
            Err(SasError::BadSignature)
        );
    }

    #[test]
    fn rejects_an_expired_token() {
        let token = parse(DEVICE_TOKEN).expect("parses");
        assert_eq!(token.verify(&key(), DEV1, SE - 1), Ok(()));
        // Expired the moment `se` is reached, not a second later.
        assert_eq!(
            token.verify(&key(), DEV1, SE),
            Err(SasError::Expired {
                expiry: SE,
                now: SE
            })
        );
        assert_eq!(
            token.verify(&key(), DEV1, SE + 3600),
            Err(SasError::Expired {
                expiry: SE,
                now: SE + 3600
            })
        );
    }

    #[test]
    fn rejects_a_resource_outside_the_scope() {
        let token = parse(DEVICE_TOKEN).expect("parses");
        let dev10 = "myhub.azure-devices.net/devices/dev10";
        assert_eq!(
            token.verify(&key(), dev10, 0),
            Err(SasError::OutOfScope {
                scope: DEV1.into(),
                resource: dev10.into()
            })
        );
        assert!(!token.covers(HUB), "a device token does not cover the hub");
        assert!(!token.covers("otherhub.azure-devices.net/devices/dev1"));
        assert!(token.covers(MOD1));
        // A module token does not cover its device or a sibling module.
        let module = parse(MODULE_TOKEN).expect("parses");
        assert!(!module.covers(DEV1));
        assert!(!module.covers("myhub.azure-devices.net/devices/dev1/modules/mod10"));
    }

    #[test]
    fn scope_is_a_segment_prefix() {
        assert!(scope_covers("host/devices/a", "host/devices/a"));
        assert!(scope_covers("host/devices/a", "host/devices/a/modules/m"));
        assert!(!scope_covers("host/devices/a", "host/devices/ab"));
        assert!(!scope_covers("host/devices/ab", "host/devices/a"));
        assert!(scope_covers("host", "host/devices/a"));
        assert!(!scope_covers("host", "hostile/devices/a"));
        assert!(scope_covers(
            "MyHub.Azure-Devices.net",
            "myhub.azure-devices.net/devices/a"
        ));
        assert!(
            !scope_covers("host/devices/A", "host/devices/a"),
            "ids are case-sensitive"
        );
        assert!(scope_covers("host/devices/a/", "host/devices/a/modules/m"));
        assert!(scope_covers("host:8443/devices/a", "host:8443/devices/a"));
        assert!(!scope_covers("host:8443", "host:8444/devices/a"));
    }

    #[test]
    fn rejects_malformed_tokens() {
        use Malformation::*;
        let sig = "sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D";
        let cases = [
            (
                DEVICE_TOKEN.replace("SharedAccessSignature ", ""),
                MissingPrefix,
            ),
            (
                DEVICE_TOKEN.replace("SharedAccessSignature ", "sharedaccesssignature "),
                MissingPrefix,
            ),
            (
                DEVICE_TOKEN.replace("SharedAccessSignature ", "SharedAccessSignature  "),
                UnknownField(None),
            ),
            (
                format!("SharedAccessSignature sr=h&{sig}"),
                MissingField("se"),
            ),
            (
                format!("SharedAccessSignature {sig}&se=1"),
                MissingField("sr"),
            ),
            (
                "SharedAccessSignature sr=h&se=1".into(),
                MissingField("sig"),
            ),
            (
                format!("SharedAccessSignature sr=&{sig}&se=1"),
                EmptyField("sr"),
            ),
            (
                "SharedAccessSignature sr=h&sig=&se=1".into(),
                EmptyField("sig"),
            ),
            (
                format!("SharedAccessSignature sr=h&{sig}&se="),
                EmptyField("se"),
            ),
            (
                format!("SharedAccessSignature sr=h&{sig}&se=1&foo=bar"),
                UnknownField(Some("foo".into())),
            ),
            (
                format!("SharedAccessSignature sr=h&{sig}&se=1&SR=h"),
                UnknownField(Some("SR".into())),
            ),
            (
                format!("SharedAccessSignature sr=h&sr=h&{sig}&se=1"),
                DuplicateField("sr"),
            ),
            (
                format!("SharedAccessSignature sr=h&{sig}&se=1&skn=a&skn=b"),
                DuplicateField("skn"),
            ),
            (
                format!("SharedAccessSignature sr=h&{sig}&se=1&"),
                NotAField { position: 4 },
            ),
            (format!("SharedAccessSignature sr=h&{sig}&se=+1"), BadExpiry),
            (
                format!("SharedAccessSignature sr=h&{sig}&se=1.5"),
                BadExpiry,
            ),
            (
                format!("SharedAccessSignature sr=h&{sig}&se=18446744073709551616"),
                BadExpiry,
            ),
            (
                "SharedAccessSignature sr=h&sig=not*base64&se=1".into(),
                SignatureNotBase64,
            ),
            (
                "SharedAccessSignature sr=h&sig=i%2BYm%3D%3D%3D&se=1".into(),
                SignatureNotBase64,
            ),
            (
                "SharedAccessSignature sr=h&sig=%FF%FE&se=1".into(),
                SignatureNotBase64,
            ),
            (
                format!("SharedAccessSignature sr=h%FF&{sig}&se=1"),
                BadEncoding("sr"),
            ),
        ];
        for (text, reason) in cases {
            assert_eq!(
                parse(&text).map(|_| ()),
                malformed(reason).map(|_| ()),
                "{text}"
            );
        }
    }

    #[test]
    fn empty_skn_means_no_policy() {
        let text = DEVICE_TOKEN.replace("&se=", "&skn=&se=");
        let token = parse(&text).expect("parses");
        assert_eq!(token.key_name(), None);
        assert_eq!(token.verify(&key(), DEV1, 0), Ok(()));
    }

    #[test]
    fn debug_and_errors_never_show_the_signature() {
        for text in [DEVICE_TOKEN, SERVICE_TOKEN] {
            let token = parse(text).expect("parses");
            let debug = format!("{token:?} {token:#?}");
            assert!(debug.contains("\"***\""), "{debug}");
            for secret in ["i%2BYmMc", "i+YmMc", "iIzEw6hi", KEY] {
                assert!(!debug.contains(secret), "{debug}");
            }
        }
        assert_eq!(
            format!("{:?}", parse(SERVICE_TOKEN).expect("parses")),
            "SasToken { resource_uri: \"myhub.azure-devices.net\", signature: \"***\", expiry: 1700000000, key_name: Some(\"iothubowner\") }"
        );

        let token = parse(DEVICE_TOKEN).expect("parses");
        let other_key = SharedAccessKey::from_bytes([7u8; 32]).expect("non-empty");
        let errors = [
            token
                .verify(&other_key, DEV1, 0)
                .expect_err("bad signature"),
            token.verify(&key(), DEV1, SE).expect_err("expired"),
            token
                .verify(&key(), "myhub.azure-devices.net/devices/dev10", 0)
                .expect_err("out of scope"),
            parse(&DEVICE_TOKEN.replace("&se=", "&x=1&se=")).expect_err("unknown field"),
            parse(&DEVICE_TOKEN.replace("sig=", "")).expect_err("not a field"),
            // `sig=` lost in front of an unescaped signature: the name is the signature.
            parse(&format!(
                "SharedAccessSignature sr={HUB}&iIzEw6hi6GK79RY5jNXO6QeQkSL/Ax4zTmy44X2G1VY=&se=1"
            ))
            .expect_err("unknown field"),
        ];
        for error in errors {
            let text = format!("{error} {error:?}");
            for secret in ["i%2BYmMc", "i+YmMc", "YmMcSSZc4K", "iIzEw6hi", KEY] {
                assert!(!text.contains(secret), "{text}");
            }
        }
        assert_eq!(
            token
                .verify(&key(), DEV1, SE)
                .expect_err("expired")
                .to_string(),
            "SAS token expired at 1700000000 (now 1700000000)"
        );
        assert_eq!(
            token
                .verify(&key(), "myhub.azure-devices.net/devices/dev10", 0)
                .expect_err("scope")
                .to_string(),
            "SAS token for 'myhub.azure-devices.net/devices/dev1' does not grant access to 'myhub.azure-devices.net/devices/dev10'"
        );
    }
}
