//! Tauri commands: thin adapters over library calls, one module per area of the UI.

pub mod lock;
