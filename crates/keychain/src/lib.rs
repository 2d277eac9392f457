//! Secrets in the OS keychain, and nowhere else.
//!
//! Lockstep keeps service and device connection strings in the platform's credential store:
//! the Secret Service on Linux (gnome-keyring, KWallet, KeePassXC) over D-Bus, the login
//! Keychain on macOS, the Credential Manager on Windows. There is deliberately **no fallback**
//! to a file: when no keychain is reachable, [`Keychain::open`] fails with
//! [`KeychainError::Unavailable`], whose message says what to install or unlock.
//!
//! Errors never contain a secret: the only strings they carry are account names (which the
//! caller chooses, e.g. a profile id) and the platform's own diagnostic.
//!
//! Layout:
//! - [`Keychain`]: a handle on one service name (e.g. `dev.lockstep.app`) in the OS store.
//! - [`KeychainError`]: what can go wrong, split by what a user can do about it.

use std::fmt;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

/// A handle on the OS keychain, scoped to one service name.
///
/// Every secret is an item `(service, account)`; Lockstep uses one service name for the app
/// and an account per secret (for example `profile/<id>/service-connection-string`).
#[derive(Clone)]
pub struct Keychain {
    store: Arc<CredentialStore>,
    service: String,
}

impl fmt::Debug for Keychain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keychain")
            .field("service", &self.service)
            .field("store", &self.store.vendor())
            .finish()
    }
}

/// Why a keychain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    /// No credential store could be reached (no Secret Service on the session bus, no session
    /// bus at all, or the store refused access, e.g. because it is locked).
    #[error("the OS keychain is not available: {detail}. {hint}")]
    Unavailable {
        /// The platform's own diagnostic.
        detail: String,
        /// What the user can do about it on this platform.
        hint: &'static str,
    },
    /// The keychain was reached but the operation on one item failed.
    #[error("the OS keychain failed on '{account}': {detail}")]
    Failed {
        /// The account (item name) the operation was about; never a secret.
        account: String,
        /// The platform's own diagnostic.
        detail: String,
    },
}

/// What to do when no keychain can be reached, per platform.
#[cfg(target_os = "linux")]
const UNAVAILABLE_HINT: &str = "Lockstep stores connection strings only in a Secret Service \
keychain. Install and start one (for example `sudo apt install gnome-keyring`, or KeePassXC with \
Secret Service integration enabled), make sure it runs in your desktop session's D-Bus, and \
unlock its default (login) collection";
#[cfg(target_os = "macos")]
const UNAVAILABLE_HINT: &str =
    "Lockstep stores connection strings only in the macOS Keychain; unlock your login keychain";
#[cfg(target_os = "windows")]
const UNAVAILABLE_HINT: &str = "Lockstep stores connection strings only in the Windows Credential Manager; sign in to a \
user session that can use it";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const UNAVAILABLE_HINT: &str = "this platform has no keychain that Lockstep supports";

impl Keychain {
    /// Connects to the platform's credential store and checks that it answers.
    ///
    /// The check reads an item that does not exist, so it fails here (and not later, in the
    /// middle of saving a profile) when the store is missing or locked.
    pub fn open(service: &str) -> Result<Self, KeychainError> {
        let store = platform_store().map_err(unavailable)?;
        let keychain = Self {
            store,
            service: service.to_owned(),
        };
        match keychain.entry("lockstep-keychain-probe")?.get_password() {
            Ok(_) | Err(keyring_core::Error::NoEntry) => Ok(keychain),
            Err(keyring_core::Error::Ambiguous(_)) => Ok(keychain),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// The service name every item of this handle is filed under.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Stores `secret` under `account`, replacing any previous value.
    pub fn set(&self, account: &str, secret: &str) -> Result<(), KeychainError> {
        self.entry(account)?
            .set_password(secret)
            .map_err(|err| failed(account, err))
    }

    /// Reads the secret stored under `account`, or `None` when there is none.
    pub fn get(&self, account: &str) -> Result<Option<String>, KeychainError> {
        match self.entry(account)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(err) => Err(failed(account, err)),
        }
    }

    /// Deletes the secret stored under `account`. Returns whether there was one.
    pub fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(err) => Err(failed(account, err)),
        }
    }

    fn entry(&self, account: &str) -> Result<Entry, KeychainError> {
        Entry::new_in_store(&self.store, &self.service, account).map_err(|err| failed(account, err))
    }
}

fn unavailable(err: keyring_core::Error) -> KeychainError {
    KeychainError::Unavailable {
        detail: describe(&err),
        hint: UNAVAILABLE_HINT,
    }
}

fn failed(account: &str, err: keyring_core::Error) -> KeychainError {
    match err {
        keyring_core::Error::NoStorageAccess(_) => unavailable(err),
        other => KeychainError::Failed {
            account: account.to_owned(),
            detail: describe(&other),
        },
    }
}

/// The platform error as text. `BadEncoding`/`BadDataFormat` carry the raw secret bytes in
/// their payload; only their fixed `Display` text is used, never `Debug`.
fn describe(err: &keyring_core::Error) -> String {
    err.to_string()
}

#[cfg(target_os = "linux")]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(zbus_secret_service_keyring_store::Store::new()?)
}

#[cfg(target_os = "macos")]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

#[cfg(target_os = "windows")]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(windows_native_keyring_store::Store::new()?)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Err(keyring_core::Error::NotSupportedByStore(
        "no supported keychain on this platform".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_error_says_what_to_do() {
        let err = unavailable(keyring_core::Error::NoStorageAccess(
            "org.freedesktop.DBus.Error.ServiceUnknown".into(),
        ));
        let text = err.to_string();
        assert!(
            text.starts_with("the OS keychain is not available"),
            "{text}"
        );
        assert!(text.contains("ServiceUnknown"), "{text}");
        #[cfg(target_os = "linux")]
        assert!(text.contains("gnome-keyring"), "{text}");
    }

    #[test]
    fn storage_access_failure_on_an_item_is_reported_as_unavailable() {
        let err = failed(
            "profile/x",
            keyring_core::Error::NoStorageAccess("locked".into()),
        );
        assert!(matches!(err, KeychainError::Unavailable { .. }), "{err:?}");
    }

    #[test]
    fn bad_encoding_never_shows_the_secret_bytes() {
        let err = failed(
            "profile/x",
            keyring_core::Error::BadEncoding(b"SharedAccessKey=c2VjcmV0".to_vec()),
        );
        let text = format!("{err} {err:?}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(text.contains("profile/x"), "{text}");
    }
}
