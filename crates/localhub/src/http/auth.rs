//! Who is calling: the `Authorization: SharedAccessSignature …` of every request.
//!
//! A service request must carry a token of one of the hub's shared-access policies (`skn`),
//! signed with its primary or secondary key over the hub's host name, and not expired. The
//! resource may be the host name with or without the port: the Python service SDK signs
//! `localhost%3A8443`, other tools sign the bare host. A device's own token (no `skn`) or a
//! policy token scoped below the hub (`host/devices/…`) is refused: service operations are
//! hub-wide. Every failure is 401 `IotHubUnauthorizedAccess` (401002), and no message
//! repeats anything of the token but the policy name.
//!
//! What each operation needs (Azure's "Control access to IoT Hub" permissions; where the docs
//! allow either of two, both are accepted):
//!
//! | Operation | Permission |
//! | --- | --- |
//! | `GET /devices`, `GET /devices/{id}`, `GET /statistics/devices` | RegistryRead |
//! | `PUT`/`DELETE /devices/{id}` | RegistryWrite |
//! | `GET /twins/{id}`, `POST /devices/query`, `GET /statistics/service` | RegistryRead or ServiceConnect |
//! | `PATCH`/`PUT /twins/{id}`, `POST /twins/{id}/methods` | ServiceConnect |
//! | `PUT /jobs/v2/{id}`, `POST /jobs/v2/{id}/cancel` | RegistryWrite or ServiceConnect |
//! | `GET /jobs/v2/{id}`, `GET /jobs/v2/query` | RegistryRead or ServiceConnect |
//!
//! Azure lists "read twins and run queries" under ServiceConnect, while the registry-read
//! policy is what its tools use to read twins and query; both work there, so both work here.

use std::marker::PhantomData;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use iothub::auth::{SasError, SasToken};
use iothub::model::{ErrorCode, HubError};

use super::error::ApiError;
use crate::Hub;
use crate::policies::{Permission, Rights};

/// The authenticated caller: which policy signed the request, and what it may do.
#[derive(Debug, Clone)]
pub struct Caller {
    policy: String,
    rights: Rights,
}

impl Caller {
    /// The name of the policy that signed the request.
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// Succeeds if the policy grants any of `permissions`.
    pub fn require(&self, permissions: &[Permission]) -> Result<(), ApiError> {
        if permissions.iter().any(|p| self.rights.grants(*p)) {
            return Ok(());
        }
        let names: Vec<&str> = permissions.iter().map(|p| p.name()).collect();
        Err(unauthorized(format!(
            "Authorization rule '{}' does not allow access for '{}'.",
            self.policy,
            names.join("' or '")
        )))
    }
}

/// Handlers read the caller that [`authenticate`] stored in the request.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| unauthorized("The request is not authenticated."))
    }
}

/// What an operation needs: any one of [`Requirement::ANY_OF`].
pub trait Requirement: Send + Sync + 'static {
    /// The permissions, any one of which suffices.
    const ANY_OF: &'static [Permission];
}

/// The requirements of the service operations (see the table in the module docs).
pub mod need {
    use super::{Permission, Requirement};

    /// Reading the registry: RegistryRead.
    #[derive(Debug)]
    pub struct RegistryRead;
    /// Changing the registry: RegistryWrite.
    #[derive(Debug)]
    pub struct RegistryWrite;
    /// Twin writes and direct methods: ServiceConnect.
    #[derive(Debug)]
    pub struct ServiceConnect;
    /// Reading twins and querying: RegistryRead or ServiceConnect.
    #[derive(Debug)]
    pub struct ReadOrConnect;

    impl Requirement for RegistryRead {
        const ANY_OF: &'static [Permission] = &[Permission::RegistryRead];
    }
    impl Requirement for RegistryWrite {
        const ANY_OF: &'static [Permission] = &[Permission::RegistryWrite];
    }
    impl Requirement for ServiceConnect {
        const ANY_OF: &'static [Permission] = &[Permission::ServiceConnect];
    }
    impl Requirement for ReadOrConnect {
        const ANY_OF: &'static [Permission] =
            &[Permission::RegistryRead, Permission::ServiceConnect];
    }
}

/// A handler argument that admits the request only if the caller's policy meets `R`.
///
/// An extractor rather than a call inside the handler so that it runs before the body is
/// read: a caller without the permission learns nothing about the body's validity.
#[derive(Debug)]
pub struct Authorized<R>(pub Caller, PhantomData<R>);

impl<S: Send + Sync, R: Requirement> FromRequestParts<S> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(R::ANY_OF)?;
        Ok(Self(caller, PhantomData))
    }
}

/// Middleware in front of every route: authenticates the request or answers 401.
pub async fn authenticate(State(hub): State<Hub>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or_default());
    match caller(&hub, header, unix_now()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// Checks an `Authorization` header against the hub's policies at `now` (unix seconds).
pub fn caller(hub: &Hub, header: Option<&str>, now: u64) -> Result<Caller, ApiError> {
    let header = header.ok_or_else(|| unauthorized("The Authorization header is missing."))?;
    let token: SasToken = header.trim().parse().map_err(|error| match error {
        SasError::Malformed { reason } => {
            unauthorized(format!("The SharedAccessSignature is malformed: {reason}."))
        }
        _ => unauthorized("The SharedAccessSignature is malformed."),
    })?;
    let name = token.key_name().ok_or_else(|| {
        unauthorized("A token without a shared access policy (skn) cannot call the service API.")
    })?;
    let policy = hub
        .policy(name)
        .map_err(ApiError::from)?
        .ok_or_else(|| unauthorized("The token names no shared access policy of this hub."))?;
    let host_name = hub.host_name();
    let host = host_without_port(host_name);
    let resource = [host_name, host]
        .into_iter()
        .find(|resource| token.covers(resource))
        .ok_or_else(|| unauthorized("The token is not for this hub."))?;
    let verified = match token.verify(&policy.primary_key, resource, now) {
        Err(SasError::BadSignature) => token.verify(&policy.secondary_key, resource, now),
        other => other,
    };
    match verified {
        Ok(()) => Ok(Caller {
            policy: policy.name,
            rights: policy.rights,
        }),
        Err(SasError::Expired { .. }) => Err(unauthorized("The token has expired.")),
        Err(SasError::BadSignature) => Err(unauthorized("The token's signature does not match.")),
        Err(SasError::OutOfScope { .. } | SasError::Malformed { .. }) => {
            Err(unauthorized("The token is not for this hub."))
        }
    }
}

/// `host:port` → `host`; `[::1]:8443` → `[::1]`.
fn host_without_port(host_name: &str) -> &str {
    match host_name.rfind(':') {
        Some(colon) if !host_name[colon..].contains(']') => &host_name[..colon],
        _ => host_name,
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError(HubError::new(ErrorCode::IotHubUnauthorizedAccess, message))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    const NOW: u64 = 1_700_000_000;

    fn hub() -> Hub {
        Hub::new(Store::open_in_memory().expect("store"), "localhost:8443").expect("hub")
    }

    fn token(hub: &Hub, policy: &str, resource: &str, expiry: u64, secondary: bool) -> String {
        let policy = hub.policy(policy).expect("read").expect("policy");
        let key = if secondary {
            &policy.secondary_key
        } else {
            &policy.primary_key
        };
        SasToken::for_service(resource, &policy.name, key, expiry).expose_secret_string()
    }

    fn message(result: Result<Caller, ApiError>) -> String {
        let error = result.expect_err("refused").0;
        assert_eq!(error.code, Some(401_002));
        error.message
    }

    #[test]
    fn accepts_either_key_and_the_host_with_or_without_port() {
        let hub = hub();
        for (resource, secondary) in [
            ("localhost:8443", false),
            ("localhost", false),
            ("LOCALHOST:8443", true),
        ] {
            let header = token(&hub, "service", resource, NOW + 60, secondary);
            let caller = caller(&hub, Some(&header), NOW).expect("accepted");
            assert_eq!(caller.policy(), "service");
            caller
                .require(&[Permission::ServiceConnect])
                .expect("service connect");
            assert!(caller.require(&[Permission::RegistryWrite]).is_err());
        }
    }

    #[test]
    fn refuses_without_echoing_the_token() {
        let hub = hub();
        let good = token(&hub, "iothubowner", "localhost:8443", NOW + 60, false);
        let expired = token(&hub, "iothubowner", "localhost:8443", NOW, false);
        let other_hub = token(&hub, "iothubowner", "elsewhere:8443", NOW + 60, false);
        let scoped = token(&hub, "device", "localhost:8443/devices/d1", NOW + 60, false);
        let tampered = good.replacen("sig=", "sig=AAAA", 1);
        let unknown = good.replace("skn=iothubowner", "skn=nobody");
        let device = SasToken::for_device(
            "localhost/devices/d1",
            &hub.policy("device")
                .expect("read")
                .expect("policy")
                .primary_key,
            NOW + 60,
        )
        .expose_secret_string();
        let cases = [
            (None, "missing"),
            (Some("Bearer abc"), "malformed"),
            (Some(expired.as_str()), "expired"),
            (Some(other_hub.as_str()), "not for this hub"),
            (Some(scoped.as_str()), "not for this hub"),
            (Some(tampered.as_str()), "signature"),
            (Some(unknown.as_str()), "no shared access policy"),
            (Some(device.as_str()), "skn"),
        ];
        for (header, expected) in cases {
            let text = message(caller(&hub, header, NOW));
            assert!(text.contains(expected), "{header:?}: {text}");
            assert!(!text.contains("sig="), "{text}");
        }
    }

    #[test]
    fn strips_ports_but_not_ipv6_colons() {
        assert_eq!(host_without_port("localhost:8443"), "localhost");
        assert_eq!(host_without_port("localhost"), "localhost");
        assert_eq!(host_without_port("[::1]:8443"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
    }
}
