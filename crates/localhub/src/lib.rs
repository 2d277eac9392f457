//! localhub: a local Azure IoT Hub, for Lockstep and for anyone who wants to run the official
//! Azure IoT SDKs without an Azure account.
//!
//! It speaks what Azure IoT Hub speaks, as the protocol reference (`docs/iothub-protocol.md`
//! in the shared docs) describes and the official SDKs check: devices over MQTT, the service
//! REST API over HTTPS, SAS authentication with Azure's default shared-access policies, and
//! SQLite storage so that whatever it acknowledged survives a restart.
//!
//! Layout:
//! - [`certs`]: the local CA and the server certificate, generated once and kept in the
//!   data dir.
//! - [`http`]: the service endpoint, IoT Hub's REST API over HTTPS, an adapter over [`Hub`].
//! - [`hub`]: the core, one [`Hub`] handle: registry, twins (with [`hub::twin`], the pure
//!   twin rules), direct methods, the state of connected devices, and jobs ([`hub::jobs`]:
//!   the jobs v2 engine and its scheduler; [`hub::tier`]: Azure tiers' job limits).
//! - [`mqtt`]: the device endpoint, MQTT 3.1.1 over TLS (and over WebSocket on the HTTPS
//!   port), an adapter over [`Hub`].
//! - [`policies`]: shared-access policies and their permissions.
//! - [`server`]: starts and stops a whole hub (store, certificates, both ports,
//!   `localhub.json`).
//! - [`store`]: SQLite, one module per table.

// Every fallible hub operation answers with the hub's own error, `iothub::model::HubError`
// (code, message, tracking id: ~140 bytes). Errors are the cold path of a local emulator and
// boxing them would only add noise at every call site.
#![allow(clippy::result_large_err)]

pub mod certs;
pub mod http;
pub mod hub;
pub mod mqtt;
pub mod policies;
pub mod server;
pub mod store;

pub use hub::{Hub, IfMatch};
