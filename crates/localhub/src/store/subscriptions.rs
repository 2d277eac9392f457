//! Table `subscriptions`: which hub→device topics each device subscribed to.
//!
//! Kept across reconnects and restarts: the official Python device SDK subscribes once per
//! client and relies on the hub's persistent session after that, as Azure provides.

use rusqlite::{Connection, params};

use super::StoreError;

/// Created on open when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS subscriptions (
    device_id      TEXT PRIMARY KEY NOT NULL,
    methods        INTEGER NOT NULL,
    desired        INTEGER NOT NULL,
    twin_responses INTEGER NOT NULL
) WITHOUT ROWID;
";

/// A device's subscriptions as stored: (methods, desired, twin responses).
pub type Row = (String, bool, bool, bool);

/// Stores the subscriptions of a device.
pub fn put(conn: &Connection, row: &Row) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO subscriptions (device_id, methods, desired, twin_responses)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(device_id) DO UPDATE SET methods = excluded.methods,
             desired = excluded.desired, twin_responses = excluded.twin_responses",
        params![row.0, row.1, row.2, row.3],
    )?;
    Ok(())
}

/// Every device's subscriptions.
pub fn all(conn: &Connection) -> Result<Vec<Row>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT device_id, methods, desired, twin_responses FROM subscriptions")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Forgets a device's subscriptions.
pub fn delete(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM subscriptions WHERE device_id = ?1",
        params![id],
    )?;
    Ok(())
}
