//! [`MemoryUsageLog`]: usage counts in this process's memory.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use super::count::{Granularity, UsageCount};
use super::log::{UsageLog, UsageQuery};
use super::outcome::UsageOutcome;
use crate::store::error::StoreError;
use crate::token::id::TokenId;

/// The key of one counter: bucket first, so that a read walks a range of buckets in order.
type Key = (Granularity, SystemTime, Option<TokenId>, UsageOutcome);

/// A [`UsageLog`] in memory: for one instance, tests and demos. Counters of every granularity
/// are kept until purged ([`UsageLog::purge_usage`]).
///
/// ```
/// use std::time::SystemTime;
/// use tower_bearer::manage::usage::{Granularity, MemoryUsageLog, UsageCount, UsageLog, UsageOutcome, UsageQuery};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_bearer::StoreError> {
/// let log = MemoryUsageLog::new();
/// let now = SystemTime::now();
/// let count = |n| UsageCount {
///     token_id: Some("tid_1".into()), organization: None, subject: Some("ada".into()),
///     outcome: UsageOutcome::Admitted, granularity: Granularity::Minute,
///     bucket: Granularity::Minute.bucket(now), count: n,
/// };
/// log.add_usage(vec![count(2)]).await?;
/// log.add_usage(vec![count(3)]).await?; // another instance's
/// let read = log.usage(&UsageQuery::new(Granularity::Minute, now, now + std::time::Duration::from_secs(60))).await?;
/// assert_eq!(read[0].count, 5);
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct MemoryUsageLog {
    counters: Mutex<BTreeMap<Key, Counter>>,
}

/// A counter's total and the token's tenant, as the first count said.
struct Counter {
    count: u64,
    organization: Option<String>,
    subject: Option<String>,
}

impl MemoryUsageLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Counter>> {
        // Every change below leaves the map whole: a panic elsewhere while holding the lock
        // cannot have left it half-written.
        self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl UsageLog for MemoryUsageLog {
    async fn add_usage(&self, counts: Vec<UsageCount>) -> Result<(), StoreError> {
        let mut counters = self.counters();
        for c in counts {
            let key = (c.granularity, c.granularity.bucket(c.bucket), c.token_id, c.outcome);
            let counter = counters.entry(key).or_insert(Counter {
                count: 0,
                organization: c.organization,
                subject: c.subject,
            });
            counter.count = counter.count.saturating_add(c.count);
        }
        Ok(())
    }

    async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageCount>, StoreError> {
        let counters = self.counters();
        let start = (query.granularity, query.from, None, UsageOutcome::ALL[0]);
        Ok(counters
            .range(start..)
            .take_while(|((g, bucket, _, _), _)| *g == query.granularity && *bucket < query.to)
            .map(|((granularity, bucket, token_id, outcome), c)| UsageCount {
                token_id: token_id.clone(),
                organization: c.organization.clone(),
                subject: c.subject.clone(),
                outcome: *outcome,
                granularity: *granularity,
                bucket: *bucket,
                count: c.count,
            })
            .filter(|count| query.admits(count))
            .collect())
    }

    async fn purge_usage(&self, granularity: Granularity, before: SystemTime) -> Result<u64, StoreError> {
        let mut counters = self.counters();
        let len = counters.len();
        counters.retain(|(g, bucket, _, _), _| *g != granularity || *bucket >= before);
        Ok((len - counters.len()) as u64)
    }
}

impl fmt::Debug for MemoryUsageLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryUsageLog").field("counters", &self.counters().len()).finish()
    }
}
