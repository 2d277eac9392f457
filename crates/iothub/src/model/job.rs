//! Scheduled jobs (`/jobs/v2`): the request, the job as the hub reports it, and the per-device
//! rows of `SELECT * FROM devices.jobs`.

use serde::{Deserialize, Serialize};

use super::method::{CloudToDeviceMethod, CloudToDeviceMethodResult};
use super::time::HubTime;
use super::twin::Twin;

wire_enum! {
    /// A job's `type` (swagger `JobRequest.type`), also a device job row's `jobType`.
    ///
    /// Only [`JobType::ScheduleDeviceMethod`] and [`JobType::ScheduleUpdateTwin`] are valid
    /// for `/jobs/v2`; the rest are the v1 import/export family and legacy values. The old
    /// docs spellings `scheduleDirectRequest` and `scheduleTwinUpdate` (still in some device
    /// job samples) are not aliases: they read as [`JobType::Other`].
    pub enum JobType {
        /// `unknown`.
        Unknown = "unknown",
        /// `export`: registry export (v1 jobs).
        Export = "export",
        /// `import`: registry import (v1 jobs).
        Import = "import",
        /// `backup`.
        Backup = "backup",
        /// `readDeviceProperties`.
        ReadDeviceProperties = "readDeviceProperties",
        /// `writeDeviceProperties`.
        WriteDeviceProperties = "writeDeviceProperties",
        /// `updateDeviceConfiguration`.
        UpdateDeviceConfiguration = "updateDeviceConfiguration",
        /// `rebootDevice`.
        RebootDevice = "rebootDevice",
        /// `factoryResetDevice`.
        FactoryResetDevice = "factoryResetDevice",
        /// `firmwareUpdate`.
        FirmwareUpdate = "firmwareUpdate",
        /// `scheduleDeviceMethod`: invoke a direct method on every matching device.
        ScheduleDeviceMethod = "scheduleDeviceMethod",
        /// `scheduleUpdateTwin`: patch tags and desired properties of every matching twin.
        ScheduleUpdateTwin = "scheduleUpdateTwin",
        /// `restoreFromBackup`.
        RestoreFromBackup = "restoreFromBackup",
        /// `failoverDataCopy`.
        FailoverDataCopy = "failoverDataCopy",
    }
}

wire_enum! {
    /// A job's `status` (swagger `JobResponse.status`, plus `pending` from the docs).
    ///
    /// Note the job-level spelling **`cancelled`**; device job rows use `canceled`
    /// ([`DeviceJobStatus`]).
    pub enum JobStatus {
        /// `unknown`.
        Unknown = "unknown",
        /// `enqueued`: accepted, waiting to run (the C# SDK calls `queued` its synonym).
        Enqueued = "enqueued",
        /// `running`.
        Running = "running",
        /// `completed`: ran to the end, even if some devices failed
        /// ([`DeviceJobStatistics::failed_count`]).
        Completed = "completed",
        /// `failed`: the job itself failed (see `failureReason`).
        Failed = "failed",
        /// `cancelled`.
        Cancelled = "cancelled",
        /// `scheduled`: waiting for its `startTime`.
        Scheduled = "scheduled",
        /// `queued`: what `PUT /jobs/v2/{id}` answers, even for a job that starts later.
        Queued = "queued",
        /// `pending`: listed by the docs ("waiting to be picked up"), absent from the swagger.
        Pending = "pending",
    }
}

wire_enum! {
    /// A device job row's `status`. Note the device-level spelling **`canceled`**.
    pub enum DeviceJobStatus {
        /// `pending`.
        Pending = "pending",
        /// `scheduled`.
        Scheduled = "scheduled",
        /// `running`.
        Running = "running",
        /// `completed`.
        Completed = "completed",
        /// `failed`.
        Failed = "failed",
        /// `canceled`.
        Canceled = "canceled",
    }
}

impl JobStatus {
    /// Whether the job has stopped for good (`completed`, `failed` or `cancelled`).
    ///
    /// Unknown values are not finished: a poller keeps polling rather than stopping early.
    pub fn is_finished(&self) -> bool {
        match self {
            Self::Completed | Self::Failed | Self::Cancelled => true,
            Self::Unknown
            | Self::Enqueued
            | Self::Running
            | Self::Scheduled
            | Self::Queued
            | Self::Pending
            | Self::Other(_) => false,
        }
    }
}

impl DeviceJobStatus {
    /// Whether this device's part of the job has stopped for good.
    pub fn is_finished(&self) -> bool {
        match self {
            Self::Completed | Self::Failed | Self::Canceled => true,
            Self::Pending | Self::Scheduled | Self::Running | Self::Other(_) => false,
        }
    }
}

/// The body of `PUT /jobs/v2/{id}` (swagger `JobRequest`).
///
/// For `scheduleDeviceMethod` set `cloud_to_device_method`; for `scheduleUpdateTwin` set
/// `update_twin` (with `etag: "*"`: the hub only accepts forced updates). `query_condition`
/// is the `WHERE` part of a devices query, e.g. `DeviceId in ['dev1']`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequest {
    /// `jobId`: the same id as in the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<JobType>,
    /// `cloudToDeviceMethod`: the method to invoke (method jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_to_device_method: Option<CloudToDeviceMethod>,
    /// `updateTwin`: the patch to apply (twin jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_twin: Option<Twin>,
    /// `queryCondition`: which devices the job targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_condition: Option<String>,
    /// `startTime`: when to start; a past time starts the job at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<HubTime>,
    /// `maxExecutionTimeInSeconds`: the budget for the whole job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_execution_time_in_seconds: Option<i64>,
}

/// A job as the hub reports it (swagger `JobResponse`): the answer to create, get and cancel.
///
/// Every field is optional on the wire: right after creation the hub answers only
/// `{"jobId","type","status"}`. A local hub should always fill in `status`, which the Python
/// tutorial concatenates into a string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResponse {
    /// `jobId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `queryCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_condition: Option<String>,
    /// `createdTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<HubTime>,
    /// `startTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<HubTime>,
    /// `endTime`: set once the job has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<HubTime>,
    /// `maxExecutionTimeInSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_execution_time_in_seconds: Option<i64>,
    /// `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<JobType>,
    /// `cloudToDeviceMethod` (method jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_to_device_method: Option<CloudToDeviceMethod>,
    /// `updateTwin` (twin jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_twin: Option<Twin>,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// `failureReason`: why a `failed` job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// `statusMessage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// `deviceJobStatistics`: per-device counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_job_statistics: Option<DeviceJobStatistics>,
    /// `deviceId`: not in the swagger; the C# SDK maps it for per-device records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `parentJobId`: not in the swagger; the C# SDK maps it for child records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_job_id: Option<String>,
}

/// How a job's devices are doing (swagger `DeviceJobStatistics`).
///
/// The hub always writes all five counts, so they are plain numbers (missing reads as 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceJobStatistics {
    /// `deviceCount`: devices the job targets.
    #[serde(default)]
    pub device_count: i32,
    /// `failedCount`.
    #[serde(default)]
    pub failed_count: i32,
    /// `succeededCount`.
    #[serde(default)]
    pub succeeded_count: i32,
    /// `runningCount`.
    #[serde(default)]
    pub running_count: i32,
    /// `pendingCount`: scheduled, not yet started.
    #[serde(default)]
    pub pending_count: i32,
}

/// One device's part in a job: a row of `SELECT * FROM devices.jobs` (item type `deviceJob`).
///
/// Not in the swagger; field names from the C# SDK's `DeviceJob` and the docs' samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceJob {
    /// `deviceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `jobId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `jobType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<JobType>,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeviceJobStatus>,
    /// `startTimeUtc` (the docs' sample writes it without `Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time_utc: Option<HubTime>,
    /// `endTimeUtc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time_utc: Option<HubTime>,
    /// `createdDateTimeUtc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time_utc: Option<HubTime>,
    /// `lastUpdatedDateTimeUtc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_date_time_utc: Option<HubTime>,
    /// `outcome`: the device's answer, for method jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<DeviceJobOutcome>,
    /// `error`: why this device failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<DeviceJobError>,
}

/// A device job row's `outcome`.
///
/// `deviceMethodResponse` is always written, as `null` for twin jobs, as in the docs' sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceJobOutcome {
    /// `deviceMethodResponse`: what the device answered to the job's method.
    #[serde(default)]
    pub device_method_response: Option<CloudToDeviceMethodResult>,
}

/// A device job row's `error`, e.g. code `DeviceNotOnline`, description
/// "Timed out waiting for device to connect".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceJobError {
    /// `code`: an error code *name* (text, not the numeric code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_statuses() {
        let finished: Vec<&str> = JobStatus::KNOWN
            .iter()
            .filter(|s| s.is_finished())
            .map(JobStatus::as_str)
            .collect();
        assert_eq!(finished, ["completed", "failed", "cancelled"]);
        let finished: Vec<&str> = DeviceJobStatus::KNOWN
            .iter()
            .filter(|s| s.is_finished())
            .map(DeviceJobStatus::as_str)
            .collect();
        assert_eq!(finished, ["completed", "failed", "canceled"]);
        assert!(!JobStatus::from_wire("done").is_finished());
    }

    #[test]
    fn job_request_leaves_out_what_is_unset() {
        let request = JobRequest {
            job_id: Some("job01".to_owned()),
            job_type: Some(JobType::ScheduleDeviceMethod),
            ..JobRequest::default()
        };
        assert_eq!(
            serde_json::to_string(&request).expect("serializes"),
            r#"{"jobId":"job01","type":"scheduleDeviceMethod"}"#
        );
    }

    #[test]
    fn missing_and_null_fields_read_as_none() {
        let job: JobResponse = serde_json::from_str(
            r#"{"jobId":null,"status":"running","deviceJobStatistics":{"deviceCount":2}}"#,
        )
        .expect("parses");
        assert_eq!(job.job_id, None);
        assert_eq!(job.status, Some(JobStatus::Running));
        assert_eq!(
            job.device_job_statistics,
            Some(DeviceJobStatistics {
                device_count: 2,
                ..DeviceJobStatistics::default()
            })
        );
    }

    #[test]
    fn twin_job_outcome_writes_a_null_response() {
        let row = DeviceJob {
            outcome: Some(DeviceJobOutcome::default()),
            ..DeviceJob::default()
        };
        assert_eq!(
            serde_json::to_string(&row).expect("serializes"),
            r#"{"outcome":{"deviceMethodResponse":null}}"#
        );
    }
}
