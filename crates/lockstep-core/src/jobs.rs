//! The jobs of the active profile: the archive (`<app data dir>/jobs.sqlite3`, every profile's
//! jobs, kept across restarts), one [`JobWatcher`] on the active profile's hub (re-created on
//! a profile switch), and the desktop notifications decided from what the watcher reads.
//!
//! The watcher's updates and the answers of submit and cancel go out as
//! [`CoreEvent::JobUpdated`] in the order the hub produced them: submit and cancel hold the
//! same lock as the task forwarding the watcher's updates, so a poll that reads a newer state
//! cannot overtake the answer it follows.
//!
//! On an Azure hub, whose query quota is small, the watcher reads device rows within half of
//! the quota of the hub's tier ([`crate::profiles::Profile::queries_per_minute`]), and the
//! builder's previews are reused for [`PREVIEW_REUSE`] ([`ProfileJobs::previews`]); the local
//! hub has no quota.
//!
//! [`notification`] is the pure rule for notifications ("started", "completed", "failed" of
//! jobs this app created); the app only shows what [`CoreEvent::Notify`] carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use iothub::service::ServiceClient;
use std::time::Duration;

use lockstep_jobs::archive::Archive;
use lockstep_jobs::preview::PreviewCache;
use lockstep_jobs::summary::{JobProgress, JobSummary};
use lockstep_jobs::watch::{JobUpdate, JobWatcher, WatchError, WatchOptions};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::profiles::Profile;
use crate::view::ProfileKind;
use crate::{CoreError, CoreEvent, guard};

/// How long a preview of a condition is reused on an Azure hub.
pub const PREVIEW_REUSE: Duration = Duration::from_secs(15);
/// How many previews are kept for reuse.
const PREVIEWS_KEPT: usize = 32;

/// A desktop notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// One line, e.g. "Job completed".
    pub title: String,
    /// What and how it went, e.g. "lockDoor on 1,000 devices: 998 succeeded, 2 failed".
    pub body: String,
}

/// The notification, if any, for a job whose summary went from `previous` (`None`: not seen
/// since the app started) to `current`. Only jobs `created_by_me`; when a job starts
/// (`running`), completes or fails. A job first seen already running is not announced (it
/// started before), one first seen completed or failed is (it ended while nobody watched).
pub fn notification(
    previous: Option<&JobSummary>,
    current: &JobSummary,
    created_by_me: bool,
) -> Option<Notification> {
    if !created_by_me || previous.is_some_and(|p| p.status == current.status) {
        return None;
    }
    let title = match current.status.as_str() {
        "running" if previous.is_some() => "Job started",
        "completed" => "Job completed",
        "failed" => "Job failed",
        _ => return None,
    };
    let mut body = format!("{}: {}", what(current), statistics(current.progress));
    if current.status == "failed"
        && let Some(reason) = current.failure_reason.as_deref().filter(|r| !r.is_empty())
    {
        body.push_str(&format!(". {reason}"));
    }
    Some(Notification {
        title: title.to_owned(),
        body,
    })
}

/// "lockDoor on 1,000 devices", "Twin update on 1 device".
fn what(job: &JobSummary) -> String {
    let name = match job.method_name.as_deref() {
        Some(method) if !method.is_empty() => method.to_owned(),
        _ if job.job_type == "scheduleUpdateTwin" => "Twin update".to_owned(),
        _ => format!("Job {}", job.job_id),
    };
    match job.progress {
        Some(progress) => {
            let count = progress.device_count;
            let noun = if count == 1 { "device" } else { "devices" };
            format!("{name} on {} {noun}", group(count))
        }
        None => name,
    }
}

/// "998 succeeded, 2 failed", with running and pending only when there are some.
fn statistics(progress: Option<JobProgress>) -> String {
    let Some(p) = progress else {
        return "no statistics yet".to_owned();
    };
    let mut parts = vec![
        format!("{} succeeded", group(p.succeeded_count)),
        format!("{} failed", group(p.failed_count)),
    ];
    if p.running_count > 0 {
        parts.push(format!("{} running", group(p.running_count)));
    }
    if p.pending_count > 0 {
        parts.push(format!("{} pending", group(p.pending_count)));
    }
    parts.join(", ")
}

/// `1234567` as `1,234,567`.
fn group(n: i32) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The hub's failure of a watcher operation, as the UI sees it.
pub fn watch_error(error: WatchError) -> CoreError {
    match error.words() {
        Some(words) => CoreError::from(&words),
        None => match error {
            WatchError::Stopped => CoreError::internal(
                "the job watcher of this profile stopped (the profile was switched); try again",
            ),
            other => CoreError::internal(other.to_string()),
        },
    }
}

/// The last summary of each job, and where updates go. Held while an update is published,
/// so that updates leave in order.
#[derive(Debug)]
struct Publisher {
    events: broadcast::Sender<CoreEvent>,
    last: HashMap<String, JobSummary>,
}

impl Publisher {
    /// Sends `update` (and a notification it calls for).
    fn publish(&mut self, update: JobUpdate) {
        if let Some(summary) = &update.summary {
            let previous = self.last.insert(update.job_id.clone(), summary.clone());
            if let Some(note) = notification(previous.as_ref(), summary, summary.created_by_me) {
                let _ = self.events.send(CoreEvent::Notify(note));
            }
        }
        let _ = self.events.send(CoreEvent::JobUpdated(Box::new(update)));
    }
}

/// The jobs of one profile: its hub, its watcher and the forwarding of updates.
#[derive(Debug, Clone)]
pub struct ProfileJobs {
    /// The profile.
    pub profile_id: String,
    /// The hub's host name (as the profile has it), for rendering.
    pub host_name: String,
    /// The service client on the profile's hub.
    pub client: ServiceClient,
    /// The watcher.
    pub watcher: JobWatcher,
    /// Recent previews, reused on a hub with a query quota (Azure); `None` on the local hub.
    pub previews: Option<Arc<PreviewCache>>,
    publisher: Arc<tokio::sync::Mutex<Publisher>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl ProfileJobs {
    /// Runs `operation` (a submit or cancel) and publishes its answer before any poll that
    /// follows it.
    pub async fn publish_after<F>(&self, operation: F) -> Result<JobSummary, CoreError>
    where
        F: Future<Output = Result<JobSummary, WatchError>>,
    {
        let mut publisher = self.publisher.lock().await;
        let summary = operation.await.map_err(watch_error)?;
        publisher.publish(JobUpdate {
            profile_id: self.profile_id.clone(),
            job_id: summary.job_id.clone(),
            summary: Some(summary.clone()),
            device_rows_read: None,
            problem: None,
            watching: !summary.finished,
        });
        Ok(summary)
    }

    /// Imports the hub's jobs into the archive and watches the unfinished ones (those the
    /// archive knows first, so that a hub that cannot be reached still leaves them watched).
    /// Returns how many jobs the hub listed.
    pub async fn refresh(&self) -> Result<u32, CoreError> {
        self.watcher.watch_unfinished().await.map_err(watch_error)?;
        let count = self.watcher.import_existing().await.map_err(watch_error)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    fn lock_tasks(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops the polls and the forwarding, waiting for them.
    async fn shutdown(&self) {
        self.watcher.shutdown().await;
        let tasks: Vec<JoinHandle<()>> = self.lock_tasks().drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

/// The archive and the active profile's jobs.
#[derive(Debug)]
pub struct JobsController {
    events: broadcast::Sender<CoreEvent>,
    options: WatchOptions,
    archive: Mutex<Option<Archive>>,
    active: Mutex<Option<ProfileJobs>>,
    visible: Mutex<bool>,
}

impl JobsController {
    /// No archive and no profile yet; events go to `events`.
    pub fn new(events: broadcast::Sender<CoreEvent>, options: WatchOptions) -> Self {
        Self {
            events,
            options,
            archive: Mutex::new(None),
            active: Mutex::new(None),
            visible: Mutex::new(true),
        }
    }

    /// Opens the archive in `dir` (created if missing; once, later calls keep the open one).
    pub async fn open_archive(&self, dir: std::path::PathBuf) -> Result<Archive, CoreError> {
        if let Some(archive) = guard(&self.archive).clone() {
            return Ok(archive);
        }
        let archive = tokio::task::spawn_blocking(move || {
            Archive::open_in_dir(&dir).map_err(|error| {
                CoreError::internal(format!(
                    "cannot open the job archive in {}: {error}",
                    dir.display()
                ))
            })
        })
        .await
        .map_err(|error| {
            CoreError::internal(format!("opening the job archive failed: {error}"))
        })??;
        *guard(&self.archive) = Some(archive.clone());
        Ok(archive)
    }

    /// The archive, once open.
    pub fn archive(&self) -> Result<Archive, CoreError> {
        guard(&self.archive)
            .clone()
            .ok_or_else(|| CoreError::internal("the job archive is not open yet"))
    }

    /// The jobs of the active profile, if they are set up for `profile_id`.
    pub fn active(&self, profile_id: &str) -> Option<ProfileJobs> {
        guard(&self.active)
            .clone()
            .filter(|jobs| jobs.profile_id == profile_id)
    }

    /// Watches the jobs of `profile` on the hub of `client` instead of the previous
    /// profile's (whose polls stop), and imports the hub's jobs in the background.
    pub async fn activate(
        &self,
        profile: &Profile,
        client: ServiceClient,
    ) -> Result<ProfileJobs, CoreError> {
        self.deactivate().await;
        let archive = self.archive()?;
        let (profile_id, host_name) = (profile.id.as_str(), profile.host_name.as_str());
        let quota = profile.kind == ProfileKind::Azure;
        let options = WatchOptions {
            queries_per_minute: profile
                .queries_per_minute()
                .or(self.options.queries_per_minute),
            ..self.options.clone()
        };
        let (watcher, updates) = JobWatcher::new(client.clone(), archive, profile_id, options);
        if !*guard(&self.visible) {
            watcher.pause();
        }
        let publisher = Arc::new(tokio::sync::Mutex::new(Publisher {
            events: self.events.clone(),
            last: HashMap::new(),
        }));
        let jobs = ProfileJobs {
            profile_id: profile_id.to_owned(),
            host_name: host_name.to_owned(),
            client,
            watcher,
            previews: quota.then(|| Arc::new(PreviewCache::new(PREVIEW_REUSE, PREVIEWS_KEPT))),
            publisher: publisher.clone(),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        let forward = tokio::spawn(forward(updates, publisher));
        let importing = {
            let jobs = jobs.clone();
            tokio::spawn(async move {
                if let Err(error) = jobs.refresh().await {
                    tracing::warn!(profile = %jobs.profile_id, %error, "importing the hub's jobs failed");
                }
            })
        };
        jobs.lock_tasks().extend([forward, importing]);
        *guard(&self.active) = Some(jobs.clone());
        Ok(jobs)
    }

    /// Stops watching the active profile's jobs.
    pub async fn deactivate(&self) {
        let previous = guard(&self.active).take();
        if let Some(previous) = previous {
            previous.shutdown().await;
        }
    }

    /// Pauses (hidden window) or resumes the polls, also of watchers made later.
    pub fn set_visible(&self, visible: bool) {
        *guard(&self.visible) = visible;
        if let Some(jobs) = guard(&self.active).as_ref() {
            if visible {
                jobs.watcher.resume();
            } else {
                jobs.watcher.pause();
            }
        }
    }
}

/// Publishes the watcher's updates until the watcher stops.
async fn forward(
    mut updates: mpsc::Receiver<JobUpdate>,
    publisher: Arc<tokio::sync::Mutex<Publisher>>,
) {
    while let Some(update) = updates.recv().await {
        publisher.lock().await.publish(update);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(status: &str, progress: Option<(i32, i32, i32, i32, i32)>) -> JobSummary {
        JobSummary {
            profile_id: "local".into(),
            job_id: "job-1".into(),
            job_type: "scheduleDeviceMethod".into(),
            kind: None,
            status: status.into(),
            finished: matches!(status, "completed" | "failed" | "cancelled"),
            query_condition: Some("tags.building = 43".into()),
            method_name: Some("lockDoor".into()),
            created_time: None,
            start_time: None,
            end_time: None,
            max_execution_time_in_seconds: Some(3600.0),
            progress: progress.map(
                |(device_count, succeeded_count, failed_count, running_count, pending_count)| {
                    JobProgress {
                        device_count,
                        succeeded_count,
                        failed_count,
                        running_count,
                        pending_count,
                    }
                },
            ),
            failure_reason: None,
            status_message: None,
            created_by_me: true,
            first_seen: "2026-01-01T00:00:00.0000000Z".into(),
            last_seen: "2026-01-01T00:00:00.0000000Z".into(),
        }
    }

    #[test]
    fn completion_is_announced_with_its_statistics() {
        let before = summary("running", Some((1000, 500, 1, 499, 0)));
        let after = summary("completed", Some((1000, 998, 2, 0, 0)));
        assert_eq!(
            notification(Some(&before), &after, true),
            Some(Notification {
                title: "Job completed".into(),
                body: "lockDoor on 1,000 devices: 998 succeeded, 2 failed".into()
            })
        );
        // Finished while nobody watched: still announced.
        assert!(notification(None, &after, true).is_some());
    }

    #[test]
    fn the_start_is_announced_once_and_only_when_seen_happening() {
        let queued = summary("queued", None);
        let running = summary("running", Some((1, 0, 0, 1, 0)));
        assert_eq!(
            notification(Some(&queued), &running, true),
            Some(Notification {
                title: "Job started".into(),
                body: "lockDoor on 1 device: 0 succeeded, 0 failed, 1 running".into()
            })
        );
        assert_eq!(notification(Some(&running), &running, true), None);
        assert_eq!(notification(None, &running, true), None);
    }

    #[test]
    fn failures_say_why_and_other_jobs_and_states_are_quiet() {
        let mut failed = summary("failed", Some((2, 0, 2, 0, 0)));
        failed.failure_reason = Some("The job ran out of time".into());
        let running = summary("running", None);
        let note = notification(Some(&running), &failed, true).expect("a notification");
        assert_eq!(note.title, "Job failed");
        assert_eq!(
            note.body,
            "lockDoor on 2 devices: 0 succeeded, 2 failed. The job ran out of time"
        );
        // Not created here: nothing.
        assert_eq!(notification(Some(&running), &failed, false), None);
        // Scheduled, queued and cancelled are not announced.
        for status in ["scheduled", "queued", "cancelled"] {
            assert_eq!(
                notification(Some(&running), &summary(status, None), true),
                None
            );
        }
        let mut twin = summary("completed", Some((3, 3, 0, 0, 0)));
        twin.job_type = "scheduleUpdateTwin".into();
        twin.method_name = None;
        assert_eq!(
            notification(None, &twin, true).map(|n| n.body),
            Some("Twin update on 3 devices: 3 succeeded, 0 failed".into())
        );
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(-1000), "-1,000");
    }
}
