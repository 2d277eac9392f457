//! Fleets against a real localhub, started in-process on port 0 in a temporary data dir.
//!
//! Contents:
//! - `lock_door_is_answered_and_reported`: `lockDoor` through the hub → 200, and the twin's
//!   reported `lockState` becomes `locked`; `unlockDoor` reports `unlocked`; a 1 s lock
//!   (payload as JSON text, like a Python method job's) reports `unlocked` by itself.
//! - `desired_patches_reach_the_model`: a desired `{"building":43,"floor":3}` reaches the
//!   device model and comes back acknowledged in the reported document.
//! - `knobs_rehearse_failures`: `respond_with_status = 500` answers 500, `never_respond`
//!   times out (504101), `offline` gives 404103, and clearing `offline` reconnects.
//! - `fractions_and_tags_spread_across_the_fleet`: fractions pick exact device counts; a
//!   `tags.building = 1` query counts half the fleet; a second start reuses the devices.

use std::path::{Path, PathBuf};
use std::time::Duration;

use iothub::model::{CloudToDeviceMethod, CloudToDeviceMethodResult, HubError};
use localhub::IfMatch;
use localhub::server::{self, Config, RunningHub};
use serde_json::{Value, json};
use simulator::{DeviceConnection, Fleet, FleetConfig, HubTarget, KnobPlan, Knobs};
use time::OffsetDateTime;

/// How long anything asynchronous may take before a test gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// A fresh directory under the system temp dir, removed when dropped.
struct TestDir(PathBuf);

impl TestDir {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("simulator-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create the test dir");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A hub on port 0 and its data dir; the hub is declared first so it stops first.
struct TestHub {
    running: RunningHub,
    dir: TestDir,
}

async fn start_hub() -> TestHub {
    let dir = TestDir::new();
    let running = server::start(Config {
        mqtt_port: 0,
        https_port: 0,
        ..Config::new(dir.path())
    })
    .await
    .expect("the hub starts");
    TestHub { running, dir }
}

/// A fleet config of `count` devices on `hub`, 2 buildings and 5 floors.
fn fleet_config(hub: &TestHub, count: usize) -> FleetConfig {
    FleetConfig {
        buildings: 2,
        floors: 5,
        ..FleetConfig::new(
            HubTarget::LocalHub {
                dir: hub.dir.path().to_owned(),
            },
            count,
        )
    }
}

async fn invoke(
    hub: &TestHub,
    device_id: &str,
    name: &str,
    payload: Value,
) -> Result<CloudToDeviceMethodResult, HubError> {
    let method = CloudToDeviceMethod {
        response_timeout_in_seconds: Some(5),
        ..CloudToDeviceMethod::new(name, payload)
    };
    hub.running.hub().invoke_method(device_id, &method).await
}

/// Polls the twin until `reported` satisfies `check`; panics after [`PATIENCE`].
async fn wait_for_reported(
    hub: &TestHub,
    device_id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let twin = hub.running.hub().get_twin(device_id).expect("the twin");
        let reported = twin["properties"]["reported"].clone();
        if check(&reported) {
            return reported;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "reported properties of {device_id} never matched: {reported}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` until it holds; panics after [`PATIENCE`].
async fn wait_until(check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_door_is_answered_and_reported() {
    let hub = start_hub().await;
    let fleet = Fleet::start(fleet_config(&hub, 20))
        .await
        .expect("the fleet starts");
    assert_eq!(fleet.len(), 20);
    assert_eq!(fleet.stats().connected, 20);
    let device = fleet.device(3).expect("device 3");
    assert_eq!(device.device_id(), "sim-0003");

    let result = invoke(&hub, "sim-0003", "lockDoor", json!({"lockTime": "10m"}))
        .await
        .expect("lockDoor is answered");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload["lockState"], "locked");
    let reported = wait_for_reported(&hub, "sim-0003", |r| r["lockState"] == "locked").await;
    assert!(reported["lockedUntil"].is_string(), "{reported}");
    assert!(
        device
            .state()
            .lock
            .state(OffsetDateTime::now_utc())
            .is_locked()
    );

    // An unknown method is the device's 404, inside a 200 from the hub.
    let result = invoke(&hub, "sim-0003", "openSesame", Value::Null)
        .await
        .expect("answered");
    assert_eq!(result.status, Some(404));
    assert!(result.payload["error"].is_string());

    let result = invoke(&hub, "sim-0003", "unlockDoor", Value::Null)
        .await
        .expect("unlockDoor is answered");
    assert_eq!(result.status, Some(200));
    let reported = wait_for_reported(&hub, "sim-0003", |r| r["lockState"] == "unlocked").await;
    // `null` in the model's document deletes the key in the twin.
    assert!(reported.get("lockedUntil").is_none(), "{reported}");
    assert_eq!(fleet.stats().methods_answered, 3);

    // A timed lock opens by itself, and the device reports it.
    let result = invoke(&hub, "sim-0004", "lockDoor", json!("{\"lockTime\":\"1s\"}"))
        .await
        .expect("lockDoor with a JSON-text payload is answered");
    assert_eq!(result.status, Some(200));
    wait_for_reported(&hub, "sim-0004", |r| r["lockState"] == "locked").await;
    wait_for_reported(&hub, "sim-0004", |r| r["lockState"] == "unlocked").await;
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_patches_reach_the_model() {
    let hub = start_hub().await;
    let fleet = Fleet::start(fleet_config(&hub, 20))
        .await
        .expect("the fleet starts");
    let device = fleet.device(5).expect("device 5");
    hub.running
        .hub()
        .patch_twin(
            "sim-0005",
            &json!({"properties": {"desired": {"building": 43, "floor": 3}}}),
            &IfMatch::Any,
        )
        .expect("the desired patch");
    let state = device
        .wait_for(PATIENCE, |s| s.lock.building() == Some(&json!(43)))
        .await
        .expect("the patch reaches the model");
    assert_eq!(state.lock.floor(), Some(&json!(3)));
    let reported = wait_for_reported(&hub, "sim-0005", |r| r["building"] == 43).await;
    assert_eq!(reported["floor"], 3);
    assert_eq!(reported["lastPatch"], json!({"building": 43, "floor": 3}));
    assert!(reported["lastPatchVersion"].is_i64(), "{reported}");

    // A second patch replaces `lastPatch` in the twin rather than merging into it.
    hub.running
        .hub()
        .patch_twin(
            "sim-0005",
            &json!({"properties": {"desired": {"floor": 4}}}),
            &IfMatch::Any,
        )
        .expect("the second patch");
    let reported = wait_for_reported(&hub, "sim-0005", |r| r["floor"] == 4).await;
    assert_eq!(reported["building"], 43);
    assert_eq!(reported["lastPatch"], json!({"floor": 4}));
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knobs_rehearse_failures() {
    let hub = start_hub().await;
    let fleet = Fleet::start(fleet_config(&hub, 20))
        .await
        .expect("the fleet starts");
    let failing = fleet.device(0).expect("device 0");
    let silent = fleet.device(1).expect("device 1");
    let offline = fleet.device(2).expect("device 2");
    failing.set_knobs(Knobs {
        respond_with_status: Some(500),
        ..Knobs::NONE
    });
    silent.set_knobs(Knobs {
        never_respond: true,
        ..Knobs::NONE
    });
    offline.set_knobs(Knobs {
        offline: true,
        ..Knobs::NONE
    });
    offline
        .wait_for(PATIENCE, |s| s.connection == DeviceConnection::Offline)
        .await
        .expect("the device goes offline");
    // The device has sent DISCONNECT; the hub notices on its own time.
    wait_until(|| !hub.running.hub().is_connected("sim-0002")).await;
    // Knobs are read when a call arrives; wait until the task has seen them.
    for device in [failing, silent] {
        let knobs = device.knobs();
        device
            .wait_for(PATIENCE, |s| s.knobs == knobs)
            .await
            .expect("the knobs are applied");
    }

    let (failed, timed_out, not_online) = tokio::join!(
        invoke(&hub, "sim-0000", "lockDoor", Value::Null),
        invoke(&hub, "sim-0001", "lockDoor", Value::Null),
        invoke(&hub, "sim-0002", "lockDoor", Value::Null),
    );
    let failed = failed.expect("the failing device answers");
    assert_eq!(failed.status, Some(500));
    assert!(failed.payload["error"].is_string());
    assert_eq!(timed_out.expect_err("no answer").code, Some(504101));
    assert_eq!(not_online.expect_err("offline").code, Some(404103));
    let now = OffsetDateTime::now_utc();
    assert!(!failing.state().lock.state(now).is_locked());
    assert!(!silent.state().lock.state(now).is_locked());
    assert_eq!(silent.state().counters.methods_ignored, 1);

    // Clearing `offline` reconnects.
    offline.set_knobs(Knobs::NONE);
    offline
        .wait_for(PATIENCE, |s| s.connection == DeviceConnection::Connected)
        .await
        .expect("the device reconnects");
    let result = invoke(&hub, "sim-0002", "lockDoor", Value::Null)
        .await
        .expect("answered after reconnecting");
    assert_eq!(result.status, Some(200));
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fractions_and_tags_spread_across_the_fleet() {
    let hub = start_hub().await;
    let config = FleetConfig {
        knobs: KnobPlan {
            error_fraction: 0.1,
            offline_fraction: 0.1,
            ..KnobPlan::default()
        },
        ..fleet_config(&hub, 20)
    };
    let fleet = Fleet::start(config.clone())
        .await
        .expect("the fleet starts");
    let stats = fleet.stats();
    assert_eq!((stats.connected, stats.offline), (18, 2));
    let erroring = fleet
        .devices()
        .iter()
        .filter(|d| d.knobs().respond_with_status == Some(500))
        .count();
    assert_eq!(erroring, 2);

    let query = "SELECT * FROM devices WHERE tags.building = 1";
    let page = hub
        .running
        .hub()
        .query_devices(query, None, 100)
        .expect("the query runs");
    assert_eq!(page.items.len(), 10);
    let floors = hub
        .running
        .hub()
        .query_devices("SELECT * FROM devices WHERE tags.floor = 5", None, 100)
        .expect("the query runs");
    // Floors go round robin within a building: 1 + (index / 2) % 5 = 5 for 8, 9, 18, 19.
    assert_eq!(floors.items.len(), 4);
    fleet.shutdown().await;

    // Starting again on the same hub reuses the registered devices (and their keys).
    let fleet = Fleet::start(FleetConfig {
        knobs: KnobPlan::default(),
        ..config
    })
    .await
    .expect("the fleet starts again");
    assert_eq!(fleet.stats().connected, 20);
    assert_eq!(hub.running.hub().device_count().expect("the count"), 20);
    fleet.shutdown().await;
}
