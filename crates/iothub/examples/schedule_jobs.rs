//! The service side of the "Schedule and broadcast jobs" tutorial: schedules a `lockDoor`
//! method job and a desired-properties twin job for one device, then polls both until they
//! finish.
//!
//! ```text
//! IOTHUB_SERVICE_CONNECTION_STRING='HostName=…;SharedAccessKeyName=…;SharedAccessKey=…' \
//!     cargo run -p iothub --example schedule_jobs -- <device-id>
//! ```
//!
//! For a local hub with a self-signed CA, also set `IOTHUB_CA_PEM` to the CA's PEM file.
//! Nothing secret is printed: the connection string's `Display` redacts the key.

use std::error::Error;
use std::time::Duration;

use iothub::auth::ServiceConnectionString;
use iothub::model::{
    CloudToDeviceMethod, HubTime, JobRequest, JobResponse, JobType, Twin, TwinCollection,
    TwinProperties,
};
use iothub::service::{ServiceClient, ServiceClientOptions};
use serde_json::json;
use time::OffsetDateTime;

/// The tutorial polls every 5 seconds.
const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Give up polling after this many rounds (10 minutes).
const MAX_POLLS: u32 = 120;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let device_id = std::env::args()
        .nth(1)
        .ok_or("usage: schedule_jobs <device-id>")?;
    if device_id.contains('\'') {
        return Err("device ids with a quote cannot go into this example's query condition".into());
    }
    let connection: ServiceConnectionString = std::env::var("IOTHUB_SERVICE_CONNECTION_STRING")
        .map_err(|_| "set IOTHUB_SERVICE_CONNECTION_STRING")?
        .parse()?;
    let mut options = ServiceClientOptions::default();
    if let Ok(path) = std::env::var("IOTHUB_CA_PEM") {
        options.extra_ca_pem = Some(std::fs::read(path)?);
    }
    println!("hub: {}", connection.host_name());
    let client = ServiceClient::new(connection, options)?;
    let condition = format!("deviceId IN ['{device_id}']");

    // The tutorial sends the payload as a JSON *string*; the device receives that string.
    let method_job = JobRequest {
        job_type: Some(JobType::ScheduleDeviceMethod),
        cloud_to_device_method: Some(CloudToDeviceMethod::new(
            "lockDoor",
            json!(r#"{"lockTime":"10m"}"#),
        )),
        query_condition: Some(condition.clone()),
        start_time: Some(HubTime::at(OffsetDateTime::now_utc())?),
        max_execution_time_in_seconds: Some(60),
        ..JobRequest::default()
    };
    let mut desired = TwinCollection::default();
    desired.values.insert("building".to_owned(), json!(43));
    desired.values.insert("floor".to_owned(), json!(3));
    let twin_job = JobRequest {
        job_type: Some(JobType::ScheduleUpdateTwin),
        // Twin jobs are forced updates: the hub only accepts etag "*".
        update_twin: Some(Twin {
            etag: Some("*".to_owned()),
            properties: Some(TwinProperties {
                desired: Some(desired),
                reported: None,
            }),
            ..Twin::default()
        }),
        query_condition: Some(condition),
        start_time: Some(HubTime::at(OffsetDateTime::now_utc())?),
        max_execution_time_in_seconds: Some(60),
        ..JobRequest::default()
    };

    let method_job_id = uuid::Uuid::new_v4().to_string();
    let job = client.schedule_job(&method_job_id, &method_job).await?;
    println!("scheduled method job {method_job_id}: {}", status(&job));

    let twin_job_id = uuid::Uuid::new_v4().to_string();
    match client.schedule_job(&twin_job_id, &twin_job).await {
        Ok(job) => println!("scheduled twin job {twin_job_id}: {}", status(&job)),
        // A Free/S1 hub runs one job at a time (429004): wait for the first, then retry.
        Err(error) if error.is_throttled() => {
            println!("hub is at its active-job limit; waiting for the method job first");
            poll(&client, &method_job_id).await?;
            let job = client.schedule_job(&twin_job_id, &twin_job).await?;
            println!("scheduled twin job {twin_job_id}: {}", status(&job));
        }
        Err(error) => return Err(error.into()),
    }

    poll(&client, &method_job_id).await?;
    poll(&client, &twin_job_id).await?;
    Ok(())
}

/// Polls a job until it has finished, printing each state.
async fn poll(client: &ServiceClient, job_id: &str) -> Result<JobResponse, Box<dyn Error>> {
    for _ in 0..MAX_POLLS {
        let job = match client.get_job(job_id).await {
            Ok(job) => job,
            // Polling is a read: a throttled poll is simply tried again next round.
            Err(error) if error.is_throttled() => {
                tokio::time::sleep(POLL_INTERVAL).await;
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let counts = job
            .device_job_statistics
            .map(|s| {
                format!(
                    " (devices {}: {} succeeded, {} failed, {} running, {} pending)",
                    s.device_count,
                    s.succeeded_count,
                    s.failed_count,
                    s.running_count,
                    s.pending_count
                )
            })
            .unwrap_or_default();
        println!("job {job_id}: {}{counts}", status(&job));
        if job.status.as_ref().is_some_and(|s| s.is_finished()) {
            if let Some(reason) = &job.failure_reason {
                println!("job {job_id} failure reason: {reason}");
            }
            return Ok(job);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Err(format!("job {job_id} did not finish within {MAX_POLLS} polls").into())
}

fn status(job: &JobResponse) -> String {
    job.status
        .as_ref()
        .map_or_else(|| "(no status)".to_owned(), ToString::to_string)
}
