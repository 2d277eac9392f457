//! Wire models: the JSON bodies of the IoT Hub service REST API (and the twin documents the
//! MQTT device API shares with it), field names exactly as the hub spells them.
//!
//! Shared rules, so that a client and the local hub built on these types cannot drift apart:
//! - Reading is lenient: unknown fields are ignored (twins keep them, see [`Twin::extra`]),
//!   every field the hub may omit is an `Option`, enum values this crate does not know land in
//!   an `Other(String)` variant instead of failing, and known enum values match regardless of
//!   ASCII case (as the hub's .NET JSON reader does).
//! - Writing is the hub's form: `None` fields are left out (as both the hub and the Python SDK
//!   do) except where the hub writes an explicit `null` (key and thumbprint pairs, a method
//!   result's `payload`, a device job's `deviceMethodResponse`), enums use the canonical
//!   spelling, timestamps are [`HubTime`] with 7 digits and `Z`.
//! - These are raw wire types, not validated ones: a `JobRequest` without a `jobId` is
//!   representable, and whoever acts on it decides whether that is an error.
//!
//! Files:
//! - `time`: [`HubTime`] and the [`never_as_none`] serde helpers.
//! - `job`: [`JobRequest`], [`JobResponse`], [`DeviceJob`] rows and their enums.
//! - `method`: [`CloudToDeviceMethod`] and [`CloudToDeviceMethodResult`].
//! - `twin`: [`Twin`], [`TwinProperties`], [`TwinCollection`].
//! - `device`: [`DeviceIdentity`] and its authentication, with keys redacted from `Debug`.
//! - `query`: [`QuerySpecification`] and the swagger's [`QueryResult`] object.
//! - `error`: [`HubError`], parsed from either error body shape, and [`ErrorBody`].

/// Declares a string enum of the wire with a catch-all `Other(String)` variant.
///
/// Generates `as_str`, `from_wire` (exact match, then ASCII-case-insensitive, then `Other`),
/// `KNOWN` (every named variant), `Display` and serde impls that never fail on a string.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $wire:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                $(#[$variant_meta])*
                $variant,
            )+
            /// A value this crate does not know, kept verbatim so that it round-trips.
            ///
            /// Build values with `from_wire`, which never puts a known value here.
            Other(String),
        }

        impl $name {
            /// Every named variant, in the order the API documents them.
            pub const KNOWN: &'static [Self] = &[$(Self::$variant),+];

            /// The value as the hub spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(other) => other,
                }
            }

            /// Reads a value: the exact spelling, else a known value that differs only in
            /// ASCII case, else [`Self::Other`] with the text as given.
            pub fn from_wire(text: &str) -> Self {
                $(
                    if text == $wire {
                        return Self::$variant;
                    }
                )+
                $(
                    if text.eq_ignore_ascii_case($wire) {
                        return Self::$variant;
                    }
                )+
                Self::Other(text.to_owned())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::from_wire(text)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::string::String as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from_wire(&text))
            }
        }
    };
}

mod device;
mod error;
mod job;
mod method;
mod query;
mod time;
mod twin;

pub use device::{
    AuthenticationMechanism, AuthenticationType, ConnectionState, DeviceCapabilities,
    DeviceIdentity, DeviceStatus, SymmetricKey, X509Thumbprint,
};
pub use error::{ErrorBody, ErrorCode, ErrorKind, HubError};
pub use job::{
    DeviceJob, DeviceJobError, DeviceJobOutcome, DeviceJobStatistics, DeviceJobStatus, JobRequest,
    JobResponse, JobStatus, JobType,
};
pub use method::{CloudToDeviceMethod, CloudToDeviceMethodResult};
pub use query::{QueryItemType, QueryResult, QuerySpecification};
pub use time::{HubTime, TimeError, never_as_none};
pub use twin::{Twin, TwinCollection, TwinProperties};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_enums_match_exactly_then_ignoring_case_then_keep_the_text() {
        assert_eq!(JobStatus::from_wire("cancelled"), JobStatus::Cancelled);
        assert_eq!(JobStatus::from_wire("Cancelled"), JobStatus::Cancelled);
        assert_eq!(
            JobType::from_wire("ScheduleDeviceMethod"),
            JobType::ScheduleDeviceMethod
        );
        assert_eq!(
            JobStatus::from_wire("canceled"),
            JobStatus::Other("canceled".to_owned()),
            "the job-level spelling has two l's; the device-level one is not an alias"
        );
        assert_eq!(
            DeviceJobStatus::from_wire("cancelled"),
            DeviceJobStatus::Other("cancelled".to_owned())
        );
        let future: JobType = serde_json::from_str("\"scheduleTeleport\"").expect("never fails");
        assert_eq!(future, JobType::Other("scheduleTeleport".to_owned()));
        assert_eq!(
            serde_json::to_string(&future).expect("serializes"),
            "\"scheduleTeleport\""
        );
        assert_eq!(
            JobType::ScheduleUpdateTwin.to_string(),
            "scheduleUpdateTwin"
        );
        assert_eq!(JobType::from("export"), JobType::Export);
        assert!(
            serde_json::from_str::<JobType>("3").is_err(),
            "not a string at all"
        );
    }

    #[test]
    fn every_known_value_reads_back_as_itself() {
        fn check<T>(known: &[T])
        where
            T: std::fmt::Debug + PartialEq + serde::Serialize + serde::de::DeserializeOwned,
        {
            for value in known {
                let json = serde_json::to_string(value).expect("serializes");
                let back: T = serde_json::from_str(&json).expect("deserializes");
                assert_eq!(&back, value, "{json}");
            }
        }
        check(JobType::KNOWN);
        check(JobStatus::KNOWN);
        check(DeviceJobStatus::KNOWN);
        check(DeviceStatus::KNOWN);
        check(ConnectionState::KNOWN);
        check(AuthenticationType::KNOWN);
        check(QueryItemType::KNOWN);
    }
}
