//! An Azure IoT Hub's query quota, and the share of it Lockstep spends.
//!
//! Queries are an IoT Hub's scarcest operation: Free, S1 and S2 hubs allow 20 a minute per
//! unit, S3 hubs 1,000 (the protocol reference, §4.5). A job's device rows cost one query per
//! 100 devices, and the builder's preview three per condition, so Lockstep spends at most half
//! of the quota ([`HubTier::queries_per_minute`]) and leaves the rest to the hub's other
//! clients. The data-plane API does not say which tier a hub is, so the person says it in the
//! profile; without that, Lockstep assumes the smallest (S1, one unit).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The tiers that run jobs (Basic tiers have no jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum TierName {
    /// Free: one unit.
    F1,
    /// Standard 1: up to 200 units.
    S1,
    /// Standard 2: up to 200 units.
    S2,
    /// Standard 3: up to 10 units.
    S3,
}

/// A hub's tier and number of units, as the person gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HubTier {
    /// The tier.
    pub name: TierName,
    /// How many units (F1: 1; S1, S2: 1-200; S3: 1-10).
    pub units: u32,
}

impl HubTier {
    /// What Lockstep assumes when the person did not say: the smallest quota.
    pub const ASSUMED: Self = Self {
        name: TierName::S1,
        units: 1,
    };

    /// `name` with `units`, or why that is not a hub one can have.
    pub fn new(name: TierName, units: u32) -> Result<Self, String> {
        let most = match name {
            TierName::F1 => 1,
            TierName::S1 | TierName::S2 => 200,
            TierName::S3 => 10,
        };
        if (1..=most).contains(&units) {
            Ok(Self { name, units })
        } else if most == 1 {
            Err(format!("An {name:?} hub has 1 unit, not {units}."))
        } else {
            Err(format!(
                "An {name:?} hub has 1 to {most} units, not {units}."
            ))
        }
    }

    /// The hub's query quota: queries a minute, all clients together.
    pub fn query_quota_per_minute(self) -> u32 {
        let per_unit = match self.name {
            TierName::F1 | TierName::S1 | TierName::S2 => 20,
            TierName::S3 => 1_000,
        };
        per_unit * self.units
    }

    /// The queries a minute Lockstep spends on device rows: half of the quota.
    pub fn queries_per_minute(self) -> u32 {
        (self.query_quota_per_minute() / 2).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_of_each_tiers_documented_query_quota() {
        let budget = |name, units| {
            HubTier::new(name, units)
                .expect("valid")
                .queries_per_minute()
        };
        assert_eq!(budget(TierName::F1, 1), 10);
        assert_eq!(budget(TierName::S1, 1), 10);
        assert_eq!(budget(TierName::S2, 4), 40);
        assert_eq!(budget(TierName::S1, 200), 2_000);
        assert_eq!(budget(TierName::S3, 2), 1_000);
        assert_eq!(HubTier::ASSUMED.queries_per_minute(), 10);
    }

    #[test]
    fn units_beyond_a_tier_are_refused_in_words() {
        assert_eq!(
            HubTier::new(TierName::F1, 2),
            Err("An F1 hub has 1 unit, not 2.".to_owned())
        );
        assert_eq!(
            HubTier::new(TierName::S3, 11),
            Err("An S3 hub has 1 to 10 units, not 11.".to_owned())
        );
        assert!(HubTier::new(TierName::S2, 0).is_err());
    }
}
