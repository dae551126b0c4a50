//! [`UsageTable`]: the memory store's usage counts.

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

/// Usage counts in memory (the [`MemoryTokenStore`](crate::MemoryTokenStore)'s
/// [`UsageLog`]): counters of every granularity, kept until purged
/// ([`UsageLog::purge_usage`]).
#[derive(Default)]
pub(crate) struct UsageTable {
    counters: Mutex<BTreeMap<Key, Counter>>,
}

/// A counter's total and the token's tenant, as the first count said.
struct Counter {
    count: u64,
    organization: Option<String>,
    subject: Option<String>,
}

impl UsageTable {
    fn counters(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Counter>> {
        // Every change below leaves the map whole: a panic elsewhere while holding the lock
        // cannot have left it half-written.
        self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl UsageLog for UsageTable {
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

impl fmt::Debug for UsageTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageTable").field("counters", &self.counters().len()).finish()
    }
}
