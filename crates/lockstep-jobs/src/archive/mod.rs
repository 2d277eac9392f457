//! The job archive: every job Lockstep has seen, per profile, in one SQLite file in the app
//! data dir, so that the timeline survives restarts and outlives the hub's 30-day history.
//!
//! [`Archive`] is a cheap `Clone` handle over one connection behind a mutex; every call is
//! short and synchronous (the watcher runs the large writes on the blocking pool). Times are
//! inputs (`now`), never read from the clock here.
//!
//! Files, one per table, each with its own migration:
//! - `jobs`: the job as last read (JSON), the request as sent when this app created it,
//!   created-by-me, first/last seen; the timeline list with status, kind and time filters.
//! - `device_results`: one row per device of a job, replaced when re-read; keyset paging by
//!   device id, with or without a status filter, over indexes that keep 100,000-row jobs fast.
//! - `export`: a job's device results as CSV (RFC 4180 quoting) or JSON, streamed.

mod device_results;
mod export;
mod jobs;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

pub use device_results::{DeviceResultsPage, DeviceResultsQuery, StatusCount};
pub use export::{CSV_HEADER, csv_field};
pub use jobs::{ArchivedJob, JobFilter};

/// The archive's file name in the app data dir.
pub const FILE_NAME: &str = "jobs.sqlite3";

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// Why an archive operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// SQLite failed (file unreadable, disk full, corrupt database…).
    #[error("the job archive failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON document could not be read or written.
    #[error("the job archive holds unreadable JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing an export failed.
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file was written by a newer Lockstep.
    #[error(
        "the job archive has schema version {found}, newer than this Lockstep's {SCHEMA_VERSION}: update Lockstep"
    )]
    TooNew {
        /// The file's version.
        found: i64,
    },
    /// A time is outside what the archive stores.
    #[error("the time {0} cannot be stored")]
    Time(String),
}

/// The archive: a handle to one SQLite database. Clones share the connection.
#[derive(Clone, Debug)]
pub struct Archive {
    connection: Arc<Mutex<Connection>>,
}

impl Archive {
    /// Opens (creating if needed) the archive file at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, ArchiveError> {
        let connection = Connection::open(path)?;
        // WAL: readers (the UI's list calls) do not wait for the watcher's writes.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        Self::with(connection)
    }

    /// Opens `FILE_NAME` in the directory `dir` (created if missing).
    pub fn open_in_dir(dir: &Path) -> Result<Self, ArchiveError> {
        std::fs::create_dir_all(dir)?;
        Self::open(&dir.join(FILE_NAME))
    }

    /// A fresh archive in memory, for tests.
    pub fn open_in_memory() -> Result<Self, ArchiveError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(mut connection: Connection) -> Result<Self, ArchiveError> {
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut connection)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The connection; a panic while it was held does not make the archive unusable.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Brings the schema to [`SCHEMA_VERSION`]; migrations are additive.
fn migrate(connection: &mut Connection) -> Result<(), ArchiveError> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(ArchiveError::TooNew { found: version });
    }
    let tx = connection.transaction()?;
    if version < 1 {
        jobs::migrate_v1(&tx)?;
        device_results::migrate_v1(&tx)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Milliseconds since the Unix epoch of `time`.
fn unix_ms(time: time::OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The hub's text for the instant `ms` milliseconds after the Unix epoch.
fn hub_text(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| iothub::model::HubTime::at(t).ok())
        .map_or_else(String::new, |t| t.to_string())
}
