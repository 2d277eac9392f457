//! Table `jobs`: one row per scheduled job (`/jobs/v2`), its `JobResponse` document plus the
//! columns the scheduler and the jobs query filter and sort on.
//!
//! `deviceJobStatistics` is not stored here: the job engine keeps it in memory while it
//! dispatches a job and otherwise counts it from `device_jobs` when a job is read. Finished jobs are purged 30 days after they end.

use iothub::model::{HubTime, JobResponse, JobStatus, JobType};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// Created on open when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    job_id       TEXT PRIMARY KEY NOT NULL,
    job_type     TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_time TEXT NOT NULL,
    end_time     TEXT,
    run_started  TEXT,
    document     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_time, job_id);
";

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// The job as the REST API shows it, without `deviceJobStatistics`.
    pub job: JobResponse,
    /// When the job started running (its device set was fixed): the origin of its
    /// `maxExecutionTimeInSeconds` budget. `None` until then.
    pub run_started: Option<HubTime>,
}

impl JobRow {
    /// The job id (empty if the document has none, which the hub never writes).
    pub fn id(&self) -> &str {
        self.job.job_id.as_deref().unwrap_or_default()
    }

    /// The job's status (`unknown` if the document has none).
    pub fn status(&self) -> JobStatus {
        self.job.status.clone().unwrap_or(JobStatus::Unknown)
    }
}

/// Inserts a new job; fails if the id exists (the caller checks first).
pub fn insert(conn: &Connection, row: &JobRow) -> Result<(), StoreError> {
    let created = row.job.created_time.unwrap_or(HubTime::NEVER).to_string();
    conn.prepare_cached(
        "INSERT INTO jobs (job_id, job_type, status, created_time, end_time, run_started, document)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        row.id(),
        job_type(&row.job),
        row.status().as_str(),
        created,
        row.job.end_time.map(|t| t.to_string()),
        row.run_started.map(|t| t.to_string()),
        serde_json::to_string(&row.job)?
    ])?;
    Ok(())
}

/// Rewrites an existing job (status, times, document).
pub fn update(conn: &Connection, row: &JobRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE jobs SET status = ?2, end_time = ?3, run_started = ?4, document = ?5
         WHERE job_id = ?1",
    )?
    .execute(params![
        row.id(),
        row.status().as_str(),
        row.job.end_time.map(|t| t.to_string()),
        row.run_started.map(|t| t.to_string()),
        serde_json::to_string(&row.job)?
    ])?;
    Ok(())
}

/// The job `id`, if any.
pub fn get(conn: &Connection, id: &str) -> Result<Option<JobRow>, StoreError> {
    conn.prepare_cached("SELECT document, run_started FROM jobs WHERE job_id = ?1")?
        .query_row(params![id], raw_row)
        .optional()?
        .map(decode)
        .transpose()
}

/// Every job whose status is one of `statuses`, oldest first.
pub fn with_status(conn: &Connection, statuses: &[JobStatus]) -> Result<Vec<JobRow>, StoreError> {
    let mut out = Vec::new();
    for status in statuses {
        let mut stmt = conn.prepare_cached(
            "SELECT document, run_started FROM jobs WHERE status = ?1
             ORDER BY created_time, job_id",
        )?;
        for raw in stmt.query_map(params![status.as_str()], raw_row)? {
            out.push(decode(raw?)?);
        }
    }
    Ok(out)
}

/// One page of jobs, oldest first, optionally only of `job_type` and `status` (exact wire
/// spellings): at most `limit` rows after skipping `offset`.
pub fn page(
    conn: &Connection,
    job_type: Option<&JobType>,
    status: Option<&JobStatus>,
    offset: usize,
    limit: usize,
) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT document, run_started FROM jobs
         WHERE (?1 IS NULL OR job_type = ?1) AND (?2 IS NULL OR status = ?2)
         ORDER BY created_time, job_id LIMIT ?3 OFFSET ?4",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![
            job_type.map(JobType::as_str),
            status.map(JobStatus::as_str),
            limit,
            offset
        ],
        raw_row,
    )?;
    rows.map(|raw| decode(raw?)).collect()
}

/// Deletes the finished jobs (completed, failed, cancelled) that ended before `cutoff`, with
/// their device job rows. Returns how many jobs went.
pub fn purge_finished_before(conn: &Connection, cutoff: HubTime) -> Result<usize, StoreError> {
    let cutoff = cutoff.to_string();
    let finished = "status IN ('completed', 'failed', 'cancelled') AND end_time IS NOT NULL
                    AND end_time < ?1";
    conn.execute(
        &format!(
            "DELETE FROM device_jobs WHERE job_id IN (SELECT job_id FROM jobs WHERE {finished})"
        ),
        params![cutoff],
    )?;
    Ok(conn.execute(
        &format!("DELETE FROM jobs WHERE {finished}"),
        params![cutoff],
    )?)
}

fn job_type(job: &JobResponse) -> &str {
    job.job_type.as_ref().map_or("unknown", JobType::as_str)
}

fn raw_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Option<String>)> {
    Ok((row.get(0)?, row.get(1)?))
}

fn decode((document, run_started): (String, Option<String>)) -> Result<JobRow, StoreError> {
    let run_started = run_started
        .map(|text| HubTime::parse(&text))
        .transpose()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(JobRow {
        job: serde_json::from_str(&document)?,
        run_started,
    })
}
