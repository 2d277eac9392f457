//! The REST service client: what a back end (Lockstep's app) uses to schedule jobs, read and
//! write twins, query, invoke direct methods and manage device identities.
//!
//! [`ServiceClient`] speaks HTTPS through reqwest over rustls (ring provider), trusting the
//! public web roots plus, for a local hub, one extra CA. Requests are shaped as the Python
//! service SDK sends them (`docs/iothub-protocol.md` §3): `api-version`, a hub-scoped SAS in
//! `Authorization`, quoted `If-Match`, and query paging in `x-ms-continuation` /
//! `x-ms-max-item-count`.
//!
//! Files:
//! - `client`: [`ServiceClient`], its [`ServiceClientOptions`] and the one request loop
//!   every operation goes through.
//! - `auth`: the cached SAS token behind `Authorization`, renewed before it expires, and the
//!   injectable [`Clock`].
//! - `retry`: [`RetryPolicy`]: which failures are retried (429, transient 5xx, timeouts, on
//!   idempotent calls only) and the jittered backoff; pure.
//! - `error`: [`ServiceError`], the hub's [`crate::model::HubError`] or a transport failure,
//!   with predicates (`is_not_found`, `is_throttled`, …) for what callers branch on.
//! - `types`: [`IfMatch`], query paging ([`PageRequest`], [`QueryPage`]) and the statistics
//!   answers.

mod auth;
mod client;
mod error;
mod retry;
mod types;

pub use auth::{Clock, SystemClock};
pub use client::{DEFAULT_API_VERSION, ServiceClient, ServiceClientOptions};
pub use error::ServiceError;
pub use retry::{AttemptOutcome, Idempotency, RetryPolicy};
pub use types::{IfMatch, PageRequest, QueryPage, RegistryStatistics, ServiceStatistics};
