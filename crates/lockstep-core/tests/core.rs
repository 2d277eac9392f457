//! `lockstep_core::Core` against real local hubs (in-process localhub on port 0, real TLS,
//! real SQLite on disk), as the app drives it.
//!
//! Contents:
//! - start-up: first run (local profile, door-lock-1 tagged and connected), restart,
//!   keychain unavailable;
//! - the lock: lockDoor with lockTime, unlockDoor, unknown method, auto-unlock event, desired
//!   patch, knobs (error status, never respond, offline), disconnect/connect, activity log;
//! - profiles: Azure profiles (all permissions, missing permissions, malformed, unreachable,
//!   refused), rename/colour/switch/delete, a lock device on an Azure profile;
//! - jobs: a `lockDoor` job on this lock (events to `completed` 1/1, the lock locks, detail,
//!   device results, CSV export, notification), a twin desired job, a job 20 s ahead cancelled,
//!   an invalid draft sends nothing, a taken job id in words, rendering and cloning, the
//!   archive across a restart;
//! - the fleet: 100 simulated devices tagged over buildings 41..45, and the preview's counts
//!   equal the hub's own; after a restart the devices registered before are the fleet again
//!   (progress events, new ones continue the numbering), also after a profile switch;
//! - a local hub that cannot start (its data dir is a file, its database is corrupt): the
//!   app is ready, the local profile says why, retry starts it once fixed, Azure profiles
//!   keep working;
//! - shutdown leaves the local hub's database consistent and reopenable;
//! - the real keychain (ignored unless run under `tests/bin/with-keyring`): an Azure
//!   profile's key is in the keychain and nowhere in the app's data or config dirs, and
//!   deleting the profile removes it.
//!
//! The "Azure" hub of these tests is a second localhub in its own temp dir, outside the app's
//! dirs, sharing the app's local CA (its certificate files are copied) so the app trusts it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iothub::auth::ServiceConnectionString;
use iothub::model::{CloudToDeviceMethod, Twin, TwinCollection, TwinProperties};
use iothub::service::{IfMatch, ServiceClient};
use localhub::server::{self, Config, RunningHub};
use lockstep_core::secrets::{
    MemorySecretStore, SecretOpener, SecretStore, device_account, service_account,
};
use lockstep_core::view::{
    ActivityDetail, AddAzureProfile, DeviceConnectionView, KnobsView, ProfileKind, SecretKind,
};
use lockstep_core::view::{ExportFormat, HubTier, RenderForm, SubmitOutcome, TierName};
use lockstep_core::{
    AppStatus, Core, CoreConfig, CoreError, CoreEvent, LocalHubPorts, LockView, Notification,
};
use lockstep_jobs::archive::{DeviceResultsQuery, JobFilter};
use lockstep_jobs::draft::{JobDraft, JobKind, StartMode};
use lockstep_jobs::summary::JobSummary;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;

/// How long a test waits for something that should happen promptly.
const PATIENCE: Duration = Duration::from_secs(20);

// ---- Helpers ----

/// A fresh directory under the system temp dir, removed when dropped.
struct TestDir(PathBuf);

impl TestDir {
    fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |e| e.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "lockstep-core-{label}-{}-{}-{nanos}",
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

/// The app's logic on its own data and config dirs.
struct App {
    core: Core,
    dir: TestDir,
}

impl App {
    /// Starts a core whose secrets go to `secrets`; waits for start-up to end.
    async fn start(secrets: SecretOpener) -> Self {
        let dir = TestDir::new("app");
        let app = Self {
            core: core_in(dir.path(), secrets),
            dir,
        };
        assert_eq!(app.core.start().await, AppStatus::Ready);
        app
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// A service client of an outside caller: the revealed `iothubowner` string and the CA
    /// file the local hub view points at.
    fn outside(&self) -> ServiceClient {
        let connection = self
            .core
            .reveal_secret(SecretKind::ServiceConnectionString)
            .expect("revealed");
        let info = self.core.local_hub_info().expect("local hub info");
        let ca = std::fs::read_to_string(&info.ca_path).expect("the CA file");
        lockstep_core::hub::service_client(connection.parse().expect("parses"), Some(&ca), false)
            .expect("client")
    }

    /// Waits until the lock view satisfies `predicate`.
    async fn lock_until(&self, what: &str, predicate: impl Fn(&LockView) -> bool) -> LockView {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let view = self.core.lock_view();
            if predicate(&view) {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}; last view: {view:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn connected(&self) -> LockView {
        self.lock_until("the lock is connected", |v| {
            v.connection == DeviceConnectionView::Connected
        })
        .await
    }

    /// Waits until the lock is connected and has applied the twin it reads on connecting, so
    /// that a desired patch sent now arrives as a patch (one sent while that read is in
    /// flight may come back inside the full twin instead).
    async fn synced(&self) -> LockView {
        let view = self.connected().await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self
            .core
            .lock_activity()
            .iter()
            .any(|entry| matches!(entry.detail, ActivityDetail::TwinPatch { full: true, .. }))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the lock never read its twin after connecting"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        view
    }

    /// Starts a second localhub ("Azure") outside the app's dirs that the app trusts.
    async fn azure_hub(&self) -> AzureHub {
        let dir = TestDir::new("azure");
        let local = self.data_dir().join("localhub");
        for file in ["ca.pem", "ca.key", "server.pem", "server.key"] {
            std::fs::copy(local.join(file), dir.path().join(file)).expect("copy the CA");
        }
        let running = server::start(Config {
            mqtt_port: 0,
            https_port: 0,
            ..Config::new(dir.path())
        })
        .await
        .expect("the second hub starts");
        AzureHub { running, _dir: dir }
    }

    /// Adds `azure` as the profile `name` with its `iothubowner` policy (it becomes active).
    async fn add_azure(&self, azure: &AzureHub, name: &str) -> lockstep_core::view::AddedProfile {
        self.core
            .add_azure_profile(AddAzureProfile {
                name: name.into(),
                connection_string: azure.connection_string("iothubowner"),
            })
            .await
            .expect("added")
    }

    /// A service client of an outside caller on `azure` (which shares the app's CA).
    fn outside_on(&self, azure: &AzureHub) -> ServiceClient {
        let ca = std::fs::read_to_string(self.data_dir().join("localhub/ca.pem")).expect("CA");
        lockstep_core::hub::service_client(
            azure
                .connection_string("iothubowner")
                .parse()
                .expect("parses"),
            Some(&ca),
            false,
        )
        .expect("client")
    }

    /// Waits until the fleet has `devices` devices, all connected, and is not adding.
    async fn fleet_until(&self, devices: u32) -> lockstep_core::FleetView {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let view = self.core.fleet_status();
            if !view.adding && view.devices == devices && view.connected == devices {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the fleet did not reach {devices} connected devices: {view:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        self.core.shutdown().await;
    }
}

fn core_in(dir: &Path, secrets: SecretOpener) -> Core {
    Core::new(CoreConfig {
        data_dir: dir.join("data"),
        config_dir: dir.join("config"),
        ports: LocalHubPorts::Any,
        secrets,
        downloads_dir: None,
    })
}

fn memory() -> (SecretOpener, Arc<MemorySecretStore>) {
    let store = Arc::new(MemorySecretStore::default());
    (SecretOpener::fixed(store.clone()), store)
}

struct AzureHub {
    running: RunningHub,
    _dir: TestDir,
}

impl AzureHub {
    /// The connection string of the policy `name`.
    fn connection_string(&self, name: &str) -> String {
        let policy = self
            .running
            .hub()
            .policy(name)
            .expect("policies")
            .expect("the policy exists");
        format!(
            "HostName={};SharedAccessKeyName={};SharedAccessKey={}",
            server::hub_host_name(self.running.host(), self.running.https_port()),
            policy.name,
            policy.primary_key.expose_base64()
        )
    }
}

async fn invoke(client: &ServiceClient, method: &str, payload: Value) -> (i32, Value) {
    let result = client
        .invoke_method(
            "door-lock-1",
            &CloudToDeviceMethod {
                response_timeout_in_seconds: Some(10),
                ..CloudToDeviceMethod::new(method, payload)
            },
        )
        .await
        .expect("the device answers");
    (result.status.expect("a status"), result.payload)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn parse_time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).expect("RFC 3339")
}

/// Every file under `dir`, as bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---- Start-up ----

#[tokio::test(flavor = "multi_thread")]
async fn first_run_creates_the_local_profile_and_connects_the_tagged_lock() {
    let (secrets, store) = memory();
    let app = App::start(secrets.clone()).await;

    let profiles = app.core.list_profiles().expect("profiles");
    assert_eq!(profiles.profiles.len(), 1);
    let local = &profiles.profiles[0];
    assert_eq!(
        (
            local.id.as_str(),
            local.name.as_str(),
            local.kind,
            local.colour.as_str()
        ),
        ("local", "Local hub", ProfileKind::Local, "#3b82f6")
    );
    assert_eq!(profiles.active_id.as_deref(), Some("local"));
    let info = app.core.local_hub_info().expect("info");
    assert_eq!(local.host_name, format!("localhost:{}", info.https_port));
    assert!(!info.preferred_ports);
    assert!(info.port_note.is_some());
    assert_eq!(info.device_count, 1);
    assert!(Path::new(&info.ca_path).is_file());
    assert!(
        info.data_dir
            .starts_with(&app.data_dir().display().to_string())
    );

    let view = app.connected().await;
    assert_eq!(view.device_id.as_deref(), Some("door-lock-1"));
    assert_eq!(view.state, "unlocked");
    assert_eq!(view.profile_id, "local");

    let twin = app.outside().get_twin("door-lock-1").await.expect("twin");
    assert_eq!(
        twin.tags.map(Value::Object),
        Some(json!({"building": 43, "floor": 1}))
    );
    // The local hub needs no keychain entry.
    assert!(store.accounts().is_empty());

    // A restart restores the profile and reconnects the lock, without a second registration.
    let dir = app.dir;
    app.core.shutdown().await;
    let again = core_in(dir.path(), secrets);
    assert_eq!(again.start().await, AppStatus::Ready);
    assert_eq!(again.list_profiles().expect("profiles").profiles.len(), 1);
    let app = App { core: again, dir };
    app.connected().await;
    assert_eq!(app.core.local_hub_info().expect("info").device_count, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_keychain_means_the_keychain_screen_and_nothing_started() {
    let dir = TestDir::new("nokeychain");
    let core = core_in(
        dir.path(),
        SecretOpener::new(|| {
            Err(lockstep_keychain::KeychainError::Unavailable {
                detail: "org.freedesktop.DBus.Error.ServiceUnknown".into(),
                hint: "install gnome-keyring",
            })
        }),
    );
    let mut events = core.subscribe();
    let status = core.start().await;
    assert_eq!(
        status,
        AppStatus::KeychainUnavailable {
            detail: "org.freedesktop.DBus.Error.ServiceUnknown".into(),
            hint: "install gnome-keyring".into()
        }
    );
    assert_eq!(
        events.recv().await.expect("event"),
        CoreEvent::Status(AppStatus::Starting)
    );
    assert_eq!(
        events.recv().await.expect("event"),
        CoreEvent::Status(status)
    );
    assert!(matches!(core.local_hub_info(), Err(CoreError::NotFound(_))));
    let added = core
        .add_azure_profile(AddAzureProfile {
            name: "x".into(),
            connection_string: "HostName=h;SharedAccessKeyName=a;SharedAccessKey=YQ==".into(),
        })
        .await;
    assert!(matches!(added, Err(CoreError::KeychainUnavailable { .. })));
    // No fallback: nothing was written anywhere.
    assert!(files_under(dir.path()).is_empty());
    core.shutdown().await;
}

// ---- The lock ----

#[tokio::test(flavor = "multi_thread")]
async fn lock_door_locks_with_a_countdown_and_unlock_door_unlocks() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let outside = app.outside();
    let mut events = app.core.subscribe();

    let before = OffsetDateTime::now_utc();
    let (status, payload) = invoke(&outside, "lockDoor", json!({"lockTime": "10m"})).await;
    assert_eq!(status, 200, "{payload}");
    let view = app.lock_until("locked", |v| v.state == "locked").await;
    let until = parse_time(view.locked_until.as_deref().expect("locked until"));
    let expected = before + time::Duration::minutes(10);
    assert!(
        (until - expected).abs() < time::Duration::seconds(30),
        "{until} vs {expected}"
    );
    // The change reached the event stream too.
    loop {
        match events.recv().await.expect("event") {
            CoreEvent::LockChanged(view) if view.state == "locked" => break,
            _ => {}
        }
    }
    // Reported properties carry the lock state.
    let mut reported = Value::Null;
    for _ in 0..200 {
        let twin = outside.get_twin("door-lock-1").await.expect("twin");
        reported = twin
            .properties
            .and_then(|p| p.reported)
            .map(|r| Value::Object(r.values))
            .unwrap_or_default();
        if reported["lockState"] == "locked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reported["lockState"], "locked", "{reported}");

    let (status, _) = invoke(&outside, "unlockDoor", Value::Null).await;
    assert_eq!(status, 200);
    let view = app.lock_until("unlocked", |v| v.state == "unlocked").await;
    assert_eq!(view.locked_until, None);

    let (status, payload) = invoke(&outside, "openSesame", json!({})).await;
    assert_eq!(status, 404);
    assert!(
        payload.to_string().contains("unknown method 'openSesame'"),
        "{payload}"
    );

    // The log, newest first: the unknown method, then unlockDoor, then lockDoor. The caller
    // can have the answer before the core has logged it, so wait for the third entry.
    let method_entries = || -> Vec<(String, Option<i32>)> {
        app.core
            .lock_activity()
            .into_iter()
            .filter_map(|entry| match entry.detail {
                ActivityDetail::Method { name, status, .. } => Some((name, status)),
                _ => None,
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while method_entries().len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let methods = method_entries();
    assert_eq!(
        methods,
        vec![
            ("openSesame".to_owned(), Some(404)),
            ("unlockDoor".to_owned(), Some(200)),
            ("lockDoor".to_owned(), Some(200)),
        ]
    );
    let entries = app.core.lock_activity();
    assert!(entries.windows(2).all(|w| w[0].id > w[1].id));
    assert!(entries.iter().any(|e| matches!(
        &e.detail,
        ActivityDetail::Connection { state, .. } if state == "connected"
    )));
    assert!(entries.iter().any(|e| matches!(
        &e.detail,
        ActivityDetail::Reported { patch } if patch["lockState"] == "locked"
    )));
    app.core.clear_activity();
    assert!(app.core.lock_activity().is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_lock_unlocks_by_itself_with_a_lock_changed_event() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let mut events = app.core.subscribe();
    let (status, _) = invoke(&app.outside(), "lockDoor", json!({"lockTime": "2s"})).await;
    assert_eq!(status, 200);
    let mut saw_locked = false;
    let unlocked = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(CoreEvent::LockChanged(view)) if view.state == "locked" => saw_locked = true,
                Ok(CoreEvent::LockChanged(view)) if saw_locked && view.state == "unlocked" => {
                    return view;
                }
                Ok(_) => {}
                Err(error) => panic!("events: {error}"),
            }
        }
    })
    .await
    .expect("a lock-changed event with the lock open again");
    assert_eq!(unlocked.locked_until, None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desired_patch_shows_on_the_lock_with_the_last_patch() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.synced().await;
    let patch = Twin {
        properties: Some(TwinProperties {
            desired: Some(TwinCollection {
                values: object(json!({"building": 43, "floor": 3})),
                ..TwinCollection::default()
            }),
            reported: None,
        }),
        ..Twin::default()
    };
    app.outside()
        .patch_twin("door-lock-1", &patch, &IfMatch::Any)
        .await
        .expect("patched");
    let view = app
        .lock_until("the desired patch arrived", |v| {
            v.desired["floor"] == 3 && v.last_patch.is_some()
        })
        .await;
    assert_eq!(view.desired, json!({"building": 43, "floor": 3}));
    assert_eq!(view.last_patch, Some(json!({"building": 43, "floor": 3})));
    assert!(view.last_patch_version.is_some_and(|v| v >= 2));
    assert!(view.last_patch_at.is_some());
    let patches: Vec<Value> = app
        .core
        .lock_activity()
        .into_iter()
        .filter_map(|e| match e.detail {
            ActivityDetail::TwinPatch {
                patch, full: false, ..
            } => Some(patch),
            _ => None,
        })
        .collect();
    assert_eq!(patches, vec![json!({"building": 43, "floor": 3})]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn knobs_answer_with_an_error_never_answer_or_go_offline() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let outside = app.outside();

    let view = app
        .core
        .set_lock_knobs(KnobsView {
            respond_with_status: Some(500),
            ..KnobsView::default()
        })
        .expect("knobs");
    assert_eq!(view.knobs.respond_with_status, Some(500));
    let (status, payload) = invoke(&outside, "lockDoor", json!({})).await;
    assert_eq!(status, 500, "{payload}");
    assert_eq!(app.core.lock_view().state, "unlocked");

    app.core
        .set_lock_knobs(KnobsView {
            never_respond: true,
            ..KnobsView::default()
        })
        .expect("knobs");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = outside
        .invoke_method(
            "door-lock-1",
            &CloudToDeviceMethod {
                response_timeout_in_seconds: Some(5),
                ..CloudToDeviceMethod::new("lockDoor", json!({}))
            },
        )
        .await
        .expect_err("no answer");
    assert!(error.is_timeout(), "{error}");
    let unanswered = app.core.lock_activity().into_iter().any(|e| {
        matches!(e.detail, ActivityDetail::Method { ref name, status: None, .. } if name == "lockDoor")
    });
    assert!(unanswered);

    app.core
        .set_lock_knobs(KnobsView {
            offline: true,
            ..KnobsView::default()
        })
        .expect("knobs");
    app.lock_until("offline", |v| v.connection == DeviceConnectionView::Offline)
        .await;
    let mut offline_error = None;
    for _ in 0..100 {
        match outside
            .invoke_method(
                "door-lock-1",
                &CloudToDeviceMethod::new("lockDoor", json!({})),
            )
            .await
        {
            Err(error) if error.is_device_not_online() => {
                offline_error = Some(error);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(
        offline_error.is_some(),
        "the hub still routes to the device"
    );

    app.core
        .set_lock_knobs(KnobsView::default())
        .expect("knobs");
    app.connected().await;
    assert!(
        app.core
            .set_lock_knobs(KnobsView {
                respond_with_status: Some(7),
                ..KnobsView::default()
            })
            .is_err()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lock_disconnects_and_connects_on_request() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let view = app.core.disconnect_lock().await.expect("disconnected");
    assert_eq!(
        view.connection,
        DeviceConnectionView::Disconnected {
            reason: "disconnected by the user".into()
        }
    );
    app.core.connect_lock().await.expect("connecting");
    app.connected().await;
    app.stop().await;
}

// ---- Profiles ----

#[tokio::test(flavor = "multi_thread")]
async fn an_azure_profile_with_every_permission_is_added_and_active() {
    let (secrets, store) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let local_log = app.core.lock_activity();
    assert!(
        !local_log.is_empty(),
        "the local lock logged its connection"
    );
    let azure = app.azure_hub().await;
    let added = app.add_azure(&azure, "Staging").await;
    assert!(added.missing_permissions.is_empty(), "{added:?}");
    assert_eq!(added.warning, None);
    assert_eq!(added.profile.kind, ProfileKind::Azure);
    assert_eq!(added.profile.name, "Staging");
    assert_eq!(
        added.profiles.active_id.as_deref(),
        Some(added.profile.id.as_str())
    );
    assert_eq!(store.accounts(), vec![service_account(&added.profile.id)]);
    // The lock of the new profile has no device yet.
    let view = app.core.lock_view();
    assert_eq!(view.profile_id, added.profile.id);
    assert_eq!(view.connection, DeviceConnectionView::NotConfigured);
    // Each profile has its own activity log: the local lock's entries are not shown here.
    assert!(
        app.core
            .lock_activity()
            .iter()
            .all(|entry| local_log.iter().all(|local| local.id != entry.id)),
        "{:?}",
        app.core.lock_activity()
    );
    // Its hub's devices can be listed (none yet), then the lock created there.
    assert!(
        app.core
            .list_hub_devices()
            .await
            .expect("devices")
            .is_empty()
    );
    let view = app
        .core
        .use_lock_device("lock-on-azure", true)
        .await
        .expect("created");
    assert_eq!(view.device_id.as_deref(), Some("lock-on-azure"));
    assert_eq!(
        app.core.list_hub_devices().await.expect("devices"),
        vec!["lock-on-azure".to_owned()]
    );
    let device_secret = store
        .get(&device_account(&added.profile.id, "lock-on-azure"))
        .expect("store")
        .expect("the device string is in the secret store");
    assert!(device_secret.contains("DeviceId=lock-on-azure"));

    // Rename, colour, switch, delete.
    let id = added.profile.id.clone();
    app.core.rename_profile(&id, "Prod").await.expect("renamed");
    app.core
        .set_profile_colour(&id, "#ff0000")
        .await
        .expect("coloured");
    let profiles = app.core.switch_profile("local").await.expect("switched");
    assert_eq!(profiles.active_id.as_deref(), Some("local"));
    app.connected().await;
    // Back on the local profile, its earlier entries are there again.
    let ids: Vec<u64> = app.core.lock_activity().iter().map(|e| e.id).collect();
    assert!(local_log.iter().all(|e| ids.contains(&e.id)), "{ids:?}");
    let saved: Value = serde_json::from_slice(
        &std::fs::read(app.config_dir().join("profiles.json")).expect("profiles.json"),
    )
    .expect("json");
    assert_eq!(saved["profiles"][1]["name"], "Prod");
    assert_eq!(saved["profiles"][1]["colour"], "#ff0000");
    assert!(matches!(
        app.core.delete_profile("local").await,
        Err(CoreError::InvalidInput { .. })
    ));
    let profiles = app.core.delete_profile(&id).await.expect("deleted");
    assert_eq!(profiles.profiles.len(), 1);
    assert!(store.accounts().is_empty(), "{:?}", store.accounts());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_azure_profile_on_the_apps_own_local_hub_runs_the_lock_and_survives_a_restart() {
    let (secrets, store) = memory();
    let app = App::start(secrets.clone()).await;
    let own = app
        .core
        .reveal_secret(SecretKind::ServiceConnectionString)
        .expect("revealed");
    let added = app
        .core
        .add_azure_profile(AddAzureProfile {
            name: "Loopback".into(),
            connection_string: own,
        })
        .await
        .expect("the local hub counts as a reachable hub");
    assert!(added.missing_permissions.is_empty(), "{added:?}");
    let id = added.profile.id.clone();

    // A pasted device connection string with a wrong key: refused, and it says so.
    let outside = app.outside();
    let identity = lockstep_core::hub::create_or_get_device(&outside, "pasted-lock")
        .await
        .expect("registered");
    let good = lockstep_core::hub::device_connection_string("localhost", "pasted-lock", &identity)
        .expect("connection string")
        .expose_secret_string();
    let wrong = format!(
        "{};SharedAccessKey=d3Jvbmcga2V5IHdyb25nIGtleQ==",
        good.split(";SharedAccessKey=").next().expect("prefix")
    );
    app.core
        .use_lock_connection_string(&wrong)
        .await
        .expect("accepted, then refused by the hub");
    let view = app
        .lock_until("the hub refused the key", |v| {
            matches!(v.connection, DeviceConnectionView::Disconnected { .. })
        })
        .await;
    match view.connection {
        DeviceConnectionView::Disconnected { reason } => {
            assert!(reason.contains("refused"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // The right one connects, and only it is kept.
    app.core
        .use_lock_connection_string(&good)
        .await
        .expect("accepted");
    let view = app.connected().await;
    assert_eq!(view.device_id.as_deref(), Some("pasted-lock"));
    assert_eq!(
        store
            .get(&device_account(&id, "pasted-lock"))
            .expect("store")
            .as_deref(),
        Some(good.as_str())
    );
    // A string of another hub is refused before anything is stored.
    let other = app
        .core
        .use_lock_connection_string(
            "HostName=elsewhere.azure-devices.net;DeviceId=d;SharedAccessKey=YQ==",
        )
        .await
        .expect_err("another hub");
    assert!(matches!(other, CoreError::InvalidInput { .. }), "{other:?}");

    // After a restart the Azure profile is active again and its lock is restored from the
    // secret store. (It cannot reach the hub: with port 0 the restarted local hub listens
    // elsewhere than the profile's connection string says, so it keeps retrying.)
    let dir = app.dir;
    app.core.shutdown().await;
    let core = core_in(dir.path(), secrets);
    assert_eq!(core.start().await, AppStatus::Ready);
    let app = App { core, dir };
    assert_eq!(
        app.core
            .list_profiles()
            .expect("profiles")
            .active_id
            .as_deref(),
        Some(id.as_str())
    );
    let view = app
        .lock_until("the lock tries to connect", |v| {
            matches!(
                v.connection,
                DeviceConnectionView::Connecting | DeviceConnectionView::Reconnecting { .. }
            )
        })
        .await;
    assert_eq!(view.profile_id, id);
    assert_eq!(view.device_id.as_deref(), Some("pasted-lock"));
    assert!(
        !app.core
            .lock_activity()
            .iter()
            .any(|e| matches!(e.detail, ActivityDetail::Error { .. })),
        "{:?}",
        app.core.lock_activity()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_without_some_permissions_reports_the_missing_ones() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    let azure = app.azure_hub().await;
    let added = app
        .core
        .add_azure_profile(AddAzureProfile {
            name: String::new(),
            connection_string: azure.connection_string("registryRead"),
        })
        .await
        .expect("added");
    assert_eq!(
        added.missing_permissions,
        vec!["ServiceConnect", "RegistryWrite"]
    );
    let warning = added.warning.expect("a warning");
    assert!(
        warning.contains("registryRead") && warning.contains("jobs"),
        "{warning}"
    );
    assert_eq!(added.profile.name, "localhost");

    let added = app
        .core
        .add_azure_profile(AddAzureProfile {
            name: "service only".into(),
            connection_string: azure.connection_string("service"),
        })
        .await
        .expect("added");
    assert_eq!(
        added.missing_permissions,
        vec!["RegistryRead", "RegistryWrite"]
    );

    // A policy with no service permission at all: the hub refuses it.
    let refused = app
        .core
        .add_azure_profile(AddAzureProfile {
            name: "device".into(),
            connection_string: azure.connection_string("device"),
        })
        .await;
    assert!(
        matches!(refused, Err(CoreError::Unauthorized(_))),
        "{refused:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_unreachable_and_refused_strings_store_nothing() {
    let (secrets, store) = memory();
    let app = App::start(secrets).await;
    let profiles_before = std::fs::read(app.config_dir().join("profiles.json")).expect("file");

    let malformed = app
        .core
        .add_azure_profile(AddAzureProfile {
            name: "bad".into(),
            connection_string: "HostName=contoso.azure-devices.net;SharedAccessKey=c2VjcmV0".into(),
        })
        .await
        .expect_err("malformed");
    match malformed {
        CoreError::InvalidInput { field, message } => {
            assert_eq!(field.as_deref(), Some("connectionString"));
            assert!(
                message.contains("SharedAccessKeyName is missing"),
                "{message}"
            );
            assert!(!message.contains("c2VjcmV0"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let unreachable = app
        .core
        .add_azure_profile(AddAzureProfile {
            name: "nowhere".into(),
            connection_string:
                "HostName=127.0.0.1:1;SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0"
                    .into(),
        })
        .await
        .expect_err("unreachable");
    assert!(
        matches!(unreachable, CoreError::HubUnreachable(_)),
        "{unreachable:?}"
    );

    let azure = app.azure_hub().await;
    let wrong_key = azure
        .connection_string("iothubowner")
        .split(";SharedAccessKey=")
        .next()
        .map(|prefix| format!("{prefix};SharedAccessKey=d3Jvbmcga2V5"))
        .expect("prefix");
    let refused = app
        .core
        .add_azure_profile(AddAzureProfile {
            name: "wrong key".into(),
            connection_string: wrong_key,
        })
        .await
        .expect_err("refused");
    assert!(matches!(refused, CoreError::Unauthorized(_)), "{refused:?}");

    assert!(store.accounts().is_empty());
    assert_eq!(
        std::fs::read(app.config_dir().join("profiles.json")).expect("file"),
        profiles_before
    );
    assert_eq!(
        app.core.list_profiles().expect("profiles").profiles.len(),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_hub_secrets_are_masked_until_revealed() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    let info = app.core.local_hub_info().expect("info");
    let revealed = app
        .core
        .reveal_secret(SecretKind::ServiceConnectionString)
        .expect("revealed");
    let parsed: ServiceConnectionString = revealed.parse().expect("a real connection string");
    let key = parsed.shared_access_key().expose_base64();
    assert!(!info.service_connection_string.masked.contains(&key));
    assert!(
        info.service_connection_string
            .masked
            .ends_with("SharedAccessKey=••••••••")
    );
    let device = app
        .core
        .reveal_secret(SecretKind::DeviceConnectionString)
        .expect("device string");
    assert!(device.contains("DeviceId=door-lock-1"));
    let masked = info
        .device_connection_string
        .expect("masked device string")
        .masked;
    assert!(masked.contains("DeviceId=door-lock-1") && masked.contains("••••••••"));
    app.stop().await;
}

// ---- The real keychain ----

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service: run under tests/bin/with-keyring ... -- --include-ignored"]
async fn an_azure_profiles_key_is_in_the_keychain_and_nowhere_on_disk() {
    let app = App::start(SecretOpener::keychain()).await;
    let keychain = SecretOpener::keychain().open().expect("the keychain");
    let azure = app.azure_hub().await;
    let connection_string = azure.connection_string("iothubowner");
    let key = connection_string
        .split("SharedAccessKey=")
        .nth(1)
        .expect("key")
        .to_owned();
    let added = app
        .core
        .add_azure_profile(AddAzureProfile {
            name: "Keychain".into(),
            connection_string: connection_string.clone(),
        })
        .await
        .expect("added");
    let id = added.profile.id;
    let stored = keychain
        .get(&service_account(&id))
        .expect("keychain read")
        .expect("the secret is in the keychain");
    assert!(stored.contains(&key));
    app.core
        .use_lock_device("keychain-lock", true)
        .await
        .expect("lock device");
    let device_secret = keychain
        .get(&device_account(&id, "keychain-lock"))
        .expect("keychain read")
        .expect("the device secret is in the keychain");
    let device_key = device_secret
        .split("SharedAccessKey=")
        .nth(1)
        .expect("device key")
        .to_owned();

    let files = [files_under(&app.data_dir()), files_under(&app.config_dir())].concat();
    assert!(files.iter().any(|(p, _)| p.ends_with("profiles.json")));
    for (path, bytes) in &files {
        for secret in [&key, &device_key] {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{} contains a secret",
                path.display()
            );
        }
    }

    app.core.delete_profile(&id).await.expect("deleted");
    assert_eq!(keychain.get(&service_account(&id)).expect("read"), None);
    assert_eq!(
        keychain
            .get(&device_account(&id, "keychain-lock"))
            .expect("read"),
        None
    );
    app.stop().await;
}

/// Subscribing late still works: a lagging receiver is reported, not fatal.
#[tokio::test(flavor = "multi_thread")]
async fn events_reach_a_late_subscriber() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let mut events: broadcast::Receiver<CoreEvent> = app.core.subscribe();
    app.core
        .rename_profile("local", "My hub")
        .await
        .expect("renamed");
    match events.recv().await.expect("event") {
        CoreEvent::ProfilesChanged(view) => assert_eq!(view.profiles[0].name, "My hub"),
        other => panic!("{other:?}"),
    }
    app.stop().await;
}

// ---- Jobs ----

/// A `lockDoor` (no payload: locks until unlocked) job on `condition`, starting now.
fn lock_door_draft(condition: &str) -> JobDraft {
    JobDraft {
        query_condition: condition.to_owned(),
        method_name: "lockDoor".to_owned(),
        ..JobDraft::new()
    }
}

fn submitted(outcome: SubmitOutcome) -> JobSummary {
    match outcome {
        SubmitOutcome::Submitted { job } => *job,
        SubmitOutcome::Invalid { errors } => panic!("the draft is invalid: {errors:?}"),
    }
}

/// Reads events until a `job-updated` of `job_id` whose summary satisfies `predicate`;
/// returns it with every notification seen on the way.
async fn job_until(
    events: &mut broadcast::Receiver<CoreEvent>,
    job_id: &str,
    what: &str,
    predicate: impl Fn(&JobSummary) -> bool,
) -> (JobSummary, Vec<Notification>) {
    let mut notes = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting until {what}"))
            .expect("events");
        match event {
            CoreEvent::JobUpdated(update) if update.job_id == job_id => {
                if let Some(summary) = update.summary
                    && predicate(&summary)
                {
                    return (summary, notes);
                }
            }
            CoreEvent::Notify(note) => notes.push(note),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_door_job_on_this_lock_completes_and_locks_it() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let defaults = app.core.job_defaults().expect("defaults");
    assert_eq!(defaults.lock_device_id.as_deref(), Some("door-lock-1"));
    let mut events = app.core.subscribe();

    let draft = lock_door_draft("deviceId = 'door-lock-1'");
    let job = submitted(app.core.submit_job(&draft).await.expect("submitted"));
    assert_eq!(job.job_id, draft.job_id);
    assert!(job.created_by_me);
    let (done, mut notes) = job_until(&mut events, &job.job_id, "the job completes", |s| {
        s.status == "completed"
    })
    .await;
    let progress = done.progress.expect("statistics");
    assert_eq!((progress.device_count, progress.succeeded_count), (1, 1));
    app.lock_until("the lock is locked", |v| v.state == "locked")
        .await;

    // The completion is announced with its statistics.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !notes.iter().any(|n| n.title == "Job completed") {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(CoreEvent::Notify(note))) => notes.push(note),
            Ok(Ok(_)) => {}
            _ => break,
        }
    }
    let note = notes
        .iter()
        .find(|n| n.title == "Job completed")
        .unwrap_or_else(|| panic!("no completion notification in {notes:?}"));
    assert_eq!(note.body, "lockDoor on 1 device: 1 succeeded, 0 failed");

    // The timeline, the detail, the device results and the export.
    let listed = app
        .core
        .list_jobs(JobFilter::default())
        .await
        .expect("list");
    assert!(
        listed
            .iter()
            .any(|j| j.job_id == job.job_id && j.status == "completed")
    );
    let rows = loop {
        let page = app
            .core
            .device_results(&job.job_id, DeviceResultsQuery::default())
            .await
            .expect("results");
        if !page.rows.is_empty() {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows.total, 1);
    assert_eq!(rows.rows[0].device_id, "door-lock-1");
    assert_eq!(rows.rows[0].method_status, Some(200));
    let detail = app.core.job_detail(&job.job_id).await.expect("detail");
    assert!(detail.job.request_json.is_some(), "the request as sent");
    assert_eq!(detail.status_counts.len(), 1);
    assert_eq!(detail.status_counts[0].count, 1);

    let exported = app
        .core
        .export_results(&job.job_id, ExportFormat::Csv)
        .await
        .expect("exported");
    assert_eq!(exported.rows, 1);
    assert!(
        exported
            .path
            .starts_with(&app.data_dir().display().to_string()),
        "no Downloads dir: the app data dir ({})",
        exported.path
    );
    let csv = std::fs::read_to_string(&exported.path).expect("the CSV file");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row: {csv}");
    assert!(lines[1].starts_with("door-lock-1,completed,"), "{csv}");
    let json_file = app
        .core
        .export_results(&job.job_id, ExportFormat::Json)
        .await
        .expect("exported");
    let rows: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_file.path).expect("file"))
            .expect("JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert!(matches!(
        app.core.job_detail("no-such-job").await,
        Err(CoreError::NotFound(_))
    ));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_twin_desired_job_reaches_the_lock() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let mut events = app.core.subscribe();
    let draft = JobDraft {
        job_type: JobKind::TwinDesired,
        query_condition: "deviceId = 'door-lock-1'".to_owned(),
        twin_desired: r#"{"building": 43, "floor": 3}"#.to_owned(),
        ..JobDraft::new()
    };
    let job = submitted(app.core.submit_job(&draft).await.expect("submitted"));
    assert_eq!(job.kind, Some(JobKind::TwinDesired));
    job_until(&mut events, &job.job_id, "the twin job completes", |s| {
        s.status == "completed"
    })
    .await;
    let view = app
        .lock_until("the lock has the desired floor", |v| {
            v.desired.get("floor") == Some(&json!(3))
        })
        .await;
    assert_eq!(view.desired.get("building"), Some(&json!(43)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_twenty_seconds_ahead_is_scheduled_then_cancelled() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    let mut events = app.core.subscribe();
    let start = OffsetDateTime::now_utc() + time::Duration::seconds(20);
    let draft = JobDraft {
        start_mode: StartMode::At,
        start_at: start.format(&Rfc3339).expect("formats"),
        ..lock_door_draft("deviceId = 'door-lock-1'")
    };
    let job = submitted(app.core.submit_job(&draft).await.expect("submitted"));
    job_until(&mut events, &job.job_id, "the job is scheduled", |s| {
        s.status == "scheduled"
    })
    .await;
    let cancelled = app.core.cancel_job(&job.job_id).await.expect("cancelled");
    assert_eq!(cancelled.job_id, job.job_id);
    let (seen, notes) = job_until(&mut events, &job.job_id, "the job is cancelled", |s| {
        s.status == "cancelled"
    })
    .await;
    assert!(seen.finished);
    assert!(notes.is_empty(), "cancelling announces nothing: {notes:?}");
    let listed = app
        .core
        .list_jobs(JobFilter {
            statuses: vec!["cancelled".into()],
            ..JobFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_draft_sends_nothing_and_a_taken_id_is_refused_in_words() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    let bad = JobDraft {
        query_condition: "tags.building = ".to_owned(),
        method_name: String::new(),
        ..JobDraft::new()
    };
    let errors = app.core.validate_job(&bad);
    assert!(errors.len() >= 2, "{errors:?}");
    match app.core.submit_job(&bad).await.expect("an outcome") {
        SubmitOutcome::Invalid { errors: refused } => assert_eq!(refused, errors),
        other => panic!("{other:?}"),
    }
    let hub_jobs = app
        .outside()
        .query_all_jobs(None, None, None)
        .await
        .expect("the hub's jobs");
    assert!(hub_jobs.is_empty(), "nothing was sent: {hub_jobs:?}");
    assert!(
        app.core
            .list_jobs(JobFilter::default())
            .await
            .expect("list")
            .is_empty()
    );
    match app.core.render_job(&bad, RenderForm::Rest) {
        Err(CoreError::InvalidInput { field, .. }) => {
            assert_eq!(field.as_deref(), Some("queryCondition"));
        }
        other => panic!("{other:?}"),
    }
    match app.core.preview_condition("tags.building = ").await {
        Err(CoreError::InvalidInput { field, message }) => {
            assert_eq!(field.as_deref(), Some("queryCondition"));
            assert!(message.contains("column"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let draft = lock_door_draft("deviceId = 'door-lock-1'");
    submitted(app.core.submit_job(&draft).await.expect("submitted"));
    match app.core.submit_job(&draft).await {
        Err(CoreError::HubRejected(message)) => {
            assert!(
                message.starts_with("A job with this id already exists on the hub")
                    && message.contains("Generate a new job id"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }

    // Rendering names the hub, never a key; cloning gives a new id.
    let key = app
        .core
        .reveal_secret(SecretKind::ServiceConnectionString)
        .expect("secret");
    let key = key
        .rsplit("SharedAccessKey=")
        .next()
        .expect("a key")
        .to_owned();
    for form in [RenderForm::AzCli, RenderForm::Rest] {
        let text = app.core.render_job(&draft, form).expect("rendered");
        assert!(text.contains("lockDoor"), "{text}");
        assert!(!text.contains(&key), "no key in {text}");
        if form == RenderForm::AzCli {
            // The local hub is not on Azure: az reaches it through a connection string.
            assert!(
                text.contains("--login \"$IOTHUB_CONNECTION_STRING\"")
                    && !text.contains("--hub-name"),
                "{text}"
            );
        }
    }
    let clone = app.core.clone_job(&draft.job_id).await.expect("cloned");
    assert_ne!(clone.job_id, draft.job_id);
    assert_eq!(clone.method_name, "lockDoor");
    assert_eq!(clone.query_condition, draft.query_condition);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_archive_keeps_the_timeline_across_a_restart() {
    let (secrets, _) = memory();
    let app = App::start(secrets.clone()).await;
    let mut events = app.core.subscribe();
    let draft = lock_door_draft("deviceId = 'door-lock-1'");
    let job = submitted(app.core.submit_job(&draft).await.expect("submitted"));
    job_until(&mut events, &job.job_id, "the job completes", |s| {
        s.finished
    })
    .await;
    assert!(app.data_dir().join("jobs.sqlite3").is_file());

    let dir = app.dir;
    app.core.shutdown().await;
    let again = core_in(dir.path(), secrets);
    assert_eq!(again.start().await, AppStatus::Ready);
    let listed = again.list_jobs(JobFilter::default()).await.expect("list");
    let found = listed
        .iter()
        .find(|j| j.job_id == job.job_id)
        .unwrap_or_else(|| panic!("the job is still listed: {listed:?}"));
    assert!(found.created_by_me);
    assert!(found.finished);
    // The hub still has it too: a refresh reads it without duplicating it.
    assert!(again.refresh_jobs().await.expect("refreshed") >= 1);
    assert_eq!(
        again
            .list_jobs(JobFilter::default())
            .await
            .expect("list")
            .len(),
        listed.len()
    );
    App { core: again, dir }.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_of_simulated_devices_and_the_preview_counts_match_the_hub() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    let mut events = app.core.subscribe();
    assert!(matches!(
        app.core.add_simulated_devices(7).await,
        Err(CoreError::InvalidInput { .. })
    ));
    let fleet = app.core.add_simulated_devices(100).await.expect("adding");
    assert!(fleet.available && fleet.adding);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut progress_events = 0;
    loop {
        let view = app.core.fleet_status();
        if !view.adding && view.devices == 100 && view.connected == 100 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fleet did not connect: {view:?}"
        );
        while let Ok(event) = events.try_recv() {
            if matches!(event, CoreEvent::FleetChanged(_)) {
                progress_events += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(progress_events > 0, "progress went out as events");

    let outside = app.outside();
    let twin = outside.get_twin("sim-lock-00003").await.expect("twin");
    assert_eq!(
        twin.tags.map(Value::Object),
        Some(json!({"building": 43, "floor": 1}))
    );
    let hub_count = |query: &'static str| {
        let outside = outside.clone();
        async move {
            let rows: Vec<Value> = outside
                .query_devices_all(query, None)
                .await
                .expect("the hub counts");
            rows[0]["n"].as_u64().expect("a count") as u32
        }
    };
    let preview = app
        .core
        .preview_condition("tags.building = 43")
        .await
        .expect("preview");
    // 20 of the fleet, and door-lock-1.
    assert_eq!(preview.matching, Some(21));
    assert_eq!(
        preview.matching,
        Some(hub_count("SELECT COUNT() AS n FROM devices WHERE tags.building = 43").await)
    );
    assert_eq!(
        preview.connected,
        Some(
            hub_count(
                "SELECT COUNT() AS n FROM devices WHERE tags.building = 43 AND connectionState = 'Connected'"
            )
            .await
        )
    );
    assert_eq!(preview.first_device_ids.len(), 20);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_profile_has_its_own_jobs_and_switching_watches_the_other_hub() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    let azure = app.azure_hub().await;
    let added = app.add_azure(&azure, "Staging").await;
    let azure_id = added.profile.id.clone();
    assert!(!app.core.fleet_status().available, "no fleet on Azure");

    // A job made on the "Azure" hub by someone else is imported on refresh.
    let outside = app.outside_on(&azure);
    let elsewhere = lockstep_jobs::draft::validate(
        &lock_door_draft("deviceId = 'nobody'"),
        OffsetDateTime::now_utc(),
    )
    .expect("valid");
    outside
        .schedule_job(&elsewhere.job_id, &elsewhere.request)
        .await
        .expect("scheduled elsewhere");
    assert!(app.core.refresh_jobs().await.expect("refreshed") >= 1);
    let listed = app
        .core
        .list_jobs(JobFilter::default())
        .await
        .expect("list");
    let imported = listed
        .iter()
        .find(|j| j.job_id == elsewhere.job_id)
        .unwrap_or_else(|| panic!("imported: {listed:?}"));
    assert_eq!(imported.profile_id, azure_id);
    assert!(!imported.created_by_me);

    // Back on the local hub: its own (empty) timeline, and the fleet is offered again.
    app.core.switch_profile("local").await.expect("switched");
    assert!(app.core.fleet_status().available);
    assert!(
        app.core
            .list_jobs(JobFilter::default())
            .await
            .expect("list")
            .is_empty()
    );
    let mut events = app.core.subscribe();
    app.core.set_window_visible(false);
    let job = submitted(
        app.core
            .submit_job(&lock_door_draft("deviceId = 'door-lock-1'"))
            .await
            .expect("submitted"),
    );
    assert_eq!(job.profile_id, "local");
    app.core.set_window_visible(true);
    job_until(&mut events, &job.job_id, "the job completes", |s| {
        s.finished
    })
    .await;
    app.stop().await;
}

// ---- A local hub that cannot start ----

/// The local profile's `unavailable` reason in `view`.
fn local_unavailable(view: &lockstep_core::ProfilesView) -> Option<String> {
    view.profiles
        .iter()
        .find(|p| p.kind == ProfileKind::Local)
        .expect("the local profile")
        .unavailable
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_hub_whose_data_dir_is_a_file_leaves_the_app_ready_and_retry_starts_it() {
    let (secrets, _) = memory();
    let dir = TestDir::new("nohub");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let in_the_way = data.join("localhub");
    std::fs::write(&in_the_way, b"not a directory").expect("a file in the way");
    let core = core_in(dir.path(), secrets);
    let mut events = core.subscribe();
    assert_eq!(core.start().await, AppStatus::Ready);

    // The local profile exists, is active, and says precisely why its hub is down.
    let profiles = core.list_profiles().expect("profiles");
    assert_eq!(profiles.active_id.as_deref(), Some("local"));
    let reason = local_unavailable(&profiles).expect("the local profile is unavailable");
    assert!(
        reason.starts_with("The local hub did not start: cannot use the data directory")
            && reason.contains(&in_the_way.display().to_string())
            && reason.contains("written to"),
        "{reason}"
    );
    // What needs the hub fails with the same words; nothing panics.
    match core.local_hub_info() {
        Err(CoreError::NotFound(message)) => assert_eq!(message, reason),
        other => panic!("expected the reason, got {other:?}"),
    }
    match core.add_simulated_devices(10).await {
        Err(CoreError::NotFound(message)) => assert_eq!(message, reason),
        other => panic!("expected the reason, got {other:?}"),
    }
    assert!(
        core.reveal_secret(SecretKind::ServiceConnectionString)
            .is_err()
    );
    assert_eq!(
        core.lock_view().connection,
        DeviceConnectionView::NotConfigured
    );
    // Retry while it is still broken: the same reason.
    match core.retry_local_hub().await {
        Err(CoreError::NotFound(message)) => assert_eq!(message, reason),
        other => panic!("expected the reason, got {other:?}"),
    }

    // Fixed: retry starts the hub, registers the lock it never had, and connects it.
    std::fs::remove_file(&in_the_way).expect("remove the file");
    let view = core.retry_local_hub().await.expect("the hub starts");
    assert_eq!(view.device_count, 1);
    assert!(view.device_connection_string.is_some());
    let profiles = core.list_profiles().expect("profiles");
    assert_eq!(local_unavailable(&profiles), None);
    assert_ne!(profiles.profiles[0].host_name, "localhost");
    let mut saw_available = false;
    while let Ok(event) = events.try_recv() {
        if let CoreEvent::ProfilesChanged(view) = event {
            saw_available = local_unavailable(&view).is_none();
        }
    }
    assert!(
        saw_available,
        "the last profiles event has the hub available"
    );
    let app = App { core, dir };
    let lock = app.connected().await;
    assert_eq!(lock.device_id.as_deref(), Some("door-lock-1"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_local_hub_database_leaves_azure_profiles_working() {
    let (secrets, _) = memory();
    let app = App::start(secrets.clone()).await;
    let azure = app.azure_hub().await;
    let added = app.add_azure(&azure, "Staging").await;
    let azure_id = added.profile.id;
    // Back on the local profile, so the next start activates the broken hub.
    app.core.switch_profile("local").await.expect("switched");
    let App { core, dir } = app;
    core.shutdown().await;

    let hub_dir = dir.path().join("data").join("localhub");
    let database = hub_dir.join(server::DATABASE_FILE);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(hub_dir.join(format!("{}{suffix}", server::DATABASE_FILE)));
    }
    std::fs::write(&database, vec![0x5a_u8; 8192]).expect("corrupt the database");

    let core = core_in(dir.path(), secrets);
    assert_eq!(core.start().await, AppStatus::Ready);
    let app = App { core, dir };
    let reason = local_unavailable(&app.core.list_profiles().expect("profiles"))
        .expect("the local profile is unavailable");
    assert!(
        reason.starts_with("The local hub did not start: cannot open the database")
            && reason.contains(server::DATABASE_FILE),
        "{reason}"
    );
    assert!(app.core.local_hub().is_none());

    // The Azure profile: switch, devices, a lock device, a job that completes.
    let switched = app.core.switch_profile(&azure_id).await.expect("switched");
    assert_eq!(switched.active_id.as_deref(), Some(azure_id.as_str()));
    app.core
        .use_lock_device("azure-lock", true)
        .await
        .expect("a lock device on the Azure hub");
    let devices = app.core.list_hub_devices().await.expect("devices");
    assert!(devices.contains(&"azure-lock".to_owned()), "{devices:?}");
    let mut events = app.core.subscribe();
    let draft = JobDraft {
        job_type: JobKind::TwinTags,
        query_condition: "deviceId = 'azure-lock'".to_owned(),
        twin_tags: r#"{"building": 7}"#.to_owned(),
        ..JobDraft::new()
    };
    let job = submitted(app.core.submit_job(&draft).await.expect("submitted"));
    job_until(&mut events, &job.job_id, "the tags job completes", |s| {
        s.status == "completed"
    })
    .await;
    let twin = azure
        .running
        .hub()
        .get_twin("azure-lock")
        .expect("the twin");
    assert_eq!(twin["tags"]["building"], json!(7));
    // The local profile is still there, still unavailable, and switching to it is allowed.
    let back = app
        .core
        .switch_profile("local")
        .await
        .expect("switched back");
    assert!(local_unavailable(&back).is_some());
    app.stop().await;
}

// ---- Shutdown ----

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_leaves_the_local_hub_database_consistent_and_reopenable() {
    let (secrets, _) = memory();
    let app = App::start(secrets.clone()).await;
    app.connected().await;
    app.core.add_simulated_devices(10).await.expect("adding");
    app.fleet_until(10).await;
    let mut events = app.core.subscribe();
    let job = submitted(
        app.core
            .submit_job(&lock_door_draft("deviceId = 'door-lock-1'"))
            .await
            .expect("submitted"),
    );
    job_until(&mut events, &job.job_id, "the job completes", |s| {
        s.finished
    })
    .await;

    let hub_dir = app.data_dir().join("localhub");
    let database = hub_dir.join(server::DATABASE_FILE);
    let App { core, dir } = app;
    core.shutdown().await;
    assert!(core.local_hub().is_none(), "the hub is gone from the core");

    // The last connection closed cleanly: SQLite checkpointed the write-ahead log into the
    // database and removed it (a killed process leaves it behind).
    let wal = hub_dir.join(format!("{}-wal", server::DATABASE_FILE));
    assert!(!wal.exists(), "{} is left behind", wal.display());
    let connection = rusqlite::Connection::open(&database).expect("the database opens");
    let check: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
    drop(connection);

    // localhub reopens it with everything in it.
    let running = server::start(Config {
        mqtt_port: 0,
        https_port: 0,
        ..Config::new(&hub_dir)
    })
    .await
    .expect("the hub starts on the same data");
    assert_eq!(running.hub().device_count().expect("count"), 11);
    let twin = running
        .hub()
        .get_twin("sim-lock-00010")
        .expect("a fleet twin");
    assert_eq!(twin["tags"], json!({"building": 45, "floor": 2}));
    running.shutdown().await;

    // And so does the app.
    let again = core_in(dir.path(), secrets);
    assert_eq!(again.start().await, AppStatus::Ready);
    let app = App { core: again, dir };
    app.connected().await;
    app.stop().await;
}

// ---- The fleet after a restart ----

#[tokio::test(flavor = "multi_thread")]
async fn the_fleet_registered_by_an_earlier_run_is_reconnected_after_a_restart() {
    let (secrets, _) = memory();
    let app = App::start(secrets.clone()).await;
    app.core.add_simulated_devices(10).await.expect("adding");
    app.fleet_until(10).await;
    let App { core, dir } = app;
    core.shutdown().await;

    let again = core_in(dir.path(), secrets);
    let mut events = again.subscribe();
    assert_eq!(again.start().await, AppStatus::Ready);
    let app = App { core: again, dir };
    let fleet = app.fleet_until(10).await;
    assert_eq!(
        fleet.note.as_deref(),
        Some("Reconnected the 10 simulated devices registered on the hub earlier.")
    );
    let mut progress = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let CoreEvent::FleetChanged(view) = event {
            progress.push(view);
        }
    }
    assert!(
        progress.iter().any(|view| view.adding),
        "progress went out while reconnecting: {progress:?}"
    );
    // The hub agrees: 10 of its sim-lock devices are connected, and the preview counts them.
    let preview = app
        .core
        .preview_condition("STARTSWITH(deviceId, 'sim-lock-')")
        .await
        .expect("preview");
    assert_eq!(preview.matching, Some(10));
    assert_eq!(preview.connected, Some(10));

    // New devices continue the numbering.
    app.core
        .add_simulated_devices(10)
        .await
        .expect("adding more");
    app.fleet_until(20).await;
    let outside = app.outside();
    outside
        .get_device("sim-lock-00020")
        .await
        .expect("the 20th device");
    assert!(outside.get_device("sim-lock-00021").await.is_err());

    // Away to another profile the fleet stops; back on the local hub it is reconnected.
    let azure = app.azure_hub().await;
    let added = app.add_azure(&azure, "Staging").await;
    assert_eq!(added.profiles.active_id, Some(added.profile.id));
    assert_eq!(app.core.fleet_status().devices, 0);
    app.core
        .switch_profile("local")
        .await
        .expect("switched back");
    app.fleet_until(20).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_waits_for_a_command_still_holding_the_local_hub() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    app.connected().await;
    let wal = app
        .data_dir()
        .join("localhub")
        .join(format!("{}-wal", server::DATABASE_FILE));
    assert!(wal.exists(), "a running hub has its write-ahead log");
    // As a command in flight would: hold the hub a moment after shutdown starts.
    let held = app.core.local_hub().expect("the hub runs");
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(held);
    });
    app.core.shutdown().await;
    // When shutdown returns the hub has stopped and its database is closed.
    assert!(!wal.exists(), "{} is left behind", wal.display());
    release.await.expect("released");
}

// ---- A hub with a query quota ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_azure_previews_are_reused_until_a_job_and_imported_jobs_read_their_rows_when_opened() {
    let (secrets, _) = memory();
    let app = App::start(secrets).await;
    let azure = app.azure_hub().await;
    let outside = app.outside_on(&azure);
    let tagged = |id: &'static str| {
        let outside = outside.clone();
        async move {
            outside
                .create_device(id, &iothub::model::DeviceIdentity::default())
                .await
                .expect("registers");
        }
    };
    tagged("quota-1").await;
    tagged("quota-2").await;

    // Someone else tags both devices; the job has finished before the app first sees it.
    let tag_job = lockstep_jobs::draft::validate(
        &JobDraft {
            job_type: JobKind::TwinTags,
            query_condition: "deviceId IN ['quota-1', 'quota-2']".into(),
            twin_tags: r#"{"wing": "east"}"#.into(),
            ..JobDraft::new()
        },
        OffsetDateTime::now_utc(),
    )
    .expect("valid");
    outside
        .schedule_job(&tag_job.job_id, &tag_job.request)
        .await
        .expect("scheduled elsewhere");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while outside
        .get_job(&tag_job.job_id)
        .await
        .expect("reads")
        .status
        .is_none_or(|s| !s.is_finished())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tags job never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let added = app.add_azure(&azure, "Quota").await;
    let quota_id = added.profile.id.clone();
    // Not told the tier: the smallest is assumed (S1, one unit: half of 20 queries a minute).
    assert_eq!(added.profile.tier, None);
    assert_eq!(added.profile.queries_per_minute, Some(10));
    assert_eq!(
        app.core.list_profiles().expect("profiles").profiles[0].queries_per_minute,
        None,
        "the local hub has no limit"
    );
    // Told: two S3 units allow 2,000 queries a minute, Lockstep spends half; saved.
    let view = app
        .core
        .set_profile_tier(
            &quota_id,
            Some(HubTier {
                name: TierName::S3,
                units: 2,
            }),
        )
        .await
        .expect("set");
    let summary = view
        .profiles
        .iter()
        .find(|p| p.id == quota_id)
        .expect("listed");
    assert_eq!(summary.queries_per_minute, Some(1_000));
    let saved = std::fs::read_to_string(app.config_dir().join("profiles.json")).expect("saved");
    assert!(saved.contains(r#""name": "S3""#), "{saved}");
    let refused = app
        .core
        .set_profile_tier(
            &quota_id,
            Some(HubTier {
                name: TierName::S3,
                units: 11,
            }),
        )
        .await
        .expect_err("an S3 hub has at most 10 units");
    assert!(
        refused
            .to_string()
            .contains("Not a hub Azure offers: the S3 tier has 1 to 10 units, not 11."),
        "{refused}"
    );
    assert!(
        app.core
            .set_profile_tier("local", Some(HubTier::ASSUMED))
            .await
            .is_err()
    );
    app.core.refresh_jobs().await.expect("imported");
    let rows = || async {
        app.core
            .device_results(&tag_job.job_id, DeviceResultsQuery::default())
            .await
            .expect("rows")
            .total
    };
    // Imported finished: no device rows yet. Opening its detail reads them from the hub.
    let detail = app.core.job_detail(&tag_job.job_id).await.expect("detail");
    assert_eq!(detail.job.summary.status, "completed");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while rows().await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rows were never read"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A preview is reused: a third tagged device is not counted until a job is submitted.
    let count = || async {
        app.core
            .preview_condition("tags.wing = 'east'")
            .await
            .expect("preview")
            .matching
    };
    assert_eq!(count().await, Some(2));
    tagged("quota-3").await;
    let tags = Twin {
        tags: Some(object(json!({"wing": "east"}))),
        ..Twin::default()
    };
    outside
        .patch_twin("quota-3", &tags, &IfMatch::Any)
        .await
        .expect("tagged");
    assert_eq!(count().await, Some(2), "the preview of a moment ago");
    submitted(
        app.core
            .submit_job(&lock_door_draft("deviceId = 'quota-1'"))
            .await
            .expect("submitted"),
    );
    assert_eq!(count().await, Some(3), "a fresh preview after the job");

    // The local hub has no quota: its previews are always fresh.
    app.core.switch_profile("local").await.expect("switched");
    let local = || async {
        app.core
            .preview_condition("tags.wing = 'west'")
            .await
            .expect("preview")
            .matching
    };
    assert_eq!(local().await, Some(0));
    app.core
        .local_hub()
        .expect("running")
        .running()
        .hub()
        .patch_twin(
            "door-lock-1",
            &json!({"tags": {"wing": "west"}}),
            &localhub::IfMatch::Any,
        )
        .expect("tagged");
    assert_eq!(local().await, Some(1));
    app.stop().await;
}
