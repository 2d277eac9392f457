//! The sidebar: hub profiles.

use lockstep_core::view::{AddAzureProfile, AddedProfile, HubTier};
use lockstep_core::{Core, ProfilesView};
use tauri::State;

use crate::CommandError;

/// Every profile and the active one.
#[tauri::command]
pub fn list_profiles(core: State<'_, Core>) -> Result<ProfilesView, CommandError> {
    Ok(core.list_profiles()?)
}

/// Adds an Azure IoT Hub profile from a service connection string.
#[tauri::command]
pub async fn add_azure_profile(
    core: State<'_, Core>,
    request: AddAzureProfile,
) -> Result<AddedProfile, CommandError> {
    Ok(core.add_azure_profile(request).await?)
}

/// Renames a profile.
#[tauri::command]
pub async fn rename_profile(
    core: State<'_, Core>,
    id: String,
    name: String,
) -> Result<ProfilesView, CommandError> {
    Ok(core.rename_profile(&id, &name).await?)
}

/// Sets a profile's colour.
#[tauri::command]
pub async fn set_profile_colour(
    core: State<'_, Core>,
    id: String,
    colour: String,
) -> Result<ProfilesView, CommandError> {
    Ok(core.set_profile_colour(&id, &colour).await?)
}

/// Sets an Azure profile's tier and units (`null`: not known), for its query budget.
#[tauri::command]
pub async fn set_profile_tier(
    core: State<'_, Core>,
    id: String,
    tier: Option<HubTier>,
) -> Result<ProfilesView, CommandError> {
    Ok(core.set_profile_tier(&id, tier).await?)
}

/// Makes a profile active.
#[tauri::command]
pub async fn switch_profile(
    core: State<'_, Core>,
    id: String,
) -> Result<ProfilesView, CommandError> {
    Ok(core.switch_profile(&id).await?)
}

/// Deletes a profile and its keychain entries.
#[tauri::command]
pub async fn delete_profile(
    core: State<'_, Core>,
    id: String,
) -> Result<ProfilesView, CommandError> {
    Ok(core.delete_profile(&id).await?)
}
