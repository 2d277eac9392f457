//! Queries: the request body of `POST /devices/query`, and the swagger's result object.
//!
//! Paging lives in headers (`x-ms-continuation`, `x-ms-max-item-count`, `x-ms-item-type`),
//! which belong to the REST client, not to these bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

wire_enum! {
    /// What a query returns (swagger `QueryResult.type`, the `x-ms-item-type` header).
    ///
    /// The swagger spells the values camelCase; the real hub's header is inferred to be
    /// PascalCase (`Twin`, `DeviceJob`). Both read as the same variant.
    pub enum QueryItemType {
        /// `unknown`.
        Unknown = "unknown",
        /// `twin`: rows of `FROM devices` / `FROM devices.modules`.
        Twin = "twin",
        /// `deviceJob`: rows of `FROM devices.jobs`.
        DeviceJob = "deviceJob",
        /// `jobResponse`: results of `GET /jobs/v2/query`.
        JobResponse = "jobResponse",
        /// `raw`: projections and aggregates.
        Raw = "raw",
        /// `enrollment` (provisioning service).
        Enrollment = "enrollment",
        /// `enrollmentGroup` (provisioning service).
        EnrollmentGroup = "enrollmentGroup",
        /// `deviceRegistration` (provisioning service).
        DeviceRegistration = "deviceRegistration",
    }
}

/// The body of `POST /devices/query` (swagger `QuerySpecification`): `{"query": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySpecification {
    /// `query`: the full query text, e.g. `SELECT * FROM devices.jobs`.
    #[serde(default)]
    pub query: String,
}

/// The swagger's query result *object* (`{"type","items","continuationToken"}`).
///
/// The real hub answers queries with a bare JSON array and puts type and continuation in
/// headers; the Python SDK's `query_scheduled_jobs` nevertheless expects this object, so a
/// local hub may need to produce it on request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    /// `type`: what the items are.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<QueryItemType>,
    /// `items`: the rows, as JSON.
    #[serde(default)]
    pub items: Vec<Value>,
    /// `continuationToken`: absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_item_types_read_as_known() {
        assert_eq!(
            QueryItemType::from_wire("DeviceJob"),
            QueryItemType::DeviceJob
        );
        assert_eq!(QueryItemType::from_wire("Twin"), QueryItemType::Twin);
        assert_eq!(QueryItemType::DeviceJob.as_str(), "deviceJob");
    }

    #[test]
    fn query_specification_body() {
        let spec = QuerySpecification {
            query: "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'x'".to_owned(),
        };
        assert_eq!(
            serde_json::to_string(&spec).expect("serializes"),
            r#"{"query":"SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'x'"}"#
        );
    }
}
