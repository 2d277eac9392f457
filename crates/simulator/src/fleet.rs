//! Fleets: N simulated door locks registered on a hub, tagged with a building and a floor,
//! each on its own real MQTT connection, with rehearsal knobs spread across them.
//!
//! [`Fleet::start`] validates a [`FleetConfig`], finds the hub ([`HubTarget`]: a local hub's
//! `localhub.json`, or an Azure service connection string), registers the devices through
//! the service REST API (an existing device is reused with its keys), tags them, and starts
//! them with bounded concurrency, each start waiting for its first connection attempt.
//! Which devices get which knobs is decided by [`plan_knobs`], deterministic for a seed.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iothub::auth::{ConnectionStringError, DeviceConnectionString, ServiceConnectionString};
use iothub::device::DeviceClientOptions;
use iothub::model::{
    AuthenticationMechanism, AuthenticationType, DeviceIdentity, DeviceStatus, SymmetricKey, Twin,
};
use iothub::service::{IfMatch, ServiceClient, ServiceClientOptions, ServiceError};
use localhub::server::HubInfo;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::device::{DeviceConnection, SimulatedDevice};
use crate::door_lock::Knobs;

/// How often a throttled registration call is tried before the fleet gives up.
const THROTTLE_ATTEMPTS: u32 = 6;

/// Which hub a fleet runs against.
#[derive(Debug, Clone)]
pub enum HubTarget {
    /// A local hub: its data dir, where `localhub.json` says where it listens and which CA
    /// to trust.
    LocalHub {
        /// The hub's data dir.
        dir: PathBuf,
    },
    /// An Azure IoT Hub: devices connect on 8883 and trust the public roots.
    Azure {
        /// A policy with registry read/write and service connect (e.g. `iothubowner`).
        service_connection_string: ServiceConnectionString,
    },
}

/// Which devices misbehave, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct KnobPlan {
    /// Share of devices (0..=1) that answer every method with [`KnobPlan::error_status`].
    pub error_fraction: f64,
    /// The status those devices answer with (default 500).
    pub error_status: i32,
    /// Share of devices that never answer methods.
    pub silent_fraction: f64,
    /// Share of devices that start offline.
    pub offline_fraction: f64,
    /// Picks which devices; the same seed and count give the same devices.
    pub seed: u64,
    /// Knobs for single devices by index, replacing what the fractions give them.
    pub per_device: BTreeMap<usize, Knobs>,
}

impl Default for KnobPlan {
    fn default() -> Self {
        Self {
            error_fraction: 0.0,
            error_status: 500,
            silent_fraction: 0.0,
            offline_fraction: 0.0,
            seed: 1,
            per_device: BTreeMap::new(),
        }
    }
}

/// What fleet to run. [`FleetConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// How many devices (at least 1).
    pub count: usize,
    /// Device ids are `{id_prefix}-{index:04}`.
    pub id_prefix: String,
    /// The hub.
    pub hub: HubTarget,
    /// Tag `building` takes the values 1..=buildings, round robin over the devices.
    pub buildings: u32,
    /// Tag `floor` takes the values 1..=floors, round robin within each building.
    pub floors: u32,
    /// How many devices are registered and connected at the same time.
    pub concurrency: usize,
    /// Which devices misbehave.
    pub knobs: KnobPlan,
    /// The device client options; the port and the extra CA are set from the hub target.
    pub device_options: DeviceClientOptions,
    /// How long starting one device waits for its first connection attempt.
    pub connect_wait: Duration,
}

impl FleetConfig {
    /// `count` well-behaved devices `sim-0000`… on `hub`, over 5 buildings and 10 floors,
    /// 16 at a time.
    pub fn new(hub: HubTarget, count: usize) -> Self {
        Self {
            count,
            id_prefix: "sim".to_owned(),
            hub,
            buildings: 5,
            floors: 10,
            concurrency: 16,
            knobs: KnobPlan::default(),
            device_options: DeviceClientOptions::default(),
            connect_wait: Duration::from_secs(15),
        }
    }

    /// The id of device `index`.
    pub fn device_id(&self, index: usize) -> String {
        format!("{}-{index:04}", self.id_prefix)
    }

    /// The tags of device `index`: `{"building": b, "floor": f}`, both from 1.
    pub fn tags(&self, index: usize) -> Map<String, Value> {
        let (building, floor) = building_and_floor(index, self.buildings, self.floors);
        let mut tags = Map::new();
        tags.insert("building".to_owned(), Value::from(building));
        tags.insert("floor".to_owned(), Value::from(floor));
        tags
    }

    fn validate(&self) -> Result<(), FleetError> {
        let invalid = |message: String| Err(FleetError::InvalidConfig(message));
        if self.count == 0 {
            return invalid("count must be at least 1".to_owned());
        }
        if self.buildings == 0 || self.floors == 0 {
            return invalid("buildings and floors must be at least 1".to_owned());
        }
        if self.concurrency == 0 {
            return invalid("concurrency must be at least 1".to_owned());
        }
        if self.id_prefix.is_empty() {
            return invalid("the id prefix must not be empty".to_owned());
        }
        // The longest id must be one IoT Hub accepts.
        let longest = self.device_id(self.count - 1);
        if let Err(error) = format!("HostName=h;DeviceId={longest};SharedAccessKey=AAAA")
            .parse::<DeviceConnectionString>()
        {
            return invalid(format!(
                "device ids such as '{longest}' are not valid: {error}"
            ));
        }
        let plan = &self.knobs;
        let fractions = [
            ("error", plan.error_fraction),
            ("silent", plan.silent_fraction),
            ("offline", plan.offline_fraction),
        ];
        for (name, fraction) in fractions {
            if !(0.0..=1.0).contains(&fraction) {
                return invalid(format!(
                    "the {name} fraction must be between 0 and 1, not {fraction}"
                ));
            }
        }
        if fractions.iter().map(|(_, f)| f).sum::<f64>() > 1.0 + 1e-9 {
            return invalid(
                "the error, silent and offline fractions add up to more than 1".to_owned(),
            );
        }
        if let Some(index) = plan.per_device.keys().find(|&&i| i >= self.count) {
            return invalid(format!(
                "knobs for device {index}, but the fleet has {}",
                self.count
            ));
        }
        Ok(())
    }
}

/// Building and floor (both from 1) of device `index`: buildings round robin, then floors
/// round robin within a building.
fn building_and_floor(index: usize, buildings: u32, floors: u32) -> (u64, u64) {
    let index = index as u64;
    let buildings = u64::from(buildings.max(1));
    let floors = u64::from(floors.max(1));
    (1 + index % buildings, 1 + (index / buildings) % floors)
}

/// The knobs of each of `count` devices under `plan`: exactly `round(count × fraction)`
/// devices per kind, picked by a shuffle seeded with `plan.seed`, then `per_device`.
pub fn plan_knobs(count: usize, plan: &KnobPlan) -> Vec<Knobs> {
    let share = |fraction: f64| {
        let wanted = (count as f64 * fraction.clamp(0.0, 1.0)).round();
        // `wanted` is within 0..=count here.
        (wanted as usize).min(count)
    };
    let mut order: Vec<usize> = (0..count).collect();
    fastrand::Rng::with_seed(plan.seed).shuffle(&mut order);
    let mut knobs = vec![Knobs::NONE; count];
    let kinds = [
        (
            share(plan.error_fraction),
            Knobs {
                respond_with_status: Some(plan.error_status),
                ..Knobs::NONE
            },
        ),
        (
            share(plan.silent_fraction),
            Knobs {
                never_respond: true,
                ..Knobs::NONE
            },
        ),
        (
            share(plan.offline_fraction),
            Knobs {
                offline: true,
                ..Knobs::NONE
            },
        ),
    ];
    let mut picks = order.into_iter();
    for (how_many, kind) in kinds {
        for index in picks.by_ref().take(how_many) {
            if let Some(slot) = knobs.get_mut(index) {
                *slot = kind;
            }
        }
    }
    for (&index, &device_knobs) in &plan.per_device {
        if let Some(slot) = knobs.get_mut(index) {
            *slot = device_knobs;
        }
    }
    knobs
}

/// Why a fleet did not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The configuration is unusable.
    #[error("invalid fleet configuration: {0}")]
    InvalidConfig(String),
    /// The local hub's data dir has no `localhub.json` (the hub never ran there).
    #[error("no localhub.json in {dir}: start localhub with this data dir first")]
    NoLocalHub {
        /// The data dir.
        dir: PathBuf,
    },
    /// `localhub.json` or the CA certificate could not be read.
    #[error("cannot read {path}: {source}")]
    LocalHubFile {
        /// The file.
        path: PathBuf,
        /// What the OS (or the JSON parser) said.
        source: io::Error,
    },
    /// The service connection string does not parse.
    #[error("the service connection string is invalid: {0}")]
    ConnectionString(#[from] ConnectionStringError),
    /// The service client could not be built.
    #[error("cannot talk to the hub: {0}")]
    Service(ServiceError),
    /// Registering or tagging a device failed.
    #[error("cannot register device '{device_id}': {source}")]
    Register {
        /// The device.
        device_id: String,
        /// The hub's answer.
        source: ServiceError,
    },
    /// The hub has the device but without a symmetric key (e.g. an X.509 device).
    #[error(
        "device '{device_id}' exists without a symmetric key; delete it or pick another prefix"
    )]
    NoKey {
        /// The device.
        device_id: String,
    },
}

/// The hub as the fleet uses it: the service client, and how devices connect.
struct Endpoint {
    service: ServiceClient,
    /// `HostName` of the device connection strings (no port).
    device_host: String,
    device_options: DeviceClientOptions,
}

impl Endpoint {
    fn resolve(target: &HubTarget, base: &DeviceClientOptions) -> Result<Self, FleetError> {
        match target {
            HubTarget::LocalHub { dir } => {
                let info_path = dir.join(localhub::server::INFO_FILE);
                let info = HubInfo::read(dir)
                    .map_err(|source| FleetError::LocalHubFile {
                        path: info_path,
                        source,
                    })?
                    .ok_or_else(|| FleetError::NoLocalHub { dir: dir.clone() })?;
                let ca_pem = std::fs::read_to_string(&info.ca_certificate).map_err(|source| {
                    FleetError::LocalHubFile {
                        path: info.ca_certificate.clone(),
                        source,
                    }
                })?;
                let connection: ServiceConnectionString = info.service_connection_string.parse()?;
                let service = ServiceClient::new(
                    connection,
                    ServiceClientOptions {
                        extra_ca_pem: Some(ca_pem.clone().into_bytes()),
                        ..ServiceClientOptions::default()
                    },
                )
                .map_err(FleetError::Service)?;
                Ok(Self {
                    service,
                    device_host: info.host_name,
                    device_options: DeviceClientOptions {
                        port: Some(info.mqtt_port),
                        extra_ca_pem: Some(ca_pem),
                        ..base.clone()
                    },
                })
            }
            HubTarget::Azure {
                service_connection_string,
            } => {
                let service = ServiceClient::new(
                    service_connection_string.clone(),
                    ServiceClientOptions::default(),
                )
                .map_err(FleetError::Service)?;
                Ok(Self {
                    service,
                    device_host: service_connection_string.host().to_owned(),
                    device_options: DeviceClientOptions {
                        port: None,
                        extra_ca_pem: None,
                        ..base.clone()
                    },
                })
            }
        }
    }
}

/// A running fleet of simulated door locks.
#[derive(Debug)]
pub struct Fleet {
    devices: Vec<SimulatedDevice>,
    service: ServiceClient,
}

/// Totals over a fleet, for a status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Devices in the fleet.
    pub devices: usize,
    /// Devices connected now.
    pub connected: usize,
    /// Devices offline on purpose.
    pub offline: usize,
    /// Devices whose door is locked now.
    pub locked: usize,
    /// Direct method calls received.
    pub methods_received: u64,
    /// Direct method calls answered.
    pub methods_answered: u64,
    /// Direct method calls left unanswered on purpose.
    pub methods_ignored: u64,
    /// Desired patches applied.
    pub patches_applied: u64,
    /// Reported PATCHes accepted by the hub.
    pub reports_sent: u64,
    /// Answers or reports that failed.
    pub errors: u64,
}

impl Fleet {
    /// Registers, tags and starts the fleet. Devices that do not connect at once keep
    /// trying in the background; a registration failure stops the devices started so far
    /// and fails the start.
    pub async fn start(config: FleetConfig) -> Result<Self, FleetError> {
        config.validate()?;
        let endpoint = Endpoint::resolve(&config.hub, &config.device_options)?;
        let knobs = plan_knobs(config.count, &config.knobs);
        let shared = Arc::new(Shared {
            service: endpoint.service.clone(),
            device_host: endpoint.device_host,
            device_options: endpoint.device_options,
            connect_wait: config.connect_wait,
        });
        let mut devices: Vec<Option<SimulatedDevice>> = vec![None; config.count];
        let mut running = JoinSet::new();
        let mut next = 0;
        let mut failure = None;
        loop {
            while failure.is_none() && next < config.count && running.len() < config.concurrency {
                let shared = shared.clone();
                let device_id = config.device_id(next);
                let tags = config.tags(next);
                let device_knobs = knobs.get(next).copied().unwrap_or_default();
                let index = next;
                running.spawn(async move {
                    (
                        index,
                        shared.start_device(device_id, tags, device_knobs).await,
                    )
                });
                next += 1;
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            match joined {
                Ok((index, Ok(device))) => {
                    if let Some(slot) = devices.get_mut(index) {
                        *slot = Some(device);
                    }
                }
                Ok((_, Err(error))) => {
                    failure.get_or_insert(error);
                }
                Err(join_error) => {
                    failure.get_or_insert(FleetError::InvalidConfig(format!(
                        "a device start task failed: {join_error}"
                    )));
                }
            }
        }
        let devices: Vec<SimulatedDevice> = devices.into_iter().flatten().collect();
        if let Some(error) = failure {
            shutdown_all(&devices).await;
            return Err(error);
        }
        Ok(Self {
            devices,
            service: endpoint.service,
        })
    }

    /// The number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether the fleet has no devices (never, once started).
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Device `index` (in id order).
    pub fn device(&self, index: usize) -> Option<&SimulatedDevice> {
        self.devices.get(index)
    }

    /// The device with id `device_id`.
    pub fn find(&self, device_id: &str) -> Option<&SimulatedDevice> {
        self.devices.iter().find(|d| d.device_id() == device_id)
    }

    /// Every device, in id order.
    pub fn devices(&self) -> &[SimulatedDevice] {
        &self.devices
    }

    /// The service client the fleet registered its devices with.
    pub fn service(&self) -> &ServiceClient {
        &self.service
    }

    /// Totals over the fleet now.
    pub fn stats(&self) -> FleetStats {
        let now = OffsetDateTime::now_utc();
        let mut stats = FleetStats {
            devices: self.devices.len(),
            ..FleetStats::default()
        };
        for device in &self.devices {
            let state = device.state();
            match state.connection {
                DeviceConnection::Connected => stats.connected += 1,
                DeviceConnection::Offline => stats.offline += 1,
                DeviceConnection::Connecting
                | DeviceConnection::Retrying { .. }
                | DeviceConnection::Stopped => {}
            }
            if state.lock.state(now).is_locked() {
                stats.locked += 1;
            }
            let c = state.counters;
            stats.methods_received += c.methods_received;
            stats.methods_answered += c.methods_answered;
            stats.methods_ignored += c.methods_ignored;
            stats.patches_applied += c.patches_applied;
            stats.reports_sent += c.reports_sent;
            stats.errors += c.errors;
        }
        stats
    }

    /// Disconnects every device and returns once all their tasks have finished. The
    /// devices stay registered.
    pub async fn shutdown(self) {
        shutdown_all(&self.devices).await;
    }
}

async fn shutdown_all(devices: &[SimulatedDevice]) {
    // Cancel all first so that they disconnect in parallel, then wait for each.
    for device in devices {
        device.stop();
    }
    for device in devices {
        device.shutdown().await;
    }
}

/// What every device start needs.
struct Shared {
    service: ServiceClient,
    device_host: String,
    device_options: DeviceClientOptions,
    connect_wait: Duration,
}

impl Shared {
    /// Registers (or reuses) and tags `device_id`, starts it and waits for its first
    /// connection attempt to end.
    async fn start_device(
        &self,
        device_id: String,
        tags: Map<String, Value>,
        knobs: Knobs,
    ) -> Result<SimulatedDevice, FleetError> {
        let register_error = |source| FleetError::Register {
            device_id: device_id.clone(),
            source,
        };
        let identity = self.register(&device_id).await.map_err(register_error)?;
        let key = identity
            .authentication
            .as_ref()
            .and_then(|auth| auth.symmetric_key.as_ref())
            .and_then(SymmetricKey::expose_primary_key)
            .ok_or_else(|| FleetError::NoKey {
                device_id: device_id.clone(),
            })?;
        let connection_string: DeviceConnectionString = format!(
            "HostName={};DeviceId={device_id};SharedAccessKey={key}",
            self.device_host
        )
        .parse()?;
        let patch = Twin {
            tags: Some(tags),
            ..Twin::default()
        };
        retry_throttled(|| self.service.patch_twin(&device_id, &patch, &IfMatch::Any))
            .await
            .map_err(register_error)?;
        let device = SimulatedDevice::spawn(connection_string, self.device_options.clone(), knobs);
        // Bound the number of connections in progress, not just of registrations.
        device
            .wait_for(self.connect_wait, |s| {
                !matches!(s.connection, DeviceConnection::Connecting)
            })
            .await;
        Ok(device)
    }

    /// Creates the device with generated keys, or reads it if it exists.
    async fn register(&self, device_id: &str) -> Result<DeviceIdentity, ServiceError> {
        let identity = DeviceIdentity {
            status: Some(DeviceStatus::Enabled),
            authentication: Some(AuthenticationMechanism {
                symmetric_key: Some(SymmetricKey::default()),
                auth_type: Some(AuthenticationType::Sas),
                ..AuthenticationMechanism::default()
            }),
            ..DeviceIdentity::default()
        };
        let created = retry_throttled(|| self.service.create_device(device_id, &identity)).await;
        match created {
            Err(error) if error.is_conflict() => {
                retry_throttled(|| self.service.get_device(device_id)).await
            }
            other => other,
        }
    }
}

/// Runs `call` again while the hub answers 429, with a growing jittered delay.
async fn retry_throttled<T, F>(mut call: impl FnMut() -> F) -> Result<T, ServiceError>
where
    F: Future<Output = Result<T, ServiceError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(error) if error.is_throttled() && attempt + 1 < THROTTLE_ATTEMPTS => {
                let ceiling = Duration::from_secs(1) * 2u32.pow(attempt);
                tokio::time::sleep(ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(count: usize) -> FleetConfig {
        FleetConfig::new(
            HubTarget::LocalHub {
                dir: PathBuf::from("unused"),
            },
            count,
        )
    }

    #[test]
    fn ids_and_tags_spread_over_buildings_and_floors() {
        let mut config = config(20);
        config.buildings = 2;
        config.floors = 3;
        assert_eq!(config.device_id(7), "sim-0007");
        let tags: Vec<(u64, u64)> = (0..8).map(|i| building_and_floor(i, 2, 3)).collect();
        assert_eq!(
            tags,
            [
                (1, 1),
                (2, 1),
                (1, 2),
                (2, 2),
                (1, 3),
                (2, 3),
                (1, 1),
                (2, 1)
            ]
        );
        assert_eq!(
            Value::Object(config.tags(3)),
            json!({"building": 2, "floor": 2})
        );
        let in_building_1 = (0..20)
            .filter(|&i| building_and_floor(i, 2, 3).0 == 1)
            .count();
        assert_eq!(in_building_1, 10);
    }

    #[test]
    fn knob_plans_are_exact_and_deterministic() {
        let plan = KnobPlan {
            error_fraction: 0.1,
            error_status: 503,
            silent_fraction: 0.25,
            offline_fraction: 0.05,
            seed: 7,
            per_device: BTreeMap::new(),
        };
        let knobs = plan_knobs(20, &plan);
        let count = |f: &dyn Fn(&Knobs) -> bool| knobs.iter().filter(|k| f(k)).count();
        assert_eq!(count(&|k| k.respond_with_status == Some(503)), 2);
        assert_eq!(count(&|k| k.never_respond), 5);
        assert_eq!(count(&|k| k.offline), 1);
        assert_eq!(count(&|k| !k.is_set()), 12);
        assert_eq!(plan_knobs(20, &plan), knobs);
        let other_seed = plan_knobs(
            20,
            &KnobPlan {
                seed: 8,
                ..plan.clone()
            },
        );
        assert_ne!(other_seed, knobs);

        // Per-device knobs win.
        let silent = Knobs {
            never_respond: true,
            ..Knobs::NONE
        };
        let plan = KnobPlan {
            per_device: BTreeMap::from([(3, silent)]),
            ..KnobPlan::default()
        };
        let knobs = plan_knobs(5, &plan);
        assert_eq!(
            knobs,
            [Knobs::NONE, Knobs::NONE, Knobs::NONE, silent, Knobs::NONE]
        );
    }

    #[test]
    fn invalid_configs_are_refused() {
        let cases: Vec<(FleetConfig, &str)> = vec![
            (config(0), "count must be at least 1"),
            (
                FleetConfig {
                    buildings: 0,
                    ..config(1)
                },
                "buildings and floors must be at least 1",
            ),
            (
                FleetConfig {
                    concurrency: 0,
                    ..config(1)
                },
                "concurrency must be at least 1",
            ),
            (
                FleetConfig {
                    knobs: KnobPlan {
                        error_fraction: 1.5,
                        ..KnobPlan::default()
                    },
                    ..config(1)
                },
                "the error fraction must be between 0 and 1, not 1.5",
            ),
            (
                FleetConfig {
                    knobs: KnobPlan {
                        error_fraction: 0.6,
                        offline_fraction: 0.6,
                        ..KnobPlan::default()
                    },
                    ..config(1)
                },
                "the error, silent and offline fractions add up to more than 1",
            ),
            (
                FleetConfig {
                    knobs: KnobPlan {
                        per_device: BTreeMap::from([(4, Knobs::NONE)]),
                        ..KnobPlan::default()
                    },
                    ..config(4)
                },
                "knobs for device 4, but the fleet has 4",
            ),
        ];
        for (config, message) in cases {
            match config.validate() {
                Err(FleetError::InvalidConfig(got)) => assert_eq!(got, message),
                other => panic!("{message}: {other:?}"),
            }
        }
        let bad_prefix = FleetConfig {
            id_prefix: "a/b".to_owned(),
            ..config(1)
        };
        assert!(matches!(
            bad_prefix.validate(),
            Err(FleetError::InvalidConfig(message)) if message.starts_with("device ids such as 'a/b-0000'")
        ));
    }

    #[tokio::test]
    async fn a_dir_without_a_hub_is_reported() {
        let dir = std::env::temp_dir().join(format!("simulator-{}", uuid::Uuid::new_v4()));
        let error = Fleet::start(FleetConfig::new(
            HubTarget::LocalHub { dir: dir.clone() },
            1,
        ))
        .await
        .err();
        assert!(
            matches!(&error, Some(FleetError::NoLocalHub { dir: d }) if *d == dir),
            "{error:?}"
        );
    }
}
