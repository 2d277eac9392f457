//! The service REST API over HTTPS, against a whole hub started on port 0.
//!
//! Contents:
//! - startup: `localhub.json` (real ports, absolute CA path, a working connection string),
//!   HTTP/1.1 and HTTP/2 both served.
//! - registry: create (200, generated keys) / get / list / update with `If-Match` `"*"` and
//!   a stale etag (412) / create-existing (409) / delete (204) / get after delete (404001 with
//!   header, numeric code and tracking id).
//! - twins: get / patch / replace with etags (stale → 412), `null` deletes, reported
//!   properties refused.
//! - methods: a connected device answers (200 with its status and payload); offline device
//!   → 404103, unknown device → 404001, bad timeout → 400; shutdown cuts off a call in
//!   flight after the grace period.
//! - statistics: device counts by status, connected count.
//! - query: pages with `x-ms-max-item-count` / `x-ms-continuation`, item types, body and
//!   header validation.
//! - authentication: missing header, tampered signature, expired token, unknown policy,
//!   missing permission, device token; secondary key and port-less resource accepted.
//! - bad requests: malformed JSON (400, nothing changed), empty body, too large (413),
//!   unknown route (404), unknown method (405).
//! - durability: devices, twins, CA and keys survive a restart.
//! - binary: `localhub` runs, `device add` prints a connection string, SIGTERM exits cleanly.

mod support;

use std::sync::Arc;
use std::time::Duration;

use iothub::auth::{DeviceConnectionString, SasToken, ServiceConnectionString};
use iothub::model::{CloudToDeviceMethod, DeviceIdentity, DeviceStatus, SymmetricKey, Twin};
use iothub::service::{IfMatch, ServiceClient, ServiceClientOptions};
use localhub::hub::ToDevice;
use localhub::server::HubInfo;
use reqwest::{Method, StatusCode};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use support::{ServerProcess, TestDir, TestHub, restart_hub, start_hub, unix_now};

// ---- helpers ----------------------------------------------------------------------------

/// Our REST client, as the iothubowner policy.
fn service_client(hub: &TestHub) -> ServiceClient {
    client_for(hub.service_connection_string().clone(), hub.ca_pem())
}

fn client_for(connection: ServiceConnectionString, ca_pem: &str) -> ServiceClient {
    let options = ServiceClientOptions {
        extra_ca_pem: Some(ca_pem.as_bytes().to_vec()),
        ..ServiceClientOptions::default()
    };
    ServiceClient::new(connection, options).expect("client")
}

/// A raw HTTPS client trusting only the hub's CA.
fn raw_client(ca_pem: &str, http1_only: bool) -> reqwest::Client {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(certificate.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    let builder = reqwest::Client::builder().tls_backend_preconfigured(tls);
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().expect("reqwest client")
}

/// A service token of `policy` over `resource`, expiring at `expiry`.
fn policy_token(hub: &TestHub, policy: &str, resource: &str, expiry: u64) -> String {
    let policy = hub.hub().policy(policy).expect("read").expect("policy");
    SasToken::for_service(resource, &policy.name, &policy.primary_key, expiry)
        .expose_secret_string()
}

/// The owner's token, valid for an hour.
fn owner_token(hub: &TestHub) -> String {
    hub.service_connection_string()
        .sas_token(unix_now() + 3600)
        .expose_secret_string()
}

/// What a raw request answered.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The inner object of an error body (`Message` holds JSON text).
    fn error(&self) -> Value {
        let outer = self.json();
        assert_eq!(outer["ExceptionMessage"], "", "{}", self.text());
        serde_json::from_str(outer["Message"].as_str().expect("Message")).expect("Message is JSON")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the error shape: status, code number, `iothub-errorcode`, tracking id.
    fn assert_error(&self, status: u16, code: u32, name: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.header("iothub-errorcode"), Some(name));
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        let error = self.error();
        assert_eq!(error["errorCode"], code, "{error}");
        assert!(
            error["trackingId"].as_str().is_some_and(|t| !t.is_empty()),
            "{error}"
        );
    }
}

/// Sends a raw request with `authorization` (if any) and `body` (if any).
async fn send(
    hub: &TestHub,
    method: Method,
    path_and_query: &str,
    authorization: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let url = format!("https://localhost:{}{path_and_query}", hub.https_port());
    let mut request = raw_client(hub.ca_pem(), false).request(method, url);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json; charset=utf-8")
            .body(body);
    }
    let response = request.send().await.expect("the hub answers");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

/// As the owner, with a JSON body.
async fn owner_send(hub: &TestHub, method: Method, path: &str, body: Option<Value>) -> Answer {
    let token = owner_token(hub);
    let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
    send(hub, method, path, Some(&token), &[], body).await
}

fn primary_key(identity: &DeviceIdentity) -> String {
    identity
        .authentication
        .as_ref()
        .and_then(|a| a.symmetric_key.as_ref())
        .and_then(SymmetricKey::expose_primary_key)
        .expect("a primary key")
        .to_owned()
}

// ---- startup ----------------------------------------------------------------------------

#[tokio::test]
async fn localhub_json_describes_the_running_hub() {
    let hub = start_hub().await;
    let info = HubInfo::read(hub.dir())
        .expect("read")
        .expect("localhub.json");
    assert_eq!(info.host_name, "localhost");
    assert_eq!(info.https_port, hub.https_port());
    assert_eq!(info.mqtt_port, hub.mqtt_port());
    assert_ne!(info.https_port, 0);
    assert_ne!(info.mqtt_port, 0);
    assert_ne!(info.https_port, info.mqtt_port);
    assert!(info.ca_certificate.is_absolute());
    let ca = std::fs::read_to_string(&info.ca_certificate).expect("ca.pem");
    assert_eq!(ca, hub.ca_pem());

    let connection: ServiceConnectionString =
        info.service_connection_string.parse().expect("parses");
    assert_eq!(
        connection.host_name(),
        format!("localhost:{}", hub.https_port())
    );
    assert_eq!(connection.shared_access_key_name(), "iothubowner");
    let stats = client_for(connection, &ca)
        .device_statistics()
        .await
        .expect("the connection string works");
    assert_eq!(stats.total_device_count, Some(0));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(hub.info_path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "localhub.json holds the owner key");
    }
}

#[tokio::test]
async fn serves_http1_and_http2() {
    let hub = start_hub().await;
    let token = owner_token(&hub);
    let url = format!("https://localhost:{}/statistics/service", hub.https_port());
    for (http1_only, version) in [
        (true, reqwest::Version::HTTP_11),
        (false, reqwest::Version::HTTP_2),
    ] {
        let response = raw_client(hub.ca_pem(), http1_only)
            .get(&url)
            .header("authorization", &token)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), version);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, json!({"connectedDeviceCount": 0}));
    }
}

// ---- registry ---------------------------------------------------------------------------

#[tokio::test]
async fn device_lifecycle_with_etags() {
    let hub = start_hub().await;
    let client = service_client(&hub);

    // Create: 200 (not 201), keys generated.
    let created = owner_send(
        &hub,
        Method::PUT,
        "/devices/door-1?api-version=2021-04-12",
        Some(json!({"deviceId": "door-1"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let created: DeviceIdentity = serde_json::from_slice(&created.body).expect("device");
    assert_eq!(created.device_id.as_deref(), Some("door-1"));
    assert_eq!(primary_key(&created).len(), 44);
    let etag = created.etag.clone().expect("etag");

    // Get and list.
    let fetched = client.get_device("door-1").await.expect("get");
    assert_eq!(primary_key(&fetched), primary_key(&created));
    client
        .create_device("door-2", &DeviceIdentity::default())
        .await
        .expect("second device");
    let all = client.list_devices(None).await.expect("list");
    assert_eq!(all.len(), 2);
    let one = client.list_devices(Some(1)).await.expect("list top 1");
    assert_eq!(one.len(), 1);
    owner_send(&hub, Method::GET, "/devices?top=0", None)
        .await
        .assert_error(400, 400_004, "ArgumentInvalid");

    // Create again: 409.
    let again = owner_send(&hub, Method::PUT, "/devices/door-1", Some(json!({}))).await;
    again.assert_error(409, 409_001, "DeviceAlreadyExists");

    // Update with "*", then with the stale etag: 412.
    let disabled = DeviceIdentity {
        status: Some(DeviceStatus::Disabled),
        ..DeviceIdentity::default()
    };
    let updated = client
        .update_device("door-1", &disabled, &IfMatch::Any)
        .await
        .expect("update with *");
    assert_eq!(updated.status, Some(DeviceStatus::Disabled));
    assert_ne!(updated.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(primary_key(&updated), primary_key(&created), "keys kept");
    let quoted = format!("\"{etag}\"");
    let stale = send(
        &hub,
        Method::PUT,
        "/devices/door-1",
        Some(&owner_token(&hub)),
        &[("if-match", &quoted)],
        Some(br#"{"status":"enabled"}"#.to_vec()),
    )
    .await;
    stale.assert_error(412, 412_001, "PreconditionFailed");

    // Delete: 204, then 404 DeviceNotFound in full error shape.
    let deleted = send(
        &hub,
        Method::DELETE,
        "/devices/door-1",
        Some(&owner_token(&hub)),
        &[("if-match", "\"*\"")],
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    assert!(deleted.body.is_empty());
    let gone = owner_send(&hub, Method::GET, "/devices/door-1", None).await;
    gone.assert_error(404, 404_001, "DeviceNotFound");
    let error = client.get_device("door-1").await.expect_err("gone");
    assert!(error.is_not_found(), "{error}");
}

#[tokio::test]
async fn device_ids_are_percent_decoded() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    for id in ["a#1", "b+c", "d%e", "f:g"] {
        let created = client
            .create_device(id, &DeviceIdentity::default())
            .await
            .unwrap_or_else(|e| panic!("create {id}: {e}"));
        assert_eq!(created.device_id.as_deref(), Some(id));
        client.get_twin(id).await.expect("twin");
    }
}

// ---- twins ------------------------------------------------------------------------------

#[tokio::test]
async fn twin_patch_and_replace_with_etags() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    client
        .create_device("door-1", &DeviceIdentity::default())
        .await
        .expect("create");

    let twin = client.get_twin("door-1").await.expect("get twin");
    let etag = twin.etag.clone().expect("twin etag");

    let patch: Twin = serde_json::from_value(json!({
        "tags": {"building": 43, "floor": 3},
        "properties": {"desired": {"lockTime": "10m", "mode": "auto"}}
    }))
    .expect("patch");
    let patched = client
        .patch_twin("door-1", &patch, &IfMatch::Etag(etag.clone()))
        .await
        .expect("patch with the current etag");
    let patched_etag = patched.etag.clone().expect("etag");
    assert_ne!(patched_etag, etag);
    let patched = serde_json::to_value(&patched).expect("json");
    assert_eq!(patched["tags"], json!({"building": 43, "floor": 3}));
    assert_eq!(patched["properties"]["desired"]["lockTime"], "10m");

    // The stale etag: 412, nothing changed.
    let error = client
        .patch_twin("door-1", &patch, &IfMatch::Etag(etag.clone()))
        .await
        .expect_err("stale");
    assert!(error.is_precondition_failed(), "{error}");
    let quoted = format!("\"{etag}\"");
    let raw = send(
        &hub,
        Method::PATCH,
        "/twins/door-1",
        Some(&owner_token(&hub)),
        &[("if-match", &quoted)],
        Some(br#"{"tags":{"x":1}}"#.to_vec()),
    )
    .await;
    raw.assert_error(412, 412_001, "PreconditionFailed");

    // null deletes.
    let delete: Twin = serde_json::from_value(json!({
        "tags": {"floor": null},
        "properties": {"desired": {"mode": null}}
    }))
    .expect("patch");
    let after = client
        .patch_twin("door-1", &delete, &IfMatch::Any)
        .await
        .expect("patch with *");
    let after = serde_json::to_value(&after).expect("json");
    assert_eq!(after["tags"], json!({"building": 43}));
    assert!(after["properties"]["desired"].get("mode").is_none());
    assert_eq!(after["properties"]["desired"]["lockTime"], "10m");

    // Replace: tags and desired wholesale; a stale etag is refused.
    let current = client.get_twin("door-1").await.expect("get");
    let replacement: Twin = serde_json::from_value(json!({
        "tags": {"site": "hq"},
        "properties": {"desired": {"building": 1}}
    }))
    .expect("twin");
    let error = client
        .replace_twin("door-1", &replacement, &IfMatch::Etag(patched_etag))
        .await
        .expect_err("stale");
    assert!(error.is_precondition_failed(), "{error}");
    let replaced = client
        .replace_twin(
            "door-1",
            &replacement,
            &IfMatch::from_etag(current.etag.as_deref()),
        )
        .await
        .expect("replace");
    let replaced = serde_json::to_value(&replaced).expect("json");
    assert_eq!(replaced["tags"], json!({"site": "hq"}));
    assert_eq!(replaced["properties"]["desired"]["building"], 1);
    assert!(replaced["properties"]["desired"].get("lockTime").is_none());

    // Only the device writes reported properties.
    let reported = owner_send(
        &hub,
        Method::PATCH,
        "/twins/door-1",
        Some(json!({"properties": {"reported": {"x": 1}}})),
    )
    .await;
    reported.assert_error(400, 400_004, "ArgumentInvalid");

    let missing = owner_send(&hub, Method::GET, "/twins/nobody", None).await;
    missing.assert_error(404, 404_001, "DeviceNotFound");
}

// ---- methods ----------------------------------------------------------------------------

#[tokio::test]
async fn invoking_a_method_on_an_offline_device_answers_404103() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    client
        .create_device("door-1", &DeviceIdentity::default())
        .await
        .expect("create");
    let method = CloudToDeviceMethod::new("lockDoor", json!({"lockTime": "10m"}));
    let error = client
        .invoke_method("door-1", &method)
        .await
        .expect_err("offline");
    assert!(error.is_device_not_online(), "{error}");

    let raw = owner_send(
        &hub,
        Method::POST,
        "/twins/door-1/methods",
        Some(json!({"methodName": "lockDoor", "payload": null})),
    )
    .await;
    raw.assert_error(404, 404_103, "DeviceNotOnline");

    let unknown = owner_send(
        &hub,
        Method::POST,
        "/twins/nobody/methods",
        Some(json!({"methodName": "lockDoor"})),
    )
    .await;
    unknown.assert_error(404, 404_001, "DeviceNotFound");

    let invalid = owner_send(
        &hub,
        Method::POST,
        "/twins/door-1/methods",
        Some(json!({"methodName": "lockDoor", "responseTimeoutInSeconds": 1})),
    )
    .await;
    invalid.assert_error(400, 400_004, "ArgumentInvalid");
}

#[tokio::test]
async fn a_connected_device_answers_a_method() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    client
        .create_device("door-1", &DeviceIdentity::default())
        .await
        .expect("create");
    // A device connected straight to the hub core, standing in for the MQTT front end.
    let core = hub.hub().clone();
    let mut connection = core.connect_device("door-1", 8);
    core.subscribe("door-1", |s| s.methods = true)
        .expect("subscribe");
    let device = tokio::spawn(async move {
        if let Some(ToDevice::MethodRequest { name, rid, payload }) = connection.inbox.recv().await
        {
            core.method_response("door-1", &rid, 201, json!({"name": name, "echo": payload}));
        }
    });
    let method = CloudToDeviceMethod::new("lockDoor", json!({"lockTime": "10m"}));
    let result = client
        .invoke_method("door-1", &method)
        .await
        .expect("answered");
    assert_eq!(result.status, Some(201));
    assert_eq!(
        result.payload,
        json!({"name": "lockDoor", "echo": {"lockTime": "10m"}})
    );
    device.await.expect("device task");
    let service = client.service_statistics().await.expect("stats");
    assert_eq!(service.connected_device_count, Some(1));
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_method_call_in_flight() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    client
        .create_device("door-1", &DeviceIdentity::default())
        .await
        .expect("create");
    // Connected and subscribed, but never answers.
    let _connection = hub.hub().connect_device("door-1", 8);
    hub.hub()
        .subscribe("door-1", |s| s.methods = true)
        .expect("subscribe");
    let call = tokio::spawn(async move {
        let method = CloudToDeviceMethod {
            response_timeout_in_seconds: Some(60),
            ..CloudToDeviceMethod::new("lockDoor", Value::Null)
        };
        client.invoke_method("door-1", &method).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let dir = hub.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(call.await.expect("task").is_err(), "the call was cut off");
    drop(dir);
}

// ---- statistics -------------------------------------------------------------------------

#[tokio::test]
async fn statistics_count_devices_by_status() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    for id in ["a", "b", "c"] {
        client
            .create_device(id, &DeviceIdentity::default())
            .await
            .expect("create");
    }
    let disabled = DeviceIdentity {
        status: Some(DeviceStatus::Disabled),
        ..DeviceIdentity::default()
    };
    client
        .update_device("b", &disabled, &IfMatch::Any)
        .await
        .expect("disable");
    let raw = owner_send(&hub, Method::GET, "/statistics/devices", None).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(
        raw.json(),
        json!({"totalDeviceCount": 3, "enabledDeviceCount": 2, "disabledDeviceCount": 1})
    );
    let service = client.service_statistics().await.expect("service stats");
    assert_eq!(service.connected_device_count, Some(0));
}

// ---- query ------------------------------------------------------------------------------

#[tokio::test]
async fn query_pages_through_twins_with_continuation_headers() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    for id in ["q1", "q2", "q3"] {
        client
            .create_device(id, &DeviceIdentity::default())
            .await
            .expect("create");
    }
    let token = owner_token(&hub);
    let body = br#"{"query": "SELECT * FROM devices"}"#.to_vec();
    let first = send(
        &hub,
        Method::POST,
        "/devices/query?api-version=2021-04-12",
        Some(&token),
        &[("x-ms-max-item-count", "2")],
        Some(body.clone()),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.header("x-ms-item-type"), Some("Twin"));
    assert_eq!(first.json().as_array().map(Vec::len), Some(2));
    let continuation = first
        .header("x-ms-continuation")
        .expect("a next page")
        .to_owned();
    let last = send(
        &hub,
        Method::POST,
        "/devices/query",
        Some(&token),
        &[
            ("x-ms-max-item-count", "2"),
            ("x-ms-continuation", &continuation),
        ],
        Some(body),
    )
    .await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.text());
    assert_eq!(last.json().as_array().map(Vec::len), Some(1));
    assert!(last.header("x-ms-continuation").is_none(), "the last page");

    // Our client follows the pages; a registryRead token may query.
    let twins: Vec<Twin> = client
        .query_devices_all("SELECT * FROM devices", Some(1))
        .await
        .expect("all pages");
    let mut ids: Vec<_> = twins.into_iter().filter_map(|t| t.device_id).collect();
    ids.sort();
    assert_eq!(ids, ["q1", "q2", "q3"]);
    let read = policy_token(
        &hub,
        "registryRead",
        hub.hub().host_name(),
        unix_now() + 600,
    );
    let answer = send(
        &hub,
        Method::POST,
        "/devices/query",
        Some(&read),
        &[],
        Some(br#"{"query": "SELECT deviceId FROM devices WHERE deviceId = 'q2'"}"#.to_vec()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json(), json!([{"deviceId": "q2"}]));
    assert_eq!(answer.header("x-ms-item-type"), Some("Raw"));
}

#[tokio::test]
async fn query_validates_its_body_and_headers() {
    let hub = start_hub().await;
    let token = policy_token(
        &hub,
        "registryRead",
        hub.hub().host_name(),
        unix_now() + 600,
    );
    let empty = send(
        &hub,
        Method::POST,
        "/devices/query",
        Some(&token),
        &[],
        Some(br#"{"query": " "}"#.to_vec()),
    )
    .await;
    empty.assert_error(400, 400_005, "ArgumentNull");
    let bad_count = send(
        &hub,
        Method::POST,
        "/devices/query",
        Some(&token),
        &[("x-ms-max-item-count", "none")],
        Some(br#"{"query": "SELECT * FROM devices"}"#.to_vec()),
    )
    .await;
    bad_count.assert_error(400, 400_004, "ArgumentInvalid");
    let not_json = send(
        &hub,
        Method::POST,
        "/devices/query",
        Some(&token),
        &[],
        Some(b"SELECT * FROM devices".to_vec()),
    )
    .await;
    not_json.assert_error(400, 400_006, "IotHubFormatError");
}

// ---- authentication ---------------------------------------------------------------------

#[tokio::test]
async fn every_route_requires_a_valid_policy_token() {
    let hub = start_hub().await;
    service_client(&hub)
        .create_device("door-1", &DeviceIdentity::default())
        .await
        .expect("create");
    let host_name = hub.hub().host_name().to_owned();
    let later = unix_now() + 600;
    let good = owner_token(&hub);
    let tampered = good.replacen("sig=", "sig=AAAA", 1);
    let expired = policy_token(&hub, "iothubowner", &host_name, unix_now() - 1);
    let unknown = good.replace("skn=iothubowner", "skn=nobody");
    let device = hub.device_connection_string("door-1").expect("device cs");
    let device_token = device.sas_token(later).expose_secret_string();
    let other_hub = policy_token(&hub, "iothubowner", "elsewhere.example", later);

    let cases: [(&str, Option<&str>); 6] = [
        ("no header", None),
        ("tampered signature", Some(&tampered)),
        ("expired", Some(&expired)),
        ("unknown policy", Some(&unknown)),
        ("device token", Some(&device_token)),
        ("another hub", Some(&other_hub)),
    ];
    for (case, authorization) in cases {
        for (method, path) in [
            (Method::GET, "/devices/door-1"),
            (Method::GET, "/twins/door-1"),
            (Method::GET, "/statistics/devices"),
            (Method::GET, "/no/such/route"),
        ] {
            let answer = send(&hub, method, path, authorization, &[], None).await;
            answer.assert_error(401, 401_002, "IotHubUnauthorizedAccess");
            if let Some(token) = authorization {
                let signature = token
                    .split('&')
                    .find_map(|part| part.strip_prefix("sig="))
                    .expect("sig");
                assert!(!answer.text().contains(signature), "{case}: token echoed");
            }
        }
    }
}

#[tokio::test]
async fn permissions_follow_the_policy() {
    let hub = start_hub().await;
    let host_name = hub.hub().host_name().to_owned();
    let later = unix_now() + 600;
    let read = policy_token(&hub, "registryRead", &host_name, later);
    let service = policy_token(&hub, "service", &host_name, later);
    let read_write = policy_token(&hub, "registryReadWrite", &host_name, later);

    // registryRead may read but not write; the body is not even looked at.
    let put = send(
        &hub,
        Method::PUT,
        "/devices/door-1",
        Some(&read),
        &[],
        Some(b"{not json".to_vec()),
    )
    .await;
    put.assert_error(401, 401_002, "IotHubUnauthorizedAccess");
    assert!(
        put.error()["message"]
            .as_str()
            .is_some_and(|m| m.contains("registryRead"))
    );
    let put = send(
        &hub,
        Method::PUT,
        "/devices/door-1",
        Some(&read_write),
        &[],
        Some(b"{}".to_vec()),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    for (token, path, status) in [
        (&read, "/devices/door-1", 200),
        (&read, "/twins/door-1", 200),
        (&read, "/statistics/devices", 200),
        (&service, "/twins/door-1", 200),
        (&service, "/devices/door-1", 401),
        (&service, "/statistics/devices", 401),
    ] {
        let answer = send(&hub, Method::GET, path, Some(token), &[], None).await;
        assert_eq!(answer.status.as_u16(), status, "{path}: {}", answer.text());
    }
    // Twin writes and methods need ServiceConnect.
    let patch = send(
        &hub,
        Method::PATCH,
        "/twins/door-1",
        Some(&read_write),
        &[],
        Some(br#"{"tags":{"a":1}}"#.to_vec()),
    )
    .await;
    patch.assert_error(401, 401_002, "IotHubUnauthorizedAccess");
    let patch = send(
        &hub,
        Method::PATCH,
        "/twins/door-1",
        Some(&service),
        &[],
        Some(br#"{"tags":{"a":1}}"#.to_vec()),
    )
    .await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.text());
    let delete = send(
        &hub,
        Method::DELETE,
        "/devices/door-1",
        Some(&service),
        &[],
        None,
    )
    .await;
    delete.assert_error(401, 401_002, "IotHubUnauthorizedAccess");
}

#[tokio::test]
async fn secondary_keys_and_portless_resources_are_accepted() {
    let hub = start_hub().await;
    let policy = hub
        .hub()
        .policy("iothubowner")
        .expect("read")
        .expect("policy");
    let later = unix_now() + 600;
    for (resource, key) in [
        ("localhost", &policy.primary_key),
        (hub.hub().host_name(), &policy.secondary_key),
    ] {
        let token = SasToken::for_service(resource, &policy.name, key, later);
        let answer = send(
            &hub,
            Method::GET,
            "/statistics/service",
            Some(&token.expose_secret_string()),
            &[],
            None,
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{resource}: {}",
            answer.text()
        );
    }
}

// ---- bad requests -----------------------------------------------------------------------

#[tokio::test]
async fn malformed_bodies_change_nothing() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    client
        .create_device("door-1", &DeviceIdentity::default())
        .await
        .expect("create");
    let before = client.get_twin("door-1").await.expect("twin");
    let token = owner_token(&hub);

    for (method, path) in [
        (Method::PUT, "/devices/door-2"),
        (Method::PUT, "/devices/door-1"),
        (Method::PATCH, "/twins/door-1"),
        (Method::PUT, "/twins/door-1"),
        (Method::POST, "/twins/door-1/methods"),
    ] {
        let answer = send(
            &hub,
            method.clone(),
            path,
            Some(&token),
            &[("if-match", "*")],
            Some(b"{\"tags\": {".to_vec()),
        )
        .await;
        answer.assert_error(400, 400_006, "IotHubFormatError");
        let empty = send(&hub, method, path, Some(&token), &[], Some(Vec::new())).await;
        empty.assert_error(400, 400_005, "ArgumentNull");
    }
    let wrong_shape = owner_send(
        &hub,
        Method::PUT,
        "/devices/door-3",
        Some(json!({"status": 42})),
    )
    .await;
    wrong_shape.assert_error(400, 400_006, "IotHubFormatError");

    let too_large = vec![b' '; localhub::http::MAX_BODY_BYTES + 1];
    let answer = send(
        &hub,
        Method::PATCH,
        "/twins/door-1",
        Some(&token),
        &[],
        Some(too_large),
    )
    .await;
    answer.assert_error(413, 413_001, "MessageTooLarge");

    let after = client.get_twin("door-1").await.expect("twin");
    assert_eq!(after.etag, before.etag, "the twin is unchanged");
    assert_eq!(client.list_devices(None).await.expect("list").len(), 1);
}

#[tokio::test]
async fn twins_over_the_size_and_shape_limits_are_refused_and_change_nothing() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    client
        .create_device("door-1", &DeviceIdentity::default())
        .await
        .expect("create");
    let before = client.get_twin("door-1").await.expect("twin");

    // 40 KB of desired properties: under the request-body limit, over the 32 KB twin limit.
    let big: serde_json::Map<String, Value> = (0..40)
        .map(|i| (format!("k{i}"), Value::String("v".repeat(1000))))
        .collect();
    let too_big = owner_send(
        &hub,
        Method::PATCH,
        "/twins/door-1",
        Some(json!({"properties": {"desired": big}})),
    )
    .await;
    too_big.assert_error(400, 400_004, "ArgumentInvalid");
    assert!(
        too_big.error()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("32768")
    );

    for bad in [
        json!({"tags": {"a.b": 1}}),
        json!({"tags": {"$reserved": 1}}),
        json!({"properties": {"desired": {"n": 4_503_599_627_370_496_i64}}}),
        json!({"properties": {"reported": {"locked": true}}}),
        json!({"tags": [1, 2]}),
    ] {
        owner_send(&hub, Method::PATCH, "/twins/door-1", Some(bad.clone()))
            .await
            .assert_error(400, 400_004, "ArgumentInvalid");
    }
    let after = client.get_twin("door-1").await.expect("twin");
    assert_eq!(after.etag, before.etag, "nothing was stored");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let hub = start_hub().await;
    let answer = owner_send(
        &hub,
        Method::GET,
        "/no/such/thing?api-version=1999-01-01",
        None,
    )
    .await;
    answer.assert_error(404, 404_000, "GenericNotFound");
    let answer = owner_send(&hub, Method::POST, "/statistics/devices", Some(json!({}))).await;
    answer.assert_error(405, 405_000, "GenericMethodNotAllowed");
}

// ---- durability -------------------------------------------------------------------------

#[tokio::test]
async fn data_ca_and_keys_survive_a_restart() {
    let hub = start_hub().await;
    let client = service_client(&hub);
    let device = client
        .create_device("door-1", &DeviceIdentity::default())
        .await
        .expect("create");
    let patch: Twin = serde_json::from_value(json!({"tags": {"site": "hq"}})).expect("twin");
    client
        .patch_twin("door-1", &patch, &IfMatch::Any)
        .await
        .expect("patch");
    let ca = hub.ca_pem().to_owned();
    let owner = hub.service_connection_string().expose_secret_string();
    let dir = hub.stop().await;

    let hub = restart_hub(dir).await;
    assert_eq!(hub.ca_pem(), ca);
    let client = service_client(&hub);
    let again = client.get_device("door-1").await.expect("device kept");
    assert_eq!(primary_key(&again), primary_key(&device));
    let twin = serde_json::to_value(client.get_twin("door-1").await.expect("twin")).expect("json");
    assert_eq!(twin["tags"], json!({"site": "hq"}));
    let owner_again = hub.service_connection_string().expose_secret_string();
    // Same key; the port may differ (port 0).
    let key = |cs: &str| {
        cs.rsplit_once("SharedAccessKey=")
            .map(|(_, k)| k.to_owned())
    };
    assert_eq!(key(&owner_again), key(&owner));
}

// ---- the binary -------------------------------------------------------------------------

#[test]
fn the_binary_runs_adds_devices_and_stops_on_sigterm() {
    use std::process::Command;

    let dir = TestDir::new("bin");
    let binary = env!("CARGO_BIN_EXE_localhub");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let mut server = ServerProcess::start(dir.path(), &[]);
    let line = &server.ready_line;
    assert!(line.contains("localhub.json"), "{line}");
    let info = HubInfo::read(dir.path())
        .expect("read")
        .expect("localhub.json");
    assert_ne!(info.https_port, 0);

    let output = Command::new(binary)
        .args(["--data-dir", data_dir, "device", "add", "door-1"])
        .output()
        .expect("device add runs");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).expect("utf-8");
    let connection: DeviceConnectionString = printed.trim().parse().expect("a connection string");
    assert_eq!(connection.host_name(), "localhost");
    assert_eq!(connection.device_id(), "door-1");

    let output = Command::new(binary)
        .args(["--data-dir", data_dir, "device", "list"])
        .output()
        .expect("device list runs");
    assert!(String::from_utf8_lossy(&output.stdout).contains("door-1\tenabled"));
    let output = Command::new(binary)
        .args(["--data-dir", data_dir, "info"])
        .output()
        .expect("info runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.contains(&format!("httpsPort: {}", info.https_port)),
        "{text}"
    );
    assert!(text.contains(&info.service_connection_string), "{text}");

    // The running server sees the device the command added.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ca = std::fs::read_to_string(&info.ca_certificate).expect("ca");
    let connection: ServiceConnectionString =
        info.service_connection_string.parse().expect("parses");
    let device = runtime
        .block_on(client_for(connection, &ca).get_device("door-1"))
        .expect("the server sees the device");
    assert_eq!(device.device_id.as_deref(), Some("door-1"));

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "localhub did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");

    let failed = Command::new(binary)
        .args([
            "--data-dir",
            data_dir,
            "--host",
            "bad host!",
            "--https-port",
            "0",
            "--mqtt-port",
            "0",
        ])
        .output()
        .expect("runs");
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("host"));
}
