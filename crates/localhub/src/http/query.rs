//! `POST /devices/query`: one page of an IoT Hub query.
//!
//! The body is `{"query": "…"}`; paging is in headers, as on Azure: the request's
//! `x-ms-continuation` (the previous page's token) and `x-ms-max-item-count` (page size,
//! default and maximum 100); the response is a JSON array with `x-ms-item-type` and, only
//! when there is a next page, `x-ms-continuation`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use iothub::model::{ErrorCode, QuerySpecification};

use super::auth::{Authorized, need};
use super::error::ApiError;
use super::json::{JsonBody, ok};
use crate::Hub;

/// The page size when the request names none, and the largest allowed (larger requests
/// are served 100 at a time, as Azure does).
pub const MAX_PAGE_SIZE: usize = 100;

const CONTINUATION: &str = "x-ms-continuation";
const MAX_ITEM_COUNT: &str = "x-ms-max-item-count";
const ITEM_TYPE: &str = "x-ms-item-type";

/// `POST /devices/query`.
pub async fn query_devices(
    State(hub): State<Hub>,
    _: Authorized<need::ReadOrConnect>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<QuerySpecification>,
) -> Result<Response, ApiError> {
    let paging = Paging::from_headers(&headers)?;
    if spec.query.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::ArgumentNull,
            "The query is required.",
        ));
    }
    let page = hub.query_devices(&spec.query, paging.continuation, paging.page_size)?;
    let mut response = ok(&page.items);
    set_paging_headers(&mut response, page.item_type, page.continuation)?;
    Ok(response)
}

/// The paging a query request asks for: `x-ms-continuation` and `x-ms-max-item-count`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging<'a> {
    /// The previous page's token; `None` for the first page.
    pub continuation: Option<&'a str>,
    /// How many items at most (default and maximum [`MAX_PAGE_SIZE`]).
    pub page_size: usize,
}

impl<'a> Paging<'a> {
    /// Reads the paging headers; a page size that is not a positive number is refused.
    pub fn from_headers(headers: &'a HeaderMap) -> Result<Self, ApiError> {
        let continuation = header(headers, CONTINUATION)?.filter(|token| !token.is_empty());
        let page_size = match header(headers, MAX_ITEM_COUNT)? {
            None => MAX_PAGE_SIZE,
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|size| *size > 0)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ArgumentInvalid,
                        "x-ms-max-item-count must be a positive number.",
                    )
                })?
                .min(MAX_PAGE_SIZE),
        };
        Ok(Self {
            continuation,
            page_size,
        })
    }
}

/// Sets `x-ms-item-type`, and `x-ms-continuation` when there is a next page.
pub(crate) fn set_paging_headers(
    response: &mut Response,
    item_type: &'static str,
    continuation: Option<String>,
) -> Result<(), ApiError> {
    let headers = response.headers_mut();
    headers.insert(ITEM_TYPE, HeaderValue::from_static(item_type));
    if let Some(token) = continuation {
        let value = HeaderValue::from_str(&token).map_err(|_| {
            ApiError::new(
                ErrorCode::ServerError,
                "The continuation token cannot be sent as a header.",
            )
        })?;
        headers.insert(CONTINUATION, value);
    }
    Ok(())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|value| {
            value.to_str().map_err(|_| {
                ApiError::new(
                    ErrorCode::ArgumentInvalid,
                    format!("The {name} header is not valid."),
                )
            })
        })
        .transpose()
}
