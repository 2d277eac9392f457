//! A virtual door lock on the MQTT device client: answers the `lockDoor` direct method with
//! 200, reports `locked` to the twin, and prints desired-property patches.
//!
//! ```text
//! IOTHUB_DEVICE_CONNECTION_STRING='HostName=…;DeviceId=…;SharedAccessKey=…' \
//! [IOTHUB_CA_PEM=path/to/ca.pem] [IOTHUB_MQTT_PORT=8883] \
//! cargo run -p iothub --example door_lock
//! ```
//!
//! Nothing printed contains the key or a SAS token. Stop it with Ctrl-C.

use std::error::Error;

use iothub::auth::DeviceConnectionString;
use iothub::device::{ConnectionState, DeviceClient, DeviceClientOptions, DeviceEvent};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let connection_string: DeviceConnectionString =
        std::env::var("IOTHUB_DEVICE_CONNECTION_STRING")
            .map_err(|_| "set IOTHUB_DEVICE_CONNECTION_STRING")?
            .parse()?;
    let mut options = DeviceClientOptions::default();
    if let Ok(path) = std::env::var("IOTHUB_CA_PEM") {
        options.extra_ca_pem = Some(std::fs::read_to_string(path)?);
    }
    if let Ok(port) = std::env::var("IOTHUB_MQTT_PORT") {
        options.port = Some(port.parse()?);
    }
    println!("connecting as {connection_string}");
    let (client, mut events) = DeviceClient::connect(connection_string, options).await?;
    while let Some(event) = events.recv().await {
        match event {
            DeviceEvent::MethodRequest(request) if request.name == "lockDoor" => {
                println!("lockDoor {}", request.payload);
                let client = client.clone();
                tokio::spawn(async move {
                    let answer = json!({"locked": true, "request": request.payload});
                    if let Err(error) = client.respond_to_method(&request.rid, 200, answer).await {
                        eprintln!("answering lockDoor failed: {error}");
                    }
                    match client.patch_reported(json!({"locked": true})).await {
                        Ok(version) => println!("reported locked (version {version})"),
                        Err(error) => eprintln!("reporting failed: {error}"),
                    }
                });
            }
            DeviceEvent::MethodRequest(request) => {
                println!("unknown method {}", request.name);
                let client = client.clone();
                tokio::spawn(async move {
                    let answer = json!({"message": format!("no method {}", request.name)});
                    if let Err(error) = client.respond_to_method(&request.rid, 404, answer).await {
                        eprintln!("answering failed: {error}");
                    }
                });
            }
            DeviceEvent::DesiredPatch(patch) => {
                let kind = if patch.full {
                    "desired (full)"
                } else {
                    "desired patch"
                };
                println!(
                    "{kind} v{}: {}",
                    patch.version,
                    serde_json::Value::Object(patch.patch)
                );
            }
            DeviceEvent::ConnectionState(ConnectionState::Reconnecting {
                attempt,
                retry_in,
                cause,
            }) => println!("connection lost ({cause}); attempt {attempt} in {retry_in:.1?}"),
            DeviceEvent::ConnectionState(state) => println!("{state:?}"),
            DeviceEvent::Error(error) => eprintln!("{error}"),
        }
    }
    client.shutdown().await;
    Ok(())
}
