//! The hub's failures in words: what happened and what to do, for the job screens.
//!
//! [`describe`] reads a [`ServiceError`] (the hub's error code first, then its HTTP status,
//! then the transport failure) in the context of the [`Operation`] that failed, so that a 404
//! reads "no such job" when reading a job and a 400 reads "the query is invalid" for a
//! preview. Messages never contain a key or a SAS token: the service client scrubs the hub's
//! text, and nothing here adds request headers.

use std::fmt;

use iothub::model::{ErrorCode, ErrorKind};
use iothub::service::ServiceError;
use serde::Serialize;
use ts_rs::TS;

/// How much of the hub's own message is quoted.
const MAX_QUOTED_CHARS: usize = 300;

/// What was being done when the error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Creating a job (`PUT /jobs/v2/{id}`).
    CreateJob,
    /// Reading a job or its device rows.
    ReadJob,
    /// Cancelling a job.
    CancelJob,
    /// Listing the hub's jobs (`jobs/v2/query`).
    ListJobs,
    /// A device query (the live preview).
    Query,
}

/// What kind of failure, for the UI to branch on (e.g. offering "new job id" for
/// [`ErrorWordsKind::JobExists`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ErrorWordsKind {
    /// 429004: the tier's limit of active jobs is reached.
    TooManyActiveJobs,
    /// Other 429s: the hub throttles.
    Throttled,
    /// 401: credentials refused.
    Unauthorized,
    /// 403010: a Basic tier hub has no jobs.
    TierHasNoJobs,
    /// Other 403s: quota or a disabled device.
    Forbidden,
    /// 404 while reading or cancelling a job: no such job.
    JobNotFound,
    /// Other 404s.
    NotFound,
    /// 409104 (or a 409 creating a job): the job id is taken.
    JobExists,
    /// 412: a precondition (e.g. cancelling a job that already ended).
    PreconditionFailed,
    /// 400 on a query: the condition is invalid.
    BadQuery,
    /// Other 400s: the request is invalid.
    BadRequest,
    /// 404103: a device is not connected.
    DeviceNotOnline,
    /// No answer in time (client timeout, 504, 408).
    Timeout,
    /// The hub could not be reached at all.
    Unreachable,
    /// The TLS handshake failed.
    Tls,
    /// 5xx: the hub failed.
    ServerError,
    /// Anything else.
    Other,
}

/// A failure in words: [`ErrorWords::message`] says what happened, [`ErrorWords::action`]
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ErrorWords {
    /// What kind of failure.
    pub kind: ErrorWordsKind,
    /// The hub's numeric code (e.g. 429004), when it sent one.
    pub code: Option<u32>,
    /// What happened, as a sentence.
    pub message: String,
    /// What to do about it, as a sentence.
    pub action: String,
}

impl ErrorWords {
    /// The message and the action in one line.
    pub fn sentence(&self) -> String {
        format!("{} {}", self.message, self.action)
    }
}

impl fmt::Display for ErrorWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.message, self.action)
    }
}

/// `error`, which happened during `operation`, in words.
pub fn describe(error: &ServiceError, operation: Operation) -> ErrorWords {
    let words = |kind, message: String, action: &str| ErrorWords {
        kind,
        code: error.hub_error().and_then(|hub| hub.code),
        message,
        action: action.to_owned(),
    };
    match error {
        ServiceError::Hub(hub) => describe_hub(hub, operation, error),
        ServiceError::Connect { host, .. } => words(
            ErrorWordsKind::Unreachable,
            format!("Lockstep could not reach the hub at {host}."),
            "Check the network connection and the hub's host name; for the local hub, check that it is running.",
        ),
        ServiceError::Tls { host, .. } => words(
            ErrorWordsKind::Tls,
            format!("The secure connection to {host} failed: its certificate was not trusted."),
            "For the local hub, restart it so that Lockstep reads its current CA certificate; for Azure, check for a proxy that intercepts TLS.",
        ),
        ServiceError::Timeout { host, after } => words(
            ErrorWordsKind::Timeout,
            format!("{host} did not answer within {} seconds.", after.as_secs()),
            match operation {
                Operation::CreateJob | Operation::CancelJob => {
                    "Check the timeline before trying again: the hub may have acted on the request even though the answer was lost."
                }
                Operation::ReadJob | Operation::ListJobs | Operation::Query => {
                    "Check the network connection and try again."
                }
            },
        ),
        ServiceError::Transport { host, .. } => words(
            ErrorWordsKind::Unreachable,
            format!("The connection to {host} broke during the request."),
            "Check the network connection and try again.",
        ),
        ServiceError::InvalidResponse { status, .. } => words(
            ErrorWordsKind::Other,
            format!("The hub answered with something Lockstep cannot read (HTTP {status})."),
            "Check that the profile's host name is an IoT hub, not another web service.",
        ),
        ServiceError::InvalidRequest { detail } => words(
            ErrorWordsKind::BadRequest,
            format!("Lockstep could not build the request: {}.", quote(detail)),
            "Check the job's fields and try again.",
        ),
        ServiceError::Config { detail } => words(
            ErrorWordsKind::Other,
            format!(
                "The hub connection is not set up correctly: {}.",
                quote(detail)
            ),
            "Check the profile's settings.",
        ),
    }
}

fn describe_hub(
    hub: &iothub::model::HubError,
    operation: Operation,
    error: &ServiceError,
) -> ErrorWords {
    let code = hub.code;
    let hub_says = if hub.message.trim().is_empty() {
        String::new()
    } else {
        format!(" The hub says: \"{}\"", quote(hub.message.trim()))
    };
    let words = |kind, message: String, action: &str| ErrorWords {
        kind,
        code,
        message,
        action: action.to_owned(),
    };
    let known = hub.known_code();
    match (known, error.kind().unwrap_or(ErrorKind::Other)) {
        (Some(ErrorCode::ThrottlingMaxActiveJobCountExceeded), _) => words(
            ErrorWordsKind::TooManyActiveJobs,
            "The hub already has as many active jobs as its tier allows (1 on Free and S1, 5 on S2, 10 on S3); scheduled jobs count as active.".to_owned(),
            "Wait for a job to finish or cancel one on the timeline, then submit again.",
        ),
        (Some(ErrorCode::OperationNotAvailableInCurrentTier), _) => words(
            ErrorWordsKind::TierHasNoJobs,
            "This hub's tier has no jobs: Basic tier hubs offer neither jobs, twins nor direct methods.".to_owned(),
            "Use a Free or Standard tier hub, or the local hub.",
        ),
        (Some(ErrorCode::JobAlreadyExists), _) => job_exists(code),
        (_, ErrorKind::Conflict) if operation == Operation::CreateJob => job_exists(code),
        (_, ErrorKind::Throttled) => words(
            ErrorWordsKind::Throttled,
            "The hub is throttling requests: this hub's units allow only so many operations per minute.".to_owned(),
            "Wait a minute and try again; for frequent previews, type more slowly or add units to the hub.",
        ),
        (_, ErrorKind::Unauthorized) => words(
            ErrorWordsKind::Unauthorized,
            "The hub refused the profile's credentials.".to_owned(),
            "Check the connection string: the key may have been regenerated, or its policy may lack the registry read, registry write and service connect permissions that jobs need.",
        ),
        (_, ErrorKind::Forbidden) => words(
            ErrorWordsKind::Forbidden,
            format!("The hub refused the operation because of a quota or the hub's settings.{hub_says}"),
            "Check the hub's tier and daily quota in the Azure portal.",
        ),
        (_, ErrorKind::NotFound) => match operation {
            Operation::ReadJob | Operation::CancelJob => words(
                ErrorWordsKind::JobNotFound,
                "The hub has no such job: it may have been removed after the hub's 30-day job history.".to_owned(),
                "Lockstep's archive keeps what it saw of the job; nothing else can be done on the hub.",
            ),
            Operation::CreateJob | Operation::ListJobs | Operation::Query => words(
                ErrorWordsKind::NotFound,
                format!("The hub does not know this resource.{hub_says}"),
                "Check the profile's host name.",
            ),
        },
        (_, ErrorKind::DeviceNotOnline) => words(
            ErrorWordsKind::DeviceNotOnline,
            "The device is not connected.".to_owned(),
            "Connect the device, or give the method a connect timeout so the hub waits for it.",
        ),
        (_, ErrorKind::PreconditionFailed) => words(
            ErrorWordsKind::PreconditionFailed,
            match operation {
                Operation::CancelJob => "The job can no longer be cancelled: it has already ended.".to_owned(),
                Operation::CreateJob
                | Operation::ReadJob
                | Operation::ListJobs
                | Operation::Query => format!("The hub refused a precondition of the request.{hub_says}"),
            },
            "Refresh the timeline to see the job's current state.",
        ),
        (_, ErrorKind::BadRequest) => match operation {
            Operation::Query => words(
                ErrorWordsKind::BadQuery,
                format!("The hub rejected the query condition.{hub_says}"),
                "Fix the condition: property names such as tags.building, values in single quotes, and only the WHERE part.",
            ),
            Operation::CreateJob
            | Operation::ReadJob
            | Operation::CancelJob
            | Operation::ListJobs => words(
                ErrorWordsKind::BadRequest,
                format!("The hub rejected the request as invalid.{hub_says}"),
                "Check the job's fields, in particular the condition and the JSON, and submit again.",
            ),
        },
        (_, ErrorKind::Timeout) => words(
            ErrorWordsKind::Timeout,
            "The hub timed out waiting for a device.".to_owned(),
            "Check that the device is connected and answers in time, or raise the response timeout.",
        ),
        (_, ErrorKind::Server) => words(
            ErrorWordsKind::ServerError,
            format!("The hub failed to handle the request (HTTP {}).", hub.http_status),
            "This is usually temporary: try again in a minute.",
        ),
        (_, ErrorKind::Conflict | ErrorKind::Other) => words(
            ErrorWordsKind::Other,
            format!("The hub answered with an error (HTTP {}).{hub_says}", hub.http_status),
            "Try again; if it persists, check the hub in the Azure portal.",
        ),
    }
}

fn job_exists(code: Option<u32>) -> ErrorWords {
    ErrorWords {
        kind: ErrorWordsKind::JobExists,
        code,
        message: "A job with this id already exists on the hub: job ids are unique, even after a job ends.".to_owned(),
        action: "Generate a new job id (or type another one) and submit again.".to_owned(),
    }
}

/// At most [`MAX_QUOTED_CHARS`] characters of `text`, without a trailing full stop.
fn quote(text: &str) -> String {
    let text = text.trim().trim_end_matches('.');
    if text.chars().count() <= MAX_QUOTED_CHARS {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use iothub::model::HubError;

    use super::*;

    fn hub(code: ErrorCode, message: &str) -> ServiceError {
        HubError::new(code, message).into()
    }

    #[test]
    fn job_errors_in_words() {
        let table = [
            (
                hub(ErrorCode::ThrottlingMaxActiveJobCountExceeded, "x"),
                Operation::CreateJob,
                ErrorWordsKind::TooManyActiveJobs,
                "Wait for a job to finish",
            ),
            (
                hub(ErrorCode::JobAlreadyExists, "x"),
                Operation::CreateJob,
                ErrorWordsKind::JobExists,
                "Generate a new job id",
            ),
            (
                ServiceError::from(HubError::parse(409, b"", None)),
                Operation::CreateJob,
                ErrorWordsKind::JobExists,
                "Generate a new job id",
            ),
            (
                hub(ErrorCode::IotHubUnauthorized, "x"),
                Operation::CreateJob,
                ErrorWordsKind::Unauthorized,
                "Check the connection string",
            ),
            (
                hub(ErrorCode::OperationNotAvailableInCurrentTier, "x"),
                Operation::CreateJob,
                ErrorWordsKind::TierHasNoJobs,
                "Use a Free or Standard",
            ),
            (
                hub(ErrorCode::IotHubQuotaExceeded, "x"),
                Operation::CreateJob,
                ErrorWordsKind::Forbidden,
                "quota",
            ),
            (
                hub(ErrorCode::JobNotFound, "x"),
                Operation::ReadJob,
                ErrorWordsKind::JobNotFound,
                "archive",
            ),
            (
                hub(ErrorCode::ThrottlingException, "x"),
                Operation::Query,
                ErrorWordsKind::Throttled,
                "Wait a minute",
            ),
            (
                hub(ErrorCode::JobRunPreconditionFailed, "x"),
                Operation::CancelJob,
                ErrorWordsKind::PreconditionFailed,
                "Refresh",
            ),
            (
                hub(ErrorCode::ServiceUnavailable, "x"),
                Operation::ListJobs,
                ErrorWordsKind::ServerError,
                "try again",
            ),
        ];
        for (error, operation, kind, action) in table {
            let words = describe(&error, operation);
            assert_eq!(words.kind, kind, "{error}");
            assert!(words.action.contains(action), "{error}: {}", words.action);
            assert!(
                words.message.ends_with('.') || words.message.ends_with('"'),
                "{}",
                words.message
            );
        }
    }

    #[test]
    fn too_many_active_jobs_reads_fully() {
        let words = describe(
            &hub(
                ErrorCode::ThrottlingMaxActiveJobCountExceeded,
                "Max active jobs",
            ),
            Operation::CreateJob,
        );
        assert_eq!(words.code, Some(429004));
        assert_eq!(
            words.sentence(),
            "The hub already has as many active jobs as its tier allows (1 on Free and S1, 5 on S2, 10 on S3); scheduled jobs count as active. Wait for a job to finish or cancel one on the timeline, then submit again."
        );
    }

    #[test]
    fn a_bad_query_quotes_the_hub() {
        let error = hub(
            ErrorCode::ArgumentInvalid,
            "Syntax error at line 1, column 17: expected a value.",
        );
        let words = describe(&error, Operation::Query);
        assert_eq!(words.kind, ErrorWordsKind::BadQuery);
        assert_eq!(
            words.message,
            "The hub rejected the query condition. The hub says: \"Syntax error at line 1, column 17: expected a value\""
        );
        assert_eq!(
            describe(&error, Operation::CreateJob).kind,
            ErrorWordsKind::BadRequest
        );
    }

    #[test]
    fn transport_failures() {
        let words = describe(
            &ServiceError::Connect {
                host: "myhub.azure-devices.net".to_owned(),
                detail: "dns error".to_owned(),
            },
            Operation::Query,
        );
        assert_eq!(words.kind, ErrorWordsKind::Unreachable);
        assert_eq!(words.code, None);
        assert_eq!(
            words.message,
            "Lockstep could not reach the hub at myhub.azure-devices.net."
        );
        let words = describe(
            &ServiceError::Timeout {
                host: "h".to_owned(),
                after: Duration::from_secs(30),
            },
            Operation::CreateJob,
        );
        assert_eq!(words.kind, ErrorWordsKind::Timeout);
        assert!(words.action.contains("may have acted"), "{}", words.action);
    }

    #[test]
    fn long_hub_messages_are_cut() {
        let long = "y".repeat(1000);
        let words = describe(
            &hub(ErrorCode::ArgumentInvalid, &long),
            Operation::CreateJob,
        );
        assert!(words.message.chars().count() < 400, "{}", words.message);
        assert!(words.message.contains('…'));
    }
}
