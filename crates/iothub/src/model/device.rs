//! Device identities (`/devices/{id}`): the registry entry, its authentication and the enums
//! it shares with twins.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::time::HubTime;
use crate::auth::{KeyError, SharedAccessKey};

wire_enum! {
    /// A device's `status`: whether it may connect.
    pub enum DeviceStatus {
        /// `enabled`.
        Enabled = "enabled",
        /// `disabled`: connections are refused.
        Disabled = "disabled",
    }
}

wire_enum! {
    /// A device's `connectionState` (capitalised on the wire, unlike most values).
    pub enum ConnectionState {
        /// `Disconnected`.
        Disconnected = "Disconnected",
        /// `Connected`.
        Connected = "Connected",
    }
}

wire_enum! {
    /// How a device authenticates: `authentication.type`, and a twin's `authenticationType`.
    pub enum AuthenticationType {
        /// `sas`: symmetric keys and SAS tokens.
        Sas = "sas",
        /// `selfSigned`: X.509, matched by thumbprint.
        SelfSigned = "selfSigned",
        /// `certificateAuthority`: X.509, chained to a registered CA.
        CertificateAuthority = "certificateAuthority",
        /// `none`.
        None = "none",
    }
}

/// A device in the identity registry (swagger `Device`): the body of `GET`/`PUT
/// /devices/{id}`.
///
/// To create a device with generated keys, send `authentication` with `type: sas` and an
/// empty [`SymmetricKey`]; the hub fills in two random 32-byte keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceIdentity {
    /// `deviceId`: case-sensitive, ≤ 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `generationId`: tells apart devices re-created under the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<String>,
    /// `etag`: opaque; sent back in `If-Match`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `connectionState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<ConnectionState>,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeviceStatus>,
    /// `statusReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// `connectionStateUpdatedTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state_updated_time: Option<HubTime>,
    /// `statusUpdatedTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_updated_time: Option<HubTime>,
    /// `lastActivityTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_time: Option<HubTime>,
    /// `cloudToDeviceMessageCount`: C2D messages queued for the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_to_device_message_count: Option<i32>,
    /// `authentication`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<AuthenticationMechanism>,
    /// `capabilities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<DeviceCapabilities>,
    /// `deviceScope`: edge parent/child relationships.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_scope: Option<String>,
    /// `parentScopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_scopes: Option<Vec<String>>,
}

/// A device's `authentication` (swagger `AuthenticationMechanism`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationMechanism {
    /// `symmetricKey`: the keys, for `sas` devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetric_key: Option<SymmetricKey>,
    /// `x509Thumbprint`: the certificate thumbprints, for `selfSigned` devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_thumbprint: Option<X509Thumbprint>,
    /// `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<AuthenticationType>,
}

/// A device's two shared access keys (swagger `SymmetricKey`), as base64 text.
///
/// The keys are secrets: `Debug` prints `***` for each key that is present, and the text
/// leaves only through the `expose_…` methods (or serialization, which is the wire). Both
/// fields are always written, as `null` when absent, the way the hub writes them for
/// certificate devices. Kept as text rather than [`SharedAccessKey`] so that reading a
/// registry entry never fails on a key; [`SymmetricKey::primary_key`] decodes on demand.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymmetricKey {
    /// `primaryKey`.
    #[serde(default)]
    primary_key: Option<String>,
    /// `secondaryKey`.
    #[serde(default)]
    secondary_key: Option<String>,
}

impl SymmetricKey {
    /// Both keys, written as standard padded base64.
    pub fn new(primary: &SharedAccessKey, secondary: &SharedAccessKey) -> Self {
        Self {
            primary_key: Some(primary.expose_base64()),
            secondary_key: Some(secondary.expose_base64()),
        }
    }

    /// The primary key as base64 text, exactly as received.
    pub fn expose_primary_key(&self) -> Option<&str> {
        self.primary_key.as_deref()
    }

    /// The secondary key as base64 text, exactly as received.
    pub fn expose_secondary_key(&self) -> Option<&str> {
        self.secondary_key.as_deref()
    }

    /// The primary key decoded; `Ok(None)` when there is none.
    pub fn primary_key(&self) -> Result<Option<SharedAccessKey>, KeyError> {
        self.primary_key
            .as_deref()
            .map(SharedAccessKey::from_base64)
            .transpose()
    }

    /// The secondary key decoded; `Ok(None)` when there is none.
    pub fn secondary_key(&self) -> Result<Option<SharedAccessKey>, KeyError> {
        self.secondary_key
            .as_deref()
            .map(SharedAccessKey::from_base64)
            .transpose()
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |key: &Option<String>| key.as_ref().map(|_| Redacted);
        f.debug_struct("SymmetricKey")
            .field("primary_key", &redact(&self.primary_key))
            .field("secondary_key", &redact(&self.secondary_key))
            .finish()
    }
}

/// Prints `***` in `Debug`.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// X.509 certificate thumbprints (swagger `X509Thumbprint`).
///
/// Both fields are always written, as `null` when absent, as the hub does in twins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Thumbprint {
    /// `primaryThumbprint`.
    #[serde(default)]
    pub primary_thumbprint: Option<String>,
    /// `secondaryThumbprint`.
    #[serde(default)]
    pub secondary_thumbprint: Option<String>,
}

/// What a device can do (swagger `DeviceCapabilities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCapabilities {
    /// `iotEdge`: whether the device is an IoT Edge device.
    #[serde(default)]
    pub iot_edge: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §2.3's key: base64 of the bytes 0x00..=0x1F.
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OTHER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    fn keys() -> SymmetricKey {
        let primary = SharedAccessKey::from_base64(KEY).expect("valid key");
        let secondary = SharedAccessKey::from_base64(OTHER_KEY).expect("valid key");
        SymmetricKey::new(&primary, &secondary)
    }

    #[test]
    fn debug_redacts_keys() {
        let keys = keys();
        let debug = format!("{keys:?}");
        assert_eq!(
            debug,
            "SymmetricKey { primary_key: Some(***), secondary_key: Some(***) }"
        );
        assert!(!debug.contains("AAECAw"));

        let device = DeviceIdentity {
            device_id: Some("dev1".to_owned()),
            authentication: Some(AuthenticationMechanism {
                symmetric_key: Some(keys),
                auth_type: Some(AuthenticationType::Sas),
                ..AuthenticationMechanism::default()
            }),
            ..DeviceIdentity::default()
        };
        let debug = format!("{device:?} {device:#?}");
        assert!(
            !debug.contains(KEY) && !debug.contains(OTHER_KEY),
            "{debug}"
        );
        assert!(
            !debug.contains("AAECAw") && !debug.contains("MDEyMzQ1"),
            "{debug}"
        );
        assert!(debug.contains("dev1"));

        assert_eq!(
            format!("{:?}", SymmetricKey::default()),
            "SymmetricKey { primary_key: None, secondary_key: None }"
        );
    }

    #[test]
    fn keys_are_on_the_wire_and_exposed_on_request() {
        let keys = keys();
        assert_eq!(
            serde_json::to_string(&keys).expect("serializes"),
            format!(r#"{{"primaryKey":"{KEY}","secondaryKey":"{OTHER_KEY}"}}"#)
        );
        assert_eq!(keys.expose_primary_key(), Some(KEY));
        assert_eq!(keys.expose_secondary_key(), Some(OTHER_KEY));
        let primary = keys.primary_key().expect("decodes").expect("present");
        assert_eq!(primary.expose_base64(), KEY);
    }

    #[test]
    fn absent_and_invalid_keys() {
        let none: SymmetricKey =
            serde_json::from_str(r#"{"primaryKey":null,"secondaryKey":null}"#).expect("parses");
        assert_eq!(none, SymmetricKey::default());
        assert_eq!(none.primary_key(), Ok(None));
        assert_eq!(
            serde_json::to_string(&none).expect("serializes"),
            r#"{"primaryKey":null,"secondaryKey":null}"#
        );

        let bad: SymmetricKey = serde_json::from_str(r#"{"primaryKey":"not base64!"}"#)
            .expect("reading never checks keys");
        assert_eq!(bad.primary_key(), Err(KeyError::NotBase64));
        assert_eq!(bad.secondary_key(), Ok(None));
    }
}
