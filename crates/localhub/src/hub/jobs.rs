//! Scheduled jobs (`/jobs/v2`): creation, the scheduler, execution over a fixed device set,
//! cancellation, the jobs query and the `devices.jobs` rows.
//!
//! A job is created `queued` ([`Hub::schedule_job`]) and stored at once. The scheduler
//! ([`Hub::run_jobs`], one task per hub, started by [`crate::server`]) is a time-ordered set
//! of waiting jobs plus a wake-up: it marks a job whose `startTime` is still ahead `scheduled`,
//! sleeps until the earliest start time (or until a new job or a cancel wakes it) and starts
//! every job that is due. Time is the hub's clock ([`Hub::with_clock`]); the waits are tokio
//! timers, so tests drive the whole lifecycle with paused time. Without the scheduler, jobs
//! stay `queued`.
//!
//! Lifecycle (protocol reference §4.2, §4.3):
//! - job: `queued` → `scheduled` (start time ahead) → `running` → `completed` | `failed` |
//!   `cancelled` (two l's), with `createdTime`, `startTime` (the requested time, never before
//!   `createdTime`) and `endTime`.
//! - When a job starts running its `queryCondition` is evaluated over the twins at that moment
//!   (iothub-query, `SELECT * FROM devices WHERE ` + condition, or `*`); the device set is
//!   fixed then, one `devices.jobs` row per device, all `pending`. A condition that does not
//!   parse fails the job (`failureReason` and `statusMessage` say why), as the real hub
//!   validates it only when the job runs (§4.1). Module conditions (`FROM devices.modules`)
//!   fail the job too: localhub has no modules.
//! - device rows: `pending` → `running` → `completed` | `failed` | `canceled` (one l).
//!   `deviceJobStatistics` is live: while a job is dispatched it is kept in memory as its
//!   devices advance; otherwise (finished, or not yet resumed) it is counted from the rows.
//! - Per-device failures do not fail the job: it ends `completed` with `failedCount` (§4.2).
//!   A device that answers a method with any status, 2xx or not, is `completed`: the hub
//!   delivered the call and got an answer, which is in `outcome.deviceMethodResponse`, just as
//!   the direct-method REST call answers 200 whatever status the device chose (§3.6, §4.4).
//!   A device that is offline (after `connectTimeoutInSeconds`) or does not answer in
//!   `responseTimeoutInSeconds` is `failed` with `error {code, description}`, the code being
//!   the hub error's name (`DeviceNotOnline`, `GatewayTimeout`).
//! - `maxExecutionTimeInSeconds` (default 3600) counts from when the job started running.
//!   When it runs out, calls in flight are abandoned, every device not done is `failed` with
//!   code `JobExpired`, and the job ends `failed` with the reason: it did not do all its work.
//! - Cancel ([`Hub::cancel_job`]) marks the job `cancelled` and every device not done
//!   `canceled` at once, and stops dispatch (calls in flight are abandoned). Cancelling a
//!   cancelled job answers the job again; cancelling a `completed` or `failed` job is 412
//!   `JobRunPreconditionFailed` (412003), the answer the reference finds plausible (§4.2).
//!
//! Execution (§4.4): method jobs call [`Hub::invoke_method`], the direct-method path, with
//! the job's `connectTimeoutInSeconds` and `responseTimeoutInSeconds`; twin jobs merge `tags`
//! and `properties.desired` with [`Hub::patch_twin`] and etag `*` (bumping versions and
//! notifying connected subscribers), which succeeds for offline devices too. Method jobs
//! process devices concurrently, at most [`DEFAULT_DISPATCH_LIMIT`] at a time
//! ([`Hub::set_job_dispatch_limit`]); twin jobs on an unthrottled tier apply the same merge
//! to 256 twins per transaction, their device rows written in that same transaction (a
//! twin is changed exactly when its row says `completed`), and on a throttled tier one
//! device per paced slot. The device set of a job over `*` is read as ids alone; a `WHERE`
//! condition is evaluated on each twin as its row is read, keeping only the matching ids.
//!
//! Durability: jobs live in the `jobs` table, device rows in `device_jobs`. While a job is
//! dispatched its device rows advance through a write-behind buffer, committed in one
//! transaction every 256 rows or 20 ms, before anything reads the job or its rows (so what
//! the API shows is committed), and in the same transaction that ends the job (completed,
//! expired, cancelled); a graceful stop commits it too. A kill may lose the last 20 ms of
//! device progress: those devices are simply not done, and are processed again on resume.
//! When the scheduler starts it **resumes** the jobs that were
//! `running` when the hub stopped (gracefully or killed): the devices not done are processed,
//! including one whose call was in flight (so a device may see a method twice: at least once,
//! never lost), within what is left of the job's `maxExecutionTimeInSeconds` counted from
//! when it first started (a job whose budget ran out while the hub was down ends `failed` at
//! once). `queued` and `scheduled` jobs are picked up again and start at their time. Finished
//! jobs are kept 30 days after their `endTime` ([`JOB_RETENTION`], §4.5), purged when the
//! scheduler starts and hourly.
//!
//! The jobs query (`GET /jobs/v2/query`) answers a JSON array by default, as the real hub
//! does (§3.5). The official Python SDK's `query_scheduled_jobs` expects the swagger's
//! `{"type":"jobResponse","items":[…],"continuationToken":…}` object instead; set
//! [`JobsQueryForm::Object`] with [`Hub::set_jobs_query_form`], or start the server with the
//! environment variable `LOCALHUB_JOBS_QUERY_FORM=object` ([`QUERY_FORM_ENV`]), to serve
//! that form.
//!
//! Tiers ([`super::tier`], [`Hub::set_tier`]): a job is active from its creation until it
//! ends (`queued`, `scheduled`, `running`); creating one more than the tier's
//! [`TierConfig::max_active_jobs`] is 429 `ThrottlingMaxActiveJobCountExceeded` (429004,
//! §4.1), checked in the transaction that stores the job. On a throttled tier every device a
//! job processes first takes a slot of the hub's one [`RateLimiter`], shared by all its jobs
//! (§4.4), waited for on tokio time. The default tier, unlimited, allows
//! [`UNLIMITED_MAX_ACTIVE_JOBS`](super::tier::UNLIMITED_MAX_ACTIVE_JOBS) active jobs and no
//! pacing.
//!
//! Job ids: 1–64 ASCII letters, digits and `-` (§4.1); the body's `jobId`, if any, must
//! equal the path's.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use iothub::model::{
    CloudToDeviceMethod, CloudToDeviceMethodResult, DeviceJob, DeviceJobError, DeviceJobOutcome,
    DeviceJobStatistics, DeviceJobStatus, ErrorCode, HubError, HubTime, JobRequest, JobResponse,
    JobStatus, JobType, Twin,
};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::tier::{RateLimiter, TierConfig};
use super::twin::TwinState;
use super::{
    Hub, IfMatch, MethodCall, RESPONSE_TIMEOUT_DEFAULT, internal, load_twin_state_in, twin_error,
};
use crate::store::{self, Store, device_jobs, jobs::JobRow};

/// Longest job id.
pub const MAX_JOB_ID_LEN: usize = 64;
/// `maxExecutionTimeInSeconds` when the request has none (what the Node SDK and CLI send).
pub const DEFAULT_MAX_EXECUTION_TIME_SECS: i64 = 3600;
/// How many devices of one job are processed at once, by default.
pub const DEFAULT_DISPATCH_LIMIT: usize = 100;
/// How long finished jobs are kept after their `endTime`.
pub const JOB_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The environment variable that selects the jobs query's body form (`array` or `object`).
pub const QUERY_FORM_ENV: &str = "LOCALHUB_JOBS_QUERY_FORM";
/// The device job error code of devices not done when a job's time ran out.
pub const JOB_EXPIRED: &str = "JobExpired";

/// The job statuses that count against the tier's max active jobs: every one before the end.
const ACTIVE: &[JobStatus] = &[
    JobStatus::Queued,
    JobStatus::Enqueued,
    JobStatus::Pending,
    JobStatus::Scheduled,
    JobStatus::Running,
];

/// A running job commits its buffered device-row writes once this many are waiting…
const FLUSH_BATCH: usize = 256;
/// …or after at most this long.
const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// An unthrottled twin job patches this many twins per transaction.
const TWIN_CHUNK: usize = 256;

/// How often finished jobs past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// The scheduler looks at the clock at least this often (the wall clock may jump).
const MAX_NAP: Duration = Duration::from_secs(60);
/// Waits are capped here, far beyond any job, so that instants never overflow.
const MAX_WAIT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The body form of `GET /jobs/v2/query`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobsQueryForm {
    /// A JSON array of jobs, next page in the `x-ms-continuation` header: the real hub.
    #[default]
    Array,
    /// The swagger's `QueryResult` object, `{"type":"jobResponse","items":[…],
    /// "continuationToken":…}`: what the Python SDK's `query_scheduled_jobs` reads.
    Object,
}

impl JobsQueryForm {
    /// Reads `array` or `object` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("array") {
            Some(Self::Array)
        } else if text.eq_ignore_ascii_case("object") {
            Some(Self::Object)
        } else {
            None
        }
    }

    /// The form [`QUERY_FORM_ENV`] asks for; [`JobsQueryForm::Array`] when it is unset or
    /// unreadable (with a warning).
    pub fn from_env() -> Self {
        match std::env::var(QUERY_FORM_ENV) {
            Ok(text) => Self::parse(&text).unwrap_or_else(|| {
                tracing::warn!(value = %text, "{QUERY_FORM_ENV} is neither 'array' nor 'object'");
                Self::Array
            }),
            Err(_) => Self::Array,
        }
    }
}

/// One page of the jobs query.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// The jobs, oldest first.
    pub items: Vec<JobResponse>,
    /// The token for the next page; `None` on the last page.
    pub continuation: Option<String>,
}

/// The hub's job engine state: the waiting jobs, the wake-up and the running jobs.
#[derive(Debug, Default)]
pub(super) struct Jobs {
    waiting: Mutex<Waiting>,
    wake: Notify,
    running: Mutex<HashMap<String, CancellationToken>>,
    /// The device bookkeeping of the jobs being dispatched, by job id.
    live: Mutex<HashMap<String, Arc<LiveJob>>>,
    object_form: AtomicBool,
    /// 0 means [`DEFAULT_DISPATCH_LIMIT`].
    dispatch_limit: AtomicUsize,
    /// The emulated tier.
    tier: Mutex<TierConfig>,
    /// The tier's pacing of device operations, shared by every job; `None`: unthrottled.
    limiter: Mutex<Option<RateLimiter>>,
}

/// Jobs waiting for their start time.
#[derive(Debug, Default)]
struct Waiting {
    /// Just created or recovered `queued`: not yet looked at by the scheduler.
    fresh: Vec<(HubTime, String)>,
    /// `scheduled` jobs by start time.
    due: BTreeSet<(HubTime, String)>,
}

/// The device bookkeeping of a job while it is dispatched: its `deviceJobStatistics`, kept
/// up to date in memory so that reading the job does not count its rows, and a write-behind
/// buffer of device rows (`pending` → `running`, `running` → `completed` | `failed`),
/// committed in one transaction every [`FLUSH_BATCH`] rows or [`FLUSH_INTERVAL`], before
/// any read of the job or its rows answers, and in the transaction that ends the job.
///
/// Lock order: a `LiveJob`'s state, then the store.
#[derive(Debug, Default)]
struct LiveJob {
    state: Mutex<LiveState>,
}

#[derive(Debug, Default)]
struct LiveState {
    /// The statistics, counting the buffered rows; valid once `started`.
    stats: DeviceJobStatistics,
    /// The job's device set is fixed and `stats` counts it; before that, the statistics are
    /// counted from the rows.
    started: bool,
    /// Device rows to write, at most one per device (its latest state).
    buffer: Vec<DeviceJob>,
    /// Where each device's row is in `buffer`.
    index: HashMap<String, usize>,
    /// The job has ended (or been cancelled): nothing more is recorded.
    closed: bool,
}

impl LiveJob {
    /// Starts keeping the statistics, from `stats`; false if the job was closed meanwhile.
    fn start(&self, stats: DeviceJobStatistics) -> bool {
        let mut state = lock(&self.state);
        if state.closed {
            return false;
        }
        state.stats = stats;
        state.started = true;
        true
    }

    /// Buffers `row`, whose device was `from` (its statistics move to the row's status);
    /// false if the job is closed. Commits the buffer when it is full.
    fn record(&self, store: &Store, row: DeviceJob, from: &DeviceJobStatus) -> bool {
        lock(&self.state).record(store, row, from)
    }

    /// Commits the buffered rows.
    fn flush(&self, store: &Store) -> Result<(), HubError> {
        lock(&self.state).flush(store)
    }

    /// The statistics, once the rows they count are committed; `None` before the job has
    /// started or after it closed (count the rows then).
    fn statistics(&self, store: &Store) -> Result<Option<DeviceJobStatistics>, HubError> {
        let mut state = lock(&self.state);
        state.flush(store)?;
        Ok((state.started && !state.closed).then_some(state.stats))
    }
}

impl LiveState {
    /// See [`LiveJob::record`].
    fn record(&mut self, store: &Store, row: DeviceJob, from: &DeviceJobStatus) -> bool {
        if self.closed {
            return false;
        }
        self.count(&row, from);
        let device = row.device_id.clone().unwrap_or_default();
        match self.index.get(&device) {
            Some(&at) => self.buffer[at] = row,
            None => {
                self.index.insert(device, self.buffer.len());
                self.buffer.push(row);
            }
        }
        if self.buffer.len() >= FLUSH_BATCH
            && let Err(error) = self.flush(store)
        {
            tracing::warn!(%error, "cannot record the job's device results (will retry)");
        }
        true
    }

    /// Moves the statistics of a device that was `from` to `row`'s status.
    fn count(&mut self, row: &DeviceJob, from: &DeviceJobStatus) {
        if let Some(count) = status_count(&mut self.stats, from) {
            *count = count.saturating_sub(1);
        }
        if let Some(count) = row
            .status
            .as_ref()
            .and_then(|s| status_count(&mut self.stats, s))
        {
            *count = count.saturating_add(1);
        }
    }

    fn flush(&mut self, store: &Store) -> Result<(), HubError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        store
            .transaction(|tx| device_jobs::advance(tx, &self.buffer))
            .map_err(internal)?;
        self.buffer.clear();
        self.index.clear();
        Ok(())
    }
}

/// The count of `status` in `stats` (cancelled devices count towards `deviceCount` only).
fn status_count<'a>(
    stats: &'a mut DeviceJobStatistics,
    status: &DeviceJobStatus,
) -> Option<&'a mut i32> {
    match status {
        DeviceJobStatus::Pending | DeviceJobStatus::Scheduled => Some(&mut stats.pending_count),
        DeviceJobStatus::Running => Some(&mut stats.running_count),
        DeviceJobStatus::Completed => Some(&mut stats.succeeded_count),
        DeviceJobStatus::Failed => Some(&mut stats.failed_count),
        DeviceJobStatus::Canceled | DeviceJobStatus::Other(_) => None,
    }
}

/// How dispatching a job's devices ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Done,
    Expired,
    Cancelled,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain collections behind these locks stay usable after a panic elsewhere.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Hub {
    fn jobs(&self) -> &Jobs {
        &self.inner.jobs
    }

    // ----- options ----------------------------------------------------------------------

    /// Chooses the body form of `GET /jobs/v2/query` (default [`JobsQueryForm::Array`]).
    pub fn set_jobs_query_form(&self, form: JobsQueryForm) {
        self.jobs()
            .object_form
            .store(form == JobsQueryForm::Object, Ordering::Relaxed);
    }

    /// The body form of `GET /jobs/v2/query`.
    pub fn jobs_query_form(&self) -> JobsQueryForm {
        if self.jobs().object_form.load(Ordering::Relaxed) {
            JobsQueryForm::Object
        } else {
            JobsQueryForm::Array
        }
    }

    /// How many devices of one job are processed at once (at least 1).
    pub fn set_job_dispatch_limit(&self, limit: usize) {
        self.jobs()
            .dispatch_limit
            .store(limit.max(1), Ordering::Relaxed);
    }

    fn dispatch_limit(&self) -> usize {
        match self.jobs().dispatch_limit.load(Ordering::Relaxed) {
            0 => DEFAULT_DISPATCH_LIMIT,
            limit => limit,
        }
    }

    /// Emulates `tier` (a [`super::tier::Tier`] is one unit of it): its max active jobs at
    /// creation and its pace of job device operations, from now on (jobs already created
    /// stay; devices already paced keep their slot). The default is unlimited.
    pub fn set_tier(&self, tier: impl Into<TierConfig>) {
        let tier = tier.into();
        let mut current = lock(&self.jobs().tier);
        *lock(&self.jobs().limiter) = tier.rate_limiter();
        *current = tier;
    }

    /// The emulated tier.
    pub fn tier(&self) -> TierConfig {
        *lock(&self.jobs().tier)
    }

    /// When the next job device operation may start: now, or later on a throttled tier.
    fn device_slot(&self) -> Option<Instant> {
        lock(&self.jobs().limiter)
            .as_mut()
            .map(|limiter| limiter.next_slot(Instant::now()))
    }

    // ----- the REST operations ----------------------------------------------------------

    /// `PUT /jobs/v2/{id}`: validates and stores the job, `queued`; the scheduler runs it.
    ///
    /// 400 for a bad id, a body id that differs from `id`, a missing or unsupported `type`
    /// (`GenericBadRequest`, also for the old `scheduleDirectRequest`/`scheduleTwinUpdate`),
    /// a missing `cloudToDeviceMethod`/`updateTwin`/`queryCondition`, invalid timeouts or an
    /// invalid twin patch; 409104 `JobAlreadyExists` for an existing id; 429004
    /// `ThrottlingMaxActiveJobCountExceeded` when the tier's active jobs are all taken.
    pub fn schedule_job(&self, id: &str, request: JobRequest) -> Result<JobResponse, HubError> {
        validate_job_id(id)?;
        if let Some(body_id) = request.job_id.as_deref()
            && body_id != id
        {
            return Err(HubError::new(
                ErrorCode::ArgumentInvalid,
                format!("jobId '{body_id}' in the body does not match '{id}' in the path"),
            ));
        }
        let now = self.now();
        let job = new_job(id, request, now)?;
        let row = JobRow {
            job,
            run_started: None,
        };
        let tier = self.tier();
        self.store().transaction(|tx| {
            if store::jobs::get(tx, id)?.is_some() {
                return Err(HubError::new(
                    ErrorCode::JobAlreadyExists,
                    format!("A job with id '{id}' already exists."),
                ));
            }
            let active = store::jobs::with_status(tx, ACTIVE)?.len();
            if active >= tier.max_active_jobs() {
                return Err(HubError::new(
                    ErrorCode::ThrottlingMaxActiveJobCountExceeded,
                    format!(
                        "The maximum active job count has been exceeded: the {tier} tier allows {} active job(s) and {active} are queued, scheduled or running. Reduce the number of active jobs and try again.",
                        tier.max_active_jobs()
                    ),
                ));
            }
            store::jobs::insert(tx, &row)?;
            Ok::<_, HubError>(())
        })?;
        let start = row.job.start_time.unwrap_or(now);
        lock(&self.jobs().waiting)
            .fresh
            .push((start, id.to_owned()));
        self.jobs().wake.notify_one();
        self.with_statistics(row.job)
    }

    /// `GET /jobs/v2/{id}`: the job with live `deviceJobStatistics`; 404002 if unknown.
    pub fn get_job(&self, id: &str) -> Result<JobResponse, HubError> {
        let row = self
            .store()
            .read(|conn| store::jobs::get(conn, id))
            .map_err(internal)?
            .ok_or_else(|| job_not_found(id))?;
        self.with_statistics(row.job)
    }

    /// `POST /jobs/v2/{id}/cancel`: the job ends `cancelled` and its devices not done
    /// `canceled`; no device is called after this returns. Cancelling a cancelled job answers
    /// it again; a `completed` or `failed` one is 412003.
    pub fn cancel_job(&self, id: &str) -> Result<JobResponse, HubError> {
        let now = self.now();
        let job = self.close_live(id, |tx| {
            let mut row = store::jobs::get(tx, id)?.ok_or_else(|| job_not_found(id))?;
            match row.status() {
                JobStatus::Cancelled => return Ok::<_, HubError>(row.job),
                status @ (JobStatus::Completed | JobStatus::Failed) => {
                    return Err(HubError::new(
                        ErrorCode::JobRunPreconditionFailed,
                        format!("The job '{id}' has already finished ({status}); it cannot be cancelled."),
                    ));
                }
                JobStatus::Unknown
                | JobStatus::Enqueued
                | JobStatus::Running
                | JobStatus::Scheduled
                | JobStatus::Queued
                | JobStatus::Pending
                | JobStatus::Other(_) => {}
            }
            row.job.status = Some(JobStatus::Cancelled);
            row.job.end_time = Some(now);
            store::jobs::update(tx, &row)?;
            close_devices(tx, id, DeviceJobStatus::Canceled, None, now)?;
            Ok(row.job)
        })?;
        {
            let mut waiting = lock(&self.jobs().waiting);
            waiting.fresh.retain(|(_, job)| job != id);
            waiting.due.retain(|(_, job)| job != id);
        }
        if let Some(token) = lock(&self.jobs().running).get(id) {
            token.cancel();
        }
        self.jobs().wake.notify_one();
        self.with_statistics(job)
    }

    /// `GET /jobs/v2/query`: one page of jobs, oldest first, optionally only of one type
    /// and status (matched ignoring case, as the C# SDK sends `ScheduleDeviceMethod`,
    /// `Completed`); the continuation token is the position of the next page.
    pub fn query_jobs(
        &self,
        job_type: Option<&str>,
        job_status: Option<&str>,
        continuation: Option<&str>,
        page_size: usize,
    ) -> Result<JobPage, HubError> {
        let job_type = job_type
            .filter(|t| !t.trim().is_empty())
            .map(|t| known(JobType::from_wire(t.trim()), "jobType"))
            .transpose()?;
        let job_status = job_status
            .filter(|s| !s.trim().is_empty())
            .map(|s| known(JobStatus::from_wire(s.trim()), "jobStatus"))
            .transpose()?;
        let offset = match continuation {
            None => 0,
            Some(token) => token.parse::<usize>().map_err(|_| {
                HubError::new(
                    ErrorCode::ArgumentInvalid,
                    "the continuation token is invalid",
                )
            })?,
        };
        let page_size = page_size.max(1);
        let mut rows = self
            .store()
            .read(|conn| {
                store::jobs::page(
                    conn,
                    job_type.as_ref(),
                    job_status.as_ref(),
                    offset,
                    page_size.saturating_add(1),
                )
            })
            .map_err(internal)?;
        let more = rows.len() > page_size;
        rows.truncate(page_size);
        let items = rows
            .into_iter()
            .map(|row| self.with_statistics(row.job))
            .collect::<Result<_, _>>()?;
        Ok(JobPage {
            items,
            continuation: more.then(|| (offset + page_size).to_string()),
        })
    }

    /// The `devices.jobs` rows of a job, by device id.
    pub fn device_jobs(&self, job_id: &str) -> Result<Vec<DeviceJob>, HubError> {
        if let Some(live) = self.live_job(job_id) {
            live.flush(self.store())?;
        }
        self.store()
            .read(|conn| device_jobs::for_job(conn, job_id, false))
            .map_err(internal)
    }

    /// Every device job row as JSON: the documents `FROM devices.jobs` ranges over.
    pub(super) fn device_job_documents(&self) -> Result<Vec<Value>, HubError> {
        let live: Vec<_> = lock(&self.jobs().live).values().cloned().collect();
        for job in live {
            job.flush(self.store())?;
        }
        let rows = self.store().read(device_jobs::all).map_err(internal)?;
        rows.iter()
            .map(|row| serde_json::to_value(row).map_err(internal))
            .collect()
    }

    fn with_statistics(&self, mut job: JobResponse) -> Result<JobResponse, HubError> {
        let id = job.job_id.clone().unwrap_or_default();
        let live = match self.live_job(&id) {
            Some(live) => live.statistics(self.store())?,
            None => None,
        };
        let stats = match live {
            Some(stats) => stats,
            None => self
                .store()
                .read(|conn| device_jobs::statistics(conn, &id))
                .map_err(internal)?,
        };
        job.device_job_statistics = Some(stats);
        if job.status.is_none() {
            job.status = Some(JobStatus::Unknown);
        }
        Ok(job)
    }

    /// The in-memory bookkeeping of `id`, if it is being dispatched.
    fn live_job(&self, id: &str) -> Option<Arc<LiveJob>> {
        lock(&self.jobs().live).get(id).cloned()
    }

    /// Runs `f` in one transaction that first commits the buffered device rows of `id` (if
    /// it is being dispatched); if `f` succeeds, the job's bookkeeping is closed (nothing
    /// more is recorded) and dropped, so its statistics are counted from the rows again.
    /// For writes that end a job.
    fn close_live<T>(
        &self,
        id: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, HubError>,
    ) -> Result<T, HubError> {
        let live = self.live_job(id);
        let mut state = live.as_ref().map(|live| lock(&live.state));
        let value = self.store().transaction(|tx| {
            if let Some(state) = state.as_ref() {
                device_jobs::advance(tx, &state.buffer)?;
            }
            f(tx)
        })?;
        if let Some(state) = state.as_mut() {
            state.buffer.clear();
            state.index.clear();
            state.closed = true;
        }
        drop(state);
        if let Some(live) = live {
            let mut map = lock(&self.jobs().live);
            if map
                .get(id)
                .is_some_and(|current| Arc::ptr_eq(current, &live))
            {
                map.remove(id);
            }
        }
        Ok(value)
    }

    // ----- the scheduler ----------------------------------------------------------------

    /// The scheduler: resumes interrupted jobs, then starts each job at its start time until
    /// `shutdown` is cancelled. Returns once every job task it started has stopped; jobs
    /// stopped this way stay `running` in the store and resume at the next start.
    pub async fn run_jobs(&self, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        match self.recover_jobs() {
            Ok(resume) => {
                for id in resume {
                    self.spawn_job(&mut tasks, id);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot recover the stored jobs"),
        }
        let mut next_purge = Instant::now() + PURGE_INTERVAL;
        loop {
            if Instant::now() >= next_purge {
                self.purge_jobs();
                next_purge = Instant::now() + PURGE_INTERVAL;
            }
            let now = self.now();
            let (due, next) = self.take_due_jobs(now);
            for id in due {
                self.spawn_job(&mut tasks, id);
            }
            let mut nap = next_purge
                .saturating_duration_since(Instant::now())
                .min(MAX_NAP);
            if let Some(next) = next {
                nap = nap.min(until(now, next));
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.jobs().wake.notified() => {}
                () = tokio::time::sleep(nap) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        tasks.shutdown().await;
        lock(&self.jobs().running).clear();
        // The stopped jobs stay `running`; what their devices did so far is kept.
        let live: Vec<_> = lock(&self.jobs().live)
            .drain()
            .map(|(_, job)| job)
            .collect();
        for job in live {
            if let Err(error) = job.flush(self.store()) {
                tracing::warn!(%error, "cannot record the stopped job's device results");
            }
        }
    }

    /// Purges old jobs and loads the waiting ones; returns the jobs to resume.
    fn recover_jobs(&self) -> Result<Vec<String>, HubError> {
        self.purge_jobs();
        let rows = self
            .store()
            .read(|conn| store::jobs::with_status(conn, ACTIVE))
            .map_err(internal)?;
        let mut resume = Vec::new();
        let mut waiting = lock(&self.jobs().waiting);
        for row in rows {
            let start = row.job.start_time.unwrap_or(HubTime::NEVER);
            let id = row.id().to_owned();
            match row.status() {
                JobStatus::Running => resume.push(id),
                JobStatus::Scheduled => {
                    waiting.due.insert((start, id));
                }
                JobStatus::Queued
                | JobStatus::Enqueued
                | JobStatus::Pending
                | JobStatus::Unknown
                | JobStatus::Completed
                | JobStatus::Failed
                | JobStatus::Cancelled
                | JobStatus::Other(_) => waiting.fresh.push((start, id)),
            }
        }
        if !resume.is_empty() {
            tracing::info!(jobs = resume.len(), "resuming jobs that were running");
        }
        Ok(resume)
    }

    fn purge_jobs(&self) {
        let cutoff = self
            .now()
            .instant()
            .zip(time::Duration::try_from(JOB_RETENTION).ok())
            .and_then(|(now, retention)| now.checked_sub(retention))
            .and_then(|cutoff| HubTime::at(cutoff).ok());
        let Some(cutoff) = cutoff else { return };
        match self
            .store()
            .read(|conn| store::jobs::purge_finished_before(conn, cutoff))
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged jobs older than 30 days"),
            Err(error) => tracing::warn!(%error, "cannot purge old jobs"),
        }
    }

    /// The jobs due at `now` (removed from the waiting set) and the next start time. Newly
    /// created jobs whose start time is ahead become `scheduled`.
    fn take_due_jobs(&self, now: HubTime) -> (Vec<String>, Option<HubTime>) {
        let mut fresh = std::mem::take(&mut lock(&self.jobs().waiting).fresh);
        fresh.sort();
        fresh.dedup();
        let mut later = Vec::new();
        let mut due = Vec::new();
        for (start, id) in fresh {
            if start <= now {
                due.push(id);
            } else {
                if let Err(error) = self.mark_scheduled(&id) {
                    tracing::warn!(job = %id, %error, "cannot mark the job scheduled");
                }
                later.push((start, id));
            }
        }
        let mut waiting = lock(&self.jobs().waiting);
        waiting.due.extend(later);
        while let Some(first) = waiting.due.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, id)) = waiting.due.pop_first() {
                due.push(id);
            }
        }
        (due, waiting.due.first().map(|(start, _)| *start))
    }

    fn mark_scheduled(&self, id: &str) -> Result<(), HubError> {
        self.store().transaction(|tx| {
            if let Some(mut row) = store::jobs::get(tx, id)?
                && matches!(row.status(), JobStatus::Queued | JobStatus::Enqueued)
            {
                row.job.status = Some(JobStatus::Scheduled);
                store::jobs::update(tx, &row)?;
            }
            Ok(())
        })
    }

    fn spawn_job(&self, tasks: &mut JoinSet<()>, id: String) {
        let token = CancellationToken::new();
        {
            // A job created while the scheduler starts is both recovered and fresh.
            let mut running = lock(&self.jobs().running);
            if running.contains_key(&id) {
                return;
            }
            running.insert(id.clone(), token.clone());
        }
        // Registered before the job starts, so that a cancel at any point closes it.
        let live = Arc::new(LiveJob::default());
        lock(&self.jobs().live).insert(id.clone(), live.clone());
        let hub = self.clone();
        tasks.spawn(async move {
            if let Err(error) = hub.execute_job(&id, &token, &live).await {
                tracing::warn!(job = %id, %error, "the job failed inside localhub");
                let reason = format!("localhub could not run the job: {}", error.message);
                if let Err(error) = hub.end_job(&id, JobStatus::Failed, Some(reason)) {
                    tracing::warn!(job = %id, %error, "cannot record the job's failure");
                }
            }
            lock(&hub.jobs().live).remove(&id);
            lock(&hub.jobs().running).remove(&id);
        });
    }

    // ----- running a job ----------------------------------------------------------------

    async fn execute_job(
        &self,
        id: &str,
        cancel: &CancellationToken,
        live: &Arc<LiveJob>,
    ) -> Result<(), HubError> {
        let Some(row) = self
            .store()
            .read(|conn| store::jobs::get(conn, id))
            .map_err(internal)?
        else {
            return Ok(());
        };
        let (row, todo, stats) = match row.status() {
            JobStatus::Queued
            | JobStatus::Enqueued
            | JobStatus::Pending
            | JobStatus::Scheduled
            | JobStatus::Unknown => match self.start_job(row)? {
                Some((row, todo)) => {
                    let count = i32::try_from(todo.len()).unwrap_or(i32::MAX);
                    let stats = DeviceJobStatistics {
                        device_count: count,
                        pending_count: count,
                        ..DeviceJobStatistics::default()
                    };
                    (row, todo, stats)
                }
                None => return Ok(()),
            },
            JobStatus::Running => {
                let row = self.resume_job(row)?;
                let (todo, stats) = self
                    .store()
                    .read(|conn| {
                        Ok((
                            device_jobs::for_job(conn, id, true)?,
                            device_jobs::statistics(conn, id)?,
                        ))
                    })
                    .map_err(internal)?;
                (row, todo, stats)
            }
            JobStatus::Completed
            | JobStatus::Failed
            | JobStatus::Cancelled
            | JobStatus::Other(_) => return Ok(()),
        };
        let budget = Duration::from_secs(
            row.job
                .max_execution_time_in_seconds
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(DEFAULT_MAX_EXECUTION_TIME_SECS.unsigned_abs()),
        )
        .min(MAX_WAIT);
        let started = row.run_started.unwrap_or_else(|| self.now());
        let left = budget.saturating_sub(elapsed_since(started, self.now()));
        let deadline = Instant::now() + left;
        if !live.start(stats) {
            // Cancelled meanwhile.
            return Ok(());
        }
        match self.dispatch(&row.job, todo, deadline, cancel, live).await {
            Ending::Cancelled => Ok(()),
            Ending::Done => self.end_job(id, JobStatus::Completed, None),
            Ending::Expired => {
                let now = self.now();
                let error = DeviceJobError {
                    code: Some(JOB_EXPIRED.to_owned()),
                    description: Some(format!(
                        "The job's maxExecutionTimeInSeconds ({} s) ran out before this device was done.",
                        budget.as_secs()
                    )),
                };
                self.close_live(id, |tx| {
                    let left_over =
                        close_devices(tx, id, DeviceJobStatus::Failed, Some(&error), now)?;
                    let reason = format!(
                        "The job ran out of its maxExecutionTimeInSeconds ({} s) with {left_over} device(s) not done.",
                        budget.as_secs()
                    );
                    end_job_in(tx, id, JobStatus::Failed, Some(reason), now)
                })
            }
        }
    }

    /// Fixes the device set and marks the job `running`; returns the job and its device rows
    /// (all `pending`), or `None` if the job failed on its condition or was cancelled
    /// meanwhile.
    fn start_job(&self, row: JobRow) -> Result<Option<(JobRow, Vec<DeviceJob>)>, HubError> {
        let id = row.id().to_owned();
        let condition = row.job.query_condition.clone().unwrap_or_default();
        let condition = match iothub_query::parse_condition(&condition) {
            Ok(condition) if condition.from == iothub_query::From::DevicesModules => {
                let reason = "localhub has no modules: jobs can only target devices.";
                self.end_job(&id, JobStatus::Failed, Some(reason.to_owned()))?;
                return Ok(None);
            }
            Ok(condition) => condition,
            Err(error) => {
                let reason = format!("The queryCondition is invalid: {error}");
                self.end_job(&id, JobStatus::Failed, Some(reason))?;
                return Ok(None);
            }
        };
        let targets = self.job_targets(&condition)?;
        let now = self.now();
        self.store().transaction(|tx| {
            let Some(mut current) = store::jobs::get(tx, &id)? else {
                return Ok(None);
            };
            match current.status() {
                JobStatus::Queued
                | JobStatus::Enqueued
                | JobStatus::Pending
                | JobStatus::Scheduled
                | JobStatus::Unknown => {}
                JobStatus::Running
                | JobStatus::Completed
                | JobStatus::Failed
                | JobStatus::Cancelled
                | JobStatus::Other(_) => return Ok(None),
            }
            current.job.status = Some(JobStatus::Running);
            current.run_started = Some(now);
            store::jobs::update(tx, &current)?;
            let mut rows = Vec::with_capacity(targets.len());
            for device_id in targets {
                let row = DeviceJob {
                    device_id: Some(device_id),
                    job_id: Some(id.clone()),
                    job_type: current.job.job_type.clone(),
                    status: Some(DeviceJobStatus::Pending),
                    created_date_time_utc: Some(now),
                    last_updated_date_time_utc: Some(now),
                    ..DeviceJob::default()
                };
                device_jobs::put(tx, &row)?;
                rows.push(row);
            }
            Ok::<_, HubError>(Some((current, rows)))
        })
    }

    /// A job that was `running` when the hub stopped: devices caught mid-call go back to
    /// `pending`, to be called again.
    fn resume_job(&self, row: JobRow) -> Result<JobRow, HubError> {
        let now = self.now();
        self.store().transaction(|tx| {
            for mut device in device_jobs::for_job(tx, row.id(), true)? {
                if device.status == Some(DeviceJobStatus::Running) {
                    device.status = Some(DeviceJobStatus::Pending);
                    device.last_updated_date_time_utc = Some(now);
                    device_jobs::put(tx, &device)?;
                }
            }
            Ok::<_, HubError>(())
        })?;
        Ok(row)
    }

    /// Processes the devices still to do, at most the dispatch limit at a time and each
    /// after taking a slot of the tier's pace, until all are done, the deadline passes or
    /// the job is cancelled (calls in flight are then abandoned: dropping the set aborts
    /// them). Device rows go through `live`'s write-behind buffer, committed at least every
    /// [`FLUSH_INTERVAL`] while this runs.
    async fn dispatch(
        &self,
        job: &JobResponse,
        todo: Vec<DeviceJob>,
        deadline: Instant,
        cancel: &CancellationToken,
        live: &Arc<LiveJob>,
    ) -> Ending {
        let work = Arc::new(Work::of(job));
        if let Work::Twin(Ok(patch)) = &*work
            && lock(&self.jobs().limiter).is_none()
            && let Ok(parts) = super::writable_parts(patch)
        {
            return self
                .dispatch_twins(&parts, todo, deadline, cancel, live)
                .await;
        }
        let permits = Arc::new(Semaphore::new(self.dispatch_limit()));
        let mut in_flight = JoinSet::new();
        let mut flusher = JoinSet::new();
        {
            let hub = self.clone();
            let live = live.clone();
            flusher.spawn(async move {
                loop {
                    tokio::time::sleep(FLUSH_INTERVAL).await;
                    if let Err(error) = live.flush(hub.store()) {
                        tracing::warn!(%error, "cannot record the job's device results (will retry)");
                    }
                }
            });
        }
        let expiry = tokio::time::sleep_until(deadline);
        tokio::pin!(expiry);
        for device in todo {
            if device.device_id.is_none() || device.status != Some(DeviceJobStatus::Pending) {
                continue;
            }
            let permit = tokio::select! {
                biased;
                () = cancel.cancelled() => return Ending::Cancelled,
                () = &mut expiry => return Ending::Expired,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return Ending::Cancelled,
                },
            };
            if let Some(slot) = self.device_slot() {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Ending::Cancelled,
                    () = &mut expiry => return Ending::Expired,
                    () = tokio::time::sleep_until(slot) => {}
                }
            }
            // `pending` → `running`.
            let now = self.now();
            let running = DeviceJob {
                status: Some(DeviceJobStatus::Running),
                start_time_utc: Some(now),
                last_updated_date_time_utc: Some(now),
                ..device
            };
            if !live.record(self.store(), running.clone(), &DeviceJobStatus::Pending) {
                // Cancelled or expired meanwhile.
                continue;
            }
            let hub = self.clone();
            let work = work.clone();
            let live = live.clone();
            in_flight.spawn(async move {
                let device_id = running.device_id.clone().unwrap_or_default();
                let result = hub.process_device(&work, &device_id).await;
                let done = finished_row(running, result, hub.now());
                live.record(hub.store(), done, &DeviceJobStatus::Running);
                drop(permit);
            });
            while in_flight.try_join_next().is_some() {}
        }
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ending::Cancelled,
                () = &mut expiry => return Ending::Expired,
                next = in_flight.join_next() => if next.is_none() {
                    return Ending::Done;
                },
            }
        }
    }

    /// A twin job on an unthrottled tier: patches the twins [`TWIN_CHUNK`] devices per
    /// transaction, writing their finished rows in the same transaction under the lock of
    /// `live` (so a cancel or the deadline falls between chunks, and a chunk's twins and rows
    /// are committed together), then notifies the connected devices.
    async fn dispatch_twins(
        &self,
        (tags, desired): &super::WritableParts,
        todo: Vec<DeviceJob>,
        deadline: Instant,
        cancel: &CancellationToken,
        live: &Arc<LiveJob>,
    ) -> Ending {
        let todo: Vec<DeviceJob> = todo
            .into_iter()
            .filter(|d| d.device_id.is_some() && d.status == Some(DeviceJobStatus::Pending))
            .collect();
        let mut todo = todo.into_iter().peekable();
        while todo.peek().is_some() {
            let chunk: Vec<DeviceJob> = todo.by_ref().take(TWIN_CHUNK).collect();
            if cancel.is_cancelled() {
                return Ending::Cancelled;
            }
            if Instant::now() >= deadline {
                return Ending::Expired;
            }
            let now = self.now();
            let mut notifications = Vec::new();
            {
                let mut state = lock(&live.state);
                if state.closed {
                    return Ending::Cancelled;
                }
                let rows = self.store().transaction(|tx| {
                    // Anything buffered goes first (nothing is, for a twin job).
                    device_jobs::advance(tx, &state.buffer)?;
                    let mut rows = Vec::with_capacity(chunk.len());
                    for device in &chunk {
                        let id = device.device_id.clone().unwrap_or_default();
                        let result = load_twin_state_in(tx, &id).and_then(|mut twin| {
                            let note = twin
                                .patch(tags.as_ref(), desired.as_ref(), now)
                                .map_err(twin_error)?;
                            store::twins::put(tx, &id, &twin)?;
                            Ok(note)
                        });
                        let result = result.map(|note| {
                            if let Some(note) = note {
                                notifications.push((id, note));
                            }
                            None
                        });
                        let running = DeviceJob {
                            start_time_utc: Some(now),
                            ..device.clone()
                        };
                        rows.push(finished_row(running, result, now));
                    }
                    device_jobs::advance(tx, &rows)?;
                    Ok::<_, HubError>(rows)
                });
                match rows {
                    Ok(rows) => {
                        state.buffer.clear();
                        state.index.clear();
                        for row in &rows {
                            state.count(row, &DeviceJobStatus::Pending);
                        }
                    }
                    Err(error) => {
                        // Nothing of the chunk was written: its devices fail with the error
                        // (recorded through the buffer, which retries).
                        notifications.clear();
                        for device in chunk {
                            let running = DeviceJob {
                                start_time_utc: Some(now),
                                ..device
                            };
                            let done = finished_row(running, Err(error.clone()), now);
                            state.record(self.store(), done, &DeviceJobStatus::Pending);
                        }
                    }
                }
            }
            for (id, note) in notifications {
                self.notify_desired(&id, note);
            }
            tokio::task::yield_now().await;
        }
        Ending::Done
    }

    /// What one device does for the job: the method's answer, or `None` for a twin job.
    async fn process_device(
        &self,
        work: &Work,
        device_id: &str,
    ) -> Result<Option<CloudToDeviceMethodResult>, HubError> {
        match work {
            Work::Method(method) => self.invoke_method(device_id, method).await.map(Some),
            Work::Twin(patch) => {
                let patch = patch.as_ref().map_err(Clone::clone)?;
                self.patch_twin(device_id, patch, &IfMatch::Any)
                    .map(|_| None)
            }
            Work::Unsupported(error) => Err(error.clone()),
        }
    }

    /// Ends a job that has not ended yet with `status` (and `reason` as `failureReason` and
    /// `statusMessage`), with the device rows it has buffered.
    fn end_job(&self, id: &str, status: JobStatus, reason: Option<String>) -> Result<(), HubError> {
        let now = self.now();
        self.close_live(id, |tx| end_job_in(tx, id, status, reason, now))
    }
}

/// What a job does to each device, worked out once per dispatch.
enum Work {
    Method(CloudToDeviceMethod),
    /// The twin PATCH to apply, or why it cannot be built.
    Twin(Result<Value, HubError>),
    Unsupported(HubError),
}

impl Work {
    fn of(job: &JobResponse) -> Self {
        match job.job_type.as_ref() {
            Some(JobType::ScheduleDeviceMethod) => {
                Self::Method(job.cloud_to_device_method.clone().unwrap_or_default())
            }
            Some(JobType::ScheduleUpdateTwin) => {
                Self::Twin(twin_patch(&job.update_twin.clone().unwrap_or_default()))
            }
            other => Self::Unsupported(unsupported_type(other)),
        }
    }
}

/// A `running` device row once processed: `completed` with the outcome or `failed` with the
/// error.
fn finished_row(
    mut row: DeviceJob,
    result: Result<Option<CloudToDeviceMethodResult>, HubError>,
    now: HubTime,
) -> DeviceJob {
    match result {
        Ok(response) => {
            row.status = Some(DeviceJobStatus::Completed);
            row.outcome = Some(DeviceJobOutcome {
                device_method_response: response,
            });
        }
        Err(error) => {
            row.status = Some(DeviceJobStatus::Failed);
            row.error = Some(DeviceJobError {
                code: Some(
                    error
                        .code_name
                        .clone()
                        .unwrap_or_else(|| "ServerError".to_owned()),
                ),
                description: Some(error.message),
            });
        }
    }
    row.end_time_utc = Some(now);
    row.last_updated_date_time_utc = Some(now);
    row
}

/// Ends the job `id` with `status` (and `reason`) in `tx`, unless it has ended already.
fn end_job_in(
    tx: &rusqlite::Connection,
    id: &str,
    status: JobStatus,
    reason: Option<String>,
    now: HubTime,
) -> Result<(), HubError> {
    let Some(mut row) = store::jobs::get(tx, id)? else {
        return Ok(());
    };
    if row.status().is_finished() {
        return Ok(());
    }
    if let Some(reason) = reason {
        row.job.failure_reason = Some(reason.clone());
        row.job.status_message = Some(reason);
    }
    row.job.status = Some(status);
    row.job.end_time = Some(now);
    store::jobs::update(tx, &row)?;
    Ok(())
}

/// Marks every device of `job_id` not done as `status` (with `error`); returns how many.
fn close_devices(
    tx: &rusqlite::Connection,
    job_id: &str,
    status: DeviceJobStatus,
    error: Option<&DeviceJobError>,
    now: HubTime,
) -> Result<usize, HubError> {
    let rows = device_jobs::for_job(tx, job_id, true)?;
    let count = rows.len();
    for mut row in rows {
        row.status = Some(status.clone());
        row.error = error.cloned();
        row.end_time_utc = Some(now);
        row.last_updated_date_time_utc = Some(now);
        device_jobs::put(tx, &row)?;
    }
    Ok(count)
}

/// Validates a job request into the job as stored: `queued`, defaults filled in.
fn new_job(id: &str, request: JobRequest, now: HubTime) -> Result<JobResponse, HubError> {
    let missing = |what: &str| {
        HubError::new(
            ErrorCode::ArgumentNull,
            format!("{what} is required for this job type."),
        )
    };
    let (cloud_to_device_method, update_twin) = match request.job_type.as_ref() {
        None => {
            return Err(HubError::new(
                ErrorCode::ArgumentNull,
                "The job type is required: scheduleDeviceMethod or scheduleUpdateTwin.",
            ));
        }
        Some(JobType::ScheduleDeviceMethod) => {
            let method = request
                .cloud_to_device_method
                .ok_or_else(|| missing("cloudToDeviceMethod"))?;
            MethodCall::validate(&method)?;
            let method = CloudToDeviceMethod {
                response_timeout_in_seconds: Some(
                    method
                        .response_timeout_in_seconds
                        .unwrap_or(RESPONSE_TIMEOUT_DEFAULT),
                ),
                connect_timeout_in_seconds: Some(method.connect_timeout_in_seconds.unwrap_or(0)),
                ..method
            };
            (Some(method), None)
        }
        Some(JobType::ScheduleUpdateTwin) => {
            let twin = request.update_twin.ok_or_else(|| missing("updateTwin"))?;
            validate_twin_patch(&twin, now)?;
            (None, Some(twin))
        }
        other => return Err(unsupported_type(other)),
    };
    let query_condition = request
        .query_condition
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| missing("queryCondition"))?;
    let max_execution = request
        .max_execution_time_in_seconds
        .unwrap_or(DEFAULT_MAX_EXECUTION_TIME_SECS);
    if max_execution <= 0 {
        return Err(HubError::new(
            ErrorCode::ArgumentInvalid,
            format!("maxExecutionTimeInSeconds must be positive, not {max_execution}"),
        ));
    }
    let start_time = request.start_time.filter(|t| *t > now).unwrap_or(now);
    Ok(JobResponse {
        job_id: Some(id.to_owned()),
        query_condition: Some(query_condition),
        created_time: Some(now),
        start_time: Some(start_time),
        max_execution_time_in_seconds: Some(max_execution),
        job_type: request.job_type,
        cloud_to_device_method,
        update_twin,
        status: Some(JobStatus::Queued),
        ..JobResponse::default()
    })
}

/// A twin job's patch must be a forced update (etag absent or `*`) of tags and desired
/// properties that the twin rules accept. An empty `reported` is tolerated (the Node SDK
/// sends one).
fn validate_twin_patch(twin: &Twin, now: HubTime) -> Result<(), HubError> {
    if let Some(etag) = twin.etag.as_deref()
        && etag.trim().trim_matches('"') != "*"
    {
        return Err(HubError::new(
            ErrorCode::ArgumentInvalid,
            "updateTwin must have etag '*': twin jobs are forced updates.",
        ));
    }
    let reported = twin
        .properties
        .as_ref()
        .and_then(|p| p.reported.as_ref())
        .map(serde_json::to_value)
        .transpose()
        .map_err(internal)?;
    if let Some(Value::Object(reported)) = reported
        && reported
            .keys()
            .any(|key| key != "$version" && key != "$metadata")
    {
        return Err(HubError::new(
            ErrorCode::ArgumentInvalid,
            "reported properties can only be written by the device",
        ));
    }
    let patch = twin_patch(twin)?;
    let (tags, desired) = super::writable_parts(&patch)?;
    TwinState::new(now)
        .patch(tags.as_ref(), desired.as_ref(), now)
        .map_err(twin_error)?;
    Ok(())
}

/// The twin PATCH a twin job applies: its `tags` and `properties.desired`.
fn twin_patch(twin: &Twin) -> Result<Value, HubError> {
    let value = serde_json::to_value(twin).map_err(internal)?;
    let tags = value.get("tags").cloned().unwrap_or(Value::Null);
    let desired = value
        .pointer("/properties/desired")
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json!({"tags": tags, "properties": {"desired": desired}}))
}

/// Job ids: 1–64 ASCII letters, digits and `-`.
pub fn validate_job_id(id: &str) -> Result<(), HubError> {
    let valid = !id.is_empty()
        && id.len() <= MAX_JOB_ID_LEN
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(HubError::new(
            ErrorCode::ArgumentInvalid,
            "Job id is invalid: it must be 1-64 ASCII letters, digits or '-'.",
        ))
    }
}

fn unsupported_type(job_type: Option<&JobType>) -> HubError {
    let name = job_type.map_or("(none)", JobType::as_str);
    HubError::new(
        ErrorCode::GenericBadRequest,
        format!(
            "The job type '{name}' is not supported: use scheduleDeviceMethod or scheduleUpdateTwin."
        ),
    )
}

/// A filter value of the jobs query: a known value, or 400.
fn known<T: KnownWire + std::fmt::Display>(value: T, name: &str) -> Result<T, HubError> {
    if value.is_known() {
        Ok(value)
    } else {
        Err(HubError::new(
            ErrorCode::ArgumentInvalid,
            format!("'{value}' is not a valid {name}."),
        ))
    }
}

/// Whether a wire enum value is one of the named ones.
trait KnownWire {
    fn is_known(&self) -> bool;
}

impl KnownWire for JobType {
    fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl KnownWire for JobStatus {
    fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

fn job_not_found(id: &str) -> HubError {
    HubError::new(
        ErrorCode::JobNotFound,
        format!("The job with id '{id}' could not be found."),
    )
}

/// How long from `now` until `then` (zero if past), capped at [`MAX_WAIT`].
fn until(now: HubTime, then: HubTime) -> Duration {
    elapsed_since(now, then)
}

/// How long from `earlier` to `later` (zero if not later), capped at [`MAX_WAIT`].
fn elapsed_since(earlier: HubTime, later: HubTime) -> Duration {
    match (earlier.instant(), later.instant()) {
        (Some(earlier), Some(later)) if later > earlier => Duration::try_from(later - earlier)
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT),
        _ => Duration::ZERO,
    }
}
