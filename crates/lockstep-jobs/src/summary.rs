//! What the timeline and the job detail show: [`JobSummary`] (a job as last read, with the
//! archive's bookkeeping) and [`DeviceResult`] (one device's row). Both are generated as
//! TypeScript types for the UI; times are the hub's ISO 8601 text (`…0000000Z`).

use iothub::model::{DeviceJob, DeviceJobStatistics, JobResponse, JobType};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::draft::JobKind;

/// How a job's devices are doing: the hub's `deviceJobStatistics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct JobProgress {
    /// Devices the job targets.
    pub device_count: i32,
    /// Devices done successfully.
    pub succeeded_count: i32,
    /// Devices that failed.
    pub failed_count: i32,
    /// Devices being processed.
    pub running_count: i32,
    /// Devices not started yet.
    pub pending_count: i32,
}

impl From<DeviceJobStatistics> for JobProgress {
    fn from(stats: DeviceJobStatistics) -> Self {
        Self {
            device_count: stats.device_count,
            succeeded_count: stats.succeeded_count,
            failed_count: stats.failed_count,
            running_count: stats.running_count,
            pending_count: stats.pending_count,
        }
    }
}

/// A job as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct JobSummary {
    /// The profile (hub) the job belongs to.
    pub profile_id: String,
    /// The job id.
    pub job_id: String,
    /// The hub's job type, e.g. `scheduleDeviceMethod` (empty if the hub did not say).
    pub job_type: String,
    /// Method, desired properties or tags, when the job says which.
    pub kind: Option<JobKind>,
    /// The hub's status, e.g. `running` or `cancelled` (empty if the hub did not say).
    pub status: String,
    /// Whether the status is final (`completed`, `failed`, `cancelled`).
    pub finished: bool,
    /// Which devices.
    pub query_condition: Option<String>,
    /// The direct method, for method jobs.
    pub method_name: Option<String>,
    /// When the hub created the job.
    pub created_time: Option<String>,
    /// When it starts or started.
    pub start_time: Option<String>,
    /// When it ended.
    pub end_time: Option<String>,
    /// Its budget, in seconds.
    pub max_execution_time_in_seconds: Option<f64>,
    /// Device counts, once the hub reports them.
    pub progress: Option<JobProgress>,
    /// Why a failed job failed.
    pub failure_reason: Option<String>,
    /// The hub's status message.
    pub status_message: Option<String>,
    /// Whether this app created the job (then the request as sent is archived).
    pub created_by_me: bool,
    /// When the archive first saw the job.
    pub first_seen: String,
    /// When the archive last read it.
    pub last_seen: String,
}

impl JobSummary {
    /// The summary of `job` (of `profile_id`), with the archive's bookkeeping.
    pub fn of(
        profile_id: &str,
        job: &JobResponse,
        created_by_me: bool,
        first_seen: String,
        last_seen: String,
    ) -> Self {
        let time =
            |t: Option<iothub::model::HubTime>| t.filter(|t| !t.is_never()).map(|t| t.to_string());
        Self {
            profile_id: profile_id.to_owned(),
            job_id: job.job_id.clone().unwrap_or_default(),
            job_type: job
                .job_type
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            kind: kind_of(job),
            status: job
                .status
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            finished: job.status.as_ref().is_some_and(|s| s.is_finished()),
            query_condition: job.query_condition.clone(),
            method_name: job
                .cloud_to_device_method
                .as_ref()
                .and_then(|m| m.method_name.clone()),
            created_time: time(job.created_time),
            start_time: time(job.start_time),
            end_time: time(job.end_time),
            max_execution_time_in_seconds: job.max_execution_time_in_seconds.map(|s| s as f64),
            progress: job.device_job_statistics.map(JobProgress::from),
            failure_reason: job.failure_reason.clone(),
            status_message: job.status_message.clone(),
            created_by_me,
            first_seen,
            last_seen,
        }
    }
}

/// Which kind of builder job `job` is: a method job, or a twin job patching desired
/// properties (or, without any, tags). `None` for other types or when the hub left the
/// details out.
pub fn kind_of(job: &JobResponse) -> Option<JobKind> {
    match job.job_type.as_ref()? {
        JobType::ScheduleDeviceMethod => Some(JobKind::Method),
        JobType::ScheduleUpdateTwin => {
            let twin = job.update_twin.as_ref()?;
            let has_desired = twin
                .properties
                .as_ref()
                .and_then(|p| p.desired.as_ref())
                .is_some_and(|d| !d.values.is_empty());
            if has_desired {
                Some(JobKind::TwinDesired)
            } else if twin.tags.is_some() {
                Some(JobKind::TwinTags)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// One device's part in a job, as the results table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DeviceResult {
    /// The device.
    pub device_id: String,
    /// The device-level status, e.g. `completed` or `canceled`.
    pub status: String,
    /// When the hub started on this device.
    pub start_time: Option<String>,
    /// When it finished.
    pub end_time: Option<String>,
    /// The status the device answered the method with.
    pub method_status: Option<i32>,
    /// What the device answered, as compact JSON text.
    pub method_payload: Option<String>,
    /// Why it failed: the error code's name, e.g. `DeviceNotOnline`.
    pub error_code: Option<String>,
    /// Why it failed, in the hub's words.
    pub error_description: Option<String>,
    /// When the hub last changed this row.
    pub last_updated: Option<String>,
}

impl DeviceResult {
    /// The row for `row`; `None` without a device id.
    pub fn of(row: &DeviceJob) -> Option<Self> {
        let time =
            |t: Option<iothub::model::HubTime>| t.filter(|t| !t.is_never()).map(|t| t.to_string());
        let response = row
            .outcome
            .as_ref()
            .and_then(|o| o.device_method_response.as_ref());
        Some(Self {
            device_id: row.device_id.clone()?,
            status: row
                .status
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            start_time: time(row.start_time_utc),
            end_time: time(row.end_time_utc),
            method_status: response.and_then(|r| r.status),
            method_payload: response.and_then(|r| serde_json::to_string(&r.payload).ok()),
            error_code: row.error.as_ref().and_then(|e| e.code.clone()),
            error_description: row.error.as_ref().and_then(|e| e.description.clone()),
            last_updated: time(row.last_updated_date_time_utc),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn device_rows_flatten_outcome_and_error() {
        let row: DeviceJob = serde_json::from_value(json!({
            "deviceId": "dev1", "jobId": "j", "jobType": "scheduleDeviceMethod",
            "status": "completed",
            "startTimeUtc": "2024-05-01T12:34:56.1234567Z",
            "endTimeUtc": "0001-01-01T00:00:00",
            "outcome": {"deviceMethodResponse": {"status": 200, "payload": {"locked": true}}}
        }))
        .expect("row");
        let result = DeviceResult::of(&row).expect("has an id");
        assert_eq!(result.method_status, Some(200));
        assert_eq!(result.method_payload.as_deref(), Some(r#"{"locked":true}"#));
        assert_eq!(
            result.start_time.as_deref(),
            Some("2024-05-01T12:34:56.1234567Z")
        );
        assert_eq!(result.end_time, None, "never is no time");
        let failed: DeviceJob = serde_json::from_value(json!({
            "deviceId": "dev2", "status": "failed",
            "error": {"code": "DeviceNotOnline", "description": "Timed out waiting for device to connect"}
        }))
        .expect("row");
        let result = DeviceResult::of(&failed).expect("has an id");
        assert_eq!(result.error_code.as_deref(), Some("DeviceNotOnline"));
        assert_eq!(result.method_payload, None);
    }

    #[test]
    fn kinds_of_jobs() {
        let job = |value| serde_json::from_value::<JobResponse>(value).expect("job");
        assert_eq!(
            kind_of(&job(json!({"type": "scheduleDeviceMethod"}))),
            Some(JobKind::Method)
        );
        assert_eq!(
            kind_of(&job(
                json!({"type": "scheduleUpdateTwin", "updateTwin": {"etag": "*", "tags": {"a": 1}}})
            )),
            Some(JobKind::TwinTags)
        );
        assert_eq!(
            kind_of(&job(
                json!({"type": "scheduleUpdateTwin", "updateTwin": {"properties": {"desired": {"a": 1}}}})
            )),
            Some(JobKind::TwinDesired)
        );
        assert_eq!(kind_of(&job(json!({"type": "scheduleUpdateTwin"}))), None);
        assert_eq!(kind_of(&job(json!({"type": "export"}))), None);
    }
}
