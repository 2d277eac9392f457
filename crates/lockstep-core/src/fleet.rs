//! The simulated fleet on the local hub: door locks `sim-lock-00001`… registered through the
//! hub's service API, tagged over buildings 41..=45 and floors 1..=5 evenly, and connected
//! over real MQTT as [`SimulatedDevice`]s inside the app, so that jobs and previews run over
//! many devices. The fleet lives until the app exits or the profile switches.
//!
//! Adding runs in the background with bounded concurrency; progress goes out as
//! [`CoreEvent::FleetChanged`] (at most a few times a second) until every device has made its
//! first connection attempt.
//!
//! The devices outlive the app on the hub: when the local profile becomes active (at start-up
//! or on a switch), the `sim-lock-*` devices an earlier run registered are found and started
//! again as the fleet ([`FleetController::restore`]), in the background with the same
//! progress, so the fleet the app shows is the one the hub's queries count.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use simulator::{DeviceConnection, Knobs, SimulatedDevice};
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::local::LocalHub;
use crate::view::FleetView;
use crate::{CoreError, CoreEvent, guard, hub};

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
/// The prefix of the fleet's device ids.
const ID_PREFIX: &str = "sim-lock-";
/// Restored devices still making their first connection at most, so that thousands do not
/// all shake hands with the hub at once.
const RESTORE_IN_FLIGHT: usize = 64;
/// How long a restore waits for connections before starting more devices anyway.
const RESTORE_WAIT: Duration = Duration::from_secs(5);

/// The id of the fleet's device number `number` (from 1).
pub fn device_id(number: u32) -> String {
    format!("sim-lock-{number:05}")
}

/// The number of the fleet's device `id` (`sim-lock-00042` → 42); `None` for other ids.
pub fn device_number(id: &str) -> Option<u32> {
    let digits = id.strip_prefix(ID_PREFIX)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u32 = digits.parse().ok()?;
    // Only the ids this module makes, so numbers and ids stay one to one.
    (number > 0 && device_id(number) == id).then_some(number)
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
        view_of(&guard(&self.state), *guard(&self.available))
    }

    /// Whether the active profile can have a fleet; leaving the local hub stops the fleet.
    pub async fn set_available(&self, available: bool) {
        if !available {
            self.stop().await;
        }
        *guard(&self.available) = available;
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
        if !*guard(&self.available) {
            return Err(CoreError::invalid(
                "count",
                "simulated devices run on the local hub only: switch to the Local hub profile",
            ));
        }
        let first = {
            let mut state = guard(&self.state);
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
        let cancel = guard(&self.cancel).clone();
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
                let mut state = guard(&state);
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

    /// Finds the fleet's devices registered on `local` by an earlier run and starts them
    /// again in the background, with progress as when adding; new devices continue after
    /// the highest number found. Does nothing while the fleet has devices or is being added
    /// to, or when the active profile has no fleet. Only the search (one query on the local
    /// hub) is awaited. Async for the same reason as [`FleetController::add`].
    pub async fn restore(&self, local: Arc<LocalHub>) {
        let idle =
            |state: &State| state.devices.is_empty() && !state.adding && state.next_number == 0;
        if !*guard(&self.available) || !idle(&guard(&self.state)) {
            return;
        }
        let numbers = match registered_numbers(&local).await {
            Ok(numbers) if numbers.is_empty() => return,
            Ok(numbers) => numbers,
            Err(error) => {
                guard(&self.state).note = Some(format!(
                    "The simulated devices of an earlier run were not found: {error}"
                ));
                let _ = self.events.send(CoreEvent::FleetChanged(self.view()));
                return;
            }
        };
        {
            // An add may have started while the hub answered.
            let mut state = guard(&self.state);
            if !idle(&state) {
                return;
            }
            state.adding = true;
            state.note = None;
            state.next_number = numbers.last().copied().unwrap_or(0);
        }
        // Said at once: starting the devices may end before the progress task first looks.
        let _ = self.events.send(CoreEvent::FleetChanged(self.view()));
        let cancel = guard(&self.cancel).clone();
        let state = self.state.clone();
        let events = self.events.clone();
        self.tracker.spawn(async move {
            let found = numbers.len();
            let restoring = start_registered(&local, &state, numbers, &cancel);
            let progress = report_progress(&state, &events, &cancel);
            tokio::pin!(progress);
            let outcome = tokio::select! {
                outcome = restoring => outcome,
                () = &mut progress => Ok(()),
            };
            {
                let mut state = guard(&state);
                state.adding = false;
                state.note = Some(match outcome {
                    Ok(()) => format!(
                        "Reconnected the {found} simulated devices registered on the hub earlier."
                    ),
                    Err(error) => format!("Reconnecting the simulated devices stopped: {error}"),
                });
            }
            progress.await;
        });
    }

    /// Stops every device (they stay registered) and forgets them.
    pub async fn stop(&self) {
        let cancel = std::mem::take(&mut *guard(&self.cancel));
        cancel.cancel();
        let devices = {
            let mut state = guard(&self.state);
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
        guard(state).devices.push(device);
    }
}

/// The numbers of the fleet's devices registered on `local`, in order.
async fn registered_numbers(local: &LocalHub) -> Result<Vec<u32>, CoreError> {
    let query = format!("SELECT deviceId FROM devices WHERE STARTSWITH(deviceId, '{ID_PREFIX}')");
    let rows: Vec<Value> = local
        .service()
        .query_devices_all(&query, Some(1_000))
        .await
        .map_err(|error| CoreError::from_service("finding the simulated devices", &error))?;
    let mut numbers: Vec<u32> = rows
        .iter()
        .filter_map(|row| row.get("deviceId")?.as_str())
        .filter_map(device_number)
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    Ok(numbers)
}

/// Starts the registered devices `numbers`, at most [`RESTORE_IN_FLIGHT`] making their first
/// connection at a time.
async fn start_registered(
    local: &LocalHub,
    state: &Mutex<State>,
    numbers: Vec<u32>,
    cancel: &CancellationToken,
) -> Result<(), CoreError> {
    let options = local.device_options();
    for number in numbers {
        let deadline = tokio::time::Instant::now() + RESTORE_WAIT;
        while connecting(&guard(state)) >= RESTORE_IN_FLIGHT
            && tokio::time::Instant::now() < deadline
        {
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        if cancel.is_cancelled() {
            return Ok(());
        }
        let connection_string = local.device_connection_string(&device_id(number))?;
        let device = SimulatedDevice::spawn(connection_string, options.clone(), Knobs::default());
        guard(state).devices.push(device);
    }
    Ok(())
}

/// How many of the fleet's devices have not connected yet.
fn connecting(state: &State) -> usize {
    state
        .devices
        .iter()
        .filter(|d| !matches!(d.state().connection, DeviceConnection::Connected))
        .count()
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
        let view = view_of(&guard(state), true);
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

    #[test]
    fn only_the_fleets_own_ids_have_numbers() {
        assert_eq!(device_number("sim-lock-00001"), Some(1));
        assert_eq!(device_number("sim-lock-10000"), Some(10_000));
        assert_eq!(device_number(&device_id(123_456)), Some(123_456));
        for other in [
            "door-lock-1",
            "sim-lock-",
            "sim-lock-1",
            "sim-lock-00000",
            "sim-lock-0001a",
            "sim-lock-+0001",
            "sim-lock-00001-x",
            "SIM-LOCK-00001",
        ] {
            assert_eq!(device_number(other), None, "{other}");
        }
    }
}
