//! Every body of the reference: read, write, compare, read again; then what it means.

use std::fmt::Debug;

use iothub::model::{
    AuthenticationType, CloudToDeviceMethod, CloudToDeviceMethodResult, ConnectionState,
    DeviceIdentity, DeviceJob, DeviceJobStatistics, DeviceJobStatus, DeviceStatus, ErrorBody,
    ErrorCode, ErrorKind, HubError, HubTime, JobRequest, JobResponse, JobStatus, JobType,
    QuerySpecification, Twin, TwinCollection, TwinProperties,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{difference, fixture};

/// Reads fixture `name` as `T`, writes it, checks the written JSON says the same as the
/// fixture, reads that back and checks it equals the first read. Returns the value.
fn round_trip<T>(name: &str) -> T
where
    T: Debug + PartialEq + Serialize + DeserializeOwned,
{
    let text = fixture(name);
    let original: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let value: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} does not deserialize: {e}"));
    let written = serde_json::to_value(&value).expect("serializes");
    if let Some(diff) = difference("$", &original, &written) {
        panic!("{name} does not survive a round trip: {diff}\nwritten: {written}");
    }
    let again: T = serde_json::from_value(written).expect("written JSON deserializes");
    assert_eq!(
        again, value,
        "{name}: read → write → read changed the value"
    );
    value
}

fn time(text: &str) -> Option<HubTime> {
    Some(HubTime::parse(text).expect("valid timestamp"))
}

#[test]
fn method_job_request() {
    let request: JobRequest = round_trip("job_request_method.json");
    assert_eq!(
        request.job_id.as_deref(),
        Some("12345678-1234-5678-1234-567812345678")
    );
    assert_eq!(request.job_type, Some(JobType::ScheduleDeviceMethod));
    assert_eq!(
        request.query_condition.as_deref(),
        Some("DeviceId in ['dev1']")
    );
    assert_eq!(request.start_time, time("2024-05-01T12:34:56.1234560Z"));
    assert_eq!(request.max_execution_time_in_seconds, Some(60));
    assert_eq!(request.update_twin, None);
    let method = request.cloud_to_device_method.expect("method");
    assert_eq!(method.method_name.as_deref(), Some("lockDoor"));
    // The Python SDK double-encodes: the payload is a string, and stays one.
    assert_eq!(method.payload, Some(json!("{\"lockTime\":\"10m\"}")));
    assert_eq!(method.response_timeout_in_seconds, None);
}

#[test]
fn twin_job_request() {
    let request: JobRequest = round_trip("job_request_twin.json");
    assert_eq!(request.job_type, Some(JobType::ScheduleUpdateTwin));
    assert_eq!(request.start_time, time("2024-05-01T12:34:56Z"));
    let twin = request.update_twin.expect("updateTwin");
    assert_eq!(twin.etag.as_deref(), Some("*"));
    let desired = twin.properties.and_then(|p| p.desired).expect("desired");
    assert_eq!(desired.values.get("building"), Some(&json!(43)));
    assert_eq!(desired.values.get("floor"), Some(&json!(3)));
    assert_eq!(desired.version, None);
}

#[test]
fn twin_service_view() {
    let twin: Twin = round_trip("twin_service_view.json");
    assert_eq!(twin.device_id.as_deref(), Some("dev1"));
    assert_eq!(twin.etag.as_deref(), Some("AAAAAAAAAAI="));
    assert_eq!(twin.device_etag.as_deref(), Some("MzE4NzUxOTU1"));
    assert_eq!(twin.status, Some(DeviceStatus::Enabled));
    assert_eq!(twin.status_update_time, Some(HubTime::NEVER));
    assert_eq!(twin.connection_state, Some(ConnectionState::Connected));
    assert_eq!(
        twin.last_activity_time,
        time("2024-05-01T12:35:00.1234567Z")
    );
    assert_eq!(twin.cloud_to_device_message_count, Some(0));
    assert_eq!(twin.authentication_type, Some(AuthenticationType::Sas));
    let thumbprint = twin.x509_thumbprint.as_ref().expect("x509Thumbprint");
    assert_eq!(thumbprint.primary_thumbprint, None);
    assert_eq!(twin.model_id.as_deref(), Some(""));
    assert_eq!(twin.version, Some(3));
    assert_eq!(twin.tags, Some(serde_json::Map::new()));
    assert_eq!(twin.capabilities.map(|c| c.iot_edge), Some(false));
    assert!(
        twin.extra.is_empty(),
        "every field is modelled: {:?}",
        twin.extra
    );

    let properties = twin.properties.as_ref().expect("properties");
    let desired = properties.desired.as_ref().expect("desired");
    assert_eq!(desired.version, Some(2));
    assert_eq!(
        desired.values.len(),
        2,
        "$version and $metadata are not values"
    );
    let metadata = desired.metadata.as_ref().expect("$metadata");
    assert_eq!(metadata["floor"]["$lastUpdatedVersion"], json!(2));
    let reported = properties.reported.as_ref().expect("reported");
    assert_eq!(reported.version, Some(1));
    assert!(reported.values.is_empty());

    // The hub's exact form for these: thumbprints as explicit nulls, never with `Z`.
    let written = serde_json::to_value(&twin).expect("serializes");
    assert_eq!(
        written["x509Thumbprint"],
        json!({"primaryThumbprint": null, "secondaryThumbprint": null})
    );
    assert_eq!(written["statusUpdateTime"], json!("0001-01-01T00:00:00Z"));
    assert_eq!(
        written,
        serde_json::from_str::<Value>(&fixture("twin_service_view.json")).expect("JSON"),
        "the hub's own twin is written back byte-for-byte equivalent"
    );
}

#[test]
fn device_create_body() {
    let device: DeviceIdentity = round_trip("device_create.json");
    assert_eq!(device.device_id.as_deref(), Some("dev1"));
    assert_eq!(device.status, Some(DeviceStatus::Enabled));
    let authentication = device.authentication.as_ref().expect("authentication");
    assert_eq!(authentication.auth_type, Some(AuthenticationType::Sas));
    let keys = authentication.symmetric_key.as_ref().expect("symmetricKey");
    assert_eq!(keys.expose_primary_key(), Some("…"));
    assert_eq!(keys.expose_secondary_key(), Some("…"));
    assert_eq!(device.capabilities.map(|c| c.iot_edge), Some(false));
    assert!(
        !format!("{device:?}").contains('…'),
        "Debug must not print the keys"
    );
}

#[test]
fn job_response_right_after_creation() {
    let job: JobResponse = round_trip("job_response_queued.json");
    assert_eq!(job.job_id.as_deref(), Some("job01"));
    assert_eq!(job.job_type, Some(JobType::ScheduleDeviceMethod));
    assert_eq!(job.status, Some(JobStatus::Queued));
    assert_eq!(job.created_time, None);
}

#[test]
fn job_response_cancelled() {
    let job: JobResponse = round_trip("job_response_cancelled.json");
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert!(job.status.as_ref().is_some_and(JobStatus::is_finished));
}

#[test]
fn job_response_completed() {
    let job: JobResponse = round_trip("job_response_completed.json");
    assert_eq!(job.created_time, time("2020-01-06T21:44:00.8884134Z"));
    assert_eq!(job.end_time, time("2020-01-06T21:44:06.2536519Z"));
    assert_eq!(job.max_execution_time_in_seconds, Some(300));
    assert_eq!(job.status, Some(JobStatus::Completed));
    assert_eq!(job.job_type, Some(JobType::ScheduleUpdateTwin));
    assert_eq!(
        job.device_job_statistics,
        Some(DeviceJobStatistics {
            device_count: 2,
            failed_count: 0,
            succeeded_count: 2,
            running_count: 0,
            pending_count: 0,
        })
    );
    let twin = job.update_twin.expect("updateTwin");
    assert_eq!(twin.device_id, None, "null reads as absent");
    assert_eq!(
        twin.tags.and_then(|t| t.get("deviceClass").cloned()),
        Some(json!("Class1"))
    );
}

#[test]
fn device_job_rows() {
    let row: DeviceJob = round_trip("device_job_completed.json");
    assert_eq!(row.device_id.as_deref(), Some("dev1"));
    assert_eq!(row.job_type, Some(JobType::ScheduleDeviceMethod));
    assert_eq!(row.status, Some(DeviceJobStatus::Completed));
    assert_eq!(row.start_time_utc, time("2024-05-01T12:34:56.1234567Z"));
    assert_eq!(row.created_date_time_utc, time("2024-05-01T12:34:56.5Z"));
    assert_eq!(row.last_updated_date_time_utc, time("2024-05-01T12:34:57Z"));
    assert_eq!(
        row.outcome.and_then(|o| o.device_method_response),
        Some(CloudToDeviceMethodResult {
            status: Some(200),
            payload: json!({"Response": "lockDoor called successfully"}),
        })
    );
    assert_eq!(row.error, None);

    let twin_row: DeviceJob = round_trip("derived_device_job_twin.json");
    assert_eq!(twin_row.job_type, Some(JobType::ScheduleUpdateTwin));
    assert_eq!(
        twin_row.start_time_utc,
        time("2016-09-29T18:18:52.7418462Z"),
        "no Z means UTC"
    );
    let outcome = twin_row.outcome.expect("outcome");
    assert_eq!(outcome.device_method_response, None);

    let failed: DeviceJob = round_trip("derived_device_job_failed.json");
    assert_eq!(failed.status, Some(DeviceJobStatus::Failed));
    let error = failed.error.expect("error");
    assert_eq!(error.code.as_deref(), Some("DeviceNotOnline"));
    assert_eq!(
        error.description.as_deref(),
        Some("Timed out waiting for device to connect")
    );
}

#[test]
fn device_job_status_spelling_differs_from_the_job_level() {
    let row: DeviceJob = serde_json::from_str(r#"{"status":"canceled"}"#).expect("parses");
    assert_eq!(row.status, Some(DeviceJobStatus::Canceled));
    let job: JobResponse = serde_json::from_str(r#"{"status":"cancelled"}"#).expect("parses");
    assert_eq!(job.status, Some(JobStatus::Cancelled));
}

#[test]
fn twin_documents_of_the_device_api() {
    let patch: TwinCollection = round_trip("twin_desired_patch.json");
    assert_eq!(patch.version, Some(2));
    assert_eq!(patch.values.get("building"), Some(&json!(43)));

    let get: TwinProperties = round_trip("derived_twin_mqtt_get.json");
    assert_eq!(get.desired.as_ref().and_then(|d| d.version), Some(2));
    assert_eq!(get.reported.as_ref().and_then(|r| r.version), Some(5));

    let update: Twin = round_trip("derived_update_twin_node.json");
    let properties = update.properties.expect("properties");
    assert_eq!(properties.desired, Some(TwinCollection::default()));
    assert_eq!(properties.reported, Some(TwinCollection::default()));
}

#[test]
fn direct_method_bodies() {
    let invoke: CloudToDeviceMethod = round_trip("derived_method_invoke.json");
    assert_eq!(invoke.method_name.as_deref(), Some("lockDoor"));
    assert_eq!(invoke.response_timeout_in_seconds, Some(30));
    assert_eq!(invoke.connect_timeout_in_seconds, Some(0));

    let result: CloudToDeviceMethodResult = round_trip("derived_method_result_null.json");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload, Value::Null);
    assert_eq!(
        serde_json::to_string(&result).expect("serializes"),
        r#"{"status":200,"payload":null}"#,
        "the payload key is kept even when null"
    );
}

#[test]
fn query_body() {
    let query: QuerySpecification = round_trip("derived_query.json");
    assert!(query.query.starts_with("SELECT * FROM devices.jobs"));
}

#[test]
fn error_bodies() {
    let classic: ErrorBody = round_trip("error_classic.json");
    let error = HubError::parse(404, fixture("error_classic.json").as_bytes(), None);
    assert_eq!(error.known_code(), Some(ErrorCode::DeviceNotOnline));
    assert_eq!(error.kind(), ErrorKind::DeviceNotOnline);
    assert_eq!(
        error.tracking_id.as_deref(),
        Some("66b8d590…-G:5-TimeStamp:01/18/2017 08:11:45")
    );
    assert_eq!(
        error.to_classic_body(),
        classic,
        "classic shape written back as read"
    );

    let _: ErrorBody = round_trip("error_json_in_message.json");
    let error = HubError::parse(404, fixture("error_json_in_message.json").as_bytes(), None);
    assert_eq!(error.code, Some(404103));
    assert_eq!(error.kind(), ErrorKind::DeviceNotOnline);
    assert_eq!(error.timestamp, time("2024-03-14T09:54:49.6536567Z"));
    let rewritten = serde_json::to_value(error.to_body()).expect("serializes");
    let original: Value =
        serde_json::from_str(&fixture("error_json_in_message.json")).expect("JSON");
    let inner = |body: &Value| -> Value {
        serde_json::from_str(body["Message"].as_str().expect("Message is text"))
            .expect("inner JSON")
    };
    assert_eq!(
        inner(&rewritten),
        inner(&original),
        "newer shape written as Azure writes it"
    );
    assert_eq!(rewritten["ExceptionMessage"], json!(""));

    let _: ErrorBody = round_trip("error_throttled_job.json");
    let error = HubError::parse(429, fixture("error_throttled_job.json").as_bytes(), None);
    assert_eq!(error.code, Some(429004));
    assert_eq!(error.kind(), ErrorKind::Throttled);
}

/// Adds a field the models do not know to every object in `value`.
fn inject_unknown(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.values_mut().for_each(inject_unknown);
            object.insert(
                "zzFutureField".to_owned(),
                json!({"nested": [1, "two", null], "$version": 9}),
            );
        }
        Value::Array(items) => items.iter_mut().for_each(inject_unknown),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Removes what [`inject_unknown`] added, wherever it survived (free-form JSON, twin extras).
fn strip_unknown(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.remove("zzFutureField");
            object.values_mut().for_each(strip_unknown);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_unknown),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Reading a fixture with unknown fields everywhere gives what reading it plainly gives.
fn ignores_unknown_fields<T>(name: &str)
where
    T: Debug + Serialize + DeserializeOwned,
{
    let mut body: Value = serde_json::from_str(&fixture(name)).expect("fixture is JSON");
    let plain: T = serde_json::from_value(body.clone()).expect("fixture deserializes");
    inject_unknown(&mut body);
    let padded: T = serde_json::from_value(body)
        .unwrap_or_else(|e| panic!("{name}: unknown fields broke deserialization: {e}"));
    let mut written = serde_json::to_value(&padded).expect("serializes");
    strip_unknown(&mut written);
    assert_eq!(
        written,
        serde_json::to_value(&plain).expect("serializes"),
        "{name}: unknown fields changed the value"
    );
}

#[test]
fn unknown_fields_never_fail() {
    ignores_unknown_fields::<JobRequest>("job_request_method.json");
    ignores_unknown_fields::<JobRequest>("job_request_twin.json");
    ignores_unknown_fields::<Twin>("twin_service_view.json");
    ignores_unknown_fields::<DeviceIdentity>("device_create.json");
    ignores_unknown_fields::<JobResponse>("job_response_queued.json");
    ignores_unknown_fields::<JobResponse>("job_response_cancelled.json");
    ignores_unknown_fields::<JobResponse>("job_response_completed.json");
    ignores_unknown_fields::<DeviceJob>("device_job_completed.json");
    ignores_unknown_fields::<DeviceJob>("derived_device_job_twin.json");
    ignores_unknown_fields::<DeviceJob>("derived_device_job_failed.json");
    ignores_unknown_fields::<TwinCollection>("twin_desired_patch.json");
    ignores_unknown_fields::<TwinProperties>("derived_twin_mqtt_get.json");
    ignores_unknown_fields::<Twin>("derived_update_twin_node.json");
    ignores_unknown_fields::<CloudToDeviceMethod>("derived_method_invoke.json");
    ignores_unknown_fields::<CloudToDeviceMethodResult>("derived_method_result_null.json");
    ignores_unknown_fields::<QuerySpecification>("derived_query.json");
    ignores_unknown_fields::<ErrorBody>("error_classic.json");
}

#[test]
fn unknown_enum_values_never_fail() {
    let job: JobResponse =
        serde_json::from_str(r#"{"type":"scheduleSomethingNew","status":"paused","jobId":"j"}"#)
            .expect("parses");
    assert_eq!(
        job.job_type,
        Some(JobType::Other("scheduleSomethingNew".to_owned()))
    );
    assert_eq!(job.status, Some(JobStatus::Other("paused".to_owned())));
    assert_eq!(
        serde_json::to_string(&job).expect("serializes"),
        r#"{"jobId":"j","type":"scheduleSomethingNew","status":"paused"}"#
    );
    let twin: Twin = serde_json::from_str(
        r#"{"status":"suspended","connectionState":"Connecting","authenticationType":"tpm"}"#,
    )
    .expect("parses");
    assert_eq!(
        twin.status,
        Some(DeviceStatus::Other("suspended".to_owned()))
    );
    assert_eq!(
        twin.connection_state,
        Some(ConnectionState::Other("Connecting".to_owned()))
    );
    assert_eq!(
        twin.authentication_type,
        Some(AuthenticationType::Other("tpm".to_owned()))
    );
}
