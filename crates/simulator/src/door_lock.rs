//! The door lock of the jobs tutorial as a pure state machine: direct methods and desired
//! patches in, answers and the reported-properties document out, time passed in.
//!
//! Methods (`docs/iothub-protocol.md` §3.3, §6.4):
//! - `lockDoor`, payload absent/`null`, `{}` or `{"lockTime": "10m"}` (also as JSON text, the
//!   way the Python service SDK double-encodes a method job's payload): locked until
//!   `now + lockTime`, or indefinitely without one. A bad `lockTime` answers 400.
//! - `unlockDoor`: unlocked.
//! - anything else answers 404 with `{"error": "…"}`.
//!
//! Desired properties `building` and `floor` are acknowledged in the reported document, with
//! the last patch and its `$version`.
//!
//! [`Knobs`] are the rehearsal switches a runner applies on top of the model: answer with an
//! error status, never answer, be offline.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The direct method that locks the door.
pub const LOCK_DOOR: &str = "lockDoor";
/// The direct method that unlocks the door.
pub const UNLOCK_DOOR: &str = "unlockDoor";
/// The longest `lockTime` accepted (a year), so that `now + lockTime` always exists.
pub const MAX_LOCK_TIME: Duration = Duration::from_secs(366 * 24 * 3600);

/// Whether the door is locked, with expiry applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockState {
    /// Open.
    #[default]
    Unlocked,
    /// Locked, until a time or (`None`) until `unlockDoor`.
    Locked {
        /// When the lock opens by itself.
        until: Option<OffsetDateTime>,
    },
}

impl LockState {
    /// `locked` or `unlocked`, as reported.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unlocked => "unlocked",
            Self::Locked { .. } => "locked",
        }
    }

    /// Whether the door is locked.
    pub fn is_locked(self) -> bool {
        match self {
            Self::Unlocked => false,
            Self::Locked { .. } => true,
        }
    }
}

/// The answer to a direct method.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodOutcome {
    /// The status the device answers with (200, 400, 404, or a knob's status).
    pub status: i32,
    /// The answer's JSON payload.
    pub payload: Value,
    /// Whether the reported document changed, i.e. the device should report.
    pub changed: bool,
}

/// Why a `lockTime` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockTimeError {
    /// Not a duration such as `30s`, `10m`, `2h` or `1h30m`.
    #[error(
        "lockTime '{text}' is not a duration such as \"30s\", \"10m\", \"2h\" or \"1h30m\": {reason}"
    )]
    Malformed {
        /// The text as received.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `0s`, `0m`…: a lock that is already over.
    #[error("lockTime must be longer than zero")]
    Zero,
    /// Longer than [`MAX_LOCK_TIME`].
    #[error("lockTime must be at most 366 days")]
    TooLong,
    /// `lockTime` is there but not a string.
    #[error("lockTime must be a string such as \"10m\", not {found}")]
    NotAString {
        /// The JSON type found.
        found: &'static str,
    },
    /// The payload is neither `null`, an object nor JSON text of one.
    #[error("the payload must be an object such as {{\"lockTime\": \"10m\"}}, not {found}")]
    BadPayload {
        /// What was found.
        found: String,
    },
}

/// Parses a lock duration: one or more `<digits><unit>` parts with units `h`, `m`, `s` in
/// that order, each at most once (`30s`, `10m`, `2h`, `1h30m`, `1h0m5s`). Surrounding
/// whitespace is ignored.
pub fn parse_lock_time(text: &str) -> Result<Duration, LockTimeError> {
    let malformed = |reason| LockTimeError::Malformed {
        text: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(malformed("it is empty"));
    }
    let mut total: u64 = 0;
    // Units seen so far, as a rank: h = 3, m = 2, s = 1; each next one must rank lower.
    let mut last_rank = u8::MAX;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(malformed("expected a number"));
        }
        let (number, after) = rest.split_at(digits);
        let number: u64 = number
            .parse()
            .map_err(|_| malformed("the number is too large"))?;
        let mut chars = after.chars();
        let (rank, seconds) = match chars.next() {
            Some('h') => (3, 3600),
            Some('m') => (2, 60),
            Some('s') => (1, 1),
            Some(_) => return Err(malformed("units are h, m and s")),
            None => return Err(malformed("the number has no unit (h, m or s)")),
        };
        if rank >= last_rank {
            return Err(malformed("units must go h, m, s, each at most once"));
        }
        last_rank = rank;
        total = number
            .checked_mul(seconds)
            .and_then(|part| total.checked_add(part))
            .ok_or(LockTimeError::TooLong)?;
        rest = chars.as_str();
    }
    let duration = Duration::from_secs(total);
    if duration.is_zero() {
        Err(LockTimeError::Zero)
    } else if duration > MAX_LOCK_TIME {
        Err(LockTimeError::TooLong)
    } else {
        Ok(duration)
    }
}

/// The `lockTime` of a `lockDoor` payload; `None` locks indefinitely.
pub fn lock_time_of(payload: &Value) -> Result<Option<Duration>, LockTimeError> {
    match payload {
        Value::Null => Ok(None),
        Value::Object(fields) => match fields.get("lockTime") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => parse_lock_time(text).map(Some),
            Some(other) => Err(LockTimeError::NotAString {
                found: json_type(other),
            }),
        },
        // A method job's payload as the Python service SDK sends it: JSON text.
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(inner @ (Value::Null | Value::Object(_))) => lock_time_of(&inner),
            Ok(_) | Err(_) => Err(LockTimeError::BadPayload {
                found: format!("the text {text:?}"),
            }),
        },
        Value::Bool(_) | Value::Number(_) | Value::Array(_) => Err(LockTimeError::BadPayload {
            found: json_type(payload).to_owned(),
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The door lock: its lock, what the back end asked for, and the last desired patch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoorLock {
    lock: LockState,
    building: Option<Value>,
    floor: Option<Value>,
    last_patch: Option<Map<String, Value>>,
    last_patch_version: Option<i64>,
    last_patch_at: Option<OffsetDateTime>,
}

impl DoorLock {
    /// An unlocked door that has seen no patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock at `now`: a timed lock whose time has come is unlocked.
    pub fn state(&self, now: OffsetDateTime) -> LockState {
        match self.lock {
            LockState::Locked { until: Some(until) } if until <= now => LockState::Unlocked,
            state @ (LockState::Locked { .. } | LockState::Unlocked) => state,
        }
    }

    /// When the lock opens by itself, if it is locked with a time still ahead of `now`: when
    /// to report again.
    pub fn next_change(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        match self.state(now) {
            LockState::Locked { until } => until,
            LockState::Unlocked => None,
        }
    }

    /// The acknowledged desired `building` (any JSON value), if any.
    pub fn building(&self) -> Option<&Value> {
        self.building.as_ref()
    }

    /// The acknowledged desired `floor` (any JSON value), if any.
    pub fn floor(&self) -> Option<&Value> {
        self.floor.as_ref()
    }

    /// The last desired patch applied (the whole desired document after a resync), without
    /// `$`-keys.
    pub fn last_patch(&self) -> Option<&Map<String, Value>> {
        self.last_patch.as_ref()
    }

    /// The desired `$version` of the last patch applied.
    pub fn last_patch_version(&self) -> Option<i64> {
        self.last_patch_version
    }

    /// Answers the direct method `name`. Unknown methods answer 404, a bad `lockDoor`
    /// payload 400; neither changes anything.
    pub fn on_method(&mut self, name: &str, payload: &Value, now: OffsetDateTime) -> MethodOutcome {
        let before = self.state(now);
        let after = match name {
            LOCK_DOOR => match lock_time_of(payload) {
                Ok(None) => LockState::Locked { until: None },
                Ok(Some(lock_time)) => match until(now, lock_time) {
                    Some(until) => LockState::Locked { until: Some(until) },
                    None => return error(400, &LockTimeError::TooLong),
                },
                Err(reason) => return error(400, &reason),
            },
            UNLOCK_DOOR => LockState::Unlocked,
            _ => {
                return error(
                    404,
                    &format!(
                        "unknown method '{name}': this door lock implements {LOCK_DOOR} and {UNLOCK_DOOR}"
                    ),
                );
            }
        };
        self.lock = after;
        MethodOutcome {
            status: 200,
            payload: Value::Object(lock_fields(after)),
            changed: before != after,
        }
    }

    /// Applies a desired patch (`full`: the whole desired document, read after a connect).
    /// `building` and `floor` are taken from it (a `null` deletes; in a full document a
    /// missing key deletes too); keys starting with `$` are ignored.
    pub fn on_desired_patch(
        &mut self,
        patch: &Map<String, Value>,
        version: i64,
        full: bool,
        now: OffsetDateTime,
    ) {
        let patch: Map<String, Value> = patch
            .iter()
            .filter(|(key, _)| !key.starts_with('$'))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        for (key, slot) in [("building", &mut self.building), ("floor", &mut self.floor)] {
            match patch.get(key) {
                Some(Value::Null) => *slot = None,
                Some(value) => *slot = Some(value.clone()),
                None if full => *slot = None,
                None => {}
            }
        }
        self.last_patch = Some(patch);
        self.last_patch_version = Some(version);
        self.last_patch_at = Some(now);
    }

    /// The reported-properties document at `now`: `lockState`, `lockedUntil`, the
    /// acknowledged `building` and `floor`, and `lastPatch`, `lastPatchVersion`,
    /// `lastPatchAt`. `null` stands for "absent" (in a reported patch it deletes the key).
    pub fn reported(&self, now: OffsetDateTime) -> Value {
        Value::Object(self.reported_properties(now))
    }

    /// [`DoorLock::reported`] as a map of properties.
    pub fn reported_properties(&self, now: OffsetDateTime) -> Map<String, Value> {
        let mut document = lock_fields(self.state(now));
        let mut put = |key: &str, value: Value| {
            document.insert(key.to_owned(), value);
        };
        put("building", self.building.clone().unwrap_or(Value::Null));
        put("floor", self.floor.clone().unwrap_or(Value::Null));
        put(
            "lastPatch",
            self.last_patch.clone().map_or(Value::Null, Value::Object),
        );
        put(
            "lastPatchVersion",
            self.last_patch_version.map_or(Value::Null, Value::from),
        );
        put("lastPatchAt", time_json(self.last_patch_at));
        document
    }
}

/// `{"lockState": …, "lockedUntil": …}`: the lock part of answers and of the reported
/// document.
fn lock_fields(state: LockState) -> Map<String, Value> {
    let until = match state {
        LockState::Locked { until } => until,
        LockState::Unlocked => None,
    };
    let mut fields = Map::new();
    fields.insert("lockState".to_owned(), Value::from(state.as_str()));
    fields.insert("lockedUntil".to_owned(), time_json(until));
    fields
}

/// RFC 3339 UTC text, or `null`.
fn time_json(time: Option<OffsetDateTime>) -> Value {
    time.and_then(|time| time.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn until(now: OffsetDateTime, lock_time: Duration) -> Option<OffsetDateTime> {
    time::Duration::try_from(lock_time)
        .ok()
        .and_then(|lock_time| now.checked_add(lock_time))
}

fn error(status: i32, message: &dyn fmt::Display) -> MethodOutcome {
    MethodOutcome {
        status,
        payload: json!({"error": message.to_string()}),
        changed: false,
    }
}

/// The reported patch that turns the hub's reported document `from` into `to`: keys whose
/// value differs (objects compared key by key), and `null` for keys that went away. A `null`
/// in `to` means absent. Empty when nothing changed.
///
/// Reported patches merge into the twin, so a nested object such as `lastPatch` would keep
/// stale keys if it were simply sent whole.
pub fn reported_patch(from: &Map<String, Value>, to: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for (key, old) in from {
        if !old.is_null() && to.get(key).is_none_or(Value::is_null) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    for (key, new) in to {
        if new.is_null() {
            continue;
        }
        match (from.get(key), new) {
            (Some(old), new) if old == new => {}
            (Some(Value::Object(old)), Value::Object(new)) => {
                let inner = reported_patch(old, new);
                if !inner.is_empty() {
                    patch.insert(key.clone(), Value::Object(inner));
                }
            }
            (Some(_) | None, new) => {
                patch.insert(key.clone(), without_nulls(new));
            }
        }
    }
    patch
}

/// `value` with `null` members of objects dropped (at every level): what to send for a key
/// the hub does not have yet.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key.clone(), without_nulls(value)))
                .collect(),
        ),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            value.clone()
        }
    }
}

/// Per-device rehearsal switches, applied by the runner on top of the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Knobs {
    /// Answer every method with this status (and `{"error": …}`) without acting on it.
    pub respond_with_status: Option<i32>,
    /// Receive methods but never answer: the invoker times out (504101).
    pub never_respond: bool,
    /// Stay disconnected: the invoker gets 404103. Clearing it reconnects.
    pub offline: bool,
}

impl Knobs {
    /// Knobs that change nothing.
    pub const NONE: Self = Self {
        respond_with_status: None,
        never_respond: false,
        offline: false,
    };

    /// What the device does with a method call under these knobs: `None` is no answer at
    /// all. `offline` and `never_respond` win over `respond_with_status`.
    pub fn answer(
        &self,
        lock: &mut DoorLock,
        name: &str,
        payload: &Value,
        now: OffsetDateTime,
    ) -> Option<MethodOutcome> {
        if self.offline || self.never_respond {
            return None;
        }
        Some(match self.respond_with_status {
            Some(status) => error(
                status,
                &format!("simulated failure: this device is set to answer {status}"),
            ),
            None => lock.on_method(name, payload, now),
        })
    }

    /// Whether any knob is set.
    pub fn is_set(&self) -> bool {
        *self != Self::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-05-01 12:00:00 UTC);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn lock_times_parse() {
        let cases: &[(&str, Duration)] = &[
            ("30s", secs(30)),
            ("10m", secs(600)),
            ("2h", secs(7200)),
            ("1h30m", secs(5400)),
            ("1h0m5s", secs(3605)),
            ("90m", secs(5400)),
            (" 5s ", secs(5)),
            ("8784h", MAX_LOCK_TIME),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_lock_time(text), Ok(*expected), "{text}");
        }
    }

    #[test]
    fn bad_lock_times_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("", "it is empty"),
            ("10", "the number has no unit (h, m or s)"),
            ("10x", "units are h, m and s"),
            ("m", "expected a number"),
            ("-5m", "expected a number"),
            ("10m1h", "units must go h, m, s, each at most once"),
            ("5m5m", "units must go h, m, s, each at most once"),
            ("1.5h", "units are h, m and s"),
            ("10 m", "units are h, m and s"),
        ];
        for (text, reason) in cases {
            assert_eq!(
                parse_lock_time(text),
                Err(LockTimeError::Malformed {
                    text: (*text).to_owned(),
                    reason
                }),
                "{text}"
            );
        }
        assert_eq!(parse_lock_time("0s"), Err(LockTimeError::Zero));
        assert_eq!(parse_lock_time("0h0m"), Err(LockTimeError::Zero));
        assert_eq!(parse_lock_time("8785h"), Err(LockTimeError::TooLong));
        assert_eq!(
            parse_lock_time("99999999999999999999h"),
            Err(LockTimeError::Malformed {
                text: "99999999999999999999h".to_owned(),
                reason: "the number is too large"
            })
        );
        assert_eq!(
            parse_lock_time("9999999999999999h"),
            Err(LockTimeError::TooLong)
        );
    }

    #[test]
    fn lock_door_payloads() {
        let cases: &[(Value, Result<Option<Duration>, ()>)] = &[
            (Value::Null, Ok(None)),
            (json!({}), Ok(None)),
            (json!({"lockTime": null}), Ok(None)),
            (json!({"lockTime": "10m"}), Ok(Some(secs(600)))),
            (json!({"lockTime": "10m", "other": 1}), Ok(Some(secs(600)))),
            // The tutorial's method job, as the Python service SDK sends it.
            (json!("{\"lockTime\":\"10m\"}"), Ok(Some(secs(600)))),
            (json!(""), Ok(None)),
            (json!("null"), Ok(None)),
            (json!({"lockTime": 600}), Err(())),
            (json!({"lockTime": "soon"}), Err(())),
            (json!("10m"), Err(())),
            (json!("\"10m\""), Err(())),
            (json!(42), Err(())),
            (json!([1]), Err(())),
        ];
        for (payload, expected) in cases {
            assert_eq!(lock_time_of(payload).map_err(drop), *expected, "{payload}");
        }
    }

    #[test]
    fn lock_door_with_a_time_locks_until_then() {
        let mut lock = DoorLock::new();
        let outcome = lock.on_method(LOCK_DOOR, &json!({"lockTime": "10m"}), NOW);
        let until = datetime!(2024-05-01 12:10:00 UTC);
        assert_eq!(
            outcome,
            MethodOutcome {
                status: 200,
                payload: json!({"lockState": "locked", "lockedUntil": "2024-05-01T12:10:00Z"}),
                changed: true,
            }
        );
        let cases = [
            (NOW, LockState::Locked { until: Some(until) }, Some(until)),
            (
                datetime!(2024-05-01 12:09:59 UTC),
                LockState::Locked { until: Some(until) },
                Some(until),
            ),
            (until, LockState::Unlocked, None),
            (
                datetime!(2024-05-02 00:00:00 UTC),
                LockState::Unlocked,
                None,
            ),
        ];
        for (now, state, next) in cases {
            assert_eq!(lock.state(now), state, "{now}");
            assert_eq!(lock.next_change(now), next, "{now}");
        }
    }

    #[test]
    fn lock_door_without_a_time_locks_indefinitely() {
        let mut lock = DoorLock::new();
        let outcome = lock.on_method(LOCK_DOOR, &Value::Null, NOW);
        assert_eq!(outcome.status, 200);
        assert_eq!(
            outcome.payload,
            json!({"lockState": "locked", "lockedUntil": null})
        );
        let later = datetime!(2030-01-01 00:00:00 UTC);
        assert_eq!(lock.state(later), LockState::Locked { until: None });
        assert_eq!(lock.next_change(later), None);
        // Locking again the same way changes nothing.
        assert!(!lock.on_method(LOCK_DOOR, &json!({}), later).changed);
    }

    #[test]
    fn unlock_door_unlocks() {
        let mut lock = DoorLock::new();
        let outcome = lock.on_method(UNLOCK_DOOR, &Value::Null, NOW);
        assert_eq!(
            outcome,
            MethodOutcome {
                status: 200,
                payload: json!({"lockState": "unlocked", "lockedUntil": null}),
                changed: false,
            }
        );
        lock.on_method(LOCK_DOOR, &json!({"lockTime": "1h"}), NOW);
        let outcome = lock.on_method(UNLOCK_DOOR, &json!({"ignored": true}), NOW);
        assert_eq!(outcome.status, 200);
        assert!(outcome.changed);
        assert_eq!(lock.state(NOW), LockState::Unlocked);
    }

    #[test]
    fn relocking_an_expired_lock_is_a_change() {
        let mut lock = DoorLock::new();
        lock.on_method(LOCK_DOOR, &json!({"lockTime": "30s"}), NOW);
        let later = datetime!(2024-05-01 12:01:00 UTC);
        assert!(
            lock.on_method(LOCK_DOOR, &json!({"lockTime": "30s"}), later)
                .changed
        );
        // Unlocking a lock that already expired is not.
        let much_later = datetime!(2024-05-01 13:00:00 UTC);
        assert!(
            !lock
                .on_method(UNLOCK_DOOR, &Value::Null, much_later)
                .changed
        );
    }

    #[test]
    fn bad_payloads_and_unknown_methods_change_nothing() {
        let cases: &[(&str, Value, i32, &str)] = &[
            (
                LOCK_DOOR,
                json!({"lockTime": "10x"}),
                400,
                "lockTime '10x' is not a duration such as \"30s\", \"10m\", \"2h\" or \"1h30m\": units are h, m and s",
            ),
            (
                LOCK_DOOR,
                json!({"lockTime": 600}),
                400,
                "lockTime must be a string such as \"10m\", not a number",
            ),
            (
                LOCK_DOOR,
                json!(true),
                400,
                "the payload must be an object such as {\"lockTime\": \"10m\"}, not a boolean",
            ),
            (
                LOCK_DOOR,
                json!({"lockTime": "0s"}),
                400,
                "lockTime must be longer than zero",
            ),
            (
                "openSesame",
                Value::Null,
                404,
                "unknown method 'openSesame': this door lock implements lockDoor and unlockDoor",
            ),
            (
                "lockdoor",
                Value::Null,
                404,
                "unknown method 'lockdoor': this door lock implements lockDoor and unlockDoor",
            ),
        ];
        for (name, payload, status, message) in cases {
            let mut lock = DoorLock::new();
            let outcome = lock.on_method(name, payload, NOW);
            assert_eq!(
                outcome,
                MethodOutcome {
                    status: *status,
                    payload: json!({"error": message}),
                    changed: false,
                },
                "{name} {payload}"
            );
            assert_eq!(lock, DoorLock::new());
        }
    }

    #[test]
    fn desired_patches_are_recorded() {
        let mut lock = DoorLock::new();
        lock.on_desired_patch(
            &object(json!({"building": 43, "floor": 3, "$version": 2})),
            2,
            false,
            NOW,
        );
        assert_eq!(lock.building(), Some(&json!(43)));
        assert_eq!(lock.floor(), Some(&json!(3)));
        assert_eq!(
            lock.last_patch(),
            Some(&object(json!({"building": 43, "floor": 3})))
        );
        assert_eq!(lock.last_patch_version(), Some(2));

        // A partial patch merges; null deletes; other keys are only remembered.
        lock.on_desired_patch(
            &object(json!({"floor": null, "color": "red"})),
            3,
            false,
            NOW,
        );
        assert_eq!(lock.building(), Some(&json!(43)));
        assert_eq!(lock.floor(), None);
        assert_eq!(
            lock.last_patch(),
            Some(&object(json!({"floor": null, "color": "red"})))
        );

        // A full document replaces: what it lacks is gone.
        lock.on_desired_patch(&object(json!({"floor": 7, "$metadata": {}})), 5, true, NOW);
        assert_eq!(lock.building(), None);
        assert_eq!(lock.floor(), Some(&json!(7)));
        assert_eq!(lock.last_patch(), Some(&object(json!({"floor": 7}))));
        assert_eq!(lock.last_patch_version(), Some(5));
    }

    #[test]
    fn the_reported_document() {
        let mut lock = DoorLock::new();
        assert_eq!(
            lock.reported(NOW),
            json!({
                "lockState": "unlocked", "lockedUntil": null, "building": null, "floor": null,
                "lastPatch": null, "lastPatchVersion": null, "lastPatchAt": null,
            })
        );
        lock.on_method(LOCK_DOOR, &json!({"lockTime": "1h30m"}), NOW);
        lock.on_desired_patch(&object(json!({"building": 43, "floor": 3})), 2, false, NOW);
        assert_eq!(
            lock.reported(NOW),
            json!({
                "lockState": "locked", "lockedUntil": "2024-05-01T13:30:00Z",
                "building": 43, "floor": 3,
                "lastPatch": {"building": 43, "floor": 3}, "lastPatchVersion": 2,
                "lastPatchAt": "2024-05-01T12:00:00Z",
            })
        );
        // Expiry applies to the document too.
        let later = datetime!(2024-05-01 14:00:00 UTC);
        let reported = object(lock.reported(later));
        assert_eq!(reported.get("lockState"), Some(&json!("unlocked")));
        assert_eq!(reported.get("lockedUntil"), Some(&Value::Null));
    }

    #[test]
    fn reported_patches() {
        let cases: &[(Value, Value, Value)] = &[
            // Nothing reported yet: everything but the nulls.
            (
                json!({}),
                json!({"lockState": "locked", "lockedUntil": null, "lastPatch": {"a": 1, "b": null}}),
                json!({"lockState": "locked", "lastPatch": {"a": 1}}),
            ),
            // Unchanged: empty.
            (
                json!({"lockState": "locked", "building": 1}),
                json!({"lockState": "locked", "building": 1, "floor": null}),
                json!({}),
            ),
            // Changed values, deleted keys, keys the model does not know.
            (
                json!({"lockState": "locked", "lockedUntil": "x", "stale": true}),
                json!({"lockState": "unlocked", "lockedUntil": null}),
                json!({"lockState": "unlocked", "lockedUntil": null, "stale": null}),
            ),
            // Nested objects: stale inner keys are deleted, not merged over.
            (
                json!({"lastPatch": {"building": 43, "floor": 3}}),
                json!({"lastPatch": {"floor": 4}}),
                json!({"lastPatch": {"building": null, "floor": 4}}),
            ),
            // A value that becomes an object is sent whole.
            (
                json!({"lastPatch": 5}),
                json!({"lastPatch": {"a": {"b": 1}}}),
                json!({"lastPatch": {"a": {"b": 1}}}),
            ),
        ];
        for (from, to, expected) in cases {
            assert_eq!(
                Value::Object(reported_patch(&object(from.clone()), &object(to.clone()))),
                *expected,
                "{from} → {to}"
            );
        }
    }

    #[test]
    fn knobs_decide_the_answer() {
        let lock_payload = json!({"lockTime": "10m"});
        let error = |status: i32| MethodOutcome {
            status,
            payload: json!({"error": format!("simulated failure: this device is set to answer {status}")}),
            changed: false,
        };
        let cases: &[(Knobs, Option<MethodOutcome>, bool)] = &[
            (
                Knobs::NONE,
                Some(MethodOutcome {
                    status: 200,
                    payload: json!({"lockState": "locked", "lockedUntil": "2024-05-01T12:10:00Z"}),
                    changed: true,
                }),
                true,
            ),
            (
                Knobs {
                    respond_with_status: Some(500),
                    ..Knobs::NONE
                },
                Some(error(500)),
                false,
            ),
            (
                Knobs {
                    never_respond: true,
                    respond_with_status: Some(500),
                    ..Knobs::NONE
                },
                None,
                false,
            ),
            (
                Knobs {
                    offline: true,
                    ..Knobs::NONE
                },
                None,
                false,
            ),
        ];
        for (knobs, expected, locked) in cases {
            let mut lock = DoorLock::new();
            assert_eq!(
                knobs.answer(&mut lock, LOCK_DOOR, &lock_payload, NOW),
                *expected,
                "{knobs:?}"
            );
            assert_eq!(lock.state(NOW).is_locked(), *locked, "{knobs:?}");
            assert_eq!(knobs.is_set(), *knobs != Knobs::NONE);
        }
    }
}
