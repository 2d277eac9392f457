//! Table `twins`: one twin state (tags, desired, reported, versions, metadata) per device.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::hub::twin::TwinState;

/// Created on open when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS twins (
    device_id TEXT PRIMARY KEY NOT NULL,
    version   INTEGER NOT NULL,
    state     TEXT NOT NULL
) WITHOUT ROWID;
";

/// Inserts or replaces the twin of `id`.
pub fn put(conn: &Connection, id: &str, twin: &TwinState) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO twins (device_id, version, state) VALUES (?1, ?2, ?3)
         ON CONFLICT(device_id) DO UPDATE SET version = excluded.version, state = excluded.state",
    )?
    .execute(params![id, twin.version, serde_json::to_string(twin)?])?;
    Ok(())
}

/// The twin of `id`, if any.
pub fn get(conn: &Connection, id: &str) -> Result<Option<TwinState>, StoreError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT state FROM twins WHERE device_id = ?1",
            params![id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
}

/// Deletes the twin of `id`.
pub fn delete(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM twins WHERE device_id = ?1")?
        .execute(params![id])?;
    Ok(())
}

/// Every twin, by device id.
pub fn all(conn: &Connection) -> Result<Vec<(String, TwinState)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT device_id, state FROM twins ORDER BY device_id")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, state) = row?;
        out.push((id, serde_json::from_str(&state)?));
    }
    Ok(out)
}
