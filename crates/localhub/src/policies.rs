//! Shared-access policies: who may do what with which key.
//!
//! A new hub gets Azure's five default policies with random keys: `iothubowner` (everything),
//! `service` (ServiceConnect), `device` (DeviceConnect), `registryRead` and
//! `registryReadWrite`.

use std::fmt;

use iothub::auth::SharedAccessKey;

use crate::store::StoreError;
use crate::store::policies::PolicyRow;

/// One right a policy can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read device identities and twins, run queries.
    RegistryRead,
    /// Create, update and delete device identities (implies reading).
    RegistryWrite,
    /// Service-facing operations: twins, direct methods, jobs.
    ServiceConnect,
    /// Connect as any device.
    DeviceConnect,
}

impl Permission {
    /// Every permission, in Azure's order.
    pub const ALL: [Self; 4] = [
        Self::RegistryRead,
        Self::RegistryWrite,
        Self::ServiceConnect,
        Self::DeviceConnect,
    ];

    /// The name Azure uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::RegistryRead => "RegistryRead",
            Self::RegistryWrite => "RegistryWrite",
            Self::ServiceConnect => "ServiceConnect",
            Self::DeviceConnect => "DeviceConnect",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::RegistryRead => 1,
            Self::RegistryWrite => 2,
            Self::ServiceConnect => 4,
            Self::DeviceConnect => 8,
        }
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights(u8);

impl Rights {
    /// The set of `permissions`.
    pub fn of(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |acc, p| acc | p.bit()))
    }

    /// Whether `permission` is granted. RegistryWrite implies RegistryRead, as on Azure.
    pub fn grants(self, permission: Permission) -> bool {
        let implied = if self.0 & Permission::RegistryWrite.bit() != 0 {
            self.0 | Permission::RegistryRead.bit()
        } else {
            self.0
        };
        implied & permission.bit() != 0
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Permission::ALL
            .iter()
            .filter(|p| self.0 & p.bit() != 0)
            .map(|p| p.name())
            .collect();
        f.write_str(&names.join(", "))
    }
}

impl std::str::FromStr for Rights {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut rights = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let permission = Permission::ALL
                .into_iter()
                .find(|p| p.name() == name)
                .ok_or_else(|| format!("unknown permission '{name}'"))?;
            rights.push(permission);
        }
        Ok(Self::of(&rights))
    }
}

/// A shared-access policy with its keys.
#[derive(Clone)]
pub struct Policy {
    /// The name, the `SharedAccessKeyName` of connection strings and `skn` of tokens.
    pub name: String,
    /// The primary key.
    pub primary_key: SharedAccessKey,
    /// The secondary key.
    pub secondary_key: SharedAccessKey,
    /// What it grants.
    pub rights: Rights,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("rights", &self.rights)
            .finish_non_exhaustive()
    }
}

/// Azure's default policies.
pub fn defaults() -> [(&'static str, Rights); 5] {
    use Permission::*;
    [
        (
            "iothubowner",
            Rights::of(&[RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect]),
        ),
        ("service", Rights::of(&[ServiceConnect])),
        ("device", Rights::of(&[DeviceConnect])),
        ("registryRead", Rights::of(&[RegistryRead])),
        (
            "registryReadWrite",
            Rights::of(&[RegistryRead, RegistryWrite]),
        ),
    ]
}

/// 32 random bytes from the OS, the size of keys Azure generates.
pub fn generate_key() -> Result<SharedAccessKey, KeyGenerationError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| KeyGenerationError(err.to_string()))?;
    SharedAccessKey::from_bytes(bytes.to_vec()).map_err(|err| KeyGenerationError(err.to_string()))
}

/// The OS random source failed.
#[derive(Debug, thiserror::Error)]
#[error("could not generate a key: {0}")]
pub struct KeyGenerationError(String);

impl Policy {
    pub(crate) fn from_row(row: &PolicyRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Invalid(format!("policy '{}': {what}", row.name));
        Ok(Self {
            name: row.name.clone(),
            primary_key: SharedAccessKey::from_base64(&row.primary_key)
                .map_err(|_| corrupt("primary key is not base64"))?,
            secondary_key: SharedAccessKey::from_base64(&row.secondary_key)
                .map_err(|_| corrupt("secondary key is not base64"))?,
            rights: row.rights.parse().map_err(|e: String| corrupt(&e))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_round_trip_through_text_and_registry_write_implies_read() {
        let rights: Rights = "RegistryWrite, ServiceConnect".parse().expect("parse");
        assert!(rights.grants(Permission::RegistryRead));
        assert!(rights.grants(Permission::RegistryWrite));
        assert!(rights.grants(Permission::ServiceConnect));
        assert!(!rights.grants(Permission::DeviceConnect));
        assert_eq!(rights.to_string(), "RegistryWrite, ServiceConnect");
        assert!("Everything".parse::<Rights>().is_err());
    }

    #[test]
    fn defaults_match_azure() {
        let defaults = defaults();
        let owner = defaults[0].1;
        assert!(Permission::ALL.iter().all(|p| owner.grants(*p)));
        let service = defaults[1].1;
        assert!(service.grants(Permission::ServiceConnect));
        assert!(!service.grants(Permission::RegistryRead));
    }

    #[test]
    fn generated_keys_are_32_random_bytes() {
        let a = generate_key().expect("key").expose_base64();
        let b = generate_key().expect("key").expose_base64();
        assert_eq!(a.len(), 44);
        assert_ne!(a, b);
    }
}
