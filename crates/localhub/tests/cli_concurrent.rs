//! The `localhub` CLI is a second writer on a running hub's database: `localhub device add`
//! must wait for the hub's write transactions, never fail with `database is locked`.
//!
//! `device_add_succeeds_while_the_hub_commits_reported_patches`: the `localhub` binary on
//! free ports, 12 devices sending reported PATCHes as fast as the answers come (each answered
//! only after its commit, so the hub writes all the time), and meanwhile `device add` run
//! 24 times, 4 processes at once. Every one must succeed and print a connection string that
//! a device can connect with.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use iothub::device::{DeviceClient, DeviceClientOptions};
use localhub::server::HubInfo;
use serde_json::json;
use support::{ServerProcess, TestDir};

fn options(port: u16, ca_pem: String) -> DeviceClientOptions {
    DeviceClientOptions {
        port: Some(port),
        extra_ca_pem: Some(ca_pem),
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        ..DeviceClientOptions::default()
    }
}

/// Runs `localhub --data-dir DIR device add ID`; its exit status, stdout and stderr.
fn device_add(dir: &Path, id: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_localhub"))
        .args([
            "--data-dir",
            dir.to_str().expect("utf-8"),
            "device",
            "add",
            id,
        ])
        .output()
        .expect("device add runs")
}

fn connection_string_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "device add failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_add_succeeds_while_the_hub_commits_reported_patches() {
    const LOADERS: usize = 12;
    const ADDS: usize = 24;
    const PARALLEL: usize = 4;
    let dir = TestDir::new("cli-concurrent");
    let _server = ServerProcess::start(dir.path(), &[]);
    let info = HubInfo::read(dir.path())
        .expect("read")
        .expect("localhub.json");
    let ca = std::fs::read_to_string(&info.ca_certificate).expect("ca");

    let stop = Arc::new(AtomicBool::new(false));
    let patches = Arc::new(AtomicU64::new(0));
    let mut loaders = Vec::new();
    for index in 0..LOADERS {
        let connection = connection_string_of(&device_add(dir.path(), &format!("load-{index:02}")));
        let (client, events) = DeviceClient::connect(
            connection.parse().expect("a connection string"),
            options(info.mqtt_port, ca.clone()),
        )
        .await
        .expect("connects");
        let stop = stop.clone();
        let patches = patches.clone();
        loaders.push(tokio::spawn(async move {
            let mut seq = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                client
                    .patch_reported(json!({"seq": seq, "note": "x".repeat(200)}))
                    .await
                    .expect("patched");
                patches.fetch_add(1, Ordering::Relaxed);
            }
            client.shutdown().await;
            drop(events);
        }));
    }
    // The load is on before the first add.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while patches.load(Ordering::Relaxed) < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the load never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let before = patches.load(Ordering::Relaxed);
    let mut added = Vec::new();
    for round in 0..ADDS / PARALLEL {
        let mut batch = Vec::new();
        for slot in 0..PARALLEL {
            let id = format!("cli-{round:02}-{slot}");
            let dir = dir.path().to_owned();
            batch.push(tokio::task::spawn_blocking(move || {
                let output = device_add(&dir, &id);
                (id, output)
            }));
        }
        for task in batch {
            let (id, output) = task.await.expect("device add task");
            assert!(
                output.status.success(),
                "device add {id} failed under load: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            added.push((id, connection_string_of(&output)));
        }
    }
    let during = patches.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.await.expect("loader");
    }
    // The hub really was writing while the adds ran.
    assert!(during >= 50, "only {during} PATCHes during the adds");

    // Every added device exists in the running hub: it connects and reports.
    assert_eq!(added.len(), ADDS);
    for (id, connection) in added.iter().step_by(5) {
        let (client, events) = DeviceClient::connect(
            connection.parse().expect("a connection string"),
            options(info.mqtt_port, ca.clone()),
        )
        .await
        .unwrap_or_else(|e| panic!("{id} does not connect: {e}"));
        client
            .patch_reported(json!({"added": true}))
            .await
            .expect("patched");
        client.shutdown().await;
        drop(events);
    }
}
