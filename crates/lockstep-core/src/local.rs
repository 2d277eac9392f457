//! The local hub inside the app: localhub started in-process with its data under the app
//! data dir, on the standard ports 8883/8443 when they are free (so the official SDKs connect
//! without options) and on free ports otherwise, saying so.

use std::path::Path;
use std::time::Duration;

use iothub::auth::DeviceConnectionString;
use iothub::device::DeviceClientOptions;
use iothub::service::ServiceClient;
use localhub::server::{self, Config, RunningHub, StartError};
use serde_json::{Map, Value, json};

use crate::CoreError;
use crate::hub::{self, mask_connection_string};
use crate::view::{LocalHubView, MaskedSecret};

/// The standard MQTT/TLS port the official device SDKs use.
pub const STANDARD_MQTT_PORT: u16 = 8883;
/// The HTTPS port localhub uses by default.
pub const STANDARD_HTTPS_PORT: u16 = 8443;
/// The lock device registered on first run.
pub const DOOR_LOCK_ID: &str = "door-lock-1";

/// Which ports the local hub listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalHubPorts {
    /// 8883 and 8443 when free, else ports the OS picks (the app).
    Standard,
    /// Ports the OS picks (tests, which never bind fixed ports).
    Any,
}

/// The running local hub and a service client on it (as `iothubowner`).
#[derive(Debug)]
pub struct LocalHub {
    running: RunningHub,
    service: ServiceClient,
    preferred_ports: bool,
    port_note: Option<String>,
}

impl LocalHub {
    /// Starts localhub with its data in `data_dir`.
    pub async fn start(data_dir: &Path, ports: LocalHubPorts) -> Result<Self, CoreError> {
        let (mut mqtt_port, mut https_port) = match ports {
            LocalHubPorts::Standard => (STANDARD_MQTT_PORT, STANDARD_HTTPS_PORT),
            LocalHubPorts::Any => (0, 0),
        };
        let running = loop {
            let config = Config {
                mqtt_port,
                https_port,
                ..Config::new(data_dir)
            };
            match server::start(config).await {
                Ok(running) => break running,
                // A standard port is taken: let the OS pick that one instead.
                Err(StartError::Bind { address, source })
                    if address.port() != 0
                        && (address.port() == mqtt_port || address.port() == https_port) =>
                {
                    tracing::info!(port = address.port(), %source, "port taken, using a free one");
                    if address.port() == mqtt_port {
                        mqtt_port = 0;
                    } else {
                        https_port = 0;
                    }
                }
                Err(error) => return Err(CoreError::internal(start_failure(&error))),
            }
        };
        let preferred_ports = running.mqtt_port() == STANDARD_MQTT_PORT
            && running.https_port() == STANDARD_HTTPS_PORT;
        let port_note = port_note(ports, running.mqtt_port(), running.https_port());
        let service = hub::service_client(
            running.service_connection_string().clone(),
            Some(running.ca_pem()),
            false,
        )?;
        Ok(Self {
            running,
            service,
            preferred_ports,
            port_note,
        })
    }

    /// `host:httpsPort`, the hub's host name in connection strings and profiles.
    pub fn host_name(&self) -> String {
        server::hub_host_name(self.running.host(), self.running.https_port())
    }

    /// The CA certificate (PEM) every client of the app trusts.
    pub fn ca_pem(&self) -> &str {
        self.running.ca_pem()
    }

    /// A service client as `iothubowner`.
    pub fn service(&self) -> &ServiceClient {
        &self.service
    }

    /// The running hub.
    pub fn running(&self) -> &RunningHub {
        &self.running
    }

    /// Device client options for this hub: its MQTT port and CA.
    pub fn device_options(&self) -> DeviceClientOptions {
        DeviceClientOptions {
            port: Some(self.running.mqtt_port()),
            extra_ca_pem: Some(self.running.ca_pem().to_owned()),
            connect_timeout: Duration::from_secs(5),
            backoff_max: Duration::from_secs(15),
            ..DeviceClientOptions::default()
        }
    }

    /// A registered device's connection string (from the hub's own registry).
    pub fn device_connection_string(
        &self,
        device_id: &str,
    ) -> Result<DeviceConnectionString, CoreError> {
        self.running
            .device_connection_string(device_id)
            .map_err(|error| {
                CoreError::NotFound(format!(
                    "the local hub has no usable device '{device_id}': {error}"
                ))
            })
    }

    /// Registers the door lock of the tutorial, `door-lock-1`, tagged building 43, floor 1.
    pub async fn register_door_lock(&self) -> Result<(), CoreError> {
        hub::create_or_get_device(&self.service, DOOR_LOCK_ID).await?;
        let tags: Map<String, Value> = match json!({"building": 43, "floor": 1}) {
            Value::Object(tags) => tags,
            _ => Map::new(),
        };
        hub::set_tags(&self.service, DOOR_LOCK_ID, tags).await
    }

    /// What the local hub view shows, with `lock_device` the lock's device id, if any.
    pub fn view(&self, lock_device: Option<&str>) -> Result<LocalHubView, CoreError> {
        let device_connection_string = lock_device
            .and_then(|id| self.running.device_connection_string(id).ok())
            .map(|cs| MaskedSecret {
                masked: mask_connection_string(&cs.expose_secret_string()),
            });
        let device_count = self.running.hub().device_count().map_err(|error| {
            CoreError::internal(format!("cannot count the local hub's devices: {error}"))
        })?;
        Ok(LocalHubView {
            host_name: self.running.host().to_owned(),
            mqtt_port: self.running.mqtt_port(),
            https_port: self.running.https_port(),
            preferred_ports: self.preferred_ports,
            port_note: self.port_note.clone(),
            ca_path: self.running.ca_path().display().to_string(),
            data_dir: self.running.data_dir().display().to_string(),
            service_connection_string: MaskedSecret {
                masked: mask_connection_string(
                    &self
                        .running
                        .service_connection_string()
                        .expose_secret_string(),
                ),
            },
            device_connection_string,
            device_count,
        })
    }

    /// Stops the hub and waits until every task has finished.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// Why the local hub did not start, and what the user can do about it, in words.
pub fn start_failure(error: &StartError) -> String {
    let hint = match error {
        StartError::DataDir { .. } => {
            "Make sure that folder can be created and written to (a file with that name is in \
             the way, or its permissions forbid it), then retry."
                .to_owned()
        }
        StartError::Store(_) => format!(
            "Its database file ({}) is damaged or not a database: move it out of the data \
             directory to start with an empty local hub, then retry.",
            server::DATABASE_FILE
        ),
        StartError::Hub(_) => "Retry; if it fails again, move the data directory away to start \
             with an empty local hub."
            .to_owned(),
        StartError::Certs(_) => "The certificate files in the data directory are damaged: \
             remove them (the hub makes a new CA, which clients must trust again), then retry."
            .to_owned(),
        StartError::Bind { .. } => {
            "Another program holds that port: stop it, then retry.".to_owned()
        }
        StartError::BadHost { .. } => String::new(),
    };
    let sentence = format!("The local hub did not start: {error}.");
    if hint.is_empty() {
        sentence
    } else {
        format!("{sentence} {hint}")
    }
}

/// Why the hub does not use the standard ports, and what that means for the official SDKs.
fn port_note(ports: LocalHubPorts, mqtt_port: u16, https_port: u16) -> Option<String> {
    let mut notes = Vec::new();
    if ports == LocalHubPorts::Any {
        notes.push(format!(
            "This hub listens on ports the system picked: MQTT {mqtt_port}, HTTPS {https_port}."
        ));
    }
    if ports == LocalHubPorts::Standard && mqtt_port != STANDARD_MQTT_PORT {
        notes.push(format!(
            "Port {STANDARD_MQTT_PORT} was taken, so devices connect on {mqtt_port}. The \
             official device SDKs always use {STANDARD_MQTT_PORT} for MQTT: free that port and \
             restart Lockstep, or connect them over MQTT on WebSocket to port {https_port}."
        ));
    }
    if ports == LocalHubPorts::Standard && https_port != STANDARD_HTTPS_PORT {
        notes.push(format!(
            "Port {STANDARD_HTTPS_PORT} was taken, so the service API listens on {https_port}; \
             the service connection string includes that port."
        ));
    }
    (!notes.is_empty()).then(|| notes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_note_says_which_port_moved() {
        assert_eq!(port_note(LocalHubPorts::Standard, 8883, 8443), None);
        let note = port_note(LocalHubPorts::Standard, 40123, 8443).expect("note");
        assert!(
            note.starts_with("Port 8883 was taken, so devices connect on 40123."),
            "{note}"
        );
        let note = port_note(LocalHubPorts::Standard, 8883, 40124).expect("note");
        assert!(
            note.contains("8443 was taken") && note.contains("40124"),
            "{note}"
        );
        assert!(port_note(LocalHubPorts::Any, 1, 2).is_some());
    }
}
