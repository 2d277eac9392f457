//! The REST service client against a scripted HTTPS hub (see `service/support.rs`): what it
//! sends, and how it reads what comes back.
//!
//! Contents:
//! - jobs: schedule (tutorial body), get, cancel (empty POST), query across two array pages,
//!   query in the swagger object form;
//! - queries: `POST /devices/query` paging, typed rows;
//! - twins: get, patch with an etag answered 412, replace with `"*"`, ids quoted in paths;
//! - direct methods: success, 404103 DeviceNotOnline, 504101 Timeout (both error shapes);
//! - registry: create (no If-Match), get, list, delete, statistics;
//! - retries: 429004 on job creation is not retried, GET 503→200 is, so is the query POST,
//!   a GET that keeps failing stops after max attempts, PATCH and method 503s are not;
//! - transport: untrusted certificate → Tls, per-request timeout, refused connection;
//! - secrets: no signature or key in any error's Display or Debug.

#[path = "service/support.rs"]
mod support;

use std::time::{Duration, Instant};

use iothub::model::{
    CloudToDeviceMethod, DeviceIdentity, DeviceJob, DeviceJobStatus, ErrorKind, JobRequest,
    JobStatus, JobType, QueryItemType, Twin, TwinCollection, TwinProperties,
};
use iothub::service::{
    IfMatch, PageRequest, RetryPolicy, ServiceClient, ServiceClientOptions, ServiceError,
};
use serde_json::{Value, json};
use support::{Canned, Hub, KEY};

/// §3.6 shape 1: the classic error body.
fn classic_error(code: &str, message: &str) -> String {
    json!({
        "Message": format!("ErrorCode:{code};{message}"),
        "ExceptionMessage": "Tracking ID:abc123-G:5-TimeStamp:01/18/2017 08:11:45",
    })
    .to_string()
}

/// §3.6 shape 2: the newer body, JSON inside `Message`.
fn newer_error(code: u32, message: &str) -> String {
    let inner = json!({
        "errorCode": code,
        "trackingId": "aa76-TimeStamp:03/14/2024 09:54:49",
        "message": message,
        "info": {"timeout": "00:00:00"},
        "timestampUtc": "2024-03-14T09:54:49.6536567Z",
    });
    json!({"Message": inner.to_string(), "ExceptionMessage": ""}).to_string()
}

fn twin_patch() -> Twin {
    let mut desired = TwinCollection::default();
    desired.values.insert("building".to_owned(), json!(43));
    desired.values.insert("floor".to_owned(), json!(3));
    Twin {
        properties: Some(TwinProperties {
            desired: Some(desired),
            reported: None,
        }),
        ..Twin::default()
    }
}

// ---- Jobs ----

#[tokio::test]
async fn schedule_job_sends_the_tutorial_body() {
    let hub = Hub::start(vec![Canned::json(
        200,
        json!({"jobId": "job1", "type": "scheduleDeviceMethod", "status": "queued"}),
    )])
    .await;
    let mut method = CloudToDeviceMethod::new("lockDoor", json!(r#"{"lockTime":"10m"}"#));
    method.response_timeout_in_seconds = Some(30);
    let request = JobRequest {
        job_type: Some(JobType::ScheduleDeviceMethod),
        cloud_to_device_method: Some(method),
        query_condition: Some("DeviceId in ['dev1']".to_owned()),
        start_time: Some("2024-05-01T12:34:56.123456Z".parse().expect("time")),
        max_execution_time_in_seconds: Some(60),
        ..JobRequest::default()
    };
    let job = hub
        .client()
        .schedule_job("job1", &request)
        .await
        .expect("scheduled");
    assert_eq!(job.status, Some(JobStatus::Queued));
    assert_eq!(job.job_id.as_deref(), Some("job1"));

    let sent = hub.only_request();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("PUT", "/jobs/v2/job1")
    );
    assert_eq!(sent.header("if-match"), None);
    assert_eq!(
        sent.json(),
        json!({
            "jobId": "job1",
            "type": "scheduleDeviceMethod",
            "cloudToDeviceMethod": {
                "methodName": "lockDoor",
                "payload": "{\"lockTime\":\"10m\"}",
                "responseTimeoutInSeconds": 30,
            },
            "queryCondition": "DeviceId in ['dev1']",
            "startTime": "2024-05-01T12:34:56.1234560Z",
            "maxExecutionTimeInSeconds": 60,
        })
    );
}

#[tokio::test]
async fn schedule_job_refuses_disagreeing_ids() {
    let hub = Hub::start(vec![]).await;
    let request = JobRequest {
        job_id: Some("other".to_owned()),
        ..JobRequest::default()
    };
    let error = hub
        .client()
        .schedule_job("job1", &request)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, ServiceError::InvalidRequest { .. }),
        "{error}"
    );
    assert!(hub.requests().is_empty());
}

#[tokio::test]
async fn get_and_cancel_job() {
    let completed = json!({
        "createdTime": "2020-01-06T21:44:00.8884134Z",
        "deviceJobStatistics": {"deviceCount": 2, "failedCount": 0, "pendingCount": 0,
                                "runningCount": 0, "succeededCount": 2},
        "endTime": "2020-01-06T21:44:06.2536519Z",
        "jobId": "job1",
        "maxExecutionTimeInSeconds": 300,
        "queryCondition": "deviceId in ['a','b']",
        "startTime": "2020-01-06T21:44:00.8884134Z",
        "status": "completed",
        "type": "scheduleUpdateTwin",
        "updateTwin": {"deviceId": null, "etag": "*", "tags": {"deviceClass": "Class1"}},
    });
    let hub = Hub::start(vec![
        Canned::json(200, completed),
        Canned::json(200, json!({"jobId": "job1", "status": "cancelled"})),
    ])
    .await;
    let client = hub.client();
    let job = client.get_job("job1").await.expect("job");
    assert_eq!(job.status, Some(JobStatus::Completed));
    assert!(job.status.as_ref().is_some_and(JobStatus::is_finished));
    assert_eq!(
        job.device_job_statistics.map(|s| s.succeeded_count),
        Some(2)
    );
    let cancelled = client.cancel_job("job1").await.expect("cancelled");
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));

    let sent = hub.requests();
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("GET", "/jobs/v2/job1")
    );
    assert_eq!(
        (sent[1].method.as_str(), sent[1].path.as_str()),
        ("POST", "/jobs/v2/job1/cancel")
    );
    assert_eq!(sent[1].header("content-length"), Some("0"));
    assert_eq!(sent[1].header("content-type"), None);
    assert!(sent[1].body.is_empty());
}

#[tokio::test]
async fn unknown_job_is_not_found() {
    let hub = Hub::start(vec![
        Canned::raw(
            404,
            &classic_error("JobNotFound", "Job with id 'nope' not found"),
        )
        .header("iothub-errorcode", "JobNotFound"),
    ])
    .await;
    let error = hub.client().get_job("nope").await.expect_err("404");
    assert!(error.is_not_found(), "{error}");
    let hub_error = error.hub_error().expect("from the hub");
    assert_eq!(hub_error.code, Some(404002));
    assert_eq!(
        hub_error.tracking_id.as_deref(),
        Some("abc123-G:5-TimeStamp:01/18/2017 08:11:45")
    );
    assert_eq!(hub.requests().len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn jobs_query_pages_through_arrays() {
    let hub = Hub::start(vec![
        Canned::json(
            200,
            json!([{"jobId": "a", "status": "completed"}, {"jobId": "b", "status": "completed"}]),
        )
        .header("x-ms-continuation", "token one")
        .header("x-ms-item-type", "JobResponse"),
        Canned::json(200, json!([{"jobId": "c", "status": "completed"}]))
            .header("x-ms-item-type", "JobResponse"),
    ])
    .await;
    let jobs = hub
        .client()
        .query_all_jobs(
            Some(&JobType::ScheduleDeviceMethod),
            Some(&JobStatus::Completed),
            Some(2),
        )
        .await
        .expect("jobs");
    let ids: Vec<_> = jobs
        .iter()
        .filter_map(|job| job.job_id.as_deref())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);

    let sent = hub.requests();
    assert_eq!(sent.len(), 2);
    for request in &sent {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/jobs/v2/query")
        );
        assert_eq!(request.header("x-ms-max-item-count"), Some("2"));
        let pairs = request.query_pairs();
        assert!(pairs.contains(&("jobType".to_owned(), "scheduleDeviceMethod".to_owned())));
        assert!(pairs.contains(&("jobStatus".to_owned(), "completed".to_owned())));
    }
    assert_eq!(sent[0].header("x-ms-continuation"), None);
    assert_eq!(sent[1].header("x-ms-continuation"), Some("token one"));
}

#[tokio::test]
async fn jobs_query_reads_the_swagger_object_form() {
    let hub = Hub::start(vec![
        Canned::json(
            200,
            json!({"type": "jobResponse", "items": [{"jobId": "a", "status": "running"}],
                   "continuationToken": "t2"}),
        ),
        Canned::json(
            200,
            json!({"type": "jobResponse", "items": [{"jobId": "b"}]}),
        ),
    ])
    .await;
    let client = hub.client();
    let first = client
        .query_jobs(None, None, &PageRequest::default())
        .await
        .expect("page");
    assert_eq!(first.items[0].status, Some(JobStatus::Running));
    assert_eq!(first.continuation.as_deref(), Some("t2"));
    assert_eq!(first.item_type, Some(QueryItemType::JobResponse));
    let next = first.next_page(None).expect("more");
    let second = client.query_jobs(None, None, &next).await.expect("page");
    assert_eq!(second.items[0].job_id.as_deref(), Some("b"));
    assert_eq!(second.continuation, None);

    let sent = hub.requests();
    assert_eq!(
        sent[0].query, "api-version=2021-04-12",
        "no filters, no paging"
    );
    assert_eq!(sent[0].header("x-ms-max-item-count"), None);
    assert_eq!(sent[1].header("x-ms-continuation"), Some("t2"));
}

// ---- Queries ----

#[tokio::test]
async fn devices_query_pages() {
    let row = |device: &str, status: &str| {
        json!({"deviceId": device, "jobId": "job1", "jobType": "scheduleDeviceMethod",
               "status": status,
               "outcome": {"deviceMethodResponse": {"status": 200, "payload": null}}})
    };
    let hub = Hub::start(vec![
        Canned::json(
            200,
            json!([{"deviceId": "dev1", "etag": "AAAAAAAAAAE=", "version": 2}]),
        )
        .header("x-ms-item-type", "Twin")
        .header("x-ms-continuation", "c1"),
        Canned::json(200, json!([row("dev1", "completed")]))
            .header("x-ms-item-type", "DeviceJob")
            .header("x-ms-continuation", "j1"),
        Canned::json(200, json!([row("dev2", "failed")])).header("x-ms-item-type", "DeviceJob"),
    ])
    .await;
    let client = hub.client();
    let twins = client
        .query_devices::<Twin>("SELECT * FROM devices", &PageRequest::first(Some(1)))
        .await
        .expect("twins");
    assert_eq!(twins.items[0].device_id.as_deref(), Some("dev1"));
    assert_eq!(twins.item_type, Some(QueryItemType::Twin));
    assert_eq!(twins.continuation.as_deref(), Some("c1"));

    let rows: Vec<DeviceJob> = client
        .query_devices_all(
            "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'job1'",
            Some(100),
        )
        .await
        .expect("device jobs");
    let statuses: Vec<_> = rows.iter().filter_map(|row| row.status.clone()).collect();
    assert_eq!(
        statuses,
        [DeviceJobStatus::Completed, DeviceJobStatus::Failed]
    );

    let sent = hub.requests();
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|r| r.method == "POST" && r.path == "/devices/query")
    );
    assert_eq!(sent[0].json(), json!({"query": "SELECT * FROM devices"}));
    assert_eq!(sent[0].header("x-ms-max-item-count"), Some("1"));
    assert_eq!(
        sent[1].json(),
        json!({"query": "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'job1'"})
    );
    assert_eq!(sent[1].header("x-ms-continuation"), None);
    assert_eq!(sent[1].header("x-ms-max-item-count"), Some("100"));
    assert_eq!(sent[2].header("x-ms-continuation"), Some("j1"));
    assert_eq!(sent[2].json(), sent[1].json());
}

// ---- Twins ----

#[tokio::test]
async fn twin_patch_with_a_stale_etag_is_precondition_failed() {
    let hub = Hub::start(vec![
        Canned::raw(
            412,
            &classic_error("PreconditionFailed", "Precondition failed: etag mismatch"),
        )
        .header("iothub-errorcode", "PreconditionFailed"),
    ])
    .await;
    let error = hub
        .client()
        .patch_twin(
            "dev1",
            &twin_patch(),
            &IfMatch::Etag("AAAAAAAAAAE=".to_owned()),
        )
        .await
        .expect_err("412");
    assert!(error.is_precondition_failed(), "{error}");
    assert_eq!(error.kind(), Some(ErrorKind::PreconditionFailed));

    let sent = hub.only_request();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("PATCH", "/twins/dev1")
    );
    assert_eq!(sent.header("if-match"), Some("\"AAAAAAAAAAE=\""));
    assert_eq!(
        sent.json(),
        json!({"properties": {"desired": {"building": 43, "floor": 3}}})
    );
}

#[tokio::test]
async fn twin_get_and_replace() {
    let twin = json!({"deviceId": "dev:1#a", "etag": "AAAAAAAAAAI=", "version": 3,
                      "properties": {"desired": {"building": 43, "$version": 2},
                                     "reported": {"$version": 1}},
                      "modelId": ""});
    let hub = Hub::start(vec![
        Canned::json(200, twin.clone()),
        Canned::json(200, twin),
    ])
    .await;
    let client = hub.client();
    let got = client.get_twin("dev:1#a").await.expect("twin");
    assert_eq!(got.etag.as_deref(), Some("AAAAAAAAAAI="));
    let desired = got
        .properties
        .as_ref()
        .and_then(|p| p.desired.as_ref())
        .expect("desired");
    assert_eq!(desired.version, Some(2));
    client
        .replace_twin("dev:1#a", &twin_patch(), &IfMatch::Any)
        .await
        .expect("replaced");

    let sent = hub.requests();
    assert_eq!(
        sent[0].path, "/twins/dev%3A1%23a",
        "ids are one quoted segment"
    );
    assert_eq!(sent[1].method, "PUT");
    assert_eq!(sent[1].path, "/twins/dev%3A1%23a");
    assert_eq!(sent[1].header("if-match"), Some("\"*\""));
}

// ---- Direct methods ----

#[tokio::test]
async fn invoke_method_outcomes() {
    let hub = Hub::start(vec![
        Canned::json(
            200,
            json!({"status": 200, "payload": {"Response": "locked"}}),
        ),
        Canned::raw(
            404,
            &newer_error(
                404103,
                "The operation failed because the requested device isn't online",
            ),
        ),
        Canned::raw(
            504,
            &classic_error(
                "GatewayTimeout",
                "Timed out waiting for the response from device.",
            ),
        )
        .header("iothub-errorcode", "GatewayTimeout"),
    ])
    .await;
    let client = hub.client();
    let mut method = CloudToDeviceMethod::new("lockDoor", json!({"lockTime": "10m"}));
    method.response_timeout_in_seconds = Some(5);
    method.connect_timeout_in_seconds = Some(0);

    let result = client
        .invoke_method("dev1", &method)
        .await
        .expect("answered");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.payload, json!({"Response": "locked"}));

    let offline = client
        .invoke_method("dev1", &method)
        .await
        .expect_err("404103");
    assert!(offline.is_device_not_online(), "{offline}");
    assert!(!offline.is_not_found());
    let hub_error = offline.hub_error().expect("from the hub");
    assert_eq!(hub_error.code, Some(404103));
    assert_eq!(hub_error.info, Some(json!({"timeout": "00:00:00"})));

    let slow = client
        .invoke_method("dev1", &method)
        .await
        .expect_err("504101");
    assert!(slow.is_timeout(), "{slow}");
    assert_eq!(slow.hub_error().and_then(|e| e.code), Some(504101));

    let sent = hub.requests();
    assert_eq!(sent.len(), 3, "method invocations are never retried");
    for request in &sent {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/twins/dev1/methods")
        );
        assert_eq!(
            request.json(),
            json!({"methodName": "lockDoor", "payload": {"lockTime": "10m"},
                   "responseTimeoutInSeconds": 5, "connectTimeoutInSeconds": 0})
        );
        assert_eq!(
            request.header("content-type"),
            Some("application/json; charset=utf-8")
        );
    }
}

// ---- Registry and statistics ----

#[tokio::test]
async fn device_identities_and_statistics() {
    let device = json!({
        "deviceId": "lock-01", "generationId": "638", "etag": "MA==", "status": "enabled",
        "connectionState": "Disconnected",
        "authentication": {"type": "sas", "symmetricKey": {"primaryKey": KEY, "secondaryKey": KEY},
                           "x509Thumbprint": {"primaryThumbprint": null, "secondaryThumbprint": null}},
        "capabilities": {"iotEdge": false},
    });
    let hub = Hub::start(vec![
        Canned::json(200, device.clone()),
        Canned::json(200, device.clone()),
        Canned::json(200, json!([device])),
        Canned::raw(204, ""),
        Canned::json(
            200,
            json!({"totalDeviceCount": 1, "enabledDeviceCount": 1, "disabledDeviceCount": 0}),
        ),
        Canned::json(200, json!({"connectedDeviceCount": 0})),
    ])
    .await;
    let client = hub.client();
    let identity = DeviceIdentity {
        status: Some("enabled".into()),
        ..DeviceIdentity::default()
    };
    let created = client
        .create_device("lock-01", &identity)
        .await
        .expect("created");
    assert_eq!(created.etag.as_deref(), Some("MA=="));
    let got = client.get_device("lock-01").await.expect("device");
    assert_eq!(got.generation_id.as_deref(), Some("638"));
    let listed = client.list_devices(Some(10)).await.expect("devices");
    assert_eq!(listed.len(), 1);
    client
        .delete_device("lock-01", &IfMatch::Any)
        .await
        .expect("deleted");
    let registry = client.device_statistics().await.expect("registry");
    assert_eq!(registry.total_device_count, Some(1));
    let service = client.service_statistics().await.expect("service");
    assert_eq!(service.connected_device_count, Some(0));

    let sent = hub.requests();
    let lines: Vec<_> = sent
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.method,
                r.path,
                r.header("if-match").unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "PUT /devices/lock-01 -",
            "GET /devices/lock-01 -",
            "GET /devices -",
            "DELETE /devices/lock-01 \"*\"",
            "GET /statistics/devices -",
            "GET /statistics/service -",
        ]
    );
    assert_eq!(
        sent[0].json(),
        json!({"deviceId": "lock-01", "status": "enabled"})
    );
    assert!(
        sent[2]
            .query_pairs()
            .contains(&("top".to_owned(), "10".to_owned()))
    );
}

#[tokio::test]
async fn creating_an_existing_device_is_a_conflict() {
    let hub = Hub::start(vec![Canned::raw(
        409,
        &classic_error(
            "DeviceAlreadyExists",
            "A device with ID 'lock-01' is already registered.",
        ),
    )])
    .await;
    let error = hub
        .client()
        .create_device("lock-01", &DeviceIdentity::default())
        .await
        .expect_err("409");
    assert!(error.is_conflict(), "{error}");
    assert_eq!(hub.requests().len(), 1);
}

// ---- Retries ----

#[tokio::test]
async fn throttled_job_creation_is_not_retried() {
    let hub = Hub::start(vec![
        Canned::raw(
            429,
            &classic_error(
                "ThrottlingMaxActiveJobCountExceeded",
                "Throttling: max active jobs 1 exceeded (429004)",
            ),
        )
        .header("iothub-errorcode", "ThrottlingMaxActiveJobCountExceeded")
        .header("retry-after", "0"),
        Canned::json(200, json!({"jobId": "job2", "status": "queued"})),
    ])
    .await;
    let request = JobRequest {
        job_type: Some(JobType::ScheduleUpdateTwin),
        update_twin: Some(Twin {
            etag: Some("*".to_owned()),
            ..twin_patch()
        }),
        query_condition: Some("DeviceId in ['dev1']".to_owned()),
        ..JobRequest::default()
    };
    let error = hub
        .client()
        .schedule_job("job2", &request)
        .await
        .expect_err("429");
    assert!(error.is_throttled(), "{error}");
    assert_eq!(error.hub_error().and_then(|e| e.code), Some(429004));
    assert_eq!(hub.requests().len(), 1, "job creation is sent once");
}

#[tokio::test]
async fn a_get_is_retried_after_503() {
    let hub = Hub::start(vec![
        Canned::raw(503, &newer_error(503001, "Service unavailable")).header("retry-after", "0"),
        Canned::raw(503, &classic_error("ServiceUnavailable", "try later")),
        Canned::json(200, json!({"deviceId": "dev1", "etag": "AAAAAAAAAAE="})),
    ])
    .await;
    let twin = hub
        .client()
        .get_twin("dev1")
        .await
        .expect("third time lucky");
    assert_eq!(twin.device_id.as_deref(), Some("dev1"));
    let sent = hub.requests();
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|r| r.method == "GET" && r.path == "/twins/dev1")
    );
}

#[tokio::test]
async fn a_device_query_is_retried_like_a_read() {
    let hub = Hub::start(vec![
        Canned::raw(503, &classic_error("ServiceUnavailable", "busy")),
        Canned::json(200, json!([{"deviceId": "dev1"}])),
    ])
    .await;
    let rows: Vec<Value> = hub
        .client()
        .query_devices_all("SELECT deviceId FROM devices", None)
        .await
        .expect("rows");
    assert_eq!(rows, [json!({"deviceId": "dev1"})]);
    let sent = hub.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].json(), sent[0].json());
}

#[tokio::test]
async fn a_failing_get_stops_after_max_attempts() {
    let hub = Hub::start(vec![
        Canned::raw(500, &classic_error("ServerError", "boom")),
        Canned::raw(503, &classic_error("ServiceUnavailable", "boom")),
        Canned::raw(429, &classic_error("ThrottlingException", "slow down")),
        Canned::json(200, json!({"jobId": "never reached"})),
    ])
    .await;
    let error = hub.client().get_job("job1").await.expect_err("gives up");
    assert!(error.is_throttled(), "the last answer is reported: {error}");
    assert_eq!(hub.requests().len(), 3, "max_attempts = 3");
}

#[tokio::test]
async fn patch_and_method_are_not_retried_on_503() {
    let hub = Hub::start(vec![
        Canned::raw(503, &classic_error("ServiceUnavailable", "busy")),
        Canned::raw(503, &classic_error("ServiceUnavailable", "busy")),
    ])
    .await;
    let client = hub.client();
    let error = client
        .patch_twin("dev1", &twin_patch(), &IfMatch::Any)
        .await
        .expect_err("503");
    assert_eq!(error.kind(), Some(ErrorKind::Server));
    let error = client
        .invoke_method("dev1", &CloudToDeviceMethod::new("lockDoor", Value::Null))
        .await
        .expect_err("503");
    assert_eq!(error.kind(), Some(ErrorKind::Server));
    assert_eq!(hub.requests().len(), 2);
}

// ---- Transport ----

#[tokio::test]
async fn an_untrusted_hub_is_a_tls_error() {
    let hub = Hub::start(vec![Canned::json(200, json!({}))]).await;
    let options = ServiceClientOptions {
        extra_ca_pem: None,
        ..hub.options()
    };
    let error = hub
        .client_with(options)
        .get_job("job1")
        .await
        .expect_err("untrusted");
    match &error {
        ServiceError::Tls { host, detail } => {
            assert_eq!(host, &hub.host_name());
            assert!(detail.contains("certificate"), "{detail}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(hub.requests().is_empty());
    assert_eq!(hub.connections(), 1, "a trust failure is not retried");
}

#[tokio::test]
async fn a_slow_hub_times_out_per_request() {
    let hub = Hub::start(vec![
        Canned::json(200, json!({})).after(Duration::from_secs(5)),
        Canned::json(200, json!({})).after(Duration::from_secs(5)),
    ])
    .await;
    let options = ServiceClientOptions {
        request_timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            max_attempts: 2,
            ..hub.options().retry
        },
        ..hub.options()
    };
    let started = Instant::now();
    let error = hub
        .client_with(options)
        .get_job("job1")
        .await
        .expect_err("timed out");
    assert!(
        matches!(error, ServiceError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(error.is_timeout());
    assert!(error.kind().is_none(), "not an answer of the hub");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hub.requests().len(), 2, "a timed-out GET is retried");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    // Bind and drop a listener to get a port that nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let connection =
        format!("HostName=127.0.0.1:{port};SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}")
            .parse()
            .expect("valid");
    let options = ServiceClientOptions {
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        },
        ..ServiceClientOptions::default()
    };
    let client = ServiceClient::new(connection, options).expect("client");
    let error = client.get_job("job1").await.expect_err("refused");
    assert!(matches!(error, ServiceError::Connect { .. }), "{error:?}");
    assert_no_secret(&error);
}

// ---- Secrets ----

#[tokio::test]
async fn errors_never_carry_the_signature_or_key() {
    let hub = Hub::start(vec![Canned::raw(401, "placeholder")]).await;
    let error = hub.client().get_twin("dev1").await.expect_err("401");
    assert!(error.is_unauthorized(), "{error}");
    assert_no_secret(&error);

    // A hub (or a proxy in front of it) echoing the token back, in both error shapes and as
    // plain text: the signature must not survive into the error.
    let sent = hub.only_request();
    let authorization = sent.header("authorization").expect("sent").to_owned();
    let signature = authorization
        .split('&')
        .find_map(|field| field.strip_prefix("sig="))
        .expect("a sig field")
        .to_owned();
    for body in [
        classic_error(
            "IotHubUnauthorizedAccess",
            &format!("bad token {authorization}"),
        ),
        newer_error(401002, &format!("bad token {authorization}")),
        authorization.clone(),
    ] {
        let hub = Hub::start(vec![Canned::raw(401, &body)]).await;
        let error = hub.client().get_twin("dev1").await.expect_err("401");
        assert!(error.is_unauthorized(), "{error}");
        let shown = format!("{error} {error:?} {error:#?}");
        assert!(!shown.contains(&signature), "{shown}");
        assert!(!shown.contains(KEY), "{shown}");
    }
}

fn assert_no_secret(error: &ServiceError) {
    let shown = format!("{error} {error:?} {error:#?}");
    assert!(!shown.contains("sig="), "{shown}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(!shown.contains("SharedAccessSignature"), "{shown}");
}
