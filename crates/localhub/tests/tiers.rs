//! Tier emulation: max active jobs (429004) and the pace of job device operations.
//!
//! Contents:
//! - max active jobs (bare hub, no scheduler, so jobs stay `queued`): F1 and S1 allow 1,
//!   S2 5, S3 10, unlimited 100; the 429004 error; cancelling frees a place; a new tier
//!   applies to the next creation.
//! - pacing (bare hub + scheduler, paused time, a clock that follows tokio time):
//!   - a method job over 30 devices takes ~2.9 s on S1 (10/s) and no time unlimited;
//!   - S3 with 2 units runs 100 devices in ~1 s (100/s);
//!   - two jobs on one S2 hub share its 10/s;
//!   - twin jobs are paced too;
//!   - a throttled job can run out of its `maxExecutionTimeInSeconds` (JobExpired).
//! - REST (whole hub on port 0, real time): on S1 a second active job is 429004, which our
//!   `ServiceClient` reports as throttled, and it is accepted once the first has completed;
//!   a scheduled job counts as active until cancelled.
//! - `localhub.json` and the binary: the tier is written (`"tier"`, `"units"`); the ready
//!   line names it; a bad `--tier` or `--units` is a clear error.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use iothub::model::{
    DeviceIdentity, DeviceJobStatus, ErrorCode, HubError, HubTime, JobRequest, JobResponse,
    JobStatus,
};
use iothub::service::{ServiceClient, ServiceClientOptions, ServiceError};
use localhub::hub::tier::{Tier, TierConfig, UNLIMITED_MAX_ACTIVE_JOBS};
use localhub::hub::{Hub, IfMatch, ToDevice};
use localhub::server::{self, Config, HubInfo, RunningHub};
use localhub::store::Store;
use serde_json::{Value, json};
use support::{Scheduler, ServerProcess, TestDir, test_config};
use time::OffsetDateTime;
use tokio::time::Instant;

// ---- helpers ---------------------------------------------------------------------------------

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
}

fn hub_with(tier: impl Into<TierConfig>) -> Hub {
    let clock = TestClock::new();
    let store = Store::open_in_memory().expect("store");
    let hub = Hub::with_clock(store, "localhost:8443", Box::new(move || clock.now())).expect("hub");
    hub.set_tier(tier);
    hub
}

fn add(hub: &Hub, id: &str) {
    hub.put_device(id, DeviceIdentity::default(), &IfMatch::Absent)
        .expect("create device");
}

/// Registers `count` devices `{prefix}-{n}`, each connected and answering every method at
/// once; returns the total number of calls.
fn answering_fleet(hub: &Hub, prefix: &str, count: usize) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    for n in 0..count {
        let id = format!("{prefix}-{n}");
        add(hub, &id);
        let mut connection = hub.connect_device(&id, 16);
        hub.subscribe(&id, |s| s.methods = true).expect("subscribe");
        let counter = calls.clone();
        let device = hub.clone();
        tokio::spawn(async move {
            while let Some(message) = connection.inbox.recv().await {
                if let ToDevice::MethodRequest { rid, .. } = message {
                    counter.fetch_add(1, Ordering::SeqCst);
                    device.method_response(&id, &rid, 200, json!({"ok": true}));
                }
            }
        });
    }
    calls
}

fn job_request(body: Value) -> JobRequest {
    serde_json::from_value(body).expect("a job request")
}

/// A method job (`lockDoor`) over `condition`.
fn method_job(condition: &str) -> JobRequest {
    job_request(json!({
        "type": "scheduleDeviceMethod",
        "cloudToDeviceMethod": {"methodName": "lockDoor", "payload": {}, "responseTimeoutInSeconds": 5},
        "queryCondition": condition,
        "maxExecutionTimeInSeconds": 600,
    }))
}

/// A method job over `condition` that starts in an hour: active, and stays so.
fn later_job(condition: &str) -> JobRequest {
    JobRequest {
        start_time: HubTime::at(OffsetDateTime::now_utc() + Duration::from_secs(3600)).ok(),
        ..method_job(condition)
    }
}

fn code(error: &HubError) -> Option<u32> {
    error.known_code().map(ErrorCode::number)
}

/// Polls (advancing paused time 10 ms at a time) until the job has finished.
async fn finished(hub: &Hub, id: &str) -> JobResponse {
    for _ in 0..100_000 {
        let job = hub.get_job(id).expect("the job");
        if job.status.as_ref().is_some_and(JobStatus::is_finished) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} never finished: {:?}", hub.get_job(id));
}

/// From the job's start to its end, by the hub's clock.
fn run_time(job: &JobResponse) -> Duration {
    let at = |time: Option<HubTime>| time.and_then(|t| t.instant()).expect("a time");
    let elapsed = at(job.end_time) - at(job.start_time);
    Duration::try_from(elapsed).expect("the end is after the start")
}

fn assert_about(actual: Duration, expected: Duration) {
    let slack = Duration::from_millis(150);
    assert!(
        actual + slack >= expected && actual <= expected + slack,
        "took {actual:?}, expected about {expected:?}"
    );
}

/// Creates jobs `{prefix}-0`, `{prefix}-1`, … until the hub refuses one; returns how many it
/// accepted and the refusal.
fn fill(hub: &Hub, prefix: &str) -> (usize, HubError) {
    for n in 0..1000 {
        if let Err(error) = hub.schedule_job(&format!("{prefix}-{n}"), later_job("*")) {
            return (n, error);
        }
    }
    panic!("the hub accepted 1000 active jobs");
}

// ---- max active jobs -------------------------------------------------------------------------

#[test]
fn each_tier_allows_its_max_active_jobs() {
    for (tier, max) in [
        (Tier::F1, 1),
        (Tier::S1, 1),
        (Tier::S2, 5),
        (Tier::S3, 10),
        (Tier::Unlimited, UNLIMITED_MAX_ACTIVE_JOBS),
    ] {
        let hub = hub_with(tier);
        let (accepted, error) = fill(&hub, "job");
        assert_eq!(accepted, max, "{tier}");
        assert_eq!(code(&error), Some(429_004), "{tier}: {error:?}");
        assert_eq!(error.http_status, 429);
        assert_eq!(
            error.code_name.as_deref(),
            Some("ThrottlingMaxActiveJobCountExceeded")
        );
        assert!(
            error
                .message
                .starts_with("The maximum active job count has been exceeded"),
            "{}",
            error.message
        );
        assert!(error.message.contains(&format!("the {tier} tier")));
    }
}

#[test]
fn unlimited_is_the_default_and_allows_many_jobs() {
    let hub = Hub::new(Store::open_in_memory().expect("store"), "localhost:8443").expect("hub");
    assert_eq!(hub.tier(), TierConfig::default());
    assert_eq!(hub.tier().tier(), Tier::Unlimited);
    for n in 0..50 {
        hub.schedule_job(&format!("job-{n}"), later_job("*"))
            .expect("unlimited accepts many jobs");
    }
}

#[test]
fn units_do_not_change_max_active_jobs_and_cancelling_frees_a_place() {
    let hub = hub_with(TierConfig::new(Tier::S2, 50).expect("S2 with 50 units"));
    let (accepted, _) = fill(&hub, "job");
    assert_eq!(accepted, 5);
    hub.cancel_job("job-2").expect("cancel");
    hub.schedule_job("again", later_job("*"))
        .expect("a place is free again");
    let refused = hub
        .schedule_job("one-more", later_job("*"))
        .expect_err("full again");
    assert_eq!(code(&refused), Some(429_004));
    // A refused job is not stored.
    assert_eq!(
        code(&hub.get_job("one-more").expect_err("not stored")),
        Some(404_002)
    );

    // A new tier applies to the next creation; the jobs already there stay.
    hub.set_tier(Tier::S3);
    assert_eq!(hub.tier(), TierConfig::from(Tier::S3));
    let (accepted, _) = fill(&hub, "s3");
    assert_eq!(accepted, 5, "10 on S3, 5 of them already taken");
    hub.set_tier(Tier::S1);
    let refused = hub
        .schedule_job("s1", later_job("*"))
        .expect_err("S1 is over its limit");
    assert_eq!(code(&refused), Some(429_004));
}

// ---- pacing ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_method_job_over_30_devices_takes_3_seconds_on_s1() {
    let hub = hub_with(Tier::S1);
    let calls = answering_fleet(&hub, "door", 30);
    let scheduler = Scheduler::start(&hub);
    let started = Instant::now();
    hub.schedule_job("s1-job", method_job("*"))
        .expect("created");
    let job = finished(&hub, "s1-job").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 30);
    let stats = job.device_job_statistics.expect("statistics");
    assert_eq!((stats.device_count, stats.succeeded_count), (30, 30));
    // 30 slots 100 ms apart: the last device is called 2.9 s after the first.
    assert_about(run_time(&job), Duration::from_millis(2900));
    assert_about(started.elapsed(), Duration::from_millis(2900));
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_pace_is_even_while_the_job_runs() {
    let hub = hub_with(Tier::S1);
    answering_fleet(&hub, "door", 30);
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("s1-job", method_job("*"))
        .expect("created");
    tokio::time::sleep(Duration::from_millis(1450)).await;
    let job = hub.get_job("s1-job").expect("job");
    assert_eq!(job.status, Some(JobStatus::Running));
    let done = job
        .device_job_statistics
        .expect("statistics")
        .succeeded_count;
    assert_eq!(done, 15, "slots at 0, 0.1, …, 1.4 s are done at 1.45 s");
    finished(&hub, "s1-job").await;
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unlimited_runs_the_same_job_at_once() {
    let hub = hub_with(Tier::Unlimited);
    let calls = answering_fleet(&hub, "door", 30);
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("fast", method_job("*")).expect("created");
    let job = finished(&hub, "fast").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 30);
    assert!(run_time(&job) < Duration::from_millis(20), "{job:?}");
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn s3_with_two_units_runs_100_devices_per_second() {
    let hub = hub_with(TierConfig::new(Tier::S3, 2).expect("S3 with 2 units"));
    assert_eq!(hub.tier().device_ops_per_second(), Some(100.0));
    let calls = answering_fleet(&hub, "door", 100);
    let scheduler = Scheduler::start(&hub);
    hub.schedule_job("s3-job", method_job("*"))
        .expect("created");
    let job = finished(&hub, "s3-job").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 100);
    // 100 slots 10 ms apart.
    assert_about(run_time(&job), Duration::from_millis(990));
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn jobs_on_one_hub_share_its_pace() {
    let hub = hub_with(Tier::S2);
    answering_fleet(&hub, "a", 15);
    answering_fleet(&hub, "b", 15);
    let scheduler = Scheduler::start(&hub);
    let condition = |prefix: &str| {
        let ids: Vec<String> = (0..15).map(|n| format!("'{prefix}-{n}'")).collect();
        format!("deviceId IN [{}]", ids.join(", "))
    };
    hub.schedule_job("job-a", method_job(&condition("a")))
        .expect("created");
    hub.schedule_job("job-b", method_job(&condition("b")))
        .expect("created");
    let a = finished(&hub, "job-a").await;
    let b = finished(&hub, "job-b").await;
    for job in [&a, &b] {
        assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
        assert_eq!(job.device_job_statistics.expect("stats").device_count, 15);
    }
    // Alone each would take 1.4 s; together they take the 30 slots of 10/s.
    let last = run_time(&a).max(run_time(&b));
    assert_about(last, Duration::from_millis(2900));
    assert!(run_time(&a).min(run_time(&b)) > Duration::from_millis(2500));
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn twin_jobs_are_paced_too() {
    let hub = hub_with(Tier::S1);
    for n in 0..20 {
        add(&hub, &format!("offline-{n}"));
    }
    let scheduler = Scheduler::start(&hub);
    let twin_job = job_request(json!({
        "type": "scheduleUpdateTwin",
        "updateTwin": {"etag": "*", "tags": {"building": "43"}},
        "queryCondition": "*",
    }));
    hub.schedule_job("twins", twin_job).expect("created");
    let job = finished(&hub, "twins").await;
    assert_eq!(job.status, Some(JobStatus::Completed), "{job:?}");
    assert_eq!(
        job.device_job_statistics.expect("stats").succeeded_count,
        20
    );
    assert_about(run_time(&job), Duration::from_millis(1900));
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_throttled_job_can_run_out_of_time() {
    let hub = hub_with(Tier::S1);
    answering_fleet(&hub, "door", 30);
    let scheduler = Scheduler::start(&hub);
    let short = JobRequest {
        max_execution_time_in_seconds: Some(1),
        ..method_job("*")
    };
    hub.schedule_job("short", short).expect("created");
    let job = finished(&hub, "short").await;
    assert_eq!(job.status, Some(JobStatus::Failed), "{job:?}");
    let stats = job.device_job_statistics.expect("stats");
    assert_eq!(stats.device_count, 30);
    assert!(
        (9..=11).contains(&stats.succeeded_count),
        "about 10 devices fit in 1 s: {stats:?}"
    );
    let expired = hub
        .device_jobs("short")
        .expect("rows")
        .into_iter()
        .filter(|row| row.status == Some(DeviceJobStatus::Failed))
        .filter(|row| {
            row.error.as_ref().and_then(|e| e.code.as_deref())
                == Some(localhub::hub::jobs::JOB_EXPIRED)
        })
        .count();
    assert_eq!(
        expired,
        30 - usize::try_from(stats.succeeded_count).expect("count")
    );
    scheduler.stop().await;
}

// ---- REST ------------------------------------------------------------------------------------

async fn start_with(dir: &TestDir, tier: TierConfig) -> RunningHub {
    server::start(Config {
        tier,
        ..test_config(dir.path())
    })
    .await
    .expect("the hub starts")
}

fn owner(hub: &RunningHub) -> ServiceClient {
    let options = ServiceClientOptions {
        extra_ca_pem: Some(hub.ca_pem().as_bytes().to_vec()),
        ..ServiceClientOptions::default()
    };
    ServiceClient::new(hub.service_connection_string().clone(), options).expect("client")
}

fn hub_code(error: &ServiceError) -> Option<u32> {
    error.hub_error().and_then(|e| e.code)
}

/// Polls the job over REST (real time) until it has finished.
async fn rest_finished(client: &ServiceClient, id: &str) -> JobResponse {
    for _ in 0..400 {
        let job = client.get_job(id).await.expect("get");
        if job.status.as_ref().is_some_and(JobStatus::is_finished) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

#[tokio::test]
async fn rest_s1_refuses_a_second_active_job_until_the_first_completes() {
    let dir = TestDir::new("tier-s1");
    let hub = start_with(&dir, Tier::S1.into()).await;
    assert_eq!(hub.hub().tier(), TierConfig::from(Tier::S1));
    add(hub.hub(), "door-1");
    let client = owner(&hub);

    // door-1 is offline: the first job waits 2 s for it to connect, then completes.
    let waiting = job_request(json!({
        "type": "scheduleDeviceMethod",
        "cloudToDeviceMethod": {"methodName": "lockDoor", "responseTimeoutInSeconds": 5,
                                "connectTimeoutInSeconds": 2},
        "queryCondition": "deviceId = 'door-1'",
    }));
    client
        .schedule_job("first", &waiting)
        .await
        .expect("the first job");
    let refused = client
        .schedule_job("second", &method_job("*"))
        .await
        .expect_err("S1 allows one active job");
    assert_eq!(hub_code(&refused), Some(429_004), "{refused:?}");
    assert!(refused.is_throttled(), "{refused:?}");
    let detail = refused.hub_error().expect("a hub error");
    assert_eq!(detail.http_status, 429);
    assert_eq!(
        detail.code_name.as_deref(),
        Some("ThrottlingMaxActiveJobCountExceeded")
    );
    assert!(
        detail.message.contains("maximum active job count"),
        "{detail:?}"
    );
    assert!(client.get_job("second").await.is_err(), "not stored");

    let first = rest_finished(&client, "first").await;
    assert_eq!(first.status, Some(JobStatus::Completed), "{first:?}");
    client
        .schedule_job("second", &method_job("*"))
        .await
        .expect("accepted once the first completed");
    rest_finished(&client, "second").await;

    // A scheduled job is active too, until it is cancelled.
    client
        .schedule_job("later", &later_job("*"))
        .await
        .expect("scheduled");
    let refused = client
        .schedule_job("now", &method_job("*"))
        .await
        .expect_err("the scheduled job is active");
    assert!(refused.is_throttled());
    client.cancel_job("later").await.expect("cancelled");
    client
        .schedule_job("now", &method_job("*"))
        .await
        .expect("accepted after the cancel");
    hub.shutdown().await;
}

// ---- localhub.json and the binary -----------------------------------------------------------

#[tokio::test]
async fn localhub_json_names_the_tier() {
    let dir = TestDir::new("tier-json");
    let hub = start_with(&dir, TierConfig::new(Tier::S3, 2).expect("S3")).await;
    let text = std::fs::read_to_string(hub.info_path()).expect("localhub.json");
    let json: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["tier"], "S3");
    assert_eq!(json["units"], 2);
    let info = HubInfo::read(dir.path()).expect("read").expect("info");
    assert_eq!(info.tier.as_deref(), Some("S3"));
    assert_eq!(info.units, Some(2));
    assert_eq!(info, hub.info());
    hub.shutdown().await;

    let dir = TestDir::new("tier-json-default");
    let hub = start_with(&dir, TierConfig::default()).await;
    assert_eq!(Config::new(dir.path()).tier, TierConfig::default());
    let text = std::fs::read_to_string(hub.info_path()).expect("localhub.json");
    let json: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["tier"], "unlimited");
    assert!(json.get("units").is_none(), "{json}");
    hub.shutdown().await;

    // A localhub.json written before tiers existed still reads.
    let old = json!({"hostName": "localhost", "mqttPort": 8883, "httpsPort": 8443,
                     "serviceConnectionString": "HostName=x", "caCertificate": "/ca.pem"});
    let old_dir = TestDir::new("tier-json-old");
    std::fs::write(
        old_dir.path().join(server::INFO_FILE),
        old.to_string().as_bytes(),
    )
    .expect("write");
    let info = HubInfo::read(old_dir.path()).expect("read").expect("info");
    assert_eq!((info.tier, info.units), (None, None));
}

#[test]
fn a_bad_tier_or_unit_count_is_a_clear_cli_error() {
    let dir = TestDir::new("tier-cli");
    let binary = env!("CARGO_BIN_EXE_localhub");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let run = |extra: &[&str]| {
        let output = Command::new(binary)
            .args([
                "--data-dir",
                data_dir,
                "--https-port",
                "0",
                "--mqtt-port",
                "0",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("localhub runs");
        assert!(!output.status.success(), "{extra:?}: {output:?}");
        String::from_utf8(output.stderr).expect("utf-8")
    };
    let stderr = run(&["--tier", "S9"]);
    assert!(
        stderr.contains("invalid value 'S9' for '--tier <TIER>'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("use unlimited, F1, S1, S2 or S3"),
        "{stderr}"
    );
    let stderr = run(&["--tier", "S3", "--units", "11"]);
    assert!(
        stderr.contains("the S3 tier has 1 to 10 units, not 11"),
        "{stderr}"
    );
    let stderr = run(&["--tier", "S1", "--units", "0"]);
    assert!(stderr.contains("--units"), "{stderr}");
    assert!(
        !dir.path().join(server::INFO_FILE).exists(),
        "no hub started"
    );
}

#[test]
fn the_binary_prints_and_writes_its_tier() {
    let dir = TestDir::new("tier-bin");
    let server = ServerProcess::start(dir.path(), &["--tier", "s2", "--units", "30"]);
    let line = &server.ready_line;
    assert!(line.starts_with("localhub is ready"), "{line}");
    assert!(
        line.contains("tier S2 (30 units): 5 active jobs, 30 job device operations/s"),
        "{line}"
    );
    let info = HubInfo::read(dir.path()).expect("read").expect("info");
    assert_eq!(info.tier.as_deref(), Some("S2"));
    assert_eq!(info.units, Some(30));
}
