//! The `localhub` binary as a process: what a user (or the interop suite) runs.
//!
//! The binary belongs to another package, so Cargo does not build it for these tests nor set
//! `CARGO_BIN_EXE_localhub`: it is looked up next to this test's executable
//! (`target/<profile>/localhub`) after one `cargo build -p localhub --bin localhub` per run,
//! which is a no-op when it is fresh and keeps a stale binary from being tested. As in the
//! interop suite, `LOCALHUB_BIN` names a binary to use instead (no build).
//! Every hub runs with `--https-port 0 --mqtt-port 0` in its own temporary data dir; readiness
//! is the "localhub is ready" line on stdout, then `localhub.json`.
//!
//! Contents:
//! - `everything_acknowledged_survives_sigkill`: 20 devices and twin patches, each answered
//!   200, then `kill -9`; after a restart on the same dir every one is there, and the CA and
//!   the owner key are unchanged.
//! - `sigterm_stops_the_hub_cleanly`: exit status 0 within a few seconds, with a device
//!   connected.
//! - `device_add_prints_a_connection_string_our_device_client_connects_with`
//! - `bad_command_lines_fail_with_a_message_not_a_panic`

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, TryRecvError};
use std::time::Duration;

use iothub::auth::{DeviceConnectionString, ServiceConnectionString};
use iothub::model::{CloudToDeviceMethod, DeviceIdentity, Twin};
use iothub::service::{IfMatch, ServiceClient};
use localhub::server::{HubInfo, INFO_FILE};
use serde_json::json;
use support::{Door, TestDir, device_options, service_client};

/// How long a hub process may take to start or to stop.
const PROCESS_PATIENCE: Duration = Duration::from_secs(20);

/// The `localhub` binary of the current sources, built once per test run.
fn localhub_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("LOCALHUB_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("the test executable's path");
        // target/<profile>/deps/localhub_process-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable is in target/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--quiet", "-p", "localhub", "--bin", "localhub"])
            .arg("--target-dir")
            .arg(target_dir);
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("cargo runs");
        assert!(status.success(), "`cargo build -p localhub` failed");
        let bin = profile_dir.join(format!("localhub{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

/// `localhub` with `args`, output captured; fails the test if it runs for more than
/// [`PROCESS_PATIENCE`].
fn run_cli(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(localhub_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("localhub starts");
    let deadline = std::time::Instant::now() + PROCESS_PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for localhub") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`localhub {}` did not exit", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut stdout).expect("stdout");
    }
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("stderr");
    }
    (status, stdout, stderr)
}

/// A `localhub` server process on ports 0, killed (SIGKILL) when dropped.
struct HubProcess {
    child: Child,
    data_dir: PathBuf,
    log: PathBuf,
}

impl HubProcess {
    /// Starts `localhub --data-dir DIR --https-port 0 --mqtt-port 0` and waits until it says
    /// it is ready. Its log (stderr) goes to `log-<n>.txt` next to the data.
    async fn start(data_dir: &Path, run: u32) -> Self {
        let log = data_dir.join(format!("log-{run}.txt"));
        let mut child = Command::new(localhub_bin())
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--https-port", "0", "--mqtt-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("the log file"))
            .spawn()
            .expect("localhub starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (ready_sender, ready) = mpsc::channel();
        // Reads stdout to the end, so the hub can never block on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("localhub is ready") {
                    let _ = ready_sender.send(());
                }
            }
        });
        let mut hub = Self {
            child,
            data_dir: data_dir.to_owned(),
            log,
        };
        let deadline = tokio::time::Instant::now() + PROCESS_PATIENCE;
        loop {
            match ready.try_recv() {
                Ok(()) => break,
                Err(TryRecvError::Disconnected) => {
                    let status = hub.child.wait().expect("wait for localhub");
                    panic!("localhub exited with {status}:\n{}", hub.log_text());
                }
                Err(TryRecvError::Empty) => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "localhub did not get ready:\n{}",
                hub.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            data_dir.join(INFO_FILE).exists(),
            "ready, but no {INFO_FILE}"
        );
        hub
    }

    /// What `localhub.json` says.
    fn info(&self) -> HubInfo {
        HubInfo::read(&self.data_dir)
            .expect("localhub.json reads")
            .expect("localhub.json exists")
    }

    /// Our service client for this hub, from `localhub.json` alone, as an app would do it.
    fn service(&self) -> ServiceClient {
        let info = self.info();
        let connection: ServiceConnectionString = info
            .service_connection_string
            .parse()
            .expect("a valid service connection string");
        let ca = std::fs::read(&info.ca_certificate).expect("the CA file");
        service_client(connection, &ca)
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `patience` for the process to exit.
    async fn wait_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for localhub") {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait for localhub");
    }

    /// Its stderr so far (localhub never logs keys or tokens).
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn twin(body: serde_json::Value) -> Twin {
    serde_json::from_value(body).expect("a twin body")
}

fn primary_key(identity: &DeviceIdentity) -> String {
    identity
        .authentication
        .as_ref()
        .and_then(|auth| auth.symmetric_key.as_ref())
        .and_then(|keys| keys.expose_primary_key())
        .expect("a primary key")
        .to_owned()
}

/// A `localhub.json`'s owner credentials: host, policy name, key (the HostName's port is
/// whatever port 0 gave that run).
fn owner_credentials(info: &HubInfo) -> (String, String, String) {
    let connection: ServiceConnectionString = info
        .service_connection_string
        .parse()
        .expect("a valid service connection string");
    (
        connection.host().to_owned(),
        connection.shared_access_key_name().to_owned(),
        connection.shared_access_key().expose_base64(),
    )
}

#[tokio::test]
async fn everything_acknowledged_survives_sigkill() {
    let dir = TestDir::new("sigkill");
    let hub = HubProcess::start(dir.path(), 1).await;
    let before = hub.info();
    let ca_before = std::fs::read(&before.ca_certificate).expect("the CA");
    let service = hub.service();

    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let id = format!("durable-{n:02}");
        let created = service
            .create_device(&id, &DeviceIdentity::default())
            .await
            .expect("created (200)");
        let patched = service
            .patch_twin(
                &id,
                &twin(json!({"tags": {"n": n}, "properties": {"desired": {"floor": n}}})),
                &IfMatch::Any,
            )
            .await
            .expect("patched (200)");
        let version = patched
            .properties
            .and_then(|p| p.desired)
            .and_then(|d| d.version)
            .expect("a desired $version");
        acknowledged.push((id, n, primary_key(&created), version));
    }
    drop(service);
    hub.kill();

    let hub = HubProcess::start(dir.path(), 2).await;
    let after = hub.info();
    assert!(
        owner_credentials(&after) == owner_credentials(&before),
        "the owner policy and key survive a restart"
    );
    assert_eq!(after.host_name, before.host_name);
    assert_eq!(after.ca_certificate, before.ca_certificate);
    let ca_after = std::fs::read(&after.ca_certificate).expect("the CA");
    assert!(ca_after == ca_before, "the CA survives a restart");

    let service = hub.service();
    let listed = service.list_devices(Some(1000)).await.expect("listed");
    assert_eq!(listed.len(), acknowledged.len());
    for (id, n, key, version) in &acknowledged {
        let device = service.get_device(id).await.expect("the device survived");
        assert!(primary_key(&device) == *key, "{id} kept its key");
        let twin = service.get_twin(id).await.expect("the twin survived");
        assert_eq!(
            twin.tags.and_then(|tags| tags.get("n").cloned()),
            Some(json!(n))
        );
        let desired = twin.properties.and_then(|p| p.desired).expect("desired");
        assert_eq!(desired.values.get("floor"), Some(&json!(n)), "{id}");
        assert_eq!(desired.version, Some(*version), "{id}");
    }
    drop(service);
    hub.kill();
}

#[tokio::test]
async fn sigterm_stops_the_hub_cleanly() {
    let dir = TestDir::new("sigterm");
    let mut hub = HubProcess::start(dir.path(), 1).await;
    let info = hub.info();
    let identity = hub
        .service()
        .create_device("term-door", &DeviceIdentity::default())
        .await
        .expect("created");
    let connection_string =
        support::device_connection_string(&info.host_name, "term-door", &identity);
    let ca = std::fs::read_to_string(&info.ca_certificate).expect("the CA");
    let door = Door::connect(connection_string, device_options(info.mqtt_port, &ca)).await;

    hub.terminate();
    let status = hub
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("localhub exits within 10 s of SIGTERM");
    let log = hub.log_text();
    assert!(status.success(), "exit status {status}:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    door.shutdown().await;
}

#[tokio::test]
async fn device_add_prints_a_connection_string_our_device_client_connects_with() {
    let dir = TestDir::new("device-add");
    let hub = HubProcess::start(dir.path(), 1).await;
    let info = hub.info();
    let data_dir = dir.path().to_str().expect("a UTF-8 temp dir");

    let (status, stdout, stderr) = run_cli(&["--data-dir", data_dir, "device", "add", "door-1"]);
    assert!(status.success(), "device add failed: {stderr}");
    // Not printed on failure: the line carries the device key.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line: the connection string");
    let connection_string: DeviceConnectionString =
        lines[0].parse().expect("a valid device connection string");
    assert_eq!(connection_string.device_id(), "door-1");
    assert_eq!(connection_string.host(), info.host_name);

    let ca = std::fs::read_to_string(&info.ca_certificate).expect("the CA");
    let mut door = Door::connect(connection_string, device_options(info.mqtt_port, &ca)).await;
    // The running hub routes a method to it: the registry write of `device add` is the
    // server's registry too.
    let result = hub
        .service()
        .invoke_method(
            "door-1",
            &CloudToDeviceMethod {
                connect_timeout_in_seconds: Some(10),
                ..CloudToDeviceMethod::new("lockDoor", json!({"lockTime": "10m"}))
            },
        )
        .await
        .expect("answered");
    assert_eq!(result.status, Some(200));
    assert_eq!(door.next_method().await.name, "lockDoor");

    let (status, stdout, stderr) = run_cli(&["--data-dir", data_dir, "device", "list"]);
    assert!(status.success(), "device list failed: {stderr}");
    assert_eq!(stdout.trim_end(), "door-1\tenabled");
    door.shutdown().await;
    hub.kill();
}

#[test]
fn bad_command_lines_fail_with_a_message_not_a_panic() {
    let dir = TestDir::new("bad-cli");
    let data_dir = dir.path().to_str().expect("a UTF-8 temp dir");
    // (arguments, what stderr must mention)
    let table: [(&[&str], &str); 5] = [
        (
            &["--data-dir", data_dir, "--no-such-flag"],
            "--no-such-flag",
        ),
        (&["--data-dir", data_dir, "device", "add"], "<ID>"),
        (&["device", "list"], "--data-dir"),
        (
            &["--data-dir", data_dir, "--https-port", "not-a-port"],
            "not-a-port",
        ),
        (
            &[
                "--data-dir",
                data_dir,
                "--https-port",
                "0",
                "--mqtt-port",
                "0",
                "--host",
                "not a host",
            ],
            "not a host",
        ),
    ];
    for (args, mention) in table {
        let (status, _, stderr) = run_cli(args);
        let shown = args.join(" ");
        assert!(!status.success(), "`localhub {shown}` succeeded");
        assert_ne!(status.code(), Some(101), "`localhub {shown}` panicked");
        assert!(!stderr.contains("panicked"), "`localhub {shown}`: {stderr}");
        assert!(
            stderr.contains(mention),
            "`localhub {shown}` does not mention {mention:?}: {stderr}"
        );
    }
}
