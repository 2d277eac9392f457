//! Request parts in, JSON out: the extractors and the response helper every handler uses, so
//! that malformed input answers in the hub's error shape rather than axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use iothub::model::ErrorCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, JSON_UTF8};
use crate::IfMatch;

/// A JSON request body: an empty body answers 400 `ArgumentNull`, one that is not JSON of
/// the expected shape 400 `IotHubFormatError`, one over the limit 413 `MessageTooLarge`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorCode::MessageTooLarge,
                        format!(
                            "The request body is larger than {} bytes.",
                            super::MAX_BODY_BYTES
                        ),
                    )
                } else {
                    ApiError::new(
                        ErrorCode::IotHubFormatError,
                        "The request body could not be read.",
                    )
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                ErrorCode::ArgumentNull,
                "The request body is required.",
            ));
        }
        serde_json::from_slice(&bytes).map(Self).map_err(|error| {
            ApiError::new(
                ErrorCode::IotHubFormatError,
                format!("The request body is not valid JSON for this operation: {error}"),
            )
        })
    }
}

/// The `{id}` of a route, percent-decoded.
#[derive(Debug)]
pub struct DeviceId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for DeviceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::ArgumentInvalid,
                    "The device id in the path is not valid.",
                )
            })?;
        Ok(Self(id))
    }
}

/// The `If-Match` header: absent, `*` / `"*"`, or an etag (quotes removed).
pub fn if_match(headers: &HeaderMap) -> Result<IfMatch, ApiError> {
    let value = headers
        .get(IF_MATCH)
        .map(|value| {
            value.to_str().map_err(|_| {
                ApiError::new(
                    ErrorCode::ArgumentInvalid,
                    "The If-Match header is not valid.",
                )
            })
        })
        .transpose()?;
    Ok(IfMatch::from_header(value))
}

/// A 200 with `value` as JSON.
pub fn ok<T: Serialize>(value: &T) -> Response {
    with_status(StatusCode::OK, value)
}

/// `value` as JSON with `status`.
pub fn with_status<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            response
        }
        Err(error) => ApiError::new(
            ErrorCode::ServerError,
            format!("The response could not be serialized: {error}"),
        )
        .into_response(),
    }
}
