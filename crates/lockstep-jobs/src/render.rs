//! "Copy as az CLI command" and "Copy as REST request": a validated job as text a person can
//! run elsewhere. Neither contains a secret: the `az` command names the hub and lets the CLI
//! find its credentials, and the REST request carries a placeholder where the SAS token goes.
//!
//! The `az iot hub job create` flags are the azure-iot extension's (`--job-id`, `--job-type`,
//! `--query-condition`, `--method-name`, `--method-payload`, `--method-response-timeout`,
//! `--method-connect-timeout`, `--twin-patch`, `--start-time`, `--ttl`). Both timeouts are
//! always passed, because the CLI's default connect timeout (30) differs from the hub's (0).
//! The CLI adds the twin patch's `etag: "*"` itself.
//!
//! The CLI reaches an Azure hub by name (`--hub-name`) with the user's `az login`. Any other
//! hub (the local hub, `localhost:8443`) it reaches only through a connection string, so the
//! command passes `--login "$IOTHUB_CONNECTION_STRING"`, a placeholder the user fills in, with
//! a comment line saying so; the secret itself is never in the text.

use std::fmt::Write as _;

use iothub::model::{JobRequest, JobType};
use iothub::service::DEFAULT_API_VERSION;
use serde::Serialize;
use serde_json::{Value, json};
use ts_rs::TS;

use crate::draft::{StartMode, ValidJob};

/// The environment variable a copied `az` command for a hub outside Azure reads the service
/// connection string from.
pub const CONNECTION_STRING_VARIABLE: &str = "IOTHUB_CONNECTION_STRING";

/// What a copied REST request has where the `Authorization` header's SAS token goes.
pub const AUTHORIZATION_PLACEHOLDER: &str =
    "SharedAccessSignature sr=<hub host name>&sig=<signature>&se=<expiry>&skn=<policy name>";

/// One header of a [`RestRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct RestHeader {
    /// The header's name.
    pub name: String,
    /// Its value ([`AUTHORIZATION_PLACEHOLDER`] for `Authorization`).
    pub value: String,
}

/// A job creation as a REST request: method, URL with `api-version`, headers, JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct RestRequest {
    /// `PUT`.
    pub method: String,
    /// `https://<host>/jobs/v2/<job id>?api-version=<version>`.
    pub url: String,
    /// `Authorization` (a placeholder) and `Content-Type`.
    pub headers: Vec<RestHeader>,
    /// The job request, pretty-printed JSON.
    pub body: String,
}

impl RestRequest {
    /// The request as an HTTP message: request line, headers, blank line, body.
    pub fn to_text(&self) -> String {
        let mut text = format!("{} {}\n", self.method, self.url);
        for header in &self.headers {
            let _ = writeln!(text, "{}: {}", header.name, header.value);
        }
        text.push('\n');
        text.push_str(&self.body);
        text.push('\n');
        text
    }
}

/// `job` as the REST call that creates it on the hub `host_name`, with the client's
/// default api-version.
pub fn rest_request(host_name: &str, job: &ValidJob) -> RestRequest {
    rest_request_for(host_name, &job.job_id, &job.request, DEFAULT_API_VERSION)
}

/// The REST call that creates the job `job_id` with `request` (e.g. one read back from the
/// archive) on `host_name`, with `api_version`.
pub fn rest_request_for(
    host_name: &str,
    job_id: &str,
    request: &JobRequest,
    api_version: &str,
) -> RestRequest {
    let mut request = request.clone();
    request.job_id.get_or_insert_with(|| job_id.to_owned());
    let body = serde_json::to_string_pretty(&request)
        // A JobRequest is strings, numbers and JSON values: it always serializes.
        .unwrap_or_else(|_| "{}".to_owned());
    RestRequest {
        method: "PUT".to_owned(),
        url: format!(
            "https://{host_name}/jobs/v2/{}?api-version={}",
            encode_segment(job_id),
            encode_segment(api_version)
        ),
        headers: vec![
            RestHeader {
                name: "Authorization".to_owned(),
                value: AUTHORIZATION_PLACEHOLDER.to_owned(),
            },
            RestHeader {
                name: "Content-Type".to_owned(),
                value: "application/json; charset=utf-8".to_owned(),
            },
        ],
        body,
    }
}

/// `job` as an `az iot hub job create` command for the hub `hub_name` (its name or host
/// name), one flag per line. A job that starts now has no `--start-time`. A hub outside
/// Azure gets `--login "$IOTHUB_CONNECTION_STRING"` and a comment line instead of
/// `--hub-name` (see the module doc).
pub fn az_command(hub_name: &str, job: &ValidJob) -> String {
    let include_start = match job.start_mode {
        StartMode::Now => false,
        StartMode::At => true,
    };
    az_command_for(hub_name, &job.job_id, &job.request, include_start)
}

/// The `az iot hub job create` command for the job `job_id` with `request`;
/// `include_start` adds `--start-time`.
pub fn az_command_for(
    hub_name: &str,
    job_id: &str,
    request: &JobRequest,
    include_start: bool,
) -> String {
    let azure = is_azure_hub(hub_name);
    let mut args: Vec<(&str, String)> = Vec::new();
    if azure {
        args.push(("--hub-name", hub_name.to_owned()));
    }
    args.push(("--job-id", job_id.to_owned()));
    if let Some(job_type) = &request.job_type {
        args.push(("--job-type", job_type.as_str().to_owned()));
    }
    if let Some(condition) = &request.query_condition {
        args.push(("--query-condition", condition.clone()));
    }
    match request.job_type {
        Some(JobType::ScheduleDeviceMethod) => {
            if let Some(method) = &request.cloud_to_device_method {
                if let Some(name) = &method.method_name {
                    args.push(("--method-name", name.clone()));
                }
                // The CLI wants a payload; `null` is how it spells none.
                let payload = method.payload.clone().unwrap_or(Value::Null);
                args.push(("--method-payload", compact(&payload)));
                args.push((
                    "--method-response-timeout",
                    method.response_timeout_in_seconds.unwrap_or(30).to_string(),
                ));
                args.push((
                    "--method-connect-timeout",
                    method.connect_timeout_in_seconds.unwrap_or(0).to_string(),
                ));
            }
        }
        Some(JobType::ScheduleUpdateTwin) => {
            if let Some(twin) = &request.update_twin {
                let mut patch = serde_json::Map::new();
                if let Some(tags) = &twin.tags {
                    patch.insert("tags".to_owned(), Value::Object(tags.clone()));
                }
                if let Some(desired) = twin.properties.as_ref().and_then(|p| p.desired.as_ref()) {
                    patch.insert(
                        "properties".to_owned(),
                        json!({"desired": Value::Object(desired.values.clone())}),
                    );
                }
                args.push(("--twin-patch", compact(&Value::Object(patch))));
            }
        }
        _ => {}
    }
    if include_start && let Some(start) = request.start_time {
        args.push(("--start-time", start.to_string()));
    }
    if let Some(ttl) = request.max_execution_time_in_seconds {
        args.push(("--ttl", ttl.to_string()));
    }
    let mut command = String::new();
    if !azure {
        let _ = writeln!(
            command,
            "# {hub_name} is not an Azure IoT Hub, so az reaches it through a connection \
             string: set {CONNECTION_STRING_VARIABLE} to its service connection string (and \
             REQUESTS_CA_BUNDLE to its CA certificate file) first."
        );
    }
    command.push_str("az iot hub job create");
    if !azure {
        // Double quotes: the shell expands the variable; the secret is never in the text.
        let _ = write!(command, " \\\n  --login \"${CONNECTION_STRING_VARIABLE}\"");
    }
    for (flag, value) in args {
        let _ = write!(command, " \\\n  {flag} {}", shell_quote(&value));
    }
    command
}

/// Whether `hub_name` is an Azure IoT Hub the CLI finds by name: a `*.azure-devices.net`
/// host, or a bare hub name. Anything with a port or another domain, and `localhost`, is not.
pub fn is_azure_hub(hub_name: &str) -> bool {
    let name = hub_name.trim().to_ascii_lowercase();
    if name.contains(':') {
        return false;
    }
    if name.contains('.') {
        return name.ends_with(".azure-devices.net");
    }
    !name.is_empty() && name != "localhost"
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// `text` as one word for a POSIX shell: unchanged if it is only safe characters, else in
/// single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '+' | '=' | ',')
        });
    if safe {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Percent-encodes everything but unreserved URL characters.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::draft::{JobDraft, JobKind, validate};

    fn job(draft: JobDraft) -> ValidJob {
        validate(&draft, datetime!(2025-06-01 12:00 UTC)).expect("valid")
    }

    fn method_job() -> ValidJob {
        job(JobDraft {
            query_condition: "tags.building = 43 AND deviceId != 'door-9'".to_owned(),
            method_name: "lockDoor".to_owned(),
            method_payload: r#"{"lockTime": "10m"}"#.to_owned(),
            job_id: "job-1".to_owned(),
            ..JobDraft::default()
        })
    }

    #[test]
    fn method_job_as_az_command() {
        assert_eq!(
            az_command("myhub", &method_job()),
            r#"az iot hub job create \
  --hub-name myhub \
  --job-id job-1 \
  --job-type scheduleDeviceMethod \
  --query-condition 'tags.building = 43 AND deviceId != '\''door-9'\''' \
  --method-name lockDoor \
  --method-payload '{"lockTime":"10m"}' \
  --method-response-timeout 30 \
  --method-connect-timeout 0 \
  --ttl 3600"#
        );
    }

    #[test]
    fn twin_jobs_as_az_command_with_a_start_time() {
        let twin = job(JobDraft {
            job_type: JobKind::TwinDesired,
            query_condition: "*".to_owned(),
            twin_desired: r#"{"building": 43, "floor": 3}"#.to_owned(),
            start_mode: StartMode::At,
            start_at: "2025-06-01T12:20:00Z".to_owned(),
            job_id: "twin-1".to_owned(),
            ..JobDraft::default()
        });
        assert_eq!(
            az_command("myhub.azure-devices.net", &twin),
            r#"az iot hub job create \
  --hub-name myhub.azure-devices.net \
  --job-id twin-1 \
  --job-type scheduleUpdateTwin \
  --query-condition '*' \
  --twin-patch '{"properties":{"desired":{"building":43,"floor":3}}}' \
  --start-time 2025-06-01T12:20:00.0000000Z \
  --ttl 3600"#
        );
        let tags = job(JobDraft {
            job_type: JobKind::TwinTags,
            twin_tags: r#"{"building": 43}"#.to_owned(),
            query_condition: "*".to_owned(),
            job_id: "tags-1".to_owned(),
            ..JobDraft::default()
        });
        assert!(az_command("h", &tags).contains(r#"--twin-patch '{"tags":{"building":43}}'"#));
    }

    #[test]
    fn a_hub_outside_azure_gets_the_connection_string_placeholder() {
        let command = az_command("localhost:8443", &method_job());
        assert_eq!(
            command,
            r#"# localhost:8443 is not an Azure IoT Hub, so az reaches it through a connection string: set IOTHUB_CONNECTION_STRING to its service connection string (and REQUESTS_CA_BUNDLE to its CA certificate file) first.
az iot hub job create \
  --login "$IOTHUB_CONNECTION_STRING" \
  --job-id job-1 \
  --job-type scheduleDeviceMethod \
  --query-condition 'tags.building = 43 AND deviceId != '\''door-9'\''' \
  --method-name lockDoor \
  --method-payload '{"lockTime":"10m"}' \
  --method-response-timeout 30 \
  --method-connect-timeout 0 \
  --ttl 3600"#
        );
        assert!(!command.contains("--hub-name"));
        assert!(!command.contains("SharedAccessKey"));
    }

    #[test]
    fn which_hubs_the_cli_finds_by_name() {
        for azure in [
            "myhub",
            "myhub.azure-devices.net",
            "MyHub.Azure-Devices.NET",
        ] {
            assert!(is_azure_hub(azure), "{azure}");
        }
        for other in [
            "localhost",
            "localhost:8443",
            "127.0.0.1",
            "hub.example.com",
            "myhub.azure-devices.net:8443",
            "",
        ] {
            assert!(!is_azure_hub(other), "{other}");
        }
    }

    #[test]
    fn rest_request_has_no_secret() {
        let request = rest_request("myhub.azure-devices.net", &method_job());
        assert_eq!(
            request.url,
            "https://myhub.azure-devices.net/jobs/v2/job-1?api-version=2021-04-12"
        );
        let text = request.to_text();
        assert!(text.starts_with(
            "PUT https://myhub.azure-devices.net/jobs/v2/job-1?api-version=2021-04-12\nAuthorization: SharedAccessSignature sr=<hub host name>&sig=<signature>"
        ), "{text}");
        assert!(text.contains("Content-Type: application/json; charset=utf-8\n\n{\n  \"jobId\": \"job-1\",\n  \"type\": \"scheduleDeviceMethod\""), "{text}");
        let body: Value = serde_json::from_str(&request.body).expect("JSON body");
        assert_eq!(
            body["cloudToDeviceMethod"]["payload"],
            json!({"lockTime": "10m"})
        );
        assert_eq!(body["startTime"], "2025-06-01T12:00:00.0000000Z");
    }

    #[test]
    fn odd_ids_are_encoded_and_quoted() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
