//! A device twin as the hub keeps it, and the rules for changing it.
//!
//! Pure: no storage, no clock (the caller passes `now`). The rules are the hub's, from the
//! protocol reference §3.4 and §6.5:
//! - PATCH merges: a `null` deletes the key, objects merge recursively, anything else
//!   replaces. PUT replaces tags and desired wholesale. Only tags and desired are writable by
//!   the service; reported properties only by the device.
//! - `desired.$version` and `reported.$version` count the changes of their section; the twin's
//!   `version` counts every change; the twin etag is the base64 of that version as an 8-byte
//!   big-endian number (`AAAAAAAAAAE=` is 1), as real hubs' etags decode.
//! - `$metadata` mirrors each section: every object level and leaf has `$lastUpdated`, and in
//!   desired also `$lastUpdatedVersion`.
//! - Limits: tags ≤ 8 KB, desired and reported ≤ 32 KB each (without `$version`/`$metadata`),
//!   object depth ≤ 10, keys ≤ 1 KB without `.`, `$`, space or control characters, strings
//!   ≤ 4 KB, integers within ±4503599627370495.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use iothub::model::HubTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest tags section, in bytes of compact JSON.
pub const MAX_TAGS_BYTES: usize = 8 * 1024;
/// Largest desired or reported section, in bytes of compact JSON.
pub const MAX_PROPERTIES_BYTES: usize = 32 * 1024;
/// Deepest object nesting inside a section (the section itself is level 1).
pub const MAX_DEPTH: usize = 10;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest string value, in bytes.
pub const MAX_STRING_BYTES: usize = 4 * 1024;
/// Largest integer magnitude a twin may hold (2^52 − 1).
pub const MAX_SAFE_INTEGER: i64 = 4_503_599_627_370_495;

/// The three sections of a twin, each with its own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `tags`: service-written, not versioned, no metadata.
    Tags,
    /// `properties.desired`: service-written, versioned, devices are notified.
    Desired,
    /// `properties.reported`: device-written, versioned.
    Reported,
}

impl SectionKind {
    fn name(self) -> &'static str {
        match self {
            Self::Tags => "tags",
            Self::Desired => "properties.desired",
            Self::Reported => "properties.reported",
        }
    }

    fn max_bytes(self) -> usize {
        match self {
            Self::Tags => MAX_TAGS_BYTES,
            Self::Desired | Self::Reported => MAX_PROPERTIES_BYTES,
        }
    }
}

/// Why a change to a twin was refused. Nothing of the twin has changed when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwinError {
    /// A key breaks the naming rules.
    #[error("{section}: key '{key}' is not allowed: {reason}")]
    BadKey {
        /// Section the key is in.
        section: &'static str,
        /// The key (truncated to 64 characters).
        key: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A value breaks a limit.
    #[error("{section}: value at '{path}' is not allowed: {reason}")]
    BadValue {
        /// Section the value is in.
        section: &'static str,
        /// Dotted path of the value.
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Objects nest deeper than [`MAX_DEPTH`].
    #[error("{section}: nesting at '{path}' is deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Section the value is in.
        section: &'static str,
        /// Dotted path where the limit was crossed.
        path: String,
    },
    /// The section would grow past its size limit.
    #[error("{section} would be {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Section that would be too large.
        section: &'static str,
        /// Its size after the change, in bytes of compact JSON.
        size: usize,
        /// Its limit.
        limit: usize,
    },
}

/// One versioned section (desired or reported) with its metadata tree.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Section {
    /// The properties, without `$version` and `$metadata`.
    pub values: Map<String, Value>,
    /// `$version`: how many times this section changed (a new twin starts at 1).
    pub version: i64,
    /// `$metadata`, mirroring `values`.
    pub metadata: Map<String, Value>,
}

impl Section {
    fn new(now: HubTime) -> Self {
        let mut metadata = Map::new();
        metadata.insert("$lastUpdated".into(), stamp_time(now));
        Self {
            values: Map::new(),
            version: 1,
            metadata,
        }
    }

    /// The section as the REST API shows it: values plus `$metadata` and `$version`.
    pub fn to_json(&self) -> Value {
        let mut out = self.values.clone();
        out.insert("$metadata".into(), Value::Object(self.metadata.clone()));
        out.insert("$version".into(), Value::from(self.version));
        Value::Object(out)
    }

    /// The section as a device sees it over MQTT: values plus `$version`, no metadata.
    pub fn to_device_json(&self) -> Value {
        let mut out = self.values.clone();
        out.insert("$version".into(), Value::from(self.version));
        Value::Object(out)
    }
}

/// A device twin's state: what the hub stores and serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwinState {
    /// `tags`.
    pub tags: Map<String, Value>,
    /// `properties.desired`.
    pub desired: Section,
    /// `properties.reported`.
    pub reported: Section,
    /// The twin's `version`: counts every change of any section.
    pub version: i64,
}

impl TwinState {
    /// The twin of a newly created device.
    pub fn new(now: HubTime) -> Self {
        Self {
            tags: Map::new(),
            desired: Section::new(now),
            reported: Section::new(now),
            version: 1,
        }
    }

    /// The twin's etag: base64 of `version` as an 8-byte big-endian number.
    pub fn etag(&self) -> String {
        etag_for_version(self.version)
    }

    /// Merges a service PATCH (`tags` and/or `properties.desired`).
    ///
    /// Returns the desired-properties notification to send to connected devices (the desired
    /// patch as applied, nulls included, plus `$version`), or `None` when desired did not
    /// change.
    pub fn patch(
        &mut self,
        tags: Option<&Map<String, Value>>,
        desired: Option<&Map<String, Value>>,
        now: HubTime,
    ) -> Result<Option<Value>, TwinError> {
        if let Some(tags) = tags {
            validate_section(SectionKind::Tags, tags)?;
        }
        if let Some(desired) = desired {
            validate_section(SectionKind::Desired, desired)?;
        }
        let mut next = self.clone();
        let mut changed = false;
        if let Some(tags) = tags.filter(|t| !t.is_empty()) {
            let mut ignored = Map::new();
            merge(&mut next.tags, &mut ignored, tags, &Map::new());
            check_size(SectionKind::Tags, &next.tags)?;
            changed = true;
        }
        let mut notification = None;
        if let Some(desired) = desired.filter(|d| !d.is_empty()) {
            next.desired.version += 1;
            let stamp = stamp(now, Some(next.desired.version));
            let section = &mut next.desired;
            merge(&mut section.values, &mut section.metadata, desired, &stamp);
            check_size(SectionKind::Desired, &next.desired.values)?;
            let mut patch = desired.clone();
            patch.insert("$version".into(), Value::from(next.desired.version));
            notification = Some(Value::Object(patch));
            changed = true;
        }
        if changed {
            next.version += 1;
            *self = next;
        }
        Ok(notification)
    }

    /// Replaces tags and desired wholesale (service PUT). Returns the notification for
    /// devices: the whole new desired section with `$version`.
    pub fn replace(
        &mut self,
        tags: &Map<String, Value>,
        desired: &Map<String, Value>,
        now: HubTime,
    ) -> Result<Value, TwinError> {
        validate_section(SectionKind::Tags, tags)?;
        validate_section(SectionKind::Desired, desired)?;
        check_size(SectionKind::Tags, tags)?;
        check_size(SectionKind::Desired, desired)?;
        let version = self.desired.version + 1;
        let stamp = stamp(now, Some(version));
        let mut values = Map::new();
        let mut metadata = Map::new();
        merge(&mut values, &mut metadata, desired, &stamp);
        self.tags = strip_nulls(tags);
        self.desired = Section {
            values,
            version,
            metadata,
        };
        self.version += 1;
        Ok(self.desired.to_device_json())
    }

    /// Merges a device's reported-properties PATCH. Returns the new `reported.$version`.
    pub fn patch_reported(
        &mut self,
        patch: &Map<String, Value>,
        now: HubTime,
    ) -> Result<i64, TwinError> {
        validate_section(SectionKind::Reported, patch)?;
        let mut next = self.reported.clone();
        next.version += 1;
        let stamp = stamp(now, None);
        merge(&mut next.values, &mut next.metadata, patch, &stamp);
        check_size(SectionKind::Reported, &next.values)?;
        self.reported = next;
        self.version += 1;
        Ok(self.reported.version)
    }

    /// `{"desired": {…, "$version"}, "reported": {…, "$version"}}`: the body of a twin GET
    /// over MQTT (no tags, no metadata).
    pub fn to_device_document(&self) -> Value {
        serde_json::json!({
            "desired": self.desired.to_device_json(),
            "reported": self.reported.to_device_json(),
        })
    }
}

/// The twin etag for a version.
pub fn etag_for_version(version: i64) -> String {
    STANDARD.encode(version.to_be_bytes())
}

fn stamp_time(now: HubTime) -> Value {
    Value::String(now.to_string())
}

fn stamp(now: HubTime, version: Option<i64>) -> Map<String, Value> {
    let mut stamp = Map::new();
    stamp.insert("$lastUpdated".into(), stamp_time(now));
    if let Some(version) = version {
        stamp.insert("$lastUpdatedVersion".into(), Value::from(version));
    }
    stamp
}

/// JSON merge: `null` deletes, objects merge recursively, anything else replaces. The
/// metadata tree follows: every touched level and leaf gets `stamp`.
fn merge(
    target: &mut Map<String, Value>,
    metadata: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    stamp: &Map<String, Value>,
) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
                metadata.remove(key);
            }
            Value::Object(child_patch) => {
                let child = target
                    .entry(key.clone())
                    .and_modify(|v| {
                        if !v.is_object() {
                            *v = Value::Object(Map::new());
                        }
                    })
                    .or_insert_with(|| Value::Object(Map::new()));
                let child_meta = metadata
                    .entry(key.clone())
                    .and_modify(|v| {
                        if !v.is_object() {
                            *v = Value::Object(Map::new());
                        }
                    })
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(child), Value::Object(child_meta)) = (child, child_meta) {
                    merge(child, child_meta, child_patch, stamp);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
                metadata.insert(key.clone(), Value::Object(stamp.clone()));
            }
        }
    }
    for (field, value) in stamp {
        metadata.insert(field.clone(), value.clone());
    }
}

/// A copy of `map` without null members, at every level (what a PUT stores).
fn strip_nulls(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Value::Object(inner) => (k.clone(), Value::Object(strip_nulls(inner))),
            other => (k.clone(), other.clone()),
        })
        .collect()
}

fn check_size(kind: SectionKind, values: &Map<String, Value>) -> Result<(), TwinError> {
    let size = serde_json::to_vec(values)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > kind.max_bytes() {
        return Err(TwinError::TooLarge {
            section: kind.name(),
            size,
            limit: kind.max_bytes(),
        });
    }
    Ok(())
}

/// Checks keys, depth and values of a section (or a patch of one).
pub fn validate_section(kind: SectionKind, values: &Map<String, Value>) -> Result<(), TwinError> {
    validate_object(kind, values, "", 1)
}

fn validate_object(
    kind: SectionKind,
    object: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<(), TwinError> {
    if depth > MAX_DEPTH {
        return Err(TwinError::TooDeep {
            section: kind.name(),
            path: path.to_owned(),
        });
    }
    for (key, value) in object {
        validate_key(kind, key)?;
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        validate_value(kind, value, &child_path, depth)?;
    }
    Ok(())
}

fn validate_value(
    kind: SectionKind,
    value: &Value,
    path: &str,
    depth: usize,
) -> Result<(), TwinError> {
    let bad = |reason| TwinError::BadValue {
        section: kind.name(),
        path: path.to_owned(),
        reason,
    };
    match value {
        Value::Null | Value::Bool(_) => Ok(()),
        Value::Number(n) => {
            let in_range = match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.abs() <= MAX_SAFE_INTEGER,
                (None, Some(_), _) => false,
                (None, None, Some(f)) => f.is_finite(),
                (None, None, None) => false,
            };
            if in_range {
                Ok(())
            } else {
                Err(bad("integers must be within ±4503599627370495"))
            }
        }
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            Err(bad("strings must be at most 4096 bytes"))
        }
        Value::String(_) => Ok(()),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(inner) => validate_object(kind, inner, path, depth + 1)?,
                    other => validate_value(kind, other, path, depth)?,
                }
            }
            Ok(())
        }
        Value::Object(inner) => validate_object(kind, inner, path, depth + 1),
    }
}

fn validate_key(kind: SectionKind, key: &str) -> Result<(), TwinError> {
    let reason = if key.is_empty() {
        Some("keys must not be empty")
    } else if key.len() > MAX_KEY_BYTES {
        Some("keys must be at most 1024 bytes")
    } else if key.starts_with('$') || key.contains('$') {
        Some("'$' is reserved for system properties")
    } else if key.contains('.') {
        Some("'.' is not allowed in keys")
    } else if key.contains(' ') {
        Some("spaces are not allowed in keys")
    } else if key.chars().any(char::is_control) {
        Some("control characters are not allowed in keys")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(TwinError::BadKey {
            section: kind.name(),
            key: key.chars().take(64).collect(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(text: &str) -> HubTime {
        text.parse().expect("time")
    }

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn a_new_twin_starts_at_version_one_with_etag_of_one() {
        let twin = TwinState::new(t("2024-05-01T00:00:00Z"));
        assert_eq!(twin.version, 1);
        assert_eq!(twin.desired.version, 1);
        assert_eq!(twin.reported.version, 1);
        assert_eq!(twin.etag(), "AAAAAAAAAAE=");
        assert_eq!(etag_for_version(7), "AAAAAAAAAAc=");
    }

    #[test]
    fn desired_patch_merges_bumps_versions_and_notifies_with_version() {
        let mut twin = TwinState::new(t("2024-05-01T00:00:00Z"));
        let note = twin
            .patch(
                None,
                Some(&obj(json!({"building": 43, "floor": 3}))),
                t("2024-05-01T12:00:00Z"),
            )
            .expect("patch");
        assert_eq!(
            note,
            Some(json!({"building": 43, "floor": 3, "$version": 2}))
        );
        assert_eq!(twin.desired.version, 2);
        assert_eq!(twin.version, 2);
        assert_eq!(twin.reported.version, 1);
        assert_eq!(
            twin.desired.metadata["building"],
            json!({"$lastUpdated": "2024-05-01T12:00:00.0000000Z", "$lastUpdatedVersion": 2})
        );
        assert_eq!(twin.desired.metadata["$lastUpdatedVersion"], json!(2));

        // A nested merge keeps siblings; null deletes.
        twin.patch(
            None,
            Some(&obj(json!({"config": {"a": 1, "b": 2}}))),
            t("2024-05-01T12:00:01Z"),
        )
        .expect("patch");
        let note = twin
            .patch(
                None,
                Some(&obj(json!({"config": {"b": null, "c": 3}, "floor": null}))),
                t("2024-05-01T12:00:02Z"),
            )
            .expect("patch");
        assert_eq!(
            Value::Object(twin.desired.values.clone()),
            json!({"building": 43, "config": {"a": 1, "c": 3}})
        );
        assert_eq!(
            note,
            Some(json!({"config": {"b": null, "c": 3}, "floor": null, "$version": 4}))
        );
        assert!(twin.desired.metadata.get("floor").is_none());
        assert_eq!(twin.version, 4);
    }

    #[test]
    fn tags_change_the_twin_version_but_not_desired() {
        let mut twin = TwinState::new(t("2024-05-01T00:00:00Z"));
        let note = twin
            .patch(
                Some(&obj(json!({"building": "43"}))),
                None,
                t("2024-05-01T00:00:01Z"),
            )
            .expect("patch");
        assert_eq!(note, None);
        assert_eq!(twin.version, 2);
        assert_eq!(twin.desired.version, 1);
        assert_eq!(twin.etag(), "AAAAAAAAAAI=");
    }

    #[test]
    fn replace_swaps_tags_and_desired_and_keeps_reported() {
        let mut twin = TwinState::new(t("2024-05-01T00:00:00Z"));
        twin.patch_reported(&obj(json!({"locked": true})), t("2024-05-01T00:00:01Z"))
            .expect("reported");
        twin.patch(
            Some(&obj(json!({"old": 1}))),
            Some(&obj(json!({"gone": 1}))),
            t("2024-05-01T00:00:02Z"),
        )
        .expect("patch");
        let note = twin
            .replace(
                &obj(json!({"building": 43})),
                &obj(json!({"floor": 3})),
                t("2024-05-01T00:00:03Z"),
            )
            .expect("replace");
        assert_eq!(note, json!({"floor": 3, "$version": 3}));
        assert_eq!(Value::Object(twin.tags.clone()), json!({"building": 43}));
        assert_eq!(
            Value::Object(twin.desired.values.clone()),
            json!({"floor": 3})
        );
        assert_eq!(
            Value::Object(twin.reported.values.clone()),
            json!({"locked": true})
        );
    }

    #[test]
    fn reported_patch_returns_the_new_version_without_last_updated_version() {
        let mut twin = TwinState::new(t("2024-05-01T00:00:00Z"));
        let v = twin
            .patch_reported(
                &obj(json!({"lock": {"state": "locked"}})),
                t("2024-05-01T00:00:01Z"),
            )
            .expect("reported");
        assert_eq!(v, 2);
        assert_eq!(
            twin.reported.metadata["lock"]["state"],
            json!({"$lastUpdated": "2024-05-01T00:00:01.0000000Z"})
        );
        assert_eq!(
            twin.to_device_document(),
            json!({"desired": {"$version": 1}, "reported": {"lock": {"state": "locked"}, "$version": 2}})
        );
    }

    #[test]
    fn invalid_changes_are_refused_and_change_nothing() {
        let mut twin = TwinState::new(t("2024-05-01T00:00:00Z"));
        twin.patch(
            None,
            Some(&obj(json!({"keep": 1}))),
            t("2024-05-01T00:00:01Z"),
        )
        .expect("patch");
        let before = twin.clone();
        let now = t("2024-05-01T00:00:02Z");
        let cases = [
            json!({"a.b": 1}),
            json!({"$x": 1}),
            json!({"has space": 1}),
            json!({"": 1}),
            json!({"big": 4_503_599_627_370_496_i64}),
            json!({"s": "x".repeat(MAX_STRING_BYTES + 1)}),
            nested(MAX_DEPTH + 1),
        ];
        for case in cases {
            let err = twin
                .patch(None, Some(&obj(case.clone())), now)
                .expect_err(&format!("{case} must be refused"));
            assert!(!err.to_string().is_empty());
            assert_eq!(twin, before, "{case} changed the twin");
        }
        let huge: Map<String, Value> = (0..40)
            .map(|i| (format!("k{i}"), Value::String("v".repeat(1000))))
            .collect();
        let err = twin.patch(None, Some(&huge), now).expect_err("too large");
        assert!(
            matches!(
                err,
                TwinError::TooLarge {
                    limit: MAX_PROPERTIES_BYTES,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(twin, before);
        let tags: Map<String, Value> = (0..9)
            .map(|i| (format!("k{i}"), Value::String("v".repeat(1000))))
            .collect();
        assert!(matches!(
            twin.patch(Some(&tags), None, now),
            Err(TwinError::TooLarge {
                limit: MAX_TAGS_BYTES,
                ..
            })
        ));
        assert_eq!(twin, before);
    }

    /// A patch whose deepest object is at `levels`, counting the section itself as level 1.
    fn nested(levels: usize) -> Value {
        (2..=levels).rev().fold(
            json!({"leaf": 1}),
            |inner, level| json!({ format!("l{level}"): inner }),
        )
    }

    #[test]
    fn depth_is_limited_to_ten_levels_counting_the_section() {
        let mut twin = TwinState::new(t("2024-05-01T00:00:00Z"));
        twin.patch(
            None,
            Some(&obj(nested(MAX_DEPTH))),
            t("2024-05-01T00:00:01Z"),
        )
        .expect("depth 10 is the limit, not over it");
        let err = twin
            .patch(
                None,
                Some(&obj(nested(MAX_DEPTH + 1))),
                t("2024-05-01T00:00:02Z"),
            )
            .expect_err("depth 11");
        assert!(matches!(err, TwinError::TooDeep { .. }), "{err}");
    }
}
