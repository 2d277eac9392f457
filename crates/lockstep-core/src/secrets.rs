//! Where secrets go: the OS keychain, behind [`SecretStore`].
//!
//! The app opens [`lockstep_keychain::Keychain`] through [`SecretOpener::keychain`]; there is
//! no file fallback. [`MemorySecretStore`] exists for tests that are not about the keychain
//! (it keeps secrets in this process's memory only and is never used by the app).
//!
//! Accounts (items) under the service [`KEYCHAIN_SERVICE`]: `profile/<id>/service` for an
//! Azure profile's service connection string, `profile/<id>/device/<deviceId>` for a lock
//! device's connection string.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use lockstep_keychain::{Keychain, KeychainError};

/// The keychain service name every Lockstep secret is filed under.
pub const KEYCHAIN_SERVICE: &str = "dev.lockstep.app";

/// A place for secrets. Implementations block (the keychain talks D-Bus); call them from a
/// blocking context.
pub trait SecretStore: Send + Sync + fmt::Debug {
    /// Stores `secret` under `account`, replacing any previous value.
    fn set(&self, account: &str, secret: &str) -> Result<(), KeychainError>;
    /// The secret under `account`, if any.
    fn get(&self, account: &str) -> Result<Option<String>, KeychainError>;
    /// Deletes the secret under `account`; whether there was one.
    fn delete(&self, account: &str) -> Result<bool, KeychainError>;
}

impl SecretStore for Keychain {
    fn set(&self, account: &str, secret: &str) -> Result<(), KeychainError> {
        Keychain::set(self, account, secret)
    }

    fn get(&self, account: &str) -> Result<Option<String>, KeychainError> {
        Keychain::get(self, account)
    }

    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        Keychain::delete(self, account)
    }
}

/// Secrets in this process's memory, for tests that are not about the keychain.
#[derive(Default)]
pub struct MemorySecretStore {
    items: Mutex<BTreeMap<String, String>>,
}

impl fmt::Debug for MemorySecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySecretStore")
            .field("accounts", &self.accounts())
            .finish()
    }
}

impl MemorySecretStore {
    /// The accounts that hold a secret (not the secrets).
    pub fn accounts(&self) -> Vec<String> {
        self.items
            .lock()
            .map(|items| items.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn items(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, String>>, KeychainError> {
        self.items.lock().map_err(|_| KeychainError::Failed {
            account: String::new(),
            detail: "the in-memory store is poisoned".to_owned(),
        })
    }
}

impl SecretStore for MemorySecretStore {
    fn set(&self, account: &str, secret: &str) -> Result<(), KeychainError> {
        self.items()?.insert(account.to_owned(), secret.to_owned());
        Ok(())
    }

    fn get(&self, account: &str) -> Result<Option<String>, KeychainError> {
        Ok(self.items()?.get(account).cloned())
    }

    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        Ok(self.items()?.remove(account).is_some())
    }
}

type OpenFn = dyn Fn() -> Result<Arc<dyn SecretStore>, KeychainError> + Send + Sync;

/// How the app gets its [`SecretStore`] at start-up (and again on "retry").
#[derive(Clone)]
pub struct SecretOpener(Arc<OpenFn>);

impl fmt::Debug for SecretOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretOpener")
    }
}

impl SecretOpener {
    /// The OS keychain, service [`KEYCHAIN_SERVICE`]: what the app uses.
    pub fn keychain() -> Self {
        Self::new(|| Keychain::open(KEYCHAIN_SERVICE).map(|k| Arc::new(k) as Arc<dyn SecretStore>))
    }

    /// Always `store` (tests).
    pub fn fixed(store: Arc<dyn SecretStore>) -> Self {
        Self::new(move || Ok(store.clone()))
    }

    /// Any opener (tests: one that fails as a missing keychain does).
    pub fn new(
        open: impl Fn() -> Result<Arc<dyn SecretStore>, KeychainError> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(open))
    }

    /// Opens the store.
    pub fn open(&self) -> Result<Arc<dyn SecretStore>, KeychainError> {
        (self.0)()
    }
}

/// The account of a profile's service connection string.
pub fn service_account(profile_id: &str) -> String {
    format!("profile/{profile_id}/service")
}

/// The account of a lock device's connection string on a profile.
pub fn device_account(profile_id: &str, device_id: &str) -> String {
    format!("profile/{profile_id}/device/{device_id}")
}

/// Runs a blocking secret-store call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KeychainError> + Send + 'static,
) -> Result<T, crate::CoreError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|error| crate::CoreError::internal(format!("the keychain call failed: {error}")))?
        .map_err(crate::CoreError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_follow_the_contract() {
        assert_eq!(service_account("abc"), "profile/abc/service");
        assert_eq!(
            device_account("abc", "door-lock-1"),
            "profile/abc/device/door-lock-1"
        );
    }

    #[test]
    fn the_memory_store_sets_gets_and_deletes() {
        let store = MemorySecretStore::default();
        store.set("a", "1").expect("set");
        assert_eq!(store.get("a").expect("get"), Some("1".to_owned()));
        assert!(store.delete("a").expect("delete"));
        assert!(!store.delete("a").expect("delete again"));
        assert_eq!(store.get("a").expect("get"), None);
        assert!(!format!("{store:?}").contains('1'));
    }
}
