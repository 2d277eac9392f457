//! Group commit of reported-properties PATCHes, against a real hub (TLS on port 0, SQLite on
//! disk) and real device clients:
//!
//! - `many_devices_reporting_at_once_get_each_answer_only_after_its_commit`: 40 devices patch
//!   at the same time, 5 times each. At every 204 a second SQLite connection already sees that
//!   device's patch and version, and each device's versions follow its PATCHes in order.
//! - `acknowledged_reports_of_many_devices_survive_sigkill`: the `localhub` binary, 24 devices
//!   patching as fast as they can; `kill -9` while PATCHes are in flight; after a restart on
//!   the same dir every device's twin holds at least its last acknowledged patch.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iothub::device::{DeviceClient, DeviceClientOptions};
use iothub::model::DeviceIdentity;
use localhub::IfMatch;
use localhub::server::{DATABASE_FILE, HubInfo, device_connection_string};
use localhub::store::Store;
use serde_json::{Value, json};
use support::{ServerProcess, TestDir, start_hub};

fn options(port: u16, ca_pem: String) -> DeviceClientOptions {
    DeviceClientOptions {
        port: Some(port),
        extra_ca_pem: Some(ca_pem),
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        ..DeviceClientOptions::default()
    }
}

/// The reported section as committed in the database file, read on a connection of its own.
fn committed_reported(observer: &Store, id: &str) -> (i64, Value) {
    let twin = observer
        .read(|conn| localhub::store::twins::get(conn, id))
        .expect("read")
        .expect("a twin");
    (twin.reported.version, Value::Object(twin.reported.values))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_reporting_at_once_get_each_answer_only_after_its_commit() {
    const DEVICES: usize = 40;
    const PATCHES: i64 = 5;
    let hub = start_hub().await;
    let ca = std::fs::read_to_string(hub.dir().join("ca.pem")).expect("ca.pem");
    let observer = Arc::new(Store::open(&hub.dir().join(DATABASE_FILE)).expect("observer"));
    let mut clients = Vec::new();
    for index in 0..DEVICES {
        let id = format!("rep-{index:02}");
        hub.hub()
            .put_device(&id, DeviceIdentity::default(), &IfMatch::Absent)
            .expect("device");
        let connection = device_connection_string(hub.hub(), "localhost", &id).expect("string");
        let (client, events) =
            DeviceClient::connect(connection, options(hub.mqtt_port(), ca.clone()))
                .await
                .expect("connects");
        clients.push((id, client, events));
    }

    // Every device waits at the same barrier, then patches as fast as its answers come.
    let barrier = Arc::new(tokio::sync::Barrier::new(DEVICES));
    let mut tasks = Vec::new();
    for (id, client, events) in clients {
        let barrier = barrier.clone();
        let observer = observer.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut versions = Vec::new();
            for seq in 1..=PATCHES {
                let version = client
                    .patch_reported(json!({"seq": seq, "device": id}))
                    .await
                    .expect("patched");
                // The 204 is here: the write must already be in the database file.
                let observer = observer.clone();
                let reader_id = id.clone();
                let (committed_version, values) =
                    tokio::task::spawn_blocking(move || committed_reported(&observer, &reader_id))
                        .await
                        .expect("read");
                assert_eq!(
                    committed_version, version,
                    "{id}: answered before its commit"
                );
                assert_eq!(
                    values["seq"],
                    json!(seq),
                    "{id}: answered before its commit"
                );
                versions.push(version);
            }
            client.shutdown().await;
            drop(events);
            (id, versions)
        }));
    }
    for task in tasks {
        let (id, versions) = task.await.expect("device task");
        // A new twin's reported section is at version 1; each PATCH adds one, in order.
        let expected: Vec<i64> = (2..2 + PATCHES).collect();
        assert_eq!(versions, expected, "{id}");
        let twin = hub.hub().get_twin(&id).expect("twin");
        assert_eq!(
            twin["properties"]["reported"]["seq"],
            json!(PATCHES),
            "{id}"
        );
        assert_eq!(twin["properties"]["reported"]["device"], json!(id));
    }
    hub.stop().await;
}

fn add_device_cli(dir: &Path, id: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_localhub"))
        .args([
            "--data-dir",
            dir.to_str().expect("utf-8"),
            "device",
            "add",
            id,
        ])
        .output()
        .expect("device add runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_reports_of_many_devices_survive_sigkill() {
    const DEVICES: usize = 24;
    let dir = TestDir::new("reported-kill");
    let mut server = ServerProcess::start(dir.path(), &[]);
    let info = HubInfo::read(dir.path())
        .expect("read")
        .expect("localhub.json");
    let ca = std::fs::read_to_string(&info.ca_certificate).expect("ca");
    let acknowledged: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    // Registered first: the CLI is a second writer on the database.
    let connections: Vec<(String, String)> = (0..DEVICES)
        .map(|index| {
            let id = format!("kill-{index:02}");
            let connection = add_device_cli(dir.path(), &id);
            (id, connection)
        })
        .collect();
    let mut tasks = Vec::new();
    for (id, connection) in connections {
        let connection = connection.parse().expect("a connection string");
        let (client, events) =
            DeviceClient::connect(connection, options(info.mqtt_port, ca.clone()))
                .await
                .expect("connects");
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            // Patches until the hub is gone; records each answered `seq`.
            for seq in 1.. {
                match client.patch_reported(json!({"seq": seq})).await {
                    Ok(_) => {
                        acknowledged.lock().expect("lock").insert(id.clone(), seq);
                    }
                    Err(_) => break,
                }
            }
            drop(events);
            client.shutdown().await;
        }));
    }
    // Let every device get several PATCHes answered, then kill the hub mid-stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = {
            let acknowledged = acknowledged.lock().expect("lock");
            acknowledged.len() == DEVICES && acknowledged.values().all(|&seq| seq >= 5)
        };
        if done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "devices too slow");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    // What any device was told was written, as of the kill (later answers cannot exist).
    let told = acknowledged.lock().expect("lock").clone();
    for task in tasks {
        // Their next PATCH would only time out.
        task.abort();
    }

    let _restarted = ServerProcess::start(dir.path(), &[]);
    let observer = Store::open(&dir.path().join(DATABASE_FILE)).expect("observer");
    for (id, seq) in told {
        let (version, values) = committed_reported(&observer, &id);
        let stored = values["seq"].as_i64().expect("a seq");
        assert!(
            stored >= seq,
            "{id}: acknowledged seq {seq}, but only {stored} survived"
        );
        assert!(version > seq, "{id}: version {version} for {seq} PATCHes");
    }
}
