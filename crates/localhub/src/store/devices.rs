//! Table `devices`: device identities (the registry), one JSON document per device.

use iothub::model::DeviceIdentity;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// Created on open when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY NOT NULL,
    identity  TEXT NOT NULL,
    created   INTEGER NOT NULL DEFAULT (unixepoch())
) WITHOUT ROWID;
";

/// Inserts or replaces the identity stored under its `deviceId`.
pub fn put(conn: &Connection, id: &str, identity: &DeviceIdentity) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO devices (device_id, identity) VALUES (?1, ?2)
         ON CONFLICT(device_id) DO UPDATE SET identity = excluded.identity",
    )?
    .execute(params![id, serde_json::to_string(identity)?])?;
    Ok(())
}

/// The identity of `id`, if registered.
pub fn get(conn: &Connection, id: &str) -> Result<Option<DeviceIdentity>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT identity FROM devices WHERE device_id = ?1")?
        .query_row(params![id], |row| row.get(0))
        .optional()?;
    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
}

/// Whether `id` is registered (without reading its identity).
pub fn exists(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM devices WHERE device_id = ?1")?
        .query_row(params![id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Up to `limit` identities, oldest first.
pub fn list(conn: &Connection, limit: usize) -> Result<Vec<DeviceIdentity>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT identity FROM devices ORDER BY created, device_id LIMIT ?1")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![limit], |row| row.get::<_, String>(0))?;
    let mut out = Vec::new();
    for text in rows {
        out.push(serde_json::from_str(&text?)?);
    }
    Ok(out)
}

/// Every identity.
pub fn all(conn: &Connection) -> Result<Vec<DeviceIdentity>, StoreError> {
    list(conn, usize::MAX)
}

/// Deletes `id`. Returns whether it existed.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM devices WHERE device_id = ?1")?
        .execute(params![id])?
        > 0)
}

/// How many devices are registered.
pub fn count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM devices")?
        .query_row([], |row| row.get(0))?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// How many devices are registered, and how many of them are disabled.
pub fn count_by_status(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let (total, disabled): (i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*),
                    COALESCE(SUM(json_extract(identity, '$.status') = 'disabled'), 0)
             FROM devices",
        )?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok((
        u64::try_from(total).unwrap_or_default(),
        u64::try_from(disabled).unwrap_or_default(),
    ))
}
