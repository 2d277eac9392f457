//! Talking to a hub as a back end: parsing a pasted service connection string with a precise
//! error, building the service client (trusting the local hub's CA), checking a hub live and
//! probing which permissions its policy grants.
//!
//! Permissions are probed with calls that cannot change anything: RegistryRead by reading the
//! registry statistics, ServiceConnect by invoking a method on a random device id that does
//! not exist, RegistryWrite by deleting (with `If-Match: *`) that same nonexistent id. A 401
//! means the permission is missing; any other answer of the hub (404 above all) means it is
//! granted. When every probe answers 401, the key itself is refused.

use std::time::Duration;

use iothub::auth::{DeviceConnectionString, ServiceConnectionString, SharedAccessKey};
use iothub::model::{
    AuthenticationMechanism, AuthenticationType, CloudToDeviceMethod, DeviceIdentity, DeviceStatus,
    SymmetricKey, Twin,
};
use iothub::service::{IfMatch, RetryPolicy, ServiceClient, ServiceClientOptions, ServiceError};
use serde_json::{Map, Value};

use crate::CoreError;

/// What jobs need, in Azure's names.
pub const JOB_PERMISSIONS: [&str; 3] = ["ServiceConnect", "RegistryRead", "RegistryWrite"];
/// What a masked key shows.
pub const MASK: &str = "••••••••";

/// Parses a pasted service connection string; a failure names what is wrong (field
/// `connectionString`) and never repeats the key.
pub fn parse_service_connection_string(raw: &str) -> Result<ServiceConnectionString, CoreError> {
    raw.trim().parse().map_err(|error| {
        CoreError::invalid(
            "connectionString",
            format!(
                "This is not a service connection string: {error}. Paste a shared access \
                 policy's connection string, e.g. HostName=<hub>.azure-devices.net;\
                 SharedAccessKeyName=iothubowner;SharedAccessKey=…"
            ),
        )
    })
}

/// Parses a pasted device connection string (field `connectionString`).
pub fn parse_device_connection_string(raw: &str) -> Result<DeviceConnectionString, CoreError> {
    raw.trim().parse().map_err(|error| {
        CoreError::invalid(
            "connectionString",
            format!(
                "This is not a device connection string: {error}. Paste a device's connection \
                 string, e.g. HostName=<hub>.azure-devices.net;DeviceId=<id>;SharedAccessKey=…"
            ),
        )
    })
}

/// `text` (a connection string) with the value of `SharedAccessKey` replaced by [`MASK`].
pub fn mask_connection_string(text: &str) -> String {
    text.split(';')
        .map(|part| match part.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("SharedAccessKey") => {
                format!("{key}={MASK}")
            }
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// A service client for `connection`, trusting `extra_ca_pem` (the local hub's CA) besides
/// the web roots. `quick`: one attempt per call and short timeouts, for checks while the user
/// waits.
pub fn service_client(
    connection: ServiceConnectionString,
    extra_ca_pem: Option<&str>,
    quick: bool,
) -> Result<ServiceClient, CoreError> {
    let mut options = ServiceClientOptions {
        extra_ca_pem: extra_ca_pem.map(|pem| pem.as_bytes().to_vec()),
        ..ServiceClientOptions::default()
    };
    if quick {
        options.retry = RetryPolicy::never();
        options.connect_timeout = Duration::from_secs(8);
        options.request_timeout = Duration::from_secs(15);
        options.method_timeout_margin = Duration::from_secs(5);
    }
    ServiceClient::new(connection, options)
        .map_err(|error| CoreError::internal(format!("cannot build the service client: {error}")))
}

/// Registers `device_id` with SAS keys generated here (so the same call works on Azure and on
/// the local hub), or reads it when it exists already.
pub async fn create_or_get_device(
    client: &ServiceClient,
    device_id: &str,
) -> Result<DeviceIdentity, CoreError> {
    let identity = DeviceIdentity {
        status: Some(DeviceStatus::Enabled),
        authentication: Some(AuthenticationMechanism {
            symmetric_key: Some(SymmetricKey::new(&random_key()?, &random_key()?)),
            auth_type: Some(AuthenticationType::Sas),
            ..AuthenticationMechanism::default()
        }),
        ..DeviceIdentity::default()
    };
    match client.create_device(device_id, &identity).await {
        Ok(created) => Ok(created),
        Err(error) if error.is_conflict() => client
            .get_device(device_id)
            .await
            .map_err(|error| CoreError::from_service("reading the device", &error)),
        Err(error) => Err(CoreError::from_service(
            &format!("registering the device '{device_id}'"),
            &error,
        )),
    }
}

/// Merges `tags` into a device twin's tags.
pub async fn set_tags(
    client: &ServiceClient,
    device_id: &str,
    tags: Map<String, Value>,
) -> Result<(), CoreError> {
    let patch = Twin {
        tags: Some(tags),
        ..Twin::default()
    };
    client
        .patch_twin(device_id, &patch, &IfMatch::Any)
        .await
        .map(drop)
        .map_err(|error| CoreError::from_service("tagging the device", &error))
}

/// The connection string of `identity` (its primary key) on the hub at `host_name`.
pub fn device_connection_string(
    host_name: &str,
    device_id: &str,
    identity: &DeviceIdentity,
) -> Result<DeviceConnectionString, CoreError> {
    let key = identity
        .authentication
        .as_ref()
        .and_then(|auth| auth.symmetric_key.as_ref())
        .and_then(SymmetricKey::expose_primary_key)
        .ok_or_else(|| {
            CoreError::invalid(
                "deviceId",
                format!(
                    "the device '{device_id}' has no shared access key (it uses certificates);                      pick or create a device with SAS authentication"
                ),
            )
        })?;
    format!("HostName={host_name};DeviceId={device_id};SharedAccessKey={key}")
        .parse()
        .map_err(|error| {
            CoreError::internal(format!(
                "the device's connection string does not parse: {error}"
            ))
        })
}

fn random_key() -> Result<SharedAccessKey, CoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| CoreError::internal(format!("no randomness for a device key: {error}")))?;
    SharedAccessKey::from_bytes(bytes.to_vec())
        .map_err(|error| CoreError::internal(format!("cannot make a device key: {error}")))
}

/// Which of the permissions jobs need a policy grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// Read the registry.
    pub registry_read: bool,
    /// Change the registry.
    pub registry_write: bool,
    /// Twins, methods, jobs.
    pub service_connect: bool,
}

impl Permissions {
    /// The missing ones, in [`JOB_PERMISSIONS`] order.
    pub fn missing(&self) -> Vec<String> {
        [
            ("ServiceConnect", self.service_connect),
            ("RegistryRead", self.registry_read),
            ("RegistryWrite", self.registry_write),
        ]
        .into_iter()
        .filter(|(_, granted)| !granted)
        .map(|(name, _)| name.to_owned())
        .collect()
    }

    /// What the missing ones mean, in words; `None` when nothing is missing.
    pub fn warning(&self, policy: &str) -> Option<String> {
        let missing = self.missing();
        if missing.is_empty() {
            return None;
        }
        Some(format!(
            "The policy '{policy}' lacks {}. Scheduling jobs needs ServiceConnect, RegistryRead \
             and RegistryWrite: use a policy that has all three (e.g. iothubowner) for jobs.",
            missing.join(", ")
        ))
    }
}

/// Checks the hub live and probes the policy's permissions. Fails with
/// [`CoreError::HubUnreachable`] when the hub cannot be reached and
/// [`CoreError::Unauthorized`] when it refuses the key outright.
pub async fn check_hub(client: &ServiceClient, policy: &str) -> Result<Permissions, CoreError> {
    let doing = "checking the hub";
    let registry_read = granted(doing, client.device_statistics().await)?;
    let probe_id = format!("lockstep-probe-{}", uuid::Uuid::new_v4().simple());
    let method = CloudToDeviceMethod {
        response_timeout_in_seconds: Some(5),
        connect_timeout_in_seconds: Some(0),
        ..CloudToDeviceMethod::new("lockstepPermissionProbe", serde_json::Value::Null)
    };
    let service_connect = granted(doing, client.invoke_method(&probe_id, &method).await)?;
    let registry_write = granted(doing, client.delete_device(&probe_id, &IfMatch::Any).await)?;
    if !registry_read && !service_connect && !registry_write {
        return Err(CoreError::Unauthorized(format!(
            "The hub {} refused the key of policy '{policy}': check that the connection string \
             is current (keys may have been regenerated) and that the policy grants service \
             permissions.",
            client.host_name()
        )));
    }
    Ok(Permissions {
        registry_read,
        registry_write,
        service_connect,
    })
}

/// Whether a probe's answer shows the permission: granted unless 401; a failure to reach the
/// hub is an error.
fn granted<T>(doing: &str, result: Result<T, ServiceError>) -> Result<bool, CoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(error) if error.is_unauthorized() => Ok(false),
        // Any other answer of the hub (404 above all), or a success status with an odd body:
        // the hub let the call through.
        Err(ServiceError::Hub(_) | ServiceError::InvalidResponse { .. }) => Ok(true),
        Err(error) => Err(CoreError::from_service(doing, &error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_only_the_key() {
        assert_eq!(
            mask_connection_string(
                "HostName=localhost:8443;SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0"
            ),
            "HostName=localhost:8443;SharedAccessKeyName=iothubowner;SharedAccessKey=••••••••"
        );
        assert_eq!(
            mask_connection_string("HostName=h;DeviceId=d;SharedAccessKey=abc="),
            "HostName=h;DeviceId=d;SharedAccessKey=••••••••"
        );
    }

    #[test]
    fn parse_errors_are_precise_and_name_the_field() {
        let error = parse_service_connection_string(
            "HostName=contoso.azure-devices.net;SharedAccessKey=abc",
        )
        .expect_err("no key name");
        match error {
            CoreError::InvalidInput { field, message } => {
                assert_eq!(field.as_deref(), Some("connectionString"));
                assert!(
                    message.contains("SharedAccessKeyName is missing"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        let error = parse_service_connection_string(
            "HostName=h.azure-devices.net;SharedAccessKeyName=x;SharedAccessKey=c2VjcmV0;DeviceId=d",
        )
        .expect_err("device string");
        assert!(error.to_string().contains("DeviceId"), "{error}");
        assert!(!error.to_string().contains("c2VjcmV0"), "{error}");
    }

    #[test]
    fn missing_permissions_are_listed_with_words() {
        let all = Permissions {
            registry_read: true,
            registry_write: true,
            service_connect: true,
        };
        assert!(all.missing().is_empty());
        assert_eq!(all.warning("iothubowner"), None);
        let read_only = Permissions {
            registry_read: true,
            registry_write: false,
            service_connect: false,
        };
        assert_eq!(read_only.missing(), vec!["ServiceConnect", "RegistryWrite"]);
        let warning = read_only.warning("registryRead").expect("warning");
        assert!(
            warning.contains("registryRead") && warning.contains("jobs"),
            "{warning}"
        );
    }
}
