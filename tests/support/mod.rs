//! Helpers shared by the cross-crate tests in `tests/*.rs`: a localhub started in-process on
//! port 0 (MQTT and HTTPS) in its own temporary data dir, and our own clients (`iothub`'s
//! `ServiceClient` and `DeviceClient`) set up to trust its CA.
//!
//! Never a fixed port: two test binaries, or two tests of one binary, run side by side.
//! Each test binary uses a different subset, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iothub::auth::{DeviceConnectionString, ServiceConnectionString};
use iothub::device::{
    DesiredPatch, DeviceClient, DeviceClientOptions, DeviceEvent, DeviceEvents, MethodRequest,
};
use iothub::model::{DeviceIdentity, ErrorCode};
use iothub::service::{ServiceClient, ServiceClientOptions, ServiceError};
use localhub::server::{self, Config, RunningHub};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A fresh directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// A new, empty directory named `lockstep-{label}-{pid}-{n}-{nanos}`.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "lockstep-{label}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // `create_dir`, not `create_dir_all`: a leftover of the same name is an error, not
        // shared state.
        std::fs::create_dir(&path).expect("create the test dir");
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

/// A localhub running in this process, in its own temporary data dir, on port 0.
///
/// Dropping it stops the hub (without waiting) and removes the dir.
#[derive(Debug)]
pub struct TestHub {
    // Declared first so that the hub stops before its dir goes.
    running: RunningHub,
    service: ServiceClient,
    dir: TestDir,
}

impl TestHub {
    /// Starts a hub: host `localhost`, MQTT and HTTPS on ports the OS picks.
    pub async fn start() -> Self {
        let dir = TestDir::new("hub");
        let config = Config {
            mqtt_port: 0,
            https_port: 0,
            ..Config::new(dir.path())
        };
        let running = server::start(config).await.expect("localhub starts");
        let service = service_client(
            running.service_connection_string().clone(),
            running.ca_pem().as_bytes(),
        );
        Self {
            running,
            service,
            dir,
        }
    }

    /// The running hub.
    pub fn running(&self) -> &RunningHub {
        &self.running
    }

    /// Our service client, as `iothubowner`.
    pub fn service(&self) -> &ServiceClient {
        &self.service
    }

    /// Device client options for this hub: its MQTT port, its CA, short timeouts.
    pub fn device_options(&self) -> DeviceClientOptions {
        device_options(self.running.mqtt_port(), self.running.ca_pem())
    }

    /// Registers `id` through the service API and returns its connection string, built from
    /// the key the hub generated and answered with.
    pub async fn create_device(&self, id: &str) -> DeviceConnectionString {
        let identity = self
            .service
            .create_device(id, &DeviceIdentity::default())
            .await
            .expect("the device is created");
        device_connection_string(self.running.host(), id, &identity)
    }

    /// Registers `id` and connects a [`Door`] for it; returns once the hub has seen its
    /// method and desired-property subscriptions.
    pub async fn connect_door(&self, id: &str) -> Door {
        let connection_string = self.create_device(id).await;
        let door = Door::connect(connection_string, self.device_options()).await;
        self.wait_until_subscribed(id).await;
        door
    }

    /// Waits until the hub routes methods and desired patches to `id`'s connection.
    pub async fn wait_until_subscribed(&self, id: &str) {
        eventually(
            "the device subscribed to methods and desired patches",
            || {
                let subscriptions = self.running.hub().subscriptions(id);
                subscriptions.methods && subscriptions.desired
            },
        )
        .await;
    }

    /// Stops the hub, waiting for every task, and removes its dir.
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

/// Our service client for `connection`, trusting the PEM CA `ca_pem` besides the web roots.
pub fn service_client(connection: ServiceConnectionString, ca_pem: &[u8]) -> ServiceClient {
    let options = ServiceClientOptions {
        extra_ca_pem: Some(ca_pem.to_vec()),
        ..ServiceClientOptions::default()
    };
    ServiceClient::new(connection, options).expect("the service client builds")
}

/// Device client options for a hub whose MQTT port is `mqtt_port` and CA is `ca_pem`.
pub fn device_options(mqtt_port: u16, ca_pem: &str) -> DeviceClientOptions {
    DeviceClientOptions {
        port: Some(mqtt_port),
        extra_ca_pem: Some(ca_pem.to_owned()),
        connect_timeout: Duration::from_secs(5),
        request_timeout: PATIENCE,
        ..DeviceClientOptions::default()
    }
}

/// The connection string of a device the service API answered with: `HostName=<host>` (no
/// port, as localhub hands them out) and the primary key.
pub fn device_connection_string(
    host: &str,
    id: &str,
    identity: &DeviceIdentity,
) -> DeviceConnectionString {
    let key = identity
        .authentication
        .as_ref()
        .and_then(|auth| auth.symmetric_key.as_ref())
        .and_then(|keys| keys.expose_primary_key())
        .expect("the hub generated a primary key");
    format!("HostName={host};DeviceId={id};SharedAccessKey={key}")
        .parse()
        .expect("a valid device connection string")
}

/// The numeric IoT Hub error code of a failed service call (e.g. 404103), if the hub sent one.
pub fn error_code(error: &ServiceError) -> Option<u32> {
    error
        .hub_error()
        .and_then(|hub| hub.code.or_else(|| hub.known_code().map(ErrorCode::number)))
}

/// The HTTP status of a failed service call, if the hub answered.
pub fn http_status(error: &ServiceError) -> Option<u16> {
    error.hub_error().map(|hub| hub.http_status)
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

/// The tutorial's door lock, on our device client: answers `lockDoor` with 200
/// `{"locked":true}`, never answers `slowLock` (longer than any response timeout a test
/// uses), and answers any other method 404. Every event (after the answer, for a method) is
/// handed to the test in order.
#[derive(Debug)]
pub struct Door {
    /// The device client, for twin calls and [`DeviceClient::shutdown`].
    pub client: DeviceClient,
    events: mpsc::UnboundedReceiver<DeviceEvent>,
}

impl Door {
    /// Connects (returns after CONNACK 0) and starts answering methods.
    pub async fn connect(
        connection_string: DeviceConnectionString,
        options: DeviceClientOptions,
    ) -> Self {
        let (client, events) = DeviceClient::connect(connection_string, options)
            .await
            .expect("the device connects");
        Self::answering(client, events)
    }

    /// Answers the methods arriving on `events` through `client`.
    pub fn answering(client: DeviceClient, mut events: DeviceEvents) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let responder = client.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let DeviceEvent::MethodRequest(request) = &event {
                    answer(&responder, request).await;
                }
                if sender.send(event).is_err() {
                    break;
                }
            }
        });
        Self {
            client,
            events: receiver,
        }
    }

    /// The next event `pick` accepts, skipping the others; panics after [`PATIENCE`].
    pub async fn next_event<T>(&mut self, mut pick: impl FnMut(DeviceEvent) -> Option<T>) -> T {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let event = self
                    .events
                    .recv()
                    .await
                    .expect("the device client is running");
                if let Some(found) = pick(event) {
                    return found;
                }
            }
        })
        .await
        .expect("the expected device event in time")
    }

    /// The next method request (already answered).
    pub async fn next_method(&mut self) -> MethodRequest {
        self.next_event(|event| match event {
            DeviceEvent::MethodRequest(request) => Some(request),
            _ => None,
        })
        .await
    }

    /// The next desired patch carrying every key of the object `want` with its value, full
    /// re-reads after a connect included.
    pub async fn next_patch(&mut self, want: &Value) -> DesiredPatch {
        let want = want.as_object().expect("`want` is an object").clone();
        self.next_event(move |event| match event {
            DeviceEvent::DesiredPatch(patch)
                if want
                    .iter()
                    .all(|(key, value)| patch.patch.get(key) == Some(value)) =>
            {
                Some(patch)
            }
            _ => None,
        })
        .await
    }

    /// Shuts the client down and waits for it.
    pub async fn shutdown(self) {
        self.client.shutdown().await;
    }
}

async fn answer(client: &DeviceClient, request: &MethodRequest) {
    let (status, payload) = match request.name.as_str() {
        "lockDoor" => (200, json!({"locked": true})),
        // The tutorial device sleeps 7 s here; never answering looks the same to the hub.
        "slowLock" => return,
        other => (404, json!({"error": format!("no method {other}")})),
    };
    // A failed answer shows up in the test as the invocation's error.
    let _ = client
        .respond_to_method(&request.rid, status, payload)
        .await;
}
