//! Table `jobs`: one row per (profile, job) with the job as last read, the request as sent
//! (for jobs this app created) and the timeline's columns.
//!
//! A new read of a job is merged into the stored document field by field: the hub answers a
//! creation or a cancellation with a short body (`jobId`, `type`, `status`), which must not
//! erase the times and statistics read before.

use iothub::model::{HubTime, JobRequest, JobResponse};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params, params_from_iter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use ts_rs::TS;

use super::{Archive, ArchiveError, hub_text, unix_ms};
use crate::draft::JobKind;
use crate::summary::{JobSummary, kind_of};

/// The most jobs one list returns.
const MAX_LIST: u32 = 10_000;
/// What a list returns without a limit.
const DEFAULT_LIST: u32 = 1_000;

pub(super) fn migrate_v1(tx: &Transaction<'_>) -> Result<(), ArchiveError> {
    tx.execute_batch(
        "CREATE TABLE jobs (
            profile_id TEXT NOT NULL,
            job_id TEXT NOT NULL,
            job_type TEXT NOT NULL DEFAULT '',
            kind TEXT,
            status TEXT NOT NULL DEFAULT '',
            created_ms INTEGER,
            start_ms INTEGER,
            end_ms INTEGER,
            -- the timeline's order: when the hub created the job, else when we first saw it
            sort_ms INTEGER NOT NULL,
            job_json TEXT NOT NULL,
            request_json TEXT,
            created_by_me INTEGER NOT NULL DEFAULT 0,
            first_seen_ms INTEGER NOT NULL,
            last_seen_ms INTEGER NOT NULL,
            PRIMARY KEY (profile_id, job_id)
        ) WITHOUT ROWID;
        CREATE INDEX jobs_by_time ON jobs (profile_id, sort_ms);",
    )?;
    Ok(())
}

/// Which jobs the timeline lists. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(export)]
pub struct JobFilter {
    /// Only jobs with one of these hub statuses (e.g. `running`, `completed`).
    pub statuses: Vec<String>,
    /// Only jobs of these kinds.
    pub kinds: Vec<JobKind>,
    /// Only jobs still running at or ending after this time (ISO 8601).
    pub from: Option<String>,
    /// Only jobs created or starting at or before this time (ISO 8601).
    pub to: Option<String>,
    /// At most this many, the most recent first (default 1,000, at most 10,000).
    pub limit: Option<u32>,
}

/// A job from the archive, with the documents behind its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ArchivedJob {
    /// What the timeline shows.
    pub summary: JobSummary,
    /// The job as last read from the hub, pretty JSON.
    pub job_json: String,
    /// The request as this app sent it, pretty JSON; `None` for jobs made elsewhere.
    pub request_json: Option<String>,
}

impl ArchivedJob {
    /// The job as last read.
    pub fn job(&self) -> Result<JobResponse, ArchiveError> {
        Ok(serde_json::from_str(&self.job_json)?)
    }

    /// The request as sent, if this app created the job.
    pub fn request(&self) -> Result<Option<JobRequest>, ArchiveError> {
        self.request_json
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(ArchiveError::from)
    }
}

impl Archive {
    /// Records a read of `job` (of `profile_id`) at `now`: inserted if new, else merged
    /// into the stored document. Returns the job's summary.
    pub fn record_seen(
        &self,
        profile_id: &str,
        job: &JobResponse,
        now: OffsetDateTime,
    ) -> Result<JobSummary, ArchiveError> {
        self.record(profile_id, job, None, now)
    }

    /// Records a job this app created with `request` and the hub's answer to it.
    pub fn record_created(
        &self,
        profile_id: &str,
        request: &JobRequest,
        answer: &JobResponse,
        now: OffsetDateTime,
    ) -> Result<JobSummary, ArchiveError> {
        self.record(profile_id, answer, Some(request), now)
    }

    fn record(
        &self,
        profile_id: &str,
        job: &JobResponse,
        request: Option<&JobRequest>,
        now: OffsetDateTime,
    ) -> Result<JobSummary, ArchiveError> {
        let job_id = job
            .job_id
            .clone()
            .or_else(|| request.and_then(|r| r.job_id.clone()))
            .unwrap_or_default();
        let now_ms = unix_ms(now);
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let stored: Option<(String, Option<String>, bool, i64)> = tx
            .prepare_cached(
                "SELECT job_json, request_json, created_by_me, first_seen_ms FROM jobs
                 WHERE profile_id = ?1 AND job_id = ?2",
            )?
            .query_row(params![profile_id, job_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?;
        let mut document = serde_json::to_value(job)?;
        if let Value::Object(fields) = &mut document {
            fields.insert("jobId".to_owned(), Value::String(job_id.clone()));
        }
        let (first_seen_ms, mut created_by_me, mut request_json) = (now_ms, false, None);
        let (first_seen_ms, document) = match stored {
            Some((old, old_request, old_mine, old_first)) => {
                created_by_me = old_mine;
                request_json = old_request;
                (old_first, merge(serde_json::from_str(&old)?, document))
            }
            None => (first_seen_ms, document),
        };
        if let Some(request) = request {
            created_by_me = true;
            request_json = Some(serde_json::to_string(request)?);
        }
        let merged: JobResponse = serde_json::from_value(document.clone())?;
        let request_kind = request_json
            .as_deref()
            .and_then(|text| serde_json::from_str::<JobResponse>(text).ok())
            .and_then(|r| kind_of(&r));
        let kind = kind_of(&merged).or(request_kind);
        let ms = |t: Option<HubTime>| t.and_then(HubTime::instant).map(unix_ms);
        let created_ms = ms(merged.created_time);
        tx.prepare_cached(
            "INSERT INTO jobs (profile_id, job_id, job_type, kind, status, created_ms, start_ms,
                 end_ms, sort_ms, job_json, request_json, created_by_me, first_seen_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (profile_id, job_id) DO UPDATE SET
                 job_type = excluded.job_type, kind = excluded.kind, status = excluded.status,
                 created_ms = excluded.created_ms, start_ms = excluded.start_ms,
                 end_ms = excluded.end_ms, sort_ms = excluded.sort_ms,
                 job_json = excluded.job_json, request_json = excluded.request_json,
                 created_by_me = excluded.created_by_me, last_seen_ms = excluded.last_seen_ms",
        )?
        .execute(params![
            profile_id,
            job_id,
            merged.job_type.as_ref().map_or("", |t| t.as_str()),
            kind.map(kind_text),
            merged.status.as_ref().map_or("", |s| s.as_str()),
            created_ms,
            ms(merged.start_time),
            ms(merged.end_time),
            created_ms.unwrap_or(first_seen_ms),
            serde_json::to_string(&document)?,
            request_json,
            created_by_me,
            first_seen_ms,
            now_ms,
        ])?;
        tx.commit()?;
        Ok(JobSummary::of(
            profile_id,
            &merged,
            created_by_me,
            hub_text(first_seen_ms),
            hub_text(now_ms),
        ))
    }

    /// The job `job_id` of `profile_id`, if the archive has it.
    pub fn job(&self, profile_id: &str, job_id: &str) -> Result<Option<ArchivedJob>, ArchiveError> {
        let connection = self.lock();
        let row = connection
            .prepare_cached(
                "SELECT job_json, request_json, created_by_me, first_seen_ms, last_seen_ms
                 FROM jobs WHERE profile_id = ?1 AND job_id = ?2",
            )?
            .query_row(params![profile_id, job_id], read_row)
            .optional()?;
        drop(connection);
        row.map(|row| archived(profile_id, row)).transpose()
    }

    /// The jobs of `profile_id` that `filter` selects, the most recent first.
    pub fn list_jobs(
        &self,
        profile_id: &str,
        filter: &JobFilter,
    ) -> Result<Vec<JobSummary>, ArchiveError> {
        let mut sql = String::from(
            "SELECT job_json, request_json, created_by_me, first_seen_ms, last_seen_ms
             FROM jobs WHERE profile_id = ?",
        );
        let mut args: Vec<SqlValue> = vec![SqlValue::Text(profile_id.to_owned())];
        if !filter.statuses.is_empty() {
            sql.push_str(&format!(
                " AND status IN ({})",
                placeholders(filter.statuses.len())
            ));
            args.extend(filter.statuses.iter().map(|s| SqlValue::Text(s.clone())));
        }
        if !filter.kinds.is_empty() {
            sql.push_str(&format!(
                " AND kind IN ({})",
                placeholders(filter.kinds.len())
            ));
            args.extend(
                filter
                    .kinds
                    .iter()
                    .map(|k| SqlValue::Text(kind_text(*k).to_owned())),
            );
        }
        if let Some(from) = time_bound(filter.from.as_deref())? {
            sql.push_str(" AND COALESCE(end_ms, 9223372036854775807) >= ?");
            args.push(SqlValue::Integer(from));
        }
        if let Some(to) = time_bound(filter.to.as_deref())? {
            sql.push_str(" AND COALESCE(start_ms, sort_ms) <= ?");
            args.push(SqlValue::Integer(to));
        }
        sql.push_str(" ORDER BY sort_ms DESC, job_id LIMIT ?");
        let limit = filter.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
        args.push(SqlValue::Integer(i64::from(limit)));
        let connection = self.lock();
        let rows = connection
            .prepare_cached(&sql)?
            .query_map(params_from_iter(args), read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        drop(connection);
        rows.into_iter()
            .map(|row| archived(profile_id, row).map(|job| job.summary))
            .collect()
    }

    /// The ids of the jobs of `profile_id` not known to be finished, e.g. to watch again
    /// after a restart.
    pub fn unfinished_job_ids(&self, profile_id: &str) -> Result<Vec<String>, ArchiveError> {
        let connection = self.lock();
        let ids = connection
            .prepare_cached(
                "SELECT job_id FROM jobs WHERE profile_id = ?1
                 AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY sort_ms",
            )?
            .query_map(params![profile_id], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }
}

type Row = (String, Option<String>, bool, i64, i64);

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn archived(
    profile_id: &str,
    (job_json, request_json, mine, first, last): Row,
) -> Result<ArchivedJob, ArchiveError> {
    let job: JobResponse = serde_json::from_str(&job_json)?;
    let pretty = |text: &str| -> Result<String, ArchiveError> {
        Ok(serde_json::to_string_pretty(
            &serde_json::from_str::<Value>(text)?,
        )?)
    };
    Ok(ArchivedJob {
        summary: JobSummary::of(profile_id, &job, mine, hub_text(first), hub_text(last)),
        job_json: pretty(&job_json)?,
        request_json: request_json.as_deref().map(pretty).transpose()?,
    })
}

/// `new`'s fields over `old`'s (top level; both objects), `new` as is otherwise.
fn merge(old: Value, new: Value) -> Value {
    match (old, new) {
        (Value::Object(mut old), Value::Object(new)) => {
            for (key, value) in new {
                old.insert(key, value);
            }
            Value::Object(old)
        }
        (_, new) => new,
    }
}

pub(super) fn kind_text(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Method => "method",
        JobKind::TwinDesired => "twinDesired",
        JobKind::TwinTags => "twinTags",
    }
}

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

fn time_bound(text: Option<&str>) -> Result<Option<i64>, ArchiveError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let time =
        HubTime::parse(text).map_err(|_| ArchiveError::Time(text.chars().take(40).collect()))?;
    Ok(Some(time.instant().map_or(i64::MIN, unix_ms)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn job(value: Value) -> JobResponse {
        serde_json::from_value(value).expect("job")
    }

    #[test]
    fn short_answers_do_not_erase_what_was_read() {
        let archive = Archive::open_in_memory().expect("opens");
        let t0 = datetime!(2025-06-01 12:00 UTC);
        let request: JobRequest = serde_json::from_value(json!({
            "jobId": "j1", "type": "scheduleDeviceMethod",
            "cloudToDeviceMethod": {"methodName": "lockDoor"}, "queryCondition": "*"
        }))
        .expect("request");
        let summary = archive
            .record_created(
                "p",
                &request,
                &job(json!({"jobId": "j1", "type": "scheduleDeviceMethod", "status": "queued"})),
                t0,
            )
            .expect("records");
        assert!(summary.created_by_me);
        assert_eq!(
            summary.kind,
            Some(JobKind::Method),
            "the kind comes from the request"
        );
        archive
            .record_seen(
                "p",
                &job(json!({
                    "jobId": "j1", "type": "scheduleDeviceMethod", "status": "running",
                    "createdTime": "2025-06-01T12:00:01Z", "queryCondition": "*",
                    "cloudToDeviceMethod": {"methodName": "lockDoor"},
                    "deviceJobStatistics": {"deviceCount": 2, "runningCount": 2}
                })),
                t0 + time::Duration::seconds(1),
            )
            .expect("records");
        let later = t0 + time::Duration::seconds(5);
        let summary = archive
            .record_seen(
                "p",
                &job(json!({"jobId": "j1", "status": "cancelled"})),
                later,
            )
            .expect("records");
        assert_eq!(summary.status, "cancelled");
        assert!(summary.finished);
        assert_eq!(
            summary.created_time.as_deref(),
            Some("2025-06-01T12:00:01.0000000Z")
        );
        assert_eq!(summary.progress.map(|p| p.device_count), Some(2));
        assert!(summary.created_by_me, "still mine");
        assert_eq!(summary.first_seen, "2025-06-01T12:00:00.0000000Z");
        assert_eq!(summary.last_seen, "2025-06-01T12:00:05.0000000Z");
        let stored = archive.job("p", "j1").expect("reads").expect("archived");
        assert_eq!(stored.request().expect("parses"), Some(request));
        assert!(archive.job("other-profile", "j1").expect("reads").is_none());
    }

    #[test]
    fn timeline_filters() {
        let archive = Archive::open_in_memory().expect("opens");
        let now = datetime!(2025-06-01 12:00 UTC);
        let jobs = [
            json!({"jobId": "m1", "type": "scheduleDeviceMethod", "status": "completed",
                   "createdTime": "2025-06-01T08:00:00Z", "startTime": "2025-06-01T08:00:00Z", "endTime": "2025-06-01T08:05:00Z",
                   "cloudToDeviceMethod": {"methodName": "lockDoor"}}),
            json!({"jobId": "t1", "type": "scheduleUpdateTwin", "status": "running",
                   "createdTime": "2025-06-01T10:00:00Z", "startTime": "2025-06-01T10:00:00Z",
                   "updateTwin": {"etag": "*", "tags": {"building": 43}}}),
            json!({"jobId": "s1", "type": "scheduleDeviceMethod", "status": "scheduled",
                   "createdTime": "2025-06-01T11:00:00Z", "startTime": "2025-06-02T09:00:00Z",
                   "cloudToDeviceMethod": {"methodName": "lockDoor"}}),
        ];
        for value in jobs {
            archive.record_seen("p", &job(value), now).expect("records");
        }
        archive
            .record_seen(
                "q",
                &job(json!({"jobId": "other", "status": "running"})),
                now,
            )
            .expect("records");
        let ids = |filter: JobFilter| -> Vec<String> {
            archive
                .list_jobs("p", &filter)
                .expect("lists")
                .into_iter()
                .map(|s| s.job_id)
                .collect()
        };
        assert_eq!(ids(JobFilter::default()), ["s1", "t1", "m1"]);
        assert_eq!(
            ids(JobFilter {
                statuses: vec!["running".into(), "scheduled".into()],
                ..JobFilter::default()
            }),
            ["s1", "t1"]
        );
        assert_eq!(
            ids(JobFilter {
                kinds: vec![JobKind::TwinTags],
                ..JobFilter::default()
            }),
            ["t1"]
        );
        // 09:00–10:30: m1 ended at 08:05, s1 starts tomorrow.
        assert_eq!(
            ids(JobFilter {
                from: Some("2025-06-01T09:00:00Z".into()),
                to: Some("2025-06-01T10:30:00Z".into()),
                ..JobFilter::default()
            }),
            ["t1"]
        );
        assert_eq!(
            ids(JobFilter {
                limit: Some(1),
                ..JobFilter::default()
            }),
            ["s1"]
        );
        assert!(matches!(
            archive.list_jobs(
                "p",
                &JobFilter {
                    from: Some("yesterday".into()),
                    ..JobFilter::default()
                }
            ),
            Err(ArchiveError::Time(_))
        ));
        assert_eq!(
            archive.unfinished_job_ids("p").expect("lists"),
            ["t1", "s1"]
        );
    }
}
