//! Fills a job archive with many finished jobs and one job with many device results, so the
//! app's timeline and results table can be measured at scale (tests/bin/measure-jobs-ui).
//!
//! ```text
//! cargo run --release -p lockstep-jobs --example seed_archive -- \
//!     <archive.sqlite3> <profile id> <jobs> <device rows of the biggest job>
//! ```
//!
//! The jobs are `completed` method jobs spread over the last 7 days, so the app does not poll
//! them; the biggest one is named `big-job` and holds the device rows (a few failed).

use std::path::PathBuf;
use std::process::ExitCode;

use iothub::model::{DeviceJob, JobResponse};
use lockstep_jobs::archive::Archive;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, profile, jobs, rows] = args.as_slice() else {
        eprintln!("usage: seed_archive <archive.sqlite3> <profile id> <jobs> <device rows>");
        return ExitCode::from(2);
    };
    let (Ok(jobs), Ok(rows)) = (jobs.parse::<u32>(), rows.parse::<u32>()) else {
        eprintln!("seed_archive: <jobs> and <device rows> must be whole numbers");
        return ExitCode::from(2);
    };
    match seed(&PathBuf::from(path), profile, jobs, rows) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("seed_archive: {error}");
            ExitCode::FAILURE
        }
    }
}

fn at(time: OffsetDateTime) -> Result<String, Box<dyn std::error::Error>> {
    Ok(time.format(&Rfc3339)?)
}

fn seed(
    path: &std::path::Path,
    profile: &str,
    jobs: u32,
    rows: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    let archive = Archive::open(path)?;
    let now = OffsetDateTime::now_utc();
    let span = time::Duration::days(7);
    for n in 0..jobs {
        let big = n + 1 == jobs;
        let created = now - span + span * (f64::from(n) / f64::from(jobs.max(1)));
        let devices = if big { rows } else { 1 + n % 500 };
        let failed = devices / 50;
        let job: JobResponse = serde_json::from_value(json!({
            "jobId": if big { "big-job".to_owned() } else { format!("seeded-{n:05}") },
            "type": "scheduleDeviceMethod",
            "status": "completed",
            "queryCondition": "tags.building = 43",
            "cloudToDeviceMethod": {"methodName": "lockDoor", "payload": {"lockTime": "10m"},
                                    "responseTimeoutInSeconds": 30, "connectTimeoutInSeconds": 0},
            "createdTime": at(created)?,
            "startTime": at(created + time::Duration::seconds(1))?,
            "endTime": at(created + time::Duration::seconds(5 + i64::from(n % 120)))?,
            "maxExecutionTimeInSeconds": 3600,
            "deviceJobStatistics": {"deviceCount": devices, "succeededCount": devices - failed,
                                    "failedCount": failed, "runningCount": 0, "pendingCount": 0},
        }))?;
        archive.record_seen(profile, &job, now)?;
    }
    let mut batch = Vec::with_capacity(10_000);
    for n in 0..rows {
        let failed = n % 50 == 0;
        let row: DeviceJob = serde_json::from_value(json!({
            "deviceId": format!("sim-lock-{n:06}"),
            "jobId": "big-job",
            "jobType": "scheduleDeviceMethod",
            "status": if failed { "failed" } else { "completed" },
            "startTimeUtc": at(now - time::Duration::minutes(5))?,
            "endTimeUtc": at(now - time::Duration::minutes(4))?,
            "createdDateTimeUtc": at(now - time::Duration::minutes(5))?,
            "lastUpdatedDateTimeUtc": at(now - time::Duration::minutes(4))?,
            "outcome": if failed { json!(null) } else {
                json!({"deviceMethodResponse": {"status": 200, "payload": {"lockState": "locked"}}})
            },
            "error": if failed {
                json!({"code": "DeviceNotOnline", "description": "the device is not connected"})
            } else { json!(null) },
        }))?;
        batch.push(row);
    }
    if rows > 0 {
        archive.replace_device_results(profile, "big-job", &batch)?;
    }
    println!(
        "seeded {jobs} jobs and {rows} device rows into {}",
        path.display()
    );
    Ok(())
}
