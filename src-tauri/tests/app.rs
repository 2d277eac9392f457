//! The app's commands and events on Tauri's mock runtime, against a real local hub (started
//! by the app itself, on port 0, in temporary dirs). No webview; the real window is covered
//! by tests/e2e.
//!
//! Contents:
//! - start-up reaches `ready` and announces it (`app_status`, `app-status`);
//! - the lock: connects, a direct method from an outside service client locks it
//!   (`lock-changed`, `lock-activity`, `lock_view`, `lock_activity`), knobs, disconnect;
//! - profiles: list, errors as `{code, message, field?}` (malformed string, bad colour,
//!   local profile not deletable, unknown profile), rename with `profiles-changed`;
//! - the local hub view and revealing its secret;
//! - jobs: defaults, submit a `lockDoor` job on this lock (`job-updated` to completed, the
//!   lock locks), `list_jobs`, `job_detail`, `render_job`, a taken job id as `hubRejected`, an
//!   invalid draft, an unknown argument value refused, `set_window_visible`;
//! - the fleet: `fleet_status`, a count that is not offered is `invalidInput`;
//! - a local hub that cannot start: the app is ready, the local profile carries the reason
//!   (`unavailable`), `local_hub_info` fails with it, `retry_local_hub` starts the hub once
//!   the cause is gone (`profiles-changed`);
//! - no keychain: `keychainUnavailable`;
//! - the real binary (ignored unless run under `tests/bin/with-keyring`; starts its own Xvfb
//!   when there is no display): SIGTERM and SIGINT shut it down with exit code 0, the local
//!   hub's database closed cleanly and reopenable;
//! - unknown commands are refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iothub::model::CloudToDeviceMethod;
use lockstep_core::secrets::{MemorySecretStore, SecretOpener};
use lockstep_core::{CoreConfig, LocalHubPorts};
use serde_json::{Value, json};
use tauri::Listener;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;

/// How long a test waits for something that should happen promptly.
const PATIENCE: Duration = Duration::from_secs(20);

/// Temporary app dirs, removed when dropped.
struct TestDir(PathBuf);

impl TestDir {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |e| e.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "lockstep-app-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).expect("create the test dir");
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

struct TestApp {
    app: tauri::App<MockRuntime>,
    window: tauri::WebviewWindow<MockRuntime>,
    _dir: TestDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        lockstep_lib::shutdown(&self.app);
    }
}

/// The app on the mock runtime with its dirs in a temp dir, the local hub on port 0 and
/// secrets from `secrets`.
fn app_with(secrets: SecretOpener) -> TestApp {
    app_in(TestDir::new(), secrets)
}

/// The app on the mock runtime with its dirs in `dir` (prepared by the test).
fn app_in(dir: TestDir, secrets: SecretOpener) -> TestApp {
    let config = CoreConfig {
        data_dir: dir.path().join("data"),
        config_dir: dir.path().join("config"),
        ports: LocalHubPorts::Any,
        secrets,
        downloads_dir: None,
    };
    let app = lockstep_lib::builder(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("app builds on the mock runtime");
    // The mock runtime runs no setup hook: start the core with the test's dirs.
    lockstep_lib::start(app.handle(), config);
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main window");
    TestApp {
        app,
        window,
        _dir: dir,
    }
}

fn app() -> TestApp {
    app_with(SecretOpener::fixed(Arc::new(MemorySecretStore::default())))
}

impl TestApp {
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().expect("json answer"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|error| panic!("{cmd} failed: {error}"))
    }

    /// Payloads of `event` from now on.
    fn listen(&self, event: &str) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel();
        self.app.listen(event, move |event| {
            if let Ok(payload) = serde_json::from_str(event.payload()) {
                let _ = tx.send(payload);
            }
        });
        rx
    }

    /// Polls `cmd` until its answer satisfies `predicate`.
    fn until(&self, cmd: &str, what: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer = self.ok(cmd, json!({}));
            if predicate(&answer) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}: {answer}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ready(&self) {
        self.until("app_status", "the app is ready", |s| s["state"] == "ready");
    }

    fn connected(&self) -> Value {
        self.until("lock_view", "the lock is connected", |v| {
            v["connection"]["state"] == "connected"
        })
    }
}

/// The next payload of `events` that satisfies `predicate`.
fn next_matching(events: &mpsc::Receiver<Value>, predicate: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let payload = events.recv_timeout(left).expect("the event arrived");
        if predicate(&payload) {
            return payload;
        }
    }
}

#[test]
fn start_up_reaches_ready_and_says_so() {
    let app = app();
    let statuses = app.listen("app-status");
    app.ready();
    assert_eq!(app.ok("app_status", json!({})), json!({"state": "ready"}));
    // Either the event came after listening, or start-up was already done; both end ready.
    if let Ok(status) = statuses.recv_timeout(Duration::from_millis(200)) {
        assert!(
            status["state"] == "ready" || status["state"] == "starting",
            "{status}"
        );
    }
    assert_eq!(app.ok("retry_start", json!({})), json!({"state": "ready"}));
}

#[test]
fn a_direct_method_from_outside_locks_the_lock_with_events() {
    let app = app();
    app.ready();
    let view = app.connected();
    assert_eq!(view["deviceId"], "door-lock-1");
    assert_eq!(view["state"], "unlocked");
    assert_eq!(view["profileId"], "local");
    let changes = app.listen("lock-changed");
    let activity = app.listen("lock-activity");

    let connection = app
        .ok("reveal_secret", json!({"kind": "serviceConnectionString"}))
        .as_str()
        .expect("a string")
        .to_owned();
    let info = app.ok("local_hub_info", json!({}));
    let ca = std::fs::read_to_string(info["caPath"].as_str().expect("path")).expect("CA");
    let outside =
        lockstep_core::hub::service_client(connection.parse().expect("parses"), Some(&ca), false)
            .expect("client");
    let answer = tauri::async_runtime::block_on(outside.invoke_method(
        "door-lock-1",
        &CloudToDeviceMethod::new("lockDoor", json!({"lockTime": "10m"})),
    ))
    .expect("the lock answers");
    assert_eq!(answer.status, Some(200));

    let locked = next_matching(&changes, |v| v["state"] == "locked");
    assert!(locked["lockedUntil"].is_string(), "{locked}");
    let entry = next_matching(&activity, |e| e["detail"]["kind"] == "method");
    assert_eq!(entry["detail"]["name"], "lockDoor");
    assert_eq!(entry["detail"]["status"], 200);
    assert_eq!(entry["detail"]["payload"], json!({"lockTime": "10m"}));
    let log = app.ok("lock_activity", json!({}));
    assert!(
        log.as_array()
            .expect("entries")
            .iter()
            .any(|e| e["id"] == entry["id"])
    );
    assert_eq!(app.ok("lock_view", json!({}))["state"], "locked");

    // Knobs, then disconnect and connect.
    let view = app.ok(
        "set_lock_knobs",
        json!({"knobs": {"respondWithStatus": null, "neverRespond": false, "offline": true}}),
    );
    assert_eq!(view["knobs"]["offline"], true);
    next_matching(&changes, |v| v["connection"]["state"] == "offline");
    app.ok(
        "set_lock_knobs",
        json!({"knobs": {"respondWithStatus": null, "neverRespond": false, "offline": false}}),
    );
    app.connected();
    let view = app.ok("disconnect_lock", json!({}));
    assert_eq!(view["connection"]["state"], "disconnected");
    app.ok("connect_lock", json!({}));
    app.connected();
    assert_eq!(
        app.ok("list_hub_devices", json!({})),
        json!(["door-lock-1"])
    );
    app.ok("clear_activity", json!({}));
    assert_eq!(app.ok("lock_activity", json!({})), json!([]));
}

#[test]
fn profile_commands_answer_and_fail_with_codes_and_fields() {
    let app = app();
    app.ready();
    let profiles = app.ok("list_profiles", json!({}));
    assert_eq!(profiles["activeId"], "local");
    assert_eq!(
        profiles["profiles"][0],
        json!({"id": "local", "name": "Local hub", "kind": "local",
               "hostName": profiles["profiles"][0]["hostName"], "colour": "#3b82f6",
               "unavailable": null, "tier": null, "queriesPerMinute": null})
    );

    let error = app
        .invoke(
            "add_azure_profile",
            json!({"request": {"name": "bad", "connectionString": "HostName=x.azure-devices.net"}}),
        )
        .expect_err("malformed");
    assert_eq!(error["code"], "invalidInput");
    assert_eq!(error["field"], "connectionString");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .contains("SharedAccessKeyName is missing"),
        "{error}"
    );
    assert_eq!(
        app.ok("list_profiles", json!({}))["profiles"]
            .as_array()
            .expect("profiles")
            .len(),
        1
    );

    let unreachable = app
        .invoke(
            "add_azure_profile",
            json!({"request": {"name": "nowhere", "connectionString":
                "HostName=127.0.0.1:1;SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0"}}),
        )
        .expect_err("unreachable");
    assert_eq!(unreachable["code"], "hubUnreachable");
    assert!(unreachable.get("field").is_none());

    let changed = app.listen("profiles-changed");
    let renamed = app.ok(
        "rename_profile",
        json!({"id": "local", "name": "Bench hub"}),
    );
    assert_eq!(renamed["profiles"][0]["name"], "Bench hub");
    let event = next_matching(&changed, |_| true);
    assert_eq!(event["profiles"][0]["name"], "Bench hub");

    let colour = app
        .invoke(
            "set_profile_colour",
            json!({"id": "local", "colour": "red"}),
        )
        .expect_err("bad colour");
    assert_eq!(
        (colour["code"].clone(), colour["field"].clone()),
        (json!("invalidInput"), json!("colour"))
    );
    let tier = app
        .invoke(
            "set_profile_tier",
            json!({"id": "local", "tier": {"name": "S3", "units": 1}}),
        )
        .expect_err("the local hub has no tier");
    assert_eq!(
        (tier["code"].clone(), tier["field"].clone()),
        (json!("invalidInput"), json!("tier"))
    );
    let delete = app
        .invoke("delete_profile", json!({"id": "local"}))
        .expect_err("the local profile stays");
    assert_eq!(delete["code"], "invalidInput");
    let unknown = app
        .invoke("switch_profile", json!({"id": "nope"}))
        .expect_err("no such profile");
    assert_eq!(unknown["code"], "notFound");
    assert_eq!(
        app.ok("switch_profile", json!({"id": "local"}))["activeId"],
        "local"
    );
}

#[test]
fn the_local_hub_view_masks_secrets_until_revealed() {
    let app = app();
    app.ready();
    let info = app.ok("local_hub_info", json!({}));
    assert_eq!(info["hostName"], "localhost");
    assert_eq!(info["preferredPorts"], false);
    assert!(info["portNote"].is_string());
    assert_eq!(info["deviceCount"], 1);
    let masked = info["serviceConnectionString"]["masked"]
        .as_str()
        .expect("masked");
    assert!(masked.ends_with("SharedAccessKey=••••••••"), "{masked}");
    let revealed = app.ok("reveal_secret", json!({"kind": "deviceConnectionString"}));
    let revealed = revealed.as_str().expect("a string");
    assert!(revealed.starts_with("HostName=localhost;DeviceId=door-lock-1;SharedAccessKey="));
    assert!(!revealed.contains('•'));
}

#[test]
fn without_a_keychain_the_app_says_what_to_install() {
    let app = app_with(SecretOpener::new(|| {
        Err(lockstep_keychain::KeychainError::Unavailable {
            detail: "org.freedesktop.DBus.Error.ServiceUnknown".into(),
            hint: "install gnome-keyring",
        })
    }));
    let status = app.until("app_status", "start-up ended", |s| s["state"] != "starting");
    assert_eq!(
        status,
        json!({"state": "keychainUnavailable",
               "detail": "org.freedesktop.DBus.Error.ServiceUnknown",
               "hint": "install gnome-keyring"})
    );
    let retried = app.ok("retry_start", json!({}));
    assert_eq!(retried["state"], "keychainUnavailable");
    let error = app
        .invoke("local_hub_info", json!({}))
        .expect_err("no local hub");
    assert_eq!(error["code"], "notFound");
}

#[test]
#[ignore = "needs a Secret Service: run under tests/bin/with-keyring ... -- --include-ignored"]
fn with_the_real_keychain_the_app_starts() {
    let app = app_with(SecretOpener::keychain());
    app.ready();
    app.connected();
}

#[test]
fn unknown_commands_are_refused() {
    let app = app();
    assert!(app.invoke("no_such_command", json!({})).is_err());
    assert!(app.invoke("toggle_door_lock", json!({})).is_err());
}

#[test]
fn a_submitted_job_is_updated_listed_and_detailed() {
    let app = app();
    app.ready();
    app.connected();
    let updates = app.listen("job-updated");
    let defaults = app.ok("job_defaults", json!({}));
    assert_eq!(defaults["lockDeviceId"], "door-lock-1");
    let mut draft = defaults["draft"].clone();
    draft["queryCondition"] = json!("deviceId = 'door-lock-1'");
    draft["methodName"] = json!("lockDoor");
    let job_id = draft["jobId"].as_str().expect("a job id").to_owned();
    assert_eq!(
        app.ok("validate_job", json!({"draft": draft})),
        json!([]),
        "the draft is valid"
    );

    let outcome = app.ok("submit_job", json!({"draft": draft}));
    assert_eq!(outcome["outcome"], "submitted", "{outcome}");
    assert_eq!(outcome["job"]["jobId"], job_id.as_str());
    let done = next_matching(&updates, |u| {
        u["jobId"] == job_id.as_str() && u["summary"]["status"] == "completed"
    });
    assert_eq!(done["summary"]["progress"]["succeededCount"], 1);
    assert_eq!(done["profileId"], "local");
    app.until("lock_view", "the lock is locked", |v| {
        v["state"] == "locked"
    });

    let jobs = app.ok("list_jobs", json!({"filter": {"statuses": ["completed"]}}));
    assert!(
        jobs.as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["jobId"] == job_id.as_str()),
        "{jobs}"
    );
    let detail = app.ok("job_detail", json!({"jobId": job_id}));
    assert_eq!(detail["job"]["summary"]["createdByMe"], true);
    let rest = app.ok("render_job", json!({"draft": draft, "form": "rest"}));
    assert!(
        rest.as_str().expect("text").starts_with("PUT https://"),
        "{rest}"
    );

    // The same id again: the hub's refusal in words.
    let refused = app
        .invoke("submit_job", json!({"draft": draft}))
        .expect_err("refused");
    assert_eq!(refused["code"], "hubRejected", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("already exists"),
        "{refused}"
    );
    // An invalid draft is an outcome, not an error.
    let invalid = app.ok(
        "submit_job",
        json!({"draft": {"queryCondition": "", "methodName": ""}}),
    );
    assert_eq!(invalid["outcome"], "invalid");
    assert!(invalid["errors"].as_array().is_some_and(|e| !e.is_empty()));
    // Unknown argument values are refused before the core sees them.
    let bad_form = app
        .invoke("render_job", json!({"draft": draft, "form": "powershell"}))
        .expect_err("refused");
    assert!(bad_form.to_string().contains("powershell"), "{bad_form}");
    let not_found = app
        .invoke("job_detail", json!({"jobId": "no-such-job"}))
        .expect_err("refused");
    assert_eq!(not_found["code"], "notFound");
    assert_eq!(
        app.ok("set_window_visible", json!({"visible": false})),
        Value::Null
    );
    assert_eq!(
        app.ok("set_window_visible", json!({"visible": true})),
        Value::Null
    );
}

#[test]
fn the_fleet_is_offered_on_the_local_hub_with_fixed_counts() {
    let app = app();
    app.ready();
    let fleet = app.ok("fleet_status", json!({}));
    assert_eq!(
        fleet,
        json!({"available": true, "devices": 0, "connected": 0, "adding": false, "note": null})
    );
    let refused = app
        .invoke("add_simulated_devices", json!({"count": 7}))
        .expect_err("refused");
    assert_eq!(refused["code"], "invalidInput", "{refused}");
    assert_eq!(refused["field"], "count");
}

#[test]
fn a_local_hub_that_cannot_start_is_reported_and_retried() {
    let dir = TestDir::new();
    let in_the_way = dir.path().join("data").join("localhub");
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    std::fs::write(&in_the_way, b"a file where the hub's folder goes").expect("file");
    let app = app_in(
        dir,
        SecretOpener::fixed(Arc::new(MemorySecretStore::default())),
    );
    app.ready();
    let profiles = app.ok("list_profiles", json!({}));
    let local = &profiles["profiles"][0];
    assert_eq!(local["kind"], "local");
    let reason = local["unavailable"].as_str().expect("a reason").to_owned();
    assert!(
        reason.contains("cannot use the data directory")
            && reason.contains(&in_the_way.display().to_string()),
        "{reason}"
    );
    let error = app
        .invoke("local_hub_info", json!({}))
        .expect_err("no local hub");
    assert_eq!(error, json!({"code": "notFound", "message": reason}));
    let error = app
        .invoke("retry_local_hub", json!({}))
        .expect_err("still broken");
    assert_eq!(error["message"], reason.as_str());

    let changes = app.listen("profiles-changed");
    std::fs::remove_file(&in_the_way).expect("remove the file");
    let info = app.ok("retry_local_hub", json!({}));
    assert_eq!(info["deviceCount"], 1);
    let changed = next_matching(&changes, |view| {
        view["profiles"][0]["unavailable"].is_null()
    });
    assert_eq!(changed["activeId"], "local");
    assert!(app.ok("list_profiles", json!({}))["profiles"][0]["unavailable"].is_null());
    app.connected();
}

// ---- The real binary and termination signals ----

/// An X display for the real window: the caller's, or a private Xvfb (stopped on drop).
struct Display {
    name: String,
    xvfb: Option<std::process::Child>,
}

impl Display {
    fn get() -> Self {
        if let Ok(name) = std::env::var("DISPLAY")
            && !name.is_empty()
        {
            return Self { name, xvfb: None };
        }
        // -displayfd: Xvfb picks a free display and writes its number when it is ready.
        let mut xvfb = std::process::Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb starts (apt install xvfb)");
        let mut line = String::new();
        let stdout = xvfb.stdout.take().expect("Xvfb's stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("Xvfb says its display");
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb printed no display number");
        Self {
            name: format!(":{number}"),
            xvfb: Some(xvfb),
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(xvfb) = &mut self.xvfb {
            let _ = xvfb.kill();
            let _ = xvfb.wait();
        }
    }
}

/// Starts the real app on fresh XDG dirs in `dir`, waits until its local hub runs, sends
/// `signal` (a name `kill` knows) and asserts a clean exit with code 0 and a database that
/// was closed and opens again.
fn signal_stops_the_app_cleanly(signal: &str) {
    let display = Display::get();
    let dir = TestDir::new();
    let mut app = std::process::Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .env("DISPLAY", &display.name)
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env_remove("WAYLAND_DISPLAY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the app starts");
    let hub_dir = dir
        .path()
        .join("data")
        .join("dev.lockstep.app")
        .join("localhub");
    let info = hub_dir.join("localhub.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !info.is_file() {
        if let Some(status) = app.try_wait().expect("wait") {
            panic!("the app ended before its local hub started: {status}");
        }
        assert!(Instant::now() < deadline, "the local hub did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let start-up finish (the lock device registered and connected).
    std::thread::sleep(Duration::from_secs(2));

    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), app.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = app.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = app.kill();
            panic!("the app did not exit within 30 s of {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{signal}: {status}");

    // The hub's database was closed: no write-ahead log left, and localhub opens it again.
    let wal = hub_dir.join(format!("{}-wal", localhub::server::DATABASE_FILE));
    assert!(!wal.exists(), "{} is left behind", wal.display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let running = localhub::server::start(localhub::server::Config {
            mqtt_port: 0,
            https_port: 0,
            ..localhub::server::Config::new(&hub_dir)
        })
        .await
        .expect("the hub reopens its data");
        assert!(running.hub().get_device("door-lock-1").is_ok());
        running.shutdown().await;
    });
}

#[test]
#[ignore = "starts the real app: needs a Secret Service (tests/bin/with-keyring ... -- --include-ignored) and Xvfb"]
fn sigterm_shuts_the_real_app_down_with_exit_code_0() {
    signal_stops_the_app_cleanly("TERM");
}

#[test]
#[ignore = "starts the real app: needs a Secret Service (tests/bin/with-keyring ... -- --include-ignored) and Xvfb"]
fn sigint_shuts_the_real_app_down_with_exit_code_0() {
    signal_stops_the_app_cleanly("INT");
}
