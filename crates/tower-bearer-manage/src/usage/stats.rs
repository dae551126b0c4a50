//! [`UsageStats`]: a usage counter's own figures.

/// A [`UsageCounter`](super::UsageCounter)'s figures, as of its last flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct UsageStats {
    /// Counters (per token, outcome and bucket) waiting for the log.
    pub pending: u64,
    /// Counters added to the log so far.
    pub written: u64,
    /// Flushes the log refused (their counters were kept).
    pub failed_flushes: u64,
    /// Minute counters given up while the log refused them, past the pending bound (their
    /// requests stay in their hour and day counters).
    pub given_up: u64,
}
