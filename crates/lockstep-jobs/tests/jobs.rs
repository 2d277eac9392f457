//! The job logic against a real localhub (in-process, port 0, real TLS) with simulated door
//! locks on real MQTT connections, and a real SQLite archive on disk.
//!
//! Contents:
//! - `method_job_*`: a `lockDoor` job over two locks reaches `completed`, every device row
//!   is archived, the locks lock, and the archive file reopens with all of it.
//! - `twin_jobs_*`: desired-property and tag jobs reach `completed`; twins and the lock
//!   show the patch.
//! - `scheduled_job_*`: a job 20 s ahead is seen `scheduled`, then `completed`; a job an
//!   hour ahead is cancelled and seen `cancelled`.
//! - `preview_*`: matching and connected counts and first ids on a tagged registry.
//! - `errors_*`: 409104 (same job id twice), 429004 (S1 tier), a bad query, in words.
//! - `import_*`: a second archive imports the hub's jobs (`jobs/v2/query`).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use iothub::model::Twin;
use iothub::service::{IfMatch, PageRequest};
use localhub::hub::tier::Tier;
use lockstep_jobs::archive::{Archive, DeviceResultsQuery, JobFilter};
use lockstep_jobs::draft::{JobDraft, JobKind, StartMode, validate};
use lockstep_jobs::errors::{ErrorWordsKind, Operation, describe};
use lockstep_jobs::preview::{PreviewError, preview};
use lockstep_jobs::watch::{JobWatcher, WatchError, WatchOptions};
use serde_json::{Value, json};
use support::{PATIENCE, TestDir, TestHub, status, updates_until};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PROFILE: &str = "local";

fn method_draft(condition: &str) -> JobDraft {
    JobDraft {
        query_condition: condition.to_owned(),
        method_name: "lockDoor".to_owned(),
        method_payload: r#"{"lockTime": "10m"}"#.to_owned(),
        ..JobDraft::new()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_job_completes_and_its_device_rows_are_archived() {
    let hub = TestHub::start().await;
    let fleet = hub.fleet("door", 2, 1).await;
    let dir = TestDir::new("archive");
    let archive = Archive::open_in_dir(dir.path()).expect("the archive opens");
    let (watcher, mut updates) = JobWatcher::new(
        hub.service().clone(),
        archive.clone(),
        PROFILE,
        WatchOptions::default(),
    );

    let job = validate(
        &method_draft("deviceId IN ['door-0000', 'door-0001']"),
        OffsetDateTime::now_utc(),
    )
    .expect("a valid draft");
    let created = watcher
        .schedule(&job)
        .await
        .expect("the hub creates the job");
    assert!(created.created_by_me);
    assert_eq!(created.kind, Some(JobKind::Method));

    let seen = updates_until(&mut updates, &job.job_id, PATIENCE, |u| !u.watching).await;
    let last = seen.last().expect("an update");
    let summary = last.summary.as_ref().expect("the job was read");
    assert_eq!(summary.status, "completed", "{seen:#?}");
    let progress = summary.progress.expect("statistics");
    assert_eq!((progress.device_count, progress.succeeded_count), (2, 2));
    assert_eq!(last.device_rows_read, Some(2));

    let page = archive
        .device_results(PROFILE, &job.job_id, &DeviceResultsQuery::default())
        .expect("reads");
    let ids: Vec<&str> = page.rows.iter().map(|r| r.device_id.as_str()).collect();
    assert_eq!(ids, ["door-0000", "door-0001"]);
    for row in &page.rows {
        assert_eq!(row.status, "completed");
        assert_eq!(row.method_status, Some(200));
        let payload: Value =
            serde_json::from_str(row.method_payload.as_deref().expect("a payload")).expect("JSON");
        assert_eq!(payload["lockState"], json!("locked"), "{payload}");
    }
    let now = OffsetDateTime::now_utc();
    for device in fleet.devices() {
        assert!(
            device.state().lock.state(now).is_locked(),
            "{} locked",
            device.device_id()
        );
    }

    // The watcher stopped watching the finished job; everything survives a reopen.
    assert!(watcher.watching().is_empty());
    watcher.shutdown().await;
    drop((watcher, archive));
    let reopened = Archive::open_in_dir(dir.path()).expect("reopens");
    let stored = reopened
        .job(PROFILE, &job.job_id)
        .expect("reads")
        .expect("archived");
    assert_eq!(stored.summary.status, "completed");
    assert!(stored.summary.created_by_me);
    assert_eq!(stored.request().expect("parses"), Some(job.request.clone()));
    let listed = reopened
        .list_jobs(PROFILE, &JobFilter::default())
        .expect("lists");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        reopened
            .device_results(PROFILE, &job.job_id, &DeviceResultsQuery::default())
            .expect("reads")
            .total,
        2
    );
    let mut csv = Vec::new();
    reopened
        .export_csv(PROFILE, &job.job_id, None, &mut csv)
        .expect("exports");
    let csv = String::from_utf8(csv).expect("UTF-8");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("door-0001,completed,"), "{csv}");

    fleet.shutdown().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twin_jobs_patch_desired_properties_and_tags() {
    let hub = TestHub::start().await;
    let fleet = hub.fleet("twin", 1, 1).await;
    let archive = Archive::open_in_memory().expect("opens");
    let (watcher, mut updates) = JobWatcher::new(
        hub.service().clone(),
        archive.clone(),
        PROFILE,
        WatchOptions::default(),
    );

    let desired = validate(
        &JobDraft {
            job_type: JobKind::TwinDesired,
            query_condition: "deviceId = 'twin-0000'".to_owned(),
            twin_desired: r#"{"building": 43, "floor": 3}"#.to_owned(),
            ..JobDraft::new()
        },
        OffsetDateTime::now_utc(),
    )
    .expect("valid");
    assert_eq!(
        desired
            .request
            .update_twin
            .as_ref()
            .and_then(|t| t.etag.as_deref()),
        Some("*")
    );
    watcher.schedule(&desired).await.expect("created");
    let seen = updates_until(&mut updates, &desired.job_id, PATIENCE, |u| !u.watching).await;
    assert_eq!(
        status(seen.last().expect("an update")),
        "completed",
        "{seen:#?}"
    );
    let device = fleet.device(0).expect("one device");
    support::eventually("the lock applied the patch", || {
        device.state().lock.building() == Some(&json!(43))
    })
    .await;

    let tags = validate(
        &JobDraft {
            job_type: JobKind::TwinTags,
            query_condition: "deviceId = 'twin-0000'".to_owned(),
            twin_tags: r#"{"site": "hq"}"#.to_owned(),
            ..JobDraft::new()
        },
        OffsetDateTime::now_utc(),
    )
    .expect("valid");
    watcher.schedule(&tags).await.expect("created");
    let seen = updates_until(&mut updates, &tags.job_id, PATIENCE, |u| !u.watching).await;
    assert_eq!(
        status(seen.last().expect("an update")),
        "completed",
        "{seen:#?}"
    );
    let twin = hub.service().get_twin("twin-0000").await.expect("reads");
    assert_eq!(
        twin.tags.as_ref().and_then(|t| t.get("site")),
        Some(&json!("hq"))
    );
    let desired_values = twin
        .properties
        .and_then(|p| p.desired)
        .expect("desired")
        .values;
    assert_eq!(desired_values.get("floor"), Some(&json!(3)));

    let kinds: Vec<Option<JobKind>> = archive
        .list_jobs(PROFILE, &JobFilter::default())
        .expect("lists")
        .into_iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(
        kinds.contains(&Some(JobKind::TwinTags)) && kinds.contains(&Some(JobKind::TwinDesired))
    );
    let rows = archive
        .device_results(PROFILE, &tags.job_id, &DeviceResultsQuery::default())
        .expect("reads");
    assert_eq!(rows.rows.len(), 1);
    assert_eq!(rows.rows[0].status, "completed");

    watcher.shutdown().await;
    fleet.shutdown().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_job_is_seen_scheduled_then_completed_and_another_is_cancelled() {
    let hub = TestHub::start().await;
    let fleet = hub.fleet("later", 1, 1).await;
    let archive = Archive::open_in_memory().expect("opens");
    let (watcher, mut updates) = JobWatcher::new(
        hub.service().clone(),
        archive.clone(),
        PROFILE,
        WatchOptions::default(),
    );
    let now = OffsetDateTime::now_utc();
    let at = |secs: i64| {
        (now + time::Duration::seconds(secs))
            .format(&Rfc3339)
            .expect("formats")
    };

    let soon = validate(
        &JobDraft {
            start_mode: StartMode::At,
            start_at: at(20),
            ..method_draft("deviceId = 'later-0000'")
        },
        now,
    )
    .expect("valid");
    let later = validate(
        &JobDraft {
            start_mode: StartMode::At,
            start_at: at(3600),
            ..method_draft("deviceId = 'later-0000'")
        },
        now,
    )
    .expect("valid");
    watcher.schedule(&soon).await.expect("created");
    watcher.schedule(&later).await.expect("created");

    // Both are seen scheduled (updates of the two jobs interleave on one channel).
    let mut scheduled = BTreeSet::new();
    while scheduled.len() < 2 {
        let update = tokio::time::timeout(PATIENCE, updates.recv())
            .await
            .expect("both jobs are seen scheduled in time")
            .expect("the watcher runs");
        if status(&update) == "scheduled" {
            scheduled.insert(update.job_id);
        }
    }
    assert_eq!(
        scheduled,
        BTreeSet::from([soon.job_id.clone(), later.job_id.clone()])
    );
    let cancelled = watcher.cancel(&later.job_id).await.expect("cancels");
    assert_eq!(cancelled.job_id, later.job_id);

    // The cancellation and the run of the first job, in whatever order they arrive.
    let mut finished = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while finished.len() < 2 {
        let update = tokio::time::timeout_at(deadline, updates.recv())
            .await
            .expect("both jobs finish in time")
            .expect("the watcher runs");
        if !update.watching {
            finished.insert((update.job_id.clone(), status(&update).to_owned()));
        }
    }
    assert_eq!(
        finished,
        BTreeSet::from([
            (soon.job_id.clone(), "completed".to_owned()),
            (later.job_id.clone(), "cancelled".to_owned()),
        ])
    );
    let stored = archive
        .job(PROFILE, &soon.job_id)
        .expect("reads")
        .expect("archived")
        .job()
        .expect("parses");
    let started = stored
        .start_time
        .and_then(|t| t.instant())
        .expect("a start time");
    assert!(
        started >= now + time::Duration::seconds(19),
        "started at {started}, scheduled for 20 s after {now}"
    );
    assert!(
        fleet
            .device(0)
            .expect("a device")
            .state()
            .lock
            .state(OffsetDateTime::now_utc())
            .is_locked()
    );

    watcher.shutdown().await;
    fleet.shutdown().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_counts_matching_and_connected_devices() {
    let hub = TestHub::start().await;
    // lock-0000 and lock-0002 in building 1, lock-0001 and lock-0003 in building 2.
    let fleet = hub.fleet("lock", 4, 2).await;
    for id in ["spare-1", "spare-2"] {
        hub.service()
            .create_device(id, &Default::default())
            .await
            .expect("registers");
        let patch = Twin {
            tags: serde_json::from_value(json!({"building": 1})).ok(),
            ..Twin::default()
        };
        hub.service()
            .patch_twin(id, &patch, &IfMatch::Any)
            .await
            .expect("tags");
    }

    let building = preview(hub.service(), "tags.building = 1")
        .await
        .expect("previews");
    assert_eq!(building.matching, Some(4));
    assert_eq!(building.connected, Some(2));
    let ids: BTreeSet<&str> = building
        .first_device_ids
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["lock-0000", "lock-0002", "spare-1", "spare-2"])
    );
    assert!(building.warnings.is_empty());

    let all = preview(hub.service(), "*").await.expect("previews");
    assert_eq!((all.matching, all.connected), (Some(6), Some(4)));
    let none = preview(hub.service(), "tags.building = 3")
        .await
        .expect("previews");
    assert_eq!((none.matching, none.connected), (Some(0), Some(0)));
    assert!(none.first_device_ids.is_empty());

    // More devices than the preview lists.
    let many: Vec<String> = (0..130).map(|i| format!("'lock-{i:04}'")).collect();
    let listed = preview(hub.service(), &format!("deviceId IN [{}]", many.join(", ")))
        .await
        .expect("previews");
    assert_eq!(listed.matching, Some(4));
    assert_eq!(listed.warnings.len(), 1, "{:?}", listed.warnings);
    assert!(listed.warnings[0].contains("130 device ids"));

    match preview(hub.service(), "tags.building = 1 AND").await {
        Err(PreviewError::Invalid(message)) => {
            assert!(message.contains("line 1, column"), "{message}");
        }
        other => panic!("expected a local syntax error, got {other:?}"),
    }

    fleet.shutdown().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_from_the_hub_in_words() {
    let hub = TestHub::start().await;
    let archive = Archive::open_in_memory().expect("opens");
    let (watcher, _updates) = JobWatcher::new(
        hub.service().clone(),
        archive.clone(),
        PROFILE,
        WatchOptions::default(),
    );
    let now = OffsetDateTime::now_utc();
    let later = validate(
        &JobDraft {
            start_mode: StartMode::At,
            start_at: (now + time::Duration::hours(1))
                .format(&Rfc3339)
                .expect("formats"),
            ..method_draft("*")
        },
        now,
    )
    .expect("valid");
    watcher.schedule(&later).await.expect("created");

    // The same id again: 409104.
    let error = watcher.schedule(&later).await.expect_err("the id is taken");
    let words = error.words().expect("a hub error");
    assert_eq!(words.kind, ErrorWordsKind::JobExists);
    assert_eq!(words.code, Some(409104));
    assert!(words.action.contains("new job id"), "{words}");

    // An S1 hub runs one job at a time: 429004.
    hub.running().hub().set_tier(Tier::S1);
    let second = validate(&method_draft("*"), OffsetDateTime::now_utc()).expect("valid");
    let error = watcher.schedule(&second).await.expect_err("too many jobs");
    assert!(matches!(error, WatchError::Hub { .. }));
    let words = error.words().expect("a hub error");
    assert_eq!(words.kind, ErrorWordsKind::TooManyActiveJobs);
    assert_eq!(words.code, Some(429004));

    // A query the hub refuses.
    let error = hub
        .service()
        .query_devices::<Value>(
            "SELECT * FROM devices WHERE tags.building =",
            &PageRequest::first(None),
        )
        .await
        .expect_err("a bad query");
    let words = describe(&error, Operation::Query);
    assert_eq!(words.kind, ErrorWordsKind::BadQuery);
    assert!(words.message.contains("line 1, column"), "{words}");

    // A job the hub does not know.
    let error = hub
        .service()
        .get_job("no-such-job")
        .await
        .expect_err("unknown");
    assert_eq!(
        describe(&error, Operation::ReadJob).kind,
        ErrorWordsKind::JobNotFound
    );

    watcher.shutdown().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_existing_jobs_into_a_fresh_archive() {
    let hub = TestHub::start().await;
    let fleet = hub.fleet("imp", 1, 1).await;
    let first = Archive::open_in_memory().expect("opens");
    let (watcher, mut updates) = JobWatcher::new(
        hub.service().clone(),
        first,
        PROFILE,
        WatchOptions::default(),
    );
    let now = OffsetDateTime::now_utc();
    let done = validate(&method_draft("deviceId = 'imp-0000'"), now).expect("valid");
    watcher.schedule(&done).await.expect("created");
    updates_until(&mut updates, &done.job_id, PATIENCE, |u| !u.watching).await;
    let pending = validate(
        &JobDraft {
            start_mode: StartMode::At,
            start_at: (now + time::Duration::hours(1))
                .format(&Rfc3339)
                .expect("formats"),
            ..method_draft("deviceId = 'imp-0000'")
        },
        now,
    )
    .expect("valid");
    watcher.schedule(&pending).await.expect("created");
    watcher.shutdown().await;

    let second = Archive::open_in_memory().expect("opens");
    // Polls at least every second, so that a held poll shows.
    let quick = WatchOptions {
        max_delay: Duration::from_secs(1),
        ..WatchOptions::default()
    };
    let (importer, mut imported_updates) =
        JobWatcher::new(hub.service().clone(), second.clone(), PROFILE, quick);
    assert_eq!(importer.import_existing().await.expect("imports"), 2);
    let jobs = second
        .list_jobs(PROFILE, &JobFilter::default())
        .expect("lists");
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| !j.created_by_me));
    assert_eq!(
        importer.watching(),
        std::slice::from_ref(&pending.job_id),
        "only the unfinished job"
    );
    updates_until(&mut imported_updates, &pending.job_id, PATIENCE, |u| {
        status(u) == "scheduled"
    })
    .await;

    // The finished job came without its device rows; opening it reads them, once.
    let rows = |id: &str| {
        second
            .device_results(PROFILE, id, &DeviceResultsQuery::default())
            .expect("reads")
            .total
    };
    assert_eq!(rows(&done.job_id), 0);
    let opened = || {
        let job = second
            .job(PROFILE, &done.job_id)
            .expect("reads")
            .expect("archived")
            .summary;
        let counts = second
            .device_status_counts(PROFILE, &done.job_id)
            .expect("counts");
        (job, counts)
    };
    let (job, counts) = opened();
    assert!(importer.fill_device_rows(&job, &counts), "a read starts");
    let seen = updates_until(&mut imported_updates, &done.job_id, PATIENCE, |u| {
        !u.watching
    })
    .await;
    assert_eq!(
        seen.last().and_then(|u| u.device_rows_read),
        Some(1),
        "{seen:#?}"
    );
    assert_eq!(rows(&done.job_id), 1);
    let (job, counts) = opened();
    assert!(!importer.fill_device_rows(&job, &counts), "all in");

    // Hidden window: the cancellation is not polled until the watcher resumes.
    importer.pause();
    assert!(importer.is_paused());
    let cancelled = importer.cancel(&pending.job_id).await.expect("cancels");
    assert_eq!(cancelled.kind, Some(JobKind::Method));
    let held = tokio::time::timeout(Duration::from_secs(3), imported_updates.recv()).await;
    assert!(held.is_err(), "no poll while paused: {held:?}");
    importer.resume();
    let seen = updates_until(
        &mut imported_updates,
        &pending.job_id,
        Duration::from_secs(5),
        |u| !u.watching,
    )
    .await;
    assert_eq!(status(seen.last().expect("an update")), "cancelled");
    assert_eq!(
        second
            .job(PROFILE, &pending.job_id)
            .expect("reads")
            .expect("archived")
            .summary
            .status,
        "cancelled"
    );

    importer.shutdown().await;
    fleet.shutdown().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_rows_are_read_within_the_query_budget() {
    // 12 offline devices, 2 rows a page: 6 queries for a full read. With a budget of 60 a
    // minute and a burst of QUERY_BURST (5), the sixth query waits for the next second.
    let hub = TestHub::start().await;
    let ids: Vec<String> = (0..12).map(|i| format!("quota-{i:02}")).collect();
    for id in &ids {
        hub.service()
            .create_device(id, &iothub::model::DeviceIdentity::default())
            .await
            .expect("registers");
    }
    let archive = Archive::open_in_memory().expect("opens");
    let paced = WatchOptions {
        page_size: 2,
        queries_per_minute: Some(60),
        ..WatchOptions::default()
    };
    assert_eq!(lockstep_jobs::watch::QUERY_BURST, 5);
    let (watcher, mut updates) =
        JobWatcher::new(hub.service().clone(), archive.clone(), PROFILE, paced);
    let job = validate(
        &JobDraft {
            job_type: JobKind::TwinTags,
            query_condition: "STARTSWITH(deviceId, 'quota-')".to_owned(),
            twin_tags: r#"{"quota": true}"#.to_owned(),
            ..JobDraft::new()
        },
        OffsetDateTime::now_utc(),
    )
    .expect("valid");
    let started = tokio::time::Instant::now();
    watcher.schedule(&job).await.expect("created");
    let seen = updates_until(&mut updates, &job.job_id, PATIENCE, |u| !u.watching).await;
    let took = started.elapsed();
    let last = seen.last().expect("an update");
    assert_eq!(status(last), "completed", "{seen:#?}");
    assert_eq!(last.device_rows_read, Some(12), "{seen:#?}");
    let reads: u32 = seen.iter().filter_map(|u| u.device_rows_read).count() as u32;
    // Every read is 6 queries; the first 5 are free, then one a second.
    let queries = reads * 6;
    let at_least = Duration::from_secs(u64::from(queries.saturating_sub(5)));
    assert!(
        took >= at_least - Duration::from_millis(50),
        "{queries} queries in {took:?}: the budget allows them in no less than {at_least:?}"
    );
    let rows = archive
        .device_results(PROFILE, &job.job_id, &DeviceResultsQuery::default())
        .expect("reads");
    assert_eq!(rows.total, 12);
    assert!(rows.rows.iter().all(|r| r.status == "completed"));

    watcher.shutdown().await;
    hub.stop().await;
}
