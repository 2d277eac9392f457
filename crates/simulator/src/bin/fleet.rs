//! `fleet`: runs a fleet of simulated door locks against a hub until Ctrl-C.
//!
//! ```text
//! fleet --hub-dir DIR --count N [--prefix sim] [--buildings 5] [--floors 10]
//!       [--error-fraction 0.0] [--silent-fraction 0.0] [--offline-fraction 0.0]
//! fleet --service-connection-string '…' --count N …   (or IOTHUB_SERVICE_CONNECTION_STRING)
//! ```
//!
//! Prints a status line every few seconds and a summary on exit. The service connection
//! string is never printed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use iothub::auth::ServiceConnectionString;
use simulator::{Fleet, FleetConfig, FleetStats, HubTarget, KnobPlan};

/// The environment variable read when `--service-connection-string` is not given.
const CONNECTION_STRING_ENV: &str = "IOTHUB_SERVICE_CONNECTION_STRING";

/// Runs a fleet of simulated door locks against a local hub or an Azure IoT Hub.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The data dir of a running localhub (reads its localhub.json).
    #[arg(long, value_name = "DIR", conflicts_with = "service_connection_string")]
    hub_dir: Option<PathBuf>,
    /// A service connection string with registry write and service connect permissions
    /// (default: $IOTHUB_SERVICE_CONNECTION_STRING).
    #[arg(long, value_name = "STRING", hide_default_value = true)]
    service_connection_string: Option<String>,
    /// How many devices.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Device ids are PREFIX-0000, PREFIX-0001, …
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Spread the `building` tag over 1..=N.
    #[arg(long, default_value_t = 5)]
    buildings: u32,
    /// Spread the `floor` tag over 1..=N.
    #[arg(long, default_value_t = 10)]
    floors: u32,
    /// Share of devices that answer every method with --error-status.
    #[arg(long, default_value_t = 0.0)]
    error_fraction: f64,
    /// The status those devices answer with.
    #[arg(long, default_value_t = 500)]
    error_status: i32,
    /// Share of devices that never answer methods.
    #[arg(long, default_value_t = 0.0)]
    silent_fraction: f64,
    /// Share of devices that stay offline.
    #[arg(long, default_value_t = 0.0)]
    offline_fraction: f64,
    /// Seed picking which devices misbehave.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Devices registered and connected at the same time.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds between status lines.
    #[arg(long, default_value_t = 5)]
    status_every: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let hub = hub_target(&args)?;
    let config = FleetConfig {
        id_prefix: args.prefix.clone(),
        buildings: args.buildings,
        floors: args.floors,
        concurrency: args.concurrency,
        knobs: KnobPlan {
            error_fraction: args.error_fraction,
            error_status: args.error_status,
            silent_fraction: args.silent_fraction,
            offline_fraction: args.offline_fraction,
            seed: args.seed,
            ..KnobPlan::default()
        },
        ..FleetConfig::new(hub, args.count)
    };
    eprintln!("starting {} devices ({}-…)", args.count, args.prefix);
    let fleet = Fleet::start(config)
        .await
        .context("the fleet did not start")?;
    println!("{}", status_line(&fleet.stats()));

    let mut ticks = tokio::time::interval(Duration::from_secs(args.status_every.max(1)));
    ticks.tick().await;
    loop {
        tokio::select! {
            signal = tokio::signal::ctrl_c() => {
                signal.context("cannot listen for Ctrl-C")?;
                break;
            }
            _ = ticks.tick() => println!("{}", status_line(&fleet.stats())),
        }
    }
    let stats = fleet.stats();
    eprintln!("stopping…");
    fleet.shutdown().await;
    println!("summary: {}", status_line(&stats));
    Ok(())
}

fn hub_target(args: &Args) -> anyhow::Result<HubTarget> {
    if let Some(dir) = &args.hub_dir {
        return Ok(HubTarget::LocalHub { dir: dir.clone() });
    }
    let text = match &args.service_connection_string {
        Some(text) => text.clone(),
        None => match std::env::var(CONNECTION_STRING_ENV) {
            Ok(text) => text,
            Err(_) => bail!(
                "give --hub-dir DIR, or --service-connection-string (or {CONNECTION_STRING_ENV})"
            ),
        },
    };
    // The parse error names the problem, never the value.
    let service_connection_string: ServiceConnectionString = text
        .parse()
        .context("the service connection string is invalid")?;
    Ok(HubTarget::Azure {
        service_connection_string,
    })
}

fn status_line(stats: &FleetStats) -> String {
    format!(
        "connected {}/{} (offline {}) · locked {} · methods {} received, {} answered, {} ignored · patches {} · reports {} · errors {}",
        stats.connected,
        stats.devices,
        stats.offline,
        stats.locked,
        stats.methods_received,
        stats.methods_answered,
        stats.methods_ignored,
        stats.patches_applied,
        stats.reports_sent,
        stats.errors,
    )
}
