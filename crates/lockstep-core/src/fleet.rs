//! The simulated fleet on the local hub: door locks `sim-lock-00001`… registered through the
//! hub's service API, tagged over buildings 41..=45 and floors 1..=5 evenly, and connected
//! over real MQTT as [`SimulatedDevice`]s inside the app, so that jobs and previews run over
//! many devices. The fleet lives until the app exits or the profile switches.
//!
//! Adding runs in the background with bounded concurrency; progress goes out as
//! [`CoreEvent::FleetChanged`] (at most a few times a second) until every device has made its
//! first connection attempt.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};
use simulator::{DeviceConnection, Knobs, SimulatedDevice};
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::local::LocalHub;
use crate::view::FleetView;
use crate::{CoreError, CoreEvent, hub};

/// How many devices one "add" may bring.
pub const ADD_COUNTS: [u32; 4] = [10, 100, 1_000, 10_000];
/// The buildings the fleet's devices are tagged with.
pub const BUILDINGS: std::ops::RangeInclusive<u32> = 41..=45;
/// The floors of each building.
pub const FLOORS: std::ops::RangeInclusive<u32> = 1..=5;
/// Devices registered and connected at the same time.
const CONCURRENCY: usize = 16;
/// How often progress goes out while devices are added or connecting.
const PROGRESS_EVERY: Duration = Duration::from_millis(300);
/// How long after adding ends progress keeps going out for devices still connecting.
const CONNECT_GRACE: Duration = Duration::from_secs(30);

/// The id of the fleet's device number `number` (from 1).
pub fn device_id(number: u32) -> String {
    format!("sim-lock-{number:05}")
}

/// The tags of the fleet's device number `number` (from 1): buildings round robin, then
/// floors round robin within a building, so every (building, floor) pair gets the same share.
pub fn tags(number: u32) -> Map<String, Value> {
    let index = number.saturating_sub(1);
    let buildings = BUILDINGS.end() - BUILDINGS.start() + 1;
    let floors = FLOORS.end() - FLOORS.start() + 1;
    let mut tags = Map::new();
    tags.insert(
        "building".to_owned(),
        Value::from(BUILDINGS.start() + index % buildings),
    );
    tags.insert(
        "floor".to_owned(),
        Value::from(FLOORS.start() + (index / buildings) % floors),
    );
    tags
}

#[derive(Debug, Default)]
struct State {
    devices: Vec<SimulatedDevice>,
    /// Numbers handed out so far (devices being added included).
    next_number: u32,
    adding: bool,
    note: Option<String>,
}

/// The fleet of the local hub profile.
#[derive(Debug)]
pub struct FleetController {
    events: broadcast::Sender<CoreEvent>,
    state: Arc<Mutex<State>>,
    available: Mutex<bool>,
    cancel: Mutex<CancellationToken>,
    tracker: TaskTracker,
}

impl FleetController {
    /// No fleet; events go to `events`.
    pub fn new(events: broadcast::Sender<CoreEvent>) -> Self {
        Self {
            events,
            state: Arc::new(Mutex::new(State::default())),
            available: Mutex::new(false),
            cancel: Mutex::new(CancellationToken::new()),
            tracker: TaskTracker::new(),
        }
    }

    /// The fleet now.
    pub fn view(&self) -> FleetView {
        view_of(&lock(&self.state), *lock(&self.available))
    }

    /// Whether the active profile can have a fleet; leaving the local hub stops the fleet.
    pub async fn set_available(&self, available: bool) {
        if !available {
            self.stop().await;
        }
        *lock(&self.available) = available;
        let _ = self.events.send(CoreEvent::FleetChanged(self.view()));
    }

    /// Starts adding `count` devices on `local` in the background; returns the fleet with
    /// `adding` set. Async because it spawns on the caller's tokio runtime: a synchronous
    /// caller (a Tauri command on the GTK main thread) has none.
    pub async fn add(&self, local: Arc<LocalHub>, count: u32) -> Result<FleetView, CoreError> {
        if !ADD_COUNTS.contains(&count) {
            return Err(CoreError::invalid(
                "count",
                format!("add 10, 100, 1,000 or 10,000 simulated devices, not {count}"),
            ));
        }
        if !*lock(&self.available) {
            return Err(CoreError::invalid(
                "count",
                "simulated devices run on the local hub only: switch to the Local hub profile",
            ));
        }
        let first = {
            let mut state = lock(&self.state);
            if state.adding {
                return Err(CoreError::invalid(
                    "count",
                    "devices are being added already: wait until that finishes",
                ));
            }
            state.adding = true;
            state.note = None;
            let first = state.next_number + 1;
            state.next_number += count;
            first
        };
        let cancel = lock(&self.cancel).clone();
        let state = self.state.clone();
        let events = self.events.clone();
        self.tracker.spawn(async move {
            let adding = add_devices(&local, &state, first, count, &cancel);
            let progress = report_progress(&state, &events, &cancel);
            tokio::pin!(progress);
            let outcome = tokio::select! {
                outcome = adding => outcome,
                () = &mut progress => Ok(()),
            };
            {
                let mut state = lock(&state);
                state.adding = false;
                if let Err(error) = outcome {
                    state.note = Some(format!("Adding devices stopped: {error}"));
                }
            }
            // Keep reporting while the new devices make their first connection.
            progress.await;
        });
        Ok(self.view())
    }

    /// Stops every device (they stay registered) and forgets them.
    pub async fn stop(&self) {
        let cancel = std::mem::take(&mut *lock(&self.cancel));
        cancel.cancel();
        let devices = {
            let mut state = lock(&self.state);
            state.adding = false;
            state.next_number = 0;
            state.note = None;
            std::mem::take(&mut state.devices)
        };
        for device in &devices {
            device.stop();
        }
        for device in &devices {
            device.shutdown().await;
        }
    }

    /// Stops the fleet and its background tasks, waiting for them.
    pub async fn shutdown(&self) {
        self.stop().await;
        self.tracker.close();
        self.tracker.wait().await;
        // Devices a task added while it was being cancelled.
        self.stop().await;
    }
}

fn view_of(state: &State, available: bool) -> FleetView {
    let connected = state
        .devices
        .iter()
        .filter(|d| matches!(d.state().connection, DeviceConnection::Connected))
        .count();
    FleetView {
        available,
        devices: u32::try_from(state.devices.len()).unwrap_or(u32::MAX),
        connected: u32::try_from(connected).unwrap_or(u32::MAX),
        adding: state.adding,
        note: if available {
            state.note.clone()
        } else {
            Some("Simulated devices run on the local hub only.".to_owned())
        },
    }
}

/// Registers, tags and starts devices `first..first + count`, [`CONCURRENCY`] at a time.
async fn add_devices(
    local: &Arc<LocalHub>,
    state: &Mutex<State>,
    first: u32,
    count: u32,
    cancel: &CancellationToken,
) -> Result<(), CoreError> {
    let mut numbers = first..first.saturating_add(count);
    let mut running = JoinSet::new();
    loop {
        while running.len() < CONCURRENCY && !cancel.is_cancelled() {
            let Some(number) = numbers.next() else {
                break;
            };
            let local = local.clone();
            running.spawn(async move { start_device(&local, number).await });
        }
        let joined = tokio::select! {
            () = cancel.cancelled() => {
                running.abort_all();
                return Ok(());
            }
            joined = running.join_next() => joined,
        };
        let Some(joined) = joined else {
            return Ok(());
        };
        let device = joined
            .map_err(|error| CoreError::internal(format!("a device start failed: {error}")))??;
        if cancel.is_cancelled() {
            device.stop();
            return Ok(());
        }
        lock(state).devices.push(device);
    }
}

/// Registers (or reuses, with its keys) and tags device `number`, then starts it.
async fn start_device(local: &LocalHub, number: u32) -> Result<SimulatedDevice, CoreError> {
    let device_id = device_id(number);
    let service = local.service();
    hub::create_or_get_device(service, &device_id).await?;
    hub::set_tags(service, &device_id, tags(number)).await?;
    let connection_string = local.device_connection_string(&device_id)?;
    Ok(SimulatedDevice::spawn(
        connection_string,
        local.device_options(),
        Knobs::default(),
    ))
}

/// Sends the fleet's view when it changes, every [`PROGRESS_EVERY`], until devices are no
/// longer added and all are connected (or [`CONNECT_GRACE`] after adding ended).
async fn report_progress(
    state: &Mutex<State>,
    events: &broadcast::Sender<CoreEvent>,
    cancel: &CancellationToken,
) {
    let mut last: Option<FleetView> = None;
    let mut idle_since: Option<tokio::time::Instant> = None;
    loop {
        let view = view_of(&lock(state), true);
        if last.as_ref() != Some(&view) {
            let _ = events.send(CoreEvent::FleetChanged(view.clone()));
        }
        if !view.adding {
            let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
            if view.connected >= view.devices || since.elapsed() >= CONNECT_GRACE {
                return;
            }
        }
        last = Some(view);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(PROGRESS_EVERY) => {}
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain replacements only: the data stays consistent across a panic.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn ids_continue_and_tags_spread_evenly() {
        assert_eq!(device_id(1), "sim-lock-00001");
        assert_eq!(device_id(10_000), "sim-lock-10000");
        let mut pairs: BTreeMap<(u64, u64), u32> = BTreeMap::new();
        for number in 1..=100 {
            let tags = tags(number);
            let building = tags["building"].as_u64().expect("building");
            let floor = tags["floor"].as_u64().expect("floor");
            *pairs.entry((building, floor)).or_default() += 1;
        }
        assert_eq!(pairs.len(), 25, "every building and floor");
        assert!(pairs.values().all(|&n| n == 4), "{pairs:?}");
        assert_eq!(
            Value::Object(tags(1)),
            serde_json::json!({"building": 41, "floor": 1})
        );
        assert_eq!(
            Value::Object(tags(6)),
            serde_json::json!({"building": 41, "floor": 2})
        );
    }
}
