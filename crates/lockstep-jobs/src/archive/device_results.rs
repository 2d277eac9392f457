//! Table `device_results`: one row per device of a job (a `devices.jobs` row, flattened),
//! replaced whenever the job's rows are read again.
//!
//! Paging is by keyset on the device id (`device_id > ?after ORDER BY device_id LIMIT n`)
//! over the primary key, or over `(…, status, device_id)` when filtered by status, so that a
//! page costs the same at row 99,900 as at row 0.

use iothub::model::DeviceJob;
use rusqlite::{Transaction, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Archive, ArchiveError};
use crate::summary::DeviceResult;

/// The most rows one page returns.
const MAX_PAGE: u32 = 5_000;
/// A page's size when the caller does not say.
const DEFAULT_PAGE: u32 = 200;

pub(super) fn migrate_v1(tx: &Transaction<'_>) -> Result<(), ArchiveError> {
    tx.execute_batch(
        "CREATE TABLE device_results (
            profile_id TEXT NOT NULL,
            job_id TEXT NOT NULL,
            device_id TEXT NOT NULL,
            status TEXT NOT NULL,
            start_time TEXT,
            end_time TEXT,
            method_status INTEGER,
            method_payload TEXT,
            error_code TEXT,
            error_description TEXT,
            last_updated TEXT,
            PRIMARY KEY (profile_id, job_id, device_id),
            FOREIGN KEY (profile_id, job_id) REFERENCES jobs (profile_id, job_id) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE INDEX device_results_by_status ON device_results (profile_id, job_id, status, device_id);",
    )?;
    Ok(())
}

/// Which device results to read: a status filter and a keyset cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(export)]
pub struct DeviceResultsQuery {
    /// Only rows with this device-level status (e.g. `failed`); `None` for all.
    pub status: Option<String>,
    /// The last device id of the previous page; `None` for the first page.
    pub after: Option<String>,
    /// Instead of `after`: how many rows to skip, for jumping straight to a position (a
    /// scrollbar dragged to the middle of 100,000 rows). Ignored when `after` is given.
    #[ts(optional)]
    pub offset: Option<u32>,
    /// Rows per page (default 200, at most 5,000).
    pub limit: Option<u32>,
}

/// One page of device results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DeviceResultsPage {
    /// The rows, by device id.
    pub rows: Vec<DeviceResult>,
    /// The cursor for the next page ([`DeviceResultsQuery::after`]); `None` on the last.
    pub next_after: Option<String>,
    /// How many rows match the status filter in all.
    pub total: u32,
}

/// How many of a job's devices have one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StatusCount {
    /// The device-level status.
    pub status: String,
    /// How many devices have it.
    pub count: u32,
}

const COLUMNS: &str = "device_id, status, start_time, end_time, method_status, method_payload,
    error_code, error_description, last_updated";

impl Archive {
    /// Stores `rows` (read from the hub) as the device results of `job_id` of `profile_id`,
    /// replacing the rows of the same devices; rows without a device id are skipped. The job
    /// must be archived already. Returns how many rows were stored.
    pub fn replace_device_results(
        &self,
        profile_id: &str,
        job_id: &str,
        rows: &[DeviceJob],
    ) -> Result<usize, ArchiveError> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let mut stored = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO device_results (profile_id, job_id, device_id, status,
                     start_time, end_time, method_status, method_payload, error_code,
                     error_description, last_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for result in rows.iter().filter_map(DeviceResult::of) {
                insert.execute(params![
                    profile_id,
                    job_id,
                    result.device_id,
                    result.status,
                    result.start_time,
                    result.end_time,
                    result.method_status,
                    result.method_payload,
                    result.error_code,
                    result.error_description,
                    result.last_updated,
                ])?;
                stored += 1;
            }
        }
        tx.commit()?;
        Ok(stored)
    }

    /// One page of the device results of `job_id` of `profile_id`.
    pub fn device_results(
        &self,
        profile_id: &str,
        job_id: &str,
        query: &DeviceResultsQuery,
    ) -> Result<DeviceResultsPage, ArchiveError> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let after = query.after.as_deref().unwrap_or("");
        // SQLite walks the (profile, job, device) index to skip rows: fine for 100,000.
        let offset = match query.after {
            Some(_) => 0,
            None => query.offset.unwrap_or(0),
        };
        let connection = self.lock();
        let (mut rows, total) = match query.status.as_deref() {
            None => {
                let rows = connection
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM device_results
                         WHERE profile_id = ?1 AND job_id = ?2 AND device_id > ?3
                         ORDER BY device_id LIMIT ?4 OFFSET ?5"
                    ))?
                    .query_map(
                        params![profile_id, job_id, after, limit + 1, offset],
                        read_result,
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                let total: u32 = connection
                    .prepare_cached(
                        "SELECT COUNT(*) FROM device_results WHERE profile_id = ?1 AND job_id = ?2",
                    )?
                    .query_row(params![profile_id, job_id], |row| row.get(0))?;
                (rows, total)
            }
            Some(status) => {
                let rows = connection
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM device_results
                         WHERE profile_id = ?1 AND job_id = ?2 AND status = ?3 AND device_id > ?4
                         ORDER BY device_id LIMIT ?5 OFFSET ?6"
                    ))?
                    .query_map(
                        params![profile_id, job_id, status, after, limit + 1, offset],
                        read_result,
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                let total: u32 = connection
                    .prepare_cached(
                        "SELECT COUNT(*) FROM device_results
                         WHERE profile_id = ?1 AND job_id = ?2 AND status = ?3",
                    )?
                    .query_row(params![profile_id, job_id, status], |row| row.get(0))?;
                (rows, total)
            }
        };
        // One row more than asked says whether there is a next page.
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_after = if more {
            rows.last().map(|row| row.device_id.clone())
        } else {
            None
        };
        Ok(DeviceResultsPage {
            rows,
            next_after,
            total,
        })
    }

    /// How many of the devices of `job_id` have each status, by status.
    pub fn device_status_counts(
        &self,
        profile_id: &str,
        job_id: &str,
    ) -> Result<Vec<StatusCount>, ArchiveError> {
        let connection = self.lock();
        let counts = connection
            .prepare_cached(
                "SELECT status, COUNT(*) FROM device_results
                 WHERE profile_id = ?1 AND job_id = ?2 GROUP BY status ORDER BY status",
            )?
            .query_map(params![profile_id, job_id], |row| {
                Ok(StatusCount {
                    status: row.get(0)?,
                    count: row.get(1)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(counts)
    }

    /// Calls `each` with every device result of `job_id` (with `status`, if given), by
    /// device id, reading a page at a time so that the connection is never held for long.
    pub(super) fn for_each_result(
        &self,
        profile_id: &str,
        job_id: &str,
        status: Option<&str>,
        mut each: impl FnMut(&DeviceResult) -> Result<(), ArchiveError>,
    ) -> Result<usize, ArchiveError> {
        let mut query = DeviceResultsQuery {
            status: status.map(str::to_owned),
            limit: Some(MAX_PAGE),
            ..DeviceResultsQuery::default()
        };
        let mut count = 0;
        loop {
            let page = self.device_results(profile_id, job_id, &query)?;
            for row in &page.rows {
                each(row)?;
                count += 1;
            }
            match page.next_after {
                Some(after) => query.after = Some(after),
                None => return Ok(count),
            }
        }
    }
}

fn read_result(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceResult> {
    Ok(DeviceResult {
        device_id: row.get(0)?,
        status: row.get(1)?,
        start_time: row.get(2)?,
        end_time: row.get(3)?,
        method_status: row.get(4)?,
        method_payload: row.get(5)?,
        error_code: row.get(6)?,
        error_description: row.get(7)?,
        last_updated: row.get(8)?,
    })
}

#[cfg(test)]
pub(super) mod tests {

    use iothub::model::{DeviceJobError, DeviceJobStatus, JobResponse};
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    pub(crate) fn rows(count: usize) -> Vec<DeviceJob> {
        (0..count)
            .map(|i| DeviceJob {
                device_id: Some(format!("dev-{i:06}")),
                job_id: Some("big".to_owned()),
                status: Some(if i % 10 == 0 {
                    DeviceJobStatus::Failed
                } else {
                    DeviceJobStatus::Completed
                }),
                error: (i % 10 == 0).then(|| DeviceJobError {
                    code: Some("DeviceNotOnline".to_owned()),
                    description: Some("Timed out waiting for device to connect".to_owned()),
                }),
                ..DeviceJob::default()
            })
            .collect()
    }

    pub(crate) fn archive_with_job(job_id: &str) -> Archive {
        let archive = Archive::open_in_memory().expect("opens");
        let job: JobResponse =
            serde_json::from_value(json!({"jobId": job_id, "status": "completed"})).expect("job");
        archive
            .record_seen("p", &job, datetime!(2025-06-01 12:00 UTC))
            .expect("records");
        archive
    }

    #[test]
    fn a_hundred_thousand_rows_page_by_cursor_and_by_offset() {
        let archive = archive_with_job("big");
        assert_eq!(
            archive
                .replace_device_results("p", "big", &rows(100_000))
                .expect("stores"),
            100_000
        );
        // Paging deep into the job, all rows and failed ones only.
        let page = archive
            .device_results(
                "p",
                "big",
                &DeviceResultsQuery {
                    after: Some("dev-099000".into()),
                    limit: Some(100),
                    ..DeviceResultsQuery::default()
                },
            )
            .expect("page");
        assert_eq!(page.rows.len(), 100);
        assert_eq!(page.rows[0].device_id, "dev-099001");
        assert_eq!(page.next_after.as_deref(), Some("dev-099100"));
        assert_eq!(page.total, 100_000);
        let failed = archive
            .device_results(
                "p",
                "big",
                &DeviceResultsQuery {
                    status: Some("failed".into()),
                    after: Some("dev-098000".into()),
                    limit: Some(50),
                    ..DeviceResultsQuery::default()
                },
            )
            .expect("page");
        assert_eq!(failed.rows[0].device_id, "dev-098010");
        assert_eq!(failed.total, 10_000);
        assert!(
            failed
                .rows
                .iter()
                .all(|r| r.error_code.as_deref() == Some("DeviceNotOnline"))
        );
        // Jumping straight to a position (a dragged scrollbar), all rows and failed ones.
        let middle = archive
            .device_results(
                "p",
                "big",
                &DeviceResultsQuery {
                    offset: Some(50_000),
                    limit: Some(20),
                    ..DeviceResultsQuery::default()
                },
            )
            .expect("page");
        assert_eq!(middle.rows[0].device_id, "dev-050000");
        assert_eq!(middle.next_after.as_deref(), Some("dev-050019"));
        let failed_middle = archive
            .device_results(
                "p",
                "big",
                &DeviceResultsQuery {
                    status: Some("failed".into()),
                    offset: Some(5_000),
                    limit: Some(2),
                    ..DeviceResultsQuery::default()
                },
            )
            .expect("page");
        let ids: Vec<_> = failed_middle
            .rows
            .iter()
            .map(|r| r.device_id.as_str())
            .collect();
        assert_eq!(ids, ["dev-050000", "dev-050010"]);
        // `after` wins over `offset`.
        let after_wins = archive
            .device_results(
                "p",
                "big",
                &DeviceResultsQuery {
                    after: Some("dev-000009".into()),
                    offset: Some(50_000),
                    limit: Some(1),
                    ..DeviceResultsQuery::default()
                },
            )
            .expect("page");
        assert_eq!(after_wins.rows[0].device_id, "dev-000010");
        let counts = archive.device_status_counts("p", "big").expect("counts");
        assert_eq!(
            counts,
            [
                StatusCount {
                    status: "completed".into(),
                    count: 90_000
                },
                StatusCount {
                    status: "failed".into(),
                    count: 10_000
                }
            ]
        );
        // The query plans use the indexes, never a scan of the table.
        let connection = archive.lock();
        for sql in [
            "SELECT device_id FROM device_results WHERE profile_id = 'p' AND job_id = 'big' AND device_id > 'x' ORDER BY device_id LIMIT 10",
            "SELECT device_id FROM device_results WHERE profile_id = 'p' AND job_id = 'big' AND status = 'failed' AND device_id > 'x' ORDER BY device_id LIMIT 10",
        ] {
            let plan: Vec<String> = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explains")
                .query_map([], |row| row.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            let plan = plan.join(" / ");
            assert!(
                plan.contains("SEARCH") && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
        }
    }

    #[test]
    fn rereading_replaces_rows() {
        let archive = archive_with_job("j");
        let mut first = rows(3);
        archive
            .replace_device_results("p", "j", &first)
            .expect("stores");
        first[0].status = Some(DeviceJobStatus::Completed);
        first[0].error = None;
        archive
            .replace_device_results("p", "j", &first[..1])
            .expect("stores");
        let page = archive
            .device_results("p", "j", &DeviceResultsQuery::default())
            .expect("page");
        assert_eq!(page.total, 3);
        assert_eq!(page.rows[0].status, "completed");
        assert_eq!(page.rows[0].error_code, None);
        assert_eq!(page.next_after, None);
    }
}
