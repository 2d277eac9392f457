//! Device twins (`/twins/{id}`, a twin job's `updateTwin`, `devices` query rows) and the
//! desired/reported documents the MQTT device API exchanges.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::device::{
    AuthenticationType, ConnectionState, DeviceCapabilities, DeviceStatus, X509Thumbprint,
};
use super::time::HubTime;

/// A device (or module) twin (swagger `Twin`).
///
/// Also the body of a twin PATCH/PUT and of a twin job's `updateTwin`, where only `etag`,
/// `tags` and `properties.desired` matter. Fields this crate does not know are kept in
/// [`Twin::extra`] and written back, so a twin survives a read-modify-write unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Twin {
    /// `deviceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `moduleId`: set for module twins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    /// `etag`: the twin's etag, for `If-Match` (a twin job sends `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `deviceEtag`: the device identity's etag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_etag: Option<String>,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeviceStatus>,
    /// `statusReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// `statusUpdateTime` (sic: the identity spells it `statusUpdatedTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_time: Option<HubTime>,
    /// `connectionState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<ConnectionState>,
    /// `lastActivityTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_time: Option<HubTime>,
    /// `cloudToDeviceMessageCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_to_device_message_count: Option<i32>,
    /// `authenticationType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_type: Option<AuthenticationType>,
    /// `x509Thumbprint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_thumbprint: Option<X509Thumbprint>,
    /// `modelId`: the Plug and Play model; not in the swagger, but real twins carry it
    /// (often `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// `version`: the twin's version (tags and desired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `tags`: written by the back end only, invisible to the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Map<String, Value>>,
    /// `properties`: desired and reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<TwinProperties>,
    /// `capabilities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<DeviceCapabilities>,
    /// `deviceScope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_scope: Option<String>,
    /// `parentScopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_scopes: Option<Vec<String>>,
    /// Every other top-level field, kept as received and written back as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A twin's `properties` (swagger `TwinProperties`).
///
/// Also, on its own, the body of the hub's answer to an MQTT twin GET
/// (`{"desired":{…},"reported":{…}}`, no wrapper).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwinProperties {
    /// `desired`: what the back end wants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<TwinCollection>,
    /// `reported`: what the device says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<TwinCollection>,
}

/// One property document, `desired` or `reported`: the user's keys plus the hub's `$version`
/// and `$metadata`.
///
/// Also the body of a desired-property patch sent to a device (`{"building":43,"$version":2}`)
/// and of a reported patch from one (no `$version`). A `null` value in
/// [`TwinCollection::values`] is kept: in a patch it deletes the key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwinCollection {
    /// The properties, without `$version` and `$metadata`.
    #[serde(flatten)]
    pub values: Map<String, Value>,
    /// `$metadata`: per key `$lastUpdated` (and `$lastUpdatedVersion` for desired), nested
    /// like the values. Passed through as JSON.
    #[serde(rename = "$metadata", default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// `$version`: increases with every change to this document.
    #[serde(rename = "$version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collection_splits_out_version_and_metadata() {
        let patch: TwinCollection =
            serde_json::from_value(json!({"building": 43, "floor": 3, "$version": 2}))
                .expect("parses");
        assert_eq!(patch.version, Some(2));
        assert_eq!(patch.metadata, None);
        assert_eq!(patch.values.get("building"), Some(&json!(43)));
        assert!(!patch.values.contains_key("$version"));
    }

    #[test]
    fn null_values_are_kept_for_deletes() {
        let patch: TwinCollection = serde_json::from_value(json!({"floor": null})).expect("parses");
        assert_eq!(patch.values.get("floor"), Some(&Value::Null));
        assert_eq!(
            serde_json::to_value(&patch).expect("serializes"),
            json!({"floor": null})
        );
    }

    #[test]
    fn unknown_twin_fields_survive() {
        let body =
            json!({"deviceId": "dev1", "futureField": {"a": [1, 2]}, "etag": "AAAAAAAAAAE="});
        let twin: Twin = serde_json::from_value(body.clone()).expect("parses");
        assert_eq!(twin.extra.get("futureField"), Some(&json!({"a": [1, 2]})));
        assert_eq!(serde_json::to_value(&twin).expect("serializes"), body);
    }
}
