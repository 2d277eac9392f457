//! The shared access key: the symmetric secret behind every SAS token.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What `Debug` and `Display` print in place of a secret.
pub(crate) const REDACTED: &str = "***";

/// Whether an unrecognised field name may be echoed in an error message.
///
/// A name is normally harmless, but when a `Name=` is missing in front of a secret, the parser
/// sees the secret itself (up to its padding `=`) as the name: a base64 key or signature. Those
/// are long and mix in digits, `+` and `/`; the names people actually mistype (`Hostname`,
/// `Endpoint`, `DeviceID`) are short and alphabetic.
pub(crate) fn is_showable_name(name: &str) -> bool {
    name.len() <= 24
        && name
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-')
}

/// A decoded shared access key (a device's own key or a policy key).
///
/// Azure hands keys out as standard, padded base64 (32 random bytes for generated keys); this
/// type holds the decoded bytes, which is what HMAC-SHA256 is keyed with. `Debug` and
/// `Display` print `***`, so a key can sit in any struct that derives `Debug` without leaking
/// into logs; [`SharedAccessKey::expose_base64`] is the one explicit way back to the secret.
/// Equality is constant-time.
#[derive(Clone)]
pub struct SharedAccessKey(Vec<u8>);

/// Why text or bytes are not a usable shared access key. Never carries the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not standard base64 with canonical padding.
    #[error("the shared access key is not valid base64")]
    NotBase64,
    /// The key has no bytes: HMAC would "work", but nothing would be secret.
    #[error("the shared access key is empty")]
    Empty,
}

impl SharedAccessKey {
    /// Decodes a key as Azure prints it: standard alphabet (`+`, `/`), `=` padding required.
    ///
    /// Strict on purpose: the URL-safe alphabet, missing padding or stray whitespace are the
    /// signs of a key that was mangled in a copy, and every Azure SDK would sign with
    /// different bytes (or fail) on it. Canonical decoding also makes
    /// [`SharedAccessKey::expose_base64`] give back exactly the text that was parsed.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD.decode(text).map_err(|_| KeyError::NotBase64)?;
        Self::from_bytes(bytes)
    }

    /// Wraps raw key bytes, e.g. freshly generated random ones.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self(bytes))
    }

    /// The key as standard padded base64, the form connection strings and the registry use.
    ///
    /// Named `expose_…` so that every place that lets the secret out is easy to find.
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    /// The base64 HMAC-SHA256 of `string_to_sign` under this key: the raw (not yet
    /// URL-encoded) `sig` of a SAS token.
    pub fn sign(&self, string_to_sign: &str) -> String {
        STANDARD.encode(self.mac(string_to_sign.as_bytes()))
    }

    fn mac(&self, message: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length (long ones are hashed first), so this cannot fail;
        // the constructor is fallible only because `KeyInit` is shared with fixed-size MACs.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

impl PartialEq for SharedAccessKey {
    fn eq(&self, other: &Self) -> bool {
        // Keys are compared when a hub matches a presented key against stored ones; do it
        // without an early exit so timing reveals nothing about the bytes.
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SharedAccessKey {}

impl fmt::Debug for SharedAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedAccessKey({REDACTED})")
    }
}

impl fmt::Display for SharedAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes 0x00..=0x1F, the key of the protocol reference's test vectors.
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn decodes_and_reencodes_the_same_text() {
        let key = SharedAccessKey::from_base64(KEY).expect("valid key");
        assert_eq!(key.0, (0u8..32).collect::<Vec<_>>());
        assert_eq!(key.expose_base64(), KEY);
    }

    #[test]
    fn rejects_what_is_not_standard_padded_base64() {
        for bad in [
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", // padding missing
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==", // too much padding
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-=", // URL-safe alphabet
            " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", // whitespace
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", // non-canonical trailing bits
            "not base64!",
        ] {
            assert_eq!(
                SharedAccessKey::from_base64(bad),
                Err(KeyError::NotBase64),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_an_empty_key() {
        assert_eq!(SharedAccessKey::from_base64(""), Err(KeyError::Empty));
        assert_eq!(
            SharedAccessKey::from_bytes(Vec::new()),
            Err(KeyError::Empty)
        );
    }

    #[test]
    fn debug_and_display_redact() {
        let key = SharedAccessKey::from_base64(KEY).expect("valid key");
        assert_eq!(format!("{key:?}"), "SharedAccessKey(***)");
        assert_eq!(key.to_string(), "***");
        assert!(!format!("{key:?} {key} {key:#?}").contains("AAEC"));
    }

    #[test]
    fn signs_like_the_reference() {
        // §2.3 vector 2: the service token's string to sign and raw signature.
        let key = SharedAccessKey::from_base64(KEY).expect("valid key");
        assert_eq!(
            key.sign("myhub.azure-devices.net\n1700000000"),
            "iIzEw6hi6GK79RY5jNXO6QeQkSL/Ax4zTmy44X2G1VY="
        );
    }

    #[test]
    fn only_short_alphabetic_names_are_shown() {
        for name in [
            "Hostname",
            "hostname",
            "Endpoint",
            "DeviceID",
            "Shared_Access-Key",
            "",
        ] {
            assert!(is_showable_name(name), "{name}");
        }
        for name in [
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", // a key missing `SharedAccessKey=`
            "i+YmMcSSZc4KzBi6ejz3l0iL+2sN0CE3q6vSm837h2g", // a signature missing `sig=`
            "abcdefghijklmnopqrstuvwxy",                   // too long to be a mistyped name
            "Key1",
        ] {
            assert!(!is_showable_name(name), "{name}");
        }
    }

    #[test]
    fn equality_compares_bytes() {
        let a = SharedAccessKey::from_base64(KEY).expect("valid key");
        let b = SharedAccessKey::from_bytes((0u8..32).collect::<Vec<_>>()).expect("non-empty");
        let c = SharedAccessKey::from_bytes([1u8; 32]).expect("non-empty");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
