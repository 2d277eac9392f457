//! The hub core: registry, twins, direct methods and device connections behind one handle.
//!
//! The MQTT and HTTPS front ends are adapters that turn wire input into calls on [`Hub`]; it
//! owns the store and the in-memory state of connected devices. Every operation answers with
//! the hub's own error codes ([`HubError`] with an [`ErrorCode`]), so the front ends only
//! serialize them. Locks are never held across an `.await`.

pub mod jobs;
mod reported;
pub mod tier;
pub mod twin;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use iothub::model::{
    AuthenticationMechanism, AuthenticationType, CloudToDeviceMethod, CloudToDeviceMethodResult,
    DeviceIdentity, DeviceStatus, ErrorCode, HubError, HubTime, SymmetricKey,
};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::policies::{self, Policy};
use crate::store::{self, Store, StoreError};
use twin::{TwinError, TwinState};

/// Longest device id.
pub const MAX_DEVICE_ID_LEN: usize = 128;
/// Largest direct-method payload, in bytes of JSON.
pub const MAX_METHOD_PAYLOAD_BYTES: usize = 128 * 1024;
/// Default and allowed range of a method's response timeout, in seconds.
pub const RESPONSE_TIMEOUT_DEFAULT: i32 = 30;
const RESPONSE_TIMEOUT_RANGE: std::ops::RangeInclusive<i32> = 5..=300;
/// Allowed range of a method's connect timeout, in seconds (default 0: must be online).
const CONNECT_TIMEOUT_RANGE: std::ops::RangeInclusive<i32> = 0..=300;

/// `If-Match` as the service sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// No header: create semantics for identities, unconditional for twins.
    Absent,
    /// `*` or `"*"`: any existing version.
    Any,
    /// A specific etag, quotes removed.
    Etag(String),
}

impl IfMatch {
    /// Reads an `If-Match` header value, accepting quoted and unquoted forms.
    pub fn from_header(value: Option<&str>) -> Self {
        match value.map(|v| v.trim().trim_matches('"')) {
            None | Some("") => Self::Absent,
            Some("*") => Self::Any,
            Some(etag) => Self::Etag(etag.to_owned()),
        }
    }

    fn admits(&self, current: &str) -> bool {
        match self {
            Self::Absent | Self::Any => true,
            Self::Etag(etag) => etag == current,
        }
    }
}

/// What the hub sends a connected device.
#[derive(Debug, Clone, PartialEq)]
pub enum ToDevice {
    /// A direct method call; answer with [`Hub::method_response`].
    MethodRequest {
        /// Method name.
        name: String,
        /// Request id (`$rid`).
        rid: String,
        /// The invocation's payload (JSON `null` when none was given).
        payload: Value,
    },
    /// A desired-properties change, with `$version` inside.
    DesiredPatch(Value),
    /// The hub closes this connection (another connection took over, or the device went).
    Close(&'static str),
}

/// Which hub→device topics a device has subscribed to. Kept per device across reconnects:
/// the official Python device SDK subscribes once and never again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subscriptions {
    /// `$iothub/methods/POST/#`.
    pub methods: bool,
    /// `$iothub/twin/PATCH/properties/desired/#`.
    pub desired: bool,
    /// `$iothub/twin/res/#`.
    pub twin_responses: bool,
}

/// A live device connection as the MQTT front end holds it.
#[derive(Debug)]
pub struct DeviceConnection {
    /// The device.
    pub device_id: String,
    /// Identifies this connection among the device's successive ones.
    pub connection_id: u64,
    /// What the hub sends this connection.
    pub inbox: mpsc::Receiver<ToDevice>,
}

#[derive(Debug)]
struct Live {
    connection_id: u64,
    sender: mpsc::Sender<ToDevice>,
}

#[derive(Debug, Default)]
struct Devices {
    live: HashMap<String, Live>,
    subscriptions: HashMap<String, Subscriptions>,
    pending: HashMap<String, PendingMethod>,
}

#[derive(Debug)]
struct PendingMethod {
    device_id: String,
    reply: oneshot::Sender<CloudToDeviceMethodResult>,
}

type Clock = dyn Fn() -> OffsetDateTime + Send + Sync;

struct Inner {
    store: Store,
    host_name: String,
    clock: Box<Clock>,
    devices: Mutex<Devices>,
    /// Woken whenever a device connects or subscribes, for invocations that wait for one.
    device_changes: Notify,
    next_id: AtomicU64,
    /// Scheduled jobs: the waiting set, the scheduler's wake-up, the running jobs.
    jobs: jobs::Jobs,
    /// The group-commit writer of reported PATCHes, started on first use (`None`: the
    /// thread could not be started; PATCHes are then written one by one).
    reported: std::sync::OnceLock<Option<std::sync::mpsc::Sender<reported::Write>>>,
}

/// The hub. Cheap to clone; every clone is the same hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("host_name", &self.inner.host_name)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub over `store`, answering as `host_name` (e.g. `localhost:8443`). Creates the
    /// default shared-access policies with fresh keys if the store has none.
    pub fn new(store: Store, host_name: impl Into<String>) -> Result<Self, HubError> {
        Self::with_clock(store, host_name, Box::new(OffsetDateTime::now_utc))
    }

    /// Like [`Hub::new`] with an injected clock (tests).
    pub fn with_clock(
        store: Store,
        host_name: impl Into<String>,
        clock: Box<Clock>,
    ) -> Result<Self, HubError> {
        let hub = Self {
            inner: Arc::new(Inner {
                store,
                host_name: host_name.into(),
                clock,
                devices: Mutex::new(Devices::default()),
                device_changes: Notify::new(),
                next_id: AtomicU64::new(1),
                jobs: jobs::Jobs::default(),
                reported: std::sync::OnceLock::new(),
            }),
        };
        hub.ensure_default_policies()?;
        hub.load_subscriptions()?;
        Ok(hub)
    }

    /// The host name the hub answers as.
    pub fn host_name(&self) -> &str {
        &self.inner.host_name
    }

    fn now(&self) -> HubTime {
        now_of(&self.inner)
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    // ----- policies -------------------------------------------------------------------------

    fn ensure_default_policies(&self) -> Result<(), HubError> {
        for (name, rights) in policies::defaults() {
            let row = store::policies::PolicyRow {
                name: name.to_owned(),
                primary_key: new_key()?,
                secondary_key: new_key()?,
                rights: rights.to_string(),
            };
            self.store()
                .read(|conn| store::policies::insert_if_missing(conn, &row))
                .map_err(internal)?;
        }
        Ok(())
    }

    /// The hub's shared-access policies.
    pub fn policies(&self) -> Result<Vec<Policy>, HubError> {
        let rows = self.store().read(store::policies::all).map_err(internal)?;
        rows.iter()
            .map(Policy::from_row)
            .collect::<Result<_, _>>()
            .map_err(internal)
    }

    /// The policy called `name`, if any.
    pub fn policy(&self, name: &str) -> Result<Option<Policy>, HubError> {
        Ok(self.policies()?.into_iter().find(|p| p.name == name))
    }

    // ----- registry -------------------------------------------------------------------------

    /// `PUT /devices/{id}`: creates the device (no `If-Match`) or updates it (`If-Match`).
    ///
    /// Create generates missing keys, a generation id and an empty twin. Update replaces status
    /// and keys (keeping old ones where the body has none) and bumps the etag.
    pub fn put_device(
        &self,
        id: &str,
        body: DeviceIdentity,
        if_match: &IfMatch,
    ) -> Result<DeviceIdentity, HubError> {
        validate_device_id(id)?;
        if let Some(body_id) = body.device_id.as_deref()
            && body_id != id
        {
            return Err(HubError::new(
                ErrorCode::ArgumentInvalid,
                format!("deviceId '{body_id}' in the body does not match '{id}' in the path"),
            ));
        }
        let now = self.now();
        let identity = self.store().transaction(|tx| {
            let existing = store::devices::get(tx, id)?;
            let identity = match (existing, if_match) {
                (None, _) => {
                    let identity = new_identity(id, body, now)?;
                    store::twins::put(tx, id, &TwinState::new(now))?;
                    identity
                }
                (Some(_), IfMatch::Absent) => {
                    return Err(HubError::new(
                        ErrorCode::DeviceAlreadyExists,
                        format!("A device with ID '{id}' is already registered."),
                    ));
                }
                (Some(current), if_match) => {
                    let etag = current.etag.clone().unwrap_or_default();
                    if !if_match.admits(&etag) {
                        return Err(precondition_failed(id));
                    }
                    updated_identity(current, body, now)?
                }
            };
            store::devices::put(tx, id, &identity)?;
            Ok::<_, HubError>(identity)
        })?;
        if identity.status == Some(DeviceStatus::Disabled)
            && let Some(live) = self.devices().live.remove(id)
        {
            // A disabled device may not stay connected (and cannot reconnect: CONNACK 5).
            let _ = live.sender.try_send(ToDevice::Close("device disabled"));
        }
        Ok(self.with_live_state(identity))
    }

    /// `GET /devices/{id}`.
    pub fn get_device(&self, id: &str) -> Result<DeviceIdentity, HubError> {
        let identity = self
            .store()
            .read(|conn| store::devices::get(conn, id))
            .map_err(internal)?
            .ok_or_else(|| device_not_found(id))?;
        Ok(self.with_live_state(identity))
    }

    /// `GET /devices?top=N`.
    pub fn list_devices(&self, top: usize) -> Result<Vec<DeviceIdentity>, HubError> {
        let identities = self
            .store()
            .read(|conn| store::devices::list(conn, top))
            .map_err(internal)?;
        Ok(identities
            .into_iter()
            .map(|i| self.with_live_state(i))
            .collect())
    }

    /// `DELETE /devices/{id}`: removes the identity and its twin, and drops its connection.
    pub fn delete_device(&self, id: &str, if_match: &IfMatch) -> Result<(), HubError> {
        self.store().transaction(|tx| {
            let current = store::devices::get(tx, id)?.ok_or_else(|| device_not_found(id))?;
            if !if_match.admits(current.etag.as_deref().unwrap_or_default()) {
                return Err(precondition_failed(id));
            }
            store::devices::delete(tx, id)?;
            store::twins::delete(tx, id)?;
            store::subscriptions::delete(tx, id)?;
            Ok::<_, HubError>(())
        })?;
        let mut devices = self.devices();
        if let Some(live) = devices.live.remove(id) {
            let _ = live.sender.try_send(ToDevice::Close("device deleted"));
        }
        devices.subscriptions.remove(id);
        Ok(())
    }

    /// How many devices are registered.
    pub fn device_count(&self) -> Result<u64, HubError> {
        self.store().read(store::devices::count).map_err(internal)
    }

    /// `(total, disabled)` device counts, for `GET /statistics/devices`.
    pub fn device_statistics(&self) -> Result<(u64, u64), HubError> {
        self.store()
            .read(store::devices::count_by_status)
            .map_err(internal)
    }

    fn with_live_state(&self, mut identity: DeviceIdentity) -> DeviceIdentity {
        let connected = identity
            .device_id
            .as_deref()
            .is_some_and(|id| self.is_connected(id));
        identity.connection_state = Some(if connected {
            iothub::model::ConnectionState::Connected
        } else {
            iothub::model::ConnectionState::Disconnected
        });
        identity
    }

    // ----- twins ----------------------------------------------------------------------------

    /// `GET /twins/{id}`: the twin as the REST API shows it.
    pub fn get_twin(&self, id: &str) -> Result<Value, HubError> {
        let (identity, twin) = self.load_twin(id)?;
        Ok(self.twin_json(id, &identity, &twin))
    }

    /// `PATCH /twins/{id}`: merges `tags` and `properties.desired` from `patch`.
    pub fn patch_twin(
        &self,
        id: &str,
        patch: &Value,
        if_match: &IfMatch,
    ) -> Result<Value, HubError> {
        let (tags, desired) = writable_parts(patch)?;
        self.change_twin(id, if_match, |twin, now| {
            twin.patch(tags.as_ref(), desired.as_ref(), now)
        })
    }

    /// `PUT /twins/{id}`: replaces `tags` and `properties.desired` wholesale.
    pub fn replace_twin(
        &self,
        id: &str,
        body: &Value,
        if_match: &IfMatch,
    ) -> Result<Value, HubError> {
        let (tags, desired) = writable_parts(body)?;
        self.change_twin(id, if_match, move |twin, now| {
            twin.replace(&tags.unwrap_or_default(), &desired.unwrap_or_default(), now)
                .map(Some)
        })
    }

    /// Applies a service change to a twin in one transaction, if `if_match` admits its etag,
    /// then sends connected devices the desired notification the change produced (if any).
    fn change_twin(
        &self,
        id: &str,
        if_match: &IfMatch,
        change: impl FnOnce(&mut TwinState, HubTime) -> Result<Option<Value>, TwinError>,
    ) -> Result<Value, HubError> {
        let now = self.now();
        let (identity, twin, notification) = self.store().transaction(|tx| {
            let (identity, mut twin) = load_twin_in(tx, id)?;
            if !if_match.admits(&twin.etag()) {
                return Err(precondition_failed(id));
            }
            let notification = change(&mut twin, now).map_err(twin_error)?;
            store::twins::put(tx, id, &twin)?;
            Ok::<_, HubError>((identity, twin, notification))
        })?;
        if let Some(patch) = notification {
            self.notify_desired(id, patch);
        }
        Ok(self.twin_json(id, &identity, &twin))
    }

    /// A device's reported-properties PATCH (over MQTT). Returns the new reported `$version`.
    pub fn patch_reported(&self, id: &str, patch: &Value) -> Result<i64, HubError> {
        let Value::Object(patch) = patch else {
            return Err(HubError::new(
                ErrorCode::ArgumentInvalid,
                "reported properties must be a JSON object",
            ));
        };
        let now = self.now();
        self.store().transaction(|tx| {
            let mut twin = load_twin_state_in(tx, id)?;
            let version = twin.patch_reported(patch, now).map_err(twin_error)?;
            store::twins::put(tx, id, &twin)?;
            Ok::<_, HubError>(version)
        })
    }

    /// Like [`Hub::patch_reported`], but group-committed with the PATCHes of other devices
    /// that arrive while a commit is under way. The answer comes on the returned channel
    /// only once the PATCH is committed (or refused), so acknowledging it when it arrives
    /// never acknowledges an unwritten change. One device's PATCHes are applied in the order
    /// of the calls.
    pub fn patch_reported_queued(
        &self,
        id: &str,
        patch: Value,
    ) -> oneshot::Receiver<Result<i64, HubError>> {
        let (reply, answer) = oneshot::channel();
        let writer = self.inner.reported.get_or_init(|| {
            reported::start(Arc::downgrade(&self.inner))
                .map_err(|error| {
                    tracing::warn!(%error, "cannot start the reported-properties writer; writing each PATCH alone");
                })
                .ok()
        });
        let Some(writer) = writer else {
            let _ = reply.send(self.patch_reported(id, &patch));
            return answer;
        };
        let Value::Object(patch) = patch else {
            let _ = reply.send(self.patch_reported(id, &patch));
            return answer;
        };
        let write = reported::Write {
            device_id: id.to_owned(),
            patch,
            reply,
        };
        if let Err(std::sync::mpsc::SendError(write)) = writer.send(write) {
            // The writer thread ended (it only does when the hub is going away).
            let result = self.patch_reported(&write.device_id, &Value::Object(write.patch));
            let _ = write.reply.send(result);
        }
        answer
    }

    /// A device's twin GET (over MQTT): `{"desired":{…,"$version"},"reported":{…,"$version"}}`.
    pub fn device_twin_document(&self, id: &str) -> Result<Value, HubError> {
        let (_, twin) = self.load_twin(id)?;
        Ok(twin.to_device_document())
    }

    fn load_twin(&self, id: &str) -> Result<(DeviceIdentity, TwinState), HubError> {
        self.store()
            .read(|conn| Ok(load_twin_in(conn, id)))
            .map_err(internal)?
    }

    fn twin_json(&self, id: &str, identity: &DeviceIdentity, twin: &TwinState) -> Value {
        twin_document(id, identity, twin, self.is_connected(id))
    }

    fn notify_desired(&self, id: &str, patch: Value) {
        let devices = self.devices();
        let subscribed = devices.subscriptions.get(id).is_some_and(|s| s.desired);
        if let (true, Some(live)) = (subscribed, devices.live.get(id)) {
            // Nothing is queued for devices that are offline or too slow to drain their inbox:
            // they read the whole desired document with a twin GET when they (re)connect.
            let _ = live.sender.try_send(ToDevice::DesiredPatch(patch));
        }
    }

    // ----- queries --------------------------------------------------------------------------

    /// `POST /devices/query`: runs `query` over the twins (or device job rows), one page of at
    /// most `page_size` items starting at `continuation`.
    ///
    /// Results are computed whole and paged by position; the continuation token is the
    /// position of the next page. Like the real hub's, pages may shift if the registry changes
    /// between requests.
    pub fn query_devices(
        &self,
        query: &str,
        continuation: Option<&str>,
        page_size: usize,
    ) -> Result<QueryPage, HubError> {
        let query = iothub_query::parse_query(query)
            .map_err(|err| HubError::new(ErrorCode::ArgumentInvalid, err.to_string()))?;
        let start = match continuation {
            None => 0,
            Some(token) => token.parse::<usize>().map_err(|_| {
                HubError::new(
                    ErrorCode::ArgumentInvalid,
                    "the continuation token is invalid",
                )
            })?,
        };
        let star = matches!(query.select.items, iothub_query::SelectItems::Star);
        let (results, item_type) = match query.from {
            iothub_query::From::Devices => {
                let docs = self.twin_documents()?;
                (query.run(docs.iter()), if star { "Twin" } else { "Raw" })
            }
            iothub_query::From::DevicesJobs => {
                let docs = self.device_job_documents()?;
                (
                    query.run(docs.iter()),
                    if star { "DeviceJob" } else { "Raw" },
                )
            }
            iothub_query::From::DevicesModules => (
                query.run(std::iter::empty()),
                if star { "Twin" } else { "Raw" },
            ),
        };
        let page_size = page_size.max(1);
        let end = start.saturating_add(page_size).min(results.len());
        let items = results
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        Ok(QueryPage {
            items,
            continuation: (end < results.len()).then(|| end.to_string()),
            item_type,
        })
    }

    /// Every twin as the REST API shows it: the documents `FROM devices` ranges over.
    fn twin_documents(&self) -> Result<Vec<Value>, HubError> {
        let mut documents = Vec::new();
        self.for_each_twin_document(|document| {
            documents.push(document);
        })?;
        Ok(documents)
    }

    /// Calls `f` with every twin as the REST API shows it, in device id order, one at a time.
    fn for_each_twin_document(&self, mut f: impl FnMut(Value)) -> Result<(), HubError> {
        // The connection states, taken first: the devices lock is not taken under the store's.
        let connected: std::collections::HashSet<String> =
            self.devices().live.keys().cloned().collect();
        self.store()
            .read(|conn| {
                store::twins::for_each(conn, |id, identity, twin| {
                    f(twin_document(id, &identity, &twin, connected.contains(id)));
                    Ok::<_, store::StoreError>(())
                })
            })
            .map_err(internal)
    }

    /// The ids of the devices a job's `condition` selects now, in order. `*` reads only the
    /// ids; a `WHERE` condition is evaluated on each twin document as its row is read, so
    /// only the ids of the matching devices are kept.
    pub(super) fn job_targets(
        &self,
        condition: &iothub_query::Condition,
    ) -> Result<Vec<String>, HubError> {
        if condition.is_all() {
            return self.store().read(store::twins::ids).map_err(internal);
        }
        let mut targets = Vec::new();
        self.for_each_twin_document(|document| {
            if condition.matches(&document)
                && let Some(id) = document.get("deviceId").and_then(Value::as_str)
            {
                targets.push(id.to_owned());
            }
        })?;
        Ok(targets)
    }

    // ----- device connections ---------------------------------------------------------------

    /// Registers a new connection of `device_id`, closing the previous one if any (one
    /// connection per device, as on Azure).
    pub fn connect_device(&self, device_id: &str, inbox_capacity: usize) -> DeviceConnection {
        let (sender, inbox) = mpsc::channel(inbox_capacity.max(1));
        let connection_id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let previous = self.devices().live.insert(
            device_id.to_owned(),
            Live {
                connection_id,
                sender,
            },
        );
        if let Some(previous) = previous {
            let _ = previous.sender.try_send(ToDevice::Close(
                "another connection with the same device id",
            ));
        }
        self.inner.device_changes.notify_waiters();
        DeviceConnection {
            device_id: device_id.to_owned(),
            connection_id,
            inbox,
        }
    }

    /// Forgets a connection when it ends (unless a newer one has replaced it).
    pub fn disconnect_device(&self, device_id: &str, connection_id: u64) {
        let mut devices = self.devices();
        if devices
            .live
            .get(device_id)
            .is_some_and(|live| live.connection_id == connection_id)
        {
            devices.live.remove(device_id);
        }
    }

    /// Records a device's subscriptions; they persist across its reconnects and across hub
    /// restarts (stored before this returns).
    pub fn subscribe(
        &self,
        device_id: &str,
        update: impl FnOnce(&mut Subscriptions),
    ) -> Result<(), HubError> {
        let current = {
            let mut devices = self.devices();
            let entry = devices
                .subscriptions
                .entry(device_id.to_owned())
                .or_default();
            update(entry);
            *entry
        };
        self.store()
            .read(|conn| {
                store::subscriptions::put(
                    conn,
                    &(
                        device_id.to_owned(),
                        current.methods,
                        current.desired,
                        current.twin_responses,
                    ),
                )
            })
            .map_err(internal)?;
        self.inner.device_changes.notify_waiters();
        Ok(())
    }

    fn load_subscriptions(&self) -> Result<(), HubError> {
        let rows = self
            .store()
            .read(store::subscriptions::all)
            .map_err(internal)?;
        let mut devices = self.devices();
        for (id, methods, desired, twin_responses) in rows {
            devices.subscriptions.insert(
                id,
                Subscriptions {
                    methods,
                    desired,
                    twin_responses,
                },
            );
        }
        Ok(())
    }

    /// The device's current subscriptions.
    pub fn subscriptions(&self, device_id: &str) -> Subscriptions {
        self.devices()
            .subscriptions
            .get(device_id)
            .copied()
            .unwrap_or_default()
    }

    /// Whether the device has a live connection.
    pub fn is_connected(&self, device_id: &str) -> bool {
        self.devices().live.contains_key(device_id)
    }

    /// How many devices are connected.
    pub fn connected_count(&self) -> usize {
        self.devices().live.len()
    }

    fn devices(&self) -> MutexGuard<'_, Devices> {
        // A panic while holding this lock leaves plain maps behind; keep serving.
        self.inner
            .devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    // ----- direct methods -------------------------------------------------------------------

    /// `POST /twins/{id}/methods`: calls a direct method and waits for the device's answer.
    ///
    /// Fails with 404103 when the device is not connected and subscribed to methods within
    /// `connectTimeoutInSeconds`, and with 504101 when it does not answer within
    /// `responseTimeoutInSeconds`.
    pub async fn invoke_method(
        &self,
        device_id: &str,
        method: &CloudToDeviceMethod,
    ) -> Result<CloudToDeviceMethodResult, HubError> {
        let call = MethodCall::validate(method)?;
        // A connected device is registered (deleting one drops its connection first): only
        // when it is not connected does the registry have to say whether it exists. This
        // saves a query per device of a method job.
        let dispatched = self.try_dispatch(device_id, &call);
        if dispatched.is_none()
            && !self
                .store()
                .read(|conn| store::devices::exists(conn, device_id))
                .map_err(internal)?
        {
            return Err(device_not_found(device_id));
        }

        let deadline = tokio::time::Instant::now() + call.connect_timeout;
        let (rid, reply) = if let Some(pending) = dispatched {
            pending
        } else {
            loop {
                let changed = self.inner.device_changes.notified();
                if let Some(pending) = self.try_dispatch(device_id, &call) {
                    break pending;
                }
                if tokio::time::timeout_at(deadline, changed).await.is_err() {
                    return Err(HubError::new(
                        ErrorCode::DeviceNotOnline,
                        format!("Timed out waiting for device '{device_id}' to connect."),
                    ));
                }
            }
        };
        match tokio::time::timeout(call.response_timeout, reply).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) | Err(_) => {
                self.devices().pending.remove(&rid);
                Err(HubError::new(
                    ErrorCode::GatewayTimeout,
                    format!(
                        "Timed out waiting for the response from device '{device_id}' to method '{}'.",
                        call.name
                    ),
                ))
            }
        }
    }

    /// Sends the call if the device is connected and subscribed; returns its rid and reply.
    fn try_dispatch(
        &self,
        device_id: &str,
        call: &MethodCall,
    ) -> Option<(String, oneshot::Receiver<CloudToDeviceMethodResult>)> {
        let mut devices = self.devices();
        if !devices
            .subscriptions
            .get(device_id)
            .is_some_and(|s| s.methods)
        {
            return None;
        }
        let sender = devices.live.get(device_id)?.sender.clone();
        let rid = format!("{:x}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let request = ToDevice::MethodRequest {
            name: call.name.clone(),
            rid: rid.clone(),
            payload: call.payload.clone(),
        };
        sender.try_send(request).ok()?;
        let (reply, answer) = oneshot::channel();
        devices.pending.insert(
            rid.clone(),
            PendingMethod {
                device_id: device_id.to_owned(),
                reply,
            },
        );
        Some((rid, answer))
    }

    /// A device's answer to a method call (`$iothub/methods/res/{status}/?$rid=`). Answers
    /// to unknown or expired rids, or from another device, are dropped.
    pub fn method_response(&self, device_id: &str, rid: &str, status: i32, payload: Value) {
        let mut devices = self.devices();
        if devices
            .pending
            .get(rid)
            .is_some_and(|p| p.device_id == device_id)
            && let Some(pending) = devices.pending.remove(rid)
        {
            let _ = pending.reply.send(CloudToDeviceMethodResult {
                status: Some(status),
                payload,
            });
        }
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    /// The items of this page.
    pub items: Vec<Value>,
    /// The token for the next page, absent on the last page (`x-ms-continuation`).
    pub continuation: Option<String>,
    /// `x-ms-item-type`: `Twin`, `DeviceJob`, `JobResponse` or `Raw`.
    pub item_type: &'static str,
}

/// A direct-method invocation, validated.
#[derive(Debug, Clone)]
struct MethodCall {
    name: String,
    payload: Value,
    response_timeout: Duration,
    connect_timeout: Duration,
}

impl MethodCall {
    fn validate(method: &CloudToDeviceMethod) -> Result<Self, HubError> {
        let bad = |message: String| HubError::new(ErrorCode::ArgumentInvalid, message);
        let name = method
            .method_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| bad("methodName is required".into()))?;
        let response = method
            .response_timeout_in_seconds
            .unwrap_or(RESPONSE_TIMEOUT_DEFAULT);
        if !RESPONSE_TIMEOUT_RANGE.contains(&response) {
            return Err(bad(format!(
                "responseTimeoutInSeconds must be between 5 and 300, not {response}"
            )));
        }
        let connect = method.connect_timeout_in_seconds.unwrap_or(0);
        if !CONNECT_TIMEOUT_RANGE.contains(&connect) {
            return Err(bad(format!(
                "connectTimeoutInSeconds must be between 0 and 300, not {connect}"
            )));
        }
        let payload = method.payload.clone().unwrap_or(Value::Null);
        let size = serde_json::to_vec(&payload).map(|v| v.len()).unwrap_or(0);
        if size > MAX_METHOD_PAYLOAD_BYTES {
            return Err(HubError::new(
                ErrorCode::MessageTooLarge,
                format!("method payload is {size} bytes, over the 131072-byte limit"),
            ));
        }
        Ok(Self {
            name,
            payload,
            response_timeout: Duration::from_secs(response.unsigned_abs().into()),
            connect_timeout: Duration::from_secs(connect.unsigned_abs().into()),
        })
    }
}

/// A twin as the REST API shows it.
fn twin_document(id: &str, identity: &DeviceIdentity, twin: &TwinState, connected: bool) -> Value {
    json!({
        "deviceId": id,
        "etag": twin.etag(),
        "deviceEtag": identity.etag,
        "status": identity.status.as_ref().map(|s| s.as_str()).unwrap_or("enabled"),
        "statusUpdateTime": identity.status_updated_time.unwrap_or(HubTime::NEVER),
        "connectionState": if connected { "Connected" } else { "Disconnected" },
        "lastActivityTime": identity.last_activity_time.unwrap_or(HubTime::NEVER),
        "cloudToDeviceMessageCount": 0,
        "authenticationType": "sas",
        "x509Thumbprint": {"primaryThumbprint": null, "secondaryThumbprint": null},
        "modelId": "",
        "version": twin.version,
        "tags": twin.tags,
        "properties": {
            "desired": twin.desired.to_json(),
            "reported": twin.reported.to_json(),
        },
        "capabilities": {"iotEdge": false},
    })
}

fn load_twin_in(
    conn: &rusqlite::Connection,
    id: &str,
) -> Result<(DeviceIdentity, TwinState), HubError> {
    let identity = store::devices::get(conn, id)?.ok_or_else(|| device_not_found(id))?;
    let twin = store::twins::get(conn, id)?.ok_or_else(|| device_not_found(id))?;
    Ok((identity, twin))
}

/// The twin of `id` alone (a device's twin exists exactly as long as its identity: both are
/// written and deleted in one transaction).
fn now_of(inner: &Inner) -> HubTime {
    HubTime::at((inner.clock)()).unwrap_or(HubTime::NEVER)
}

fn load_twin_state_in(conn: &rusqlite::Connection, id: &str) -> Result<TwinState, HubError> {
    store::twins::get(conn, id)?.ok_or_else(|| device_not_found(id))
}

/// What a twin PATCH or PUT may change: `tags` and `properties.desired`, each if present.
type WritableParts = (Option<Map<String, Value>>, Option<Map<String, Value>>);

/// The service may write only `tags` and `properties.desired`.
fn writable_parts(body: &Value) -> Result<WritableParts, HubError> {
    let bad = |message: &str| HubError::new(ErrorCode::ArgumentInvalid, message.to_owned());
    let Value::Object(body) = body else {
        return Err(bad("the twin must be a JSON object"));
    };
    let tags = match body.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(tags)) => Some(tags.clone()),
        Some(_) => return Err(bad("tags must be a JSON object")),
    };
    let desired = match body.get("properties") {
        None | Some(Value::Null) => None,
        Some(Value::Object(properties)) => {
            if properties.get("reported").is_some_and(|r| !r.is_null()) {
                return Err(bad("reported properties can only be written by the device"));
            }
            match properties.get("desired") {
                None | Some(Value::Null) => None,
                Some(Value::Object(desired)) => {
                    let mut desired = desired.clone();
                    // Clients echo these back from a GET; they are the hub's to set.
                    desired.remove("$version");
                    desired.remove("$metadata");
                    Some(desired)
                }
                Some(_) => return Err(bad("properties.desired must be a JSON object")),
            }
        }
        Some(_) => return Err(bad("properties must be a JSON object")),
    };
    Ok((tags, desired))
}

fn new_identity(id: &str, body: DeviceIdentity, now: HubTime) -> Result<DeviceIdentity, HubError> {
    let authentication = with_keys(body.authentication)?;
    let generation: u64 = u64::from_be_bytes(random_bytes()?) % 1_000_000_000_000_000_000;
    Ok(DeviceIdentity {
        device_id: Some(id.to_owned()),
        generation_id: Some(format!("63{generation:018}")),
        etag: Some(device_etag(0)),
        connection_state: None,
        status: Some(body.status.unwrap_or(DeviceStatus::Enabled)),
        status_reason: body.status_reason,
        // A new identity's connection-state time is its creation time.
        connection_state_updated_time: Some(now),
        status_updated_time: Some(HubTime::NEVER),
        last_activity_time: Some(HubTime::NEVER),
        cloud_to_device_message_count: Some(0),
        authentication: Some(authentication),
        capabilities: body
            .capabilities
            .or(Some(iothub::model::DeviceCapabilities { iot_edge: false })),
        device_scope: body.device_scope,
        ..DeviceIdentity::default()
    })
}

fn updated_identity(
    current: DeviceIdentity,
    body: DeviceIdentity,
    now: HubTime,
) -> Result<DeviceIdentity, HubError> {
    let counter = current
        .etag
        .as_deref()
        .and_then(|e| STANDARD.decode(e).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let status_changed = body.status.is_some() && body.status != current.status;
    let authentication = match body.authentication {
        Some(auth) => with_keys(Some(auth))?,
        None => current
            .authentication
            .clone()
            .map_or_else(|| with_keys(None), Ok)?,
    };
    Ok(DeviceIdentity {
        etag: Some(device_etag(counter + 1)),
        status: body.status.or(current.status),
        status_reason: body.status_reason.or(current.status_reason),
        status_updated_time: if status_changed {
            Some(now)
        } else {
            current.status_updated_time
        },
        authentication: Some(authentication),
        capabilities: body.capabilities.or(current.capabilities),
        ..current
    })
}

/// Fills in generated keys where the body has none; only SAS authentication is supported.
fn with_keys(auth: Option<AuthenticationMechanism>) -> Result<AuthenticationMechanism, HubError> {
    let mut auth = auth.unwrap_or_default();
    match &auth.auth_type {
        None | Some(AuthenticationType::Sas) => {}
        Some(other) => {
            return Err(HubError::new(
                ErrorCode::ArgumentInvalid,
                format!("authentication type '{other}' is not supported by localhub; use 'sas'"),
            ));
        }
    }
    let keys = auth.symmetric_key.take().unwrap_or_default();
    let primary = key_or_new(keys.primary_key())?;
    let secondary = key_or_new(keys.secondary_key())?;
    auth.auth_type = Some(AuthenticationType::Sas);
    auth.symmetric_key = Some(SymmetricKey::new(&primary, &secondary));
    Ok(auth)
}

fn key_or_new(
    key: Result<Option<iothub::auth::SharedAccessKey>, iothub::auth::KeyError>,
) -> Result<iothub::auth::SharedAccessKey, HubError> {
    match key {
        Ok(Some(key)) => Ok(key),
        Ok(None) => policies::generate_key().map_err(|e| internal(e.to_string())),
        Err(_) => Err(HubError::new(
            ErrorCode::ArgumentInvalid,
            "symmetric keys must be base64",
        )),
    }
}

fn new_key() -> Result<String, HubError> {
    Ok(policies::generate_key()
        .map_err(|e| internal(e.to_string()))?
        .expose_base64())
}

fn random_bytes() -> Result<[u8; 8], HubError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| internal(e.to_string()))?;
    Ok(bytes)
}

/// Device etags are base64 of a decimal counter (`MA==` is "0"), as real hubs' decode.
fn device_etag(counter: u64) -> String {
    STANDARD.encode(counter.to_string())
}

/// Device ids: ≤ 128 ASCII characters, alphanumerics and `- : . + % _ # * ? ! ( ) , = @ ; $ '`.
pub fn validate_device_id(id: &str) -> Result<(), HubError> {
    const ALLOWED: &str = "-:.+%_#*?!(),=@;$'";
    let valid = !id.is_empty()
        && id.len() <= MAX_DEVICE_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ALLOWED.contains(c));
    if valid {
        Ok(())
    } else {
        Err(HubError::new(
            ErrorCode::ArgumentInvalid,
            format!("Device id is invalid: it must be 1-128 ASCII letters, digits or {ALLOWED}"),
        ))
    }
}

fn device_not_found(id: &str) -> HubError {
    HubError::new(
        ErrorCode::DeviceNotFound,
        format!("Device {id} could not be found."),
    )
}

fn precondition_failed(id: &str) -> HubError {
    HubError::new(
        ErrorCode::PreconditionFailed,
        format!("Precondition failed: the etag does not match the current version of '{id}'."),
    )
}

fn twin_error(err: TwinError) -> HubError {
    HubError::new(ErrorCode::ArgumentInvalid, err.to_string())
}

fn internal(err: impl std::fmt::Display) -> HubError {
    HubError::new(
        ErrorCode::ServerError,
        format!("localhub storage failed: {err}"),
    )
}

impl From<StoreError> for HubError {
    fn from(err: StoreError) -> Self {
        internal(err)
    }
}
