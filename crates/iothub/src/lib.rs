//! Azure IoT Hub, spoken exactly as Azure speaks it.
//!
//! This crate is Lockstep's protocol library, shared by the app and the local hub: connection
//! strings, SAS tokens and the REST wire models now; later the REST service client and the
//! MQTT device client. Byte-level behaviour follows what the official Azure SDKs send and accept
//! (`docs/iothub-protocol.md` in the shared docs), and the tests pin it with golden strings
//! from that reference rather than with output of this crate, so a client and an emulator built
//! on the same code cannot agree on a mistake. It has no Tauri dependency and no clock:
//! whatever depends on time takes "now" as an argument.
//!
//! Layout:
//! - [`auth`]: connection strings (raw text → validated types) and SAS tokens (generate,
//!   parse, verify), with secrets redacted from every `Debug`, `Display` and error.
//! - [`model`]: serde types for the REST bodies (jobs, device job rows, direct methods,
//!   twins, device identities, queries) spelled exactly as the hub spells them, hub
//!   timestamps with their "never", and error bodies of both shapes parsed into one typed
//!   error.
//! - [`service`]: the REST service client (jobs v2, twins, queries, direct methods, device
//!   identities, statistics) over reqwest + rustls, with typed errors and bounded retries.
//! - [`topic`]: the MQTT topic grammar of the device protocol: parse and format.
//! - [`device`]: the MQTT device client over rumqttc: a sans-I/O session, the event loop that
//!   does its I/O, and a cheap `Clone` handle.

pub mod auth;
pub mod device;
pub mod model;
pub mod service;
pub mod topic;
