//! Direct-method round trip through localhub: how long one `invoke_method` takes from call to
//! answer when the device answers at once.
//!
//! ```text
//! cargo bench -p localhub --bench method_round_trip
//! BENCH_ITERATIONS=10000 cargo bench -p localhub --bench method_round_trip
//! ```
//!
//! One process, one multi-threaded tokio runtime: localhub started on 127.0.0.1 port 0 in a
//! temporary data dir, one `iothub` `DeviceClient` over MQTT/TLS that answers every method
//! with 200 as soon as it arrives, and the calls made one after another (never concurrently):
//!
//! 1. `ServiceClient::invoke_method`: HTTPS → hub → MQTT → device → MQTT → hub → HTTPS, the
//!    path an app's call takes (one kept-alive HTTPS connection; the SAS token is cached).
//! 2. `Hub::invoke_method` in-process: hub → MQTT → device → back, without HTTP, to isolate
//!    the MQTT leg.
//!
//! `BENCH_ITERATIONS` (default 2000) calls are timed per path after `BENCH_WARMUP` (default
//! 200) untimed ones. Prints the machine, then one Markdown table row per path: count, p50,
//! p90, p99, max, mean and throughput (calls per second of the timed run).

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use iothub::device::{DeviceClient, DeviceClientOptions, DeviceEvent};
use iothub::model::{CloudToDeviceMethod, DeviceIdentity};
use iothub::service::{ServiceClient, ServiceClientOptions};
use localhub::IfMatch;
use localhub::server::{self, Config};
use serde_json::json;

const DEVICE: &str = "bench-door";

fn main() -> ExitCode {
    let iterations = env_count("BENCH_ITERATIONS", 2000);
    let warmup = env_count("BENCH_WARMUP", 200);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    print_machine();
    match runtime.block_on(run(iterations, warmup)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("method_round_trip failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A positive count from the environment, or `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .filter(|&count: &usize| count > 0)
        .unwrap_or(default)
}

async fn run(iterations: usize, warmup: usize) -> Result<(), String> {
    let dir = TempDir::new()?;
    let config = Config {
        mqtt_port: 0,
        https_port: 0,
        ..Config::new(dir.0.clone())
    };
    let running = server::start(config)
        .await
        .map_err(|e| format!("localhub did not start: {e}"))?;
    let hub = running.hub().clone();
    hub.put_device(DEVICE, DeviceIdentity::default(), &IfMatch::Absent)
        .map_err(|e| format!("cannot register the device: {e}"))?;

    // The device: answers every method at once.
    let connection_string = running
        .device_connection_string(DEVICE)
        .map_err(|e| format!("no device connection string: {e}"))?;
    let options = DeviceClientOptions {
        port: Some(running.mqtt_port()),
        extra_ca_pem: Some(running.ca_pem().to_owned()),
        ..DeviceClientOptions::default()
    };
    let (device, mut events) = DeviceClient::connect(connection_string, options)
        .await
        .map_err(|e| format!("the device did not connect: {e}"))?;
    let responder = device.clone();
    let answering = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let DeviceEvent::MethodRequest(request) = event {
                let answer = json!({"locked": true});
                if responder
                    .respond_to_method(&request.rid, 200, answer)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hub.subscriptions(DEVICE).methods {
        if Instant::now() > deadline {
            return Err("the device did not subscribe to methods".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let service = ServiceClient::new(
        running.service_connection_string().clone(),
        ServiceClientOptions {
            extra_ca_pem: Some(running.ca_pem().as_bytes().to_vec()),
            ..ServiceClientOptions::default()
        },
    )
    .map_err(|e| format!("cannot build the service client: {e}"))?;
    let method = CloudToDeviceMethod {
        response_timeout_in_seconds: Some(5),
        ..CloudToDeviceMethod::new("lockDoor", json!({"lockTime": "10m"}))
    };

    let (service, hub, method) = (&service, &hub, &method);
    let https = measure(iterations, warmup, move || async move {
        let result = service
            .invoke_method(DEVICE, method)
            .await
            .map_err(|e| format!("invocation over HTTPS failed: {e}"))?;
        check(result.status)
    })
    .await?;
    let in_process = measure(iterations, warmup, move || async move {
        let result = hub
            .invoke_method(DEVICE, method)
            .await
            .map_err(|e| format!("in-process invocation failed: {e}"))?;
        check(result.status)
    })
    .await?;

    println!();
    println!("| path | count | p50 | p90 | p99 | max | mean | throughput |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    https.print_row("`ServiceClient::invoke_method` (HTTPS + MQTT)");
    in_process.print_row("`Hub::invoke_method` (in-process, MQTT only)");
    println!();
    println!("warm-up: {warmup} untimed calls per path before the timed ones");

    device.shutdown().await;
    let _ = answering.await;
    running.shutdown().await;
    Ok(())
}

fn check(status: Option<i32>) -> Result<(), String> {
    match status {
        Some(200) => Ok(()),
        other => Err(format!("the device answered {other:?}, not 200")),
    }
}

/// Runs `call` `warmup` times untimed, then `iterations` times timed, one after another.
async fn measure<F, Fut>(iterations: usize, warmup: usize, mut call: F) -> Result<Stats, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    for _ in 0..warmup {
        call().await?;
    }
    let mut samples = Vec::with_capacity(iterations);
    let started = Instant::now();
    for _ in 0..iterations {
        let begin = Instant::now();
        call().await?;
        samples.push(begin.elapsed());
    }
    let total = started.elapsed();
    Ok(Stats::new(samples, total))
}

/// Latency figures of one timed run.
struct Stats {
    sorted: Vec<Duration>,
    total: Duration,
}

impl Stats {
    fn new(mut samples: Vec<Duration>, total: Duration) -> Self {
        samples.sort_unstable();
        Self {
            sorted: samples,
            total,
        }
    }

    /// Nearest-rank percentile.
    fn percentile(&self, p: f64) -> Duration {
        let n = self.sorted.len();
        let rank = (p / 100.0 * n as f64).ceil() as usize;
        self.sorted[rank.clamp(1, n) - 1]
    }

    fn mean(&self) -> Duration {
        let sum: Duration = self.sorted.iter().sum();
        sum / u32::try_from(self.sorted.len()).unwrap_or(u32::MAX)
    }

    fn print_row(&self, label: &str) {
        let throughput = self.sorted.len() as f64 / self.total.as_secs_f64();
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {throughput:.0}/s |",
            self.sorted.len(),
            ms(self.percentile(50.0)),
            ms(self.percentile(90.0)),
            ms(self.percentile(99.0)),
            ms(self.sorted.last().copied().unwrap_or_default()),
            ms(self.mean()),
        );
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let profile = if cfg!(debug_assertions) {
        "debug (unoptimized: numbers not representative)"
    } else {
        "release (cargo bench)"
    };
    println!("Direct-method round trip through localhub");
    println!("- CPU: {cpu}");
    println!("- cores available: {cores}");
    println!("- OS: {} {}", std::env::consts::OS, std::env::consts::ARCH);
    println!("- rustc: {rustc}");
    println!("- profile: {profile}");
}

/// A temporary data dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let path =
            std::env::temp_dir().join(format!("localhub-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
