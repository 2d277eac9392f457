//! The models against the official data-plane OpenAPI, `shared/specs/service.json`.
//!
//! For each model with a swagger definition, a fully populated instance is serialized and
//! walked alongside its definition (following `$ref`s): every emitted field must be one of
//! the definition's `properties` with a matching JSON type, and every property must be
//! emitted (so the instance really is full, and no swagger field is missing from the model).
//! Enum values are compared with the swagger's lists in both directions.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use iothub::auth::SharedAccessKey;
use iothub::model::{
    AuthenticationMechanism, AuthenticationType, CloudToDeviceMethod, CloudToDeviceMethodResult,
    ConnectionState, DeviceCapabilities, DeviceIdentity, DeviceJobStatistics, DeviceJobStatus,
    DeviceStatus, ErrorCode, HubTime, JobRequest, JobResponse, JobStatus, JobType, QueryItemType,
    QueryResult, QuerySpecification, SymmetricKey, Twin, TwinCollection, TwinProperties,
    X509Thumbprint,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The official data-plane OpenAPI (api-version 2021-04-12), vendored verbatim from the
/// project's shared specs so the checks run in any checkout; its SHA-256 is the one the
/// protocol reference records, and `vendored_openapi_is_the_reference_copy` holds it to that.
const SERVICE_JSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/service.json");

/// SHA-256 of `shared/specs/service.json`, as the protocol reference (§0) gives it.
const SERVICE_JSON_SHA256: &str =
    "455b5d987ddf8d109f917e0db76f6d0c1f2919124c8f96f2e7b99d8f412ab196";

/// Where the shared copy lives when the checkout sits beside the project's `shared/`.
const SHARED_SERVICE_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/specs/service.json"
);

#[test]
fn vendored_openapi_is_the_reference_copy() {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(SERVICE_JSON).expect("vendored service.json");
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest, SERVICE_JSON_SHA256,
        "tests/fixtures/service.json was modified"
    );
    // Beside the shared docs (developers' and CI's layout), the two must be identical.
    if let Ok(shared) = std::fs::read(SHARED_SERVICE_JSON) {
        assert!(
            shared == bytes,
            "shared/specs/service.json changed: re-vendor it"
        );
    }
}

/// Fields the models carry that the swagger lacks, each with the protocol reference's
/// reason. Checked like the rest, except against the swagger.
const NOT_IN_SWAGGER: &[(&str, &str)] = &[
    // §3.4: "Real responses also carry `modelId`."
    ("Twin", "modelId"),
    // §3.4: "C# also maps `deviceId` and `parentJobId`".
    ("JobResponse", "deviceId"),
    ("JobResponse", "parentJobId"),
];

/// The swagger, loaded once; a missing file fails every test that needs it, loudly.
fn swagger() -> &'static Value {
    static SWAGGER: OnceLock<Value> = OnceLock::new();
    SWAGGER.get_or_init(|| {
        let text = std::fs::read_to_string(SERVICE_JSON).unwrap_or_else(|e| {
            panic!("the schema checks need the vendored official OpenAPI at {SERVICE_JSON}: {e}")
        });
        let swagger: Value = serde_json::from_str(&text).expect("service.json is JSON");
        assert_eq!(
            swagger["info"]["version"],
            json!("2021-04-12"),
            "service.json is not the 2021-04-12 data-plane API these models follow"
        );
        swagger
    })
}

fn definition(name: &str) -> &'static Map<String, Value> {
    swagger()["definitions"][name]
        .as_object()
        .unwrap_or_else(|| panic!("service.json has no definition {name}"))
}

fn properties(name: &str) -> &'static Map<String, Value> {
    definition(name)["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("definition {name} has no properties"))
}

/// The string values of `definition.properties.property.enum`.
fn swagger_enum(definition: &str, property: &str) -> BTreeSet<&'static str> {
    properties(definition)[property]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{definition}.{property} has no enum"))
        .iter()
        .map(|v| v.as_str().expect("enum values are strings"))
        .collect()
}

/// Walks `value` along definition `name`, collecting every mismatch into `problems`.
fn check(name: &str, value: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        problems.push(format!(
            "{path}: expected an object for {name}, got {value}"
        ));
        return;
    };
    let schema = properties(name);
    for (key, field) in object {
        let here = format!("{path}.{key}");
        match schema.get(key) {
            Some(property) => check_property(property, field, &here, problems),
            None if NOT_IN_SWAGGER.contains(&(name, key.as_str())) => {}
            None => problems.push(format!("{here}: not a property of swagger {name}")),
        }
    }
    for key in schema.keys() {
        if !object.contains_key(key) {
            problems.push(format!(
                "{path}.{key}: swagger {name} has it, the fully populated model did not emit it"
            ));
        }
    }
}

fn check_property(property: &Value, field: &Value, path: &str, problems: &mut Vec<String>) {
    if field.is_null() {
        // The hub writes nulls the swagger does not declare (x509Thumbprint, symmetricKey).
        return;
    }
    if let Some(reference) = property["$ref"].as_str() {
        let name = reference.trim_start_matches("#/definitions/");
        check(name, field, path, problems);
        return;
    }
    let kind = property["type"].as_str().unwrap_or("any");
    let matches = match kind {
        "string" => field.is_string(),
        "integer" => field.is_i64() || field.is_u64(),
        "boolean" => field.is_boolean(),
        "array" => field.is_array(),
        // `object` is free-form (tags, desired, reported) or, for `payload`, declared
        // `object` but any JSON on the wire (§3.3, §3.4).
        _ => true,
    };
    if !matches {
        problems.push(format!("{path}: swagger says {kind}, model wrote {field}"));
        return;
    }
    if let Some(allowed) = property["enum"].as_array()
        && !allowed.contains(field)
    {
        problems.push(format!(
            "{path}: {field} is not in the swagger's enum {allowed:?}"
        ));
    }
    if property["format"] == json!("date-time") {
        let text = field.as_str().unwrap_or_default();
        if HubTime::parse(text).is_err() {
            problems.push(format!("{path}: {text:?} is not a timestamp"));
        }
    }
    if let (Some(items), Some(values)) = (property["items"]["$ref"].as_str(), field.as_array()) {
        let name = items.trim_start_matches("#/definitions/");
        for (i, item) in values.iter().enumerate() {
            check(name, item, &format!("{path}[{i}]"), problems);
        }
    }
}

/// Serializes `model` and checks it against definition `name`.
fn assert_matches_swagger(name: &str, model: &impl Serialize) {
    let value = serde_json::to_value(model).expect("serializes");
    let mut problems = Vec::new();
    check(name, &value, name, &mut problems);
    assert!(
        problems.is_empty(),
        "{name} disagrees with service.json:\n  {}\nserialized: {value:#}",
        problems.join("\n  ")
    );
}

fn at(text: &str) -> Option<HubTime> {
    Some(HubTime::parse(text).expect("valid timestamp"))
}

fn full_method() -> CloudToDeviceMethod {
    CloudToDeviceMethod {
        method_name: Some("lockDoor".to_owned()),
        payload: Some(json!({"lockTime": "10m"})),
        response_timeout_in_seconds: Some(30),
        connect_timeout_in_seconds: Some(5),
    }
}

fn collection(version: i64) -> TwinCollection {
    let mut values = Map::new();
    values.insert("building".to_owned(), json!(43));
    TwinCollection {
        values,
        metadata: Some(json!({"$lastUpdated": "2024-05-01T12:34:56.1234567Z"})),
        version: Some(version),
    }
}

fn full_twin() -> Twin {
    let mut tags = Map::new();
    tags.insert("deviceClass".to_owned(), json!("Class1"));
    Twin {
        device_id: Some("dev1".to_owned()),
        module_id: Some("mod1".to_owned()),
        etag: Some("AAAAAAAAAAI=".to_owned()),
        device_etag: Some("MzE4NzUxOTU1".to_owned()),
        status: Some(DeviceStatus::Enabled),
        status_reason: Some("provisioned".to_owned()),
        status_update_time: Some(HubTime::NEVER),
        connection_state: Some(ConnectionState::Connected),
        last_activity_time: at("2024-05-01T12:35:00.1234567Z"),
        cloud_to_device_message_count: Some(0),
        authentication_type: Some(AuthenticationType::Sas),
        x509_thumbprint: Some(X509Thumbprint {
            primary_thumbprint: Some("AB".repeat(20)),
            secondary_thumbprint: Some("CD".repeat(20)),
        }),
        model_id: Some("dtmi:com:example:Lock;1".to_owned()),
        version: Some(3),
        tags: Some(tags),
        properties: Some(TwinProperties {
            desired: Some(collection(2)),
            reported: Some(collection(1)),
        }),
        capabilities: Some(DeviceCapabilities { iot_edge: false }),
        device_scope: Some("ms-azure-iot-edge://edge1-637".to_owned()),
        parent_scopes: Some(vec!["ms-azure-iot-edge://edge1-637".to_owned()]),
        extra: Map::new(),
    }
}

fn statistics() -> DeviceJobStatistics {
    DeviceJobStatistics {
        device_count: 2,
        failed_count: 0,
        succeeded_count: 1,
        running_count: 1,
        pending_count: 0,
    }
}

fn full_device() -> DeviceIdentity {
    let key = SharedAccessKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .expect("valid key");
    DeviceIdentity {
        device_id: Some("dev1".to_owned()),
        generation_id: Some("638500000000000000".to_owned()),
        etag: Some("MA==".to_owned()),
        connection_state: Some(ConnectionState::Disconnected),
        status: Some(DeviceStatus::Disabled),
        status_reason: Some("maintenance".to_owned()),
        connection_state_updated_time: at("2024-05-01T12:00:00Z"),
        status_updated_time: Some(HubTime::NEVER),
        last_activity_time: at("2024-05-01T12:30:00.5Z"),
        cloud_to_device_message_count: Some(1),
        authentication: Some(AuthenticationMechanism {
            symmetric_key: Some(SymmetricKey::new(&key, &key)),
            x509_thumbprint: Some(X509Thumbprint {
                primary_thumbprint: Some("AB".repeat(20)),
                secondary_thumbprint: Some("CD".repeat(20)),
            }),
            auth_type: Some(AuthenticationType::Sas),
        }),
        capabilities: Some(DeviceCapabilities { iot_edge: true }),
        device_scope: Some("ms-azure-iot-edge://dev1-638".to_owned()),
        parent_scopes: Some(vec!["ms-azure-iot-edge://edge1-637".to_owned()]),
    }
}

#[test]
fn job_request() {
    assert_matches_swagger(
        "JobRequest",
        &JobRequest {
            job_id: Some("job01".to_owned()),
            job_type: Some(JobType::ScheduleDeviceMethod),
            cloud_to_device_method: Some(full_method()),
            update_twin: Some(full_twin()),
            query_condition: Some("DeviceId in ['dev1']".to_owned()),
            start_time: at("2024-05-01T12:34:56.123456Z"),
            max_execution_time_in_seconds: Some(60),
        },
    );
}

#[test]
fn job_response() {
    assert_matches_swagger(
        "JobResponse",
        &JobResponse {
            job_id: Some("job01".to_owned()),
            query_condition: Some("DeviceId in ['dev1']".to_owned()),
            created_time: at("2020-01-06T21:44:00.8884134Z"),
            start_time: at("2020-01-06T21:44:00.8884134Z"),
            end_time: at("2020-01-06T21:44:06.2536519Z"),
            max_execution_time_in_seconds: Some(300),
            job_type: Some(JobType::ScheduleUpdateTwin),
            cloud_to_device_method: Some(full_method()),
            update_twin: Some(full_twin()),
            status: Some(JobStatus::Cancelled),
            failure_reason: Some("none".to_owned()),
            status_message: Some("done".to_owned()),
            device_job_statistics: Some(statistics()),
            device_id: Some("dev1".to_owned()),
            parent_job_id: Some("parent".to_owned()),
        },
    );
}

#[test]
fn method_bodies() {
    assert_matches_swagger("CloudToDeviceMethod", &full_method());
    assert_matches_swagger(
        "CloudToDeviceMethodResult",
        &CloudToDeviceMethodResult {
            status: Some(200),
            payload: json!({"Response": "ok"}),
        },
    );
    assert_matches_swagger("DeviceJobStatistics", &statistics());
}

#[test]
fn twin() {
    assert_matches_swagger("Twin", &full_twin());
    assert_matches_swagger(
        "TwinProperties",
        &TwinProperties {
            desired: Some(collection(4)),
            reported: Some(collection(7)),
        },
    );
}

#[test]
fn device_identity() {
    assert_matches_swagger("Device", &full_device());
}

#[test]
fn query_bodies() {
    assert_matches_swagger(
        "QuerySpecification",
        &QuerySpecification {
            query: "SELECT * FROM devices".to_owned(),
        },
    );
    assert_matches_swagger(
        "QueryResult",
        &QueryResult {
            item_type: Some(QueryItemType::JobResponse),
            items: vec![json!({"jobId": "job01"})],
            continuation_token: Some("token".to_owned()),
        },
    );
}

#[test]
fn the_walker_catches_mistakes() {
    let mut problems = Vec::new();
    check(
        "CloudToDeviceMethod",
        &json!({"methodName": 3, "payload": {}, "responseTimeoutInSeconds": 1, "extra": 1}),
        "$",
        &mut problems,
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems.iter().any(|p| p.contains("$.methodName")));
    assert!(problems.iter().any(|p| p.contains("$.extra")));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("connectTimeoutInSeconds"))
    );
}

/// The known values of a wire enum, as strings.
fn known<T: Serialize>(values: &[T]) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| match serde_json::to_value(v).expect("serializes") {
            Value::String(s) => s,
            other => panic!("enum wrote {other}, not a string"),
        })
        .collect()
}

fn strings(set: &BTreeSet<&str>) -> BTreeSet<String> {
    set.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn job_type_values() {
    let ours = known(JobType::KNOWN);
    for (definition, property) in [
        ("JobRequest", "type"),
        ("JobResponse", "type"),
        ("JobProperties", "type"),
    ] {
        assert_eq!(
            ours,
            strings(&swagger_enum(definition, property)),
            "{definition}.{property}"
        );
    }
}

#[test]
fn job_status_values() {
    let swagger = swagger_enum("JobResponse", "status");
    assert!(
        swagger.contains("cancelled"),
        "job level is spelled with two l's"
    );
    assert!(!swagger.contains("canceled"));
    let mut ours = known(JobStatus::KNOWN);
    // §4.2: "Docs also list `pending`"; not in the swagger.
    assert!(ours.remove("pending"));
    assert_eq!(ours, strings(&swagger));
    assert_eq!(ours, strings(&swagger_enum("JobProperties", "status")));
}

#[test]
fn device_job_status_values() {
    // Not in the swagger: §4.3 (C# `DeviceJobStatus`), device level spelled `canceled`.
    assert_eq!(
        known(DeviceJobStatus::KNOWN),
        [
            "pending",
            "scheduled",
            "running",
            "completed",
            "failed",
            "canceled"
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );
}

#[test]
fn device_enum_values() {
    for (definition, property) in [("Device", "status"), ("Twin", "status")] {
        assert_eq!(
            known(DeviceStatus::KNOWN),
            strings(&swagger_enum(definition, property))
        );
    }
    for (definition, property) in [("Device", "connectionState"), ("Twin", "connectionState")] {
        assert_eq!(
            known(ConnectionState::KNOWN),
            strings(&swagger_enum(definition, property))
        );
    }
    for (definition, property) in [
        ("AuthenticationMechanism", "type"),
        ("Twin", "authenticationType"),
    ] {
        assert_eq!(
            known(AuthenticationType::KNOWN),
            strings(&swagger_enum(definition, property))
        );
    }
    assert_eq!(
        known(QueryItemType::KNOWN),
        strings(&swagger_enum("QueryResult", "type"))
    );
}

#[test]
fn error_code_names() {
    let swagger = swagger_enum("DeviceRegistryOperationError", "errorCode");
    for &code in ErrorCode::ALL {
        // §3.6 lists 403012 DeviceDisabled; the swagger's error code list lacks it.
        if code == ErrorCode::DeviceDisabled {
            assert!(!swagger.contains(code.name()));
            continue;
        }
        assert!(
            swagger.contains(code.name()),
            "{} is not an error code name in service.json",
            code.name()
        );
    }
}
