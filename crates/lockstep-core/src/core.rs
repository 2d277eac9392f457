//! [`Core`]: the app's state and every operation the UI can ask for, with start-up phases
//! and events. The Tauri commands are one-line adapters over its methods.
//!
//! Start-up ([`Core::start`]) runs in the background while the window paints: open the
//! keychain (no keychain: [`AppStatus::KeychainUnavailable`], never a plaintext fallback),
//! load the profiles, start the local hub (registering `door-lock-1` on first run), restore
//! the active profile, connect its lock. Operations that change profiles or the lock device
//! are serialised by one async mutex; reads never wait for them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iothub::service::ServiceClient;
use tokio::sync::broadcast;

use lockstep_jobs::archive::{
    Archive, ArchiveError, DeviceResultsPage, DeviceResultsQuery, JobFilter,
};
use lockstep_jobs::draft::{self, FieldError, JobDraft};
use lockstep_jobs::errors::{Operation, describe};
use lockstep_jobs::preview::{self, JobPreview, PreviewError};
use lockstep_jobs::render;
use lockstep_jobs::summary::JobSummary;
use lockstep_jobs::watch::WatchOptions;
use time::OffsetDateTime;

use crate::fleet::FleetController;
use crate::hub::{self, Permissions};
use crate::jobs::{JobsController, ProfileJobs};
use crate::local::{DOOR_LOCK_ID, LocalHub, LocalHubPorts};
use crate::lock::{LockController, LockTarget};
use crate::profiles::{LOCAL_PROFILE_ID, Profile, ProfileStore, Profiles};
use crate::secrets::{self, SecretOpener, SecretStore, blocking};
use crate::view::{
    ActivityDetail, ActivityEntry, AddAzureProfile, AddedProfile, AppStatus, BuilderDefaults,
    ExportFormat, ExportedFile, FleetView, HubTier, JobDetailView, KnobsView, LocalHubView,
    LockView, ProfileKind, ProfilesView, RenderForm, SecretKind, SubmitOutcome,
};
use crate::{CoreError, CoreEvent, guard};

/// How many events a slow listener may fall behind before it misses some.
const EVENT_CAPACITY: usize = 1024;
/// How long a shutdown waits for commands to let go of the local hub.
const LOCAL_RELEASE_WAIT: Duration = Duration::from_secs(3);
/// The local profile's host while its hub has never started.
const LOCAL_HOST_UNKNOWN: &str = "localhost";
/// How many device ids "pick the lock device" lists.
const DEVICE_LIST_LIMIT: u32 = 200;

/// Where the app keeps things and how it reaches the keychain.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The app data dir; the local hub lives in `<data_dir>/localhub`.
    pub data_dir: PathBuf,
    /// The app config dir; `profiles.json` lives there.
    pub config_dir: PathBuf,
    /// Which ports the local hub uses.
    pub ports: LocalHubPorts,
    /// How to open the secret store (the OS keychain in the app).
    pub secrets: SecretOpener,
    /// Where exports go (the user's Downloads dir); `None` or missing: the app data dir.
    pub downloads_dir: Option<PathBuf>,
}

impl CoreConfig {
    /// The app's configuration: the OS keychain and the standard ports when free.
    pub fn new(data_dir: impl Into<PathBuf>, config_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            config_dir: config_dir.into(),
            ports: LocalHubPorts::Standard,
            secrets: SecretOpener::keychain(),
            downloads_dir: None,
        }
    }
}

/// The app's logic. Cheap to clone; every clone is the same app.
#[derive(Debug, Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: CoreConfig,
    events: broadcast::Sender<CoreEvent>,
    status: Mutex<AppStatus>,
    secrets: Mutex<Option<Arc<dyn SecretStore>>>,
    profiles: Mutex<Option<ProfileStore>>,
    local: Mutex<Option<Arc<LocalHub>>>,
    /// Why the local hub is not running (it did not start), in words.
    local_problem: Mutex<Option<String>>,
    /// The local hub's CA (PEM), trusted by every client of the app; kept from its files
    /// when the hub itself does not start, so "Azure" profiles on other localhubs sharing
    /// the CA still work.
    local_ca: Mutex<Option<String>>,
    lock: LockController,
    jobs: JobsController,
    fleet: FleetController,
    ops: tokio::sync::Mutex<()>,
}

impl Core {
    /// An app that has not started yet ([`AppStatus::Starting`]); call [`Core::start`].
    pub fn new(config: CoreConfig) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                config,
                lock: LockController::new(events.clone()),
                jobs: JobsController::new(events.clone(), WatchOptions::default()),
                fleet: FleetController::new(events.clone()),
                events,
                status: Mutex::new(AppStatus::Starting),
                secrets: Mutex::new(None),
                profiles: Mutex::new(None),
                local: Mutex::new(None),
                local_problem: Mutex::new(None),
                local_ca: Mutex::new(None),
                ops: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.inner.events.subscribe()
    }

    /// The start-up phase.
    pub fn status(&self) -> AppStatus {
        guard(&self.inner.status).clone()
    }

    fn set_status(&self, status: AppStatus) {
        *guard(&self.inner.status) = status.clone();
        let _ = self.inner.events.send(CoreEvent::Status(status));
    }

    fn emit_profiles(&self, view: ProfilesView) {
        let _ = self.inner.events.send(CoreEvent::ProfilesChanged(view));
    }

    /// Runs the start-up phases (again, after a failure: "retry") and returns where they
    /// ended. Already ready: nothing to do.
    pub async fn start(&self) -> AppStatus {
        let _ops = self.inner.ops.lock().await;
        if self.status() == AppStatus::Ready {
            return AppStatus::Ready;
        }
        self.set_status(AppStatus::Starting);
        let status = match self.start_phases().await {
            Ok(()) => AppStatus::Ready,
            Err(CoreError::KeychainUnavailable { detail, hint }) => {
                AppStatus::KeychainUnavailable { detail, hint }
            }
            Err(error) => AppStatus::Failed {
                message: error.to_string(),
            },
        };
        if status != AppStatus::Ready {
            tracing::warn!(?status, "start-up stopped");
        }
        self.set_status(status.clone());
        status
    }

    async fn start_phases(&self) -> Result<(), CoreError> {
        // 1. The keychain, before anything that could need a secret.
        let opener = self.inner.config.secrets.clone();
        let store = blocking(move || opener.open()).await?;
        *guard(&self.inner.secrets) = Some(store);

        // 2. The profiles.
        let store = ProfileStore::load(&self.inner.config.config_dir)?;
        *guard(&self.inner.profiles) = Some(store);

        // 3. The job archive (every profile's jobs, kept across restarts).
        let data_dir = self.inner.config.data_dir.clone();
        self.inner.jobs.open_archive(data_dir).await?;

        // 4. The local hub. One that does not start leaves the app usable: the local
        // profile says why (and can retry), the Azure profiles work as ever.
        let local = match self.local() {
            Some(local) => Some(local),
            None => self.start_local_hub().await,
        };
        let host_name = match &local {
            Some(local) => local.host_name(),
            // Not started: keep the host the profile had (a first run has none yet).
            None => self
                .profiles()?
                .get(LOCAL_PROFILE_ID)
                .map_or_else(|_| LOCAL_HOST_UNKNOWN.to_owned(), |p| p.host_name.clone()),
        };
        let first_run = self.update_profiles(|p| Ok(p.ensure_local(&host_name)))?;
        if let Some(local) = &local {
            self.prepare_local(local, first_run).await;
        }
        let profiles = self.profiles()?;
        self.emit_profiles(self.profiles_view(&profiles));

        // 5. The active profile: its lock, its jobs, its fleet.
        if let Some(active) = profiles.active() {
            self.activate(active).await;
        }
        Ok(())
    }

    /// Stops the fleet, the job polls, the lock and the local hub, waiting for their tasks.
    pub async fn shutdown(&self) {
        let _ops = self.inner.ops.lock().await;
        self.inner.fleet.shutdown().await;
        self.inner.jobs.deactivate().await;
        self.inner.lock.shutdown().await;
        let local = guard(&self.inner.local).take();
        if let Some(mut local) = local {
            // A command may hold the hub for a moment: wait for it, so the hub's tasks end
            // and its database closes before the process does.
            let deadline = tokio::time::Instant::now() + LOCAL_RELEASE_WAIT;
            loop {
                match Arc::try_unwrap(local) {
                    Ok(local) => {
                        local.shutdown().await;
                        break;
                    }
                    Err(shared) if tokio::time::Instant::now() < deadline => {
                        local = shared;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(shared) => {
                        // Still held: dropping the last handle stops the hub without waiting.
                        tracing::warn!(
                            "the local hub is still in use; stopping it without waiting"
                        );
                        drop(shared);
                        break;
                    }
                }
            }
        }
    }

    fn local(&self) -> Option<Arc<LocalHub>> {
        guard(&self.inner.local).clone()
    }

    /// Starts the local hub; on failure remembers why (shown on the local profile) and
    /// answers `None`.
    async fn start_local_hub(&self) -> Option<Arc<LocalHub>> {
        let dir = self.inner.config.data_dir.join("localhub");
        match LocalHub::start(&dir, self.inner.config.ports).await {
            Ok(local) => {
                let local = Arc::new(local);
                *guard(&self.inner.local) = Some(local.clone());
                *guard(&self.inner.local_problem) = None;
                *guard(&self.inner.local_ca) = Some(local.ca_pem().to_owned());
                Some(local)
            }
            Err(error) => {
                tracing::warn!(%error, "the local hub is unavailable");
                *guard(&self.inner.local_problem) = Some(error.to_string());
                let ca = std::fs::read_to_string(dir.join(localhub::certs::CA_CERT_FILE)).ok();
                *guard(&self.inner.local_ca) =
                    ca.filter(|pem| pem.contains("-----BEGIN CERTIFICATE-----"));
                None
            }
        }
    }

    /// Registers `door-lock-1` as the local profile's lock on first run, or when the profile
    /// has none and the hub is empty (a first run whose hub did not start), and again when
    /// the hub's data was removed since. A failure leaves the lock unconfigured (logged): the
    /// user can still pick or create a device.
    async fn prepare_local(&self, local: &LocalHub, first_run: bool) {
        let lock_device = self
            .profiles()
            .ok()
            .and_then(|p| p.get(LOCAL_PROFILE_ID).ok().cloned())
            .and_then(|p| p.lock_device_id);
        let hub = local.running().hub();
        let empty = hub.device_count().is_ok_and(|count| count == 0);
        let register = if first_run || (lock_device.is_none() && empty) {
            local.register_door_lock().await.and_then(|()| {
                self.update_profiles(|p| p.set_lock_device(LOCAL_PROFILE_ID, Some(DOOR_LOCK_ID)))
            })
        } else if lock_device.as_deref() == Some(DOOR_LOCK_ID)
            && hub.get_device(DOOR_LOCK_ID).is_err()
        {
            // The hub's data was removed since: register the lock again.
            local.register_door_lock().await
        } else {
            Ok(())
        };
        if let Err(error) = register {
            tracing::warn!(%error, "the local hub's door lock is not registered");
        }
    }

    /// The local hub's CA (PEM), if the app has one.
    fn local_ca(&self) -> Option<String> {
        guard(&self.inner.local_ca).clone()
    }

    /// The error of an operation that needs the local hub while it is not running.
    fn local_unavailable(&self) -> CoreError {
        CoreError::NotFound(
            guard(&self.inner.local_problem)
                .clone()
                .unwrap_or_else(|| "the local hub is not running".to_owned()),
        )
    }

    /// The profiles as the UI sees them: the local one says why its hub is unavailable.
    fn profiles_view(&self, profiles: &Profiles) -> ProfilesView {
        let mut view = profiles.view();
        if let Some(problem) = guard(&self.inner.local_problem).clone() {
            for profile in &mut view.profiles {
                if profile.kind == ProfileKind::Local {
                    profile.unavailable = Some(problem.clone());
                }
            }
        }
        view
    }

    /// Starts the local hub again after it failed to (does nothing when it runs), and when
    /// its profile is active, connects its lock, jobs and fleet. Fails with why it still
    /// does not start.
    pub async fn retry_local_hub(&self) -> Result<LocalHubView, CoreError> {
        let _ops = self.inner.ops.lock().await;
        if self.status() != AppStatus::Ready {
            return Err(CoreError::internal("Lockstep is still starting"));
        }
        let local = match self.local() {
            Some(local) => local,
            None => {
                let started = self.start_local_hub().await;
                let profiles = self.profiles()?;
                self.emit_profiles(self.profiles_view(&profiles));
                let Some(local) = started else {
                    return Err(self.local_unavailable());
                };
                let host_name = local.host_name();
                let first_run = self.update_profiles(|p| Ok(p.ensure_local(&host_name)))?;
                self.prepare_local(&local, first_run).await;
                let profiles = self.profiles()?;
                self.emit_profiles(self.profiles_view(&profiles));
                if let Some(active) = profiles.active().filter(|p| p.kind == ProfileKind::Local) {
                    self.activate(active).await;
                }
                local
            }
        };
        let lock_device = self
            .profiles()?
            .get(LOCAL_PROFILE_ID)?
            .lock_device_id
            .clone();
        local.view(lock_device.as_deref())
    }

    /// The local hub, once started (for tests and diagnostics; the UI uses
    /// [`Core::local_hub_info`]).
    pub fn local_hub(&self) -> Option<Arc<LocalHub>> {
        self.local()
    }

    fn secrets(&self) -> Result<Arc<dyn SecretStore>, CoreError> {
        if let Some(store) = guard(&self.inner.secrets).clone() {
            return Ok(store);
        }
        Err(match self.status() {
            AppStatus::KeychainUnavailable { detail, hint } => {
                CoreError::KeychainUnavailable { detail, hint }
            }
            AppStatus::Failed { message } => CoreError::internal(message),
            AppStatus::Starting | AppStatus::Ready => {
                CoreError::internal("Lockstep is still starting")
            }
        })
    }

    fn profiles(&self) -> Result<Profiles, CoreError> {
        guard(&self.inner.profiles)
            .as_ref()
            .map(|store| store.profiles().clone())
            .ok_or_else(|| CoreError::internal("the profiles are not loaded yet"))
    }

    fn update_profiles<T>(
        &self,
        change: impl FnOnce(&mut Profiles) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        guard(&self.inner.profiles)
            .as_mut()
            .ok_or_else(|| CoreError::internal("the profiles are not loaded yet"))?
            .update(change)
    }

    fn active_profile(&self) -> Result<Profile, CoreError> {
        self.profiles()?
            .active()
            .cloned()
            .ok_or_else(|| CoreError::NotFound("no profile is active".to_owned()))
    }

    /// Makes `profile` the one the lock, the jobs and the fleet work on.
    async fn activate(&self, profile: &Profile) {
        self.activate_lock(profile).await;
        self.activate_jobs(profile).await;
    }

    /// Watches `profile`'s jobs (and imports the hub's in the background); the fleet is
    /// there on the local hub only, reconnected from the devices it registered before. A hub that cannot be set up now is tried again by the
    /// next job command.
    async fn activate_jobs(&self, profile: &Profile) {
        let local_fleet = profile.kind == ProfileKind::Local;
        self.inner.fleet.set_available(local_fleet).await;
        if local_fleet && let Some(local) = self.local() {
            // The simulated devices an earlier run registered are the fleet again.
            self.inner.fleet.restore(local).await;
        }
        let activated = match self.service_client(profile).await {
            Ok(client) => self.inner.jobs.activate(profile, client).await.map(drop),
            Err(error) => Err(error),
        };
        if let Err(error) = activated {
            self.inner.jobs.deactivate().await;
            tracing::warn!(profile = %profile.id, %error, "the jobs of this profile are not watched");
        }
    }

    /// Shows `profile`'s lock and connects it when it has a device.
    async fn activate_lock(&self, profile: &Profile) {
        let lock = &self.inner.lock;
        lock.set_profile(&profile.id, profile.lock_device_id.as_deref())
            .await;
        let Some(device_id) = profile.lock_device_id.as_deref() else {
            return;
        };
        match self.lock_target(profile, device_id).await {
            Ok(target) => lock.connect(device_id, target).await,
            Err(error) => {
                lock.log(
                    format!("Cannot connect the lock: {error}"),
                    ActivityDetail::Error {
                        message: error.to_string(),
                    },
                );
                lock.disconnect(&error.to_string()).await;
            }
        }
    }

    /// How the lock connects as `device_id` on `profile`'s hub.
    async fn lock_target(
        &self,
        profile: &Profile,
        device_id: &str,
    ) -> Result<LockTarget, CoreError> {
        let local = self.local();
        match profile.kind {
            ProfileKind::Local => {
                let local = local.ok_or_else(|| self.local_unavailable())?;
                Ok(LockTarget {
                    connection_string: local.device_connection_string(device_id)?,
                    options: local.device_options(),
                })
            }
            ProfileKind::Azure => {
                let store = self.secrets()?;
                let account = secrets::device_account(&profile.id, device_id);
                let secret = blocking(move || store.get(&account))
                    .await?
                    .ok_or_else(|| {
                        CoreError::NotFound(format!(
                            "the keychain has no connection string for the device '{device_id}' of \
                         this profile: choose the lock device again"
                        ))
                    })?;
                let connection_string = hub::parse_device_connection_string(&secret)?;
                let options = match &local {
                    // An "Azure" profile that points at the local hub: its MQTT port and CA.
                    Some(local) if local.host_name() == profile.host_name => local.device_options(),
                    Some(_) | None => iothub::device::DeviceClientOptions {
                        extra_ca_pem: self.local_ca(),
                        ..iothub::device::DeviceClientOptions::default()
                    },
                };
                Ok(LockTarget {
                    connection_string,
                    options,
                })
            }
        }
    }

    /// A service client on `profile`'s hub.
    async fn service_client(&self, profile: &Profile) -> Result<ServiceClient, CoreError> {
        let local = self.local();
        match profile.kind {
            ProfileKind::Local => local
                .map(|local| local.service().clone())
                .ok_or_else(|| self.local_unavailable()),
            ProfileKind::Azure => {
                let store = self.secrets()?;
                let account = secrets::service_account(&profile.id);
                let secret = blocking(move || store.get(&account))
                    .await?
                    .ok_or_else(|| {
                        CoreError::NotFound(format!(
                            "the keychain has no connection string for the profile '{}': delete \
                         the profile and add it again",
                            profile.name
                        ))
                    })?;
                let connection = hub::parse_service_connection_string(&secret)?;
                hub::service_client(connection, self.local_ca().as_deref(), false)
            }
        }
    }

    // ---- Profiles ----

    /// Every profile and the active one.
    pub fn list_profiles(&self) -> Result<ProfilesView, CoreError> {
        Ok(self.profiles_view(&self.profiles()?))
    }

    /// Adds an Azure IoT Hub profile: parse, check live, probe permissions, store the secret
    /// in the keychain, then the metadata. Any failure stores nothing.
    pub async fn add_azure_profile(
        &self,
        request: AddAzureProfile,
    ) -> Result<AddedProfile, CoreError> {
        let store = self.secrets()?;
        let connection = hub::parse_service_connection_string(&request.connection_string)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let host_name = connection.host_name().to_owned();
        // The name is checked before anything goes out.
        self.profiles()?.add_azure(&id, &request.name, &host_name)?;
        let policy = connection.shared_access_key_name().to_owned();
        let local_ca = self.local_ca();
        let client = hub::service_client(connection.clone(), local_ca.as_deref(), true)?;
        let permissions: Permissions = hub::check_hub(&client, &policy).await?;

        let _ops = self.inner.ops.lock().await;
        let account = secrets::service_account(&id);
        let secret = connection.expose_secret_string();
        {
            let store = store.clone();
            let account = account.clone();
            blocking(move || store.set(&account, &secret)).await?;
        }
        let added = self.update_profiles(|p| p.add_azure(&id, &request.name, &host_name));
        let profile = match added {
            Ok(profile) => profile,
            Err(error) => {
                // Nothing may stay behind: take the secret out again.
                let _ = blocking(move || store.delete(&account)).await;
                return Err(error);
            }
        };
        let profiles = self.profiles()?;
        self.emit_profiles(self.profiles_view(&profiles));
        self.activate(&profile).await;
        Ok(AddedProfile {
            profiles: self.profiles_view(&profiles),
            profile: profile.summary(),
            missing_permissions: permissions.missing(),
            warning: permissions.warning(&policy),
        })
    }

    /// Renames a profile.
    pub async fn rename_profile(&self, id: &str, name: &str) -> Result<ProfilesView, CoreError> {
        let _ops = self.inner.ops.lock().await;
        self.update_profiles(|p| p.rename(id, name))?;
        let view = self.profiles_view(&self.profiles()?);
        self.emit_profiles(view.clone());
        Ok(view)
    }

    /// Sets a profile's colour.
    pub async fn set_profile_colour(
        &self,
        id: &str,
        colour: &str,
    ) -> Result<ProfilesView, CoreError> {
        let _ops = self.inner.ops.lock().await;
        self.update_profiles(|p| p.set_colour(id, colour))?;
        let view = self.profiles_view(&self.profiles()?);
        self.emit_profiles(view.clone());
        Ok(view)
    }

    /// Sets an Azure profile's tier and units (`None`: not known), which set how many queries
    /// a minute Lockstep spends on its hub; its jobs are watched again with the new budget
    /// when it is active.
    pub async fn set_profile_tier(
        &self,
        id: &str,
        tier: Option<HubTier>,
    ) -> Result<ProfilesView, CoreError> {
        if let Some(Err(error)) = tier.map(HubTier::config) {
            return Err(CoreError::invalid(
                "units",
                format!("Not a hub Azure offers: {error}."),
            ));
        }
        let _ops = self.inner.ops.lock().await;
        self.update_profiles(|p| p.set_tier(id, tier))?;
        let profiles = self.profiles()?;
        let view = self.profiles_view(&profiles);
        self.emit_profiles(view.clone());
        if let Some(active) = profiles.active().filter(|p| p.id == id) {
            self.activate_jobs(active).await;
        }
        Ok(view)
    }

    /// Makes a profile active and shows (and connects) its lock.
    pub async fn switch_profile(&self, id: &str) -> Result<ProfilesView, CoreError> {
        let _ops = self.inner.ops.lock().await;
        self.update_profiles(|p| p.switch(id))?;
        let profiles = self.profiles()?;
        self.emit_profiles(self.profiles_view(&profiles));
        if let Some(active) = profiles.active() {
            self.activate(active).await;
        }
        Ok(self.profiles_view(&profiles))
    }

    /// Deletes an Azure profile and its keychain entries (the local hub's profile stays).
    pub async fn delete_profile(&self, id: &str) -> Result<ProfilesView, CoreError> {
        let _ops = self.inner.ops.lock().await;
        let before = self.profiles()?;
        let profile = before.get(id)?.clone();
        // Check before touching the keychain (the local profile cannot go).
        before.clone().delete(id)?;
        let store = self.secrets()?;
        let mut accounts = vec![secrets::service_account(id)];
        if let Some(device_id) = &profile.lock_device_id {
            accounts.push(secrets::device_account(id, device_id));
        }
        blocking(move || {
            for account in &accounts {
                store.delete(account)?;
            }
            Ok(())
        })
        .await?;
        self.update_profiles(|p| p.delete(id))?;
        let profiles = self.profiles()?;
        self.emit_profiles(self.profiles_view(&profiles));
        if before.active_id.as_deref() == Some(id)
            && let Some(active) = profiles.active()
        {
            self.activate(active).await;
        }
        Ok(self.profiles_view(&profiles))
    }

    // ---- The local hub ----

    /// The local hub's coordinates.
    pub fn local_hub_info(&self) -> Result<LocalHubView, CoreError> {
        let local = self.local().ok_or_else(|| self.local_unavailable())?;
        let lock_device = self
            .profiles()
            .ok()
            .and_then(|p| p.get(LOCAL_PROFILE_ID).ok().cloned())
            .and_then(|p| p.lock_device_id);
        local.view(lock_device.as_deref())
    }

    /// A local hub connection string in full, for an explicit reveal or copy.
    pub fn reveal_secret(&self, kind: SecretKind) -> Result<String, CoreError> {
        let local = self.local().ok_or_else(|| self.local_unavailable())?;
        match kind {
            SecretKind::ServiceConnectionString => Ok(local
                .running()
                .service_connection_string()
                .expose_secret_string()),
            SecretKind::DeviceConnectionString => {
                let device_id = self
                    .profiles()?
                    .get(LOCAL_PROFILE_ID)?
                    .lock_device_id
                    .clone()
                    .ok_or_else(|| {
                        CoreError::NotFound("the local hub has no lock device yet".into())
                    })?;
                Ok(local
                    .device_connection_string(&device_id)?
                    .expose_secret_string())
            }
        }
    }

    // ---- The lock ----

    /// The lock of the active profile.
    pub fn lock_view(&self) -> LockView {
        self.inner.lock.view()
    }

    /// The activity log, newest first.
    pub fn lock_activity(&self) -> Vec<ActivityEntry> {
        self.inner.lock.activity()
    }

    /// Empties the activity log.
    pub fn clear_activity(&self) {
        self.inner.lock.clear_activity();
    }

    /// Device ids on the active hub (the first 200).
    pub async fn list_hub_devices(&self) -> Result<Vec<String>, CoreError> {
        let profile = self.active_profile()?;
        let client = self.service_client(&profile).await?;
        let devices = client
            .list_devices(Some(DEVICE_LIST_LIMIT))
            .await
            .map_err(|error| CoreError::from_service("listing the hub's devices", &error))?;
        let mut ids: Vec<String> = devices.into_iter().filter_map(|d| d.device_id).collect();
        ids.sort();
        Ok(ids)
    }

    /// Makes `device_id` (registered first when `create`) the lock of the active profile and
    /// connects it. On Azure its connection string goes to the keychain.
    pub async fn use_lock_device(
        &self,
        device_id: &str,
        create: bool,
    ) -> Result<LockView, CoreError> {
        let device_id = device_id.trim();
        if device_id.is_empty() {
            return Err(CoreError::invalid("deviceId", "the device id is empty"));
        }
        let _ops = self.inner.ops.lock().await;
        let profile = self.active_profile()?;
        let client = self.service_client(&profile).await?;
        let identity = if create {
            hub::create_or_get_device(&client, device_id).await?
        } else {
            client.get_device(device_id).await.map_err(|error| {
                if error.is_not_found() {
                    CoreError::NotFound(format!(
                        "the hub has no device '{device_id}': create it instead"
                    ))
                } else {
                    CoreError::from_service("reading the device", &error)
                }
            })?
        };
        if profile.kind == ProfileKind::Azure {
            let connection_string =
                hub::device_connection_string(client.host_name(), device_id, &identity)?;
            self.store_device_secret(
                &profile,
                device_id,
                connection_string.expose_secret_string(),
            )
            .await?;
        } else {
            // Fails early (e.g. a certificate device) rather than at connect time.
            hub::device_connection_string(client.host_name(), device_id, &identity)?;
        }
        self.update_profiles(|p| p.set_lock_device(&profile.id, Some(device_id)))?;
        self.connect_active(device_id).await
    }

    /// Makes the device of a pasted connection string the lock of the active profile and
    /// connects it. On Azure the string is stored in the keychain; on the local hub the
    /// registry is the source of truth, so the device must exist there.
    pub async fn use_lock_connection_string(
        &self,
        connection_string: &str,
    ) -> Result<LockView, CoreError> {
        let parsed = hub::parse_device_connection_string(connection_string)?;
        let _ops = self.inner.ops.lock().await;
        let profile = self.active_profile()?;
        let profile_host = profile.host_name.split(':').next().unwrap_or_default();
        if !parsed.host().eq_ignore_ascii_case(profile_host) {
            return Err(CoreError::invalid(
                "connectionString",
                format!(
                    "this device belongs to the hub {}, but the active profile is {}",
                    parsed.host_name(),
                    profile.host_name
                ),
            ));
        }
        if parsed.module_id().is_some() {
            return Err(CoreError::invalid(
                "connectionString",
                "this is a module's connection string; the lock needs a device's",
            ));
        }
        let device_id = parsed.device_id().to_owned();
        match profile.kind {
            ProfileKind::Azure => {
                self.store_device_secret(&profile, &device_id, parsed.expose_secret_string())
                    .await?;
            }
            ProfileKind::Local => {
                let local = self.local().ok_or_else(|| self.local_unavailable())?;
                local.device_connection_string(&device_id)?;
            }
        }
        self.update_profiles(|p| p.set_lock_device(&profile.id, Some(&device_id)))?;
        self.connect_active(&device_id).await
    }

    async fn store_device_secret(
        &self,
        profile: &Profile,
        device_id: &str,
        secret: String,
    ) -> Result<(), CoreError> {
        let store = self.secrets()?;
        let account = secrets::device_account(&profile.id, device_id);
        let previous = profile
            .lock_device_id
            .as_deref()
            .filter(|previous| *previous != device_id)
            .map(|previous| secrets::device_account(&profile.id, previous));
        blocking(move || {
            store.set(&account, &secret)?;
            if let Some(previous) = previous {
                store.delete(&previous)?;
            }
            Ok(())
        })
        .await
    }

    async fn connect_active(&self, device_id: &str) -> Result<LockView, CoreError> {
        let profile = self.active_profile()?;
        let target = self.lock_target(&profile, device_id).await?;
        let lock = &self.inner.lock;
        if lock.profile_id() != profile.id {
            lock.set_profile(&profile.id, Some(device_id)).await;
        }
        lock.connect(device_id, target).await;
        Ok(lock.view())
    }

    /// Connects the active profile's lock device.
    pub async fn connect_lock(&self) -> Result<LockView, CoreError> {
        let _ops = self.inner.ops.lock().await;
        let profile = self.active_profile()?;
        let device_id = profile.lock_device_id.clone().ok_or_else(|| {
            CoreError::NotFound("choose or create the lock's device first".to_owned())
        })?;
        self.connect_active(&device_id).await
    }

    /// Disconnects the lock.
    pub async fn disconnect_lock(&self) -> Result<LockView, CoreError> {
        let _ops = self.inner.ops.lock().await;
        self.inner.lock.disconnect("disconnected by the user").await;
        Ok(self.inner.lock.view())
    }

    /// Sets the lock's rehearsal switches.
    pub fn set_lock_knobs(&self, knobs: KnobsView) -> Result<LockView, CoreError> {
        if let Some(status) = knobs.respond_with_status
            && !(100..=999).contains(&status)
        {
            return Err(CoreError::invalid(
                "respondWithStatus",
                format!("{status} is not a status code (100 to 999)"),
            ));
        }
        self.inner.lock.set_knobs(knobs.into());
        Ok(self.inner.lock.view())
    }

    // ---- Jobs ----

    /// The jobs of the active profile, set up now if they are not yet (e.g. the hub could
    /// not be reached when the profile became active).
    async fn profile_jobs(&self) -> Result<ProfileJobs, CoreError> {
        let profile = self.active_profile()?;
        if let Some(jobs) = self.inner.jobs.active(&profile.id) {
            return Ok(jobs);
        }
        let _ops = self.inner.ops.lock().await;
        let profile = self.active_profile()?;
        if let Some(jobs) = self.inner.jobs.active(&profile.id) {
            return Ok(jobs);
        }
        let client = self.service_client(&profile).await?;
        self.inner.jobs.activate(&profile, client).await
    }

    /// Runs `work` on the archive, for the active profile, off the async threads.
    async fn with_archive<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Archive, &str) -> Result<T, ArchiveError> + Send + 'static,
    ) -> Result<T, CoreError> {
        let profile_id = self.active_profile()?.id;
        let archive = self.inner.jobs.archive()?;
        tokio::task::spawn_blocking(move || work(&archive, &profile_id))
            .await
            .map_err(|error| CoreError::internal(format!("the job archive call failed: {error}")))?
            .map_err(|error| CoreError::internal(error.to_string()))
    }

    /// A fresh job form (new job id) and the lock's device id for the "this lock" preset.
    pub fn job_defaults(&self) -> Result<BuilderDefaults, CoreError> {
        Ok(BuilderDefaults {
            draft: JobDraft::new(),
            lock_device_id: self.active_profile()?.lock_device_id,
        })
    }

    /// Every problem of `draft`, in form order; empty when it can be submitted.
    pub fn validate_job(&self, draft: &JobDraft) -> Vec<FieldError> {
        draft::validate(draft, OffsetDateTime::now_utc())
            .err()
            .unwrap_or_default()
    }

    /// How many devices `condition` selects on the active hub, how many are connected, and
    /// the first ids.
    pub async fn preview_condition(&self, condition: &str) -> Result<JobPreview, CoreError> {
        // A bad condition costs no hub call and needs no hub.
        if let Err(message) = preview::preview_queries(condition) {
            return Err(CoreError::invalid("queryCondition", message));
        }
        let jobs = self.profile_jobs().await?;
        let now = std::time::Instant::now();
        if let Some(seen) = jobs.previews.as_ref().and_then(|c| c.get(condition, now)) {
            return Ok(seen);
        }
        let made =
            preview::preview(&jobs.client, condition)
                .await
                .map_err(|error| match error {
                    PreviewError::Invalid(message) => CoreError::invalid("queryCondition", message),
                    PreviewError::Hub(error) => {
                        CoreError::from(&describe(&error, Operation::Query))
                    }
                })?;
        if let Some(previews) = &jobs.previews {
            previews.put(condition, made.clone(), now);
        }
        Ok(made)
    }

    /// Validates `draft` and, when valid, creates the job on the active hub, archives and
    /// watches it. An invalid draft sends nothing.
    pub async fn submit_job(&self, draft: &JobDraft) -> Result<SubmitOutcome, CoreError> {
        let job = match draft::validate(draft, OffsetDateTime::now_utc()) {
            Ok(job) => job,
            Err(errors) => return Ok(SubmitOutcome::Invalid { errors }),
        };
        let jobs = self.profile_jobs().await?;
        // A job changes what conditions select (tags, desired properties): preview afresh.
        if let Some(previews) = &jobs.previews {
            previews.clear();
        }
        let summary = jobs.publish_after(jobs.watcher.schedule(&job)).await?;
        Ok(SubmitOutcome::Submitted {
            job: Box::new(summary),
        })
    }

    /// `draft` as an `az` command or a REST request on the active hub (never with a key).
    pub fn render_job(&self, draft: &JobDraft, form: RenderForm) -> Result<String, CoreError> {
        let job =
            draft::validate(draft, OffsetDateTime::now_utc()).map_err(|errors| {
                match errors.into_iter().next() {
                    Some(first) => CoreError::invalid(field_name(first.field), first.message),
                    None => CoreError::internal("the draft is invalid"),
                }
            })?;
        let host_name = self.active_profile()?.host_name;
        Ok(match form {
            RenderForm::AzCli => render::az_command(&host_name, &job),
            RenderForm::Rest => render::rest_request(&host_name, &job).to_text(),
        })
    }

    /// The archived jobs of the active profile that `filter` selects, the most recent first.
    pub async fn list_jobs(&self, filter: JobFilter) -> Result<Vec<JobSummary>, CoreError> {
        self.with_archive(move |archive, profile| archive.list_jobs(profile, &filter))
            .await
    }

    /// Imports the active hub's jobs into the archive and watches the unfinished ones;
    /// returns how many the hub listed.
    pub async fn refresh_jobs(&self) -> Result<u32, CoreError> {
        self.profile_jobs().await?.refresh().await
    }

    /// An archived job with its device counts per status.
    ///
    /// When the archive has fewer device results than the job has devices (a job imported
    /// after it finished, or a read that failed), they are read from the hub in the
    /// background; [`CoreEvent::JobUpdated`] says when they are in.
    pub async fn job_detail(&self, job_id: &str) -> Result<JobDetailView, CoreError> {
        let id = job_id.to_owned();
        let view = self
            .with_archive(move |archive, profile| {
                let Some(job) = archive.job(profile, &id)? else {
                    return Ok(None);
                };
                let status_counts = archive.device_status_counts(profile, &id)?;
                Ok(Some(JobDetailView { job, status_counts }))
            })
            .await?
            .ok_or_else(not_archived)?;
        if let Some(jobs) = self.inner.jobs.active(&self.active_profile()?.id) {
            jobs.watcher
                .fill_device_rows(&view.job.summary, &view.status_counts);
        }
        Ok(view)
    }

    /// One page of a job's device results.
    pub async fn device_results(
        &self,
        job_id: &str,
        query: DeviceResultsQuery,
    ) -> Result<DeviceResultsPage, CoreError> {
        let job_id = job_id.to_owned();
        self.with_archive(move |archive, profile| archive.device_results(profile, &job_id, &query))
            .await
    }

    /// Cancels a job on the active hub and watches it until the hub reports it ended.
    pub async fn cancel_job(&self, job_id: &str) -> Result<JobSummary, CoreError> {
        let jobs = self.profile_jobs().await?;
        jobs.publish_after(jobs.watcher.cancel(job_id)).await
    }

    /// An archived job as a new form: same kind, devices, method or patch, starting now,
    /// with a new job id.
    pub async fn clone_job(&self, job_id: &str) -> Result<JobDraft, CoreError> {
        let id = job_id.to_owned();
        let job = self
            .with_archive(move |archive, profile| archive.job(profile, &id))
            .await?
            .ok_or_else(not_archived)?
            .job()
            .map_err(|error| CoreError::internal(error.to_string()))?;
        JobDraft::from_job(&job).ok_or_else(|| {
            CoreError::invalid(
                "jobId",
                format!(
                    "the job '{job_id}' is not a method or twin job, so the builder cannot copy it"
                ),
            )
        })
    }

    /// Writes a job's device results to `<jobId>-results.csv|json` in the Downloads dir (the
    /// app data dir when there is none).
    pub async fn export_results(
        &self,
        job_id: &str,
        format: ExportFormat,
    ) -> Result<ExportedFile, CoreError> {
        let config = &self.inner.config;
        let dir = config
            .downloads_dir
            .clone()
            .filter(|dir| dir.is_dir())
            .unwrap_or_else(|| config.data_dir.clone());
        let extension = match format {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        };
        let path = dir.join(format!("{}-results.{extension}", file_name_part(job_id)));
        let id = job_id.to_owned();
        let target = path.clone();
        let rows = self
            .with_archive(move |archive, profile| {
                if archive.job(profile, &id)?.is_none() {
                    return Ok(None);
                }
                write_export(archive, profile, &id, format, &target).map(Some)
            })
            .await?
            .ok_or_else(not_archived)?;
        Ok(ExportedFile {
            path: path.display().to_string(),
            rows: u32::try_from(rows).unwrap_or(u32::MAX),
        })
    }

    /// Pauses the job polls while the window is hidden, and resumes them.
    pub fn set_window_visible(&self, visible: bool) {
        self.inner.jobs.set_visible(visible);
    }

    // ---- The fleet ----

    /// The simulated fleet on the local hub.
    pub fn fleet_status(&self) -> FleetView {
        self.inner.fleet.view()
    }

    /// Starts adding `count` (10, 100, 1,000 or 10,000) simulated devices on the local hub;
    /// progress follows as [`CoreEvent::FleetChanged`].
    pub async fn add_simulated_devices(&self, count: u32) -> Result<FleetView, CoreError> {
        let local = self.local().ok_or_else(|| self.local_unavailable())?;
        self.inner.fleet.add(local, count).await
    }
}

/// The camelCase name of a draft field, as the UI spells it.
fn field_name(field: draft::DraftField) -> &'static str {
    use draft::DraftField;
    match field {
        DraftField::JobType => "jobType",
        DraftField::QueryCondition => "queryCondition",
        DraftField::MethodName => "methodName",
        DraftField::MethodPayload => "methodPayload",
        DraftField::ResponseTimeout => "responseTimeout",
        DraftField::ConnectTimeout => "connectTimeout",
        DraftField::TwinDesired => "twinDesired",
        DraftField::TwinTags => "twinTags",
        DraftField::StartAt => "startAt",
        DraftField::MaxExecutionTime => "maxExecutionTime",
        DraftField::JobId => "jobId",
    }
}

fn not_archived() -> CoreError {
    CoreError::NotFound(
        "this job is not in the archive of the active profile: refresh the jobs".to_owned(),
    )
}

/// `job_id` as part of a file name: characters other than letters, digits, `-`, `_` and `.`
/// become `_`, and a leading `.` too (no hidden files, no path separators).
fn file_name_part(job_id: &str) -> String {
    job_id
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || (c == '.' && i > 0) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes the export to a temporary file beside `path`, then renames it into place, so a
/// failure never leaves half a file under the final name.
fn write_export(
    archive: &Archive,
    profile: &str,
    job_id: &str,
    format: ExportFormat,
    path: &std::path::Path,
) -> Result<usize, ArchiveError> {
    use std::io::Write;
    let partial = path.with_extension("partial");
    let file = std::fs::File::create(&partial)?;
    let mut out = std::io::BufWriter::new(file);
    let written = match format {
        ExportFormat::Csv => archive.export_csv(profile, job_id, None, &mut out),
        ExportFormat::Json => archive.export_json(profile, job_id, None, &mut out),
    };
    let rows = match written.and_then(|rows| {
        out.flush()?;
        Ok(rows)
    }) {
        Ok(rows) => rows,
        Err(error) => {
            drop(out);
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    drop(out);
    std::fs::rename(&partial, path)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_make_safe_file_names() {
        assert_eq!(
            file_name_part("3f2b8c1e-0000-4000-8000-000000000001"),
            "3f2b8c1e-0000-4000-8000-000000000001"
        );
        assert_eq!(file_name_part("../etc/passwd"), "_._etc_passwd");
        assert_eq!(file_name_part("a b:c"), "a_b_c");
    }
}
