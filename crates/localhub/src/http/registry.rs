//! The identity registry (`/devices`) and the statistics (`/statistics`).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use iothub::model::{DeviceIdentity, ErrorCode};
use serde_json::json;

use super::auth::{Authorized, need};
use super::error::ApiError;
use super::json::{DeviceId, JsonBody, if_match, ok};
use crate::Hub;

/// `GET /devices?top=N` lists at most this many devices, and that many when `top` is absent.
pub const MAX_TOP: usize = 1000;

/// `GET /devices/{id}`.
pub async fn get_device(
    State(hub): State<Hub>,
    _: Authorized<need::RegistryRead>,
    DeviceId(id): DeviceId,
) -> Result<Response, ApiError> {
    Ok(ok(&hub.get_device(&id)?))
}

/// `PUT /devices/{id}`: creates (no `If-Match`, 409 if it exists) or updates (`If-Match`,
/// 412 if stale); 200 either way, as the service SDKs expect.
pub async fn put_device(
    State(hub): State<Hub>,
    _: Authorized<need::RegistryWrite>,
    DeviceId(id): DeviceId,
    headers: HeaderMap,
    JsonBody(identity): JsonBody<DeviceIdentity>,
) -> Result<Response, ApiError> {
    let if_match = if_match(&headers)?;
    Ok(ok(&hub.put_device(&id, identity, &if_match)?))
}

/// `DELETE /devices/{id}`: 204.
pub async fn delete_device(
    State(hub): State<Hub>,
    _: Authorized<need::RegistryWrite>,
    DeviceId(id): DeviceId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    hub.delete_device(&id, &if_match(&headers)?)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /devices?top=N` (1..=1000, default 1000).
pub async fn list_devices(
    State(hub): State<Hub>,
    _: Authorized<need::RegistryRead>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query
        .map_err(|_| ApiError::new(ErrorCode::ArgumentInvalid, "The query string is not valid."))?;
    let top = match query.get("top") {
        None => MAX_TOP,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|top| (1..=MAX_TOP).contains(top))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ArgumentInvalid,
                    format!("top must be a number from 1 to {MAX_TOP}."),
                )
            })?,
    };
    Ok(ok(&hub.list_devices(top)?))
}

/// `GET /statistics/devices`: `{"totalDeviceCount","enabledDeviceCount","disabledDeviceCount"}`.
pub async fn device_statistics(
    State(hub): State<Hub>,
    _: Authorized<need::RegistryRead>,
) -> Result<Response, ApiError> {
    let (total, disabled) = hub.device_statistics()?;
    Ok(ok(&json!({
        "totalDeviceCount": total,
        "enabledDeviceCount": total.saturating_sub(disabled),
        "disabledDeviceCount": disabled,
    })))
}

/// `GET /statistics/service`: `{"connectedDeviceCount"}`.
pub async fn service_statistics(
    State(hub): State<Hub>,
    _: Authorized<need::ReadOrConnect>,
) -> Result<Response, ApiError> {
    Ok(ok(
        &json!({ "connectedDeviceCount": hub.connected_count() }),
    ))
}
