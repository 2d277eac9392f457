//! Starting and stopping a whole hub: data dir, store, certificates, both listeners, and
//! `localhub.json`, which tells clients where the hub is.
//!
//! [`start`] returns once both ports accept connections and `localhub.json` is written;
//! [`RunningHub::shutdown`] cancels every task and returns once all have finished. Every task
//! hangs off one [`CancellationToken`] and one [`TaskTracker`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use iothub::auth::{DeviceConnectionString, HostName, ServiceConnectionString};
use iothub::model::{ErrorCode, HubError};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::certs::{self, CertError, Certificates};
use crate::hub::tier::{Tier, TierConfig};
use crate::store::{Store, StoreError};
use crate::{Hub, http, mqtt};

/// What `localhub.json` is called in the data dir.
pub const INFO_FILE: &str = "localhub.json";
/// What the database is called in the data dir.
pub const DATABASE_FILE: &str = "hub.db";
/// The policy whose key goes into the service connection string of `localhub.json`.
pub const OWNER_POLICY: &str = "iothubowner";

/// Where and how a hub runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the database, the certificates and `localhub.json` live (created if missing).
    pub data_dir: PathBuf,
    /// The host name clients use: in the certificate, the connection strings and the SAS
    /// resource (default `localhost`). A DNS name or an IP address (IPv6 in brackets).
    pub host: String,
    /// The MQTT/TLS port for devices (default 8883; 0 picks a free port).
    pub mqtt_port: u16,
    /// The HTTPS port for the service API (default 8443; 0 picks a free port).
    pub https_port: u16,
    /// The address both ports listen on (default 127.0.0.1: only this machine). Use
    /// `0.0.0.0` to let devices on the network connect (with `host` set to a name they can
    /// resolve).
    pub bind: IpAddr,
    /// The IoT Hub tier to emulate: its max active jobs and its pace of job device
    /// operations (default unlimited: as fast as the machine allows).
    pub tier: TierConfig,
}

impl Config {
    /// The defaults, with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            host: "localhost".to_owned(),
            mqtt_port: 8883,
            https_port: 8443,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tier: TierConfig::default(),
        }
    }
}

/// Why a hub did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configured host is not a host name.
    #[error("'{host}' is not a usable host name: {detail}")]
    BadHost {
        /// The configured host.
        host: String,
        /// Why not.
        detail: String,
    },
    /// The data dir cannot be created or read.
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The database does not open.
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    /// The hub refused to start on the store (e.g. it could not create its policies).
    #[error("cannot start the hub: {0}")]
    Hub(HubError),
    /// The certificates cannot be loaded or created.
    #[error(transparent)]
    Certs(#[from] CertError),
    /// A port is taken or not allowed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
}

/// What `localhub.json` holds: where the hub is and how to reach it.
///
/// The file has mode 0600 because the connection string carries the owner key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubInfo {
    /// The host clients use, without a port (the ports are the two fields below).
    pub host_name: String,
    /// The MQTT/TLS port.
    pub mqtt_port: u16,
    /// The HTTPS port.
    pub https_port: u16,
    /// The `iothubowner` connection string, `HostName=<host>:<httpsPort>;…` (no port when
    /// it is 443).
    pub service_connection_string: String,
    /// The absolute path of the CA certificate to trust.
    pub ca_certificate: PathBuf,
    /// The emulated tier: `unlimited`, `F1`, `S1`, `S2` or `S3` (absent in files written
    /// before tiers existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The tier's number of units; absent for `unlimited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<u32>,
}

impl HubInfo {
    /// Reads `localhub.json` from `data_dir`; `Ok(None)` when there is none.
    pub fn read(data_dir: &Path) -> io::Result<Option<Self>> {
        match std::fs::read(data_dir.join(INFO_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The host name the hub answers as: `host:https_port`, or just `host` for 443 (what the
/// service SDKs put into URLs and SAS resources).
pub fn hub_host_name(host: &str, https_port: u16) -> String {
    if https_port == 443 {
        host.to_owned()
    } else {
        format!("{host}:{https_port}")
    }
}

/// The `iothubowner` connection string of `hub`, with the hub's host name.
pub fn service_connection_string(hub: &Hub) -> Result<ServiceConnectionString, HubError> {
    let policy = hub
        .policy(OWNER_POLICY)?
        .ok_or_else(|| internal(format!("the {OWNER_POLICY} policy is missing")))?;
    format!(
        "HostName={};SharedAccessKeyName={};SharedAccessKey={}",
        hub.host_name(),
        policy.name,
        policy.primary_key.expose_base64()
    )
    .parse()
    .map_err(|e| internal(format!("the service connection string does not parse: {e}")))
}

/// A registered device's connection string with its primary key and `HostName=<host>`,
/// without a port: the device SDKs have no port option (MQTT is 8883), and the MQTT front
/// end accepts SAS tokens signed for the host with or without one.
pub fn device_connection_string(
    hub: &Hub,
    host: &str,
    device_id: &str,
) -> Result<DeviceConnectionString, HubError> {
    let identity = hub.get_device(device_id)?;
    let key = identity
        .authentication
        .and_then(|auth| auth.symmetric_key)
        .and_then(|keys| keys.expose_primary_key().map(str::to_owned))
        .ok_or_else(|| {
            HubError::new(
                ErrorCode::ArgumentInvalid,
                format!("device '{device_id}' has no symmetric key"),
            )
        })?;
    format!("HostName={host};DeviceId={device_id};SharedAccessKey={key}")
        .parse()
        .map_err(|e| internal(format!("the device connection string does not parse: {e}")))
}

/// Opens the store in `data_dir` (creating the dir) and a [`Hub`] on it answering as
/// `host_name`; what [`start`] does first, and what the `localhub` subcommands use.
pub fn open_hub(data_dir: &Path, host_name: &str) -> Result<Hub, StartError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let store = Store::open(&data_dir.join(DATABASE_FILE))?;
    Hub::new(store, host_name).map_err(StartError::Hub)
}

/// A hub that is running: its handle, its ports and what clients need to connect.
///
/// Dropping it cancels every task without waiting; call [`RunningHub::shutdown`] to wait.
#[derive(Debug)]
pub struct RunningHub {
    hub: Hub,
    host: String,
    data_dir: PathBuf,
    mqtt_port: u16,
    https_port: u16,
    ca_pem: String,
    ca_path: PathBuf,
    service_connection_string: ServiceConnectionString,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// Starts a hub: creates the data dir, opens the store, loads or creates the certificates,
/// binds both ports, starts the HTTPS and MQTT front ends and writes `localhub.json`.
pub async fn start(config: Config) -> Result<RunningHub, StartError> {
    let host = config.host.trim().to_owned();
    // Any port makes the check: only the host part matters here.
    if let Err(error) = format!("{host}:1").parse::<HostName>() {
        return Err(StartError::BadHost {
            host,
            detail: error.to_string(),
        });
    }
    let data_dir = certs::absolute(&config.data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.clone(),
        source,
    })?;

    let https = bind(config.bind, config.https_port).await?;
    let mqtt_listener = bind(config.bind, config.mqtt_port).await?;
    let https_port = local_port(&https, config.bind, config.https_port)?;
    let mqtt_port = local_port(&mqtt_listener, config.bind, config.mqtt_port)?;

    let hub = open_hub(&data_dir, &hub_host_name(&host, https_port))?;
    hub.set_tier(config.tier);
    let certificates = Certificates::load_or_generate(&data_dir, &host)?;
    let https_tls = certificates.https_config()?;
    let mqtt_tls = certificates.mqtt_config()?;
    let service_connection_string = service_connection_string(&hub).map_err(StartError::Hub)?;

    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(http::serve(https, https_tls, hub.clone(), shutdown.clone()));
    tasks.spawn(mqtt::serve(
        mqtt_listener,
        mqtt_tls,
        hub.clone(),
        shutdown.clone(),
    ));
    // The job scheduler: stopped with the rest; jobs it leaves running resume at the next
    // start. LOCALHUB_JOBS_QUERY_FORM=object selects the jobs query's swagger body form.
    hub.set_jobs_query_form(crate::hub::jobs::JobsQueryForm::from_env());
    let scheduler = hub.clone();
    let scheduler_shutdown = shutdown.clone();
    tasks.spawn(async move { scheduler.run_jobs(scheduler_shutdown).await });
    tasks.close();

    let running = RunningHub {
        hub,
        host,
        data_dir,
        mqtt_port,
        https_port,
        ca_pem: certificates.ca_pem().to_owned(),
        ca_path: certificates.ca_path().to_owned(),
        service_connection_string,
        shutdown,
        tasks,
    };
    // Dropping `running` on failure stops the tasks just started.
    running.write_info()?;
    tracing::info!(
        host = %running.host,
        https_port,
        mqtt_port,
        data_dir = %running.data_dir.display(),
        tier = %config.tier,
        "localhub is running"
    );
    Ok(running)
}

impl RunningHub {
    /// The hub itself.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The host clients use, without a port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port devices connect to (MQTT over TLS).
    pub fn mqtt_port(&self) -> u16 {
        self.mqtt_port
    }

    /// The port of the service REST API (HTTPS).
    pub fn https_port(&self) -> u16 {
        self.https_port
    }

    /// The data dir (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The absolute path of `localhub.json`.
    pub fn info_path(&self) -> PathBuf {
        self.data_dir.join(INFO_FILE)
    }

    /// The CA certificate as PEM, for clients to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The absolute path of `ca.pem`.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The `iothubowner` connection string (`HostName=<host>:<httpsPort>`).
    pub fn service_connection_string(&self) -> &ServiceConnectionString {
        &self.service_connection_string
    }

    /// The connection string of a registered device (`HostName=<host>`, no port).
    pub fn device_connection_string(
        &self,
        device_id: &str,
    ) -> Result<DeviceConnectionString, HubError> {
        device_connection_string(&self.hub, &self.host, device_id)
    }

    /// What `localhub.json` says.
    pub fn info(&self) -> HubInfo {
        let tier = self.hub.tier();
        HubInfo {
            host_name: self.host.clone(),
            mqtt_port: self.mqtt_port,
            https_port: self.https_port,
            service_connection_string: self.service_connection_string.expose_secret_string(),
            ca_certificate: self.ca_path.clone(),
            tier: Some(tier.tier().name().to_owned()),
            units: (tier.tier() != Tier::Unlimited).then_some(tier.units()),
        }
    }

    /// Stops accepting connections, closes the open ones (letting requests in flight finish
    /// for a few seconds) and returns once every task has finished.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
        tracing::info!("localhub stopped");
    }

    fn write_info(&self) -> Result<(), StartError> {
        let path = self.info_path();
        let bytes = serde_json::to_vec_pretty(&self.info())
            .map_err(|e| StartError::Hub(internal(e.to_string())))?;
        certs::write_file(&path, &bytes, true)?;
        Ok(())
    }
}

impl Drop for RunningHub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn bind(ip: IpAddr, port: u16) -> Result<TcpListener, StartError> {
    let address = SocketAddr::new(ip, port);
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })
}

fn local_port(listener: &TcpListener, ip: IpAddr, port: u16) -> Result<u16, StartError> {
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|source| StartError::Bind {
            address: SocketAddr::new(ip, port),
            source,
        })
}

fn internal(message: impl Into<String>) -> HubError {
    HubError::new(ErrorCode::ServerError, message)
}
