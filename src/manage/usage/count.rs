//! [`UsageCount`]: one counter of usage analytics; [`Granularity`]: the width of its time
//! bucket.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::outcome::UsageOutcome;
use crate::token::id::TokenId;

/// The width of a usage bucket. Counts are kept per minute, and rolled up to hours and days
/// (each count is added to the three buckets it falls in), each kept for its own time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl Granularity {
    /// Every granularity, finest first.
    pub const ALL: [Granularity; 3] = [Granularity::Minute, Granularity::Hour, Granularity::Day];

    /// The bucket's width.
    #[must_use]
    pub fn width(self) -> Duration {
        Duration::from_secs(match self {
            Granularity::Minute => 60,
            Granularity::Hour => 3_600,
            Granularity::Day => 86_400,
        })
    }

    /// The start of the bucket `at` falls in (times before 1970 fall in the first one).
    #[must_use]
    pub fn bucket(self, at: SystemTime) -> SystemTime {
        let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let width = self.width().as_secs();
        UNIX_EPOCH + Duration::from_secs(secs - secs % width)
    }

    /// The stable name: `minute`, `hour`, `day`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    /// The granularity named `name` ([`as_str`](Self::as_str)).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

/// How many requests of one token (or of unknown tokens: `token_id` `None`) had one outcome
/// in one bucket. The organization and subject are the token's, for tenant-wide summaries;
/// an unknown token has neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCount {
    /// The token, `None` for requests whose token the store did not know.
    pub token_id: Option<TokenId>,
    /// The token's organization, if any.
    pub organization: Option<String>,
    /// The token's subject, if known.
    pub subject: Option<String>,
    /// How the requests were answered.
    pub outcome: UsageOutcome,
    /// The bucket's width.
    pub granularity: Granularity,
    /// The bucket's start.
    pub bucket: SystemTime,
    /// How many requests.
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_on_their_boundary() {
        let at = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3_600 * 5 + 60 * 7 + 9);
        assert_eq!(
            Granularity::Minute.bucket(at),
            UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3_600 * 5 + 420)
        );
        assert_eq!(Granularity::Hour.bucket(at), UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3_600 * 5));
        assert_eq!(Granularity::Day.bucket(at), UNIX_EPOCH + Duration::from_secs(86_400 * 3));
        for g in Granularity::ALL {
            assert_eq!(Granularity::from_name(g.as_str()), Some(g));
        }
    }
}
