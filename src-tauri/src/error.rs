//! The error every command returns to the UI.

use lockstep_core::CoreError;
use serde::Serialize;
use ts_rs::TS;

/// A command failure as the UI receives it: `{ "code": "...", "message": "..." }`, plus
/// `field` when an `invalidInput` error blames one input.
///
/// `code` exists only for failures the UI branches on (for example showing the keychain
/// help screen); everything else is `internal` and the UI shows `message` as is. Messages
/// never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[ts(export)]
#[error("{message}")]
pub struct CommandError {
    /// What the UI may branch on.
    pub code: ErrorCode,
    /// A sentence for the user, with what to do where there is something to do.
    pub message: String,
    /// The input at fault (camelCase, as the UI names it), for `invalidInput`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub field: Option<String>,
}

/// The failures the UI tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ErrorCode {
    /// Anything the UI does not handle specially.
    Internal,
    /// No OS keychain can be reached; the UI shows what to install or unlock.
    KeychainUnavailable,
    /// The input is wrong (see `field`); the UI shows the message by that input.
    InvalidInput,
    /// What the command is about does not exist (or is not running).
    NotFound,
    /// The hub cannot be reached.
    HubUnreachable,
    /// The hub refused the key, or the policy lacks a permission.
    Unauthorized,
    /// The hub refused a job operation (e.g. a taken job id, too many active jobs); the
    /// message says what happened and what to do.
    HubRejected,
}

impl CommandError {
    /// A failure the UI shows as is.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: message.into(),
            field: None,
        }
    }
}

impl From<CoreError> for CommandError {
    fn from(error: CoreError) -> Self {
        let message = error.to_string();
        let (code, field) = match error {
            CoreError::KeychainUnavailable { .. } => (ErrorCode::KeychainUnavailable, None),
            CoreError::InvalidInput { field, .. } => (ErrorCode::InvalidInput, field),
            CoreError::NotFound(_) => (ErrorCode::NotFound, None),
            CoreError::HubUnreachable(_) => (ErrorCode::HubUnreachable, None),
            CoreError::Unauthorized(_) => (ErrorCode::Unauthorized, None),
            CoreError::HubRejected(_) => (ErrorCode::HubRejected, None),
            CoreError::Internal(_) => (ErrorCode::Internal, None),
        };
        Self {
            code,
            message,
            field,
        }
    }
}

impl From<lockstep_keychain::KeychainError> for CommandError {
    fn from(err: lockstep_keychain::KeychainError) -> Self {
        CoreError::from(err).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_code_and_message() {
        let err = CommandError::from(lockstep_keychain::KeychainError::Unavailable {
            detail: "no bus".into(),
            hint: "install gnome-keyring",
        });
        let json = serde_json::to_value(&err).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "code": "keychainUnavailable",
                "message": "the OS keychain is not available: no bus. install gnome-keyring",
            })
        );
    }

    #[test]
    fn invalid_input_names_its_field() {
        let err = CommandError::from(CoreError::invalid(
            "connectionString",
            "SharedAccessKeyName is missing",
        ));
        assert_eq!(
            serde_json::to_value(&err).expect("serializes"),
            serde_json::json!({
                "code": "invalidInput",
                "message": "SharedAccessKeyName is missing",
                "field": "connectionString",
            })
        );
        for (error, code) in [
            (CoreError::NotFound("x".into()), "notFound"),
            (CoreError::HubUnreachable("x".into()), "hubUnreachable"),
            (CoreError::Unauthorized("x".into()), "unauthorized"),
            (CoreError::HubRejected("x".into()), "hubRejected"),
            (CoreError::Internal("x".into()), "internal"),
        ] {
            assert_eq!(
                serde_json::to_value(CommandError::from(error)).expect("json")["code"],
                code
            );
        }
    }
}
