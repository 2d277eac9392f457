//! The MQTT device endpoint, end to end over TLS on 127.0.0.1:0.
//!
//! Contents:
//! 1. Our device client (`iothub::device::DeviceClient`), the main client:
//!    - `device_client_method_round_trip`: `hub.invoke_method` → device → 200 + payload back.
//!    - `desired_patch_reaches_the_device_with_its_version`
//!    - `reported_patch_returns_the_new_version_and_the_twin_shows_it` (and twin GET)
//!    - `telemetry_is_acknowledged_and_counted`
//!    - `device_client_with_a_wrong_key_is_unauthorized`
//! 2. Authentication with raw clients (CONNACK codes):
//!    - `rumqttc_with_a_bad_sas_is_not_authorized`
//!    - `unknown_device_expired_token_and_wrong_policy_are_connack_5` (and a disabled device)
//!    - `a_policy_token_with_device_connect_is_accepted`
//! 3. Connections:
//!    - `a_second_connection_with_the_same_device_id_closes_the_first`
//!    - `garbage_closes_that_connection_only`
//!    - `a_qos_2_publish_closes_the_connection`
//!    - `publishing_to_another_devices_topic_closes_the_connection`
//!    - `keep_alive_and_token_expiry_close_the_connection`
//!    - `deleting_the_device_closes_its_connection`
//!    - `shutdown_closes_connections_and_serve_returns`
//! 4. Subscriptions and twin with raw clients:
//!    - `a_method_to_a_connected_but_unsubscribed_device_is_404103`
//!    - `subscriptions_persist_across_reconnects`
//!    - `twin_get_is_answered_without_a_subscription`
//! 5. Acknowledgements and writes:
//!    - `a_reported_patch_is_acknowledged_only_once_committed_together_with_what_came_before`

#[path = "mqtt/support.rs"]
mod support;

use std::time::Duration;

use iothub::device::{DeviceError, DeviceEvent};
use iothub::model::CloudToDeviceMethod;
use localhub::IfMatch;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{ConnectReturnCode, Packet, PubAck, Publish, Subscribe};
use serde_json::{Value, json};
use support::{PATIENCE, TestHub, connect, eventually, token};

/// Waits for the next event matching `pick`, skipping others.
async fn next_event<T>(
    events: &mut iothub::device::DeviceEvents,
    mut pick: impl FnMut(DeviceEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = events.recv().await.expect("the client is running");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("the event in time")
}

fn method(name: &str, payload: Value) -> CloudToDeviceMethod {
    CloudToDeviceMethod {
        response_timeout_in_seconds: Some(5),
        ..CloudToDeviceMethod::new(name, payload)
    }
}

fn publish(topic: &str, qos: QoS, body: &str) -> Packet {
    let mut publish = Publish::new(topic, qos, body.as_bytes().to_vec());
    if qos != QoS::AtMostOnce {
        publish.pkid = 1;
    }
    Packet::Publish(publish)
}

// ----- 1. our device client -----------------------------------------------------------------

#[tokio::test]
async fn device_client_method_round_trip() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let (client, mut events) = hub.device_client("door1", &key).await.expect("connects");
    eventually("the device subscribed to methods", || {
        hub.hub.subscriptions("door1").methods
    })
    .await;

    let invoker = {
        let hub = hub.hub.clone();
        tokio::spawn(async move {
            hub.invoke_method("door1", &method("lockDoor", json!({"force": true})))
                .await
        })
    };
    let request = next_event(&mut events, |event| match event {
        DeviceEvent::MethodRequest(request) => Some(request),
        _ => None,
    })
    .await;
    assert_eq!(request.name, "lockDoor");
    assert_eq!(request.payload, json!({"force": true}));
    client
        .respond_to_method(&request.rid, 200, json!({"locked": true}))
        .await
        .expect("answered");

    let result = invoker
        .await
        .expect("joined")
        .expect("the invocation succeeds");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload, json!({"locked": true}));
    assert!(hub.hub.is_connected("door1"));
    client.shutdown().await;
    eventually("the hub saw the disconnect", || {
        !hub.hub.is_connected("door1")
    })
    .await;
    hub.stop().await;
}

#[tokio::test]
async fn desired_patch_reaches_the_device_with_its_version() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let (client, mut events) = hub.device_client("door1", &key).await.expect("connects");
    eventually("the device subscribed to desired patches", || {
        hub.hub.subscriptions("door1").desired
    })
    .await;

    let twin = hub
        .hub
        .patch_twin(
            "door1",
            &json!({"properties": {"desired": {"mode": "eco"}}}),
            &IfMatch::Absent,
        )
        .expect("patched");
    let version = twin["properties"]["desired"]["$version"]
        .as_i64()
        .expect("a desired $version");
    let patch = next_event(&mut events, |event| match event {
        DeviceEvent::DesiredPatch(patch) if patch.patch.contains_key("mode") => Some(patch),
        _ => None,
    })
    .await;
    assert_eq!(patch.version, version);
    assert_eq!(patch.patch.get("mode"), Some(&json!("eco")));
    client.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn reported_patch_returns_the_new_version_and_the_twin_shows_it() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let (client, _events) = hub.device_client("door1", &key).await.expect("connects");

    let version = client
        .patch_reported(json!({"locked": true, "battery": 87}))
        .await
        .expect("patched");
    let twin = hub.hub.get_twin("door1").expect("twin");
    let reported = &twin["properties"]["reported"];
    assert_eq!(reported["locked"], json!(true));
    assert_eq!(reported["$version"], json!(version));

    let properties = client.get_twin().await.expect("twin GET");
    let reported = properties.reported.expect("reported");
    assert_eq!(reported.version, Some(version));
    assert_eq!(reported.values.get("battery"), Some(&json!(87)));
    assert!(properties.desired.expect("desired").version.is_some());
    client.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn telemetry_is_acknowledged_and_counted() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let (client, _events) = hub.device_client("door1", &key).await.expect("connects");
    for n in 0..3 {
        let message = iothub::device::TelemetryMessage::json(&json!({"n": n}))
            .with_message_id(format!("m{n}"));
        client.send_telemetry(message).await.expect("sent");
    }
    let stats = hub.stats.clone();
    eventually("three messages counted", || stats.telemetry_messages() == 3).await;
    assert!(stats.telemetry_bytes() >= 3 * 7);
    // Still connected: every publish was acknowledged, none was refused.
    assert!(hub.hub.is_connected("door1"));
    assert_eq!(stats.connections_accepted(), 1);
    client.shutdown().await;
    hub.stop().await;
}

#[tokio::test]
async fn device_client_with_a_wrong_key_is_unauthorized() {
    let hub = TestHub::start().await;
    hub.add_device("door1");
    let wrong = iothub::auth::SharedAccessKey::from_bytes([7u8; 32]).expect("key");
    let error = hub
        .device_client("door1", &wrong)
        .await
        .expect_err("refused");
    assert_eq!(error, DeviceError::Unauthorized);
    hub.stop().await;
}

// ----- 2. authentication --------------------------------------------------------------------

#[tokio::test]
async fn rumqttc_with_a_bad_sas_is_not_authorized() {
    let hub = TestHub::start().await;
    hub.add_device("door1");
    let wrong = iothub::auth::SharedAccessKey::from_bytes([7u8; 32]).expect("key");
    let mut options = rumqttc::MqttOptions::new("door1", support::HOST, hub.port);
    options
        .set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(hub.client_tls()),
        ))
        .set_credentials(
            format!("{}/door1/?api-version=2021-04-12", support::HOST),
            token("door1", &wrong, 3600),
        );
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let error = tokio::time::timeout(PATIENCE, eventloop.poll())
        .await
        .expect("an answer in time")
        .expect_err("refused");
    assert!(
        matches!(
            error,
            rumqttc::ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized)
        ),
        "{error:?}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn unknown_device_expired_token_and_wrong_policy_are_connack_5() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let service = hub
        .hub
        .policy("service")
        .expect("policies")
        .expect("service");
    let service_token =
        iothub::auth::SasToken::for_service(support::HOST, "service", &service.primary_key, {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs();
            now + 3600
        })
        .expose_secret_string();
    let table = [
        (
            "unknown device",
            connect("ghost", &token("ghost", &key, 3600), false, 60),
        ),
        (
            "expired token",
            connect("door1", &token("door1", &key, -10), false, 60),
        ),
        (
            "policy without DeviceConnect",
            connect("door1", &service_token, false, 60),
        ),
        ("not a token", connect("door1", "password", false, 60)),
    ];
    for (name, packet) in table {
        let (mut client, ack) = hub.raw_connect(packet).await;
        assert!(!ack.session_present, "{name}");
        assert_eq!(ack.code, ConnectReturnCode::NotAuthorized, "{name}");
        client.expect_closed().await;
    }
    assert!(!hub.hub.is_connected("door1"));

    // A disabled device, with its own valid key.
    let disabled = iothub::model::DeviceIdentity {
        status: Some(iothub::model::DeviceStatus::Disabled),
        ..iothub::model::DeviceIdentity::default()
    };
    hub.hub
        .put_device("door1", disabled, &IfMatch::Any)
        .expect("disabled");
    let (mut client, ack) = hub
        .raw_connect(connect("door1", &token("door1", &key, 3600), false, 60))
        .await;
    assert_eq!(
        ack.code,
        ConnectReturnCode::NotAuthorized,
        "disabled device"
    );
    client.expect_closed().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_policy_token_with_device_connect_is_accepted() {
    let hub = TestHub::start().await;
    hub.add_device("door1");
    let policy = hub.hub.policy("device").expect("policies").expect("device");
    let expiry = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3600;
    // Scoped to the device, with the port, as some SDKs sign it.
    let password = iothub::auth::SasToken::for_service(
        "localhost:8443/devices/door1",
        "device",
        &policy.secondary_key,
        expiry,
    )
    .expose_secret_string();
    let (mut client, ack) = hub.raw_connect(connect("door1", &password, true, 60)).await;
    assert_eq!(ack.code, ConnectReturnCode::Success);
    assert!(!ack.session_present);
    client.ping().await;
    assert!(hub.hub.is_connected("door1"));
    hub.stop().await;
}

// ----- 3. connections -----------------------------------------------------------------------

#[tokio::test]
async fn a_second_connection_with_the_same_device_id_closes_the_first() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let mut first = hub.raw_device("door1", &key, false).await;
    first.ping().await;
    let mut second = hub.raw_device("door1", &key, false).await;
    first.expect_closed().await;
    second.ping().await;
    assert!(hub.hub.is_connected("door1"));
    hub.stop().await;
}

#[tokio::test]
async fn garbage_closes_that_connection_only() {
    let hub = TestHub::start().await;
    let key_a = hub.add_device("a");
    let key_b = hub.add_device("b");
    let mut healthy = hub.raw_device("a", &key_a, false).await;

    // Garbage right after the TLS handshake…
    let mut garbage = hub.open().await;
    garbage.send_bytes(&[0xff; 16]).await;
    garbage.expect_closed().await;
    // …and after a successful CONNECT (reserved packet type 0, bad remaining length).
    let mut connected = hub.raw_device("b", &key_b, false).await;
    connected
        .send_bytes(&[0x00, 0xff, 0xff, 0xff, 0xff, 0x01])
        .await;
    connected.expect_closed().await;
    eventually("b is disconnected", || !hub.hub.is_connected("b")).await;

    healthy.ping().await;
    assert!(hub.hub.is_connected("a"));
    hub.stop().await;
}

#[tokio::test]
async fn a_qos_2_publish_closes_the_connection() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let mut client = hub.raw_device("door1", &key, false).await;
    client
        .send(publish(
            "devices/door1/messages/events/",
            QoS::ExactlyOnce,
            "{}",
        ))
        .await;
    client.expect_closed().await;
    assert_eq!(hub.stats.telemetry_messages(), 0);
    hub.stop().await;
}

#[tokio::test]
async fn publishing_to_another_devices_topic_closes_the_connection() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    hub.add_device("door2");
    let table = [
        "devices/door2/messages/events/",
        "$iothub/methods/POST/lockDoor/?$rid=1",
        "some/other/topic",
    ];
    for topic in table {
        let mut client = hub.raw_device("door1", &key, false).await;
        // A good message first: acknowledged.
        client
            .send(publish(
                "devices/door1/messages/events/",
                QoS::AtLeastOnce,
                "{}",
            ))
            .await;
        assert_eq!(client.recv().await, Some(Packet::PubAck(PubAck::new(1))));
        client.send(publish(topic, QoS::AtLeastOnce, "{}")).await;
        client.expect_closed().await;
    }
    hub.stop().await;
}

#[tokio::test]
async fn keep_alive_and_token_expiry_close_the_connection() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");

    // Keep-alive 1 s: nothing for 1.5 s closes the connection.
    let started = tokio::time::Instant::now();
    let (mut client, ack) = hub
        .raw_connect(connect("door1", &token("door1", &key, 3600), false, 1))
        .await;
    assert_eq!(ack.code, ConnectReturnCode::Success);
    client.expect_closed().await;
    let silent = started.elapsed();
    assert!(
        silent >= Duration::from_millis(1400),
        "closed after {silent:?}"
    );

    // A token valid for 2 s: closed when it expires, even though the device keeps pinging.
    let started = tokio::time::Instant::now();
    let (mut client, ack) = hub
        .raw_connect(connect("door1", &token("door1", &key, 2), false, 60))
        .await;
    assert_eq!(ack.code, ConnectReturnCode::Success);
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            client.send(Packet::PingReq).await;
            match client.recv().await {
                Some(Packet::PingResp) => tokio::time::sleep(Duration::from_millis(200)).await,
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "closed when the token expired");
    // `se` is whole seconds, so the token lived between 1 and 2 s.
    let lifetime = started.elapsed();
    assert!(
        lifetime >= Duration::from_millis(900),
        "closed after {lifetime:?}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn deleting_the_device_closes_its_connection() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let mut client = hub.raw_device("door1", &key, false).await;
    hub.hub
        .delete_device("door1", &IfMatch::Any)
        .expect("deleted");
    client.expect_closed().await;
    // And it cannot come back.
    let (_client, ack) = hub
        .raw_connect(connect("door1", &token("door1", &key, 3600), false, 60))
        .await;
    assert_eq!(ack.code, ConnectReturnCode::NotAuthorized);
    hub.stop().await;
}

#[tokio::test]
async fn shutdown_closes_connections_and_serve_returns() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let mut client = hub.raw_device("door1", &key, false).await;
    let mut idle = hub.open().await;
    hub.stop().await;
    client.expect_closed().await;
    idle.expect_closed().await;
}

// ----- 4. subscriptions and twin ------------------------------------------------------------

#[tokio::test]
async fn a_method_to_a_connected_but_unsubscribed_device_is_404103() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let mut client = hub.raw_device("door1", &key, true).await;
    client.ping().await;
    assert!(hub.hub.is_connected("door1"));
    let error = hub
        .hub
        .invoke_method("door1", &method("lockDoor", Value::Null))
        .await
        .expect_err("not subscribed");
    assert_eq!(error.code, Some(404103), "{error:?}");
    hub.stop().await;
}

#[tokio::test]
async fn subscriptions_persist_across_reconnects() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");

    let mut client = hub.raw_device("door1", &key, false).await;
    client
        .send(Packet::Subscribe(Subscribe::new(
            "$iothub/methods/POST/#",
            QoS::AtLeastOnce,
        )))
        .await;
    assert!(matches!(client.recv().await, Some(Packet::SubAck(_))));
    client.send(Packet::Disconnect).await;
    client.expect_closed().await;
    eventually("the hub saw the disconnect", || {
        !hub.hub.is_connected("door1")
    })
    .await;

    // Reconnect as the Python SDK does: same client id, clean session 0, no SUBSCRIBE.
    let (mut client, ack) = hub
        .raw_connect(connect("door1", &token("door1", &key, 3600), false, 60))
        .await;
    assert_eq!(ack.code, ConnectReturnCode::Success);
    assert!(ack.session_present, "the hub kept the session");
    let invoker = {
        let hub = hub.hub.clone();
        tokio::spawn(async move {
            hub.invoke_method("door1", &method("lockDoor", json!({"force": true})))
                .await
        })
    };
    let Some(Packet::Publish(request)) = client.recv().await else {
        panic!("expected the method request");
    };
    assert_eq!(request.qos, QoS::AtMostOnce);
    let rid = request
        .topic
        .strip_prefix("$iothub/methods/POST/lockDoor/?$rid=")
        .unwrap_or_else(|| panic!("unexpected topic {}", request.topic))
        .to_owned();
    assert_eq!(
        serde_json::from_slice::<Value>(&request.payload).expect("JSON"),
        json!({"force": true})
    );
    client
        .send(publish(
            &format!("$iothub/methods/res/201/?$rid={rid}"),
            QoS::AtLeastOnce,
            r#"{"locked":true}"#,
        ))
        .await;
    assert_eq!(client.recv().await, Some(Packet::PubAck(PubAck::new(1))));
    let result = invoker.await.expect("joined").expect("answered");
    assert_eq!(result.status, Some(201));
    assert_eq!(result.payload, json!({"locked": true}));
    hub.stop().await;
}

#[tokio::test]
async fn twin_get_is_answered_without_a_subscription() {
    let hub = TestHub::start().await;
    let key = hub.add_device("door1");
    let mut client = hub.raw_device("door1", &key, false).await;
    // As the Python SDK sends it after a reconnect: QoS 1, body " ", no SUBSCRIBE before.
    client
        .send(publish(
            "$iothub/twin/GET/?$rid=0e2b7e43",
            QoS::AtLeastOnce,
            " ",
        ))
        .await;
    assert_eq!(client.recv().await, Some(Packet::PubAck(PubAck::new(1))));
    let Some(Packet::Publish(answer)) = client.recv().await else {
        panic!("expected the twin");
    };
    assert_eq!(answer.topic, "$iothub/twin/res/200/?$rid=0e2b7e43");
    let document: Value = serde_json::from_slice(&answer.payload).expect("JSON");
    assert!(document["desired"]["$version"].is_i64(), "{document}");
    assert!(document["reported"]["$version"].is_i64(), "{document}");

    // A reported patch: 204 with the new version, empty body; malformed JSON: 400.
    client
        .send(publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=p1",
            QoS::AtLeastOnce,
            r#"{"locked":false}"#,
        ))
        .await;
    assert_eq!(client.recv().await, Some(Packet::PubAck(PubAck::new(1))));
    let Some(Packet::Publish(answer)) = client.recv().await else {
        panic!("expected the patch answer");
    };
    let version = hub.hub.get_twin("door1").expect("twin")["properties"]["reported"]["$version"]
        .as_i64()
        .expect("version");
    assert_eq!(
        answer.topic,
        format!("$iothub/twin/res/204/?$rid=p1&$version={version}")
    );
    assert!(answer.payload.is_empty());
    client
        .send(publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=p2",
            QoS::AtMostOnce,
            "{oops",
        ))
        .await;
    let Some(Packet::Publish(answer)) = client.recv().await else {
        panic!("expected the patch answer");
    };
    assert_eq!(answer.topic, "$iothub/twin/res/400/?$rid=p2");
    hub.stop().await;
}

// ----- 5. acknowledgements and writes -------------------------------------------------------

/// While a reported PATCH waits for its commit, nothing goes to its device: not its PUBACK, not
/// the PUBACK of the method answer sent just before it. Both go out with the 204, in one write,
/// once the PATCH is in the database file. Here the commit is held up by a second connection
/// holding the database's write lock (as the `localhub` CLI may).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_patch_is_acknowledged_only_once_committed_together_with_what_came_before() {
    let dir = std::env::temp_dir().join(format!(
        "localhub-mqtt-ack-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("test dir");
    let file = dir.join("localhub.db");
    let hub = TestHub::start_on(localhub::store::Store::open(&file).expect("store")).await;
    let key = hub.add_device("door1");
    let mut client = hub.raw_device("door1", &key, false).await;
    let observer = localhub::store::Store::open(&file).expect("observer");
    let reported_version = |observer: &localhub::store::Store| {
        observer
            .read(|conn| localhub::store::twins::get(conn, "door1"))
            .expect("read")
            .expect("a twin")
            .reported
            .version
    };
    let before = reported_version(&observer);

    // Another writer holds the database until told to let go.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let writer = localhub::store::Store::open(&file).expect("another writer");
    let holder = {
        tokio::task::spawn_blocking(move || {
            writer.transaction(|_| {
                locked_tx.send(()).expect("test waits");
                release_rx.recv().ok();
                Ok::<_, localhub::store::StoreError>(())
            })
        })
    };
    locked_rx.recv().expect("the lock is held");

    // A method answer (nobody waits for it) and a PATCH, both QoS 1, in one write.
    let mut answer = Publish::new(
        "$iothub/methods/res/200/?$rid=7",
        QoS::AtLeastOnce,
        b"{}".to_vec(),
    );
    answer.pkid = 1;
    let mut patch = Publish::new(
        "$iothub/twin/PATCH/properties/reported/?$rid=p1",
        QoS::AtLeastOnce,
        br#"{"locked":true}"#.to_vec(),
    );
    patch.pkid = 2;
    let mut bytes = bytes::BytesMut::new();
    for packet in [Packet::Publish(answer), Packet::Publish(patch)] {
        packet.write(&mut bytes, 1 << 20).expect("encodable");
    }
    client.send_bytes(&bytes).await;

    client.expect_nothing_for(Duration::from_millis(400)).await;
    assert_eq!(reported_version(&observer), before, "nothing committed yet");

    release_tx.send(()).expect("holder waits");
    holder.await.expect("holder").expect("holder's transaction");
    assert_eq!(client.recv().await, Some(Packet::PubAck(PubAck::new(1))));
    // The write is durable by the time its PUBACK arrives, not only by its 204.
    assert_eq!(
        reported_version(&observer),
        before + 1,
        "acknowledged before its commit"
    );
    assert_eq!(client.recv().await, Some(Packet::PubAck(PubAck::new(2))));
    let Some(Packet::Publish(answer)) = client.recv().await else {
        panic!("expected the patch answer");
    };
    assert_eq!(
        answer.topic,
        format!("$iothub/twin/res/204/?$rid=p1&$version={}", before + 1)
    );
    client.ping().await;
    hub.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
