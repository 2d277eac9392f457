//! `localhub`: runs a local Azure IoT Hub in the foreground, or manages the devices of one.
//!
//! ```text
//! localhub --data-dir DIR [--host localhost] [--mqtt-port 8883] [--https-port 8443]
//!          [--tier unlimited|F1|S1|S2|S3 [--units N]]
//! localhub --data-dir DIR device add ID     # prints the device's connection string
//! localhub --data-dir DIR device list
//! localhub --data-dir DIR info              # host, ports, CA path, service connection string
//! localhub --data-dir DIR method ID NAME [PAYLOAD] [--timeout S]   # invoke a direct method
//! localhub --data-dir DIR desired ID PATCH   # patch a twin's desired properties
//! ```
//!
//! `method` and `desired` go through the running hub's service API (HTTPS, the
//! connection details in DIR/localhub.json), exactly as any service client would: the way
//! to toggle a device, such as the Lockstep app's door lock, from outside.
//!
//! `--tier` emulates an IoT Hub tier's job limits (max active jobs, 429004 beyond them) and
//! its pace of job device operations (S1 10/s, S2 max(10, units)/s, S3 50 × units/s), so that
//! a job takes about as long as on a real hub; the default, `unlimited`, runs jobs as fast as
//! the machine allows.
//!
//! The hub runs until SIGINT or SIGTERM, then shuts down gracefully. The subcommands open the
//! database in DIR directly (no server needed, and fine while one runs). Logs go to stderr,
//! filtered by `RUST_LOG` (default `info`); keys and tokens are never logged.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use iothub::model::DeviceIdentity;
use localhub::hub::tier::{Tier, TierConfig};
use localhub::server::{self, Config, HubInfo};
use localhub::{Hub, IfMatch};

#[derive(Debug, Parser)]
#[command(name = "localhub", version, about = "A local Azure IoT Hub")]
struct Cli {
    /// Where the database, the certificates and localhub.json live (created if missing).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The host name clients use (in the certificate and the connection strings).
    #[arg(long, default_value = "localhost")]
    host: String,
    /// The MQTT/TLS port for devices (0: any free port).
    #[arg(long, default_value_t = 8883)]
    mqtt_port: u16,
    /// The HTTPS port for the service API (0: any free port).
    #[arg(long, default_value_t = 8443)]
    https_port: u16,
    /// The address to listen on (0.0.0.0 to accept devices from the network).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The IoT Hub tier to emulate (unlimited, F1, S1, S2 or S3, any case): its max active
    /// jobs and its pace of job device operations.
    #[arg(long, default_value = "unlimited", value_name = "TIER")]
    tier: Tier,
    /// The tier's number of units (1-200; F1 has 1, S3 at most 10).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(localhub::hub::tier::MAX_UNITS)))]
    units: u32,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage devices.
    Device {
        #[command(subcommand)]
        action: DeviceCommand,
    },
    /// Print the host name, ports, CA path and the iothubowner connection string.
    Info,
    /// Invoke a direct method on a connected device through the running hub, and print the
    /// device's status and answer.
    Method {
        /// The device id.
        device: String,
        /// The method name, e.g. lockDoor.
        name: String,
        /// The JSON payload, e.g. '{"lockTime":"1m"}' (default: none).
        payload: Option<String>,
        /// Seconds to wait for the device's answer (5-300).
        #[arg(long, default_value_t = 30,
              value_parser = clap::value_parser!(u32).range(5..=300))]
        timeout: u32,
    },
    /// Patch a device twin's desired properties through the running hub, and print the new
    /// desired version.
    Desired {
        /// The device id.
        device: String,
        /// A JSON object, e.g. '{"building":43,"floor":3}' (null removes a property).
        patch: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Register a device and print its connection string.
    Add {
        /// The device id.
        id: String,
    },
    /// List the registered devices.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(&cli),
        Some(Command::Device {
            action: DeviceCommand::Add { ref id },
        }) => add_device(&cli, id),
        Some(Command::Device {
            action: DeviceCommand::List,
        }) => list_devices(&cli),
        Some(Command::Info) => info(&cli),
        Some(Command::Method {
            ref device,
            ref name,
            ref payload,
            timeout,
        }) => invoke_method(&cli, device, name, payload.as_deref(), timeout),
        Some(Command::Desired {
            ref device,
            ref patch,
        }) => patch_desired(&cli, device, patch),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("localhub: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the hub until SIGINT or SIGTERM.
fn run(cli: &Cli) -> anyhow::Result<()> {
    let tier = TierConfig::new(cli.tier, cli.units).context("invalid --units")?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let config = Config {
            data_dir: cli.data_dir.clone(),
            host: cli.host.clone(),
            mqtt_port: cli.mqtt_port,
            https_port: cli.https_port,
            bind: cli.bind,
            tier,
        };
        let running = server::start(config)
            .await
            .context("localhub did not start")?;
        println!(
            "localhub is ready ({}); connection details are in {}",
            describe(tier),
            running.info_path().display()
        );
        wait_for_signal().await?;
        tracing::info!("shutting down");
        running.shutdown().await;
        Ok(())
    })
}

/// The tier for the ready line, e.g. `tier S1: 1 active job, 10 job device operations/s`.
fn describe(tier: TierConfig) -> String {
    let jobs = tier.max_active_jobs();
    let plural = if jobs == 1 { "" } else { "s" };
    match tier.device_ops_per_second() {
        Some(rate) => {
            format!("tier {tier}: {jobs} active job{plural}, {rate} job device operations/s")
        }
        None => format!("tier {tier}: {jobs} active job{plural}, jobs unthrottled"),
    }
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for SIGINT"),
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}

/// The host and HTTPS port of the hub in DIR: from localhub.json if a hub has run there,
/// else from the command line.
fn host_and_port(cli: &Cli) -> anyhow::Result<(String, u16)> {
    let info = HubInfo::read(&cli.data_dir).with_context(|| {
        format!(
            "cannot read {}",
            cli.data_dir.join(server::INFO_FILE).display()
        )
    })?;
    Ok(match info {
        Some(info) => (info.host_name, info.https_port),
        None => (cli.host.clone(), cli.https_port),
    })
}

fn open(cli: &Cli) -> anyhow::Result<(Hub, String, u16)> {
    let (host, https_port) = host_and_port(cli)?;
    let hub = server::open_hub(&cli.data_dir, &server::hub_host_name(&host, https_port))
        .with_context(|| format!("cannot open the hub in {}", cli.data_dir.display()))?;
    Ok((hub, host, https_port))
}

fn add_device(cli: &Cli, id: &str) -> anyhow::Result<()> {
    let (hub, host, _) = open(cli)?;
    hub.put_device(id, DeviceIdentity::default(), &IfMatch::Absent)
        .with_context(|| format!("cannot register device '{id}'"))?;
    let connection_string = server::device_connection_string(&hub, &host, id)
        .with_context(|| format!("cannot build the connection string of '{id}'"))?;
    println!("{}", connection_string.expose_secret_string());
    Ok(())
}

fn list_devices(cli: &Cli) -> anyhow::Result<()> {
    let (hub, _, _) = open(cli)?;
    let count = hub.device_count().context("cannot count the devices")?;
    let devices = hub
        .list_devices(usize::try_from(count).unwrap_or(usize::MAX))
        .context("cannot list the devices")?;
    for device in devices {
        let status = device.status.as_ref().map_or("enabled", |s| s.as_str());
        println!("{}\t{status}", device.device_id.unwrap_or_default());
    }
    Ok(())
}

fn info(cli: &Cli) -> anyhow::Result<()> {
    let (hub, host, https_port) = open(cli)?;
    let mqtt_port = HubInfo::read(&cli.data_dir)
        .ok()
        .flatten()
        .map_or(cli.mqtt_port, |info| info.mqtt_port);
    let connection_string = server::service_connection_string(&hub)
        .context("cannot build the service connection string")?;
    let ca = absolute(&cli.data_dir.join(localhub::certs::CA_CERT_FILE));
    println!("hostName: {host}");
    println!("httpsPort: {https_port}");
    println!("mqttPort: {mqtt_port}");
    if ca.exists() {
        println!("caCertificate: {}", ca.display());
    } else {
        println!(
            "caCertificate: {} (created when the hub first starts)",
            ca.display()
        );
    }
    println!(
        "serviceConnectionString: {}",
        connection_string.expose_secret_string()
    );
    Ok(())
}

/// A service client for the hub running on DIR (from its localhub.json), and a runtime to
/// drive it.
fn service_client(
    cli: &Cli,
) -> anyhow::Result<(tokio::runtime::Runtime, iothub::service::ServiceClient)> {
    use iothub::auth::ServiceConnectionString;
    use iothub::service::{ServiceClient, ServiceClientOptions};

    let file = cli.data_dir.join(server::INFO_FILE);
    let info = HubInfo::read(&cli.data_dir)
        .with_context(|| format!("cannot read {}", file.display()))?
        .with_context(|| {
            format!(
                "no hub has run in {} ({} is missing): start it first",
                cli.data_dir.display(),
                file.display()
            )
        })?;
    let ca_pem = std::fs::read(&info.ca_certificate)
        .with_context(|| format!("cannot read {}", info.ca_certificate.display()))?;
    let connection: ServiceConnectionString = info
        .service_connection_string
        .parse()
        .with_context(|| format!("the connection string in {} is not valid", file.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let options = ServiceClientOptions {
        extra_ca_pem: Some(ca_pem),
        ..ServiceClientOptions::default()
    };
    // reqwest's client needs a runtime around it when it is built.
    let client = runtime
        .block_on(async { ServiceClient::new(connection, options) })
        .context("cannot build the service client")?;
    Ok((runtime, client))
}

/// Parses a JSON argument, naming it in the error.
fn json_argument(what: &str, text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text).with_context(|| format!("the {what} is not valid JSON: {text}"))
}

fn invoke_method(
    cli: &Cli,
    device: &str,
    name: &str,
    payload: Option<&str>,
    timeout: u32,
) -> anyhow::Result<()> {
    use iothub::model::CloudToDeviceMethod;

    let payload = payload
        .map(|text| json_argument("payload", text))
        .transpose()?;
    let (runtime, client) = service_client(cli)?;
    let method = CloudToDeviceMethod {
        method_name: Some(name.to_owned()),
        payload,
        response_timeout_in_seconds: i32::try_from(timeout).ok(),
        connect_timeout_in_seconds: Some(0),
    };
    let answer = runtime
        .block_on(client.invoke_method(device, &method))
        .with_context(|| format!("'{name}' on '{device}' failed"))?;
    let status = answer.status.unwrap_or_default();
    println!("status: {status}");
    println!("payload: {}", answer.payload);
    anyhow::ensure!(
        (200..300).contains(&status),
        "the device answered '{name}' with status {status}"
    );
    Ok(())
}

fn patch_desired(cli: &Cli, device: &str, patch: &str) -> anyhow::Result<()> {
    use iothub::model::{Twin, TwinProperties};

    let serde_json::Value::Object(values) = json_argument("patch", patch)? else {
        anyhow::bail!("the patch must be a JSON object, e.g. '{{\"building\":43}}': {patch}");
    };
    let (runtime, client) = service_client(cli)?;
    let twin_patch: Twin = serde_json::from_value(serde_json::json!({
        "properties": { "desired": values }
    }))
    .context("the patch does not fit a twin")?;
    let twin = runtime
        .block_on(client.patch_twin(device, &twin_patch, &iothub::service::IfMatch::Any))
        .with_context(|| format!("patching the desired properties of '{device}' failed"))?;
    let version = twin
        .properties
        .and_then(|p: TwinProperties| p.desired)
        .and_then(|d| d.version);
    match version {
        Some(version) => println!("desired properties now at version {version}"),
        None => println!("desired properties patched"),
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
