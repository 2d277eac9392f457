//! The error every command returns to the UI.

use serde::Serialize;
use ts_rs::TS;

/// A command failure as the UI receives it: `{ "code": "...", "message": "..." }`.
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
}

impl CommandError {
    /// A failure the UI shows as is.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: message.into(),
        }
    }
}

impl From<lockstep_keychain::KeychainError> for CommandError {
    fn from(err: lockstep_keychain::KeychainError) -> Self {
        let code = match err {
            lockstep_keychain::KeychainError::Unavailable { .. } => ErrorCode::KeychainUnavailable,
            lockstep_keychain::KeychainError::Failed { .. } => ErrorCode::Internal,
        };
        Self {
            code,
            message: err.to_string(),
        }
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
}
