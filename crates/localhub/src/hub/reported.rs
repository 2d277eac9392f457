//! Group commit of devices' reported-properties PATCHes.
//!
//! A fleet answering a method job sends thousands of reported PATCHes within a second. Each
//! used to be its own SQLite transaction, taken by whichever tokio worker read it, all
//! contending for the store mutex. Here one thread (started on first use) takes every PATCH
//! queued while it was busy and applies them in order in **one** transaction; each caller
//! learns its result only after that commit, so the device's 204 never precedes its write and
//! nothing acknowledged can be lost, a SIGKILL included.
//!
//! A failure of the store (not of one PATCH: an unknown device or an invalid patch is that
//! PATCH's answer) rolls the batch back, and its PATCHes are then applied one by one in their
//! own transactions, so one bad write never fails another device's PATCH.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Weak};

use iothub::model::HubError;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::{HubTime, Inner, device_not_found, twin_error};
use crate::store::{self, StoreError};

/// Most PATCHes in one transaction: bounds the time the store mutex is held in one go.
pub(super) const MAX_BATCH: usize = 512;

/// One queued PATCH.
pub(super) struct Write {
    pub(super) device_id: String,
    pub(super) patch: Map<String, Value>,
    pub(super) reply: oneshot::Sender<Result<i64, HubError>>,
}

/// Starts the writer thread for the hub `inner`; it ends when the returned sender (kept in
/// the hub) is dropped, or the hub is gone.
pub(super) fn start(inner: Weak<Inner>) -> std::io::Result<Sender<Write>> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("localhub-reported".to_owned())
        .spawn(move || run(&inner, &receiver))?;
    Ok(sender)
}

fn run(inner: &Weak<Inner>, receiver: &Receiver<Write>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(write) => batch.push(write),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let Some(inner) = inner.upgrade() else {
            // The hub is gone: dropping the batch answers its callers with "writer stopped".
            return;
        };
        apply(&inner, batch);
    }
}

/// Applies `batch` in one transaction and answers every caller after the commit.
fn apply(inner: &Arc<Inner>, batch: Vec<Write>) {
    tracing::trace!(
        patches = batch.len(),
        "committing a batch of reported PATCHes"
    );
    let now = super::now_of(inner);
    let outcome = inner.store.transaction(|tx| {
        batch
            .iter()
            .map(|write| apply_one(tx, &write.device_id, &write.patch, now))
            .collect::<Result<Vec<_>, StoreError>>()
    });
    match outcome {
        Ok(results) => {
            for (write, result) in batch.into_iter().zip(results) {
                // A caller that went away (device disconnected) needs no answer.
                let _ = write.reply.send(result);
            }
        }
        Err(error) => {
            tracing::warn!(%error, count = batch.len(), "a batch of reported PATCHes failed; applying them one by one");
            for write in batch {
                let result = inner.store.transaction(|tx| {
                    apply_one(tx, &write.device_id, &write.patch, now).map_err(HubError::from)?
                });
                let _ = write.reply.send(result);
            }
        }
    }
}

/// One PATCH inside a transaction: the outer error is the store's (fails the batch), the
/// inner one is this PATCH's answer (nothing written).
fn apply_one(
    tx: &rusqlite::Connection,
    id: &str,
    patch: &Map<String, Value>,
    now: HubTime,
) -> Result<Result<i64, HubError>, StoreError> {
    let mut twin = match store::twins::get(tx, id)? {
        Some(twin) => twin,
        None => return Ok(Err(device_not_found(id))),
    };
    let version = match twin.patch_reported(patch, now) {
        Ok(version) => version,
        Err(error) => return Ok(Err(twin_error(error))),
    };
    store::twins::put(tx, id, &twin)?;
    Ok(Ok(version))
}
