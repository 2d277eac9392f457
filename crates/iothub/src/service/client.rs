//! [`ServiceClient`]: the operations, and the one request loop they all go through
//! (URL, headers, SAS, timeout, retries, error mapping).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, IF_MATCH,
    RETRY_AFTER,
};
use reqwest::{Method, redirect};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::auth::ServiceConnectionString;
use crate::model::{
    CloudToDeviceMethod, CloudToDeviceMethodResult, DeviceIdentity, HubError, JobRequest,
    JobResponse, JobStatus, JobType, QueryItemType, QueryResult, QuerySpecification, Twin,
};

use super::auth::{Clock, SasCache, SystemClock};
use super::error::{ServiceError, from_transport, scrub_signatures};
use super::retry::{AttemptOutcome, Idempotency, RetryPolicy, parse_retry_after};
use super::types::{IfMatch, PageRequest, QueryPage, RegistryStatistics, ServiceStatistics};

/// The api-version the Python service SDK 2.x sends.
pub const DEFAULT_API_VERSION: &str = "2021-04-12";

/// `Content-Type` of every request with a body, spelled as the Python SDK spells it.
const JSON_UTF8: &str = "application/json; charset=utf-8";

const CONTINUATION: &str = "x-ms-continuation";
const MAX_ITEM_COUNT: &str = "x-ms-max-item-count";
const ITEM_TYPE: &str = "x-ms-item-type";
const ERROR_CODE: &str = "iothub-errorcode";

/// The hub's defaults for a direct method's timeouts, used to size the HTTP timeout.
const DEFAULT_METHOD_RESPONSE_TIMEOUT_SECS: u64 = 30;

/// Python's `quote(s, safe="")`, what msrest applies to path parameters: ids such as
/// `dev#1` or `a/b` must reach the hub as one segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How a [`ServiceClient`] talks to the hub.
#[derive(Clone, Debug)]
pub struct ServiceClientOptions {
    /// A PEM bundle of extra CA certificates to trust besides the public web roots: the
    /// local hub's self-signed CA. `None` for Azure.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// How long one attempt of a request may take, connecting included (default 30 s).
    pub request_timeout: Duration,
    /// How long connecting (TCP + TLS) may take (default 10 s).
    pub connect_timeout: Duration,
    /// What a direct method invocation may take beyond the method's own response and connect
    /// timeouts, for the hub's round trips (default 10 s).
    pub method_timeout_margin: Duration,
    /// When to try again (default: 4 attempts, see [`RetryPolicy`]).
    pub retry: RetryPolicy,
    /// The `api-version` query parameter (default [`DEFAULT_API_VERSION`]).
    pub api_version: String,
    /// The `User-Agent` header (default `lockstep/<crate version>`).
    pub user_agent: String,
    /// How long each SAS token is valid (default 1 h); it is renewed before it expires.
    pub sas_ttl: Duration,
    /// Where "now" comes from for SAS tokens (default the system clock).
    pub clock: Arc<dyn Clock>,
}

impl Default for ServiceClientOptions {
    fn default() -> Self {
        Self {
            extra_ca_pem: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            method_timeout_margin: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            user_agent: concat!("lockstep/", env!("CARGO_PKG_VERSION")).to_owned(),
            sas_ttl: Duration::from_secs(3600),
            clock: Arc::new(SystemClock),
        }
    }
}

/// A client of one IoT Hub's service REST API, authenticated with a shared access policy.
///
/// Cheap to clone: clones share the connection pool and the cached SAS token.
///
/// Retries (see [`RetryPolicy`]) apply to reads and unconditional overwrites only: GETs,
/// queries (a `POST` that reads), `PUT` of a twin or device with [`IfMatch::Any`], and
/// `DELETE` with [`IfMatch::Any`]. Creating a job or a device, cancelling a job, patching a
/// twin and invoking a method are sent once: a repeat after a lost answer would either act
/// twice or answer 409/412 for something that in fact succeeded. A retried delete can
/// therefore answer [`ServiceError::is_not_found`] when an earlier attempt did delete.
#[derive(Clone)]
pub struct ServiceClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    host_name: String,
    api_version: String,
    sas: SasCache,
    retry: RetryPolicy,
    request_timeout: Duration,
    method_timeout_margin: Duration,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("host_name", &self.inner.host_name)
            .field("api_version", &self.inner.api_version)
            .finish_non_exhaustive()
    }
}

/// One REST call, before it is sent.
struct Call<'a> {
    method: Method,
    /// The path, segments already percent-encoded.
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    if_match: Option<&'a IfMatch>,
    page: Option<&'a PageRequest>,
    idempotency: Idempotency,
    timeout: Duration,
}

/// A response that arrived, whatever its status.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl ServiceClient {
    /// A client for the hub of `connection`.
    ///
    /// Fails only on unusable options (an extra CA that is not PEM, a policy name that cannot
    /// be an HTTP header); nothing is sent until the first call.
    pub fn new(
        connection: ServiceConnectionString,
        options: ServiceClientOptions,
    ) -> Result<Self, ServiceError> {
        let tls = tls_config(options.extra_ca_pem.as_deref())?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            // A redirect would take the request (and, on the same host, the SAS) somewhere
            // the caller did not ask for; IoT Hub never redirects.
            .redirect(redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.as_str())
            .build()
            .map_err(|error| ServiceError::Config {
                detail: format!("cannot build the HTTP client: {error}"),
            })?;
        let host_name = connection.host_name().to_owned();
        let base_url =
            Url::parse(&format!("https://{host_name}")).map_err(|error| ServiceError::Config {
                detail: format!("the host name does not make a URL: {error}"),
            })?;
        let sas = SasCache::new(connection, options.sas_ttl, options.clock.clone());
        // Surface a policy name that cannot be sent now rather than at the first call.
        sas.authorization().map_err(|error| ServiceError::Config {
            detail: error.to_string(),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                host_name,
                api_version: options.api_version,
                sas,
                retry: options.retry,
                request_timeout: options.request_timeout,
                method_timeout_margin: options.method_timeout_margin,
            }),
        })
    }

    /// The hub's host name (with port, if any).
    pub fn host_name(&self) -> &str {
        &self.inner.host_name
    }

    // ---- Jobs (`/jobs/v2`) ----

    /// Schedules a job: `PUT /jobs/v2/{job_id}`. The body's `jobId` is set to `job_id` if
    /// missing, and must equal it if present.
    ///
    /// Sent once, never retried: after a lost answer a second `PUT` would answer 409 for a
    /// job that was in fact created (call [`ServiceClient::get_job`] to find out). A hub
    /// at its limit of active jobs answers 429004, [`ServiceError::is_throttled`].
    pub async fn schedule_job(
        &self,
        job_id: &str,
        request: &JobRequest,
    ) -> Result<JobResponse, ServiceError> {
        let mut request = request.clone();
        match request.job_id.as_deref() {
            None => request.job_id = Some(job_id.to_owned()),
            Some(body_id) if body_id == job_id => {}
            Some(body_id) => {
                return Err(ServiceError::InvalidRequest {
                    detail: format!("job id '{job_id}' in the URL but '{body_id}' in the body"),
                });
            }
        }
        let call = self
            .call(Method::PUT, &["jobs", "v2", nonempty("job id", job_id)?])
            .body(&request)?
            .idempotency(Idempotency::NotIdempotent);
        self.json(call).await
    }

    /// A job's current state: `GET /jobs/v2/{job_id}`.
    pub async fn get_job(&self, job_id: &str) -> Result<JobResponse, ServiceError> {
        let call = self.call(Method::GET, &["jobs", "v2", nonempty("job id", job_id)?]);
        self.json(call).await
    }

    /// Cancels a job: `POST /jobs/v2/{job_id}/cancel`, answered with the job.
    pub async fn cancel_job(&self, job_id: &str) -> Result<JobResponse, ServiceError> {
        let call = self
            .call(
                Method::POST,
                &["jobs", "v2", nonempty("job id", job_id)?, "cancel"],
            )
            .idempotency(Idempotency::NotIdempotent);
        self.json(call).await
    }

    /// One page of jobs: `GET /jobs/v2/query?jobType=&jobStatus=`, filters left out when
    /// `None`.
    ///
    /// Reads the hub's JSON array with the `x-ms-continuation` header as well as the
    /// swagger's `{"type","items","continuationToken"}` object.
    pub async fn query_jobs(
        &self,
        job_type: Option<&JobType>,
        job_status: Option<&JobStatus>,
        page: &PageRequest,
    ) -> Result<QueryPage<JobResponse>, ServiceError> {
        let mut call = self.call(Method::GET, &["jobs", "v2", "query"]).page(page);
        if let Some(job_type) = job_type {
            call.query.push(("jobType", job_type.as_str().to_owned()));
        }
        if let Some(job_status) = job_status {
            call.query
                .push(("jobStatus", job_status.as_str().to_owned()));
        }
        let answer = self.send(call).await?;
        parse_page(&answer)
    }

    /// Every job matching the filters, following continuation tokens to the last page.
    pub async fn query_all_jobs(
        &self,
        job_type: Option<&JobType>,
        job_status: Option<&JobStatus>,
        max_item_count: Option<u32>,
    ) -> Result<Vec<JobResponse>, ServiceError> {
        let mut items = Vec::new();
        let mut page = PageRequest::first(max_item_count);
        loop {
            let result = self.query_jobs(job_type, job_status, &page).await?;
            match next_request(&page, result, &mut items, max_item_count)? {
                Some(next) => page = next,
                None => return Ok(items),
            }
        }
    }

    // ---- Queries (`/devices/query`) ----

    /// One page of an IoT Hub query: `POST /devices/query` with `{"query": query}`.
    ///
    /// Rows come back as `T`: [`Twin`] for `SELECT * FROM devices`,
    /// [`crate::model::DeviceJob`] for `FROM devices.jobs`, [`Value`] for projections.
    /// Retried like a read: the `POST` only carries the query text.
    pub async fn query_devices<T: DeserializeOwned>(
        &self,
        query: &str,
        page: &PageRequest,
    ) -> Result<QueryPage<T>, ServiceError> {
        let spec = QuerySpecification {
            query: query.to_owned(),
        };
        let call = self
            .call(Method::POST, &["devices", "query"])
            .body(&spec)?
            .page(page)
            // A POST only because the query text is the body; it changes nothing.
            .idempotency(Idempotency::Idempotent);
        let answer = self.send(call).await?;
        parse_page(&answer)
    }

    /// Every row of a query, following continuation tokens to the last page, `page_size`
    /// rows at a time (the hub's default if `None`).
    pub async fn query_devices_all<T: DeserializeOwned>(
        &self,
        query: &str,
        page_size: Option<u32>,
    ) -> Result<Vec<T>, ServiceError> {
        let mut items = Vec::new();
        let mut page = PageRequest::first(page_size);
        loop {
            let result = self.query_devices(query, &page).await?;
            match next_request(&page, result, &mut items, page_size)? {
                Some(next) => page = next,
                None => return Ok(items),
            }
        }
    }

    // ---- Twins (`/twins/{id}`) ----

    /// A device twin: `GET /twins/{device_id}`.
    pub async fn get_twin(&self, device_id: &str) -> Result<Twin, ServiceError> {
        let call = self.call(Method::GET, &["twins", nonempty("device id", device_id)?]);
        self.json(call).await
    }

    /// Merges `patch` (tags and desired properties; `null` deletes) into a twin:
    /// `PATCH /twins/{device_id}`, answered with the whole twin. A stale etag answers 412,
    /// [`ServiceError::is_precondition_failed`]. Never retried.
    pub async fn patch_twin(
        &self,
        device_id: &str,
        patch: &Twin,
        if_match: &IfMatch,
    ) -> Result<Twin, ServiceError> {
        let call = self
            .call(Method::PATCH, &["twins", nonempty("device id", device_id)?])
            .body(patch)?
            .if_match(if_match)
            .idempotency(Idempotency::NotIdempotent);
        self.json(call).await
    }

    /// Replaces a twin's tags and desired properties: `PUT /twins/{device_id}`. Retried only
    /// with [`IfMatch::Any`]: with an etag, a repeat after a lost answer would fail with 412.
    pub async fn replace_twin(
        &self,
        device_id: &str,
        twin: &Twin,
        if_match: &IfMatch,
    ) -> Result<Twin, ServiceError> {
        let call = self
            .call(Method::PUT, &["twins", nonempty("device id", device_id)?])
            .body(twin)?
            .if_match(if_match)
            .idempotency(unconditional(if_match));
        self.json(call).await
    }

    // ---- Direct methods ----

    /// Invokes a direct method and waits for the device: `POST /twins/{device_id}/methods`.
    ///
    /// The HTTP timeout is the method's response and connect timeouts (hub defaults 30 s and
    /// 0 s) plus a margin, or the request timeout if longer. A device that is not connected
    /// answers 404103 ([`ServiceError::is_device_not_online`]); one that does not answer in
    /// time 504101 ([`ServiceError::is_timeout`]). Never retried: the device may have acted.
    pub async fn invoke_method(
        &self,
        device_id: &str,
        method: &CloudToDeviceMethod,
    ) -> Result<CloudToDeviceMethodResult, ServiceError> {
        let secs = |value: Option<i32>, default: u64| {
            value.map_or(default, |secs| u64::try_from(secs).unwrap_or(0))
        };
        let device_wait = Duration::from_secs(
            secs(
                method.response_timeout_in_seconds,
                DEFAULT_METHOD_RESPONSE_TIMEOUT_SECS,
            ) + secs(method.connect_timeout_in_seconds, 0),
        );
        let timeout = self
            .inner
            .request_timeout
            .max(device_wait.saturating_add(self.inner.method_timeout_margin));
        let call = self
            .call(
                Method::POST,
                &["twins", nonempty("device id", device_id)?, "methods"],
            )
            .body(method)?
            .idempotency(Idempotency::NotIdempotent)
            .timeout(timeout);
        self.json(call).await
    }

    // ---- Device identities (`/devices/{id}`) ----

    /// Registers a device: `PUT /devices/{device_id}` without `If-Match`, so an existing id
    /// answers 409 ([`ServiceError::is_conflict`]). The body's `deviceId` is set to
    /// `device_id` if missing, and must equal it if present. Without keys in
    /// `authentication`, the hub generates them. Never retried, like job creation.
    pub async fn create_device(
        &self,
        device_id: &str,
        identity: &DeviceIdentity,
    ) -> Result<DeviceIdentity, ServiceError> {
        let identity = with_device_id(device_id, identity)?;
        let call = self
            .call(Method::PUT, &["devices", nonempty("device id", device_id)?])
            .body(&identity)?
            .idempotency(Idempotency::NotIdempotent);
        self.json(call).await
    }

    /// Updates a registered device: `PUT /devices/{device_id}` with `If-Match`. Retried only
    /// with [`IfMatch::Any`], as for [`ServiceClient::replace_twin`].
    pub async fn update_device(
        &self,
        device_id: &str,
        identity: &DeviceIdentity,
        if_match: &IfMatch,
    ) -> Result<DeviceIdentity, ServiceError> {
        let identity = with_device_id(device_id, identity)?;
        let call = self
            .call(Method::PUT, &["devices", nonempty("device id", device_id)?])
            .body(&identity)?
            .if_match(if_match)
            .idempotency(unconditional(if_match));
        self.json(call).await
    }

    /// A device's registry entry, keys included: `GET /devices/{device_id}`.
    pub async fn get_device(&self, device_id: &str) -> Result<DeviceIdentity, ServiceError> {
        let call = self.call(Method::GET, &["devices", nonempty("device id", device_id)?]);
        self.json(call).await
    }

    /// Registered devices, at most `top` (1..=1000; the hub's default if `None`):
    /// `GET /devices?top=`.
    pub async fn list_devices(
        &self,
        top: Option<u32>,
    ) -> Result<Vec<DeviceIdentity>, ServiceError> {
        let mut call = self.call(Method::GET, &["devices"]);
        if let Some(top) = top {
            if !(1..=1000).contains(&top) {
                return Err(ServiceError::InvalidRequest {
                    detail: format!("top must be 1..=1000, not {top}"),
                });
            }
            call.query.push(("top", top.to_string()));
        }
        self.json(call).await
    }

    /// Deletes a device: `DELETE /devices/{device_id}`. A stale etag answers 412; retried
    /// only with [`IfMatch::Any`].
    pub async fn delete_device(
        &self,
        device_id: &str,
        if_match: &IfMatch,
    ) -> Result<(), ServiceError> {
        let call = self
            .call(
                Method::DELETE,
                &["devices", nonempty("device id", device_id)?],
            )
            .if_match(if_match)
            .idempotency(unconditional(if_match));
        self.send(call).await.map(drop)
    }

    // ---- Statistics ----

    /// Registry counts: `GET /statistics/devices`.
    pub async fn device_statistics(&self) -> Result<RegistryStatistics, ServiceError> {
        self.json(self.call(Method::GET, &["statistics", "devices"]))
            .await
    }

    /// Connected-device count: `GET /statistics/service`.
    pub async fn service_statistics(&self) -> Result<ServiceStatistics, ServiceError> {
        self.json(self.call(Method::GET, &["statistics", "service"]))
            .await
    }

    // ---- The request loop ----

    /// A call with the defaults: retried if a GET, not otherwise; no body; the request
    /// timeout.
    fn call<'a>(&self, method: Method, segments: &[&str]) -> Call<'a> {
        let path = segments
            .iter()
            .map(|segment| format!("/{}", utf8_percent_encode(segment, PATH_SEGMENT)))
            .collect();
        // Anything but a GET opts in to retries explicitly.
        let idempotency = if method == Method::GET {
            Idempotency::Idempotent
        } else {
            Idempotency::NotIdempotent
        };
        Call {
            method,
            path,
            query: Vec::new(),
            body: None,
            if_match: None,
            page: None,
            idempotency,
            timeout: self.inner.request_timeout,
        }
    }

    /// Sends a call and reads a JSON answer.
    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, ServiceError> {
        let answer = self.send(call).await?;
        serde_json::from_slice(&answer.body).map_err(|error| ServiceError::InvalidResponse {
            status: answer.status,
            detail: format!("the body is not the expected JSON: {error}"),
        })
    }

    /// Sends a call, retrying as its idempotency and the policy allow; a non-2xx final
    /// answer becomes [`ServiceError::Hub`].
    async fn send(&self, call: Call<'_>) -> Result<Answer, ServiceError> {
        let inner = &*self.inner;
        let url = self.url(&call);
        let mut rng = fastrand::Rng::new();
        let mut attempt = 1;
        loop {
            let request = self.request(&call, url.clone())?;
            let (result, outcome, retry_after) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => {
                            let retry_after = headers
                                .get(RETRY_AFTER)
                                .and_then(|value| value.to_str().ok())
                                .and_then(parse_retry_after);
                            let answer = Answer {
                                status,
                                headers,
                                body: body.to_vec(),
                            };
                            (Ok(answer), AttemptOutcome::Status(status), retry_after)
                        }
                        Err(error) => {
                            let (error, outcome) =
                                from_transport(error, &inner.host_name, call.timeout);
                            (Err(error), outcome, None)
                        }
                    }
                }
                Err(error) => {
                    let (error, outcome) = from_transport(error, &inner.host_name, call.timeout);
                    (Err(error), outcome, None)
                }
            };
            tracing::debug!(
                method = %call.method,
                path = %call.path,
                ?outcome,
                attempt,
                "IoT Hub request"
            );
            let success = matches!(&result, Ok(answer) if (200..300).contains(&answer.status));
            if !success && inner.retry.should_retry(attempt, call.idempotency, outcome) {
                let delay = inner.retry.delay(attempt, retry_after, &mut rng);
                tracing::debug!(?delay, attempt, "retrying IoT Hub request");
                tokio::time::sleep(delay).await;
                attempt += 1;
                continue;
            }
            return result.and_then(into_success);
        }
    }

    fn url(&self, call: &Call<'_>) -> Url {
        let mut url = self.inner.base_url.clone();
        // The path is already percent-encoded per segment; `set_path` keeps `%XX` as is.
        url.set_path(&call.path);
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in &call.query {
                query.append_pair(name, value);
            }
            query.append_pair("api-version", &self.inner.api_version);
        }
        url
    }

    fn request(&self, call: &Call<'_>, url: Url) -> Result<reqwest::RequestBuilder, ServiceError> {
        let authorization =
            self.inner
                .sas
                .authorization()
                .map_err(|error| ServiceError::Config {
                    detail: error.to_string(),
                })?;
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .timeout(call.timeout)
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json");
        match &call.body {
            Some(body) => {
                request = request.header(CONTENT_TYPE, JSON_UTF8).body(body.clone());
            }
            // Front ends in front of the hub refuse a body-less POST without a length (411),
            // and the Python SDK sends `Content-Length: 0` for cancel.
            None if call.method == Method::POST => {
                request = request.header(CONTENT_LENGTH, "0").body(Vec::new());
            }
            None => {}
        }
        if let Some(if_match) = call.if_match {
            let value = HeaderValue::from_str(&if_match.header_value()).map_err(|_| {
                ServiceError::InvalidRequest {
                    detail: "the etag is not a valid header value".to_owned(),
                }
            })?;
            request = request.header(IF_MATCH, value);
        }
        if let Some(page) = call.page {
            if let Some(max) = page.max_item_count {
                request = request.header(MAX_ITEM_COUNT, max.to_string());
            }
            if let Some(token) = &page.continuation {
                let value =
                    HeaderValue::from_str(token).map_err(|_| ServiceError::InvalidRequest {
                        detail: "the continuation token is not a valid header value".to_owned(),
                    })?;
                request = request.header(CONTINUATION, value);
            }
        }
        Ok(request)
    }
}

impl<'a> Call<'a> {
    fn body<T: Serialize>(mut self, body: &T) -> Result<Self, ServiceError> {
        let bytes = serde_json::to_vec(body).map_err(|error| ServiceError::InvalidRequest {
            detail: format!("the body cannot be serialized: {error}"),
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    fn if_match(mut self, if_match: &'a IfMatch) -> Self {
        self.if_match = Some(if_match);
        self
    }

    fn page(mut self, page: &'a PageRequest) -> Self {
        self.page = Some(page);
        self
    }

    fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = idempotency;
        self
    }

    fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Retrying an overwrite is safe only if it does not depend on the etag it changes.
fn unconditional(if_match: &IfMatch) -> Idempotency {
    match if_match {
        IfMatch::Any => Idempotency::Idempotent,
        IfMatch::Etag(_) => Idempotency::NotIdempotent,
    }
}

fn nonempty<'a>(what: &str, id: &'a str) -> Result<&'a str, ServiceError> {
    if id.is_empty() {
        return Err(ServiceError::InvalidRequest {
            detail: format!("the {what} is empty"),
        });
    }
    Ok(id)
}

fn with_device_id(
    device_id: &str,
    identity: &DeviceIdentity,
) -> Result<DeviceIdentity, ServiceError> {
    let mut identity = identity.clone();
    match identity.device_id.as_deref() {
        None => identity.device_id = Some(device_id.to_owned()),
        Some(body_id) if body_id == device_id => {}
        Some(body_id) => {
            return Err(ServiceError::InvalidRequest {
                detail: format!("device id '{device_id}' in the URL but '{body_id}' in the body"),
            });
        }
    }
    Ok(identity)
}

/// A 2xx answer as is; anything else as the hub's error, scrubbed of signatures.
fn into_success(answer: Answer) -> Result<Answer, ServiceError> {
    if (200..300).contains(&answer.status) {
        return Ok(answer);
    }
    let errorcode = answer
        .headers
        .get(ERROR_CODE)
        .and_then(|value| value.to_str().ok());
    let mut error = HubError::parse(answer.status, &answer.body, errorcode);
    error.message = scrub_signatures(&error.message);
    Err(error.into())
}

/// Reads a query answer: a JSON array with paging in headers (the hub), or the swagger's
/// `QueryResult` object (what the Python SDK expects from `/jobs/v2/query`); headers win
/// over the object's fields.
fn parse_page<T: DeserializeOwned>(answer: &Answer) -> Result<QueryPage<T>, ServiceError> {
    let invalid = |detail: String| ServiceError::InvalidResponse {
        status: answer.status,
        detail,
    };
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let mut continuation = header(CONTINUATION).map(str::to_owned);
    let mut item_type = header(ITEM_TYPE).map(QueryItemType::from_wire);
    let body: Value = serde_json::from_slice(&answer.body)
        .map_err(|error| invalid(format!("the query answer is not JSON: {error}")))?;
    let rows = match body {
        Value::Array(rows) => rows,
        object @ Value::Object(_) => {
            let result: QueryResult = serde_json::from_value(object)
                .map_err(|error| invalid(format!("the query answer object is invalid: {error}")))?;
            continuation = continuation.or(result.continuation_token.filter(|t| !t.is_empty()));
            item_type = item_type.or(result.item_type);
            result.items
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            return Err(invalid(
                "the query answer is neither an array nor an object".to_owned(),
            ));
        }
    };
    let items = rows
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<T>, _>>()
        .map_err(|error| invalid(format!("a query row is invalid: {error}")))?;
    Ok(QueryPage {
        items,
        continuation,
        item_type,
    })
}

/// Collects a page's items and says which page comes next, refusing a hub that hands out
/// the same token again (which would loop forever).
fn next_request<T>(
    current: &PageRequest,
    page: QueryPage<T>,
    items: &mut Vec<T>,
    max_item_count: Option<u32>,
) -> Result<Option<PageRequest>, ServiceError> {
    let next = page.next_page(max_item_count);
    items.extend(page.items);
    match next {
        Some(next) if next.continuation == current.continuation => {
            Err(ServiceError::InvalidResponse {
                status: 200,
                detail: "the hub returned the same continuation token twice".to_owned(),
            })
        }
        next => Ok(next),
    }
}

/// Trust: the public web roots (Azure) plus the extra CA (a local hub), with ring as the
/// only crypto provider.
fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, ServiceError> {
    let config_error = |detail: String| ServiceError::Config { detail };
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut added = 0usize;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate
                .map_err(|error| config_error(format!("the extra CA is not PEM: {error}")))?;
            roots.add(certificate).map_err(|error| {
                config_error(format!("the extra CA is not a usable certificate: {error}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(config_error(
                "the extra CA PEM holds no certificate".to_owned(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| config_error(format!("TLS setup failed: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // A preconfigured config is used as is, so ALPN is ours to set.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).expect("valid"));
        }
        Answer {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn pages_from_arrays_and_headers() {
        let page: QueryPage<Value> = parse_page(&answer(
            200,
            &[(CONTINUATION, "next"), (ITEM_TYPE, "DeviceJob")],
            r#"[{"a":1},{"a":2}]"#,
        ))
        .expect("parses");
        assert_eq!(page.items, [json!({"a": 1}), json!({"a": 2})]);
        assert_eq!(page.continuation.as_deref(), Some("next"));
        assert_eq!(page.item_type, Some(QueryItemType::DeviceJob));

        let last: QueryPage<Value> =
            parse_page(&answer(200, &[(CONTINUATION, "")], "[]")).expect("parses");
        assert_eq!(
            last.continuation, None,
            "an empty token means the last page"
        );
    }

    #[test]
    fn pages_from_the_swagger_object() {
        let page: QueryPage<JobResponse> = parse_page(&answer(
            200,
            &[],
            r#"{"type":"jobResponse","items":[{"jobId":"j1","status":"completed"}],"continuationToken":"c2"}"#,
        ))
        .expect("parses");
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].job_id.as_deref(), Some("j1"));
        assert_eq!(page.continuation.as_deref(), Some("c2"));
        assert_eq!(page.item_type, Some(QueryItemType::JobResponse));

        let empty: QueryPage<JobResponse> = parse_page(&answer(200, &[], "{}")).expect("parses");
        assert!(empty.items.is_empty());
        assert_eq!(empty.continuation, None);
    }

    #[test]
    fn bad_query_answers_are_invalid_responses() {
        for body in ["", "3", "\"x\"", "{\"items\":3}", "[1]"] {
            let result: Result<QueryPage<JobResponse>, _> = parse_page(&answer(200, &[], body));
            assert!(
                matches!(
                    result,
                    Err(ServiceError::InvalidResponse { status: 200, .. })
                ),
                "{body}: {result:?}"
            );
        }
    }

    #[test]
    fn error_answers_map_to_hub_errors() {
        let error = into_success(answer(
            412,
            &[(ERROR_CODE, "PreconditionFailed")],
            r#"{"Message":"ErrorCode:PreconditionFailed;etag mismatch","ExceptionMessage":"Tracking ID:t1"}"#,
        ))
        .err()
        .expect("an error");
        assert!(error.is_precondition_failed());
        let hub = error.hub_error().expect("from the hub");
        assert_eq!(hub.code, Some(412001));
        assert_eq!(hub.tracking_id.as_deref(), Some("t1"));

        let error = into_success(answer(
            401,
            &[],
            "SharedAccessSignature sr=h&sig=secret&se=1",
        ))
        .err()
        .expect("an error");
        assert!(error.is_unauthorized());
        assert!(!error.to_string().contains("secret"), "{error}");

        assert!(into_success(answer(204, &[], "")).is_ok());
        let redirect = into_success(answer(302, &[], "")).err().expect("an error");
        assert_eq!(redirect.kind(), Some(crate::model::ErrorKind::Other));
    }

    #[test]
    fn paging_stops_on_a_repeated_token() {
        let current = PageRequest {
            continuation: Some("same".to_owned()),
            max_item_count: None,
        };
        let page = QueryPage {
            items: vec![1],
            continuation: Some("same".to_owned()),
            item_type: None,
        };
        let mut items = Vec::new();
        assert!(next_request(&current, page, &mut items, None).is_err());
    }

    #[test]
    fn path_segments_are_quoted_like_python() {
        assert_eq!(
            utf8_percent_encode("dev:1#a/b c+%", PATH_SEGMENT).to_string(),
            "dev%3A1%23a%2Fb%20c%2B%25"
        );
        assert_eq!(
            utf8_percent_encode("lock-01_a.b~", PATH_SEGMENT).to_string(),
            "lock-01_a.b~"
        );
    }

    #[test]
    fn bad_extra_ca_is_a_config_error() {
        for pem in [
            &b""[..],
            b"not pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                matches!(tls_config(Some(pem)), Err(ServiceError::Config { .. })),
                "{pem:?}"
            );
        }
        assert!(tls_config(None).is_ok());
    }
}
