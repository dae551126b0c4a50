//! [`Retention`]: how long the counters of each granularity are kept.

use std::time::Duration;

use tower_bearer::manage::usage::Granularity;

const DAY: Duration = Duration::from_secs(86_400);

/// How long the counters of each granularity are kept: by default, minutes 2 days, hours
/// 90 days, days 2 years (730 days). The usage counter purges older ones from its log (see
/// [`UsageCounterBuilder::retention`](super::UsageCounterBuilder::retention)).
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::manage::usage::Granularity;
/// use tower_bearer_manage::Retention;
///
/// let retention = Retention::default().minute(Duration::from_secs(6 * 3_600));
/// assert_eq!(retention.of(Granularity::Minute), Duration::from_secs(6 * 3_600));
/// assert_eq!(retention.of(Granularity::Hour), Duration::from_secs(90 * 86_400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    minute: Duration,
    hour: Duration,
    day: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { minute: DAY * 2, hour: DAY * 90, day: DAY * 730 }
    }
}

impl Retention {
    /// Keeps minute counters for `keep`.
    #[must_use]
    pub fn minute(mut self, keep: Duration) -> Self {
        self.minute = keep;
        self
    }

    /// Keeps hour counters for `keep`.
    #[must_use]
    pub fn hour(mut self, keep: Duration) -> Self {
        self.hour = keep;
        self
    }

    /// Keeps day counters for `keep`.
    #[must_use]
    pub fn day(mut self, keep: Duration) -> Self {
        self.day = keep;
        self
    }

    /// How long counters of `granularity` are kept.
    #[must_use]
    pub fn of(&self, granularity: Granularity) -> Duration {
        match granularity {
            Granularity::Minute => self.minute,
            Granularity::Hour => self.hour,
            Granularity::Day => self.day,
        }
    }
}
