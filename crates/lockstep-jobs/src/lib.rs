//! Lockstep's job logic, without Tauri: what the app's job commands call.
//!
//! The job builder fills a [`draft::JobDraft`]; [`draft::validate`] turns it into an
//! `iothub` job request or precise per-field errors. [`preview`] asks the hub how many
//! devices a condition selects. [`render`] shows a job as an `az` command or a REST request
//! (never with a secret). [`errors`] puts the hub's failures into words. [`archive`] keeps
//! every job seen, per profile, in SQLite; [`watch`] polls jobs that are not finished, writes
//! what it reads to the archive and sends updates on a channel.
//!
//! Layout:
//! - [`draft`]: the form, its limits, and validation into a [`draft::ValidJob`].
//! - [`render`]: "Copy as az CLI command" and "Copy as REST request".
//! - [`preview`]: matching and connected device counts, first device ids, and warnings.
//! - [`errors`]: a [`iothub::service::ServiceError`] as a sentence with what to do.
//! - [`summary`]: the job and device-result shapes the UI shows (generated TS types).
//! - [`archive`]: the SQLite archive: one module per table, paging, CSV/JSON export.
//! - [`watch`]: the job watcher: polling with backoff, pause/resume, import, updates.

pub mod archive;
pub mod draft;
pub mod errors;
pub mod preview;
pub mod render;
pub mod summary;
pub mod watch;
