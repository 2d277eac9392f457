//! The job builder's form ([`JobDraft`], raw text and numbers as the UI holds them) and its
//! validation into a [`ValidJob`]: an `iothub` [`JobRequest`] that the hub will accept, or
//! one [`FieldError`] per field that is wrong, each saying precisely what to change.
//!
//! The limits are the hub's (`docs/iothub-protocol.md` §3.4, §4.1, §4.5): job ids ≤ 64 ASCII
//! letters, digits and `-`; response timeout 5–300 s (default 30), connect timeout 0–300 s
//! (default 0); method payload ≤ 128 KB; twin jobs are forced updates (etag `*`) of tags
//! (≤ 8 KB) or desired properties (≤ 32 KB) with the twin key and value rules; the query the
//! hub builds from the condition (`SELECT * FROM devices WHERE <condition>`) ≤ 8,192
//! characters. The hub documents `maxExecutionTimeInSeconds` only as a positive integer.

use std::fmt;
use std::ops::RangeInclusive;

use iothub::model::{
    CloudToDeviceMethod, HubTime, JobRequest, JobType, Twin, TwinCollection, TwinProperties,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use ts_rs::TS;

/// What the hub puts before a job's condition to make the device query.
pub const CONDITION_PREFIX: &str = "SELECT * FROM devices WHERE ";
/// The longest condition: the hub's 8,192-character query limit minus [`CONDITION_PREFIX`].
pub const MAX_CONDITION_CHARS: usize = iothub_query::MAX_QUERY_CHARS - CONDITION_PREFIX.len();
/// The longest job id.
pub const MAX_JOB_ID_CHARS: usize = 64;
/// The hub's default `responseTimeoutInSeconds`.
pub const DEFAULT_RESPONSE_TIMEOUT_SECS: i64 = 30;
/// The `responseTimeoutInSeconds` the hub accepts.
pub const RESPONSE_TIMEOUT_RANGE: RangeInclusive<i64> = 5..=300;
/// The hub's default `connectTimeoutInSeconds`: the device must already be connected.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: i64 = 0;
/// The `connectTimeoutInSeconds` the hub accepts.
pub const CONNECT_TIMEOUT_RANGE: RangeInclusive<i64> = 0..=300;
/// The default `maxExecutionTimeInSeconds` (as the az CLI and the Node SDK use).
pub const DEFAULT_MAX_EXECUTION_TIME_SECS: i64 = 3600;
/// The `maxExecutionTimeInSeconds` accepted here: positive (the hub's only documented rule),
/// and at most what an `int32` holds, so that every SDK can read the job back.
pub const MAX_EXECUTION_TIME_RANGE: RangeInclusive<i64> = 1..=2_147_483_647;
/// The largest method payload, in bytes of compact JSON.
pub const MAX_METHOD_PAYLOAD_BYTES: usize = 128 * 1024;
/// How far in the past a start time may be before it is refused as a mistake (the form may
/// have been filled in a minute ago; the hub starts such a job at once).
pub const START_GRACE_SECS: i64 = 60;

/// Largest tags patch, in bytes of compact JSON.
const MAX_TAGS_BYTES: usize = 8 * 1024;
/// Largest desired-properties patch, in bytes of compact JSON.
const MAX_DESIRED_BYTES: usize = 32 * 1024;
/// Deepest object nesting in a twin section (the section itself is level 1).
const MAX_TWIN_DEPTH: usize = 10;
/// Longest twin key, in bytes.
const MAX_TWIN_KEY_BYTES: usize = 1024;
/// Longest twin string value, in bytes.
const MAX_TWIN_STRING_BYTES: usize = 4 * 1024;
/// Largest integer magnitude in a twin (2^52 − 1).
const MAX_TWIN_INTEGER: i64 = 4_503_599_627_370_495;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum JobKind {
    /// Invoke a direct method on every matching device (`scheduleDeviceMethod`).
    #[default]
    Method,
    /// Patch the desired properties of every matching twin (`scheduleUpdateTwin`).
    TwinDesired,
    /// Patch the tags of every matching twin (`scheduleUpdateTwin`).
    TwinTags,
}

impl JobKind {
    /// The hub's job type for this kind.
    pub fn job_type(self) -> JobType {
        match self {
            Self::Method => JobType::ScheduleDeviceMethod,
            Self::TwinDesired | Self::TwinTags => JobType::ScheduleUpdateTwin,
        }
    }
}

/// When a job starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum StartMode {
    /// As soon as the hub has it.
    #[default]
    Now,
    /// At [`JobDraft::start_at`].
    At,
}

/// The job builder's form, as the UI holds it: text as typed, numbers as entered.
///
/// Missing fields read as their [`Default`]; numbers left empty (`null`) mean the hub's
/// default. [`JobDraft::new`] is a blank form with a fresh job id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(export)]
pub struct JobDraft {
    /// What the job does.
    pub job_type: JobKind,
    /// Which devices: the `WHERE` part of a device query, or `*` for all.
    pub query_condition: String,
    /// The direct method's name (method jobs).
    pub method_name: String,
    /// The method payload as JSON text; empty sends no payload (method jobs).
    pub method_payload: String,
    /// How long the hub waits for each device's answer, in seconds (method jobs; default 30).
    pub response_timeout_in_seconds: Option<f64>,
    /// How long the hub waits for a device to connect, in seconds (method jobs; default 0).
    pub connect_timeout_in_seconds: Option<f64>,
    /// The desired-properties patch as JSON text (desired-property jobs).
    pub twin_desired: String,
    /// The tags patch as JSON text (tag jobs).
    pub twin_tags: String,
    /// Now, or at [`JobDraft::start_at`].
    pub start_mode: StartMode,
    /// The start as an RFC 3339 date-time in UTC, e.g. `2025-06-01T14:30:00Z` (used when
    /// [`JobDraft::start_mode`] is [`StartMode::At`]).
    pub start_at: String,
    /// The budget for the whole job, in seconds (default 3600).
    pub max_execution_time_in_seconds: Option<f64>,
    /// The job's id; [`JobDraft::new`] fills in a UUID.
    pub job_id: String,
}

impl JobDraft {
    /// A blank method-job form with a fresh UUID as its job id and the default numbers
    /// filled in.
    pub fn new() -> Self {
        Self {
            response_timeout_in_seconds: Some(DEFAULT_RESPONSE_TIMEOUT_SECS as f64),
            connect_timeout_in_seconds: Some(DEFAULT_CONNECT_TIMEOUT_SECS as f64),
            max_execution_time_in_seconds: Some(DEFAULT_MAX_EXECUTION_TIME_SECS as f64),
            job_id: new_job_id(),
            ..Self::default()
        }
    }

    /// The form for a job the hub reported, e.g. to clone it into the builder: same kind,
    /// condition, method or patch and execution time, starting now, with a fresh job id.
    /// `None` for job types the builder does not make.
    pub fn from_job(job: &iothub::model::JobResponse) -> Option<Self> {
        let mut draft = Self::new();
        draft.query_condition = job.query_condition.clone().unwrap_or_default();
        if let Some(secs) = job.max_execution_time_in_seconds {
            draft.max_execution_time_in_seconds = Some(secs as f64);
        }
        match job.job_type.as_ref()? {
            JobType::ScheduleDeviceMethod => {
                let method = job.cloud_to_device_method.as_ref()?;
                draft.job_type = JobKind::Method;
                draft.method_name = method.method_name.clone().unwrap_or_default();
                draft.method_payload = match &method.payload {
                    None => String::new(),
                    Some(payload) => serde_json::to_string_pretty(payload).ok()?,
                };
                if let Some(secs) = method.response_timeout_in_seconds {
                    draft.response_timeout_in_seconds = Some(f64::from(secs));
                }
                if let Some(secs) = method.connect_timeout_in_seconds {
                    draft.connect_timeout_in_seconds = Some(f64::from(secs));
                }
            }
            JobType::ScheduleUpdateTwin => {
                let twin = job.update_twin.as_ref()?;
                let desired = twin.properties.as_ref().and_then(|p| p.desired.as_ref());
                match (desired, twin.tags.as_ref()) {
                    (Some(desired), _) if !desired.values.is_empty() => {
                        draft.job_type = JobKind::TwinDesired;
                        draft.twin_desired = serde_json::to_string_pretty(&desired.values).ok()?;
                    }
                    (_, Some(tags)) => {
                        draft.job_type = JobKind::TwinTags;
                        draft.twin_tags = serde_json::to_string_pretty(tags).ok()?;
                    }
                    _ => return None,
                }
            }
            JobType::Unknown
            | JobType::Export
            | JobType::Import
            | JobType::Backup
            | JobType::ReadDeviceProperties
            | JobType::WriteDeviceProperties
            | JobType::UpdateDeviceConfiguration
            | JobType::RebootDevice
            | JobType::FactoryResetDevice
            | JobType::FirmwareUpdate
            | JobType::RestoreFromBackup
            | JobType::FailoverDataCopy
            | JobType::Other(_) => return None,
        }
        Some(draft)
    }
}

/// A fresh job id: a random (v4) UUID, hyphenated (36 characters the hub accepts).
pub fn new_job_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// A field of [`JobDraft`], as [`FieldError`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum DraftField {
    /// [`JobDraft::job_type`].
    JobType,
    /// [`JobDraft::query_condition`].
    QueryCondition,
    /// [`JobDraft::method_name`].
    MethodName,
    /// [`JobDraft::method_payload`].
    MethodPayload,
    /// [`JobDraft::response_timeout_in_seconds`].
    ResponseTimeout,
    /// [`JobDraft::connect_timeout_in_seconds`].
    ConnectTimeout,
    /// [`JobDraft::twin_desired`].
    TwinDesired,
    /// [`JobDraft::twin_tags`].
    TwinTags,
    /// [`JobDraft::start_at`].
    StartAt,
    /// [`JobDraft::max_execution_time_in_seconds`].
    MaxExecutionTime,
    /// [`JobDraft::job_id`].
    JobId,
}

/// One thing wrong with a draft: which field, and what to change, as a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FieldError {
    /// The field.
    pub field: DraftField,
    /// What is wrong and what to do, e.g. "The response timeout must be between 5 and 300
    /// seconds (the hub's limits), not 400."
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A draft that passed validation: the job id and the request to send as is.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidJob {
    /// The job id, also in [`JobRequest::job_id`].
    pub job_id: String,
    /// What the job does.
    pub kind: JobKind,
    /// Whether the job starts now ([`JobRequest::start_time`] is then the validation's
    /// `now`) or at a chosen time.
    pub start_mode: StartMode,
    /// The body of `PUT /jobs/v2/{job_id}`.
    pub request: JobRequest,
}

/// Checks every field of `draft` (`now` decides whether a start time is in the past and is
/// the start time of a job that starts now) and builds the job request, or says what is
/// wrong with each bad field, in form order.
pub fn validate(draft: &JobDraft, now: OffsetDateTime) -> Result<ValidJob, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut check = |field: DraftField, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError { field, message });
        }
    };

    let condition = draft.query_condition.trim();
    check(DraftField::QueryCondition, check_condition(condition));

    let mut cloud_to_device_method = None;
    let mut update_twin = None;
    match draft.job_type {
        JobKind::Method => {
            let name = draft.method_name.trim();
            check(DraftField::MethodName, check_method_name(name));
            let payload = parse_payload(&draft.method_payload);
            let response = seconds(
                "The response timeout",
                draft.response_timeout_in_seconds,
                DEFAULT_RESPONSE_TIMEOUT_SECS,
                &RESPONSE_TIMEOUT_RANGE,
            );
            let connect = seconds(
                "The connect timeout",
                draft.connect_timeout_in_seconds,
                DEFAULT_CONNECT_TIMEOUT_SECS,
                &CONNECT_TIMEOUT_RANGE,
            );
            check(DraftField::MethodPayload, outcome(&payload));
            check(DraftField::ResponseTimeout, outcome(&response));
            check(DraftField::ConnectTimeout, outcome(&connect));
            if let (Ok(payload), Ok(response), Ok(connect)) = (payload, response, connect) {
                cloud_to_device_method = Some(CloudToDeviceMethod {
                    method_name: Some(name.to_owned()),
                    payload,
                    response_timeout_in_seconds: i32::try_from(response).ok(),
                    connect_timeout_in_seconds: i32::try_from(connect).ok(),
                });
            }
        }
        JobKind::TwinDesired => {
            match parse_section(
                "The desired properties",
                &draft.twin_desired,
                MAX_DESIRED_BYTES,
            ) {
                Ok(values) => {
                    update_twin = Some(Twin {
                        etag: Some("*".to_owned()),
                        properties: Some(TwinProperties {
                            desired: Some(TwinCollection {
                                values,
                                metadata: None,
                                version: None,
                            }),
                            reported: None,
                        }),
                        ..Twin::default()
                    });
                }
                Err(message) => check(DraftField::TwinDesired, Err(message)),
            }
        }
        JobKind::TwinTags => match parse_section("The tags", &draft.twin_tags, MAX_TAGS_BYTES) {
            Ok(values) => {
                update_twin = Some(Twin {
                    etag: Some("*".to_owned()),
                    tags: Some(values),
                    ..Twin::default()
                });
            }
            Err(message) => check(DraftField::TwinTags, Err(message)),
        },
    }

    let start_time = start_time(draft, now);
    check(DraftField::StartAt, outcome(&start_time));
    let max_execution = seconds(
        "The maximum execution time",
        draft.max_execution_time_in_seconds,
        DEFAULT_MAX_EXECUTION_TIME_SECS,
        &MAX_EXECUTION_TIME_RANGE,
    );
    check(DraftField::MaxExecutionTime, outcome(&max_execution));
    let job_id = draft.job_id.trim();
    check(DraftField::JobId, check_job_id(job_id));

    if !errors.is_empty() {
        return Err(errors);
    }
    // Every check passed, so each of these holds a value.
    let (Ok(start_time), Ok(max_execution)) = (start_time, max_execution) else {
        return Err(errors);
    };
    Ok(ValidJob {
        job_id: job_id.to_owned(),
        kind: draft.job_type,
        start_mode: draft.start_mode,
        request: JobRequest {
            job_id: Some(job_id.to_owned()),
            job_type: Some(draft.job_type.job_type()),
            cloud_to_device_method,
            update_twin,
            query_condition: Some(condition.to_owned()),
            start_time: Some(start_time),
            max_execution_time_in_seconds: Some(max_execution),
        },
    })
}

/// Whether a parsed field is fine, without the value.
fn outcome<T>(result: &Result<T, String>) -> Result<(), String> {
    result.as_ref().map(drop).map_err(Clone::clone)
}

/// The condition: present, short enough for the hub's query limit, and valid syntax.
fn check_condition(condition: &str) -> Result<(), String> {
    if condition.is_empty() {
        return Err(
            "Enter a query condition, such as deviceId = 'door-1', tags.building = 43, or * for all devices."
                .to_owned(),
        );
    }
    let length = condition.chars().count();
    if length > MAX_CONDITION_CHARS {
        return Err(format!(
            "The query condition is {} characters; the hub adds \"{}\" and accepts queries of at most {} characters, so the condition may have at most {}. Target the devices with a tag instead of listing them.",
            group_digits(length),
            CONDITION_PREFIX.trim_end(),
            group_digits(iothub_query::MAX_QUERY_CHARS),
            group_digits(MAX_CONDITION_CHARS),
        ));
    }
    let trimmed_select = condition
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("select"));
    if trimmed_select {
        return Err(
            "Enter only the condition (the WHERE part), not a whole query: the hub adds \"SELECT * FROM devices WHERE\" itself."
                .to_owned(),
        );
    }
    iothub_query::parse_condition(condition)
        .map(drop)
        .map_err(|error| format!("The query condition is not valid: {error}."))
}

/// A method name: present, and usable in the MQTT topic the hub sends it on.
fn check_method_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Enter the name of the direct method to invoke, such as lockDoor.".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| matches!(c, '/' | '?' | '#' | '+') || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "The method name cannot contain {}: the hub sends it to the device inside an MQTT topic.",
            describe_char(bad)
        ));
    }
    Ok(())
}

/// The method payload: empty (no payload) or JSON of at most 128 KB.
fn parse_payload(text: &str) -> Result<Option<Value>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|error| json_error("The method payload", &error))?;
    let size = serde_json::to_vec(&value).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_METHOD_PAYLOAD_BYTES {
        return Err(format!(
            "The method payload is {} bytes; the hub accepts at most {} bytes (128 KB).",
            group_digits(size),
            group_digits(MAX_METHOD_PAYLOAD_BYTES)
        ));
    }
    Ok(Some(value))
}

/// A twin patch section: a non-empty JSON object that the hub's twin rules accept.
fn parse_section(what: &str, text: &str, max_bytes: usize) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Err(format!(
            "{what} patch is empty: enter a JSON object such as {{\"building\": 43, \"floor\": 3}}."
        ));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|error| json_error(&format!("{what} patch"), &error))?;
    let Value::Object(values) = value else {
        return Err(format!(
            "{what} patch must be a JSON object such as {{\"building\": 43}}, not {}.",
            json_kind(&value)
        ));
    };
    if values.is_empty() {
        return Err(format!(
            "{what} patch is an empty object: add at least one property (null deletes one)."
        ));
    }
    check_twin_object(&values, "", 1)?;
    let size = serde_json::to_vec(&values).map_or(usize::MAX, |bytes| bytes.len());
    if size > max_bytes {
        return Err(format!(
            "{what} patch is {} bytes; the hub accepts at most {} bytes.",
            group_digits(size),
            group_digits(max_bytes)
        ));
    }
    Ok(values)
}

fn check_twin_object(object: &Map<String, Value>, path: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_TWIN_DEPTH {
        return Err(format!(
            "The patch nests objects deeper than {MAX_TWIN_DEPTH} levels at \"{path}\"; the hub refuses deeper twins."
        ));
    }
    for (key, value) in object {
        check_twin_key(key)?;
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        check_twin_value(value, &child, depth)?;
    }
    Ok(())
}

fn check_twin_key(key: &str) -> Result<(), String> {
    let shown: String = key.chars().take(64).collect();
    let reason = if key.is_empty() {
        "an empty key is not allowed"
    } else if key.len() > MAX_TWIN_KEY_BYTES {
        "keys may have at most 1,024 bytes"
    } else if key.contains('$') {
        "'$' is reserved for the hub's own properties"
    } else if key.contains('.') {
        "'.' is not allowed in keys (nest an object instead)"
    } else if key.contains(' ') {
        "spaces are not allowed in keys"
    } else if key.chars().any(char::is_control) {
        "control characters are not allowed in keys"
    } else {
        return Ok(());
    };
    Err(format!("The key \"{shown}\" cannot be used: {reason}."))
}

fn check_twin_value(value: &Value, path: &str, depth: usize) -> Result<(), String> {
    match value {
        Value::Null | Value::Bool(_) => Ok(()),
        Value::Number(number) => {
            let fits = match (number.as_i64(), number.as_u64(), number.as_f64()) {
                (Some(i), _, _) => i.unsigned_abs() <= MAX_TWIN_INTEGER.unsigned_abs(),
                (None, Some(_), _) => false,
                (None, None, Some(f)) => f.is_finite(),
                (None, None, None) => false,
            };
            if fits {
                Ok(())
            } else {
                Err(format!(
                    "The number at \"{path}\" is too large: twins hold integers within ±4,503,599,627,370,495."
                ))
            }
        }
        Value::String(text) if text.len() > MAX_TWIN_STRING_BYTES => Err(format!(
            "The text at \"{path}\" is {} bytes; twins hold strings of at most 4,096 bytes.",
            group_digits(text.len())
        )),
        Value::String(_) => Ok(()),
        Value::Array(items) => items.iter().try_for_each(|item| match item {
            Value::Object(inner) => check_twin_object(inner, path, depth + 1),
            other => check_twin_value(other, path, depth),
        }),
        Value::Object(inner) => check_twin_object(inner, path, depth + 1),
    }
}

/// The start time: now, or the given UTC date-time if it is not in the past.
fn start_time(draft: &JobDraft, now: OffsetDateTime) -> Result<HubTime, String> {
    let out_of_range = |_| "The start time must be between the years 1 and 9999.".to_owned();
    match draft.start_mode {
        StartMode::Now => HubTime::at(now).map_err(out_of_range),
        StartMode::At => {
            let text = draft.start_at.trim();
            if text.is_empty() {
                return Err(
                    "Choose the date and time the job should start, or start it now.".to_owned(),
                );
            }
            let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                format!(
                    "\"{}\" is not a date and time with its UTC offset, such as 2025-06-01T14:30:00Z.",
                    text.chars().take(40).collect::<String>()
                )
            })?;
            let behind = (now - at).whole_seconds();
            if behind > START_GRACE_SECS {
                return Err(format!(
                    "The start time {} is {} in the past: choose a later time, or start the job now.",
                    HubTime::at(at).map_or_else(|_| text.to_owned(), utc_minutes),
                    describe_duration(behind)
                ));
            }
            HubTime::at(at).map_err(out_of_range)
        }
    }
}

/// A whole number of seconds within `range`, `default` when left empty.
fn seconds(
    what: &str,
    value: Option<f64>,
    default: i64,
    range: &RangeInclusive<i64>,
) -> Result<i64, String> {
    let Some(value) = value else {
        return Ok(default);
    };
    let limits = format!(
        "between {} and {} seconds",
        group_digits_i64(*range.start()),
        group_digits_i64(*range.end())
    );
    if !value.is_finite() || value.fract() != 0.0 {
        return Err(format!(
            "{what} must be a whole number of seconds, {limits}."
        ));
    }
    // Whole and finite; anything outside i64 is outside the range as well.
    let whole = if value.abs() < 9.0e15 {
        value as i64
    } else {
        i64::MAX
    };
    if !range.contains(&whole) {
        return Err(format!(
            "{what} must be {limits} (the hub's limits), not {}.",
            if whole == i64::MAX {
                format!("{value}")
            } else {
                group_digits_i64(whole)
            }
        ));
    }
    Ok(whole)
}

/// Job ids: 1–64 ASCII letters, digits and `-`.
fn check_job_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("Enter a job id, or keep the generated one.".to_owned());
    }
    let length = id.chars().count();
    if length > MAX_JOB_ID_CHARS {
        return Err(format!(
            "The job id has {length} characters; the hub accepts at most {MAX_JOB_ID_CHARS}."
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "The job id cannot contain {}: use only ASCII letters, digits and '-'.",
            describe_char(bad)
        ));
    }
    Ok(())
}

/// A JSON parse error with its line and column.
fn json_error(what: &str, error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json appends " at line L column C"; the position is said separately.
    let reason = match text.rfind(" at line ") {
        Some(index) => &text[..index],
        None => text.as_str(),
    };
    format!(
        "{what} is not valid JSON: {reason} (line {}, column {}).",
        error.line(),
        error.column()
    )
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "spaces".to_owned(),
        '\t' => "tabs".to_owned(),
        '\n' | '\r' => "line breaks".to_owned(),
        c if c.is_control() || c.is_whitespace() => format!("the character U+{:04X}", u32::from(c)),
        c => format!("'{c}'"),
    }
}

/// A time as the UI shows UTC: `2025-06-01 14:30 UTC`.
pub(crate) fn utc_minutes(time: HubTime) -> String {
    match time.instant() {
        Some(at) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute()
        ),
        None => "never".to_owned(),
    }
}

fn describe_duration(secs: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match secs {
        s if s < 120 => plural(s, "second"),
        s if s < 2 * 3600 => plural(s / 60, "minute"),
        s if s < 2 * 86_400 => plural(s / 3600, "hour"),
        s => plural(s / 86_400, "day"),
    }
}

/// `8192` as `8,192`.
pub(crate) fn group_digits(n: usize) -> String {
    group_digits_i64(i64::try_from(n).unwrap_or(i64::MAX))
}

fn group_digits_i64(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    fn method_draft() -> JobDraft {
        JobDraft {
            query_condition: "deviceId = 'door-1'".to_owned(),
            method_name: "lockDoor".to_owned(),
            method_payload: r#"{"lockTime": "10m"}"#.to_owned(),
            job_id: "job-1".to_owned(),
            ..JobDraft::default()
        }
    }

    fn errors(draft: &JobDraft) -> Vec<(DraftField, String)> {
        match validate(draft, NOW) {
            Ok(job) => panic!("expected errors, got {job:?}"),
            Err(errors) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
        }
    }

    fn only_error(draft: &JobDraft, field: DraftField) -> String {
        let errors = errors(draft);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, field, "{errors:?}");
        errors[0].1.clone()
    }

    #[test]
    fn a_method_draft_becomes_the_request_the_sdks_send() {
        let job = validate(&method_draft(), NOW).expect("valid");
        assert_eq!(job.job_id, "job-1");
        assert_eq!(
            serde_json::to_value(&job.request).expect("serializes"),
            json!({
                "jobId": "job-1",
                "type": "scheduleDeviceMethod",
                "cloudToDeviceMethod": {
                    "methodName": "lockDoor",
                    "payload": {"lockTime": "10m"},
                    "responseTimeoutInSeconds": 30,
                    "connectTimeoutInSeconds": 0
                },
                "queryCondition": "deviceId = 'door-1'",
                "startTime": "2025-06-01T12:00:00.0000000Z",
                "maxExecutionTimeInSeconds": 3600
            })
        );
    }

    #[test]
    fn twin_drafts_are_forced_updates_of_one_section() {
        let draft = JobDraft {
            job_type: JobKind::TwinDesired,
            twin_desired: r#"{"building": 43, "floor": 3}"#.to_owned(),
            start_mode: StartMode::At,
            start_at: "2025-06-01T14:30:00+02:00".to_owned(),
            max_execution_time_in_seconds: Some(60.0),
            ..method_draft()
        };
        let job = validate(&draft, NOW).expect("valid");
        assert_eq!(
            serde_json::to_value(&job.request).expect("serializes"),
            json!({
                "jobId": "job-1",
                "type": "scheduleUpdateTwin",
                "updateTwin": {"etag": "*", "properties": {"desired": {"building": 43, "floor": 3}}},
                "queryCondition": "deviceId = 'door-1'",
                "startTime": "2025-06-01T12:30:00.0000000Z",
                "maxExecutionTimeInSeconds": 60
            })
        );
        let draft = JobDraft {
            job_type: JobKind::TwinTags,
            twin_tags: r#"{"building": null}"#.to_owned(),
            ..method_draft()
        };
        let job = validate(&draft, NOW).expect("valid");
        assert_eq!(
            serde_json::to_value(job.request.update_twin).expect("serializes"),
            json!({"etag": "*", "tags": {"building": null}})
        );
    }

    #[test]
    fn empty_payload_sends_none_and_empty_numbers_mean_defaults() {
        let draft = JobDraft {
            method_payload: "  ".to_owned(),
            response_timeout_in_seconds: None,
            connect_timeout_in_seconds: Some(300.0),
            ..method_draft()
        };
        let job = validate(&draft, NOW).expect("valid");
        let method = job.request.cloud_to_device_method.expect("method");
        assert_eq!(method.payload, None);
        assert_eq!(method.response_timeout_in_seconds, Some(30));
        assert_eq!(method.connect_timeout_in_seconds, Some(300));
    }

    #[test]
    fn condition_errors_are_precise() {
        let draft = |condition: &str| JobDraft {
            query_condition: condition.to_owned(),
            ..method_draft()
        };
        assert!(
            only_error(&draft("  "), DraftField::QueryCondition)
                .starts_with("Enter a query condition")
        );
        assert_eq!(
            only_error(&draft("tags.building = "), DraftField::QueryCondition),
            "The query condition is not valid: Syntax error at line 1, column 16: expected a value after '='."
        );
        let message = only_error(
            &draft("tags.building = 43 AND\n  floor ="),
            DraftField::QueryCondition,
        );
        assert!(message.contains("line 2, column"), "{message}");
        let message = only_error(&draft("SELECT * FROM devices"), DraftField::QueryCondition);
        assert!(message.contains("only the condition"), "{message}");
        let long = format!("deviceId IN [{}]", vec!["'door-0001'"; 700].join(","));
        let message = only_error(&draft(&long), DraftField::QueryCondition);
        assert!(
            message.starts_with("The query condition is 8,413 characters")
                && message.contains("at most 8,164"),
            "{message}"
        );
        assert!(validate(&draft("*"), NOW).is_ok());
        let exact = format!("deviceId = '{}'", "x".repeat(MAX_CONDITION_CHARS - 13));
        assert_eq!(exact.chars().count(), MAX_CONDITION_CHARS);
        assert!(validate(&draft(&exact), NOW).is_ok());
    }

    #[test]
    fn json_errors_have_line_and_column() {
        let draft = JobDraft {
            method_payload: "{\n  \"lockTime\": \"10m\",\n}".to_owned(),
            ..method_draft()
        };
        assert_eq!(
            only_error(&draft, DraftField::MethodPayload),
            "The method payload is not valid JSON: trailing comma (line 3, column 1)."
        );
        let draft = JobDraft {
            job_type: JobKind::TwinDesired,
            twin_desired: "{\"building\": 43".to_owned(),
            ..method_draft()
        };
        assert_eq!(
            only_error(&draft, DraftField::TwinDesired),
            "The desired properties patch is not valid JSON: EOF while parsing an object (line 1, column 15)."
        );
        let draft = JobDraft {
            job_type: JobKind::TwinTags,
            twin_tags: "[1, 2]".to_owned(),
            ..method_draft()
        };
        assert_eq!(
            only_error(&draft, DraftField::TwinTags),
            "The tags patch must be a JSON object such as {\"building\": 43}, not an array."
        );
    }

    #[test]
    fn twin_rules_are_the_hubs() {
        let tags = |text: &str| JobDraft {
            job_type: JobKind::TwinTags,
            twin_tags: text.to_owned(),
            ..method_draft()
        };
        let table = [
            (
                r#"{"a.b": 1}"#,
                "The key \"a.b\" cannot be used: '.' is not allowed in keys (nest an object instead).",
            ),
            (
                r#"{"$version": 1}"#,
                "The key \"$version\" cannot be used: '$' is reserved for the hub's own properties.",
            ),
            (
                r#"{"my key": 1}"#,
                "The key \"my key\" cannot be used: spaces are not allowed in keys.",
            ),
            (
                r#"{}"#,
                "The tags patch is an empty object: add at least one property (null deletes one).",
            ),
            (
                r#"{"n": 9007199254740991}"#,
                "The number at \"n\" is too large: twins hold integers within ±4,503,599,627,370,495.",
            ),
        ];
        for (text, message) in table {
            assert_eq!(
                only_error(&tags(text), DraftField::TwinTags),
                message,
                "{text}"
            );
        }
        let deep = format!("{}1{}", "{\"a\":".repeat(11), "}".repeat(11));
        assert!(only_error(&tags(&deep), DraftField::TwinTags).contains("deeper than 10 levels"));
        let big = format!("{{\"a\": \"{}\"}}", "x".repeat(4000));
        let big = format!("{{\"a\": {big}, \"b\": {big}, \"c\": {big}}}");
        assert_eq!(
            only_error(&tags(&big), DraftField::TwinTags),
            "The tags patch is 12,040 bytes; the hub accepts at most 8,192 bytes."
        );
    }

    #[test]
    fn method_fields_are_checked() {
        let draft = JobDraft {
            method_name: " ".to_owned(),
            response_timeout_in_seconds: Some(400.0),
            connect_timeout_in_seconds: Some(2.5),
            ..method_draft()
        };
        assert_eq!(
            errors(&draft),
            vec![
                (DraftField::MethodName, "Enter the name of the direct method to invoke, such as lockDoor.".to_owned()),
                (DraftField::ResponseTimeout, "The response timeout must be between 5 and 300 seconds (the hub's limits), not 400.".to_owned()),
                (DraftField::ConnectTimeout, "The connect timeout must be a whole number of seconds, between 0 and 300 seconds.".to_owned()),
            ]
        );
        let draft = JobDraft {
            method_name: "lock/door".to_owned(),
            ..method_draft()
        };
        assert_eq!(
            only_error(&draft, DraftField::MethodName),
            "The method name cannot contain '/': the hub sends it to the device inside an MQTT topic."
        );
        let draft = JobDraft {
            method_payload: format!("\"{}\"", "x".repeat(MAX_METHOD_PAYLOAD_BYTES)),
            ..method_draft()
        };
        assert_eq!(
            only_error(&draft, DraftField::MethodPayload),
            "The method payload is 131,074 bytes; the hub accepts at most 131,072 bytes (128 KB)."
        );
    }

    #[test]
    fn method_fields_are_ignored_for_twin_jobs() {
        let draft = JobDraft {
            job_type: JobKind::TwinTags,
            twin_tags: r#"{"building": 43}"#.to_owned(),
            method_name: String::new(),
            response_timeout_in_seconds: Some(1.0),
            ..method_draft()
        };
        assert!(validate(&draft, NOW).is_ok());
    }

    #[test]
    fn start_time_and_execution_time() {
        let at = |text: &str| JobDraft {
            start_mode: StartMode::At,
            start_at: text.to_owned(),
            ..method_draft()
        };
        assert_eq!(
            only_error(&at(""), DraftField::StartAt),
            "Choose the date and time the job should start, or start it now."
        );
        assert_eq!(
            only_error(&at("2025-06-01 14:30"), DraftField::StartAt),
            "\"2025-06-01 14:30\" is not a date and time with its UTC offset, such as 2025-06-01T14:30:00Z."
        );
        assert_eq!(
            only_error(&at("2025-06-01T10:00:00Z"), DraftField::StartAt),
            "The start time 2025-06-01 10:00 UTC is 2 hours in the past: choose a later time, or start the job now."
        );
        // Within the grace period: sent as is, the hub starts it at once.
        assert!(validate(&at("2025-06-01T11:59:30Z"), NOW).is_ok());
        let draft = JobDraft {
            max_execution_time_in_seconds: Some(0.0),
            ..method_draft()
        };
        assert_eq!(
            only_error(&draft, DraftField::MaxExecutionTime),
            "The maximum execution time must be between 1 and 2,147,483,647 seconds (the hub's limits), not 0."
        );
        let draft = JobDraft {
            max_execution_time_in_seconds: Some(f64::NAN),
            ..method_draft()
        };
        assert!(only_error(&draft, DraftField::MaxExecutionTime).contains("whole number"));
    }

    #[test]
    fn job_ids() {
        let id = |text: &str| JobDraft {
            job_id: text.to_owned(),
            ..method_draft()
        };
        assert_eq!(
            only_error(&id(""), DraftField::JobId),
            "Enter a job id, or keep the generated one."
        );
        assert_eq!(
            only_error(&id(&"a".repeat(65)), DraftField::JobId),
            "The job id has 65 characters; the hub accepts at most 64."
        );
        assert_eq!(
            only_error(&id("nightly_lock"), DraftField::JobId),
            "The job id cannot contain '_': use only ASCII letters, digits and '-'."
        );
        assert_eq!(
            only_error(&id("my job"), DraftField::JobId),
            "The job id cannot contain spaces: use only ASCII letters, digits and '-'."
        );
        assert!(validate(&id(&"a".repeat(64)), NOW).is_ok());
        let fresh = JobDraft::new().job_id;
        assert_eq!(fresh.len(), 36);
        assert!(check_job_id(&fresh).is_ok());
    }

    #[test]
    fn draft_json_is_camel_case_and_lenient() {
        let draft: JobDraft = serde_json::from_value(json!({
            "jobType": "twinTags",
            "queryCondition": "*",
            "twinTags": "{\"a\":1}",
            "startMode": "now",
            "responseTimeoutInSeconds": null,
            "jobId": "x"
        }))
        .expect("parses");
        assert_eq!(draft.job_type, JobKind::TwinTags);
        assert_eq!(draft.max_execution_time_in_seconds, None);
        assert!(validate(&draft, NOW).is_ok());
    }

    #[test]
    fn clone_a_job_into_the_builder() {
        let job = validate(&method_draft(), NOW).expect("valid");
        let response: iothub::model::JobResponse =
            serde_json::from_value(serde_json::to_value(&job.request).expect("json"))
                .expect("reads");
        let draft = JobDraft::from_job(&response).expect("a method job");
        assert_eq!(draft.method_name, "lockDoor");
        assert_eq!(draft.query_condition, "deviceId = 'door-1'");
        assert_ne!(draft.job_id, "job-1");
        let again = validate(
            &JobDraft {
                job_id: "job-1".to_owned(),
                ..draft
            },
            NOW,
        )
        .expect("valid");
        assert_eq!(again.request, job.request);
    }
}
