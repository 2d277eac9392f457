//! Profile metadata: `profiles.json` in the app config dir. Names, hosts, kinds, colours and
//! each profile's lock device id; **never a secret** (those live in the keychain, see
//! [`crate::secrets`]).
//!
//! [`Profiles`] is the pure model (validation, add/rename/colour/switch/delete);
//! [`ProfileStore`] keeps it in the file, written atomically (temp file + rename) so that a
//! crash never leaves half a file.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::view::{HubTier, ProfileKind, ProfileSummary, ProfilesView};

/// The file name in the app config dir.
pub const PROFILES_FILE: &str = "profiles.json";
/// The id of the local hub's profile.
pub const LOCAL_PROFILE_ID: &str = "local";
/// The local hub profile's name on first run.
pub const LOCAL_PROFILE_NAME: &str = "Local hub";
/// The local hub profile's colour on first run.
pub const LOCAL_PROFILE_COLOUR: &str = "#3b82f6";
/// Colours handed to new Azure profiles in turn.
const PALETTE: [&str; 6] = [
    "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6",
];
/// The longest profile name accepted.
const MAX_NAME_CHARS: usize = 64;

/// One profile as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Stable id.
    pub id: String,
    /// What the user calls it.
    pub name: String,
    /// Local hub or Azure.
    pub kind: ProfileKind,
    /// The hub's host name.
    pub host_name: String,
    /// A CSS hex colour.
    pub colour: String,
    /// The virtual lock's device id on this hub, once chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_device_id: Option<String>,
    /// An Azure hub's tier and units, as the person gave them (for its query quota);
    /// `None`: not given, the smallest is assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<HubTier>,
}

impl Profile {
    /// The sidebar's view of it.
    pub fn summary(&self) -> ProfileSummary {
        ProfileSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            host_name: self.host_name.clone(),
            colour: self.colour.clone(),
            unavailable: None,
            tier: self.tier,
            queries_per_minute: self.queries_per_minute(),
        }
    }

    /// The queries a minute Lockstep may spend on this profile's hub (device rows of jobs):
    /// half of its tier's quota on Azure, leaving the rest to the hub's other clients;
    /// `None` (no limit) on the local hub.
    pub fn queries_per_minute(&self) -> Option<u32> {
        if self.kind == ProfileKind::Local {
            return None;
        }
        let quota = self
            .tier
            .unwrap_or(HubTier::ASSUMED)
            .config()
            .ok()
            .and_then(|tier| tier.queries_per_minute())?;
        Some((quota / 2).max(1))
    }
}

/// Every profile and the active one: the content of `profiles.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profiles {
    /// The file format's version.
    #[serde(default = "format_version")]
    pub version: u32,
    /// The active profile.
    #[serde(default)]
    pub active_id: Option<String>,
    /// In the order they were added.
    #[serde(default)]
    pub profiles: Vec<Profile>,
}

fn format_version() -> u32 {
    1
}

impl Default for Profiles {
    fn default() -> Self {
        Self {
            version: format_version(),
            active_id: None,
            profiles: Vec::new(),
        }
    }
}

impl Profiles {
    /// The UI's view.
    pub fn view(&self) -> ProfilesView {
        ProfilesView {
            profiles: self.profiles.iter().map(Profile::summary).collect(),
            active_id: self.active_id.clone(),
        }
    }

    /// The profile `id`.
    pub fn get(&self, id: &str) -> Result<&Profile, CoreError> {
        self.profiles
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| CoreError::NotFound(format!("there is no profile '{id}'")))
    }

    fn get_mut(&mut self, id: &str) -> Result<&mut Profile, CoreError> {
        self.profiles
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or_else(|| CoreError::NotFound(format!("there is no profile '{id}'")))
    }

    /// The active profile, if any.
    pub fn active(&self) -> Option<&Profile> {
        let id = self.active_id.as_deref()?;
        self.profiles.iter().find(|p| p.id == id)
    }

    /// Makes sure the local hub's profile exists with `host_name`; returns whether it was
    /// created (first run). A new local profile becomes active when none is.
    pub fn ensure_local(&mut self, host_name: &str) -> bool {
        if let Ok(local) = self.get_mut(LOCAL_PROFILE_ID) {
            local.host_name = host_name.to_owned();
            return false;
        }
        self.profiles.insert(
            0,
            Profile {
                id: LOCAL_PROFILE_ID.to_owned(),
                name: LOCAL_PROFILE_NAME.to_owned(),
                kind: ProfileKind::Local,
                host_name: host_name.to_owned(),
                colour: LOCAL_PROFILE_COLOUR.to_owned(),
                lock_device_id: None,
                tier: None,
            },
        );
        if self.active().is_none() {
            self.active_id = Some(LOCAL_PROFILE_ID.to_owned());
        }
        true
    }

    /// Adds an Azure profile (active from now on) and returns it.
    pub fn add_azure(
        &mut self,
        id: &str,
        name: &str,
        host_name: &str,
    ) -> Result<Profile, CoreError> {
        let name = if name.trim().is_empty() {
            // The hub's name: the first label of its host, without a port.
            let host = host_name.split(':').next().unwrap_or(host_name);
            host.split('.').next().unwrap_or(host).to_owned()
        } else {
            valid_name(name)?
        };
        let azure_count = self
            .profiles
            .iter()
            .filter(|p| p.kind == ProfileKind::Azure)
            .count();
        let profile = Profile {
            id: id.to_owned(),
            name,
            kind: ProfileKind::Azure,
            host_name: host_name.to_owned(),
            colour: PALETTE[azure_count % PALETTE.len()].to_owned(),
            lock_device_id: None,
            tier: None,
        };
        self.profiles.push(profile.clone());
        self.active_id = Some(profile.id.clone());
        Ok(profile)
    }

    /// Renames a profile.
    pub fn rename(&mut self, id: &str, name: &str) -> Result<(), CoreError> {
        let name = valid_name(name)?;
        self.get_mut(id)?.name = name;
        Ok(())
    }

    /// Sets a profile's colour (`#rgb` or `#rrggbb`).
    pub fn set_colour(&mut self, id: &str, colour: &str) -> Result<(), CoreError> {
        let colour = valid_colour(colour)?;
        self.get_mut(id)?.colour = colour;
        Ok(())
    }

    /// Sets an Azure profile's tier (`None`: not known); the local hub has no tier.
    pub fn set_tier(&mut self, id: &str, tier: Option<HubTier>) -> Result<(), CoreError> {
        let profile = self.get_mut(id)?;
        if profile.kind == ProfileKind::Local {
            return Err(CoreError::invalid(
                "tier",
                "The local hub has no tier: it answers as many queries as the machine allows.",
            ));
        }
        profile.tier = tier;
        Ok(())
    }

    /// Makes a profile the active one.
    pub fn switch(&mut self, id: &str) -> Result<(), CoreError> {
        self.get(id)?;
        self.active_id = Some(id.to_owned());
        Ok(())
    }

    /// Sets a profile's lock device.
    pub fn set_lock_device(&mut self, id: &str, device_id: Option<&str>) -> Result<(), CoreError> {
        self.get_mut(id)?.lock_device_id = device_id.map(str::to_owned);
        Ok(())
    }

    /// Removes a profile (not the local hub's) and returns it; when it was active, the local
    /// hub (or the first profile left) becomes active.
    pub fn delete(&mut self, id: &str) -> Result<Profile, CoreError> {
        let profile = self.get(id)?.clone();
        if profile.kind == ProfileKind::Local {
            return Err(CoreError::InvalidInput {
                field: Some("id".to_owned()),
                message: "the local hub's profile cannot be deleted".to_owned(),
            });
        }
        self.profiles.retain(|p| p.id != id);
        if self.active_id.as_deref() == Some(id) {
            self.active_id = self
                .profiles
                .iter()
                .find(|p| p.id == LOCAL_PROFILE_ID)
                .or(self.profiles.first())
                .map(|p| p.id.clone());
        }
        Ok(profile)
    }
}

fn valid_name(name: &str) -> Result<String, CoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CoreError::invalid("name", "the name is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(CoreError::invalid(
            "name",
            format!("the name is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "name",
            "the name contains control characters",
        ));
    }
    Ok(name.to_owned())
}

fn valid_colour(colour: &str) -> Result<String, CoreError> {
    let colour = colour.trim();
    let hex = colour.strip_prefix('#').unwrap_or("");
    if (hex.len() == 3 || hex.len() == 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(colour.to_ascii_lowercase())
    } else {
        Err(CoreError::invalid(
            "colour",
            format!("'{colour}' is not a colour such as #3b82f6"),
        ))
    }
}

/// [`Profiles`] kept in `profiles.json`.
#[derive(Debug)]
pub struct ProfileStore {
    path: PathBuf,
    profiles: Profiles,
}

impl ProfileStore {
    /// Reads `profiles.json` in `config_dir` (none yet: no profiles).
    pub fn load(config_dir: &Path) -> Result<Self, CoreError> {
        let path = config_dir.join(PROFILES_FILE);
        let profiles = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                CoreError::internal(format!(
                    "{} is not a valid profiles file: {error}",
                    path.display()
                ))
            })?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Profiles::default(),
            Err(error) => {
                return Err(CoreError::internal(format!(
                    "cannot read {}: {error}",
                    path.display()
                )));
            }
        };
        Ok(Self { path, profiles })
    }

    /// The profiles.
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// Applies `change` and saves; on any failure (of the change or of the write) nothing
    /// changes, in memory or on disk.
    pub fn update<T>(
        &mut self,
        change: impl FnOnce(&mut Profiles) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let mut next = self.profiles.clone();
        let out = change(&mut next)?;
        if next != self.profiles {
            write_atomically(&self.path, &next)?;
            self.profiles = next;
        }
        Ok(out)
    }
}

fn write_atomically(path: &Path, profiles: &Profiles) -> Result<(), CoreError> {
    let fail =
        |error: io::Error| CoreError::internal(format!("cannot write {}: {error}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let bytes = serde_json::to_vec_pretty(profiles)
        .map_err(|error| CoreError::internal(format!("cannot encode the profiles: {error}")))?;
    let temp = dir.join(format!(".{PROFILES_FILE}.{}.tmp", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(fail(error));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_local() -> Profiles {
        let mut profiles = Profiles::default();
        assert!(profiles.ensure_local("localhost:8443"));
        profiles
    }

    #[test]
    fn the_local_profile_is_created_once_and_active() {
        let mut profiles = with_local();
        assert_eq!(profiles.active_id.as_deref(), Some(LOCAL_PROFILE_ID));
        assert!(!profiles.ensure_local("localhost:40000"));
        assert_eq!(profiles.profiles.len(), 1);
        assert_eq!(profiles.profiles[0].host_name, "localhost:40000");
        assert_eq!(profiles.profiles[0].colour, "#3b82f6");
        assert_eq!(profiles.profiles[0].name, "Local hub");
    }

    #[test]
    fn azure_profiles_are_added_active_and_named_after_the_hub_by_default() {
        let mut profiles = with_local();
        let added = profiles
            .add_azure("a1", "  ", "contoso.azure-devices.net")
            .expect("added");
        assert_eq!(added.name, "contoso");
        assert_eq!(profiles.active_id.as_deref(), Some("a1"));
        let second = profiles
            .add_azure("a2", "Prod", "prod.azure-devices.net")
            .expect("added");
        assert_ne!(added.colour, second.colour);
    }

    #[test]
    fn rename_and_colour_are_validated() {
        let mut profiles = with_local();
        profiles.rename("local", "  My hub ").expect("renamed");
        assert_eq!(profiles.profiles[0].name, "My hub");
        assert!(matches!(
            profiles.rename("local", " "),
            Err(CoreError::InvalidInput { field: Some(ref f), .. }) if f == "name"
        ));
        assert!(matches!(
            profiles.rename("nope", "x"),
            Err(CoreError::NotFound(_))
        ));
        profiles.set_colour("local", "#ABCDEF").expect("colour");
        assert_eq!(profiles.profiles[0].colour, "#abcdef");
        for bad in ["red", "#12", "#12345g", "123456"] {
            assert!(
                matches!(
                    profiles.set_colour("local", bad),
                    Err(CoreError::InvalidInput { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn deleting_falls_back_to_the_local_profile_which_cannot_be_deleted() {
        let mut profiles = with_local();
        profiles
            .add_azure("a1", "A", "a.azure-devices.net")
            .expect("added");
        profiles.delete("a1").expect("deleted");
        assert_eq!(profiles.active_id.as_deref(), Some(LOCAL_PROFILE_ID));
        assert!(matches!(
            profiles.delete(LOCAL_PROFILE_ID),
            Err(CoreError::InvalidInput { .. })
        ));
        assert!(matches!(profiles.switch("a1"), Err(CoreError::NotFound(_))));
    }

    #[test]
    fn the_store_writes_atomically_and_rolls_back_failed_changes() {
        let dir = std::env::temp_dir().join(format!(
            "lockstep-core-profiles-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut store = ProfileStore::load(&dir).expect("loads nothing");
        store
            .update(|p| {
                p.ensure_local("localhost:8443");
                Ok(())
            })
            .expect("saved");
        let failed = store.update(|p| {
            p.rename(LOCAL_PROFILE_ID, "renamed")?;
            p.rename(LOCAL_PROFILE_ID, "")
        });
        assert!(failed.is_err());
        assert_eq!(store.profiles().profiles[0].name, LOCAL_PROFILE_NAME);
        let reloaded = ProfileStore::load(&dir).expect("reloads");
        assert_eq!(reloaded.profiles(), store.profiles());
        assert_eq!(reloaded.profiles().version, 1);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(PROFILES_FILE)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
