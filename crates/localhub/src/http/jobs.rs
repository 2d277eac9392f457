//! Scheduled jobs: `/jobs/v2/{id}`, `/jobs/v2/{id}/cancel` and `/jobs/v2/query`.
//!
//! Permissions: the docs have asked for two different sets over time to schedule jobs,
//! "registry read and registry write" (the `registryReadWrite` policy, current docs) and
//! "service connect and registry read" (earlier docs). Both work here: creating and
//! cancelling need RegistryWrite or ServiceConnect, reading and querying RegistryRead or
//! ServiceConnect.
//!
//! The jobs query pages like `POST /devices/query` (`x-ms-max-item-count`, default and
//! maximum 100; `x-ms-continuation`) and answers a JSON array with `x-ms-item-type:
//! JobResponse`, or the swagger object when the hub is set to
//! [`JobsQueryForm::Object`](crate::hub::jobs::JobsQueryForm) (see [`crate::hub::jobs`]).

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post, put};
use iothub::model::{ErrorCode, JobRequest};
use serde::Deserialize;
use serde_json::json;

use super::auth::{Authorized, Requirement, need};
use super::error::ApiError;
use super::json::{JsonBody, ok};
use super::query::{Paging, set_paging_headers};
use crate::Hub;
use crate::hub::jobs::JobsQueryForm;
use crate::policies::Permission;

/// Creating and cancelling jobs: RegistryWrite or ServiceConnect (see the module docs).
#[derive(Debug)]
pub struct WriteOrConnect;

impl Requirement for WriteOrConnect {
    const ANY_OF: &'static [Permission] = &[Permission::RegistryWrite, Permission::ServiceConnect];
}

/// The jobs routes, to merge into the REST router.
pub fn routes() -> Router<Hub> {
    Router::new()
        .route("/jobs/v2/query", get(query_jobs))
        .route("/jobs/v2/{id}", put(create_job).get(get_job))
        .route("/jobs/v2/{id}/cancel", post(cancel_job))
}

/// The `{id}` of a jobs route, percent-decoded.
#[derive(Debug)]
pub struct JobId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for JobId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::ArgumentInvalid,
                    "The job id in the path is not valid.",
                )
            })?;
        Ok(Self(id))
    }
}

/// `PUT /jobs/v2/{id}`: 200 with the job, `queued`.
pub async fn create_job(
    State(hub): State<Hub>,
    _: Authorized<WriteOrConnect>,
    JobId(id): JobId,
    JsonBody(request): JsonBody<JobRequest>,
) -> Result<Response, ApiError> {
    Ok(ok(&hub.schedule_job(&id, request)?))
}

/// `GET /jobs/v2/{id}`: the job with live statistics; 404002 if unknown.
pub async fn get_job(
    State(hub): State<Hub>,
    _: Authorized<need::ReadOrConnect>,
    JobId(id): JobId,
) -> Result<Response, ApiError> {
    Ok(ok(&hub.get_job(&id)?))
}

/// `POST /jobs/v2/{id}/cancel`: 200 with the job, `cancelled`; 412003 if it had finished.
pub async fn cancel_job(
    State(hub): State<Hub>,
    _: Authorized<WriteOrConnect>,
    JobId(id): JobId,
) -> Result<Response, ApiError> {
    Ok(ok(&hub.cancel_job(&id)?))
}

/// The jobs query's filters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFilter {
    /// `jobType`, any case.
    pub job_type: Option<String>,
    /// `jobStatus`, any case.
    pub job_status: Option<String>,
}

/// `GET /jobs/v2/query?jobType=&jobStatus=`.
pub async fn query_jobs(
    State(hub): State<Hub>,
    _: Authorized<need::ReadOrConnect>,
    headers: HeaderMap,
    filter: Result<Query<JobFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(filter) = filter
        .map_err(|_| ApiError::new(ErrorCode::ArgumentInvalid, "The query string is not valid."))?;
    let paging = Paging::from_headers(&headers)?;
    let page = hub.query_jobs(
        filter.job_type.as_deref(),
        filter.job_status.as_deref(),
        paging.continuation,
        paging.page_size,
    )?;
    let mut response = match hub.jobs_query_form() {
        JobsQueryForm::Array => ok(&page.items),
        JobsQueryForm::Object => {
            let mut body = json!({"type": "jobResponse", "items": page.items});
            if let Some(token) = &page.continuation {
                body["continuationToken"] = json!(token);
            }
            ok(&body)
        }
    };
    set_paging_headers(&mut response, "JobResponse", page.continuation)?;
    Ok(response)
}
