//! Helpers shared by the integration tests: temporary data dirs and a whole hub started on
//! port 0 (never a fixed port).
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use localhub::server::{self, Config, RunningHub};

/// A fresh directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// A new, empty directory whose name starts with `localhub-{label}-`.
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "localhub-{label}-{}",
            uuid::Uuid::new_v4().simple()
        ));
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

/// The configuration of a test hub in `dir`: host `localhost`, both ports 0.
pub fn test_config(dir: &Path) -> Config {
    Config {
        mqtt_port: 0,
        https_port: 0,
        ..Config::new(dir)
    }
}

/// Starts a hub on `dir` (port 0 for both endpoints).
pub async fn start_hub_in(dir: &Path) -> RunningHub {
    server::start(test_config(dir))
        .await
        .expect("the hub starts")
}

/// A hub running in its own temporary data dir.
///
/// Dropping it stops the hub (without waiting) and removes the dir; [`TestHub::stop`] waits
/// for every task and hands the dir back, e.g. to start again on the same data.
#[derive(Debug)]
pub struct TestHub {
    // Declared first so that it is dropped (and the hub stopped) before the dir goes.
    running: RunningHub,
    dir: TestDir,
}

impl TestHub {
    /// The running hub.
    pub fn running(&self) -> &RunningHub {
        &self.running
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the hub gracefully and returns its data dir.
    pub async fn stop(self) -> TestDir {
        let Self { running, dir } = self;
        running.shutdown().await;
        dir
    }
}

impl std::ops::Deref for TestHub {
    type Target = RunningHub;

    fn deref(&self) -> &RunningHub {
        &self.running
    }
}

/// Starts a hub on port 0 in a new temporary data dir.
pub async fn start_hub() -> TestHub {
    let dir = TestDir::new("hub");
    let running = start_hub_in(dir.path()).await;
    TestHub { running, dir }
}

/// Restarts a stopped hub's data dir.
pub async fn restart_hub(dir: TestDir) -> TestHub {
    let running = start_hub_in(dir.path()).await;
    TestHub { running, dir }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// A job scheduler running on its own task, and the means to stop or kill it.
pub struct Scheduler {
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Scheduler {
    /// Runs `hub`'s job scheduler until stopped.
    pub fn start(hub: &localhub::Hub) -> Self {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let hub = hub.clone();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { hub.run_jobs(token).await });
        Self { shutdown, task }
    }

    /// Kills the scheduler as SIGKILL would: nothing more is written.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Stops the scheduler gracefully and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("the scheduler stops");
    }
}

/// The `localhub` binary serving `dir` on free ports; killed when dropped if still running.
pub struct ServerProcess {
    /// The process.
    pub child: std::process::Child,
    /// The first line it printed (the "ready" line).
    pub ready_line: String,
}

impl ServerProcess {
    /// Starts `localhub --data-dir DIR --https-port 0 --mqtt-port 0 EXTRA…` and waits for its
    /// ready line.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        use std::io::{BufRead as _, BufReader};
        use std::process::{Command, Stdio};

        let data_dir = dir.to_str().expect("utf-8 path");
        let mut child = Command::new(env!("CARGO_BIN_EXE_localhub"))
            .args([
                "--data-dir",
                data_dir,
                "--https-port",
                "0",
                "--mqtt-port",
                "0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("localhub starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut ready_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut ready_line)
            .expect("a line");
        Self { child, ready_line }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
