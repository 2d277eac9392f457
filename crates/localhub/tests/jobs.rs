//! Scheduled jobs (`/jobs/v2`): the scheduler on a bare hub with paused time, durability
//! across restarts, and the REST API through our `ServiceClient` against a whole hub.
//!
//! Contents:
//! - scheduler (Hub, paused time, a clock that follows tokio time):
//!   - a method job over 3 connected devices completes with per-device outcomes, and
//!     `devices.jobs` queries return its rows (filters on jobId, deviceId, status, jobType);
//!   - an offline device fails with DeviceNotOnline while the others succeed; a non-2xx
//!     answer still counts as completed;
//!   - a twin job changes online and offline twins and notifies the subscribed one;
//!   - a job starting in 60 s stays `scheduled` until then, then runs;
//!   - cancelling a scheduled job: `cancelled`, no device called; cancel again is 200;
//!   - cancelling a running job: devices not done `canceled`; cancelling a completed job is
//!     412003;
//!   - `maxExecutionTimeInSeconds`: a device that never answers fails with JobExpired and the
//!     job ends `failed`;
//!   - an invalid queryCondition fails the job with a statusMessage;
//!   - the device set is fixed when the job starts; validation errors (400, 409104, 404002).
//! - durability (file store): a running job resumes after the scheduler is killed and the hub
//!   re-created, a scheduled job still starts at its time; finished jobs go after 30 days.
//! - REST (port 0, real time): schedule/get/cancel/`devices.jobs` through `ServiceClient`;
//!   409104, 404002, 400 for bad type / missing method / bad JSON / mismatched body id;
//!   the jobs query filters by type and status ignoring case and pages; the object form;
//!   permissions (registryRead reads, cannot create; registryReadWrite creates).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use iothub::auth::ServiceConnectionString;
use iothub::model::{
    DeviceIdentity, DeviceJob, DeviceJobStatistics, DeviceJobStatus, ErrorCode, HubError, HubTime,
    JobRequest, JobResponse, JobStatus, JobType, QueryItemType,
};
use iothub::service::{PageRequest, ServiceClient, ServiceClientOptions, ServiceError};
use localhub::hub::jobs::JobsQueryForm;
use localhub::hub::{Hub, IfMatch, ToDevice};
use localhub::store::Store;
use serde_json::{Value, json};
use support::{Scheduler, TestDir, TestHub, start_hub, unix_now};
use time::OffsetDateTime;
use tokio::time::Instant;

// ---- helpers: a hub whose clock follows tokio time ----------------------------------------

/// Wall-clock time that advances with tokio's (paused) clock.
#[derive(Debug, Clone, Copy)]
struct TestClock {
    base: OffsetDateTime,
    origin: Instant,
}

impl TestClock {
    fn new() -> Self {
        Self {
            base: OffsetDateTime::now_utc(),
            origin: Instant::now(),
        }
    }

    fn now(self) -> OffsetDateTime {
        self.base + self.origin.elapsed()
    }

    fn in_secs(self, seconds: u64) -> HubTime {
        HubTime::at(self.now() + Duration::from_secs(seconds)).expect("a hub time")
    }
}

fn hub_on(store: Store, clock: TestClock) -> Hub {
    Hub::with_clock(store, "localhost:8443", Box::new(move || clock.now())).expect("hub")
}

fn hub(clock: TestClock) -> Hub {
    hub_on(Store::open_in_memory().expect("store"), clock)
}

fn add(hub: &Hub, id: &str) {
    hub.put_device(id, DeviceIdentity::default(), &IfMatch::Absent)
        .expect("create device");
}

/// Connects `id`, subscribes to methods and answers every call with `status`; returns the
/// number of calls so far.
fn answering(hub: &Hub, id: &str, status: i32) -> Arc<AtomicUsize> {
    let mut connection = hub.connect_device(id, 16);
    hub.subscribe(id, |s| s.methods = true).expect("subscribe");
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let device = hub.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        while let Some(message) = connection.inbox.recv().await {
            if let ToDevice::MethodRequest { name, rid, payload } = message {
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = json!({"method": name, "device": id, "got": payload});
                device.method_response(&id, &rid, status, answer);
            }
        }
    });
    calls
}

/// A method job request (`lockDoor`, response timeout 5 s) over `condition`.
fn method_job(condition: &str) -> JobRequest {
    serde_json::from_value(json!({
        "type": "scheduleDeviceMethod",
        "cloudToDeviceMethod": {"methodName": "lockDoor", "payload": {"lockTime": "10m"},
                                "responseTimeoutInSeconds": 5},
        "queryCondition": condition,
        "maxExecutionTimeInSeconds": 60,
    }))
    .expect("a job request")
}

/// A twin job request over `condition`.
fn twin_job(condition: &str) -> JobRequest {
    serde_json::from_value(json!({
        "type": "scheduleUpdateTwin",
        "updateTwin": {"etag": "*", "tags": {"building": "43"},
                       "properties": {"desired": {"floor": 3}, "reported": {}}},
        "queryCondition": condition,
    }))
    .expect("a job request")
}

/// Polls (advancing paused time 100 ms at a time) until the job satisfies `done`.
async fn wait_for(hub: &Hub, id: &str, done: impl Fn(&JobResponse) -> bool) -> JobResponse {
    for _ in 0..20_000 {
        let job = hub.get_job(id).expect("the job");
        if done(&job) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} never got there: {:?}", hub.get_job(id));
}

async fn finished(hub: &Hub, id: &str) -> JobResponse {
    wait_for(hub, id, |job| {
        job.status.as_ref().is_some_and(JobStatus::is_finished)
    })
    .await
}

fn stats(job: &JobResponse) -> DeviceJobStatistics {
    job.device_job_statistics.expect("statistics")
}

fn statistics(device: i32, succeeded: i32, failed: i32) -> DeviceJobStatistics {
    DeviceJobStatistics {
        device_count: device,
        succeeded_count: succeeded,
        failed_count: failed,
        running_count: 0,
        pending_count: 0,
    }
}

fn code(error: &HubError) -> Option<u32> {
    error.known_code().map(ErrorCode::number)
}

fn row<'a>(rows: &'a [DeviceJob], device: &str) -> &'a DeviceJob {
    rows.iter()
        .find(|r| r.device_id.as_deref() == Some(device))
        .unwrap_or_else(|| panic!("no row for {device} in {rows:?}"))
}

// ---- scheduler ----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_method_job_over_three_connected_devices_completes() {
    let clock = TestClock::new();
    let hub = hub(clock);
    for id in ["d1", "d2", "d3", "other"] {
        add(&hub, id);
    }
    let calls: Vec<_> = ["d1", "d2", "d3"]
        .iter()
        .map(|id| answering(&hub, id, 200))
        .collect();
    let scheduler = Scheduler::start(&hub);

    let created = hub
        .schedule_job("job1", method_job("deviceId IN ['d1', 'd2', 'd3']"))
        .expect("scheduled");
    assert_eq!(created.status, Some(JobStatus::Queued));
    assert_eq!(created.job_type, Some(JobType::ScheduleDeviceMethod));
    assert!(created.created_time.is_some());

    let job = finished(&hub, "job1").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(stats(&job), statistics(3, 3, 0));
    assert!(job.end_time.is_some() && job.start_time.is_some());
    assert!(job.end_time >= job.start_time);
    // Defaults are filled in and echoed.
    let method = job.cloud_to_device_method.expect("method");
    assert_eq!(method.connect_timeout_in_seconds, Some(0));
    assert_eq!(method.response_timeout_in_seconds, Some(5));
    for calls in &calls {
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    let rows = hub.device_jobs("job1").expect("rows");
    assert_eq!(rows.len(), 3, "'other' is not targeted");
    for device in ["d1", "d2", "d3"] {
        let row = row(&rows, device);
        assert_eq!(row.status, Some(DeviceJobStatus::Completed));
        assert_eq!(row.job_type, Some(JobType::ScheduleDeviceMethod));
        let response = row
            .outcome
            .as_ref()
            .and_then(|o| o.device_method_response.as_ref())
            .expect("the device's answer");
        assert_eq!(response.status, Some(200));
        assert_eq!(
            response.payload,
            json!({"method": "lockDoor", "device": device, "got": {"lockTime": "10m"}})
        );
        assert!(row.start_time_utc.is_some() && row.end_time_utc.is_some());
        assert!(row.error.is_none());
    }

    // `devices.jobs` rows through the query language.
    let page = hub
        .query_devices(
            "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'job1'",
            None,
            100,
        )
        .expect("query");
    assert_eq!(page.item_type, "DeviceJob");
    assert_eq!(page.items.len(), 3);
    let rows: Vec<DeviceJob> = page
        .items
        .into_iter()
        .map(|item| serde_json::from_value(item).expect("a device job"))
        .collect();
    assert_eq!(row(&rows, "d2").status, Some(DeviceJobStatus::Completed));
    for (query, expected) in [
        (
            "SELECT * FROM devices.jobs WHERE devices.jobs.deviceId = 'd2'",
            1,
        ),
        (
            "SELECT * FROM devices.jobs WHERE status = 'completed' AND jobType = 'scheduleDeviceMethod'",
            3,
        ),
        // Values are case-sensitive.
        ("SELECT * FROM devices.jobs WHERE status = 'Completed'", 0),
        ("SELECT * FROM devices.jobs WHERE jobId = 'nope'", 0),
    ] {
        let page = hub.query_devices(query, None, 100).expect(query);
        assert_eq!(page.items.len(), expected, "{query}");
    }
    // Twin queries never see job rows.
    let twins = hub
        .query_devices("SELECT * FROM devices", None, 100)
        .expect("twins");
    assert_eq!(twins.items.len(), 4);
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_offline_device_fails_with_device_not_online() {
    let hub = hub(TestClock::new());
    for id in ["d1", "d2", "d3"] {
        add(&hub, id);
    }
    answering(&hub, "d1", 200);
    // A device may answer with any status: the call was delivered and answered.
    answering(&hub, "d2", 500);
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("job-offline", method_job("*"))
        .expect("scheduled");

    let job = finished(&hub, "job-offline").await;
    assert_eq!(
        job.status,
        Some(JobStatus::Completed),
        "device failures do not fail the job"
    );
    assert_eq!(stats(&job), statistics(3, 2, 1));
    let rows = hub.device_jobs("job-offline").expect("rows");
    let offline = row(&rows, "d3");
    assert_eq!(offline.status, Some(DeviceJobStatus::Failed));
    let error = offline.error.as_ref().expect("an error");
    assert_eq!(error.code.as_deref(), Some("DeviceNotOnline"));
    assert!(
        error
            .description
            .as_deref()
            .is_some_and(|d| d.contains("connect")),
        "{error:?}"
    );
    let answered_500 = row(&rows, "d2");
    assert_eq!(answered_500.status, Some(DeviceJobStatus::Completed));
    assert_eq!(
        answered_500
            .outcome
            .as_ref()
            .and_then(|o| o.device_method_response.as_ref())
            .and_then(|r| r.status),
        Some(500)
    );
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_twin_job_changes_online_and_offline_twins() {
    let hub = hub(TestClock::new());
    add(&hub, "online");
    add(&hub, "offline");
    let mut connection = hub.connect_device("online", 8);
    hub.subscribe("online", |s| s.desired = true)
        .expect("subscribe");
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("twin-job", twin_job("deviceId IN ['online', 'offline']"))
        .expect("scheduled");

    let job = finished(&hub, "twin-job").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(stats(&job), statistics(2, 2, 0));
    for id in ["online", "offline"] {
        let twin = hub.get_twin(id).expect("twin");
        assert_eq!(twin["tags"], json!({"building": "43"}), "{id}");
        assert_eq!(twin["properties"]["desired"]["floor"], 3, "{id}");
        assert_eq!(twin["properties"]["desired"]["$version"], 2, "{id}");
    }
    assert_eq!(
        connection.inbox.try_recv().expect("a desired patch"),
        ToDevice::DesiredPatch(json!({"floor": 3, "$version": 2}))
    );
    let rows = hub.device_jobs("twin-job").expect("rows");
    for row in &rows {
        assert_eq!(row.status, Some(DeviceJobStatus::Completed));
        assert_eq!(
            serde_json::to_value(row.outcome.as_ref().expect("outcome")).expect("json"),
            json!({"deviceMethodResponse": null})
        );
    }
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_starting_later_stays_scheduled_until_its_time() {
    let clock = TestClock::new();
    let hub = hub(clock);
    add(&hub, "d1");
    let calls = answering(&hub, "d1", 200);
    let scheduler = Scheduler::start(&hub);
    let start = clock.in_secs(60);
    let request = JobRequest {
        start_time: Some(start),
        ..method_job("deviceId = 'd1'")
    };
    let created = hub.schedule_job("later", request).expect("scheduled");
    assert_eq!(
        created.status,
        Some(JobStatus::Queued),
        "the PUT answers queued"
    );
    assert_eq!(created.start_time, Some(start));

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        hub.get_job("later").expect("job").status,
        Some(JobStatus::Scheduled)
    );
    tokio::time::sleep(Duration::from_secs(57)).await;
    let job = hub.get_job("later").expect("job");
    assert_eq!(job.status, Some(JobStatus::Scheduled));
    assert_eq!(stats(&job), DeviceJobStatistics::default());
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let job = finished(&hub, "later").await;
    assert_eq!(job.status, Some(JobStatus::Completed));
    assert!(job.end_time.is_some_and(|end| end >= start));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_scheduled_job_calls_no_device() {
    let clock = TestClock::new();
    let hub = hub(clock);
    add(&hub, "d1");
    let calls = answering(&hub, "d1", 200);
    let scheduler = Scheduler::start(&hub);
    let request = JobRequest {
        start_time: Some(clock.in_secs(60)),
        ..method_job("*")
    };
    hub.schedule_job("to-cancel", request).expect("scheduled");
    wait_for(&hub, "to-cancel", |j| {
        j.status == Some(JobStatus::Scheduled)
    })
    .await;

    let cancelled = hub.cancel_job("to-cancel").expect("cancelled");
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));
    assert!(cancelled.end_time.is_some());
    tokio::time::sleep(Duration::from_secs(120)).await;
    let job = hub.get_job("to-cancel").expect("job");
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(hub.device_jobs("to-cancel").expect("rows").is_empty());
    // Cancelling again answers the job again.
    assert_eq!(
        hub.cancel_job("to-cancel").expect("again").status,
        Some(JobStatus::Cancelled)
    );
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_running_job_cancels_the_devices_not_done() {
    let hub = hub(TestClock::new());
    add(&hub, "silent");
    add(&hub, "t-waiting");
    // Connected and subscribed, never answers.
    let _silent = hub.connect_device("silent", 8);
    hub.subscribe("silent", |s| s.methods = true)
        .expect("subscribe");
    // One device at a time, by device id: the second waits behind the silent one.
    hub.set_job_dispatch_limit(1);
    let scheduler = Scheduler::start(&hub);
    let mut request = method_job("*");
    if let Some(method) = request.cloud_to_device_method.as_mut() {
        method.response_timeout_in_seconds = Some(300);
    }
    request.max_execution_time_in_seconds = Some(3600);
    hub.schedule_job("running", request).expect("scheduled");
    let job = wait_for(&hub, "running", |j| {
        j.device_job_statistics
            .is_some_and(|s| s.running_count == 1)
    })
    .await;
    assert_eq!(job.status, Some(JobStatus::Running));
    assert_eq!(job.device_job_statistics.map(|s| s.pending_count), Some(1));

    let cancelled = hub.cancel_job("running").expect("cancel");
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));
    tokio::time::sleep(Duration::from_secs(600)).await;
    let job = hub.get_job("running").expect("job");
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert_eq!(stats(&job), statistics(2, 0, 0));
    for row in hub.device_jobs("running").expect("rows") {
        assert_eq!(row.status, Some(DeviceJobStatus::Canceled), "{row:?}");
    }

    // A finished job cannot be cancelled.
    hub.schedule_job("done", method_job("deviceId = 'nobody'"))
        .expect("scheduled");
    let done = finished(&hub, "done").await;
    assert_eq!(done.status, Some(JobStatus::Completed));
    assert_eq!(stats(&done), statistics(0, 0, 0));
    let error = hub.cancel_job("done").expect_err("finished");
    assert_eq!(code(&error), Some(412003));
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn max_execution_time_fails_the_devices_not_done() {
    let hub = hub(TestClock::new());
    add(&hub, "quick");
    add(&hub, "silent");
    answering(&hub, "quick", 200);
    let _silent = hub.connect_device("silent", 8);
    hub.subscribe("silent", |s| s.methods = true)
        .expect("subscribe");
    let scheduler = Scheduler::start(&hub);
    let mut request = method_job("*");
    if let Some(method) = request.cloud_to_device_method.as_mut() {
        method.response_timeout_in_seconds = Some(300);
    }
    request.max_execution_time_in_seconds = Some(10);
    let started = Instant::now();
    hub.schedule_job("expiring", request).expect("scheduled");

    let job = finished(&hub, "expiring").await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(11),
        "{took:?}"
    );
    assert_eq!(job.status, Some(JobStatus::Failed), "{job:?}");
    assert!(
        job.failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("maxExecutionTimeInSeconds")),
        "{job:?}"
    );
    assert_eq!(stats(&job), statistics(2, 1, 1));
    let rows = hub.device_jobs("expiring").expect("rows");
    assert_eq!(row(&rows, "quick").status, Some(DeviceJobStatus::Completed));
    let silent = row(&rows, "silent");
    assert_eq!(silent.status, Some(DeviceJobStatus::Failed));
    let error = silent.error.as_ref().expect("why");
    assert_eq!(error.code.as_deref(), Some("JobExpired"));
    assert!(error.description.is_some());
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_invalid_query_condition_fails_the_job() {
    let hub = hub(TestClock::new());
    add(&hub, "d1");
    let scheduler = Scheduler::start(&hub);
    // Accepted at creation, as on Azure: the condition is checked when the job runs.
    for (id, condition) in [
        ("bad-syntax", "deviceId = "),
        ("full-query", "SELECT * FROM devices"),
    ] {
        let created = hub
            .schedule_job(id, method_job(condition))
            .expect("created");
        assert_eq!(created.status, Some(JobStatus::Queued));
        let job = finished(&hub, id).await;
        assert_eq!(job.status, Some(JobStatus::Failed), "{job:?}");
        let message = job.status_message.clone().expect("statusMessage");
        assert!(message.contains("queryCondition"), "{message}");
        assert_eq!(job.failure_reason.as_deref(), Some(message.as_str()));
        assert_eq!(stats(&job), statistics(0, 0, 0));
    }
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_device_set_is_fixed_when_the_job_starts() {
    let clock = TestClock::new();
    let hub = hub(clock);
    add(&hub, "early");
    let scheduler = Scheduler::start(&hub);
    let request = JobRequest {
        start_time: Some(clock.in_secs(30)),
        ..twin_job("*")
    };
    hub.schedule_job("fixed", request).expect("scheduled");
    // Added before the start: included. Added after: not.
    tokio::time::sleep(Duration::from_secs(10)).await;
    add(&hub, "before-start");
    let job = finished(&hub, "fixed").await;
    add(&hub, "after-start");
    assert_eq!(stats(&job), statistics(2, 2, 0));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(hub.device_jobs("fixed").expect("rows").len(), 2);
    assert_eq!(
        hub.get_twin("after-start").expect("twin")["tags"],
        json!({})
    );
    scheduler.stop().await;
}

#[tokio::test]
async fn creation_is_validated() {
    let hub = hub(TestClock::new());
    hub.schedule_job("job-1", method_job("*")).expect("created");
    let error = hub
        .schedule_job("job-1", twin_job("*"))
        .expect_err("duplicate");
    assert_eq!(code(&error), Some(409104));
    assert_eq!(
        code(&hub.get_job("nope").expect_err("unknown")),
        Some(404002)
    );
    assert_eq!(
        code(&hub.cancel_job("nope").expect_err("unknown")),
        Some(404002)
    );

    let bad = |id: &str, request: JobRequest| {
        let error = hub.schedule_job(id, request).expect_err(id);
        assert_eq!(error.http_status, 400, "{id}: {error:?}");
        code(&error)
    };
    for old in ["scheduleDirectRequest", "scheduleTwinUpdate", "export"] {
        let request = JobRequest {
            job_type: Some(JobType::from_wire(old)),
            ..method_job("*")
        };
        assert_eq!(bad("old-type", request), Some(400000), "{old}");
    }
    let no_type = JobRequest {
        job_type: None,
        ..method_job("*")
    };
    assert_eq!(bad("no-type", no_type), Some(400005));
    let no_method = JobRequest {
        cloud_to_device_method: None,
        ..method_job("*")
    };
    assert_eq!(bad("no-method", no_method), Some(400005));
    let no_twin = JobRequest {
        update_twin: None,
        ..twin_job("*")
    };
    assert_eq!(bad("no-twin", no_twin), Some(400005));
    let no_condition = JobRequest {
        query_condition: Some(" ".into()),
        ..method_job("*")
    };
    assert_eq!(bad("no-condition", no_condition), Some(400005));
    let mut slow = method_job("*");
    if let Some(method) = slow.cloud_to_device_method.as_mut() {
        method.response_timeout_in_seconds = Some(301);
    }
    assert_eq!(bad("bad-timeout", slow), Some(400004));
    let mut etag = twin_job("*");
    if let Some(twin) = etag.update_twin.as_mut() {
        twin.etag = Some("AAAAAAAAAAE=".into());
    }
    assert_eq!(bad("bad-etag", etag), Some(400004));
    let other_id = JobRequest {
        job_id: Some("other".into()),
        ..method_job("*")
    };
    assert_eq!(bad("mismatch", other_id), Some(400004));
    for id in ["", "has_underscore", "a b", &"x".repeat(65)] {
        assert_eq!(bad(id, method_job("*")), Some(400004), "{id:?}");
    }
    hub.schedule_job(&"x".repeat(64), method_job("*"))
        .expect("64 characters are fine");
}

// ---- durability -----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_running_job_resumes_after_a_restart_and_scheduled_jobs_keep_their_time() {
    let dir = TestDir::new("jobs-restart");
    let path = dir.path().join("hub.db");
    let clock = TestClock::new();

    let first = hub_on(Store::open(&path).expect("store"), clock);
    add(&first, "d1");
    let silent = first.connect_device("d1", 8);
    first
        .subscribe("d1", |s| s.methods = true)
        .expect("subscribe");
    let scheduler = Scheduler::start(&first);
    let mut request = method_job("deviceId = 'd1'");
    if let Some(method) = request.cloud_to_device_method.as_mut() {
        method.response_timeout_in_seconds = Some(300);
    }
    request.max_execution_time_in_seconds = Some(3600);
    first
        .schedule_job("interrupted", request)
        .expect("scheduled");
    let later_start = clock.in_secs(600);
    let later = JobRequest {
        start_time: Some(later_start),
        ..twin_job("deviceId = 'd1'")
    };
    first.schedule_job("later", later).expect("scheduled");
    wait_for(&first, "interrupted", |j| {
        j.device_job_statistics
            .is_some_and(|s| s.running_count == 1)
    })
    .await;
    wait_for(&first, "later", |j| j.status == Some(JobStatus::Scheduled)).await;

    // The hub dies mid-call.
    scheduler.kill().await;
    drop(silent);
    drop(first);

    let second = hub_on(Store::open(&path).expect("reopen"), clock);
    assert_eq!(
        second.get_job("interrupted").expect("kept").status,
        Some(JobStatus::Running)
    );
    let calls = answering(&second, "d1", 200);
    let scheduler = Scheduler::start(&second);
    let job = finished(&second, "interrupted").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(stats(&job), statistics(1, 1, 0));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "called again after the restart"
    );

    assert_eq!(
        second.get_job("later").expect("kept").status,
        Some(JobStatus::Scheduled)
    );
    let job = finished(&second, "later").await;
    assert_eq!(job.status, Some(JobStatus::Completed));
    assert!(job.end_time.is_some_and(|end| end >= later_start));
    assert_eq!(
        second.get_twin("d1").expect("twin")["tags"],
        json!({"building": "43"})
    );
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn finished_jobs_are_kept_thirty_days() {
    let hub = hub(TestClock::new());
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("old", twin_job("*")).expect("scheduled");
    finished(&hub, "old").await;
    tokio::time::advance(Duration::from_secs(29 * 24 * 3600)).await;
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    assert!(hub.get_job("old").is_ok(), "kept for 29 days");
    tokio::time::advance(Duration::from_secs(2 * 24 * 3600)).await;
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    assert_eq!(code(&hub.get_job("old").expect_err("purged")), Some(404002));
    scheduler.stop().await;
}

// ---- the write-behind buffer of device rows ---------------------------------------------------

/// The statistics the rows themselves give.
fn statistics_of(rows: &[DeviceJob]) -> DeviceJobStatistics {
    let mut stats = DeviceJobStatistics::default();
    for row in rows {
        stats.device_count += 1;
        match row.status.as_ref().expect("a status") {
            DeviceJobStatus::Pending | DeviceJobStatus::Scheduled => stats.pending_count += 1,
            DeviceJobStatus::Running => stats.running_count += 1,
            DeviceJobStatus::Completed => stats.succeeded_count += 1,
            DeviceJobStatus::Failed => stats.failed_count += 1,
            DeviceJobStatus::Canceled | DeviceJobStatus::Other(_) => {}
        }
    }
    stats
}

/// Connects `ids` (subscribed to methods) without answering: the test answers by hand.
fn manual_devices(hub: &Hub, ids: &[&str]) -> Vec<localhub::hub::DeviceConnection> {
    ids.iter()
        .map(|id| {
            let connection = hub.connect_device(id, 8);
            hub.subscribe(id, |s| s.methods = true).expect("subscribe");
            connection
        })
        .collect()
}

/// Waits for the method call each device gets; returns their rids, in order.
async fn method_rids(devices: &mut [localhub::hub::DeviceConnection]) -> Vec<String> {
    let mut rids = Vec::new();
    for device in devices {
        match device.inbox.recv().await.expect("a call") {
            ToDevice::MethodRequest { rid, .. } => rids.push(rid),
            other => panic!("not a method call: {other:?}"),
        }
    }
    rids
}

/// Lets the tasks woken so far run, without letting (paused) time advance.
async fn let_tasks_run() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// A method job that waits long for answers.
fn patient_method_job() -> JobRequest {
    let mut request = method_job("*");
    if let Some(method) = request.cloud_to_device_method.as_mut() {
        method.response_timeout_in_seconds = Some(300);
    }
    request.max_execution_time_in_seconds = Some(3600);
    request
}

/// The stored row of `device`, read through a connection of its own (what is committed,
/// whatever the hub holds in memory).
fn committed_status(path: &std::path::Path, job: &str, device: &str) -> Option<DeviceJobStatus> {
    let observer = Store::open(path).expect("a second connection");
    observer
        .read(|conn| localhub::store::device_jobs::get(conn, job, device))
        .expect("read")
        .and_then(|row| row.status)
}

#[tokio::test(start_paused = true)]
async fn a_kill_with_buffered_outcomes_keeps_every_result_the_api_showed() {
    let dir = TestDir::new("jobs-kill-buffered");
    let path = dir.path().join("hub.db");
    let clock = TestClock::new();
    let ids = ["d1", "d2", "d3", "d4"];

    let first = hub_on(Store::open(&path).expect("store"), clock);
    for id in ids {
        add(&first, id);
    }
    let mut devices = manual_devices(&first, &ids);
    let scheduler = Scheduler::start(&first);
    first
        .schedule_job("killed", patient_method_job())
        .expect("scheduled");
    let rids = method_rids(&mut devices).await;
    assert_eq!(
        first
            .get_job("killed")
            .expect("job")
            .device_job_statistics
            .map(|s| s.running_count),
        Some(4)
    );

    // d1 and d2 answer; their outcomes are buffered (time does not move, so no flush is due)…
    for (id, rid) in ids.iter().zip(&rids).take(2) {
        first.method_response(id, rid, 200, json!({"run": "first"}));
    }
    let_tasks_run().await;
    assert_eq!(
        committed_status(&path, "killed", "d1"),
        Some(DeviceJobStatus::Running),
        "the outcome is only buffered"
    );
    // …until the API reports them completed: what it shows is committed first.
    let shown = first.get_job("killed").expect("job");
    assert_eq!(
        committed_status(&path, "killed", "d1"),
        Some(DeviceJobStatus::Completed)
    );
    assert_eq!(
        stats(&shown),
        DeviceJobStatistics {
            device_count: 4,
            succeeded_count: 2,
            running_count: 2,
            ..DeviceJobStatistics::default()
        }
    );
    let shown_rows = first.device_jobs("killed").expect("rows");
    assert_eq!(
        row(&shown_rows, "d1").status,
        Some(DeviceJobStatus::Completed)
    );
    assert_eq!(
        row(&shown_rows, "d2").status,
        Some(DeviceJobStatus::Completed)
    );

    // d3 answers; its outcome is buffered (time does not move, so no flush is due) and
    // nothing has read the job since: it is not committed.
    first.method_response("d3", &rids[2], 200, json!({"run": "first"}));
    let_tasks_run().await;
    assert_eq!(
        committed_status(&path, "killed", "d3"),
        Some(DeviceJobStatus::Running),
        "the outcome is only buffered"
    );

    // The hub dies: the buffer is gone with it.
    scheduler.kill().await;
    drop(devices);
    drop(first);

    let second = hub_on(Store::open(&path).expect("reopen"), clock);
    // Every result the API showed is there, as it was shown.
    let rows = second.device_jobs("killed").expect("rows");
    for id in ["d1", "d2"] {
        let row = row(&rows, id);
        assert_eq!(row.status, Some(DeviceJobStatus::Completed), "{id}");
        assert_eq!(
            row.outcome
                .as_ref()
                .and_then(|o| o.device_method_response.as_ref())
                .map(|r| r.payload.clone()),
            Some(json!({"run": "first"})),
            "{id}"
        );
    }
    // What was never acknowledged is simply not done, and is done again on resume.
    for id in ["d3", "d4"] {
        assert_eq!(
            row(&rows, id).status,
            Some(DeviceJobStatus::Running),
            "{id}"
        );
    }
    assert_eq!(
        stats(&second.get_job("killed").expect("job")),
        statistics_of(&rows)
    );

    let calls: Vec<_> = ids.iter().map(|id| answering(&second, id, 200)).collect();
    let scheduler = Scheduler::start(&second);
    let job = finished(&second, "killed").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(stats(&job), statistics(4, 4, 0));
    let rows = second.device_jobs("killed").expect("rows");
    assert_eq!(statistics_of(&rows), stats(&job));
    let calls: Vec<usize> = calls.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(
        calls,
        [0, 0, 1, 1],
        "only the devices not acknowledged are called again"
    );
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_cancel_commits_the_buffered_outcomes_first_and_ignores_late_ones() {
    let dir = TestDir::new("jobs-cancel-buffered");
    let path = dir.path().join("hub.db");
    let hub = hub_on(Store::open(&path).expect("store"), TestClock::new());
    let ids = ["d1", "d2", "d3", "d4"];
    for id in ids {
        add(&hub, id);
    }
    let mut devices = manual_devices(&hub, &ids);
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("racing", patient_method_job())
        .expect("scheduled");
    let rids = method_rids(&mut devices).await;
    wait_for(&hub, "racing", |j| {
        j.device_job_statistics
            .is_some_and(|s| s.running_count == 4)
    })
    .await;

    // d1 and d2 answer; their outcomes wait in the buffer when the cancel comes.
    for (id, rid) in ids.iter().zip(&rids).take(2) {
        hub.method_response(id, rid, 200, json!({"answered": id}));
    }
    let_tasks_run().await;
    assert_eq!(
        committed_status(&path, "racing", "d1"),
        Some(DeviceJobStatus::Running),
        "the outcome is only buffered"
    );
    let cancelled = hub.cancel_job("racing").expect("cancel");
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));
    assert_eq!(stats(&cancelled), statistics(4, 2, 0));

    // d3 answers after the cancel: too late, nothing changes.
    hub.method_response("d3", &rids[2], 200, json!({"answered": "d3"}));
    let_tasks_run().await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let job = hub.get_job("racing").expect("job");
    let rows = hub.device_jobs("racing").expect("rows");
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert_eq!(stats(&job), stats(&cancelled));
    assert_eq!(statistics_of(&rows), stats(&job));
    for (id, status) in [
        ("d1", DeviceJobStatus::Completed),
        ("d2", DeviceJobStatus::Completed),
        ("d3", DeviceJobStatus::Canceled),
        ("d4", DeviceJobStatus::Canceled),
    ] {
        assert_eq!(row(&rows, id).status, Some(status), "{id}");
    }
    scheduler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_answers_on_other_threads_keeps_statistics_and_rows_consistent() {
    let hub = hub(TestClock::new());
    let count = 400;
    let ids: Vec<String> = (0..count).map(|i| format!("quick-{i:03}")).collect();
    let calls: Vec<_> = ids
        .iter()
        .map(|id| {
            add(&hub, id);
            answering(&hub, id, 200)
        })
        .collect();
    // One device never answers, so the job cannot finish before the cancel.
    add(&hub, "silent");
    let _silent = manual_devices(&hub, &["silent"]);
    hub.set_job_dispatch_limit(8);
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("racing", patient_method_job())
        .expect("scheduled");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job = hub.get_job("racing").expect("job");
        if job
            .device_job_statistics
            .is_some_and(|s| s.succeeded_count >= 50)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "too slow: {job:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Answers keep arriving on the runtime's threads while the cancel commits.
    let cancelled = hub.cancel_job("racing").expect("cancel");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let job = hub.get_job("racing").expect("job");
    let rows = hub.device_jobs("racing").expect("rows");
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert_eq!(
        stats(&job),
        stats(&cancelled),
        "nothing recorded after the cancel"
    );
    assert_eq!(statistics_of(&rows), stats(&job));
    let stats = stats(&job);
    assert_eq!(stats.device_count, count + 1);
    assert_eq!(
        stats.running_count + stats.pending_count + stats.failed_count,
        0
    );
    let canceled = rows
        .iter()
        .filter(|r| r.status == Some(DeviceJobStatus::Canceled))
        .count();
    assert_eq!(
        usize::try_from(stats.succeeded_count).expect("count") + canceled,
        rows.len(),
        "every device is either done or canceled, once"
    );
    assert!(canceled >= 1, "the silent device at least");
    for (id, calls) in ids.iter().zip(&calls) {
        assert!(calls.load(Ordering::SeqCst) <= 1, "{id} called twice");
        if row(&rows, id).status == Some(DeviceJobStatus::Completed) {
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{id}");
        }
    }
    scheduler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_job_cancelled_mid_way_changed_exactly_the_twins_its_rows_say() {
    let hub = hub(TestClock::new());
    let count = 1500;
    for i in 0..count {
        add(&hub, &format!("twin-{i:04}"));
    }
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("twins", twin_job("*")).expect("scheduled");
    // Cancel as soon as some twins are done: from another thread than the one applying the
    // chunks, so it may well arrive in the middle of one.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let cancelled = loop {
        let job = hub.get_job("twins").expect("job");
        if job
            .device_job_statistics
            .is_some_and(|s| s.succeeded_count > 0)
        {
            break hub.cancel_job("twins").expect("cancelled before the end");
        }
        assert!(std::time::Instant::now() < deadline, "too slow: {job:?}");
        tokio::task::yield_now().await;
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let job = hub.get_job("twins").expect("job");
    let rows = hub.device_jobs("twins").expect("rows");
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert_eq!(
        stats(&job),
        stats(&cancelled),
        "nothing recorded after the cancel"
    );
    assert_eq!(statistics_of(&rows), stats(&job));
    let stats = stats(&job);
    assert_eq!(stats.device_count, count);
    assert!(
        stats.succeeded_count > 0 && stats.succeeded_count < count,
        "cancelled mid-way: {stats:?}"
    );
    assert_eq!(rows.len(), usize::try_from(count).expect("count"));
    // A twin is changed (once: desired $version 2) exactly when its row is completed.
    for row in &rows {
        let id = row.device_id.as_deref().expect("device id");
        let twin = hub.get_twin(id).expect("twin");
        match row.status.as_ref().expect("status") {
            DeviceJobStatus::Completed => {
                assert_eq!(twin["tags"], json!({"building": "43"}), "{id}");
                assert_eq!(twin["properties"]["desired"]["$version"], 2, "{id}");
            }
            DeviceJobStatus::Canceled => {
                assert_eq!(twin["tags"], json!({}), "{id}");
                assert_eq!(twin["properties"]["desired"]["$version"], 1, "{id}");
            }
            other => panic!("{id} is {other:?}"),
        }
    }
    scheduler.stop().await;
}

// ---- REST ------------------------------------------------------------------------------------

fn client_for(hub: &TestHub, connection: ServiceConnectionString) -> ServiceClient {
    let options = ServiceClientOptions {
        extra_ca_pem: Some(hub.ca_pem().as_bytes().to_vec()),
        ..ServiceClientOptions::default()
    };
    ServiceClient::new(connection, options).expect("client")
}

fn owner(hub: &TestHub) -> ServiceClient {
    client_for(hub, hub.service_connection_string().clone())
}

fn policy_client(hub: &TestHub, policy: &str) -> ServiceClient {
    let policy = hub.hub().policy(policy).expect("read").expect("policy");
    let connection = format!(
        "HostName={};SharedAccessKeyName={};SharedAccessKey={}",
        hub.hub().host_name(),
        policy.name,
        policy.primary_key.expose_base64()
    )
    .parse()
    .expect("connection string");
    client_for(hub, connection)
}

fn hub_code(error: &ServiceError) -> Option<u32> {
    error.hub_error().and_then(|e| e.code)
}

/// Polls the job over REST (real time) until it has finished.
async fn rest_finished(client: &ServiceClient, id: &str) -> JobResponse {
    for _ in 0..200 {
        let job = client.get_job(id).await.expect("get");
        if job.status.as_ref().is_some_and(JobStatus::is_finished) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

/// A raw request with the owner's token.
async fn raw(
    hub: &TestHub,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let token = hub
        .service_connection_string()
        .sas_token(unix_now() + 3600)
        .expose_secret_string();
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject as _;
    for certificate in rustls_pki_types::CertificateDer::pem_slice_iter(hub.ca_pem().as_bytes()) {
        roots.add(certificate.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("reqwest");
    let url = format!("https://localhost:{}{path}", hub.https_port());
    let mut request = client.request(method, url).header("authorization", token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("the hub answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn rest_schedule_get_cancel_and_device_job_rows() {
    let hub = start_hub().await;
    let core = hub.hub().clone();
    add(&core, "door-1");
    answering(&core, "door-1", 200);
    let client = owner(&hub);

    let created = client
        .schedule_job("rest-job", &method_job("deviceId = 'door-1'"))
        .await
        .expect("created");
    assert_eq!(created.job_id.as_deref(), Some("rest-job"));
    assert_eq!(created.status, Some(JobStatus::Queued));
    let job = rest_finished(&client, "rest-job").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(stats(&job), statistics(1, 1, 0));

    let page = client
        .query_devices::<DeviceJob>(
            "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'rest-job'",
            &PageRequest::first(None),
        )
        .await
        .expect("query");
    assert_eq!(page.item_type, Some(QueryItemType::DeviceJob));
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].status, Some(DeviceJobStatus::Completed));
    assert_eq!(page.items[0].device_id.as_deref(), Some("door-1"));

    // Errors in the hub's shape.
    let duplicate = client
        .schedule_job("rest-job", &method_job("*"))
        .await
        .expect_err("exists");
    assert_eq!(hub_code(&duplicate), Some(409104));
    assert!(duplicate.is_conflict());
    let unknown = client.get_job("nope").await.expect_err("unknown");
    assert_eq!(hub_code(&unknown), Some(404002));
    assert!(unknown.is_not_found());
    let finished = client.cancel_job("rest-job").await.expect_err("finished");
    assert_eq!(hub_code(&finished), Some(412003));

    // Cancel a job that waits an hour.
    let later = JobRequest {
        start_time: HubTime::at(OffsetDateTime::now_utc() + Duration::from_secs(3600)).ok(),
        ..method_job("*")
    };
    client
        .schedule_job("rest-later", &later)
        .await
        .expect("created");
    let cancelled = client.cancel_job("rest-later").await.expect("cancelled");
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));
    assert_eq!(
        client.get_job("rest-later").await.expect("get").status,
        Some(JobStatus::Cancelled)
    );
}

#[tokio::test]
async fn rest_refuses_bad_requests() {
    let hub = start_hub().await;
    let client = owner(&hub);
    let old = JobRequest {
        job_type: Some(JobType::from_wire("scheduleDirectRequest")),
        ..method_job("*")
    };
    let error = client.schedule_job("old", &old).await.expect_err("old");
    assert_eq!(hub_code(&error), Some(400000));
    let no_method = JobRequest {
        cloud_to_device_method: None,
        ..method_job("*")
    };
    let error = client
        .schedule_job("no-method", &no_method)
        .await
        .expect_err("missing");
    assert_eq!(hub_code(&error), Some(400005));

    let (status, headers, _) = raw(
        &hub,
        reqwest::Method::PUT,
        "/jobs/v2/bad-json?api-version=2021-04-12",
        Some("{\"type\": "),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        headers
            .get("iothub-errorcode")
            .and_then(|v| v.to_str().ok()),
        Some("IotHubFormatError")
    );
    let (status, _, _) = raw(
        &hub,
        reqwest::Method::PUT,
        "/jobs/v2/path-id?api-version=2021-04-12",
        Some(r#"{"jobId":"body-id","type":"scheduleUpdateTwin","updateTwin":{"etag":"*"},"queryCondition":"*"}"#),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = raw(
        &hub,
        reqwest::Method::PUT,
        "/jobs/v2/under_score?api-version=2021-04-12",
        Some(r#"{"type":"scheduleUpdateTwin","updateTwin":{"etag":"*"},"queryCondition":"*"}"#),
    )
    .await;
    assert_eq!(status, 400);
    // Nothing was created.
    let (_, _, body) = raw(
        &hub,
        reqwest::Method::GET,
        "/jobs/v2/query?api-version=2021-04-12",
        None,
    )
    .await;
    assert_eq!(body, json!([]));
}

#[tokio::test]
async fn rest_jobs_query_filters_ignoring_case_and_pages() {
    let hub = start_hub().await;
    let client = owner(&hub);
    // Conditions that match no device: the jobs complete at once with 0 devices.
    for i in 0..3 {
        client
            .schedule_job(&format!("m{i}"), &method_job("deviceId = 'nobody'"))
            .await
            .expect("created");
    }
    for i in 0..2 {
        client
            .schedule_job(&format!("t{i}"), &twin_job("deviceId = 'nobody'"))
            .await
            .expect("created");
    }
    let later = JobRequest {
        start_time: HubTime::at(OffsetDateTime::now_utc() + Duration::from_secs(3600)).ok(),
        ..twin_job("*")
    };
    client
        .schedule_job("t-later", &later)
        .await
        .expect("created");
    for id in ["m0", "m1", "m2", "t0", "t1"] {
        rest_finished(&client, id).await;
    }

    let all = client
        .query_all_jobs(None, None, Some(2))
        .await
        .expect("all");
    let ids: Vec<_> = all.iter().filter_map(|j| j.job_id.clone()).collect();
    assert_eq!(ids.len(), 6, "{ids:?}");

    let first = client
        .query_jobs(
            Some(&JobType::ScheduleUpdateTwin),
            None,
            &PageRequest::first(Some(2)),
        )
        .await
        .expect("page");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.item_type, Some(QueryItemType::JobResponse));
    let next = first.next_page(Some(2)).expect("a second page");
    let second = client
        .query_jobs(Some(&JobType::ScheduleUpdateTwin), None, &next)
        .await
        .expect("page");
    assert_eq!(second.items.len(), 1);
    assert!(second.continuation.is_none());

    // Case-insensitive values, as the C# SDK sends them.
    let upper_type = JobType::Other("ScheduleUpdateTwin".into());
    let upper_status = JobStatus::Other("COMPLETED".into());
    let completed_twins = client
        .query_all_jobs(Some(&upper_type), Some(&upper_status), None)
        .await
        .expect("filtered");
    let mut ids: Vec<_> = completed_twins
        .iter()
        .filter_map(|j| j.job_id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, ["t0", "t1"]);
    let scheduled = client
        .query_all_jobs(None, Some(&JobStatus::Scheduled), None)
        .await
        .expect("scheduled");
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].job_id.as_deref(), Some("t-later"));
    let (status, _, _) = raw(
        &hub,
        reqwest::Method::GET,
        "/jobs/v2/query?jobType=scheduleTwinUpdate",
        None,
    )
    .await;
    assert_eq!(status, 400, "an unknown type is refused");

    // The raw body is an array; with the switch, the swagger object.
    let path = "/jobs/v2/query?jobType=scheduledevicemethod&api-version=2021-04-12";
    let (_, headers, body) = raw(&hub, reqwest::Method::GET, path, None).await;
    assert_eq!(body.as_array().map(Vec::len), Some(3));
    assert_eq!(
        headers.get("x-ms-item-type").and_then(|v| v.to_str().ok()),
        Some("JobResponse")
    );
    hub.hub().set_jobs_query_form(JobsQueryForm::Object);
    let (_, _, body) = raw(&hub, reqwest::Method::GET, path, None).await;
    assert_eq!(body["type"], "jobResponse");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(3));
    assert!(body.get("continuationToken").is_none());
    let paged = client
        .query_all_jobs(None, None, Some(4))
        .await
        .expect("our client reads the object form too");
    assert_eq!(paged.len(), 6);
}

#[tokio::test]
async fn rest_jobs_permissions() {
    let hub = start_hub().await;
    let read = policy_client(&hub, "registryRead");
    let error = read
        .schedule_job("by-reader", &twin_job("*"))
        .await
        .expect_err("registryRead cannot create jobs");
    assert!(error.is_unauthorized(), "{error:?}");
    let read_write = policy_client(&hub, "registryReadWrite");
    read_write
        .schedule_job("by-writer", &twin_job("*"))
        .await
        .expect("registryReadWrite creates jobs");
    read.get_job("by-writer")
        .await
        .expect("registryRead reads jobs");
    read.query_jobs(None, None, &PageRequest::first(None))
        .await
        .expect("registryRead queries jobs");
    let service = policy_client(&hub, "service");
    service
        .cancel_job("by-writer")
        .await
        .map(|_| ())
        .or_else(|e| {
            // The job may have completed already (it targets no device).
            if hub_code(&e) == Some(412003) {
                Ok(())
            } else {
                Err(e)
            }
        })
        .expect("service may cancel");
    let device = policy_client(&hub, "device");
    assert!(
        device
            .get_job("by-writer")
            .await
            .expect_err("device policy")
            .is_unauthorized()
    );
}
