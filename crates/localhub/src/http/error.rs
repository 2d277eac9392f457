//! [`ApiError`]: how every failure answers, in the hub's error shape.
//!
//! The body is [`HubError::to_body`] (`{"Message":"{\"errorCode\":…,\"trackingId\":…}",
//! "ExceptionMessage":""}`), the `iothub-errorcode` header carries the textual code, and the
//! status is the code's first three digits. A tracking id and a timestamp are added here
//! when the hub did not set them, as Azure's errors always carry both.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use iothub::model::{ErrorCode, HubError, HubTime};
use time::OffsetDateTime;

/// `Content-Type` of every JSON answer, as the hub spells it.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";
/// The response header naming the error code.
pub const ERROR_CODE_HEADER: &str = "iothub-errorcode";

/// A failed request, ready to answer.
#[derive(Debug)]
pub struct ApiError(pub HubError);

impl From<HubError> for ApiError {
    fn from(error: HubError) -> Self {
        Self(error)
    }
}

impl ApiError {
    /// An error with a known code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(HubError::new(code, message))
    }

    /// An error whose code the `iothub` crate does not list (the C# SDK's generic ones, such
    /// as `GenericNotFound` 404000): number, name and status given here.
    fn generic(status: u16, number: u32, name: &str, message: impl Into<String>) -> Self {
        let mut error = HubError::new(ErrorCode::GenericBadRequest, message);
        error.http_status = status;
        error.code = Some(number);
        error.code_name = Some(name.to_owned());
        Self(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.0;
        if error.tracking_id.is_none() {
            error.tracking_id = Some(uuid::Uuid::new_v4().simple().to_string());
        }
        if error.timestamp.is_none() {
            error.timestamp = HubTime::at(OffsetDateTime::now_utc()).ok();
        }
        let status =
            StatusCode::from_u16(error.http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(code = ?error.code, message = %error.message, "request failed");
        } else {
            tracing::debug!(code = ?error.code, message = %error.message, "request refused");
        }
        let body = serde_json::to_vec(&error.to_body()).unwrap_or_else(|_| {
            // Two strings always serialize; this only keeps the answer well-formed.
            br#"{"Message":"","ExceptionMessage":""}"#.to_vec()
        });
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        if let Some(value) = error
            .errorcode_header()
            .and_then(|name| HeaderValue::from_str(name).ok())
        {
            headers.insert(ERROR_CODE_HEADER, value);
        }
        response
    }
}

/// Unknown routes: 404 `GenericNotFound` (404000).
pub async fn not_found() -> ApiError {
    ApiError::generic(
        404,
        404_000,
        "GenericNotFound",
        "The requested resource does not exist on this hub.",
    )
}

/// Known routes with another method: 405 `GenericMethodNotAllowed` (405000).
pub async fn method_not_allowed() -> ApiError {
    ApiError::generic(
        405,
        405_000,
        "GenericMethodNotAllowed",
        "The HTTP method is not allowed on this resource.",
    )
}
