//! When to try a request again, and how long to wait first. Pure: no clock, no I/O; the
//! randomness comes in as an argument.
//!
//! The rule follows what the Python service SDK does (urllib3 retries GET/PUT/DELETE on 408
//! and 5xx, never POST or PATCH), plus 429, which the hub uses for throttling and which is
//! worth waiting out, with full-jitter exponential backoff so that many clients throttled
//! together do not come back together.

use std::time::Duration;

/// The longest `Retry-After` that is honoured; a larger value is cut to this, so that one
/// odd header cannot park a caller for an hour.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether repeating a request can give a different (worse) answer than sending it once.
///
/// A request is idempotent here when a second copy, sent after the first one may or may not
/// have been applied, cannot change the outcome: reads, and writes that overwrite
/// unconditionally. Creating a job or a device is *not*: if the first `PUT` was applied but
/// its answer lost, the repeat answers 409 Conflict for a job that was in fact created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Safe to repeat (GET, unconditional PUT/DELETE).
    Idempotent,
    /// Sent at most once (POST, PATCH, creating PUTs, PUTs guarded by a specific etag).
    NotIdempotent,
}

/// How an attempt ended, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The hub answered with this HTTP status.
    Status(u16),
    /// No connection could be made (DNS, refused, reset before the request was sent).
    Connect,
    /// The attempt ran out of time.
    Timeout,
    /// The connection broke mid-exchange (e.g. a pooled keep-alive connection the hub had
    /// already closed).
    Interrupted,
    /// Anything else (TLS trust failures, malformed responses): repeating will not help.
    Other,
}

/// Bounded retries with exponential backoff and full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 disables retries.
    pub max_attempts: u32,
    /// The backoff ceiling before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// The largest backoff ceiling, whatever the attempt.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 0.5 s base, 10 s cap: about what the Python SDK waits in total (3 retries,
    /// 0.8 s backoff), without hammering a throttled hub.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Whether attempt number `attempt` (1-based) of a request that ended in `outcome` should
    /// be followed by another one.
    pub fn should_retry(
        &self,
        attempt: u32,
        idempotency: Idempotency,
        outcome: AttemptOutcome,
    ) -> bool {
        if attempt >= self.max_attempts {
            return false;
        }
        match idempotency {
            Idempotency::NotIdempotent => false,
            Idempotency::Idempotent => is_transient(outcome),
        }
    }

    /// The upper bound of the wait after attempt number `attempt` (1-based):
    /// `base_delay * 2^(attempt-1)`, capped at `max_delay`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay)
    }

    /// How long to wait after attempt number `attempt` (1-based) before the next one: a
    /// uniformly random duration up to [`RetryPolicy::ceiling`] ("full jitter"), or the hub's
    /// `Retry-After` when it sent one (cut to a minute).
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        if let Some(retry_after) = retry_after {
            return retry_after.min(MAX_RETRY_AFTER);
        }
        self.ceiling(attempt).mul_f64(rng.f64())
    }
}

/// Whether a failure is worth waiting out: throttling, the hub's transient 5xx, a request
/// timeout, or no connection at all.
fn is_transient(outcome: AttemptOutcome) -> bool {
    match outcome {
        // 501 Not Implemented and 505 HTTP Version Not Supported will not change.
        AttemptOutcome::Status(status) => {
            matches!(status, 408 | 429)
                || ((500..=599).contains(&status) && !matches!(status, 501 | 505))
        }
        AttemptOutcome::Connect | AttemptOutcome::Timeout | AttemptOutcome::Interrupted => true,
        AttemptOutcome::Other => false,
    }
}

/// Reads a `Retry-After` header in its delta-seconds form; the HTTP-date form (which IoT Hub
/// does not send) is ignored, so the backoff applies instead.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptOutcome::{Connect, Interrupted, Other, Status, Timeout};
    use Idempotency::{Idempotent, NotIdempotent};

    #[test]
    fn which_outcomes_are_retried() {
        let policy = RetryPolicy::default();
        let table = [
            // (idempotency, outcome, retried?)
            (Idempotent, Status(429), true),
            (Idempotent, Status(408), true),
            (Idempotent, Status(500), true),
            (Idempotent, Status(502), true),
            (Idempotent, Status(503), true),
            (Idempotent, Status(504), true),
            (Idempotent, Status(501), false),
            (Idempotent, Status(505), false),
            (Idempotent, Status(200), false),
            (Idempotent, Status(400), false),
            (Idempotent, Status(401), false),
            (Idempotent, Status(404), false),
            (Idempotent, Status(409), false),
            (Idempotent, Status(412), false),
            (Idempotent, Connect, true),
            (Idempotent, Timeout, true),
            (Idempotent, Interrupted, true),
            (Idempotent, Other, false),
            (NotIdempotent, Status(429), false),
            (NotIdempotent, Status(503), false),
            (NotIdempotent, Status(504), false),
            (NotIdempotent, Connect, false),
            (NotIdempotent, Timeout, false),
            (NotIdempotent, Interrupted, false),
        ];
        for (idempotency, outcome, expected) in table {
            assert_eq!(
                policy.should_retry(1, idempotency, outcome),
                expected,
                "{idempotency:?} {outcome:?}"
            );
        }
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let retried: Vec<bool> = (1..=4)
            .map(|attempt| policy.should_retry(attempt, Idempotent, Status(503)))
            .collect();
        assert_eq!(retried, [true, true, false, false]);
        assert!(!RetryPolicy::never().should_retry(1, Idempotent, Status(503)));
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        let table = [
            (0, 100), // attempt numbers start at 1; 0 is treated like 1
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000), // no overflow
            (u32::MAX, 1000),
        ];
        for (attempt, millis) in table {
            assert_eq!(
                policy.ceiling(attempt),
                Duration::from_millis(millis),
                "{attempt}"
            );
        }
    }

    #[test]
    fn delays_are_jittered_within_the_ceiling() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 1..=6 {
            let delays: Vec<Duration> = (0..200)
                .map(|_| policy.delay(attempt, None, &mut rng))
                .collect();
            assert!(delays.iter().all(|d| *d <= policy.ceiling(attempt)));
            let distinct = delays
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            assert!(distinct > 100, "jittered, not constant: {distinct}");
        }
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3)), &mut rng),
            Duration::from_secs(3)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600)), &mut rng),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn retry_after_parsing() {
        let table = [
            ("5", Some(5)),
            (" 0 ", Some(0)),
            ("120", Some(120)),
            ("", None),
            ("-1", None),
            ("+3", None),
            ("1.5", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("99999999999999999999999", None),
        ];
        for (text, seconds) in table {
            assert_eq!(
                parse_retry_after(text),
                seconds.map(Duration::from_secs),
                "{text:?}"
            );
        }
    }
}
