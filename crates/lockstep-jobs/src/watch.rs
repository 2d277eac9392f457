//! The job watcher: one task per job that is not finished, polling the hub with backoff,
//! writing what it reads to the [`Archive`] and sending a [`JobUpdate`] on a channel when
//! something changed.
//!
//! Per job: read it (`GET /jobs/v2/{id}`); when its status or statistics changed, read its
//! device rows (`SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '<id>'`, every page)
//! at most once per [`WatchOptions::device_rows_every`] (or four times as long as the last
//! read took, for jobs of many devices), and always once more when it finishes; stop at
//! `completed`, `failed` or `cancelled`, or when the hub no longer knows the job. Row reads
//! cost one query per 100 devices, and an Azure hub allows few queries (S1: 20 a minute per
//! unit), so with [`WatchOptions::queries_per_minute`] set they are paced by one token
//! bucket shared by all jobs of the watcher. The delay between polls starts at [`WatchOptions::first_delay`] (~1 s), doubles
//! while nothing changes up to [`WatchOptions::max_delay`] (~10 s), and starts over after a
//! change. [`JobWatcher::pause`] (window hidden) holds every poll until
//! [`JobWatcher::resume`], which polls at once.
//!
//! Tasks are tracked: [`JobWatcher::shutdown`] cancels them and returns when all have
//! finished. Archive writes run on the blocking pool, since a 100,000-row job is a large
//! transaction.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iothub::model::{DeviceJob, JobResponse};
use iothub::service::{PageRequest, ServiceClient, ServiceError};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use ts_rs::TS;

use crate::archive::{Archive, ArchiveError, StatusCount};
use crate::draft::ValidJob;
use crate::errors::{ErrorWords, Operation, describe};
use crate::summary::JobSummary;

/// How the watcher polls.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The delay after a change (default 1 s).
    pub first_delay: Duration,
    /// The longest delay between polls (default 10 s).
    pub max_delay: Duration,
    /// The shortest time between two reads of a running job's device rows (default 5 s);
    /// each read is one query per page, and queries are the hub's scarcest quota.
    pub device_rows_every: Duration,
    /// Device rows per query page (default 100, the most a hub returns).
    pub page_size: u32,
    /// How many device-row queries this watcher may send a minute, all jobs together
    /// (`None`: no limit, for the local hub). A hub's query quota is small (S1 and S2: 20 a
    /// minute per unit, shared with every other client of the hub) and a job's rows take one
    /// query per 100 devices, so on Azure the rows of a large job are read at this pace
    /// instead of spending the hub's quota and meeting 429s. The first
    /// [`QUERY_BURST`] queries go at once.
    pub queries_per_minute: Option<u32>,
    /// How many updates may wait in the channel (default 256).
    pub channel_capacity: usize,
}

/// How many queries may go at once before [`WatchOptions::queries_per_minute`] paces them.
pub const QUERY_BURST: u32 = 5;

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            device_rows_every: Duration::from_secs(5),
            page_size: 100,
            queries_per_minute: None,
            channel_capacity: 256,
        }
    }
}

/// What the watcher tells the UI about one job.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct JobUpdate {
    /// The profile.
    pub profile_id: String,
    /// The job.
    pub job_id: String,
    /// The job as just read; `None` when the read failed.
    pub summary: Option<JobSummary>,
    /// How many device rows were read and archived with this update, if they were.
    pub device_rows_read: Option<u32>,
    /// Why the read failed, in words; the watcher tries again unless `watching` is false.
    pub problem: Option<ErrorWords>,
    /// Whether the watcher keeps polling this job (false once it finished or is gone).
    pub watching: bool,
}

/// Why a watcher operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The hub failed; [`WatchError::words`] says it in words.
    #[error("{source}")]
    Hub {
        /// What was being done.
        operation: Operation,
        /// The failure.
        source: ServiceError,
    },
    /// The archive failed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The watcher has been shut down.
    #[error("the job watcher has been shut down")]
    Stopped,
}

impl WatchError {
    /// The hub's failure in words, if this is one.
    pub fn words(&self) -> Option<ErrorWords> {
        match self {
            Self::Hub { operation, source } => Some(describe(source, *operation)),
            Self::Archive(_) | Self::Stopped => None,
        }
    }
}

/// Watches the jobs of one profile. Cheap to clone; clones share the tasks.
#[derive(Clone, Debug)]
pub struct JobWatcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: ServiceClient,
    archive: Archive,
    profile_id: String,
    options: WatchOptions,
    updates: mpsc::Sender<JobUpdate>,
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    watching: Mutex<HashSet<String>>,
    queries: Option<QueryPacer>,
}

impl JobWatcher {
    /// A watcher of the jobs of `profile_id` on the hub of `client`, archiving into
    /// `archive`; updates arrive on the returned receiver.
    pub fn new(
        client: ServiceClient,
        archive: Archive,
        profile_id: impl Into<String>,
        options: WatchOptions,
    ) -> (Self, mpsc::Receiver<JobUpdate>) {
        let (updates, receiver) = mpsc::channel(options.channel_capacity.max(1));
        let (paused, _) = watch::channel(false);
        let queries = options
            .queries_per_minute
            .map(|per_minute| QueryPacer::new(per_minute, QUERY_BURST));
        let watcher = Self {
            inner: Arc::new(Inner {
                client,
                archive,
                profile_id: profile_id.into(),
                options,
                updates,
                paused,
                cancel: CancellationToken::new(),
                tracker: TaskTracker::new(),
                watching: Mutex::new(HashSet::new()),
                queries,
            }),
        };
        (watcher, receiver)
    }

    /// The profile whose jobs this watcher watches.
    pub fn profile_id(&self) -> &str {
        &self.inner.profile_id
    }

    /// Creates `job` on the hub, archives it (request as sent, created by me) and watches it.
    pub async fn schedule(&self, job: &ValidJob) -> Result<JobSummary, WatchError> {
        self.ensure_running()?;
        let answer = self
            .inner
            .client
            .schedule_job(&job.job_id, &job.request)
            .await
            .map_err(|source| WatchError::Hub {
                operation: Operation::CreateJob,
                source,
            })?;
        let archive = self.inner.archive.clone();
        let profile_id = self.inner.profile_id.clone();
        let request = job.request.clone();
        let summary = blocking(move || {
            archive.record_created(&profile_id, &request, &answer, OffsetDateTime::now_utc())
        })
        .await?;
        self.watch(&job.job_id);
        Ok(summary)
    }

    /// Cancels `job_id` on the hub, archives the answer and watches the job until the hub
    /// reports it ended.
    pub async fn cancel(&self, job_id: &str) -> Result<JobSummary, WatchError> {
        self.ensure_running()?;
        let answer = self
            .inner
            .client
            .cancel_job(job_id)
            .await
            .map_err(|source| WatchError::Hub {
                operation: Operation::CancelJob,
                source,
            })?;
        let summary = self.record(answer).await?;
        self.watch(job_id);
        Ok(summary)
    }

    /// Imports the jobs the hub has (`jobs/v2/query`, every page) into the archive and
    /// watches those not finished. Returns how many jobs the hub listed.
    pub async fn import_existing(&self) -> Result<usize, WatchError> {
        self.ensure_running()?;
        let jobs = self
            .inner
            .client
            .query_all_jobs(None, None, Some(self.inner.options.page_size))
            .await
            .map_err(|source| WatchError::Hub {
                operation: Operation::ListJobs,
                source,
            })?;
        let count = jobs.len();
        for job in jobs {
            let Some(job_id) = job.job_id.clone() else {
                continue;
            };
            let summary = self.record(job).await?;
            if !summary.finished {
                self.watch(&job_id);
            }
        }
        Ok(count)
    }

    /// Watches again the jobs the archive does not know to be finished (after a restart).
    /// Returns how many.
    pub async fn watch_unfinished(&self) -> Result<usize, WatchError> {
        let archive = self.inner.archive.clone();
        let profile_id = self.inner.profile_id.clone();
        let ids = blocking(move || archive.unfinished_job_ids(&profile_id)).await?;
        Ok(ids.iter().filter(|id| self.watch(id)).count())
    }

    /// Reads the device rows of an archived job from the hub when the archive has fewer than
    /// the job's device count: a job imported after it had finished, or one whose last read
    /// failed. `job` and `counts` are what the caller read from the archive (its job and
    /// device counts per status). The job is watched, which reads its rows and stops once it
    /// is finished. True if a read started; false if the rows are all in or the job is
    /// watched already.
    pub fn fill_device_rows(&self, job: &JobSummary, counts: &[StatusCount]) -> bool {
        let expected = job.progress.map_or(0, |p| p.device_count.max(0));
        let archived: i64 = counts.iter().map(|c| i64::from(c.count)).sum();
        archived < i64::from(expected) && self.watch(&job.job_id)
    }

    /// Starts watching `job_id`; false if it is watched already or the watcher is shut down.
    pub fn watch(&self, job_id: &str) -> bool {
        if self.inner.cancel.is_cancelled() {
            return false;
        }
        {
            let mut watching = self.lock_watching();
            if !watching.insert(job_id.to_owned()) {
                return false;
            }
        }
        let inner = self.inner.clone();
        let job_id = job_id.to_owned();
        self.inner.tracker.spawn(async move {
            poll_job(&inner, &job_id).await;
            inner.forget(&job_id);
        });
        true
    }

    /// The jobs being watched now, sorted.
    pub fn watching(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock_watching().iter().cloned().collect();
        ids.sort();
        ids
    }

    /// Holds every poll until [`JobWatcher::resume`] (e.g. while the window is hidden).
    pub fn pause(&self) {
        self.inner.paused.send_replace(true);
    }

    /// Lets polls run again; jobs held by [`JobWatcher::pause`] are polled at once.
    pub fn resume(&self) {
        self.inner.paused.send_replace(false);
    }

    /// Whether polls are held.
    pub fn is_paused(&self) -> bool {
        *self.inner.paused.borrow()
    }

    /// Stops every poll and returns once all tasks have finished.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }

    fn ensure_running(&self) -> Result<(), WatchError> {
        if self.inner.cancel.is_cancelled() {
            Err(WatchError::Stopped)
        } else {
            Ok(())
        }
    }

    async fn record(&self, job: JobResponse) -> Result<JobSummary, WatchError> {
        let archive = self.inner.archive.clone();
        let profile_id = self.inner.profile_id.clone();
        Ok(
            blocking(move || archive.record_seen(&profile_id, &job, OffsetDateTime::now_utc()))
                .await?,
        )
    }

    fn lock_watching(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner
            .watching
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// Drops `job_id` from the watched set.
    fn forget(&self, job_id: &str) {
        self.watching
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(job_id);
    }

    /// Sends `update`; false if nobody listens any more. The job leaves the watched set
    /// before its last update goes out, so that a receiver of it sees it unwatched.
    async fn send(&self, update: JobUpdate) -> bool {
        if !update.watching {
            self.forget(&update.job_id);
        }
        self.updates.send(update).await.is_ok()
    }
}

/// The delay between polls: from `first`, doubling while nothing changes, at most `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff whose first delay is `first` and longest `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
            next: first,
        }
    }

    /// The delay before the next poll, given whether the last poll saw a change.
    pub fn delay(&mut self, changed: bool) -> Duration {
        if changed {
            self.next = self.first;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// Waits `delay`, then until polls are not paused. False if cancelled meanwhile.
async fn pace(
    delay: Duration,
    paused: &mut watch::Receiver<bool>,
    cancel: &CancellationToken,
) -> bool {
    tokio::select! {
        () = cancel.cancelled() => return false,
        () = tokio::time::sleep(delay) => {}
    }
    tokio::select! {
        () = cancel.cancelled() => false,
        result = paused.wait_for(|paused| !paused) => result.is_ok(),
    }
}

/// Polls one job until it finishes, is gone, or the watcher shuts down.
async fn poll_job(inner: &Inner, job_id: &str) {
    let options = &inner.options;
    let mut backoff = Backoff::new(options.first_delay, options.max_delay);
    let mut paused = inner.paused.subscribe();
    let mut last: Option<JobResponse> = None;
    let mut rows_read_at: Option<Instant> = None;
    // A job with many devices takes many pages to read: it is read less often.
    let mut rows_every = options.device_rows_every;
    let mut rows_stale = true;
    let mut delay = Duration::ZERO;
    loop {
        if !pace(delay, &mut paused, &inner.cancel).await {
            return;
        }
        let update = match inner.client.get_job(job_id).await {
            Ok(job) => {
                let changed = last.as_ref() != Some(&job);
                rows_stale |= changed;
                let finished = job.status.as_ref().is_some_and(|s| s.is_finished());
                let rows_due = rows_read_at.is_none_or(|at| at.elapsed() >= rows_every);
                let read_rows = rows_stale && (finished || rows_due);
                let mut update = JobUpdate {
                    profile_id: inner.profile_id.clone(),
                    job_id: job_id.to_owned(),
                    summary: None,
                    device_rows_read: None,
                    problem: None,
                    watching: !finished,
                };
                match record_job(inner, job.clone()).await {
                    Ok(summary) => update.summary = Some(summary),
                    Err(error) => tracing::warn!(job_id, %error, "archiving a job failed"),
                }
                if read_rows {
                    let started = Instant::now();
                    match read_device_rows(inner, job_id).await {
                        Ok(count) => {
                            update.device_rows_read = Some(count);
                            rows_read_at = Some(Instant::now());
                            rows_every = options.device_rows_every.max(started.elapsed() * 4);
                            rows_stale = false;
                        }
                        Err(problem) => update.problem = Some(problem),
                    }
                }
                if finished && rows_stale {
                    // The last read of the rows failed: try again before stopping.
                    update.watching = true;
                }
                let stop = finished && !rows_stale;
                let send = changed || update.device_rows_read.is_some() || update.problem.is_some();
                last = Some(job);
                delay = backoff.delay(changed);
                if stop {
                    inner.send(update).await;
                    return;
                }
                if send && !inner.send(update).await {
                    return;
                }
                continue;
            }
            Err(error) => {
                let gone = error.is_not_found();
                delay = backoff.delay(false);
                JobUpdate {
                    profile_id: inner.profile_id.clone(),
                    job_id: job_id.to_owned(),
                    summary: None,
                    device_rows_read: None,
                    problem: Some(describe(&error, Operation::ReadJob)),
                    watching: !gone,
                }
            }
        };
        let stop = !update.watching;
        if !inner.send(update).await || stop {
            return;
        }
    }
}

async fn record_job(inner: &Inner, job: JobResponse) -> Result<JobSummary, ArchiveError> {
    let archive = inner.archive.clone();
    let profile_id = inner.profile_id.clone();
    blocking(move || archive.record_seen(&profile_id, &job, OffsetDateTime::now_utc())).await
}

/// Reads every device row of `job_id` and archives it, a page at a time.
async fn read_device_rows(inner: &Inner, job_id: &str) -> Result<u32, ErrorWords> {
    let query = device_rows_query(job_id);
    let mut page = PageRequest::first(Some(inner.options.page_size));
    let mut count: u32 = 0;
    loop {
        if let Some(pacer) = &inner.queries {
            tokio::select! {
                () = inner.cancel.cancelled() => return Err(stopped_words()),
                () = pacer.take() => {}
            }
        }
        let result = inner
            .client
            .query_devices::<DeviceJob>(&query, &page)
            .await
            .map_err(|error| describe(&error, Operation::ReadJob))?;
        let next = result.next_page(Some(inner.options.page_size));
        let rows = result.items;
        let archive = inner.archive.clone();
        let profile_id = inner.profile_id.clone();
        let job = job_id.to_owned();
        let stored = blocking(move || archive.replace_device_results(&profile_id, &job, &rows))
            .await
            .map_err(|error| ErrorWords {
                kind: crate::errors::ErrorWordsKind::Other,
                code: None,
                message: format!("Lockstep could not store the job's device results: {error}."),
                action: "Check the free disk space of the app data folder.".to_owned(),
            })?;
        count = count.saturating_add(u32::try_from(stored).unwrap_or(u32::MAX));
        match next {
            Some(next) => page = next,
            None => return Ok(count),
        }
    }
}

fn stopped_words() -> ErrorWords {
    ErrorWords {
        kind: crate::errors::ErrorWordsKind::Other,
        code: None,
        message: "The job watcher stopped while reading the job's device results.".to_owned(),
        action: "Open the job again to read them.".to_owned(),
    }
}

/// A token bucket for queries: `burst` at once, then one every `60 s / per_minute`. Time is
/// tokio's, so tests can pause it.
#[derive(Debug)]
struct QueryPacer {
    every: Duration,
    burst: u32,
    state: tokio::sync::Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    /// The start of the period that adds the next token.
    refilled: Instant,
}

impl QueryPacer {
    fn new(per_minute: u32, burst: u32) -> Self {
        let burst = burst.max(1);
        Self {
            every: Duration::from_secs(60) / per_minute.max(1),
            burst,
            state: tokio::sync::Mutex::new(Bucket {
                tokens: burst,
                refilled: Instant::now(),
            }),
        }
    }

    /// Waits for a token and takes it. Callers queue in order (tokio's mutex is fair).
    async fn take(&self) {
        let mut bucket = self.state.lock().await;
        loop {
            let now = Instant::now();
            let periods = (now - bucket.refilled).as_nanos() / self.every.as_nanos().max(1);
            let periods = u32::try_from(periods).unwrap_or(u32::MAX);
            if periods > 0 {
                bucket.tokens = bucket.tokens.saturating_add(periods).min(self.burst);
                bucket.refilled += self.every * periods.min(self.burst);
            }
            if bucket.tokens == self.burst {
                // A full bucket gathers no more: the next token is a whole period away.
                bucket.refilled = now;
            }
            if bucket.tokens > 0 {
                bucket.tokens -= 1;
                return;
            }
            tokio::time::sleep_until(bucket.refilled + self.every).await;
        }
    }
}

/// The documented query for a job's device rows.
pub fn device_rows_query(job_id: &str) -> String {
    let quoted = job_id.replace('\\', "\\\\").replace('\'', "\\'");
    format!("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '{quoted}'")
}

/// Runs archive work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, ArchiveError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join_error| {
            Err(ArchiveError::Io(std::io::Error::other(
                join_error.to_string(),
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_starts_over_after_a_change() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let delays: Vec<u64> = [true, false, false, false, false, false, true, false]
            .into_iter()
            .map(|changed| backoff.delay(changed).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_waits_the_delay_and_holds_while_paused() {
        let (paused, mut receiver) = watch::channel(false);
        let cancel = CancellationToken::new();
        let started = Instant::now();
        assert!(pace(Duration::from_secs(4), &mut receiver, &cancel).await);
        assert_eq!(started.elapsed(), Duration::from_secs(4));

        paused.send_replace(true);
        let resumer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            paused.send_replace(false);
            paused
        });
        let started = Instant::now();
        assert!(pace(Duration::from_secs(1), &mut receiver, &cancel).await);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(60),
            "held until resumed"
        );
        let paused = resumer.await.expect("joins");

        paused.send_replace(true);
        let canceller = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                cancel.cancel();
            })
        };
        assert!(
            !pace(Duration::from_secs(1), &mut receiver, &cancel).await,
            "cancelled while paused"
        );
        canceller.await.expect("joins");
    }

    #[tokio::test(start_paused = true)]
    async fn the_query_pacer_lets_a_burst_through_then_one_a_period() {
        // 10 a minute: one every 6 s after a burst of 3.
        let pacer = QueryPacer::new(10, 3);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..6 {
            pacer.take().await;
            at.push((Instant::now() - start).as_secs());
        }
        assert_eq!(at, [0, 0, 0, 6, 12, 18]);

        // Idle for long: the bucket fills up to the burst, no further.
        tokio::time::sleep(Duration::from_secs(600)).await;
        let rested = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            pacer.take().await;
            at.push((Instant::now() - rested).as_secs());
        }
        assert_eq!(at, [0, 0, 0, 6]);
    }

    #[test]
    fn the_device_rows_query_quotes_the_id() {
        assert_eq!(
            device_rows_query("job-1"),
            "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'job-1'"
        );
        let odd = device_rows_query("a'b");
        assert_eq!(
            odd,
            r"SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'a\'b'"
        );
        iothub_query::parse_query(&odd).expect("parses");
    }
}
