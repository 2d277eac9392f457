//! The builder's live preview of a condition: how many devices it selects on the hub, how
//! many of them are connected, the first device ids, and warnings about the condition.
//!
//! Only documented query features, so that the local hub and Azure answer alike:
//! `SELECT COUNT() AS n FROM devices WHERE (<condition>)` (and the same with
//! `AND connectionState = 'Connected'`), and `SELECT * FROM devices WHERE <condition>` with a
//! page size of 20 for the ids. The condition is checked locally first (syntax, length), so
//! a typo costs no hub query. A composed query that would pass the hub's 8,192-character
//! limit is not sent; its count is then `None`, with a warning.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use iothub::model::Twin;
use iothub::service::{PageRequest, ServiceClient, ServiceError};
use iothub_query::{Condition, Expr, From, Literal, MAX_QUERY_CHARS};
use serde::Serialize;
use serde_json::Value;
use ts_rs::TS;

use crate::draft::{MAX_CONDITION_CHARS, group_digits};

/// How many device ids the preview lists.
pub const PREVIEW_DEVICE_IDS: u32 = 20;
/// From how many characters a condition gets the "near the limit" warning (90 %).
pub const LONG_CONDITION_CHARS: usize = MAX_CONDITION_CHARS / 10 * 9;
/// From how many ids a `deviceId IN [...]` list gets the "use a tag" warning.
pub const LARGE_ID_LIST: usize = 100;

/// What the preview shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct JobPreview {
    /// How many devices the condition selects; `None` if the count query would be too long.
    pub matching: Option<u32>,
    /// How many of them are connected; `None` if that query would be too long.
    pub connected: Option<u32>,
    /// The first device ids (modules as `device/module`), at most 20.
    pub first_device_ids: Vec<String>,
    /// Sentences about the condition: near the length limit, huge id lists, counts skipped.
    pub warnings: Vec<String>,
}

/// Why a preview could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The condition is not valid; the message says where and why (with line and column).
    #[error("{0}")]
    Invalid(String),
    /// The hub failed; see [`crate::errors::describe`] with [`crate::errors::Operation::Query`].
    #[error(transparent)]
    Hub(#[from] ServiceError),
}

/// The queries a preview sends for one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewQueries {
    /// Counts the matching twins; `None` if too long.
    pub count: Option<String>,
    /// Counts the connected matching twins; `None` if too long.
    pub connected: Option<String>,
    /// Lists matching twins (read one page of [`PREVIEW_DEVICE_IDS`]).
    pub ids: String,
}

/// Checks `condition` and builds the preview's queries, or says what is wrong with it.
pub fn preview_queries(condition: &str) -> Result<PreviewQueries, String> {
    let (parsed, condition) = parse(condition)?;
    let (collection, filter) = match parsed.from {
        From::DevicesModules => (
            "devices.modules",
            parsed.where_.as_ref().map(ToString::to_string),
        ),
        From::Devices | From::DevicesJobs => (
            "devices",
            parsed.where_.as_ref().map(|_| condition.to_owned()),
        ),
    };
    let fits = |query: String| (query.chars().count() <= MAX_QUERY_CHARS).then_some(query);
    let count_prefix = format!("SELECT COUNT() AS n FROM {collection}");
    let connected_test = "connectionState = 'Connected'";
    Ok(match filter {
        None => PreviewQueries {
            count: Some(count_prefix.clone()),
            connected: Some(format!("{count_prefix} WHERE {connected_test}")),
            ids: format!("SELECT * FROM {collection}"),
        },
        Some(filter) => PreviewQueries {
            count: fits(format!("{count_prefix} WHERE {filter}")),
            connected: fits(format!(
                "{count_prefix} WHERE ({filter}) AND {connected_test}"
            )),
            ids: format!("SELECT * FROM {collection} WHERE {filter}"),
        },
    })
}

/// Warnings about `condition` that need no hub: near the length limit, or a long
/// `deviceId IN [...]` list. Empty for an invalid condition (validation says why).
pub fn condition_warnings(condition: &str) -> Vec<String> {
    let Ok((parsed, condition)) = parse(condition) else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    let length = condition.chars().count();
    if length >= LONG_CONDITION_CHARS {
        warnings.push(format!(
            "The condition has {} of at most {} characters: close to the hub's query limit. Tag the devices and target the tag instead.",
            group_digits(length),
            group_digits(MAX_CONDITION_CHARS)
        ));
    }
    if let Some(filter) = &parsed.where_ {
        let mut largest = 0;
        largest_id_list(filter, &mut largest);
        if largest >= LARGE_ID_LIST {
            warnings.push(format!(
                "The condition lists {} device ids: such lists quickly reach the query limit and are hard to maintain. Tag the devices (for example tags.group = 'pilot') and target the tag.",
                group_digits(largest)
            ));
        }
    }
    warnings
}

/// Asks the hub what `condition` selects.
pub async fn preview(client: &ServiceClient, condition: &str) -> Result<JobPreview, PreviewError> {
    let queries = preview_queries(condition).map_err(PreviewError::Invalid)?;
    let mut warnings = condition_warnings(condition);
    let ids_page = PageRequest::first(Some(PREVIEW_DEVICE_IDS));
    let (matching, connected, twins) = tokio::join!(
        count(client, queries.count.as_deref()),
        count(client, queries.connected.as_deref()),
        client.query_devices::<Twin>(&queries.ids, &ids_page),
    );
    let (matching, connected, twins) = (matching?, connected?, twins?);
    if matching.is_none() || connected.is_none() {
        warnings.push(
            "The condition is too long for the hub to count the devices it selects; the job itself can still run."
                .to_owned(),
        );
    }
    let first_device_ids = twins
        .items
        .iter()
        .filter_map(|twin| {
            let device = twin.device_id.as_deref()?;
            Some(match twin.module_id.as_deref() {
                Some(module) => format!("{device}/{module}"),
                None => device.to_owned(),
            })
        })
        .take(PREVIEW_DEVICE_IDS as usize)
        .collect();
    Ok(JobPreview {
        matching,
        connected,
        first_device_ids,
        warnings,
    })
}

async fn count(client: &ServiceClient, query: Option<&str>) -> Result<Option<u32>, ServiceError> {
    let Some(query) = query else {
        return Ok(None);
    };
    let page = client
        .query_devices::<Value>(query, &PageRequest::first(None))
        .await?;
    // `[{"n": 12}]`; an empty answer counts nothing.
    let n = page
        .items
        .first()
        .and_then(|row| row.get("n"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)))
}

/// The trimmed condition and its syntax tree, or the validation message.
fn parse(condition: &str) -> Result<(Condition, &str), String> {
    let condition = condition.trim();
    if condition.is_empty() {
        return Err(
            "Enter a query condition, such as tags.building = 43, or * for all devices.".to_owned(),
        );
    }
    let length = condition.chars().count();
    if length > MAX_CONDITION_CHARS {
        return Err(format!(
            "The query condition is {} characters; the hub accepts conditions of at most {}.",
            group_digits(length),
            group_digits(MAX_CONDITION_CHARS)
        ));
    }
    let parsed = iothub_query::parse_condition(condition)
        .map_err(|error| format!("The query condition is not valid: {error}."))?;
    Ok((parsed, condition))
}

/// The longest `deviceId IN [...]` list in `expr`.
fn largest_id_list(expr: &Expr, largest: &mut usize) {
    match expr {
        Expr::In(target, items) | Expr::Nin(target, items) => {
            let is_device_id = matches!(
                target.as_ref(),
                Expr::Path(path) if path.segments.last().is_some_and(|s| s.eq_ignore_ascii_case("deviceId"))
            );
            if is_device_id {
                let ids = items
                    .iter()
                    .filter(|item| matches!(item, Literal::String(_)))
                    .count();
                *largest = (*largest).max(ids);
            }
            largest_id_list(target, largest);
        }
        Expr::Unary(_, inner) => largest_id_list(inner, largest),
        Expr::Binary(_, left, right) => {
            largest_id_list(left, largest);
            largest_id_list(right, largest);
        }
        Expr::And(items) | Expr::Or(items) | Expr::Call(_, items) => {
            for item in items {
                largest_id_list(item, largest);
            }
        }
        Expr::Literal(_) | Expr::Path(_) => {}
    }
}

/// Recent previews by condition, so that typing back to a condition seen moments ago asks
/// the hub nothing: each preview costs three queries, and an Azure hub allows few (S1: 20 a
/// minute per unit). Entries live [`PreviewCache::ttl`]; the oldest go first beyond the
/// capacity. Keyed by the trimmed condition. Safe to share between tasks.
#[derive(Debug)]
pub struct PreviewCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<VecDeque<(String, Instant, JobPreview)>>,
}

impl PreviewCache {
    /// A cache keeping up to `capacity` previews for `ttl` each.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// How long a preview is reused.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The preview of `condition` made less than the TTL before `now`, if any.
    pub fn get(&self, condition: &str, now: Instant) -> Option<JobPreview> {
        let key = condition.trim();
        let mut entries = self.lock();
        entries.retain(|(_, at, _)| now.saturating_duration_since(*at) < self.ttl);
        entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, preview)| preview.clone())
    }

    /// Keeps `preview` of `condition`, made at `now`.
    pub fn put(&self, condition: &str, preview: JobPreview, now: Instant) {
        let key = condition.trim();
        let mut entries = self.lock();
        entries.retain(|(k, _, _)| k != key);
        entries.push_back((key.to_owned(), now, preview));
        while entries.len() > self.capacity {
            entries.pop_front();
        }
    }

    /// Forgets every preview (e.g. after the devices changed: a job ran, a fleet was added).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, Instant, JobPreview)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_for_a_condition() {
        assert_eq!(
            preview_queries(" tags.building = 43 OR tags.floor = 3 ").expect("valid"),
            PreviewQueries {
                count: Some("SELECT COUNT() AS n FROM devices WHERE tags.building = 43 OR tags.floor = 3".into()),
                connected: Some(
                    "SELECT COUNT() AS n FROM devices WHERE (tags.building = 43 OR tags.floor = 3) AND connectionState = 'Connected'".into()
                ),
                ids: "SELECT * FROM devices WHERE tags.building = 43 OR tags.floor = 3".into(),
            }
        );
        assert_eq!(
            preview_queries("*").expect("valid"),
            PreviewQueries {
                count: Some("SELECT COUNT() AS n FROM devices".into()),
                connected: Some(
                    "SELECT COUNT() AS n FROM devices WHERE connectionState = 'Connected'".into()
                ),
                ids: "SELECT * FROM devices".into(),
            }
        );
        let modules = preview_queries("FROM devices.modules WHERE moduleId = 'm'").expect("valid");
        assert_eq!(
            modules.ids,
            "SELECT * FROM devices.modules WHERE moduleId = 'm'"
        );
        for query in [modules.count, modules.connected]
            .into_iter()
            .flatten()
            .chain([modules.ids])
        {
            iothub_query::parse_query(&query).expect("the composed query parses");
        }
    }

    #[test]
    fn invalid_conditions_say_where() {
        let message = preview_queries("tags.building = 43 AND").expect_err("invalid");
        assert!(
            message.starts_with("The query condition is not valid: Syntax error at line 1, column"),
            "{message}"
        );
        assert!(preview_queries("").is_err());
        assert!(condition_warnings("tags.building =").is_empty());
    }

    #[test]
    fn near_the_limit_counts_are_skipped_and_warned() {
        let condition = format!("deviceId = '{}'", "x".repeat(MAX_CONDITION_CHARS - 13));
        let queries = preview_queries(&condition).expect("valid");
        assert_eq!(queries.count, None);
        assert_eq!(queries.connected, None);
        assert_eq!(queries.ids.chars().count(), MAX_QUERY_CHARS);
        let warnings = condition_warnings(&condition);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("The condition has 8,164 of at most 8,164 characters"),
            "{warnings:?}"
        );
    }

    #[test]
    fn huge_id_lists_are_warned() {
        let ids = |n: usize| {
            (0..n)
                .map(|i| format!("'door-{i:04}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert!(condition_warnings(&format!("deviceId IN [{}]", ids(99))).is_empty());
        let warnings = condition_warnings(&format!(
            "tags.building = 43 AND NOT (DeviceId IN [{}])",
            ids(150)
        ));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("The condition lists 150 device ids"),
            "{warnings:?}"
        );
        let warnings = condition_warnings(&format!("deviceId IN [{}]", ids(600)));
        assert_eq!(warnings.len(), 2, "long and a big list: {warnings:?}");
    }

    #[test]
    fn the_preview_cache_reuses_a_fresh_preview_of_the_same_condition() {
        let cache = PreviewCache::new(Duration::from_secs(20), 2);
        let start = Instant::now();
        let seen = |n: u32| JobPreview {
            matching: Some(n),
            connected: Some(0),
            first_device_ids: Vec::new(),
            warnings: Vec::new(),
        };
        assert_eq!(cache.get("tags.building = 43", start), None);
        cache.put(" tags.building = 43 ", seen(200), start);
        let later = start + Duration::from_secs(19);
        assert_eq!(cache.get("tags.building = 43", later), Some(seen(200)));
        assert_eq!(cache.get("tags.building = 44", later), None);
        // Stale after the TTL.
        assert_eq!(
            cache.get("tags.building = 43", start + Duration::from_secs(20)),
            None
        );

        // Beyond the capacity, the oldest goes; a newer preview replaces an older one.
        cache.put("a = 1", seen(1), start);
        cache.put("b = 1", seen(2), start);
        cache.put("a = 1", seen(3), start);
        cache.put("c = 1", seen(4), start);
        assert_eq!(cache.get("b = 1", start), None);
        assert_eq!(cache.get("a = 1", start), Some(seen(3)));
        assert_eq!(cache.get("c = 1", start), Some(seen(4)));
        cache.clear();
        assert_eq!(cache.get("c = 1", start), None);
    }
}
