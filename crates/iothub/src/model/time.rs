//! Timestamps as IoT Hub writes and reads them.
//!
//! The hub is a .NET service: it writes `DateTime`s with 7 fractional digits (100 ns ticks)
//! and a `Z`, e.g. `2020-01-06T21:44:00.8884134Z`, and "never" as .NET's `DateTime.MinValue`,
//! `0001-01-01T00:00:00`, sometimes without the `Z`. Clients send other precisions: the Python
//! SDK writes microseconds with trailing zeros stripped down to 3 digits
//! (`2024-05-01T12:34:56.000Z`), docs samples have no `Z` at all. So parsing is lenient and
//! writing is exactly the hub's form; a value keeps 100 ns resolution, which is all 7 digits
//! can carry, so parse → write → parse always gives back the same value.

use std::fmt;
use std::str::FromStr;

use ::time::macros::datetime;
use ::time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};

/// .NET's `DateTime.MinValue`, which the hub writes for "never happened".
const NEVER_INSTANT: OffsetDateTime = datetime!(0001-01-01 00:00 UTC);

/// How "never" is written: the form the hub uses in twins and device identities.
const NEVER_TEXT: &str = "0001-01-01T00:00:00Z";

/// One .NET tick: the hub's clock resolution, and what 7 fractional digits can hold.
const TICK_NANOS: u32 = 100;

/// An IoT Hub timestamp: a UTC instant at 100 ns resolution, or "never".
///
/// Parses `YYYY-MM-DDTHH:MM:SS`, then optionally `.` and 1–9 fractional digits (digits past
/// the 7th are truncated), then optionally `Z`/`z` or a `±HH:MM` offset; no suffix means UTC.
/// Any spelling of `0001-01-01T00:00:00` (any number of zero fraction digits, with or
/// without `Z`) is [`HubTime::NEVER`]. `Display` and serde write the hub's form:
/// `2024-05-01T12:34:56.1234560Z`, and `0001-01-01T00:00:00Z` for never.
///
/// Ordering is chronological, with "never" first (it is the hub's minimum date).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HubTime(Option<OffsetDateTime>);

/// Why text or an instant is not an IoT Hub timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text does not have the shape `YYYY-MM-DDTHH:MM:SS[.fffffff][Z]`, or names a date
    /// or time that does not exist (February 30th, hour 24).
    #[error("not an IoT Hub timestamp (expected YYYY-MM-DDTHH:MM:SS[.fffffff][Z]): {text:?}")]
    Malformed {
        /// The offending text, cut to 64 characters.
        text: String,
    },
    /// The instant is outside the years 0001–9999 that the hub (a .NET `DateTime`) can hold.
    #[error("the instant is outside the years 0001-9999 that IoT Hub can represent")]
    OutOfRange,
}

impl HubTime {
    /// "Never": what the hub writes as `0001-01-01T00:00:00`.
    pub const NEVER: Self = Self(None);

    /// The instant `at`, converted to UTC and truncated to the hub's 100 ns resolution.
    ///
    /// `0001-01-01T00:00:00Z` itself becomes [`HubTime::NEVER`], because that is what the
    /// hub would read it as.
    pub fn at(instant: OffsetDateTime) -> Result<Self, TimeError> {
        let utc = instant
            .checked_to_offset(UtcOffset::UTC)
            .ok_or(TimeError::OutOfRange)?;
        if !(1..=9999).contains(&utc.year()) {
            return Err(TimeError::OutOfRange);
        }
        let truncated = utc
            .replace_nanosecond(utc.nanosecond() / TICK_NANOS * TICK_NANOS)
            .map_err(|_| TimeError::OutOfRange)?;
        if truncated == NEVER_INSTANT {
            Ok(Self::NEVER)
        } else {
            Ok(Self(Some(truncated)))
        }
    }

    /// Parses any of the spellings described on [`HubTime`].
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let malformed = || TimeError::Malformed {
            text: text.chars().take(64).collect(),
        };
        let fields = Fields::parse(text.as_bytes()).ok_or_else(malformed)?;
        let month = Month::try_from(fields.month).map_err(|_| malformed())?;
        let date =
            Date::from_calendar_date(fields.year, month, fields.day).map_err(|_| malformed())?;
        let time = Time::from_hms_nano(fields.hour, fields.minute, fields.second, fields.nanos)
            .map_err(|_| malformed())?;
        let offset =
            UtcOffset::from_whole_seconds(fields.offset_seconds).map_err(|_| malformed())?;
        Self::at(PrimitiveDateTime::new(date, time).assume_offset(offset))
    }

    /// The instant, in UTC; `None` for "never".
    pub fn instant(self) -> Option<OffsetDateTime> {
        self.0
    }

    /// Whether this is the hub's "never" (`0001-01-01T00:00:00`).
    pub fn is_never(self) -> bool {
        self.0.is_none()
    }
}

impl TryFrom<OffsetDateTime> for HubTime {
    type Error = TimeError;

    fn try_from(instant: OffsetDateTime) -> Result<Self, TimeError> {
        Self::at(instant)
    }
}

impl FromStr for HubTime {
    type Err = TimeError;

    fn from_str(text: &str) -> Result<Self, TimeError> {
        Self::parse(text)
    }
}

impl fmt::Display for HubTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str(NEVER_TEXT),
            Some(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.nanosecond() / TICK_NANOS,
            ),
        }
    }
}

impl fmt::Debug for HubTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("HubTime(never)"),
            Some(_) => write!(f, "HubTime({self})"),
        }
    }
}

impl Serialize for HubTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HubTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HubTimeVisitor;

        impl Visitor<'_> for HubTimeVisitor {
            type Value = HubTime;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IoT Hub timestamp such as \"2020-01-06T21:44:00.8884134Z\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<HubTime, E> {
                HubTime::parse(text).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(HubTimeVisitor)
    }
}

/// Serde helpers for an `Option<OffsetDateTime>` field that maps the hub's "never" to `None`.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # use time::OffsetDateTime;
/// #[derive(Serialize, Deserialize)]
/// struct Seen {
///     #[serde(
///         default,
///         with = "iothub::model::never_as_none",
///         skip_serializing_if = "Option::is_none"
///     )]
///     last_activity_time: Option<OffsetDateTime>,
/// }
/// ```
///
/// Reading: a missing field (with `default`), `null` and `0001-01-01T00:00:00` all give
/// `None`. Writing: `Some` is written in the hub's form (an instant outside the years
/// 0001–9999 is an error), `None` as `0001-01-01T00:00:00Z` unless `skip_serializing_if`
/// leaves the field out. Use [`HubTime`] directly where "never" and "absent" must stay
/// distinct.
pub mod never_as_none {
    use super::*;

    /// Writes `Some` in the hub's form and `None` as the hub's "never".
    pub fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let time = match value {
            Some(instant) => HubTime::at(*instant).map_err(ser::Error::custom)?,
            None => HubTime::NEVER,
        };
        time.serialize(serializer)
    }

    /// Reads a timestamp; `null` and "never" give `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Ok(Option::<HubTime>::deserialize(deserializer)?.and_then(HubTime::instant))
    }
}

/// The numeric fields of a timestamp, before calendar validation.
struct Fields {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// Truncated to whole ticks.
    nanos: u32,
    offset_seconds: i32,
}

impl Fields {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut cursor = Cursor { bytes, at: 0 };
        let year = cursor.number(4)?;
        cursor.require(b'-')?;
        let month = cursor.number(2)?;
        cursor.require(b'-')?;
        let day = cursor.number(2)?;
        cursor.require(b'T')?;
        let hour = cursor.number(2)?;
        cursor.require(b':')?;
        let minute = cursor.number(2)?;
        cursor.require(b':')?;
        let second = cursor.number(2)?;

        let mut nanos = 0;
        if cursor.eat(b'.') {
            let start = cursor.at;
            let mut scale = 100_000_000;
            while let Some(digit) = cursor.digit() {
                if cursor.at - start > 9 {
                    return None;
                }
                nanos += digit * scale;
                scale /= 10;
            }
            if cursor.at == start {
                return None;
            }
        }

        let offset_seconds = if cursor.eat(b'Z') || cursor.eat(b'z') {
            0
        } else if let Some(sign) = cursor.sign() {
            let hours = cursor.number(2)?;
            cursor.require(b':')?;
            let minutes = cursor.number(2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * i32::try_from(hours * 3600 + minutes * 60).ok()?
        } else {
            0
        };

        if cursor.at != bytes.len() {
            return None;
        }
        Some(Self {
            year: i32::try_from(year).ok()?,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
            hour: u8::try_from(hour).ok()?,
            minute: u8::try_from(minute).ok()?,
            second: u8::try_from(second).ok()?,
            nanos: nanos / TICK_NANOS * TICK_NANOS,
            offset_seconds,
        })
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.bytes.get(self.at) == Some(&byte);
        if matched {
            self.at += 1;
        }
        matched
    }

    fn require(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn digit(&mut self) -> Option<u32> {
        let byte = *self.bytes.get(self.at)?;
        if !byte.is_ascii_digit() {
            return None;
        }
        self.at += 1;
        Some(u32::from(byte - b'0'))
    }

    /// Exactly `width` ASCII digits.
    fn number(&mut self, width: usize) -> Option<u32> {
        (0..width).try_fold(0, |value, _| Some(value * 10 + self.digit()?))
    }

    fn sign(&mut self) -> Option<i32> {
        if self.eat(b'+') {
            Some(1)
        } else if self.eat(b'-') {
            Some(-1)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> HubTime {
        HubTime::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn utc(text: &str) -> OffsetDateTime {
        parse(text).instant().expect("an instant, not never")
    }

    #[test]
    fn every_fraction_width_with_and_without_z() {
        // (input, what the hub would write back)
        let cases = [
            ("2024-05-01T12:34:56", "2024-05-01T12:34:56.0000000Z"),
            ("2024-05-01T12:34:56Z", "2024-05-01T12:34:56.0000000Z"),
            ("2024-05-01T12:34:56.1", "2024-05-01T12:34:56.1000000Z"),
            ("2024-05-01T12:34:56.1Z", "2024-05-01T12:34:56.1000000Z"),
            ("2024-05-01T12:34:56.123", "2024-05-01T12:34:56.1230000Z"),
            ("2024-05-01T12:34:56.000Z", "2024-05-01T12:34:56.0000000Z"),
            ("2024-05-01T12:34:56.123456", "2024-05-01T12:34:56.1234560Z"),
            (
                "2024-05-01T12:34:56.123456Z",
                "2024-05-01T12:34:56.1234560Z",
            ),
            (
                "2020-01-06T21:44:00.8884134",
                "2020-01-06T21:44:00.8884134Z",
            ),
            (
                "2020-01-06T21:44:00.8884134Z",
                "2020-01-06T21:44:00.8884134Z",
            ),
        ];
        for (input, written) in cases {
            let time = parse(input);
            assert_eq!(time.to_string(), written, "{input}");
            assert_eq!(parse(written), time, "{input} round trip");
        }
        assert_eq!(
            utc("2024-05-01T12:34:56.123456Z"),
            datetime!(2024-05-01 12:34:56.123456 UTC)
        );
    }

    #[test]
    fn no_suffix_means_utc_and_offsets_are_converted() {
        assert_eq!(
            parse("2016-09-29T18:18:52.7418462"),
            parse("2016-09-29T18:18:52.7418462Z")
        );
        assert_eq!(
            parse("2024-05-01T14:34:56+02:00"),
            parse("2024-05-01T12:34:56Z")
        );
        assert_eq!(
            parse("2024-05-01T10:04:56-02:30"),
            parse("2024-05-01T12:34:56Z")
        );
        assert_eq!(
            parse("2024-05-01T12:34:56+00:00"),
            parse("2024-05-01T12:34:56z")
        );
    }

    #[test]
    fn digits_past_the_seventh_are_truncated_to_ticks() {
        assert_eq!(
            parse("2024-05-01T12:34:56.123456789Z").to_string(),
            "2024-05-01T12:34:56.1234567Z"
        );
        let nanos = HubTime::at(datetime!(2024-05-01 12:34:56.999_999_999 UTC)).expect("in range");
        assert_eq!(nanos.to_string(), "2024-05-01T12:34:56.9999999Z");
    }

    #[test]
    fn never_in_every_spelling() {
        for text in [
            "0001-01-01T00:00:00",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00.0",
            "0001-01-01T00:00:00.000Z",
            "0001-01-01T00:00:00.0000000",
            "0001-01-01T00:00:00.0000000Z",
            "0001-01-01T00:00:00+00:00",
        ] {
            let time = parse(text);
            assert!(time.is_never(), "{text}");
            assert_eq!(time, HubTime::NEVER, "{text}");
            assert_eq!(time.instant(), None, "{text}");
            assert_eq!(time.to_string(), "0001-01-01T00:00:00Z", "{text}");
        }
        // One tick later is a (silly, but real) instant.
        assert!(!parse("0001-01-01T00:00:00.0000001Z").is_never());
        assert_eq!(HubTime::at(NEVER_INSTANT), Ok(HubTime::NEVER));
        assert_eq!(format!("{:?}", HubTime::NEVER), "HubTime(never)");
    }

    #[test]
    fn never_sorts_first() {
        assert!(HubTime::NEVER < parse("0001-01-01T00:00:00.0000001Z"));
        assert!(parse("2024-05-01T12:34:56Z") < parse("2024-05-01T12:34:56.0000001Z"));
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for text in [
            "",
            "2024-05-01",
            "2024-05-01 12:34:56Z",
            "2024-5-01T12:34:56Z",
            "2024-05-01T12:34Z",
            "2024-05-01T12:34:56.Z",
            "2024-05-01T12:34:56.1234567890Z",
            "2024-05-01T12:34:56ZZ",
            "2024-05-01T12:34:56+0200",
            "2024-05-01T12:34:56 ",
            "2024-02-30T12:34:56Z",
            "2024-13-01T12:34:56Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:60:00Z",
            "2024-05-01T12:34:60Z",
            "0000-12-31T23:59:59Z",
            "...Z",
            "05/01/2024 12:34:56",
        ] {
            assert!(
                matches!(
                    HubTime::parse(text),
                    Err(TimeError::Malformed { .. }) | Err(TimeError::OutOfRange)
                ),
                "{text:?} should be rejected"
            );
        }
        assert_eq!(
            HubTime::parse("0001-01-01T00:00:00+01:00"),
            Err(TimeError::OutOfRange),
            "an hour before the hub's minimum"
        );
    }

    #[test]
    fn out_of_range_instants() {
        assert_eq!(
            HubTime::at(datetime!(0000-06-01 00:00 UTC)),
            Err(TimeError::OutOfRange)
        );
        assert!(HubTime::at(datetime!(9999-12-31 23:59:59.9999999 UTC)).is_ok());
        // Converted to UTC first: still year 9999.
        assert!(HubTime::at(datetime!(9999-12-31 23:00 -00:30)).is_ok());
    }

    #[test]
    fn serde_writes_the_hub_form() {
        let time = parse("2024-05-01T12:34:56.123Z");
        assert_eq!(
            serde_json::to_string(&time).expect("serializes"),
            "\"2024-05-01T12:34:56.1230000Z\""
        );
        let back: HubTime = serde_json::from_str("\"2024-05-01T12:34:56.123\"").expect("parses");
        assert_eq!(back, time);
        assert!(serde_json::from_str::<HubTime>("\"yesterday\"").is_err());
        assert!(serde_json::from_str::<HubTime>("12").is_err());
        let never: Option<HubTime> =
            serde_json::from_str("\"0001-01-01T00:00:00\"").expect("parses");
        assert_eq!(never, Some(HubTime::NEVER));
        let null: Option<HubTime> = serde_json::from_str("null").expect("parses");
        assert_eq!(null, None);
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Seen {
        #[serde(
            default,
            with = "never_as_none",
            skip_serializing_if = "Option::is_none"
        )]
        at: Option<OffsetDateTime>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct SeenKept {
        #[serde(default, with = "never_as_none")]
        at: Option<OffsetDateTime>,
    }

    #[test]
    fn never_as_none_helpers() {
        let read = |json: &str| serde_json::from_str::<Seen>(json).expect("parses").at;
        assert_eq!(read("{}"), None);
        assert_eq!(read(r#"{"at":null}"#), None);
        assert_eq!(read(r#"{"at":"0001-01-01T00:00:00"}"#), None);
        assert_eq!(read(r#"{"at":"0001-01-01T00:00:00.0000000Z"}"#), None);
        assert_eq!(
            read(r#"{"at":"2024-05-01T12:34:56.5"}"#),
            Some(datetime!(2024-05-01 12:34:56.5 UTC))
        );

        let write = |seen: &Seen| serde_json::to_string(seen).expect("serializes");
        assert_eq!(write(&Seen { at: None }), "{}");
        assert_eq!(
            write(&Seen {
                at: Some(datetime!(2024-05-01 14:34:56.5 +02:00))
            }),
            r#"{"at":"2024-05-01T12:34:56.5000000Z"}"#
        );
        assert_eq!(
            serde_json::to_string(&SeenKept { at: None }).expect("serializes"),
            r#"{"at":"0001-01-01T00:00:00Z"}"#
        );
        assert!(
            serde_json::to_string(&Seen {
                at: Some(datetime!(0000-01-01 0:00 UTC))
            })
            .is_err()
        );
    }
}
