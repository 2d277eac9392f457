//! SQLite storage: one module per table, one connection behind a mutex.
//!
//! The database runs in WAL mode with `synchronous=NORMAL`: a committed transaction survives
//! the process being killed (SIGKILL included), which is what "acknowledged" means for a local
//! hub; only a power cut may lose the last transactions. Every write the hub acknowledges is
//! committed before the answer goes out. The mutex is never held across an `.await`.

pub mod device_jobs;
pub mod devices;
pub mod jobs;
pub mod policies;
pub mod subscriptions;
pub mod twins;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, TransactionBehavior};

/// How long a statement waits for another connection's write lock before failing with
/// `database is locked`.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A storage failure. The hub maps it to a 500 and keeps running.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (disk full, corrupt file, locked by another process…).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON document did not read back.
    #[error("stored document is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// A stored row breaks an invariant (e.g. a key that is not base64).
    #[error("stored data is invalid: {0}")]
    Invalid(String),
    /// A previous panic poisoned the connection lock.
    #[error("database connection is unusable after an earlier failure")]
    Poisoned,
}

/// The hub's database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        // First, so that even the pragmas and migrations below wait for another process's
        // writer (a running hub, or the `localhub` CLI next to it) instead of failing.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::migrate(conn)
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::migrate(Connection::open_in_memory()?)
    }

    fn migrate(conn: Connection) -> Result<Self, StoreError> {
        // Migrations are additive: each table module creates what it needs if missing.
        conn.execute_batch(devices::SCHEMA)?;
        conn.execute_batch(twins::SCHEMA)?;
        conn.execute_batch(policies::SCHEMA)?;
        conn.execute_batch(subscriptions::SCHEMA)?;
        conn.execute_batch(jobs::SCHEMA)?;
        conn.execute_batch(device_jobs::SCHEMA)?;
        // Every hot statement is cached (`prepare_cached`); keep them all.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` in one transaction, committed only if `f` succeeds.
    ///
    /// The transaction is `IMMEDIATE`: it takes the database's write lock when it begins,
    /// waiting up to [`BUSY_TIMEOUT`] for another process's writer. A `DEFERRED` one that
    /// reads first and then writes cannot wait: in WAL mode its upgrade to a writer fails at
    /// once with `database is locked` if another connection committed since its read began
    /// (the busy handler is not called for that case). The hub and the `localhub` CLI both
    /// write to the same file, so every transaction starts as a writer.
    pub fn transaction<T, E>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Runs a read (or a single-statement write) on the connection.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.lock()?;
        f(&conn)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}
