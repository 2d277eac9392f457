//! [`CoreError`]: every failure of the app's logic, split by what the UI does about it.
//! Messages are sentences for a person and never contain a key or a connection string.

use iothub::service::ServiceError;
use lockstep_jobs::errors::{ErrorWords, ErrorWordsKind};
use lockstep_keychain::KeychainError;

/// Why an operation of the app failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// No OS keychain answers (the UI shows what to install or unlock).
    #[error("the OS keychain is not available: {detail}. {hint}")]
    KeychainUnavailable {
        /// The platform's diagnostic.
        detail: String,
        /// What to install or unlock.
        hint: String,
    },
    /// The input is wrong; `field` names the form field when there is one.
    #[error("{message}")]
    InvalidInput {
        /// The request field at fault (camelCase, as the UI spells it).
        field: Option<String>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// What the operation is about does not exist (or is not running).
    #[error("{0}")]
    NotFound(String),
    /// The hub cannot be reached (DNS, network, TLS, timeout).
    #[error("{0}")]
    HubUnreachable(String),
    /// The hub refused the credentials or the policy lacks the permission.
    #[error("{0}")]
    Unauthorized(String),
    /// The hub refused a job operation (a taken job id, too many active jobs, a bad
    /// request…); the message is the hub's answer in words, with what to do.
    #[error("{0}")]
    HubRejected(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl CoreError {
    /// An [`CoreError::InvalidInput`] about `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// An [`CoreError::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// A service call's failure, with `doing` ("reading the device list") for context.
    pub fn from_service(doing: &str, error: &ServiceError) -> Self {
        match error {
            ServiceError::Connect { .. }
            | ServiceError::Tls { .. }
            | ServiceError::Timeout { .. }
            | ServiceError::Transport { .. } => {
                Self::HubUnreachable(format!("{doing}: the hub cannot be reached ({error})"))
            }
            ServiceError::Hub(_) if error.is_unauthorized() => Self::Unauthorized(format!(
                "{doing}: the hub refused the key, or its policy does not allow this ({error})"
            )),
            ServiceError::Hub(_) if error.is_not_found() => {
                Self::NotFound(format!("{doing}: {error}"))
            }
            ServiceError::Hub(_)
            | ServiceError::InvalidResponse { .. }
            | ServiceError::InvalidRequest { .. }
            | ServiceError::Config { .. } => Self::Internal(format!("{doing}: {error}")),
        }
    }
}

impl From<&ErrorWords> for CoreError {
    /// A job operation's failure in words: unreachable and refused credentials keep their
    /// codes, every other answer of the hub is [`CoreError::HubRejected`].
    fn from(words: &ErrorWords) -> Self {
        let sentence = words.sentence();
        match words.kind {
            ErrorWordsKind::Unreachable | ErrorWordsKind::Tls | ErrorWordsKind::Timeout => {
                Self::HubUnreachable(sentence)
            }
            ErrorWordsKind::Unauthorized => Self::Unauthorized(sentence),
            ErrorWordsKind::TooManyActiveJobs
            | ErrorWordsKind::Throttled
            | ErrorWordsKind::TierHasNoJobs
            | ErrorWordsKind::Forbidden
            | ErrorWordsKind::JobNotFound
            | ErrorWordsKind::NotFound
            | ErrorWordsKind::JobExists
            | ErrorWordsKind::PreconditionFailed
            | ErrorWordsKind::BadQuery
            | ErrorWordsKind::BadRequest
            | ErrorWordsKind::DeviceNotOnline
            | ErrorWordsKind::ServerError
            | ErrorWordsKind::Other => Self::HubRejected(sentence),
        }
    }
}

impl From<KeychainError> for CoreError {
    fn from(error: KeychainError) -> Self {
        match error {
            KeychainError::Unavailable { detail, hint } => Self::KeychainUnavailable {
                detail,
                hint: hint.to_owned(),
            },
            failed @ KeychainError::Failed { .. } => Self::Internal(failed.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keychain_errors_keep_their_hint() {
        let error = CoreError::from(KeychainError::Unavailable {
            detail: "no bus".into(),
            hint: "install gnome-keyring",
        });
        assert_eq!(
            error,
            CoreError::KeychainUnavailable {
                detail: "no bus".into(),
                hint: "install gnome-keyring".into()
            }
        );
        let failed = CoreError::from(KeychainError::Failed {
            account: "profile/x/service".into(),
            detail: "denied".into(),
        });
        assert!(matches!(failed, CoreError::Internal(ref m) if m.contains("profile/x/service")));
    }

    #[test]
    fn service_failures_map_to_what_the_ui_branches_on() {
        let unreachable = ServiceError::Connect {
            host: "h".into(),
            detail: "refused".into(),
        };
        assert!(matches!(
            CoreError::from_service("checking", &unreachable),
            CoreError::HubUnreachable(_)
        ));
        let tls = ServiceError::Tls {
            host: "h".into(),
            detail: "bad cert".into(),
        };
        assert!(matches!(
            CoreError::from_service("checking", &tls),
            CoreError::HubUnreachable(_)
        ));
    }

    #[test]
    fn job_failures_in_words_keep_the_codes_the_ui_branches_on() {
        let words = |kind| ErrorWords {
            kind,
            code: Some(409_104),
            message: "A job with this id already exists on the hub.".into(),
            action: "Generate a new job id.".into(),
        };
        assert_eq!(
            CoreError::from(&words(ErrorWordsKind::JobExists)),
            CoreError::HubRejected(
                "A job with this id already exists on the hub. Generate a new job id.".into()
            )
        );
        assert!(matches!(
            CoreError::from(&words(ErrorWordsKind::Unreachable)),
            CoreError::HubUnreachable(_)
        ));
        assert!(matches!(
            CoreError::from(&words(ErrorWordsKind::Unauthorized)),
            CoreError::Unauthorized(_)
        ));
        assert!(matches!(
            CoreError::from(&words(ErrorWordsKind::TooManyActiveJobs)),
            CoreError::HubRejected(_)
        ));
    }
}
