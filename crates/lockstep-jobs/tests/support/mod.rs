//! Helpers for the integration tests: a localhub in-process on port 0 (MQTT and HTTPS) in
//! its own temporary dir, our service client trusting its CA, fleets of simulated door
//! locks connected to it, and waiting for job updates.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use iothub::service::{ServiceClient, ServiceClientOptions};
use localhub::server::{self, Config, RunningHub};
use lockstep_jobs::watch::JobUpdate;
use simulator::fleet::{Fleet, FleetConfig, HubTarget};
use tokio::sync::mpsc;

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A fresh directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// A new, empty directory whose name starts with `lockstep-jobs-{label}-`.
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("lockstep-jobs-{label}-{}", uuid_like()));
        std::fs::create_dir_all(&path).expect("create the test dir");
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn uuid_like() -> String {
    lockstep_jobs::draft::new_job_id()
}

/// A localhub running in this process on port 0, with our service client.
#[derive(Debug)]
pub struct TestHub {
    // First, so that the hub stops before its dir goes.
    running: RunningHub,
    service: ServiceClient,
    dir: TestDir,
}

impl TestHub {
    /// Starts a hub in a fresh dir.
    pub async fn start() -> Self {
        let dir = TestDir::new("hub");
        let config = Config {
            mqtt_port: 0,
            https_port: 0,
            ..Config::new(dir.path())
        };
        let running = server::start(config).await.expect("localhub starts");
        let options = ServiceClientOptions {
            extra_ca_pem: Some(running.ca_pem().as_bytes().to_vec()),
            ..ServiceClientOptions::default()
        };
        let service = ServiceClient::new(running.service_connection_string().clone(), options)
            .expect("the service client builds");
        Self {
            running,
            service,
            dir,
        }
    }

    /// Our service client.
    pub fn service(&self) -> &ServiceClient {
        &self.service
    }

    /// The running hub.
    pub fn running(&self) -> &RunningHub {
        &self.running
    }

    /// Starts `count` simulated door locks `{prefix}-0000`… tagged over `buildings`
    /// buildings, and waits until the hub routes methods and desired patches to each.
    pub async fn fleet(&self, prefix: &str, count: usize, buildings: u32) -> Fleet {
        let mut config = FleetConfig::new(
            HubTarget::LocalHub {
                dir: self.dir.path().to_owned(),
            },
            count,
        );
        config.id_prefix = prefix.to_owned();
        config.buildings = buildings;
        config.floors = 1;
        let fleet = Fleet::start(config).await.expect("the fleet starts");
        for device in fleet.devices() {
            let id = device.device_id().to_owned();
            eventually("the device subscribed", || {
                let subscriptions = self.running.hub().subscriptions(&id);
                subscriptions.methods && subscriptions.desired
            })
            .await;
        }
        fleet
    }

    /// Stops the hub, waiting for its tasks.
    pub async fn stop(self) {
        let Self {
            running,
            service,
            dir,
        } = self;
        drop(service);
        running.shutdown().await;
        drop(dir);
    }
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after [`PATIENCE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Receives updates until one for `job_id` satisfies `pick`; panics after `within`.
/// Returns every update of that job seen on the way, the matching one last. Updates of other
/// jobs are dropped, so use it only while no other job's updates matter.
pub async fn updates_until(
    receiver: &mut mpsc::Receiver<JobUpdate>,
    job_id: &str,
    within: Duration,
    mut pick: impl FnMut(&JobUpdate) -> bool,
) -> Vec<JobUpdate> {
    let mut seen = Vec::new();
    let result = tokio::time::timeout(within, async {
        loop {
            let update = receiver.recv().await.expect("the watcher is running");
            if update.job_id != job_id {
                continue;
            }
            let done = pick(&update);
            seen.push(update);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "no matching update for {job_id} within {within:?}; seen: {seen:#?}"
    );
    seen
}

/// The status of an update's summary, or "" without one.
pub fn status(update: &JobUpdate) -> &str {
    update.summary.as_ref().map_or("", |s| s.status.as_str())
}
