//! [`CoreError`]: every failure of the app's logic, split by what the UI does about it.
//! Messages are sentences for a person and never contain a key or a connection string.

use iothub::service::ServiceError;
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
}
