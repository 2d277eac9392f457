//! The MQTT device client against a scripted hub (`device/peer.rs`): TLS on port 0, packets
//! checked byte-for-byte where the protocol reference pins them.
//!
//! Contents:
//! - `a_device_session_end_to_end`: CONNECT form and SAS password, subscriptions, the twin
//!   resync, a method round trip, twin GET, reported PATCH, a desired patch, telemetry,
//!   then a dropped connection: reconnect, resubscribe, resync delivering the offline
//!   change exactly once, a stale patch dropped, and a graceful shutdown with DISCONNECT.
//! - `refused_credentials_are_unauthorized_and_secret_free`: CONNACK 5.
//! - `an_untrusted_hub_certificate_fails_the_connect`: no extra CA, no connection.

#[path = "device/peer.rs"]
mod peer;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iothub::auth::{DeviceConnectionString, SasToken, SharedAccessKey};
use iothub::device::{
    ConnectionState, DesiredPatch, DeviceClient, DeviceClientOptions, DeviceError, DeviceEvent,
    DeviceEvents, DisconnectReason, MethodRequest, TelemetryMessage,
};
use iothub::topic::Topic;
use rumqttc::{ConnectReturnCode, QoS};
use serde_json::{Value, json};

use peer::{FakeHub, STEP};

/// Bytes 0x00..=0x1F; long enough that a leak of any part of it is unmistakable.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const DEVICE_ID: &str = "door-1";

fn connection_string() -> DeviceConnectionString {
    format!("HostName=localhost;DeviceId={DEVICE_ID};SharedAccessKey={KEY}")
        .parse()
        .expect("valid connection string")
}

fn options(hub: &FakeHub) -> DeviceClientOptions {
    DeviceClientOptions {
        port: Some(hub.port),
        extra_ca_pem: Some(hub.ca_pem.clone()),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..DeviceClientOptions::default()
    }
}

async fn next_event(events: &mut DeviceEvents) -> DeviceEvent {
    tokio::time::timeout(STEP, events.recv())
        .await
        .expect("no event in time")
        .expect("the event stream ended")
}

async fn expect_state(events: &mut DeviceEvents) -> ConnectionState {
    match next_event(events).await {
        DeviceEvent::ConnectionState(state) => state,
        other => panic!("expected a connection state, got {other:?}"),
    }
}

async fn expect_desired(events: &mut DeviceEvents) -> DesiredPatch {
    match next_event(events).await {
        DeviceEvent::DesiredPatch(patch) => patch,
        other => panic!("expected a desired patch, got {other:?}"),
    }
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn json_body(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("JSON body")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Accepts a connection, checks its CONNECT as the hub would, and accepts it.
async fn accept_device(hub: &FakeHub) -> peer::Conn {
    let mut conn = hub.accept().await;
    let connect = conn.expect_connect().await;
    assert_eq!(connect.client_id, DEVICE_ID);
    assert!(
        !connect.clean_session,
        "the Python SDK's persistent session"
    );
    assert_eq!(connect.keep_alive, 60);
    let login = connect.login.expect("user name and password");
    assert_eq!(
        login.username,
        format!(
            "localhost/{DEVICE_ID}/?api-version=2021-04-12&DeviceClientType=lockstep%2F{}",
            env!("CARGO_PKG_VERSION")
        )
    );
    let token: SasToken = login.password.parse().expect("the password is a SAS token");
    let key = SharedAccessKey::from_base64(KEY).expect("valid key");
    token
        .verify(&key, &format!("localhost/devices/{DEVICE_ID}"), unix_now())
        .expect("the token verifies against the device key");
    assert!(
        token.expiry() > unix_now() + 3000,
        "about an hour of validity"
    );
    conn.connack(ConnectReturnCode::Success).await;
    conn
}

/// Expects the three subscriptions, re-issued on every connection.
async fn expect_subscriptions(conn: &mut peer::Conn) {
    assert_eq!(
        conn.expect_subscribe().await,
        [
            ("$iothub/methods/POST/#".to_owned(), QoS::AtLeastOnce),
            ("$iothub/twin/res/#".to_owned(), QoS::AtLeastOnce),
            (
                "$iothub/twin/PATCH/properties/desired/#".to_owned(),
                QoS::AtLeastOnce
            ),
        ]
    );
}

/// Expects a twin GET and returns its `$rid`.
async fn expect_twin_get(conn: &mut peer::Conn) -> String {
    let (topic, _) = conn.expect_publish().await;
    match Topic::parse(&topic) {
        Ok(Topic::TwinGet { rid }) => rid,
        other => panic!("expected a twin GET, got {topic} ({other:?})"),
    }
}

#[tokio::test]
async fn a_device_session_end_to_end() {
    let hub = FakeHub::start().await;
    let connecting = tokio::spawn(DeviceClient::connect(connection_string(), options(&hub)));
    let mut conn = accept_device(&hub).await;
    let (client, mut events) = connecting
        .await
        .expect("task")
        .expect("connected on the first attempt");
    assert_eq!(expect_state(&mut events).await, ConnectionState::Connecting);
    assert_eq!(expect_state(&mut events).await, ConnectionState::Connected);

    // Subscriptions, then a twin GET whose desired part reaches the app as a full patch.
    expect_subscriptions(&mut conn).await;
    let rid = expect_twin_get(&mut conn).await;
    conn.publish(
        &format!("$iothub/twin/res/200/?$rid={rid}"),
        r#"{"desired":{"lockTime":"1m","$version":1},"reported":{"$version":1}}"#,
    )
    .await;
    assert_eq!(
        expect_desired(&mut events).await,
        DesiredPatch {
            version: 1,
            patch: object(json!({"lockTime": "1m"})),
            full: true
        }
    );

    // A direct method round trip.
    conn.publish(
        "$iothub/methods/POST/lockDoor/?$rid=1",
        r#"{"lockTime":"10m"}"#,
    )
    .await;
    let DeviceEvent::MethodRequest(request) = next_event(&mut events).await else {
        panic!("expected a method request");
    };
    assert_eq!(
        request,
        MethodRequest {
            name: "lockDoor".into(),
            rid: "1".into(),
            payload: json!({"lockTime": "10m"}),
        }
    );
    client
        .respond_to_method(&request.rid, 200, json!({"locked": true}))
        .await
        .expect("queued");
    let (topic, body) = conn.expect_publish().await;
    assert_eq!(topic, "$iothub/methods/res/200/?$rid=1");
    assert_eq!(json_body(&body), json!({"locked": true}));

    // Twin GET by the app.
    let getting = tokio::spawn({
        let client = client.clone();
        async move { client.get_twin().await }
    });
    let rid = expect_twin_get(&mut conn).await;
    conn.publish(
        &format!("$iothub/twin/res/200/?$rid={rid}"),
        r#"{"desired":{"lockTime":"5m","$version":2},"reported":{"$version":1}}"#,
    )
    .await;
    let twin = getting.await.expect("task").expect("twin");
    let desired = twin.desired.expect("desired");
    assert_eq!(desired.version, Some(2));
    assert_eq!(desired.values.get("lockTime"), Some(&json!("5m")));
    assert_eq!(twin.reported.expect("reported").version, Some(1));

    // Reported PATCH: the call returns the version from the 204.
    let patching = tokio::spawn({
        let client = client.clone();
        async move { client.patch_reported(json!({"locked": true})).await }
    });
    let (topic, body) = conn.expect_publish().await;
    let Ok(Topic::ReportedPatch { rid }) = Topic::parse(&topic) else {
        panic!("expected a reported PATCH, got {topic}");
    };
    assert_eq!(json_body(&body), json!({"locked": true}));
    conn.publish(&format!("$iothub/twin/res/204/?$rid={rid}&$version=2"), "")
        .await;
    assert_eq!(patching.await.expect("task"), Ok(2));

    // A desired patch.
    conn.publish(
        "$iothub/twin/PATCH/properties/desired/?$version=2",
        r#"{"lockTime":"5m","$version":2}"#,
    )
    .await;
    assert_eq!(
        expect_desired(&mut events).await,
        DesiredPatch {
            version: 2,
            patch: object(json!({"lockTime": "5m"})),
            full: false
        }
    );

    // Telemetry with properties.
    client
        .send_telemetry(
            TelemetryMessage::json(&json!({"event": "locked"})).with_property("alert", "on"),
        )
        .await
        .expect("queued");
    let (topic, body) = conn.expect_publish().await;
    assert_eq!(
        topic,
        format!(
            "devices/{DEVICE_ID}/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&alert=on"
        )
    );
    assert_eq!(json_body(&body), json!({"event": "locked"}));

    // The hub drops the connection; the client comes back with a second CONNECT.
    drop(conn);
    assert!(matches!(
        expect_state(&mut events).await,
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
    let mut conn = accept_device(&hub).await;
    assert_eq!(expect_state(&mut events).await, ConnectionState::Connecting);
    assert_eq!(expect_state(&mut events).await, ConnectionState::Connected);
    expect_subscriptions(&mut conn).await;

    // Desired changed to version 3 while offline: delivered once, as the whole document.
    let rid = expect_twin_get(&mut conn).await;
    conn.publish(
        &format!("$iothub/twin/res/200/?$rid={rid}"),
        r#"{"desired":{"lockTime":"15m","$version":3},"reported":{"locked":true,"$version":2}}"#,
    )
    .await;
    assert_eq!(
        expect_desired(&mut events).await,
        DesiredPatch {
            version: 3,
            patch: object(json!({"lockTime": "15m"})),
            full: true
        }
    );

    // A stale patch (version 2 again) is dropped: the next event is version 4.
    conn.publish(
        "$iothub/twin/PATCH/properties/desired/?$version=2",
        r#"{"lockTime":"5m","$version":2}"#,
    )
    .await;
    conn.publish(
        "$iothub/twin/PATCH/properties/desired/?$version=4",
        r#"{"lockTime":null,"$version":4}"#,
    )
    .await;
    assert_eq!(
        expect_desired(&mut events).await,
        DesiredPatch {
            version: 4,
            patch: object(json!({"lockTime": null})),
            full: false
        }
    );

    // Graceful shutdown: DISCONNECT on the wire, the task finished, the stream ends.
    let shutting_down = tokio::spawn({
        let client = client.clone();
        async move { client.shutdown().await }
    });
    conn.expect_disconnect().await;
    tokio::time::timeout(STEP, shutting_down)
        .await
        .expect("shutdown in time")
        .expect("task");
    assert_eq!(
        expect_state(&mut events).await,
        ConnectionState::Disconnected {
            reason: DisconnectReason::ShutDown
        }
    );
    assert!(events.recv().await.is_none());
    assert_eq!(client.get_twin().await, Err(DeviceError::ShutDown));
}

#[tokio::test]
async fn refused_credentials_are_unauthorized_and_secret_free() {
    let hub = FakeHub::start().await;
    let connecting = tokio::spawn(DeviceClient::connect(connection_string(), options(&hub)));
    let mut conn = hub.accept().await;
    let connect = conn.expect_connect().await;
    let password = connect.login.expect("login").password;
    conn.connack(ConnectReturnCode::NotAuthorized).await;
    let error = tokio::time::timeout(STEP, connecting)
        .await
        .expect("connect returns in time")
        .expect("task")
        .expect_err("refused");
    assert_eq!(error, DeviceError::Unauthorized);
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("AAECAwQF"), "{text}");
        assert!(!text.contains(&password), "{text}");
        assert!(!text.contains("sig="), "{text}");
    }
    assert!(
        error
            .to_string()
            .contains("refused the device's credentials")
    );
}

#[tokio::test]
async fn an_untrusted_hub_certificate_fails_the_connect() {
    let hub = FakeHub::start().await;
    let options = DeviceClientOptions {
        extra_ca_pem: None,
        ..options(&hub)
    };
    let connecting = tokio::spawn(DeviceClient::connect(connection_string(), options));
    assert!(hub.try_accept().await.is_err(), "the handshake must fail");
    let error = tokio::time::timeout(STEP, connecting)
        .await
        .expect("connect returns in time")
        .expect("task")
        .expect_err("untrusted");
    let DeviceError::Connect { cause } = &error else {
        panic!("expected a connect error, got {error:?}");
    };
    assert!(
        cause.contains("TLS") || cause.contains("certificate"),
        "{cause}"
    );
}
