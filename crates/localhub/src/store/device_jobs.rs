//! Table `device_jobs`: one row per (job, device), the `devices.jobs` rows of a job.
//!
//! Rows are written when a job starts running (all `pending`: the device set is fixed then)
//! and advanced as devices are processed, in batches ([`advance`]). The `status` column mirrors
//! the document's, for counting and for picking the devices still to do.

use iothub::model::{DeviceJob, DeviceJobStatistics, DeviceJobStatus};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// Created on open when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS device_jobs (
    job_id    TEXT NOT NULL,
    device_id TEXT NOT NULL,
    status    TEXT NOT NULL,
    document  TEXT NOT NULL,
    PRIMARY KEY (job_id, device_id)
) WITHOUT ROWID;
";

/// Inserts or replaces the row of `row.job_id` and `row.device_id`.
pub fn put(conn: &Connection, row: &DeviceJob) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO device_jobs (job_id, device_id, status, document) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(job_id, device_id) DO UPDATE SET status = excluded.status,
             document = excluded.document",
    )?
    .execute(params![
        row.job_id.as_deref().unwrap_or_default(),
        row.device_id.as_deref().unwrap_or_default(),
        row.status
            .as_ref()
            .map_or("pending", DeviceJobStatus::as_str),
        serde_json::to_string(row)?
    ])?;
    Ok(())
}

/// Rewrites existing rows as the job engine advances them, skipping any row that is already
/// finished (cancelled or expired meanwhile): a `running` row replaces only a `pending` one, a
/// finished row (`completed`, `failed`) only a `pending` or `running` one. Idempotent, so a
/// batch may be written again. Returns how many rows changed.
pub fn advance(conn: &Connection, rows: &[DeviceJob]) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE device_jobs SET status = ?3, document = ?4
         WHERE job_id = ?1 AND device_id = ?2
           AND (status = 'pending' OR (?3 <> 'running' AND status = 'running'))",
    )?;
    let mut changed = 0;
    for row in rows {
        changed += stmt.execute(params![
            row.job_id.as_deref().unwrap_or_default(),
            row.device_id.as_deref().unwrap_or_default(),
            row.status
                .as_ref()
                .map_or("pending", DeviceJobStatus::as_str),
            serde_json::to_string(row)?
        ])?;
    }
    Ok(changed)
}

/// The row of `device_id` in `job_id`, if any.
pub fn get(
    conn: &Connection,
    job_id: &str,
    device_id: &str,
) -> Result<Option<DeviceJob>, StoreError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT document FROM device_jobs WHERE job_id = ?1 AND device_id = ?2",
            params![job_id, device_id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
}

/// The rows of `job_id` by device id; only those not finished when `unfinished_only`.
pub fn for_job(
    conn: &Connection,
    job_id: &str,
    unfinished_only: bool,
) -> Result<Vec<DeviceJob>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT document FROM device_jobs
         WHERE job_id = ?1 AND (?2 = 0 OR status IN ('pending', 'scheduled', 'running'))
         ORDER BY device_id",
    )?;
    let rows = stmt.query_map(params![job_id, unfinished_only], |row| {
        row.get::<_, String>(0)
    })?;
    rows.map(|text| Ok(serde_json::from_str(&text?)?)).collect()
}

/// Every row of every job, by job then device: what `FROM devices.jobs` ranges over.
pub fn all(conn: &Connection) -> Result<Vec<DeviceJob>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT document FROM device_jobs ORDER BY job_id, device_id")?;
    let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
    rows.map(|text| Ok(serde_json::from_str(&text?)?)).collect()
}

/// The job's `deviceJobStatistics`, counted from its rows.
pub fn statistics(conn: &Connection, job_id: &str) -> Result<DeviceJobStatistics, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*) FROM device_jobs WHERE job_id = ?1 GROUP BY status",
    )?;
    let rows = stmt.query_map(params![job_id], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut stats = DeviceJobStatistics::default();
    for row in rows {
        let (status, count) = row?;
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        stats.device_count = stats.device_count.saturating_add(count);
        let slot = match DeviceJobStatus::from_wire(&status) {
            DeviceJobStatus::Pending | DeviceJobStatus::Scheduled => &mut stats.pending_count,
            DeviceJobStatus::Running => &mut stats.running_count,
            DeviceJobStatus::Completed => &mut stats.succeeded_count,
            DeviceJobStatus::Failed => &mut stats.failed_count,
            // Cancelled devices count towards deviceCount only.
            DeviceJobStatus::Canceled | DeviceJobStatus::Other(_) => continue,
        };
        *slot = slot.saturating_add(count);
    }
    Ok(stats)
}
