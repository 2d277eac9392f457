//! Table `twins`: one twin state (tags, desired, reported, versions, metadata) per device.

use rusqlite::{Connection, OptionalExtension, params};

use iothub::model::DeviceIdentity;

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
        .prepare_cached("SELECT state FROM twins WHERE device_id = ?1")?
        .query_row(params![id], |row| row.get(0))
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

/// The ids of the registered devices that have a twin (every one does), in order, without
/// reading any document: the device set of a job over `*`.
pub fn ids(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.device_id FROM twins t JOIN devices d ON d.device_id = t.device_id
         ORDER BY t.device_id",
    )?;
    let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Calls `f` with each registered device's id, identity and twin, in device id order, one
/// row at a time (nothing is kept): for evaluating a condition over every twin without
/// holding them all. Stops at the first error `f` returns.
pub fn for_each<E: From<StoreError>>(
    conn: &Connection,
    mut f: impl FnMut(&str, DeviceIdentity, TwinState) -> Result<(), E>,
) -> Result<(), E> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT t.device_id, d.identity, t.state FROM twins t
             JOIN devices d ON d.device_id = t.device_id ORDER BY t.device_id",
        )
        .map_err(StoreError::from)?;
    let mut rows = stmt.query([]).map_err(StoreError::from)?;
    while let Some(row) = rows.next().map_err(StoreError::from)? {
        let text = |column: usize| -> Result<&str, StoreError> {
            let value = row.get_ref(column)?;
            value
                .as_str()
                .map_err(|error| StoreError::Sqlite(error.into()))
        };
        let id = text(0)?;
        let identity: DeviceIdentity = serde_json::from_str(text(1)?).map_err(StoreError::from)?;
        let state: TwinState = serde_json::from_str(text(2)?).map_err(StoreError::from)?;
        f(id, identity, state)?;
    }
    Ok(())
}
