//! The hub core, without a network: registry, twins, direct-method routing and durability.
//!
//! Contents:
//! - registry: create with generated keys, 409 on create-existing, If-Match, delete.
//! - twins: patch/replace with etags, desired notifications to a subscribed connection.
//! - methods: routed to the connection and answered; offline → 404103; connecting within
//!   the connect timeout → delivered; no answer → 504101 (paused time).
//! - durability: everything acknowledged is in the database file after reopening.

use std::time::Duration;

use iothub::model::{CloudToDeviceMethod, DeviceIdentity, DeviceStatus, ErrorCode};
use localhub::hub::{Hub, IfMatch, ToDevice};
use localhub::store::Store;
use serde_json::json;

fn hub() -> Hub {
    Hub::new(Store::open_in_memory().expect("store"), "localhost:8443").expect("hub")
}

fn add(hub: &Hub, id: &str) -> DeviceIdentity {
    hub.put_device(id, DeviceIdentity::default(), &IfMatch::Absent)
        .expect("create device")
}

fn method(name: &str, connect_timeout: i32) -> CloudToDeviceMethod {
    CloudToDeviceMethod {
        method_name: Some(name.into()),
        payload: Some(json!({"lockTime": "10m"})),
        response_timeout_in_seconds: Some(5),
        connect_timeout_in_seconds: Some(connect_timeout),
    }
}

fn code(err: &iothub::model::HubError) -> Option<u32> {
    err.known_code().map(ErrorCode::number)
}

#[test]
fn default_policies_exist_with_distinct_keys() {
    let hub = hub();
    let names: Vec<String> = hub
        .policies()
        .expect("policies")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        [
            "device",
            "iothubowner",
            "registryRead",
            "registryReadWrite",
            "service"
        ]
    );
    let owner = hub.policy("iothubowner").expect("read").expect("owner");
    let service = hub.policy("service").expect("read").expect("service");
    assert_ne!(
        owner.primary_key.expose_base64(),
        service.primary_key.expose_base64()
    );
    // Debug never shows keys.
    assert!(!format!("{owner:?}").contains(&owner.primary_key.expose_base64()));
}

#[test]
fn create_generates_keys_and_refuses_a_second_create() {
    let hub = hub();
    let created = add(&hub, "door-1");
    assert_eq!(created.device_id.as_deref(), Some("door-1"));
    assert_eq!(created.status, Some(DeviceStatus::Enabled));
    let keys = created
        .authentication
        .as_ref()
        .and_then(|a| a.symmetric_key.as_ref())
        .expect("keys");
    assert!(keys.primary_key().expect("base64").is_some());
    assert_ne!(keys.expose_primary_key(), keys.expose_secondary_key());

    let err = hub
        .put_device("door-1", DeviceIdentity::default(), &IfMatch::Absent)
        .expect_err("exists");
    assert_eq!(code(&err), Some(409001));
    assert_eq!(hub.device_count().expect("count"), 1);
}

#[test]
fn update_needs_a_matching_etag_and_delete_removes_device_and_twin() {
    let hub = hub();
    let created = add(&hub, "door-1");
    let etag = created.etag.clone().expect("etag");

    let disabled = DeviceIdentity {
        status: Some(DeviceStatus::Disabled),
        ..DeviceIdentity::default()
    };
    let stale = hub
        .put_device(
            "door-1",
            disabled.clone(),
            &IfMatch::Etag("bm9wZQ==".into()),
        )
        .expect_err("stale etag");
    assert_eq!(code(&stale), Some(412001));

    let mut conn = hub.connect_device("door-1", 8);
    let updated = hub
        .put_device("door-1", disabled, &IfMatch::Etag(etag.clone()))
        .expect("update");
    assert_eq!(updated.status, Some(DeviceStatus::Disabled));
    assert_eq!(
        conn.inbox.try_recv(),
        Ok(ToDevice::Close("device disabled"))
    );
    assert!(!hub.is_connected("door-1"));
    assert_ne!(updated.etag.as_deref(), Some(etag.as_str()));
    // Keys survive an update that does not mention them.
    assert_eq!(updated.authentication, created.authentication);

    hub.delete_device("door-1", &IfMatch::Any).expect("delete");
    assert_eq!(
        code(&hub.get_device("door-1").expect_err("gone")),
        Some(404001)
    );
    assert_eq!(
        code(&hub.get_twin("door-1").expect_err("gone")),
        Some(404001)
    );
}

#[test]
fn bad_device_ids_are_refused() {
    let hub = hub();
    for id in ["", "has space", "slash/es", &"x".repeat(129)] {
        let err = hub
            .put_device(id, DeviceIdentity::default(), &IfMatch::Absent)
            .expect_err(id);
        assert_eq!(code(&err), Some(400004), "{id}");
    }
}

#[test]
fn twin_patch_and_replace_honour_etags_and_notify_subscribed_devices() {
    let hub = hub();
    add(&hub, "door-1");
    let mut conn = hub.connect_device("door-1", 8);
    hub.subscribe("door-1", |s| s.desired = true)
        .expect("subscribe");

    let twin = hub.get_twin("door-1").expect("twin");
    assert_eq!(twin["etag"], "AAAAAAAAAAE=");
    assert_eq!(twin["connectionState"], "Connected");

    let patched = hub
        .patch_twin(
            "door-1",
            &json!({"tags": {"building": 43}, "properties": {"desired": {"building": 43, "floor": 3}}}),
            &IfMatch::Etag("AAAAAAAAAAE=".into()),
        )
        .expect("patch");
    assert_eq!(patched["tags"]["building"], 43);
    assert_eq!(patched["properties"]["desired"]["$version"], 2);
    assert_eq!(
        conn.inbox.try_recv().expect("notification"),
        ToDevice::DesiredPatch(json!({"building": 43, "floor": 3, "$version": 2}))
    );

    let stale = hub
        .patch_twin(
            "door-1",
            &json!({"properties": {"desired": {"floor": 4}}}),
            &IfMatch::Etag("AAAAAAAAAAE=".into()),
        )
        .expect_err("stale");
    assert_eq!(code(&stale), Some(412001));
    assert!(
        conn.inbox.try_recv().is_err(),
        "a refused patch notifies nobody"
    );

    let reported = hub
        .patch_twin(
            "door-1",
            &json!({"properties": {"reported": {"x": 1}}}),
            &IfMatch::Any,
        )
        .expect_err("reported is the device's");
    assert_eq!(code(&reported), Some(400004));

    let replaced = hub
        .replace_twin(
            "door-1",
            &json!({"tags": {}, "properties": {"desired": {"floor": 5}}}),
            &IfMatch::Any,
        )
        .expect("replace");
    assert_eq!(replaced["properties"]["desired"]["floor"], 5);
    assert!(replaced["properties"]["desired"].get("building").is_none());
    assert_eq!(
        conn.inbox.try_recv().expect("notification"),
        ToDevice::DesiredPatch(json!({"floor": 5, "$version": 3}))
    );

    let version = hub
        .patch_reported("door-1", &json!({"locked": true}))
        .expect("reported");
    assert_eq!(version, 2);
    assert_eq!(
        hub.device_twin_document("door-1").expect("doc"),
        json!({"desired": {"floor": 5, "$version": 3}, "reported": {"locked": true, "$version": 2}})
    );
}

#[test]
fn a_second_connection_closes_the_first_and_subscriptions_persist() {
    let hub = hub();
    add(&hub, "door-1");
    let mut first = hub.connect_device("door-1", 8);
    hub.subscribe("door-1", |s| s.methods = true)
        .expect("subscribe");
    let second = hub.connect_device("door-1", 8);
    assert!(matches!(first.inbox.try_recv(), Ok(ToDevice::Close(_))));
    // The old connection ending does not unregister the new one.
    hub.disconnect_device("door-1", first.connection_id);
    assert!(hub.is_connected("door-1"));
    assert!(hub.subscriptions("door-1").methods);
    hub.disconnect_device("door-1", second.connection_id);
    assert!(!hub.is_connected("door-1"));
    assert!(
        hub.subscriptions("door-1").methods,
        "kept for the next connection"
    );
}

#[tokio::test]
async fn methods_reach_the_connection_and_its_answer_reaches_the_invoker() {
    let hub = hub();
    add(&hub, "door-1");
    let mut conn = hub.connect_device("door-1", 8);
    hub.subscribe("door-1", |s| s.methods = true)
        .expect("subscribe");
    let device = hub.clone();
    let answer = tokio::spawn(async move {
        match conn.inbox.recv().await {
            Some(ToDevice::MethodRequest { name, rid, payload }) => {
                assert_eq!(name, "lockDoor");
                assert_eq!(payload, json!({"lockTime": "10m"}));
                // An answer from another device for this rid is ignored.
                device.method_response("door-2", &rid, 500, json!(null));
                device.method_response("door-1", &rid, 200, json!({"locked": true}));
            }
            other => panic!("unexpected {other:?}"),
        }
    });
    let result = hub
        .invoke_method("door-1", &method("lockDoor", 0))
        .await
        .expect("answered");
    answer.await.expect("device task");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload, json!({"locked": true}));
}

#[tokio::test(start_paused = true)]
async fn offline_devices_fail_with_404103_after_the_connect_timeout() {
    let hub = hub();
    add(&hub, "door-1");
    let started = tokio::time::Instant::now();
    let err = hub
        .invoke_method("door-1", &method("lockDoor", 10))
        .await
        .expect_err("offline");
    assert_eq!(code(&err), Some(404103));
    assert_eq!(started.elapsed(), Duration::from_secs(10));

    // Connected but not subscribed to methods is offline too.
    let _conn = hub.connect_device("door-1", 8);
    let err = hub
        .invoke_method("door-1", &method("lockDoor", 0))
        .await
        .expect_err("not subscribed");
    assert_eq!(code(&err), Some(404103));

    let err = hub
        .invoke_method("nobody", &method("lockDoor", 0))
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), Some(404001));
}

#[tokio::test(start_paused = true)]
async fn a_deleted_device_is_not_found_even_if_it_was_connected_and_subscribed() {
    // invoke_method asks the registry only when the device is not connected: deleting a
    // device must drop what made it reachable, so the call is 404001, not a dispatch.
    let hub = hub();
    add(&hub, "door-1");
    let mut conn = hub.connect_device("door-1", 8);
    hub.subscribe("door-1", |s| s.methods = true)
        .expect("subscribe");
    hub.delete_device("door-1", &IfMatch::Any).expect("delete");
    let err = hub
        .invoke_method("door-1", &method("lockDoor", 5))
        .await
        .expect_err("deleted");
    assert_eq!(code(&err), Some(404001));
    // The connection was told to close and got no method request.
    assert!(matches!(conn.inbox.recv().await, Some(ToDevice::Close(_))));
}

#[tokio::test(start_paused = true)]
async fn a_device_that_connects_within_the_connect_timeout_gets_the_call() {
    let hub = hub();
    add(&hub, "door-1");
    let device = hub.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut conn = device.connect_device("door-1", 8);
        device
            .subscribe("door-1", |s| s.methods = true)
            .expect("subscribe");
        if let Some(ToDevice::MethodRequest { rid, .. }) = conn.inbox.recv().await {
            device.method_response("door-1", &rid, 200, json!("late but here"));
        }
    });
    let result = hub
        .invoke_method("door-1", &method("lockDoor", 5))
        .await
        .expect("delivered after connecting");
    assert_eq!(result.payload, json!("late but here"));
    late.await.expect("device task");
}

#[tokio::test(start_paused = true)]
async fn a_device_that_never_answers_times_out_with_504101() {
    let hub = hub();
    add(&hub, "door-1");
    let _conn = hub.connect_device("door-1", 8);
    hub.subscribe("door-1", |s| s.methods = true)
        .expect("subscribe");
    let started = tokio::time::Instant::now();
    let err = hub
        .invoke_method("door-1", &method("lockDoor", 0))
        .await
        .expect_err("no answer");
    assert_eq!(code(&err), Some(504101));
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

#[tokio::test]
async fn invalid_invocations_are_refused_before_anything_is_sent() {
    let hub = hub();
    add(&hub, "door-1");
    let mut conn = hub.connect_device("door-1", 8);
    hub.subscribe("door-1", |s| s.methods = true)
        .expect("subscribe");
    let cases = [
        CloudToDeviceMethod {
            method_name: None,
            ..method("x", 0)
        },
        CloudToDeviceMethod {
            response_timeout_in_seconds: Some(4),
            ..method("x", 0)
        },
        CloudToDeviceMethod {
            connect_timeout_in_seconds: Some(301),
            ..method("x", 0)
        },
        CloudToDeviceMethod {
            payload: Some(json!("x".repeat(130 * 1024))),
            ..method("x", 0)
        },
    ];
    for case in cases {
        assert!(
            hub.invoke_method("door-1", &case).await.is_err(),
            "{case:?}"
        );
    }
    assert!(conn.inbox.try_recv().is_err(), "nothing reached the device");
}

#[test]
fn everything_acknowledged_is_in_the_file_after_reopening() {
    let dir = std::env::temp_dir().join(format!("localhub-hub-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("hub.db");
    let (keys, owner_key) = {
        let hub = Hub::new(Store::open(&db).expect("store"), "localhost:8443").expect("hub");
        let created = add(&hub, "door-1");
        hub.patch_twin(
            "door-1",
            &json!({"properties": {"desired": {"building": 43}}}),
            &IfMatch::Any,
        )
        .expect("patch");
        hub.patch_reported("door-1", &json!({"locked": true}))
            .expect("reported");
        hub.subscribe("door-1", |s| s.methods = true)
            .expect("subscribe");
        let owner = hub.policy("iothubowner").expect("read").expect("owner");
        (created.authentication, owner.primary_key.expose_base64())
    };
    let hub = Hub::new(Store::open(&db).expect("reopen"), "localhost:8443").expect("hub");
    let device = hub.get_device("door-1").expect("device");
    assert_eq!(device.authentication, keys);
    let twin = hub.get_twin("door-1").expect("twin");
    assert_eq!(twin["properties"]["desired"]["building"], 43);
    assert_eq!(twin["properties"]["reported"]["locked"], true);
    assert_eq!(twin["version"], 3);
    let owner = hub.policy("iothubowner").expect("read").expect("owner");
    assert_eq!(
        owner.primary_key.expose_base64(),
        owner_key,
        "keys are kept"
    );
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn queries_select_twins_and_page_with_a_continuation() {
    let hub = hub();
    for i in 0..5 {
        let id = format!("door-{i}");
        add(&hub, &id);
        hub.patch_twin(
            &id,
            &json!({"tags": {"building": if i < 3 { 43 } else { 7 }}}),
            &IfMatch::Any,
        )
        .expect("tags");
    }
    let first = hub
        .query_devices("SELECT * FROM devices WHERE tags.building = 43", None, 2)
        .expect("query");
    assert_eq!(first.item_type, "Twin");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0]["deviceId"], "door-0");
    let next = first.continuation.clone().expect("more");
    let second = hub
        .query_devices(
            "SELECT * FROM devices WHERE tags.building = 43",
            Some(&next),
            2,
        )
        .expect("page 2");
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0]["deviceId"], "door-2");
    assert_eq!(second.continuation, None);

    let count = hub
        .query_devices("SELECT COUNT() AS n FROM devices", None, 100)
        .expect("count");
    assert_eq!(count.item_type, "Raw");
    assert_eq!(count.items, vec![json!({"n": 5})]);

    let err = hub
        .query_devices("SELECT * FROM devices WHERE", None, 100)
        .expect_err("bad query");
    assert_eq!(code(&err), Some(400004));
    assert!(err.to_string().contains("column"), "{err}");
}
