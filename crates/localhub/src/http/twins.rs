//! Twins (`/twins/{id}`) and direct methods (`/twins/{id}/methods`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use iothub::model::CloudToDeviceMethod;
use serde_json::Value;

use super::auth::{Authorized, need};
use super::error::ApiError;
use super::json::{DeviceId, JsonBody, if_match, ok};
use crate::Hub;

/// `GET /twins/{id}`.
pub async fn get_twin(
    State(hub): State<Hub>,
    _: Authorized<need::ReadOrConnect>,
    DeviceId(id): DeviceId,
) -> Result<Response, ApiError> {
    Ok(ok(&hub.get_twin(&id)?))
}

/// `PATCH /twins/{id}`: merges tags and desired properties (`null` deletes); 412 on a stale
/// `If-Match`.
pub async fn patch_twin(
    State(hub): State<Hub>,
    _: Authorized<need::ServiceConnect>,
    DeviceId(id): DeviceId,
    headers: HeaderMap,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let if_match = if_match(&headers)?;
    Ok(ok(&hub.patch_twin(&id, &patch, &if_match)?))
}

/// `PUT /twins/{id}`: replaces tags and desired properties; 412 on a stale `If-Match`.
pub async fn replace_twin(
    State(hub): State<Hub>,
    _: Authorized<need::ServiceConnect>,
    DeviceId(id): DeviceId,
    headers: HeaderMap,
    JsonBody(twin): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let if_match = if_match(&headers)?;
    Ok(ok(&hub.replace_twin(&id, &twin, &if_match)?))
}

/// `POST /twins/{id}/methods`: 200 `{"status","payload"}` once the device answers; 404103
/// if it is not online, 504101 if it does not answer in time.
pub async fn invoke_method(
    State(hub): State<Hub>,
    _: Authorized<need::ServiceConnect>,
    DeviceId(id): DeviceId,
    JsonBody(method): JsonBody<CloudToDeviceMethod>,
) -> Result<Response, ApiError> {
    Ok(ok(&hub.invoke_method(&id, &method).await?))
}
