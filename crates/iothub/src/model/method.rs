//! Direct methods: the invocation (`POST /twins/{id}/methods`, and a method job's
//! `cloudToDeviceMethod`) and the device's answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A direct method invocation (swagger `CloudToDeviceMethod`).
///
/// `payload` is any JSON value and is passed through untouched. The Python service SDK sends
/// a method job's payload as a JSON *string* (`"{\"lockTime\":\"10m\"}"`): that string is
/// the payload, and the device receives it as a string; nothing here decodes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudToDeviceMethod {
    /// `methodName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_name: Option<String>,
    /// `payload`: any JSON (≤ 128 KB); `null` reads as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// `responseTimeoutInSeconds`: how long to wait for the device's answer (hub default 30,
    /// allowed 5–300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_timeout_in_seconds: Option<i32>,
    /// `connectTimeoutInSeconds`: how long to wait for the device to come online (hub default
    /// 0: it must already be connected; max 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_in_seconds: Option<i32>,
}

impl CloudToDeviceMethod {
    /// An invocation of `method_name` with `payload` and the hub's default timeouts.
    pub fn new(method_name: impl Into<String>, payload: Value) -> Self {
        Self {
            method_name: Some(method_name.into()),
            payload: Some(payload),
            ..Self::default()
        }
    }
}

/// What the device answered (swagger `CloudToDeviceMethodResult`): the body of a 200 to a
/// method invocation, and a device job row's `outcome.deviceMethodResponse`.
///
/// The HTTP status is 200 whenever the device answered; `status` is the device's own.
/// `payload` is always written, as `null` when the device sent none (the Python device SDK
/// sends `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CloudToDeviceMethodResult {
    /// `status`: the status code the device chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// `payload`: the device's JSON answer.
    #[serde(default)]
    pub payload: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_string_payload_stays_a_string() {
        let text = r#"{"methodName":"lockDoor","payload":"{\"lockTime\":\"10m\"}"}"#;
        let method: CloudToDeviceMethod = serde_json::from_str(text).expect("parses");
        assert_eq!(
            method.payload,
            Some(Value::String(r#"{"lockTime":"10m"}"#.to_owned()))
        );
        assert_eq!(serde_json::to_string(&method).expect("serializes"), text);
    }

    #[test]
    fn new_uses_hub_defaults() {
        let method = CloudToDeviceMethod::new("lockDoor", json!({"lockTime": "10m"}));
        assert_eq!(
            serde_json::to_value(&method).expect("serializes"),
            json!({"methodName": "lockDoor", "payload": {"lockTime": "10m"}})
        );
    }

    #[test]
    fn result_payload_is_always_written() {
        let result: CloudToDeviceMethodResult =
            serde_json::from_str(r#"{"status":200}"#).expect("parses");
        assert_eq!(result.payload, Value::Null);
        assert_eq!(
            serde_json::to_string(&result).expect("serializes"),
            r#"{"status":200,"payload":null}"#
        );
    }
}
