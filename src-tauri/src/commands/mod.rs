//! Tauri commands: thin adapters over [`lockstep_core::Core`], one module per area of the UI.
//! Each unpacks its arguments and the state, calls one method, and maps the error.

pub mod app;
pub mod fleet;
pub mod hub;
pub mod jobs;
pub mod lock;
pub mod profiles;
