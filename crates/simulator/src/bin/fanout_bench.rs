//! `fanout_bench`: how fast localhub fans a job out to a fleet of simulated door locks, and
//! how much memory a connected device costs, next to the same request/response pattern
//! through mosquitto on loopback. Not part of `make test`; run it by hand in release:
//!
//! ```text
//! cargo build --release -p simulator --bin fanout_bench
//! target/release/fanout_bench run --devices 1000,10000 --twin-devices 100000
//! ```
//!
//! `run` orchestrates child processes of this same binary, so that CPU time and RSS are
//! attributed to the right side:
//! - `hub`: localhub in-process on free ports (optionally with N devices registered straight
//!   into its store), until its stdin closes;
//! - `fleet`: a [`Fleet`] of simulated door locks connected to that hub over MQTT/TLS, until
//!   its stdin closes (`stats` on stdin prints its counters);
//! - `mqtt-fleet`: N plain MQTT 3.1.1 clients on mosquitto, each answering requests on its
//!   own topic with the door-lock model's answer.
//!
//! Children report on stdout, one JSON object per line (`{"event": …}`); `run` reads
//! `/proc/<pid>/{stat,status}` for CPU time (utime + stime) and RSS. The results are printed
//! as Markdown tables (and written to `--output` if given).
//!
//! The mosquitto reference uses a minimal MQTT client written here (CONNECT, SUBSCRIBE,
//! PUBLISH QoS 0/1, PUBACK) over plain TCP: the simulator crate has no MQTT library of its
//! own, and mosquitto does not speak IoT Hub's topics or SAS authentication. Requests go out
//! at QoS 0 and answers come back at QoS 1, as localhub's direct methods do.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use iothub::model::{
    CloudToDeviceMethod, DeviceIdentity, JobRequest, JobResponse, JobStatus, JobType, Twin,
};
use iothub::service::{ServiceClient, ServiceClientOptions};
use localhub::IfMatch;
use localhub::server::{self, Config, HubInfo};
use serde_json::{Value, json};
use simulator::{DoorLock, Fleet, FleetConfig, HubTarget};

/// The method every device job calls, and its payload (the jobs tutorial's).
const METHOD: &str = "lockDoor";

fn method_payload() -> Value {
    json!({"lockTime": "10m"})
}

#[derive(Parser)]
#[command(
    version,
    about = "Job fan-out benchmark: localhub + simulated fleet vs mosquitto"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the whole benchmark (starts the other subcommands as child processes).
    Run(RunArgs),
    /// Child: localhub in-process until stdin closes.
    Hub(HubArgs),
    /// Child: a fleet of simulated door locks on a running localhub until stdin closes.
    Fleet(FleetArgs),
    /// Child: N plain MQTT responders on a broker until stdin closes.
    MqttFleet(MqttFleetArgs),
}

/// How the mosquitto reference's clients reach the broker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
enum Transport {
    /// TLS 1.3 (rustls, ring) over loopback TCP, as localhub's devices connect.
    #[default]
    Tls,
    /// Plain loopback TCP.
    Plain,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Connected device counts for the method job (and the mosquitto reference).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    devices: Vec<usize>,
    /// Registered devices for the twin job (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    twin_devices: usize,
    /// How many of the twin job's devices are connected (the rest are offline).
    #[arg(long, default_value_t = 1000)]
    twin_connected: usize,
    /// Skip the mosquitto reference.
    #[arg(long)]
    skip_mosquitto: bool,
    /// The mosquitto broker binary.
    #[arg(long, default_value = "mosquitto")]
    mosquitto: PathBuf,
    /// The loopback port mosquitto listens on (plain TCP reference).
    #[arg(long, default_value_t = 18830)]
    mosquitto_port: u16,
    /// The loopback port mosquitto listens on with TLS (TLS reference).
    #[arg(long, default_value_t = 18831)]
    mosquitto_tls_port: u16,
    /// Which mosquitto references to run at each device count: `tls` (a TLS listener with a
    /// throwaway CA, clients on rustls, as localhub's devices), `plain` (TCP), or both.
    #[arg(long, value_delimiter = ',', default_value = "tls,plain")]
    reference: Vec<Transport>,
    /// Requests the mosquitto requester keeps in flight (0: all at once). The default is
    /// localhub's own dispatch limit, for a like-for-like reference.
    #[arg(long, default_value_t = 100)]
    mqtt_window: usize,
    /// Reference clients also publish their reported state (QoS 1, on `rep/{i}`) after each
    /// answer, as the simulated door locks send a reported PATCH after `lockDoor`
    /// (`--mqtt-report false`: answers only).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    mqtt_report: bool,
    /// Devices registered and connected at the same time (fleet and MQTT clients).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// localhub's job dispatch limit (devices of one job in flight); default: the hub's.
    #[arg(long)]
    dispatch_limit: Option<usize>,
    /// Milliseconds between job polls (GET /jobs/v2/{id}).
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Profile the hub with `perf record -g` for this many seconds from each job's creation
    /// (diagnosis only: perf slows the hub; do not report those timings).
    #[arg(long)]
    perf_secs: Option<u64>,
    /// Seconds to let connections settle (first twin GET and reported PATCH) before a job.
    #[arg(long, default_value_t = 3)]
    settle_secs: u64,
    /// Where hub data dirs go (wiped per run).
    #[arg(long, default_value = "/tmp/fanout-bench")]
    work_dir: PathBuf,
    /// Also write the Markdown results here.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct HubArgs {
    /// The hub's data dir.
    #[arg(long)]
    data_dir: PathBuf,
    /// Devices of one job in flight.
    #[arg(long)]
    dispatch_limit: Option<usize>,
    /// Register this many devices straight into the store after starting.
    #[arg(long, default_value_t = 0)]
    preregister: usize,
    /// Id prefix of those devices (ids as the fleet makes them: PREFIX-0000…).
    #[arg(long, default_value = "twin")]
    prefix: String,
}

#[derive(Args)]
struct FleetArgs {
    /// The hub's data dir (its localhub.json).
    #[arg(long)]
    hub_dir: PathBuf,
    /// How many devices.
    #[arg(long)]
    count: usize,
    /// Device id prefix.
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Devices registered and connected at the same time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

#[derive(Args)]
struct MqttFleetArgs {
    /// The broker's loopback port.
    #[arg(long)]
    port: u16,
    /// Connect with TLS, trusting this CA certificate (PEM); plain TCP without it.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// How many clients.
    #[arg(long)]
    count: usize,
    /// Clients connecting at the same time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Also publish the reported state after each answer (see `run --mqtt-report`).
    #[arg(long)]
    report: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Cmd::Run(args) => run(&runtime, &args),
        Cmd::Hub(args) => runtime.block_on(hub_child(args)),
        Cmd::Fleet(args) => runtime.block_on(fleet_child(args)),
        Cmd::MqttFleet(args) => runtime.block_on(mqtt_fleet_child(args)),
    }
}

// ----- /proc --------------------------------------------------------------------------------

/// CPU time and memory of one process.
#[derive(Debug, Clone, Copy, Default)]
struct ProcSample {
    /// utime + stime, seconds.
    cpu_secs: f64,
    /// VmRSS, KiB.
    rss_kb: u64,
    /// VmHWM (peak RSS), KiB.
    hwm_kb: u64,
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

fn sample(pid: u32) -> ProcSample {
    let ticks = clock_ticks();
    let mut out = ProcSample::default();
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        // Fields after the command: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        out.cpu_secs = (field(14) + field(15)) / ticks;
    }
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        for line in status.lines() {
            let value = |line: &str| {
                line.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            if line.starts_with("VmRSS:") {
                out.rss_kb = value(line);
            } else if line.starts_with("VmHWM:") {
                out.hwm_kb = value(line);
            }
        }
    }
    out
}

fn own_rss_kb() -> u64 {
    sample(std::process::id()).rss_kb
}

/// Prints one event line for the parent.
fn emit(event: Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{event}");
    let _ = stdout.flush();
}

/// Lines read from stdin, on a thread, as a channel; `None` once stdin closes.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

// ----- children -----------------------------------------------------------------------------

async fn hub_child(args: HubArgs) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&args.data_dir);
    let mut config = Config::new(&args.data_dir);
    config.mqtt_port = 0;
    config.https_port = 0;
    let running = server::start(config)
        .await
        .context("localhub did not start")?;
    if let Some(limit) = args.dispatch_limit {
        running.hub().set_job_dispatch_limit(limit);
    }
    emit(json!({"event": "ready", "rss_kb": own_rss_kb()}));
    let mut lines = stdin_lines();
    if args.preregister > 0 {
        let hub = running.hub().clone();
        let prefix = args.prefix.clone();
        let count = args.preregister;
        let started = Instant::now();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for index in 0..count {
                let id = format!("{prefix}-{index:04}");
                hub.put_device(&id, DeviceIdentity::default(), &IfMatch::Absent)
                    .map_err(|e| anyhow!("cannot register {id}: {e}"))?;
            }
            Ok(())
        })
        .await??;
        emit(json!({
            "event": "registered",
            "count": count,
            "seconds": started.elapsed().as_secs_f64(),
            "rss_kb": own_rss_kb(),
        }));
    }
    while lines.recv().await.is_some() {}
    running.shutdown().await;
    Ok(())
}

async fn fleet_child(args: FleetArgs) -> anyhow::Result<()> {
    emit(json!({"event": "baseline", "rss_kb": own_rss_kb()}));
    let config = FleetConfig {
        id_prefix: args.prefix.clone(),
        concurrency: args.concurrency,
        ..FleetConfig::new(
            HubTarget::LocalHub {
                dir: args.hub_dir.clone(),
            },
            args.count,
        )
    };
    let started = Instant::now();
    let fleet = Fleet::start(config)
        .await
        .context("the fleet did not start")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while fleet.stats().connected < args.count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = fleet.stats();
    emit(json!({
        "event": "ready",
        "seconds": started.elapsed().as_secs_f64(),
        "connected": stats.connected,
        "rss_kb": own_rss_kb(),
    }));
    let mut lines = stdin_lines();
    while let Some(line) = lines.recv().await {
        if line.trim() == "stats" {
            let s = fleet.stats();
            emit(json!({
                "event": "stats",
                "connected": s.connected,
                "methods_received": s.methods_received,
                "methods_answered": s.methods_answered,
                "patches_applied": s.patches_applied,
                "reports_sent": s.reports_sent,
                "errors": s.errors,
                "rss_kb": own_rss_kb(),
            }));
        }
    }
    fleet.shutdown().await;
    Ok(())
}

async fn mqtt_fleet_child(args: MqttFleetArgs) -> anyhow::Result<()> {
    let broker = mqtt::Broker {
        port: args.port,
        tls: args.ca.as_deref().map(client_tls).transpose()?,
    };
    emit(json!({"event": "baseline", "rss_kb": own_rss_kb()}));
    let started = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let (done, mut connected) = tokio::sync::mpsc::unbounded_channel();
    let answered = Arc::new(AtomicUsize::new(0));
    for index in 0..args.count {
        let permits = permits.clone();
        let done = done.clone();
        let answered = answered.clone();
        let broker = broker.clone();
        tokio::spawn(async move {
            let permit = permits.acquire_owned().await;
            let client = mqtt::Client::connect(&broker, &format!("ref-{index}"), 0).await;
            let client = match client {
                Ok(mut client) => match client.subscribe(&format!("req/{index}/#"), 0).await {
                    Ok(()) => client,
                    Err(error) => {
                        let _ = done.send(Err(error.to_string()));
                        return;
                    }
                },
                Err(error) => {
                    let _ = done.send(Err(error.to_string()));
                    return;
                }
            };
            drop(permit);
            let _ = done.send(Ok(()));
            let _ = responder(client, index, args.report, &answered).await;
        });
    }
    drop(done);
    let mut ok = 0usize;
    let mut failures = Vec::new();
    for _ in 0..args.count {
        match connected.recv().await {
            Some(Ok(())) => ok += 1,
            Some(Err(error)) => failures.push(error),
            None => break,
        }
    }
    emit(json!({
        "event": "ready",
        "seconds": started.elapsed().as_secs_f64(),
        "connected": ok,
        "first_error": failures.first(),
        "rss_kb": own_rss_kb(),
    }));
    let mut lines = stdin_lines();
    while let Some(line) = lines.recv().await {
        if line.trim() == "stats" {
            emit(json!({
                "event": "stats",
                "methods_answered": answered.load(Ordering::Relaxed),
                "rss_kb": own_rss_kb(),
            }));
        }
    }
    Ok(())
}

/// A rustls client configuration (ring) trusting only the CA certificate in `ca`.
fn client_tls(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(&pem).context("the CA is not a PEM certificate")?)?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Answers every request on `req/{index}/{method}?rid={rid}` on `res/{index}/{status}?rid={rid}`
/// (QoS 1) with what the door-lock model answers; with `report`, then publishes the model's
/// reported properties on `rep/{index}` (QoS 1), the reference's reported PATCH.
async fn responder(
    mut client: mqtt::Client,
    index: usize,
    report: bool,
    answered: &AtomicUsize,
) -> std::io::Result<()> {
    let mut lock = DoorLock::new();
    loop {
        let mqtt::Packet::Publish { topic, payload, .. } = client.read().await? else {
            continue;
        };
        let Some((path, rid)) = topic.split_once("?rid=") else {
            continue;
        };
        let method = path.rsplit('/').next().unwrap_or_default();
        let body: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
        let outcome = lock.on_method(method, &body, time::OffsetDateTime::now_utc());
        let answer = serde_json::to_vec(&outcome.payload).unwrap_or_default();
        client
            .publish(
                &format!("res/{index}/{}?rid={rid}", outcome.status),
                &answer,
                1,
            )
            .await?;
        if report {
            let reported = lock.reported(time::OffsetDateTime::now_utc());
            let reported = serde_json::to_vec(&reported).unwrap_or_default();
            client
                .publish(&format!("rep/{index}"), &reported, 1)
                .await?;
        }
        client.flush().await?;
        answered.fetch_add(1, Ordering::Relaxed);
    }
}

// ----- a minimal MQTT 3.1.1 client ----------------------------------------------------------

mod mqtt {
    //! Just enough MQTT 3.1.1 for the reference: CONNECT, SUBSCRIBE, PUBLISH (QoS 0 and 1),
    //! PUBACK, over plain TCP.

    use std::io;
    use std::sync::Arc;

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
    use tokio::net::TcpStream;

    /// A byte stream to the broker: plain TCP or TLS over TCP.
    pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
    impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

    /// How to reach the broker: its loopback port, and a TLS client configuration (trusting
    /// the bench's throwaway CA) when it listens with TLS.
    #[derive(Clone)]
    pub struct Broker {
        pub port: u16,
        pub tls: Option<Arc<rustls::ClientConfig>>,
    }

    /// A packet read from the broker.
    pub enum Packet {
        ConnAck { code: u8 },
        SubAck,
        Publish { topic: String, payload: Vec<u8> },
        Other,
    }

    /// One client connection. Reads and writes never overlap (a client either reads or
    /// writes), so one buffered stream serves both: reads through the outer `BufReader`,
    /// writes through the inner `BufWriter`.
    pub struct Client {
        stream: BufReader<BufWriter<Box<dyn Io>>>,
        next_id: u16,
    }

    fn push_len(out: &mut Vec<u8>, mut len: usize) {
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            out.push(byte);
            if len == 0 {
                break;
            }
        }
    }

    fn push_str(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(&(text.len() as u16).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }

    fn packet(first: u8, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 5);
        out.push(first);
        push_len(&mut out, body.len());
        out.extend_from_slice(body);
        out
    }

    impl Client {
        /// Connects (clean session) and waits for CONNACK.
        pub async fn connect(
            broker: &Broker,
            client_id: &str,
            keep_alive: u16,
        ) -> io::Result<Self> {
            let tcp = TcpStream::connect(("127.0.0.1", broker.port)).await?;
            tcp.set_nodelay(true)?;
            let stream: Box<dyn Io> = match &broker.tls {
                Some(config) => {
                    let name = rustls_pki_types::ServerName::try_from("127.0.0.1")
                        .map_err(io::Error::other)?;
                    Box::new(
                        tokio_rustls::TlsConnector::from(config.clone())
                            .connect(name, tcp)
                            .await?,
                    )
                }
                None => Box::new(tcp),
            };
            let mut client = Self {
                stream: BufReader::with_capacity(4096, BufWriter::with_capacity(4096, stream)),
                next_id: 1,
            };
            let mut body = Vec::new();
            push_str(&mut body, "MQTT");
            body.push(4);
            body.push(0x02);
            body.extend_from_slice(&keep_alive.to_be_bytes());
            push_str(&mut body, client_id);
            client.stream.write_all(&packet(0x10, &body)).await?;
            client.stream.flush().await?;
            match client.read().await? {
                Packet::ConnAck { code: 0 } => Ok(client),
                Packet::ConnAck { code } => Err(io::Error::other(format!("CONNACK {code}"))),
                _ => Err(io::Error::other("expected CONNACK")),
            }
        }

        fn packet_id(&mut self) -> u16 {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            id
        }

        /// Subscribes to one filter and waits for SUBACK.
        pub async fn subscribe(&mut self, filter: &str, qos: u8) -> io::Result<()> {
            let mut body = Vec::new();
            body.extend_from_slice(&self.packet_id().to_be_bytes());
            push_str(&mut body, filter);
            body.push(qos);
            self.stream.write_all(&packet(0x82, &body)).await?;
            self.stream.flush().await?;
            loop {
                if let Packet::SubAck = self.read().await? {
                    return Ok(());
                }
            }
        }

        /// Queues a PUBLISH (call [`Client::flush`] to send).
        pub async fn publish(&mut self, topic: &str, payload: &[u8], qos: u8) -> io::Result<()> {
            let mut body = Vec::with_capacity(topic.len() + payload.len() + 4);
            push_str(&mut body, topic);
            if qos > 0 {
                let id = self.packet_id();
                body.extend_from_slice(&id.to_be_bytes());
            }
            body.extend_from_slice(payload);
            self.stream
                .write_all(&packet(0x30 | (qos << 1), &body))
                .await
        }

        /// Sends what is queued.
        pub async fn flush(&mut self) -> io::Result<()> {
            self.stream.flush().await
        }

        /// Reads the next packet; acknowledges QoS 1 publishes.
        pub async fn read(&mut self) -> io::Result<Packet> {
            let first = self.stream.read_u8().await?;
            let mut len = 0usize;
            let mut shift = 0;
            loop {
                let byte = self.stream.read_u8().await?;
                len |= usize::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    break;
                }
                shift += 7;
                if shift > 21 {
                    return Err(io::Error::other("bad remaining length"));
                }
            }
            let mut body = vec![0u8; len];
            self.stream.read_exact(&mut body).await?;
            Ok(match first >> 4 {
                2 => Packet::ConnAck {
                    code: body.get(1).copied().unwrap_or(255),
                },
                9 => Packet::SubAck,
                3 => {
                    let qos = (first >> 1) & 3;
                    let short = || io::Error::other("short PUBLISH");
                    let len = body.get(0..2).ok_or_else(short)?;
                    let topic_len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                    let topic =
                        String::from_utf8_lossy(body.get(2..2 + topic_len).ok_or_else(short)?)
                            .into_owned();
                    let mut at = 2 + topic_len;
                    let packet_id = if qos > 0 {
                        let id = body.get(at..at + 2).ok_or_else(short)?;
                        at += 2;
                        Some(u16::from_be_bytes([id[0], id[1]]))
                    } else {
                        None
                    };
                    if let Some(id) = packet_id {
                        let mut ack = vec![0x40, 2];
                        ack.extend_from_slice(&id.to_be_bytes());
                        self.stream.write_all(&ack).await?;
                        self.stream.flush().await?;
                    }
                    Packet::Publish {
                        topic,
                        payload: body.get(at..).unwrap_or_default().to_vec(),
                    }
                }
                _ => Packet::Other,
            })
        }
    }
}

// ----- the orchestrator -------------------------------------------------------------------

/// A child process of this binary, its stdout as parsed event lines.
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::Receiver<Value>,
}

impl Proc {
    fn spawn(name: &str, args: &[String]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find this binary")?;
        Self::spawn_program(name, &exe, args)
    }

    fn spawn_program(name: &str, program: &Path, args: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", program.display()))?;
        let stdin = child.stdin.take();
        let (sender, events) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let label = name.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    match serde_json::from_str::<Value>(&line) {
                        Ok(value) => {
                            if sender.send(value).is_err() {
                                break;
                            }
                        }
                        Err(_) => eprintln!("[{label}] {line}"),
                    }
                }
            });
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            stdin,
            events,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn sample(&self) -> ProcSample {
        sample(self.pid())
    }

    /// Waits for the event `kind`, skipping others.
    fn expect(&mut self, kind: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) if event["event"] == kind => return Ok(event),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{}: no '{kind}' within {timeout:?}", self.name)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.try_wait().ok().flatten();
                    bail!("{} exited before '{kind}' ({status:?})", self.name)
                }
            }
        }
    }

    fn send(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("{}: stdin closed", self.name))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Asks for `stats` and returns the answer.
    fn stats(&mut self) -> anyhow::Result<Value> {
        self.send("stats")?;
        self.expect("stats", Duration::from_secs(30))
    }

    /// Closes stdin and waits for the exit (killing it after `grace`).
    fn finish(mut self, grace: Duration) {
        drop(self.stdin.take());
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not exit in {grace:?}; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn kb(event: &Value) -> u64 {
    event["rss_kb"].as_u64().unwrap_or(0)
}

fn secs(event: &Value) -> f64 {
    event["seconds"].as_f64().unwrap_or(f64::NAN)
}

/// One method job over N connected devices.
#[derive(Debug, Default)]
struct MethodRun {
    devices: usize,
    connected: u64,
    connect_secs: f64,
    job_wall_secs: f64,
    hub_secs: f64,
    succeeded: i64,
    failed: i64,
    answered: u64,
    hub_cpu: f64,
    fleet_cpu: f64,
    hub_rss: (u64, u64, u64),
    fleet_rss: (u64, u64, u64),
    hub_hwm: u64,
    error: Option<String>,
}

/// One twin job over N registered devices.
#[derive(Debug, Default)]
struct TwinRun {
    devices: usize,
    connected: u64,
    register_secs: f64,
    connect_secs: f64,
    job_wall_secs: f64,
    hub_secs: f64,
    succeeded: i64,
    failed: i64,
    patches_applied: u64,
    hub_cpu: f64,
    hub_rss: (u64, u64, u64),
    hub_hwm: u64,
    error: Option<String>,
}

/// The mosquitto reference at N clients.
#[derive(Debug, Default)]
struct MqttRun {
    transport: Transport,
    devices: usize,
    connected: u64,
    connect_secs: f64,
    wall_secs: f64,
    responses: usize,
    broker_cpu: f64,
    clients_cpu: f64,
    requester_cpu: f64,
    broker_rss: (u64, u64),
    clients_rss: (u64, u64),
    error: Option<String>,
}

fn run(runtime: &tokio::runtime::Runtime, args: &RunArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("cannot create {}", args.work_dir.display()))?;
    let load_before = load_average();
    let started = time::OffsetDateTime::now_utc();
    let mut methods = Vec::new();
    let mut references = Vec::new();
    for &count in &args.devices {
        eprintln!("== method job over {count} connected devices");
        let run = method_run(runtime, args, count).unwrap_or_else(|error| {
            eprintln!("method run at {count} failed: {error:#}");
            MethodRun {
                devices: count,
                error: Some(format!("{error:#}")),
                ..MethodRun::default()
            }
        });
        eprintln!("{run:?}");
        methods.push(run);
        for &transport in args.reference.iter().filter(|_| !args.skip_mosquitto) {
            eprintln!("== mosquitto reference ({transport:?}) at {count} clients");
            let reference = mqtt_run(runtime, args, count, transport).unwrap_or_else(|error| {
                eprintln!("mosquitto run ({transport:?}) at {count} failed: {error:#}");
                MqttRun {
                    transport,
                    devices: count,
                    error: Some(format!("{error:#}")),
                    ..MqttRun::default()
                }
            });
            eprintln!("{reference:?}");
            references.push(reference);
        }
    }
    let twin = (args.twin_devices > 0).then(|| {
        eprintln!("== twin job over {} registered devices", args.twin_devices);
        let run = twin_run(runtime, args).unwrap_or_else(|error| {
            eprintln!("twin run failed: {error:#}");
            TwinRun {
                devices: args.twin_devices,
                error: Some(format!("{error:#}")),
                ..TwinRun::default()
            }
        });
        eprintln!("{run:?}");
        run
    });
    let load_after = load_average();
    let report = report(
        args,
        started,
        &load_before,
        &load_after,
        &methods,
        &references,
        twin.as_ref(),
    );
    println!("{report}");
    if let Some(path) = &args.output {
        std::fs::write(path, &report)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn service_client(dir: &Path) -> anyhow::Result<ServiceClient> {
    let info =
        HubInfo::read(dir)?.ok_or_else(|| anyhow!("no localhub.json in {}", dir.display()))?;
    let ca = std::fs::read(&info.ca_certificate)?;
    let connection = info.service_connection_string.parse()?;
    Ok(ServiceClient::new(
        connection,
        ServiceClientOptions {
            extra_ca_pem: Some(ca),
            ..ServiceClientOptions::default()
        },
    )?)
}

fn hub_args(dir: &Path, args: &RunArgs) -> Vec<String> {
    let mut out = vec![
        "hub".to_owned(),
        "--data-dir".to_owned(),
        dir.display().to_string(),
    ];
    if let Some(limit) = args.dispatch_limit {
        out.extend(["--dispatch-limit".to_owned(), limit.to_string()]);
    }
    out
}

fn fleet_args(dir: &Path, count: usize, prefix: &str, concurrency: usize) -> Vec<String> {
    vec![
        "fleet".to_owned(),
        "--hub-dir".to_owned(),
        dir.display().to_string(),
        "--count".to_owned(),
        count.to_string(),
        "--prefix".to_owned(),
        prefix.to_owned(),
        "--concurrency".to_owned(),
        concurrency.to_string(),
    ]
}

/// What polling a job to its end saw.
struct JobTiming {
    wall_secs: f64,
    hub_secs: f64,
    job: JobResponse,
}

/// Creates the job and polls it until it is over.
async fn time_job(
    service: &ServiceClient,
    job_id: &str,
    request: &JobRequest,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<JobTiming> {
    let started = Instant::now();
    service
        .schedule_job(job_id, request)
        .await
        .context("cannot create the job")?;
    loop {
        let job = service
            .get_job(job_id)
            .await
            .context("cannot poll the job")?;
        if let Some(JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled) = job.status {
            let wall_secs = started.elapsed().as_secs_f64();
            let hub_secs = match (
                job.start_time.and_then(|t| t.instant()),
                job.end_time.and_then(|t| t.instant()),
            ) {
                (Some(start), Some(end)) => (end - start).as_seconds_f64(),
                _ => f64::NAN,
            };
            return Ok(JobTiming {
                wall_secs,
                hub_secs,
                job,
            });
        }
        if started.elapsed() > timeout {
            bail!("job {job_id} still {:?} after {timeout:?}", job.status);
        }
        tokio::time::sleep(poll).await;
    }
}

/// Starts `perf record` on the hub if `--perf-secs` asks for it.
fn start_perf(args: &RunArgs, hub: &Proc, label: &str) -> anyhow::Result<Option<Child>> {
    let Some(seconds) = args.perf_secs else {
        return Ok(None);
    };
    let output = args.work_dir.join(format!("perf-hub-{label}.data"));
    let child = Command::new("perf")
        .args(["record", "-F", "499", "-g", "-p"])
        .arg(hub.pid().to_string())
        .arg("-o")
        .arg(&output)
        .args(["--", "sleep"])
        .arg(seconds.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start perf")?;
    eprintln!("perf: recording the hub into {}", output.display());
    // perf needs a moment to attach.
    std::thread::sleep(Duration::from_millis(300));
    Ok(Some(child))
}

fn wait_perf(perf: Option<Child>) {
    if let Some(mut child) = perf {
        let _ = child.wait();
    }
}

fn method_run(
    runtime: &tokio::runtime::Runtime,
    args: &RunArgs,
    count: usize,
) -> anyhow::Result<MethodRun> {
    let dir = args.work_dir.join(format!("hub-method-{count}"));
    let mut hub = Proc::spawn("hub", &hub_args(&dir, args))?;
    hub.expect("ready", Duration::from_secs(60))?;
    let hub_before = hub.sample();
    let mut fleet = Proc::spawn("fleet", &fleet_args(&dir, count, "sim", args.concurrency))?;
    let fleet_baseline = fleet.expect("baseline", Duration::from_secs(30))?;
    let ready = fleet.expect("ready", Duration::from_secs(1800))?;
    eprintln!(
        "fleet: {} connected in {:.1} s",
        ready["connected"],
        secs(&ready)
    );
    std::thread::sleep(Duration::from_secs(args.settle_secs));
    let hub_connected = hub.sample();
    let fleet_connected = fleet.sample();
    let service = service_client(&dir)?;
    let request = JobRequest {
        job_type: Some(JobType::ScheduleDeviceMethod),
        cloud_to_device_method: Some(CloudToDeviceMethod {
            response_timeout_in_seconds: Some(30),
            connect_timeout_in_seconds: Some(0),
            ..CloudToDeviceMethod::new(METHOD, method_payload())
        }),
        query_condition: Some("*".to_owned()),
        max_execution_time_in_seconds: Some(3600),
        ..JobRequest::default()
    };
    let perf = start_perf(args, &hub, &format!("method-{count}"))?;
    let timing = runtime.block_on(time_job(
        &service,
        &format!("method-{count}"),
        &request,
        Duration::from_millis(args.poll_ms),
        Duration::from_secs(900),
    ))?;
    let hub_after = hub.sample();
    let fleet_after = fleet.sample();
    wait_perf(perf);
    // Give the fleet's counters a moment (answers are counted after they are sent).
    std::thread::sleep(Duration::from_millis(500));
    let stats = fleet.stats()?;
    let statistics = timing.job.device_job_statistics.unwrap_or_default();
    let run = MethodRun {
        devices: count,
        connected: ready["connected"].as_u64().unwrap_or(0),
        connect_secs: secs(&ready),
        job_wall_secs: timing.wall_secs,
        hub_secs: timing.hub_secs,
        succeeded: i64::from(statistics.succeeded_count),
        failed: i64::from(statistics.failed_count),
        answered: stats["methods_answered"].as_u64().unwrap_or(0),
        hub_cpu: hub_after.cpu_secs - hub_connected.cpu_secs,
        fleet_cpu: fleet_after.cpu_secs - fleet_connected.cpu_secs,
        hub_rss: (hub_before.rss_kb, hub_connected.rss_kb, hub_after.rss_kb),
        fleet_rss: (
            kb(&fleet_baseline),
            fleet_connected.rss_kb,
            fleet_after.rss_kb,
        ),
        hub_hwm: hub_after.hwm_kb,
        error: (timing.job.status != Some(JobStatus::Completed)).then(|| {
            format!(
                "job ended {:?}: {:?}",
                timing.job.status, timing.job.failure_reason
            )
        }),
    };
    fleet.finish(Duration::from_secs(60));
    hub.finish(Duration::from_secs(30));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(run)
}

fn twin_run(runtime: &tokio::runtime::Runtime, args: &RunArgs) -> anyhow::Result<TwinRun> {
    let count = args.twin_devices;
    let dir = args.work_dir.join(format!("hub-twin-{count}"));
    let mut hub_command = hub_args(&dir, args);
    hub_command.extend([
        "--preregister".to_owned(),
        count.to_string(),
        "--prefix".to_owned(),
        "twin".to_owned(),
    ]);
    let mut hub = Proc::spawn("hub", &hub_command)?;
    hub.expect("ready", Duration::from_secs(60))?;
    let registered = hub.expect("registered", Duration::from_secs(3600))?;
    eprintln!("hub: {count} registered in {:.1} s", secs(&registered));
    let connected_count = args.twin_connected.min(count);
    let mut fleet = None;
    let mut ready = Value::Null;
    let mut patches_before = 0;
    if connected_count > 0 {
        let mut proc = Proc::spawn(
            "fleet",
            &fleet_args(&dir, connected_count, "twin", args.concurrency),
        )?;
        proc.expect("baseline", Duration::from_secs(30))?;
        ready = proc.expect("ready", Duration::from_secs(1800))?;
        std::thread::sleep(Duration::from_secs(args.settle_secs));
        patches_before = proc.stats()?["patches_applied"].as_u64().unwrap_or(0);
        fleet = Some(proc);
    }
    let hub_before = hub.sample();
    let service = service_client(&dir)?;
    let update: Twin = serde_json::from_value(json!({
        "etag": "*",
        "tags": {"campaign": "bench"},
        "properties": {"desired": {"building": 42, "floor": 7}},
    }))?;
    let request = JobRequest {
        job_type: Some(JobType::ScheduleUpdateTwin),
        update_twin: Some(update),
        query_condition: Some("*".to_owned()),
        max_execution_time_in_seconds: Some(3600),
        ..JobRequest::default()
    };
    let perf = start_perf(args, &hub, &format!("twin-{count}"))?;
    let timing = runtime.block_on(time_job(
        &service,
        &format!("twin-{count}"),
        &request,
        Duration::from_millis(args.poll_ms),
        Duration::from_secs(1800),
    ))?;
    let hub_after = hub.sample();
    wait_perf(perf);
    let patches = match fleet.as_mut() {
        Some(proc) => {
            std::thread::sleep(Duration::from_millis(500));
            proc.stats()?["patches_applied"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(patches_before)
        }
        None => 0,
    };
    let statistics = timing.job.device_job_statistics.unwrap_or_default();
    let run = TwinRun {
        devices: count,
        connected: ready["connected"].as_u64().unwrap_or(0),
        register_secs: secs(&registered),
        connect_secs: if connected_count > 0 {
            secs(&ready)
        } else {
            0.0
        },
        job_wall_secs: timing.wall_secs,
        hub_secs: timing.hub_secs,
        succeeded: i64::from(statistics.succeeded_count),
        failed: i64::from(statistics.failed_count),
        patches_applied: patches,
        hub_cpu: hub_after.cpu_secs - hub_before.cpu_secs,
        hub_rss: (kb(&registered), hub_before.rss_kb, hub_after.rss_kb),
        hub_hwm: hub_after.hwm_kb,
        error: (timing.job.status != Some(JobStatus::Completed)).then(|| {
            format!(
                "job ended {:?}: {:?}",
                timing.job.status, timing.job.failure_reason
            )
        }),
    };
    if let Some(proc) = fleet {
        proc.finish(Duration::from_secs(60));
    }
    hub.finish(Duration::from_secs(30));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(run)
}

/// Writes a throwaway CA and a server certificate for 127.0.0.1 (localhub's own certificate
/// code, the same kind of chain localhub serves) into `dir`; returns the mosquitto TLS lines
/// and the CA path for the clients.
fn mosquitto_tls(dir: &Path) -> anyhow::Result<(String, PathBuf)> {
    use localhub::certs::{CA_CERT_FILE, Certificates, SERVER_CERT_FILE, SERVER_KEY_FILE};
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    Certificates::load_or_generate(&dir, "127.0.0.1")
        .context("cannot generate the reference's certificates")?;
    let ca = dir.join(CA_CERT_FILE);
    let lines = format!(
        "cafile {}\ncertfile {}\nkeyfile {}\ntls_version tlsv1.3\n",
        ca.display(),
        dir.join(SERVER_CERT_FILE).display(),
        dir.join(SERVER_KEY_FILE).display(),
    );
    Ok((lines, ca))
}

fn mqtt_run(
    runtime: &tokio::runtime::Runtime,
    args: &RunArgs,
    count: usize,
    transport: Transport,
) -> anyhow::Result<MqttRun> {
    let (port, tls_lines, ca) = match transport {
        Transport::Plain => (args.mosquitto_port, String::new(), None),
        Transport::Tls => {
            let (lines, ca) = mosquitto_tls(&args.work_dir.join("mosquitto-tls"))?;
            (args.mosquitto_tls_port, lines, Some(ca))
        }
    };
    let broker_addr = mqtt::Broker {
        port,
        tls: ca.as_deref().map(client_tls).transpose()?,
    };
    let conf = args.work_dir.join("mosquitto.conf");
    // `user root`: the bench runs as root, and mosquitto would otherwise switch to the
    // `mosquitto` user, who cannot read the key the bench just wrote (mode 0600).
    std::fs::write(
        &conf,
        format!(
            "user root\nlistener {port} 127.0.0.1\n{tls_lines}allow_anonymous true\npersistence false\n\
             max_connections -1\nmax_queued_messages 0\nset_tcp_nodelay true\nlog_dest stderr\n\
             log_type error\nlog_type warning\n",
        ),
    )?;
    let broker = Proc::spawn_program(
        "mosquitto",
        &args.mosquitto,
        &["-c".to_owned(), conf.display().to_string()],
    )?;
    // Wait for the port.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("mosquitto does not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let broker_before = broker.sample();
    let mut clients = Proc::spawn(
        "mqtt-fleet",
        &[
            "mqtt-fleet".to_owned(),
            "--port".to_owned(),
            port.to_string(),
            "--count".to_owned(),
            count.to_string(),
            "--concurrency".to_owned(),
            args.concurrency.to_string(),
        ]
        .into_iter()
        .chain(args.mqtt_report.then(|| "--report".to_owned()))
        .chain(
            ca.iter()
                .flat_map(|ca| ["--ca".to_owned(), ca.display().to_string()]),
        )
        .collect::<Vec<_>>(),
    )?;
    let baseline = clients.expect("baseline", Duration::from_secs(30))?;
    let ready = clients.expect("ready", Duration::from_secs(600))?;
    if let Some(error) = ready["first_error"].as_str() {
        eprintln!("mqtt-fleet: a client failed to connect: {error}");
    }
    std::thread::sleep(Duration::from_secs(1));
    let broker_connected = broker.sample();
    let clients_connected = clients.sample();
    let me = std::process::id();
    let me_before = sample(me);
    let (wall, responses) = runtime.block_on(request_all(
        &broker_addr,
        count,
        args.mqtt_window,
        Duration::from_secs(300),
    ))?;
    let me_after = sample(me);
    let broker_after = broker.sample();
    let clients_after = clients.sample();
    let run = MqttRun {
        transport,
        devices: count,
        connected: ready["connected"].as_u64().unwrap_or(0),
        connect_secs: secs(&ready),
        wall_secs: wall.as_secs_f64(),
        responses,
        broker_cpu: broker_after.cpu_secs - broker_connected.cpu_secs,
        clients_cpu: clients_after.cpu_secs - clients_connected.cpu_secs,
        requester_cpu: me_after.cpu_secs - me_before.cpu_secs,
        broker_rss: (broker_before.rss_kb, broker_connected.rss_kb),
        clients_rss: (kb(&baseline), clients_connected.rss_kb),
        error: (responses < count).then(|| format!("{responses}/{count} answers")),
    };
    clients.finish(Duration::from_secs(2));
    // mosquitto stops on SIGTERM; std only sends SIGKILL, which is fine for a broker
    // without persistence.
    drop(broker);
    Ok(run)
}

/// Publishes one request per client (QoS 0) and waits for every answer; returns the time
/// from the first publish to the last answer.
async fn request_all(
    broker: &mqtt::Broker,
    count: usize,
    window: usize,
    timeout: Duration,
) -> anyhow::Result<(Duration, usize)> {
    // Answers arrive on their own connection, read by their own task, so that reading them
    // never waits behind writing requests.
    let mut answers = mqtt::Client::connect(broker, "ref-requester-in", 0).await?;
    answers.subscribe("res/#", 0).await?;
    let mut sender = mqtt::Client::connect(broker, "ref-requester-out", 0).await?;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(if window == 0 {
        tokio::sync::Semaphore::MAX_PERMITS
    } else {
        window
    }));
    let payload = serde_json::to_vec(&method_payload())?;
    let started = Instant::now();
    let reader_permits = in_flight.clone();
    let reader = tokio::spawn(async move {
        let mut seen = vec![false; count];
        let mut unique = 0usize;
        while unique < count {
            let mqtt::Packet::Publish { topic, .. } = answers.read().await? else {
                continue;
            };
            let rid = topic
                .split_once("?rid=")
                .and_then(|(_, rid)| rid.parse::<usize>().ok());
            if let Some(slot) = rid.and_then(|rid| seen.get_mut(rid))
                && !*slot
            {
                *slot = true;
                unique += 1;
                reader_permits.add_permits(1);
            }
        }
        Ok::<_, std::io::Error>((started.elapsed(), unique))
    });
    let mut queue: VecDeque<usize> = (0..count).collect();
    while let Some(index) = queue.pop_front() {
        let permit = match in_flight.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                sender.flush().await?;
                in_flight.clone().acquire_owned().await?
            }
        };
        permit.forget();
        sender
            .publish(&format!("req/{index}/{METHOD}?rid={index}"), &payload, 0)
            .await?;
    }
    sender.flush().await?;
    let (elapsed, unique) = tokio::time::timeout(timeout, reader)
        .await
        .map_err(|_| anyhow!("not every answer came within {timeout:?}"))???;
    Ok((elapsed, unique))
}

// ----- the report -------------------------------------------------------------------------

fn per_device_kb(before: u64, after: u64, devices: u64) -> f64 {
    if devices == 0 {
        return f64::NAN;
    }
    (after as f64 - before as f64) / devices as f64
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &RunArgs,
    started: time::OffsetDateTime,
    load_before: &str,
    load_after: &str,
    methods: &[MethodRun],
    references: &[MqttRun],
    twin: Option<&TwinRun>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run started {started} (UTC); load average before: {load_before}, after: {load_after}."
    );
    let _ = writeln!(
        out,
        "Options: concurrency {}, dispatch limit {}, poll every {} ms, settle {} s, mosquitto window {}, mosquitto clients report after answering: {}.\n",
        args.concurrency,
        args.dispatch_limit
            .map_or_else(|| "hub default".to_owned(), |l| l.to_string()),
        args.poll_ms,
        args.settle_secs,
        if args.mqtt_window == 0 {
            "unbounded".to_owned()
        } else {
            args.mqtt_window.to_string()
        },
        if args.mqtt_report { "yes" } else { "no" },
    );
    let _ = writeln!(
        out,
        "### Method job (`{METHOD}`) over connected simulated devices\n"
    );
    let _ = writeln!(
        out,
        "| devices | connected (connect time) | job wall time | hub start→end | succeeded / failed | device ops/s | hub CPU | fleet CPU | hub RSS empty → connected → after job | hub RSS per device | fleet RSS per device | note |"
    );
    let _ = writeln!(
        out,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for m in methods {
        let ops = m.succeeded as f64 / m.job_wall_secs;
        let _ = writeln!(
            out,
            "| {} | {} ({:.1} s) | {:.3} s | {:.3} s | {} / {} | {:.0} | {:.2} s | {:.2} s | {} → {} → {} MiB | {:.1} KiB | {:.1} KiB | {} |",
            m.devices,
            m.connected,
            m.connect_secs,
            m.job_wall_secs,
            m.hub_secs,
            m.succeeded,
            m.failed,
            ops,
            m.hub_cpu,
            m.fleet_cpu,
            m.hub_rss.0 / 1024,
            m.hub_rss.1 / 1024,
            m.hub_rss.2 / 1024,
            per_device_kb(m.hub_rss.0, m.hub_rss.1, m.connected),
            per_device_kb(m.fleet_rss.0, m.fleet_rss.1, m.connected),
            m.error.clone().unwrap_or_else(|| format!(
                "{} answers counted by the fleet; hub peak RSS {} MiB",
                m.answered,
                m.hub_hwm / 1024
            )),
        );
    }
    if !references.is_empty() {
        let _ = writeln!(
            out,
            "\n### Reference: the same request/response through mosquitto (loopback; TLS as localhub's devices, and plain TCP)\n"
        );
        let _ = writeln!(
            out,
            "| transport | clients | connected (connect time) | wall time (first request → last answer) | answers | round trips/s | broker CPU | clients CPU | requester CPU | broker RSS idle → connected | broker RSS per client | clients RSS per client | note |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for r in references {
            let _ = writeln!(
                out,
                "| {} | {} | {} ({:.1} s) | {:.3} s | {} | {:.0} | {:.2} s | {:.2} s | {:.2} s | {} → {} MiB | {:.1} KiB | {:.1} KiB | {} |",
                match r.transport {
                    Transport::Tls => "TLS 1.3",
                    Transport::Plain => "TCP",
                },
                r.devices,
                r.connected,
                r.connect_secs,
                r.wall_secs,
                r.responses,
                r.responses as f64 / r.wall_secs,
                r.broker_cpu,
                r.clients_cpu,
                r.requester_cpu,
                r.broker_rss.0 / 1024,
                r.broker_rss.1 / 1024,
                per_device_kb(r.broker_rss.0, r.broker_rss.1, r.connected),
                per_device_kb(r.clients_rss.0, r.clients_rss.1, r.connected),
                r.error.clone().unwrap_or_default(),
            );
        }
    }
    for r in references {
        if let Some(m) = methods
            .iter()
            .find(|m| m.devices == r.devices && m.error.is_none())
        {
            let ops = m.succeeded as f64 / m.job_wall_secs;
            let round_trips = r.responses as f64 / r.wall_secs;
            let per_device = |cpu: f64| cpu * 1e6 / r.devices as f64;
            let _ = writeln!(
                out,
                "\nAt {} devices, localhub vs mosquitto over {}: {:.0} vs {:.0} per second ({:.2}×); server CPU per device {:.0} µs vs {:.0} µs.",
                r.devices,
                match r.transport {
                    Transport::Tls => "TLS",
                    Transport::Plain => "plain TCP",
                },
                ops,
                round_trips,
                ops / round_trips,
                per_device(m.hub_cpu),
                per_device(r.broker_cpu),
            );
        }
    }
    if let Some(t) = twin {
        let _ = writeln!(
            out,
            "\n### Twin job over registered devices (mostly offline)\n"
        );
        let _ = writeln!(
            out,
            "| registered | connected | register time (in-process) | job wall time | hub start→end | succeeded / failed | device ops/s | hub CPU | desired patches applied by the fleet | hub RSS registered → before job → after job (peak) | note |"
        );
        let _ = writeln!(
            out,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        let _ = writeln!(
            out,
            "| {} | {} ({:.1} s) | {:.1} s | {:.3} s | {:.3} s | {} / {} | {:.0} | {:.2} s | {} | {} → {} → {} ({}) MiB | {} |",
            t.devices,
            t.connected,
            t.connect_secs,
            t.register_secs,
            t.job_wall_secs,
            t.hub_secs,
            t.succeeded,
            t.failed,
            t.succeeded as f64 / t.job_wall_secs,
            t.hub_cpu,
            t.patches_applied,
            t.hub_rss.0 / 1024,
            t.hub_rss.1 / 1024,
            t.hub_rss.2 / 1024,
            t.hub_hwm / 1024,
            t.error.clone().unwrap_or_default(),
        );
    }
    out
}
