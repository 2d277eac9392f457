//! The small types of the client's API that are not REST bodies of [`crate::model`]:
//! `If-Match`, query paging, and the statistics answers (kept here because only the client
//! reads them).

use serde::{Deserialize, Serialize};

use crate::model::QueryItemType;

/// The `If-Match` of a conditional write.
///
/// Sent quoted, as the Python service SDK does (`_ensure_quoted`): the wildcard as `"*"`
/// (quotes included) and an etag as `"AAAAAAAAAAE="`. An etag that already arrives quoted
/// is sent as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IfMatch {
    /// Apply whatever the current etag is (`"*"`).
    Any,
    /// Apply only if the resource still has this etag (as read from `etag`), else 412.
    Etag(String),
}

impl IfMatch {
    /// `If-Match` for an etag that may be absent: the etag if there is one, else [`IfMatch::Any`].
    pub fn from_etag(etag: Option<&str>) -> Self {
        match etag {
            Some(etag) => Self::Etag(etag.to_owned()),
            None => Self::Any,
        }
    }

    /// The header value as sent.
    pub fn header_value(&self) -> String {
        match self {
            Self::Any => "\"*\"".to_owned(),
            Self::Etag(etag) => {
                if etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"') {
                    etag.clone()
                } else {
                    format!("\"{etag}\"")
                }
            }
        }
    }
}

/// Which page of a query to fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// `x-ms-continuation`: the token of the previous page; `None` for the first page.
    pub continuation: Option<String>,
    /// `x-ms-max-item-count`: the most items per page (the hub allows up to 100 for device
    /// queries); `None` lets the hub choose.
    pub max_item_count: Option<u32>,
}

impl PageRequest {
    /// The first page, with at most `max_item_count` items if given.
    pub fn first(max_item_count: Option<u32>) -> Self {
        Self {
            continuation: None,
            max_item_count,
        }
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// The token for the next page (`x-ms-continuation`, or the object form's
    /// `continuationToken`); `None` on the last page.
    pub continuation: Option<String>,
    /// What the rows are (`x-ms-item-type`, or the object form's `type`), if the hub said.
    pub item_type: Option<QueryItemType>,
}

impl<T> QueryPage<T> {
    /// The request for the page after this one, with the same page size; `None` if this is
    /// the last page.
    pub fn next_page(&self, max_item_count: Option<u32>) -> Option<PageRequest> {
        self.continuation.as_ref().map(|token| PageRequest {
            continuation: Some(token.clone()),
            max_item_count,
        })
    }
}

/// The identity registry's counts (`GET /statistics/devices`, swagger `RegistryStatistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryStatistics {
    /// `totalDeviceCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_device_count: Option<i64>,
    /// `enabledDeviceCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_device_count: Option<i64>,
    /// `disabledDeviceCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_device_count: Option<i64>,
}

/// The service's counts (`GET /statistics/service`, swagger `ServiceStatistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatistics {
    /// `connectedDeviceCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_device_count: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_is_quoted_like_the_python_sdk() {
        let table = [
            (IfMatch::Any, r#""*""#),
            (
                IfMatch::Etag("AAAAAAAAAAE=".to_owned()),
                r#""AAAAAAAAAAE=""#,
            ),
            (
                IfMatch::Etag(r#""AAAAAAAAAAE=""#.to_owned()),
                r#""AAAAAAAAAAE=""#,
            ),
            (IfMatch::Etag("*".to_owned()), r#""*""#),
            (IfMatch::Etag("\"".to_owned()), r#"""""#),
            (IfMatch::Etag(String::new()), r#""""#),
            (IfMatch::from_etag(None), r#""*""#),
            (IfMatch::from_etag(Some("MA==")), r#""MA==""#),
        ];
        for (if_match, header) in table {
            assert_eq!(if_match.header_value(), header, "{if_match:?}");
        }
    }

    #[test]
    fn next_page_carries_the_token() {
        let page = QueryPage::<()> {
            items: Vec::new(),
            continuation: Some("token".to_owned()),
            item_type: None,
        };
        assert_eq!(
            page.next_page(Some(5)),
            Some(PageRequest {
                continuation: Some("token".to_owned()),
                max_item_count: Some(5)
            })
        );
        let last = QueryPage::<()> {
            continuation: None,
            ..page
        };
        assert_eq!(last.next_page(Some(5)), None);
    }

    #[test]
    fn statistics_bodies() {
        let registry: RegistryStatistics = serde_json::from_str(
            r#"{"totalDeviceCount":3,"enabledDeviceCount":2,"disabledDeviceCount":1}"#,
        )
        .expect("parses");
        assert_eq!(registry.total_device_count, Some(3));
        assert_eq!(registry.disabled_device_count, Some(1));
        let service: ServiceStatistics =
            serde_json::from_str(r#"{"connectedDeviceCount":7}"#).expect("parses");
        assert_eq!(service.connected_device_count, Some(7));
    }
}
