//! Table `policies`: the hub's shared-access policies (name, keys, permissions).

use rusqlite::{Connection, params};

use super::StoreError;

/// Created on open when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS policies (
    name          TEXT PRIMARY KEY NOT NULL,
    primary_key   TEXT NOT NULL,
    secondary_key TEXT NOT NULL,
    rights        TEXT NOT NULL
) WITHOUT ROWID;
";

/// A policy row as stored: keys in base64, rights as `RegistryRead, ServiceConnect`.
#[derive(Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// Policy name, e.g. `iothubowner`.
    pub name: String,
    /// Primary key, base64.
    pub primary_key: String,
    /// Secondary key, base64.
    pub secondary_key: String,
    /// Comma-separated rights.
    pub rights: String,
}

impl std::fmt::Debug for PolicyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyRow")
            .field("name", &self.name)
            .field("rights", &self.rights)
            .finish_non_exhaustive()
    }
}

/// Inserts a policy unless one with that name exists.
pub fn insert_if_missing(conn: &Connection, row: &PolicyRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO policies (name, primary_key, secondary_key, rights)
         VALUES (?1, ?2, ?3, ?4)",
        params![row.name, row.primary_key, row.secondary_key, row.rights],
    )?;
    Ok(())
}

/// Every policy, by name.
pub fn all(conn: &Connection) -> Result<Vec<PolicyRow>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name, primary_key, secondary_key, rights FROM policies ORDER BY name")?;
    let rows = stmt.query_map([], |row| {
        Ok(PolicyRow {
            name: row.get(0)?,
            primary_key: row.get(1)?,
            secondary_key: row.get(2)?,
            rights: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
