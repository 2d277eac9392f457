//! The `Authorization` header: a hub-scoped SAS token, generated once and reused until it is
//! close to expiry.
//!
//! Signing is cheap, but a token per request would make every request carry a different
//! credential for no gain; reusing one also matches what the SDKs do. The clock is injected
//! so that renewal is tested without sleeping.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderValue;

use crate::auth::ServiceConnectionString;

/// The most time left on a token at which it is already replaced.
const MAX_RENEW_MARGIN_SECS: u64 = 5 * 60;

/// Where the client gets "now" from, in unix seconds: the system clock in production, a fake
/// one in tests.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, seconds since the unix epoch.
    fn now_unix(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        // A clock before 1970 is a broken clock; 0 yields a token that the hub rejects as
        // expired, which is the honest outcome.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0)
    }
}

/// A cached SAS token for one service connection string.
pub(crate) struct SasCache {
    connection: ServiceConnectionString,
    ttl_secs: u64,
    renew_margin_secs: u64,
    clock: Arc<dyn Clock>,
    current: Mutex<Option<Cached>>,
}

struct Cached {
    /// The header value, marked sensitive so that hyper neither logs nor HPACK-indexes it.
    header: HeaderValue,
    expiry: u64,
}

/// Why no `Authorization` header could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the SAS token is not a valid HTTP header value (check the policy name)")]
pub(crate) struct InvalidTokenHeader;

impl SasCache {
    /// A cache issuing tokens valid for `ttl` (at least one second), renewed when less than
    /// a tenth of it, or five minutes, whichever is less, remains.
    pub(crate) fn new(
        connection: ServiceConnectionString,
        ttl: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let ttl_secs = ttl.as_secs().max(1);
        Self {
            connection,
            ttl_secs,
            renew_margin_secs: (ttl_secs / 10).min(MAX_RENEW_MARGIN_SECS),
            clock,
            current: Mutex::new(None),
        }
    }

    /// The `Authorization` header value: the cached token, or a fresh one if the cached one
    /// is missing or about to expire.
    pub(crate) fn authorization(&self) -> Result<HeaderValue, InvalidTokenHeader> {
        let now = self.clock.now_unix();
        // Never held across an await: this function is synchronous. A poisoned lock only
        // means another thread panicked mid-renewal; the slot is still a valid Option.
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = current.as_ref()
            && cached.expiry.saturating_sub(now) > self.renew_margin_secs
        {
            return Ok(cached.header.clone());
        }
        let expiry = now.saturating_add(self.ttl_secs);
        let token = self.connection.sas_token(expiry);
        let mut header =
            HeaderValue::from_str(&token.expose_secret_string()).map_err(|_| InvalidTokenHeader)?;
        header.set_sensitive(true);
        *current = Some(Cached {
            header: header.clone(),
            expiry,
        });
        Ok(header)
    }
}

impl fmt::Debug for SasCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasCache")
            .field("host_name", &self.connection.host_name())
            .field("ttl_secs", &self.ttl_secs)
            .field("renew_margin_secs", &self.renew_margin_secs)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::auth::SasToken;

    const CONNECTION: &str = "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;\
         SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[derive(Debug, Default)]
    struct FakeClock(AtomicU64);

    impl Clock for FakeClock {
        fn now_unix(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn cache(ttl: Duration) -> (SasCache, Arc<FakeClock>, ServiceConnectionString) {
        let connection: ServiceConnectionString = CONNECTION.parse().expect("valid");
        let clock = Arc::new(FakeClock(AtomicU64::new(1_700_000_000)));
        let cache = SasCache::new(connection.clone(), ttl, clock.clone());
        (cache, clock, connection)
    }

    fn token(header: &HeaderValue) -> SasToken {
        header
            .to_str()
            .expect("ascii")
            .parse()
            .expect("a SAS token")
    }

    #[test]
    fn reuses_the_token_until_close_to_expiry() {
        let (cache, clock, connection) = cache(Duration::from_secs(3600));
        let first = cache.authorization().expect("header");
        assert!(first.is_sensitive());
        let parsed = token(&first);
        assert_eq!(parsed.expiry(), 1_700_003_600);
        assert_eq!(parsed.key_name(), Some("iothubowner"));
        parsed
            .verify(
                connection.shared_access_key(),
                "myhub.azure-devices.net",
                1_700_000_000,
            )
            .expect("genuine");

        // Up to 5 minutes before expiry the same token is reused...
        for now in [1_700_000_001, 1_700_001_800, 1_700_003_299] {
            clock.0.store(now, Ordering::SeqCst);
            assert_eq!(cache.authorization().expect("header"), first, "{now}");
        }
        // ...then replaced by one valid for another full TTL.
        clock.0.store(1_700_003_300, Ordering::SeqCst);
        let second = cache.authorization().expect("header");
        assert_ne!(second, first);
        assert_eq!(token(&second).expiry(), 1_700_006_900);
        assert_eq!(cache.authorization().expect("header"), second);
    }

    #[test]
    fn short_ttls_renew_at_a_tenth() {
        let (cache, clock, _) = cache(Duration::from_secs(100));
        let first = cache.authorization().expect("header");
        clock.0.store(1_700_000_089, Ordering::SeqCst);
        assert_eq!(cache.authorization().expect("header"), first);
        clock.0.store(1_700_000_090, Ordering::SeqCst);
        assert_eq!(
            token(&cache.authorization().expect("header")).expiry(),
            1_700_000_190
        );
    }

    #[test]
    fn an_expired_token_is_never_handed_out() {
        let (cache, clock, _) = cache(Duration::from_secs(3600));
        cache.authorization().expect("header");
        clock.0.store(1_800_000_000, Ordering::SeqCst);
        let header = cache.authorization().expect("header");
        assert_eq!(token(&header).expiry(), 1_800_003_600);
    }

    #[test]
    fn debug_shows_no_secret() {
        let (cache, _, _) = cache(Duration::from_secs(3600));
        cache.authorization().expect("header");
        let debug = format!("{cache:?}");
        assert!(debug.contains("myhub.azure-devices.net"), "{debug}");
        assert!(!debug.contains("sig="), "{debug}");
        assert!(!debug.contains("AAECAwQF"), "{debug}");
    }
}
