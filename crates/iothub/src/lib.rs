//! Azure IoT Hub, spoken exactly as Azure speaks it.
//!
//! This crate is Lockstep's protocol library, shared by the app and the local hub: connection
//! strings and SAS tokens now; later the wire models, the REST service client and the MQTT
//! device client. Byte-level behaviour follows what the official Azure SDKs send and accept
//! (`docs/iothub-protocol.md` in the shared docs), and the tests pin it with golden strings
//! from that reference rather than with output of this crate, so a client and an emulator built
//! on the same code cannot agree on a mistake. It has no Tauri dependency and no clock:
//! whatever depends on time takes "now" as an argument.
//!
//! Layout:
//! - [`auth`]: connection strings (raw text → validated types) and SAS tokens (generate,
//!   parse, verify), with secrets redacted from every `Debug`, `Display` and error.

pub mod auth;
