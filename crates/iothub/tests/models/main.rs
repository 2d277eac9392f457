//! Wire models against their sources of truth, not against this crate's own output.
//!
//! Contents:
//! - `round_trip`: every JSON body of the protocol reference (`tests/fixtures/*.json`; the
//!   `derived_*` ones are shapes the reference describes in prose or with elisions, made
//!   concrete) read → written → read, with the written JSON compared to the original, plus
//!   what each body must mean; unknown fields injected at every level are ignored.
//! - `schema`: every field name the serializers emit, checked against the official
//!   data-plane OpenAPI (`shared/specs/service.json`, api-version 2021-04-12), and every enum
//!   value against the swagger's lists.
//!
//! Fixture sources (sections of `docs/iothub-protocol.md`):
//! | fixture | section |
//! | --- | --- |
//! | `job_request_method.json`, `job_request_twin.json` | §3.3 captured request bodies |
//! | `twin_service_view.json`, `device_create.json` | §3.4 schemas |
//! | `error_classic.json`, `error_json_in_message.json`, `error_throttled_job.json` | §3.6 |
//! | `job_response_queued.json` | §4.1 |
//! | `job_response_cancelled.json`, `job_response_completed.json` | §4.2 |
//! | `device_job_completed.json` | §4.3 |
//! | `twin_desired_patch.json` | §6.5 |
//! | `derived_twin_mqtt_get.json` | §6.5 (twin GET answer, values made up) |
//! | `derived_update_twin_node.json` | §4.1 (Node e2e `updateTwin`, tags made up) |
//! | `derived_method_invoke.json`, `derived_method_result_null.json` | §3.2, §3.4, §6.4 |
//! | `derived_device_job_twin.json` | §4.3 (docs' `devices.jobs` sample, jobType updated) |
//! | `derived_device_job_failed.json` | §4.3 (failure `error` object) |
//! | `derived_query.json` | §3.2, §4.3 (`POST /devices/query` body) |

mod round_trip;
mod schema;

use std::path::PathBuf;

use iothub::model::HubTime;
use serde_json::Value;

/// The text of `tests/fixtures/{name}`.
fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// Whether `written` says the same as `original`, the way the hub would read both.
///
/// Equal JSON, except that (1) a timestamp may be written with another number of fractional
/// digits or without/with `Z` (the models write 7 digits and `Z`), and (2) a `null` member
/// and an absent one are the same (the models leave out `None`). Returns the first
/// difference, with its path.
fn difference(path: &str, original: &Value, written: &Value) -> Option<String> {
    match (original, written) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => {
                        if let Some(diff) = difference(&here, value, other) {
                            return Some(diff);
                        }
                    }
                    None if value.is_null() => {}
                    None => return Some(format!("{here}: dropped {value}")),
                }
            }
            b.iter()
                .find(|(key, value)| !a.contains_key(*key) && !value.is_null())
                .map(|(key, value)| format!("{path}.{key}: added {value}"))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: {} items became {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| difference(&format!("{path}[{i}]"), x, y))
        }
        (Value::String(a), Value::String(b)) if a != b => {
            match (HubTime::parse(a), HubTime::parse(b)) {
                (Ok(x), Ok(y)) if x == y => None,
                _ => Some(format!("{path}: {a:?} became {b:?}")),
            }
        }
        (a, b) if a == b => None,
        (a, b) => Some(format!("{path}: {a} became {b}")),
    }
}

#[test]
fn difference_is_strict_where_it_should_be() {
    use serde_json::json;
    let same = |a: Value, b: Value| difference("$", &a, &b);
    assert_eq!(same(json!({"a": null}), json!({})), None);
    assert_eq!(same(json!({}), json!({"a": null})), None);
    assert_eq!(
        same(
            json!({"t": "2024-05-01T12:34:56.000Z"}),
            json!({"t": "2024-05-01T12:34:56.0000000Z"})
        ),
        None
    );
    assert!(
        same(
            json!({"t": "2024-05-01T12:34:56Z"}),
            json!({"t": "2024-05-01T12:34:57Z"})
        )
        .is_some()
    );
    assert!(same(json!({"a": 1}), json!({})).is_some());
    assert!(same(json!({}), json!({"a": 1})).is_some());
    assert!(same(json!({"a": 1}), json!({"a": 1.0})).is_some());
    assert!(same(json!(["x"]), json!(["x", "y"])).is_some());
    assert!(same(json!({"a": {"b": "x"}}), json!({"a": {"b": "y"}})).is_some());
}
