//! Tier emulation: the limits of an IoT Hub tier that shape how jobs run, so that a user can
//! see how long a real job would take (protocol reference §4.1, §4.4).
//!
//! - [`Tier::Unlimited`], the default, runs jobs as fast as the machine allows and accepts
//!   up to [`UNLIMITED_MAX_ACTIVE_JOBS`] active jobs: generous, so that samples which create
//!   jobs back to back (the Python tutorial creates two) just work.
//! - `F1`, `S1`, `S2`, `S3` (with a number of units, [`TierConfig`]) enforce
//!   - the **max concurrent (active) jobs**: 1 for Free and S1, 5 for S2, 10 for S3. A job
//!     is active from its creation until it ends (`queued`, `scheduled`, `running`); creating
//!     one more is 429 `ThrottlingMaxActiveJobCountExceeded` (429004);
//!   - the **jobs device operations** throttle: S1 10/s, S2 max(10/s, 1/s per unit), S3 50/s
//!     per unit, shared by every job of the hub; each device a job processes (a method call
//!     or a twin update) takes one slot. The reference gives no rate for Free; F1 is paced
//!     like S1 (10/s), the tier it shares the job limit with.
//! - Units: 1 to [`MAX_UNITS`]; Azure allows a Free hub 1 unit and an S3 hub at most 10, and
//!   so does [`TierConfig::new`]. Units only change the S2 and S3 rates.
//!
//! [`RateLimiter`] is the pacing, pure: time goes in, the instant a slot starts comes out.
//! Slots are spread evenly, `1/rate` apart, without a burst: n operations take about n/rate
//! seconds, which is what a throttled job looks like from outside.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

/// How many jobs may be active at once on an [`Tier::Unlimited`] hub.
pub const UNLIMITED_MAX_ACTIVE_JOBS: usize = 100;
/// The most units any tier can have.
pub const MAX_UNITS: u32 = 200;

/// An IoT Hub tier, or no limits at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Tier {
    /// No throttle, and up to [`UNLIMITED_MAX_ACTIVE_JOBS`] active jobs (the default).
    #[default]
    Unlimited,
    /// Free: 1 active job; device operations paced like S1 (the reference gives no rate).
    F1,
    /// Standard S1: 1 active job, 10 device operations per second.
    S1,
    /// Standard S2: 5 active jobs, max(10, units) device operations per second.
    S2,
    /// Standard S3: 10 active jobs, 50 × units device operations per second.
    S3,
}

impl Tier {
    /// Every tier, the default first.
    pub const ALL: [Self; 5] = [Self::Unlimited, Self::F1, Self::S1, Self::S2, Self::S3];

    /// The name: `unlimited`, `F1`, `S1`, `S2` or `S3` (what `--tier` and `localhub.json`
    /// use).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unlimited => "unlimited",
            Self::F1 => "F1",
            Self::S1 => "S1",
            Self::S2 => "S2",
            Self::S3 => "S3",
        }
    }

    /// The most units a hub of this tier can have: 1 for Free, 10 for S3, else
    /// [`MAX_UNITS`].
    pub fn max_units(self) -> u32 {
        match self {
            Self::F1 => 1,
            Self::S3 => 10,
            Self::Unlimited | Self::S1 | Self::S2 => MAX_UNITS,
        }
    }

    /// How many jobs may be active (queued, scheduled or running) at once.
    pub fn max_active_jobs(self) -> usize {
        match self {
            Self::Unlimited => UNLIMITED_MAX_ACTIVE_JOBS,
            Self::F1 | Self::S1 => 1,
            Self::S2 => 5,
            Self::S3 => 10,
        }
    }

    /// The query quota with `units` units, queries a minute for all clients together
    /// (Free, S1, S2: 20 per unit; S3: 1,000 per unit); `None`: unlimited. localhub does not
    /// throttle queries; the app budgets its own queries to an Azure hub with it.
    pub fn queries_per_minute(self, units: u32) -> Option<u32> {
        let units = units.max(1);
        match self {
            Self::Unlimited => None,
            Self::F1 | Self::S1 | Self::S2 => Some(20 * units),
            Self::S3 => Some(1_000 * units),
        }
    }

    /// The jobs device-operations rate with `units` units, per second; `None`: unthrottled.
    pub fn device_ops_per_second(self, units: u32) -> Option<f64> {
        let units = f64::from(units.max(1));
        match self {
            Self::Unlimited => None,
            Self::F1 | Self::S1 => Some(10.0),
            Self::S2 => Some(units.max(10.0)),
            Self::S3 => Some(50.0 * units),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tier or unit count that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    /// Not a tier name.
    #[error("unknown tier '{0}': use unlimited, F1, S1, S2 or S3")]
    Unknown(String),
    /// Too few or too many units for the tier.
    #[error("the {tier} tier has 1 to {max} units, not {units}")]
    Units {
        /// The tier.
        tier: Tier,
        /// The units asked for.
        units: u32,
        /// The most the tier allows.
        max: u32,
    },
}

impl FromStr for Tier {
    type Err = TierError;

    /// `unlimited`, `F1` (or `free`), `S1`, `S2`, `S3`, in any case.
    fn from_str(text: &str) -> Result<Self, TierError> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("free") {
            return Ok(Self::F1);
        }
        Self::ALL
            .into_iter()
            .find(|tier| tier.name().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| TierError::Unknown(text.to_owned()))
    }
}

/// A tier with its number of units: what a hub emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TierConfig {
    tier: Tier,
    units: u32,
}

impl Default for TierConfig {
    fn default() -> Self {
        Self::from(Tier::default())
    }
}

impl From<Tier> for TierConfig {
    /// The tier with one unit.
    fn from(tier: Tier) -> Self {
        Self { tier, units: 1 }
    }
}

impl TierConfig {
    /// `tier` with `units` units: 1 to [`Tier::max_units`].
    pub fn new(tier: Tier, units: u32) -> Result<Self, TierError> {
        let max = tier.max_units();
        if (1..=max).contains(&units) {
            Ok(Self { tier, units })
        } else {
            Err(TierError::Units { tier, units, max })
        }
    }

    /// The tier.
    pub fn tier(self) -> Tier {
        self.tier
    }

    /// The number of units.
    pub fn units(self) -> u32 {
        self.units
    }

    /// How many jobs may be active (queued, scheduled or running) at once.
    pub fn max_active_jobs(self) -> usize {
        self.tier.max_active_jobs()
    }

    /// The jobs device-operations rate, per second; `None`: unthrottled.
    pub fn device_ops_per_second(self) -> Option<f64> {
        self.tier.device_ops_per_second(self.units)
    }

    /// The query quota, queries a minute; `None`: unlimited.
    pub fn queries_per_minute(self) -> Option<u32> {
        self.tier.queries_per_minute(self.units)
    }

    /// A pacer for the device operations of jobs; `None` when unthrottled.
    pub fn rate_limiter(self) -> Option<RateLimiter> {
        self.device_ops_per_second()
            .and_then(RateLimiter::per_second)
    }
}

impl fmt::Display for TierConfig {
    /// `unlimited`, `S1`, or `S3 (2 units)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tier == Tier::Unlimited || self.units == 1 {
            write!(f, "{}", self.tier)
        } else {
            write!(f, "{} ({} units)", self.tier, self.units)
        }
    }
}

/// Spreads operations evenly at a fixed rate: each caller takes the next free slot, `1/rate`
/// after the previous one, or now if the limiter has been idle. No burst is saved up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimiter {
    interval: Duration,
    next: Option<Instant>,
}

impl RateLimiter {
    /// A limiter of `rate` operations per second; `None` unless `rate` is positive and
    /// finite.
    pub fn per_second(rate: f64) -> Option<Self> {
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        let interval = Duration::try_from_secs_f64(1.0 / rate).ok()?;
        Some(Self {
            interval,
            next: None,
        })
    }

    /// The time between two slots.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Takes a slot: the instant, `now` or later, at which the caller may perform its
    /// operation.
    pub fn next_slot(&mut self, now: Instant) -> Instant {
        let slot = self.next.map_or(now, |next| next.max(now));
        self.next = Some(slot + self.interval);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_in_any_case_and_display_their_name() {
        for tier in Tier::ALL {
            assert_eq!(tier.name().parse::<Tier>(), Ok(tier));
            assert_eq!(tier.name().to_lowercase().parse::<Tier>(), Ok(tier));
            assert_eq!(tier.name().to_uppercase().parse::<Tier>(), Ok(tier));
            assert_eq!(tier.to_string(), tier.name());
        }
        assert_eq!(" s2 ".parse::<Tier>(), Ok(Tier::S2));
        assert_eq!("Free".parse::<Tier>(), Ok(Tier::F1));
        let error = "S9".parse::<Tier>().expect_err("no such tier");
        assert_eq!(error, TierError::Unknown("S9".to_owned()));
        assert_eq!(
            error.to_string(),
            "unknown tier 'S9': use unlimited, F1, S1, S2 or S3"
        );
        assert!("".parse::<Tier>().is_err());
        assert_eq!(Tier::default(), Tier::Unlimited);
    }

    #[test]
    fn max_active_jobs_follow_the_reference() {
        assert_eq!(Tier::F1.max_active_jobs(), 1);
        assert_eq!(Tier::S1.max_active_jobs(), 1);
        assert_eq!(Tier::S2.max_active_jobs(), 5);
        assert_eq!(Tier::S3.max_active_jobs(), 10);
        assert_eq!(Tier::Unlimited.max_active_jobs(), UNLIMITED_MAX_ACTIVE_JOBS);
        let s2 = TierConfig::new(Tier::S2, 7).expect("S2 with 7 units");
        assert_eq!(s2.max_active_jobs(), 5);
    }

    #[test]
    fn query_quotas_follow_the_reference() {
        let quota = |tier, units| {
            TierConfig::new(tier, units)
                .expect("a tier")
                .queries_per_minute()
        };
        assert_eq!(quota(Tier::Unlimited, 1), None);
        assert_eq!(quota(Tier::F1, 1), Some(20));
        assert_eq!(quota(Tier::S1, 1), Some(20));
        assert_eq!(quota(Tier::S2, 4), Some(80));
        assert_eq!(quota(Tier::S1, 200), Some(4_000));
        assert_eq!(quota(Tier::S3, 2), Some(2_000));
    }

    #[test]
    fn device_operation_rates_follow_the_reference() {
        let rate = |tier, units| {
            TierConfig::new(tier, units)
                .expect("a tier")
                .device_ops_per_second()
        };
        assert_eq!(rate(Tier::Unlimited, 1), None);
        assert_eq!(rate(Tier::F1, 1), Some(10.0));
        assert_eq!(rate(Tier::S1, 1), Some(10.0));
        assert_eq!(rate(Tier::S1, 50), Some(10.0));
        assert_eq!(rate(Tier::S2, 1), Some(10.0));
        assert_eq!(rate(Tier::S2, 10), Some(10.0));
        assert_eq!(rate(Tier::S2, 25), Some(25.0));
        assert_eq!(rate(Tier::S3, 1), Some(50.0));
        assert_eq!(rate(Tier::S3, 2), Some(100.0));
        assert_eq!(rate(Tier::S3, 10), Some(500.0));
        assert!(TierConfig::default().rate_limiter().is_none());
        assert_eq!(
            TierConfig::from(Tier::S1)
                .rate_limiter()
                .map(|l| l.interval()),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn units_are_checked_per_tier() {
        assert!(TierConfig::new(Tier::S1, 200).is_ok());
        assert!(TierConfig::new(Tier::S2, 200).is_ok());
        assert!(TierConfig::new(Tier::S3, 10).is_ok());
        assert_eq!(
            TierConfig::new(Tier::S3, 11),
            Err(TierError::Units {
                tier: Tier::S3,
                units: 11,
                max: 10
            })
        );
        assert!(TierConfig::new(Tier::F1, 2).is_err());
        assert!(TierConfig::new(Tier::S1, 0).is_err());
        assert!(TierConfig::new(Tier::S2, 201).is_err());
        assert_eq!(
            TierConfig::new(Tier::F1, 2)
                .expect_err("too many")
                .to_string(),
            "the F1 tier has 1 to 1 units, not 2"
        );
    }

    #[test]
    fn configs_display_units_when_they_matter() {
        assert_eq!(TierConfig::default().to_string(), "unlimited");
        assert_eq!(TierConfig::from(Tier::S1).to_string(), "S1");
        let s3 = TierConfig::new(Tier::S3, 2).expect("S3");
        assert_eq!(s3.to_string(), "S3 (2 units)");
        assert_eq!((s3.tier(), s3.units()), (Tier::S3, 2));
    }

    #[test]
    fn the_limiter_spaces_slots_evenly_without_a_burst() {
        let mut limiter = RateLimiter::per_second(10.0).expect("a limiter");
        let start = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| limiter.next_slot(start) - start).collect();
        let expected: Vec<Duration> = (0..5).map(|i| Duration::from_millis(100 * i)).collect();
        assert_eq!(slots, expected);
        // A caller arriving after the booked slots waits for the next free one...
        let later = start + Duration::from_millis(250);
        assert_eq!(limiter.next_slot(later) - start, Duration::from_millis(500));
        // ...and one arriving after an idle spell goes at once, with no saved-up burst.
        let idle = start + Duration::from_secs(10);
        assert_eq!(limiter.next_slot(idle), idle);
        assert_eq!(limiter.next_slot(idle) - idle, Duration::from_millis(100));
    }

    #[test]
    fn the_limiter_paces_n_operations_over_n_over_rate_seconds() {
        let mut limiter = RateLimiter::per_second(100.0).expect("a limiter");
        let start = Instant::now();
        let last = (0..100).map(|_| limiter.next_slot(start)).last();
        assert_eq!(last.map(|l| l - start), Some(Duration::from_millis(990)));
    }

    #[test]
    fn only_positive_finite_rates_make_a_limiter() {
        assert!(RateLimiter::per_second(0.0).is_none());
        assert!(RateLimiter::per_second(-1.0).is_none());
        assert!(RateLimiter::per_second(f64::NAN).is_none());
        assert!(RateLimiter::per_second(f64::INFINITY).is_none());
        assert!(RateLimiter::per_second(0.5).is_some());
    }
}
