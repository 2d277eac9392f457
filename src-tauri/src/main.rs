//! The Lockstep desktop app. Everything lives in the library (`lib.rs`), so tests can build it.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    lockstep_lib::run();
}
