//! Simulated devices for Lockstep: the door lock of the jobs tutorial, and fleets of them on
//! real MQTT connections, for rehearsing jobs against localhub or an Azure IoT Hub.
//!
//! The model is pure (time is an argument), so its behaviour is pinned by table tests; the
//! device and fleet layers only do I/O around it through `iothub`'s device and service
//! clients. Rehearsal knobs make chosen devices answer with an error, never answer, or stay
//! offline, so that a job's failure paths can be watched on demand. No Tauri here: the
//! `fleet` binary runs a fleet headless.
//!
//! Layout:
//! - [`door_lock`]: [`DoorLock`], the state machine (`lockDoor` with an optional `lockTime`,
//!   `unlockDoor`, desired `building`/`floor`, the reported document), [`Knobs`], and
//!   [`reported_patch`], the difference between two reported documents.
//! - [`device`]: [`SimulatedDevice`], one door lock on a [`iothub::device::DeviceClient`]:
//!   a task answering methods, applying patches and reporting, behind a cheap handle.
//! - [`fleet`]: [`Fleet`], N devices registered, tagged and connected with bounded
//!   concurrency on a [`HubTarget`], knobs spread by a seeded [`plan_knobs`].
//! - `bin/fleet.rs`: the `fleet` command line, a fleet until Ctrl-C with a status line.

pub mod device;
pub mod door_lock;
pub mod fleet;

pub use device::{
    DeviceActivity, DeviceConnection, DeviceCounters, DeviceState, SimulatedDevice, merge_desired,
};
pub use door_lock::{DoorLock, Knobs, LockState, MethodOutcome, reported_patch};
pub use fleet::{Fleet, FleetConfig, FleetError, FleetStats, HubTarget, KnobPlan, plan_knobs};
