//! Our clients against a real localhub: the scenarios of the official-SDK interop suite
//! (`tests/interop/test_localhub_*.py`), driven by `iothub`'s `ServiceClient` (HTTPS) and
//! `DeviceClient` (MQTT/TLS) instead of the Azure SDKs. Both sides share `iothub`'s models, so
//! this proves the client and the emulator agree beyond each one's unit tests; the Python suite
//! is what checks them against Azure's own SDKs.
//!
//! Every test starts its own hub in-process on port 0 (see `support`).
//!
//! Contents:
//! 1. Registry (`test_localhub_service.py`):
//!    - `devices_are_created_read_listed_updated_with_etags_and_deleted` (409 on re-create,
//!      412 on a stale etag, 404 after delete)
//!    - `a_wrong_key_is_unauthorized`
//! 2. Twins:
//!    - `twins_are_patched_and_replaced_with_etags` (stale etag → 412)
//!    - `the_device_receives_a_desired_patch_with_its_version`
//!    - `a_reported_patch_shows_in_the_service_twin`
//! 3. Direct methods (`test_localhub_device.py`):
//!    - `the_device_answers_lock_door`
//!    - `an_unknown_method_is_answered_404_by_the_device`
//!    - `a_method_on_an_offline_device_is_404103`
//!    - `a_device_that_does_not_answer_is_504101` (response timeout 5 s: the slow test)
//!    - `a_device_connecting_within_the_connect_timeout_gets_the_call`
//! 4. Queries:
//!    - `queries_page_with_continuation_tokens` (5 devices, pages of 2 → 3 pages)
//! 5. Forced disconnect:
//!    - `the_device_keeps_working_after_another_connection_takes_over` (re-subscribe, resync
//!      of the desired change made while it was out)

mod support;

use std::time::{Duration, Instant};

use iothub::device::{ConnectionState, DeviceClient, DeviceClientOptions, DeviceEvent};
use iothub::model::{AuthenticationType, CloudToDeviceMethod, DeviceStatus, Twin};
use iothub::service::{IfMatch, PageRequest, ServiceClient, ServiceError};
use serde_json::{Value, json};
use support::{Door, TestHub, error_code, http_status, service_client};

fn twin(body: Value) -> Twin {
    serde_json::from_value(body).expect("a twin body")
}

fn lock_door(connect_timeout: i32) -> CloudToDeviceMethod {
    CloudToDeviceMethod {
        response_timeout_in_seconds: Some(30),
        connect_timeout_in_seconds: Some(connect_timeout),
        ..CloudToDeviceMethod::new("lockDoor", json!({"lockTime": "10m"}))
    }
}

async fn invoke_lock(
    service: &ServiceClient,
    id: &str,
    connect_timeout: i32,
) -> Result<iothub::model::CloudToDeviceMethodResult, ServiceError> {
    service.invoke_method(id, &lock_door(connect_timeout)).await
}

// ----- 1. Registry ---------------------------------------------------------------------------

#[tokio::test]
async fn devices_are_created_read_listed_updated_with_etags_and_deleted() {
    let hub = TestHub::start().await;
    let service = hub.service();
    let id = "registry-door";

    let created = service
        .create_device(id, &Default::default())
        .await
        .expect("created");
    assert_eq!(created.device_id.as_deref(), Some(id));
    let authentication = created.authentication.as_ref().expect("authentication");
    assert_eq!(authentication.auth_type, Some(AuthenticationType::Sas));
    let keys = authentication.symmetric_key.as_ref().expect("keys");
    assert!(
        keys.expose_primary_key().is_some_and(|key| !key.is_empty()),
        "the hub generates a primary key"
    );

    let fetched = service.get_device(id).await.expect("read");
    assert_eq!(fetched.etag, created.etag);
    let listed = service.list_devices(None).await.expect("listed");
    assert!(listed.iter().any(|d| d.device_id.as_deref() == Some(id)));

    let conflict = service
        .create_device(id, &Default::default())
        .await
        .expect_err("a second create");
    assert!(conflict.is_conflict(), "{conflict}");
    assert_eq!(http_status(&conflict), Some(409));

    // Update with the current etag, then with the one it replaced.
    let old_etag = fetched.etag.clone().expect("an etag");
    let disabled = iothub::model::DeviceIdentity {
        status: Some(DeviceStatus::Disabled),
        ..fetched.clone()
    };
    let updated = service
        .update_device(id, &disabled, &IfMatch::Etag(old_etag.clone()))
        .await
        .expect("updated with the current etag");
    assert_eq!(updated.status, Some(DeviceStatus::Disabled));
    assert_ne!(updated.etag.as_deref(), Some(old_etag.as_str()));
    let stale = service
        .update_device(id, &fetched, &IfMatch::Etag(old_etag.clone()))
        .await
        .expect_err("a stale etag");
    assert!(stale.is_precondition_failed(), "{stale}");
    assert_eq!(http_status(&stale), Some(412));
    assert_eq!(
        service.get_device(id).await.expect("read").status,
        Some(DeviceStatus::Disabled),
        "the stale update changed nothing"
    );

    let stale_delete = service
        .delete_device(id, &IfMatch::Etag(old_etag))
        .await
        .expect_err("a delete with a stale etag");
    assert!(stale_delete.is_precondition_failed(), "{stale_delete}");
    service
        .delete_device(id, &IfMatch::from_etag(updated.etag.as_deref()))
        .await
        .expect("deleted");
    let missing = service.get_device(id).await.expect_err("gone");
    assert!(missing.is_not_found(), "{missing}");
    assert_eq!(http_status(&missing), Some(404));
    assert_eq!(error_code(&missing), Some(404001));
    assert_eq!(
        missing.hub_error().and_then(|e| e.code_name.as_deref()),
        Some("DeviceNotFound")
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized() {
    let hub = TestHub::start().await;
    let good = hub
        .running()
        .service_connection_string()
        .expose_secret_string();
    let (prefix, _) = good
        .rsplit_once("SharedAccessKey=")
        .expect("a key in the connection string");
    let bad = format!("{prefix}SharedAccessKey={}=", "A".repeat(43))
        .parse()
        .expect("still a valid connection string");
    let client = service_client(bad, hub.running().ca_pem().as_bytes());
    let denied = client.list_devices(None).await.expect_err("refused");
    assert!(denied.is_unauthorized(), "{denied}");
    assert_eq!(http_status(&denied), Some(401));
    hub.stop().await;
}

// ----- 2. Twins ------------------------------------------------------------------------------

#[tokio::test]
async fn twins_are_patched_and_replaced_with_etags() {
    let hub = TestHub::start().await;
    let service = hub.service();
    let id = "twin-door";
    hub.create_device(id).await;

    let original = service.get_twin(id).await.expect("the twin");
    assert_eq!(original.device_id.as_deref(), Some(id));
    let etag = original.etag.clone().expect("a twin etag");

    let patched = service
        .patch_twin(
            id,
            &twin(json!({"tags": {"building": 43}, "properties": {"desired": {"floor": 3}}})),
            &IfMatch::Etag(etag.clone()),
        )
        .await
        .expect("patched with the current etag");
    assert_eq!(patched.tags, json!({"building": 43}).as_object().cloned());
    let desired = patched
        .properties
        .as_ref()
        .and_then(|p| p.desired.as_ref())
        .expect("desired");
    assert_eq!(desired.values.get("floor"), Some(&json!(3)));
    assert_eq!(desired.version, Some(2));

    // The etag we started from is stale now.
    let stale = service
        .patch_twin(
            id,
            &twin(json!({"tags": {"building": 44}})),
            &IfMatch::Etag(etag),
        )
        .await
        .expect_err("a stale etag");
    assert!(stale.is_precondition_failed(), "{stale}");
    assert_eq!(http_status(&stale), Some(412));

    let replaced = service
        .replace_twin(
            id,
            &twin(json!({"tags": {"wing": "east"}, "properties": {"desired": {"floor": 4}}})),
            &IfMatch::Any,
        )
        .await
        .expect("replaced");
    assert_eq!(replaced.tags, json!({"wing": "east"}).as_object().cloned());
    let desired = replaced
        .properties
        .as_ref()
        .and_then(|p| p.desired.as_ref())
        .expect("desired");
    assert!(!desired.values.contains_key("building"));
    assert_eq!(desired.values.get("floor"), Some(&json!(4)));
    hub.stop().await;
}

#[tokio::test]
async fn the_device_receives_a_desired_patch_with_its_version() {
    let hub = TestHub::start().await;
    let mut door = hub.connect_door("desired-door").await;

    let patched = hub
        .service()
        .patch_twin(
            "desired-door",
            &twin(json!({"properties": {"desired": {"building": 43, "floor": 3}}})),
            &IfMatch::Any,
        )
        .await
        .expect("patched");
    let version = patched
        .properties
        .and_then(|p| p.desired)
        .and_then(|d| d.version)
        .expect("a desired $version");
    assert!(version >= 2);

    let patch = door.next_patch(&json!({"building": 43, "floor": 3})).await;
    assert_eq!(patch.version, version);
    assert!(!patch.patch.contains_key("$version"));
    door.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_reported_patch_shows_in_the_service_twin() {
    let hub = TestHub::start().await;
    let door = hub.connect_door("reported-door").await;

    let version = door
        .client
        .patch_reported(json!({"locked": true, "battery": 87}))
        .await
        .expect("the hub applied the patch");

    let reported = hub
        .service()
        .get_twin("reported-door")
        .await
        .expect("the twin")
        .properties
        .and_then(|p| p.reported)
        .expect("reported properties");
    assert_eq!(reported.values.get("locked"), Some(&json!(true)));
    assert_eq!(reported.values.get("battery"), Some(&json!(87)));
    assert_eq!(reported.version, Some(version));

    // The device reads back what it reported.
    let own = door.client.get_twin().await.expect("the device's twin");
    let own_reported = own.reported.expect("reported");
    assert_eq!(own_reported.values.get("locked"), Some(&json!(true)));
    door.shutdown().await;
    hub.stop().await;
}

// ----- 3. Direct methods ---------------------------------------------------------------------

#[tokio::test]
async fn the_device_answers_lock_door() {
    let hub = TestHub::start().await;
    let mut door = hub.connect_door("method-door").await;

    let result = invoke_lock(hub.service(), "method-door", 0)
        .await
        .expect("answered");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload, json!({"locked": true}));

    let call = door.next_method().await;
    assert_eq!(call.name, "lockDoor");
    assert_eq!(call.payload, json!({"lockTime": "10m"}));
    door.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn an_unknown_method_is_answered_404_by_the_device() {
    let hub = TestHub::start().await;
    let door = hub.connect_door("unknown-method-door").await;

    // The device's own 404 comes back in an HTTP 200.
    let result = hub
        .service()
        .invoke_method(
            "unknown-method-door",
            &CloudToDeviceMethod::new("openWindow", Value::Null),
        )
        .await
        .expect("the device answered");
    assert_eq!(result.status, Some(404));
    assert_eq!(result.payload, json!({"error": "no method openWindow"}));
    door.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_method_on_an_offline_device_is_404103() {
    let hub = TestHub::start().await;
    hub.create_device("offline-door").await;

    let offline = invoke_lock(hub.service(), "offline-door", 0)
        .await
        .expect_err("nobody is connected");
    assert!(offline.is_device_not_online(), "{offline}");
    assert_eq!(http_status(&offline), Some(404));
    assert_eq!(error_code(&offline), Some(404103));
    hub.stop().await;
}

#[tokio::test]
async fn a_device_that_does_not_answer_is_504101() {
    let hub = TestHub::start().await;
    let mut door = hub.connect_door("slow-door").await;

    let started = Instant::now();
    let late = hub
        .service()
        .invoke_method(
            "slow-door",
            &CloudToDeviceMethod {
                response_timeout_in_seconds: Some(5),
                ..CloudToDeviceMethod::new("slowLock", Value::Null)
            },
        )
        .await
        .expect_err("the device never answers");
    assert!(late.is_timeout(), "{late}");
    assert_eq!(http_status(&late), Some(504));
    assert_eq!(error_code(&late), Some(504101));
    assert!(
        started.elapsed() >= Duration::from_millis(4500),
        "the hub waited the response timeout, not {:?}",
        started.elapsed()
    );
    assert_eq!(door.next_method().await.name, "slowLock");

    // The device still answers the next call.
    let result = invoke_lock(hub.service(), "slow-door", 10)
        .await
        .expect("answered");
    assert_eq!(result.status, Some(200));
    door.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_device_connecting_within_the_connect_timeout_gets_the_call() {
    let hub = TestHub::start().await;
    let connection_string = hub.create_device("late-door").await;

    let invocation = {
        let service = hub.service().clone();
        tokio::spawn(async move { invoke_lock(&service, "late-door", 10).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!invocation.is_finished(), "the hub waits for the device");
    let mut door = Door::connect(connection_string, hub.device_options()).await;

    let result = invocation
        .await
        .expect("joined")
        .expect("delivered once the device connected");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload, json!({"locked": true}));
    assert_eq!(door.next_method().await.name, "lockDoor");
    door.shutdown().await;
    hub.stop().await;
}

// ----- 4. Queries ----------------------------------------------------------------------------

#[tokio::test]
async fn queries_page_with_continuation_tokens() {
    let hub = TestHub::start().await;
    let service = hub.service();
    let mut ids: Vec<String> = (1..=5).map(|n| format!("query-door-{n}")).collect();
    ids.sort();
    for id in &ids {
        hub.create_device(id).await;
        service
            .patch_twin(id, &twin(json!({"tags": {"batch": "b1"}})), &IfMatch::Any)
            .await
            .expect("tagged");
    }
    // An untagged device that the query must leave out.
    hub.create_device("other-door").await;

    let query = "SELECT * FROM devices WHERE tags.batch = 'b1'";
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut page = PageRequest::first(Some(2));
    loop {
        let result = service
            .query_devices::<Twin>(query, &page)
            .await
            .expect("a page");
        assert!(result.items.len() <= 2, "at most the page size");
        seen.extend(result.items.iter().filter_map(|t| t.device_id.clone()));
        pages += 1;
        match result.next_page(Some(2)) {
            Some(next) => page = next,
            None => break,
        }
        assert!(pages < 10, "the continuation tokens end");
    }
    seen.sort();
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);

    let mut all: Vec<String> = service
        .query_devices_all::<Twin>(query, Some(2))
        .await
        .expect("every page")
        .into_iter()
        .filter_map(|t| t.device_id)
        .collect();
    all.sort();
    assert_eq!(all, ids);
    hub.stop().await;
}

// ----- 5. Forced disconnect ------------------------------------------------------------------

/// The door's reconnect window after a kick, when it is long enough to make a change in.
const WINDOW: Duration = Duration::from_secs(1);

#[tokio::test]
async fn the_device_keeps_working_after_another_connection_takes_over() {
    let hub = TestHub::start().await;
    let id = "kicked-door";
    let connection_string = hub.create_device(id).await;
    // Reconnect delays are uniform in [0, ceiling]: a ceiling of 3 s usually leaves a window
    // in which the door is out, and the loop below kicks it again when it does not.
    let door_options = DeviceClientOptions {
        backoff_initial: Duration::from_secs(3),
        ..hub.device_options()
    };
    let mut door = Door::connect(connection_string.clone(), door_options).await;
    hub.wait_until_subscribed(id).await;
    assert_eq!(
        invoke_lock(hub.service(), id, 0)
            .await
            .expect("answered")
            .status,
        Some(200)
    );
    // The intruder does not come back quickly once the door takes the connection back.
    let intruder_options = DeviceClientOptions {
        backoff_initial: Duration::from_secs(60),
        ..hub.device_options()
    };

    // A second connection with the same device id makes the hub close the door's.
    let mut window = None;
    for _ in 0..8 {
        let (intruder, intruder_events) =
            DeviceClient::connect(connection_string.clone(), intruder_options.clone())
                .await
                .expect("the intruder connects");
        let retry_in = door
            .next_event(|event| match event {
                DeviceEvent::ConnectionState(ConnectionState::Reconnecting {
                    retry_in, ..
                }) => Some(retry_in),
                _ => None,
            })
            .await;
        let kicked_at = Instant::now();
        if retry_in >= WINDOW {
            window = Some((intruder, intruder_events, kicked_at, retry_in));
            break;
        }
        // Too short to be sure the change lands while the door is out: let it come back
        // and kick it again.
        intruder.shutdown().await;
        wait_connected(&mut door).await;
    }
    let (intruder, _intruder_events, kicked_at, retry_in) =
        window.expect("a reconnect delay of at least 1 s within 8 kicks");

    // A desired change while the door is out.
    hub.service()
        .patch_twin(
            id,
            &twin(json!({"properties": {"desired": {"floor": 7}}})),
            &IfMatch::Any,
        )
        .await
        .expect("patched");
    // With a margin for the time between the door's timer starting and its event arriving.
    assert!(
        kicked_at.elapsed() + Duration::from_millis(250) < retry_in,
        "the change was made before the door's reconnect"
    );
    intruder.shutdown().await;

    // The door reconnects, re-subscribes and re-reads its twin: the change arrives as a full
    // document.
    wait_connected(&mut door).await;
    let resync = door.next_patch(&json!({"floor": 7})).await;
    assert!(resync.full, "the change made while out came by the resync");
    hub.wait_until_subscribed(id).await;

    // Methods and live patches still reach it.
    let result = invoke_lock(hub.service(), id, 30)
        .await
        .expect("answered after the reconnect");
    assert_eq!(result.status, Some(200));
    hub.service()
        .patch_twin(
            id,
            &twin(json!({"properties": {"desired": {"floor": 8}}})),
            &IfMatch::Any,
        )
        .await
        .expect("patched");
    let live = door.next_patch(&json!({"floor": 8})).await;
    assert!(!live.full);
    assert!(live.version > resync.version);
    door.shutdown().await;
    hub.stop().await;
}

async fn wait_connected(door: &mut Door) {
    door.next_event(|event| match event {
        DeviceEvent::ConnectionState(ConnectionState::Connected) => Some(()),
        _ => None,
    })
    .await;
}
