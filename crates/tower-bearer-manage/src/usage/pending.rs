//! [`Pending`]: the counts taken from the shards and not yet in the log, rolled up to the
//! minute, hour and day buckets each falls in; kept across failed flushes within a bound.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_bearer::TokenId;
use tower_bearer::manage::usage::{Granularity, UsageCount, UsageOutcome};

use super::shards::Slot;

/// Granularity first, minutes before hours and days: the first entries are the minute
/// counters a full [`Pending`] gives up first, oldest first.
type Key = (Granularity, SystemTime, Option<TokenId>, UsageOutcome);

/// A counter waiting to be added: its count and the token's tenant.
struct Value {
    count: u64,
    organization: Option<String>,
    subject: Option<String>,
}

/// Counts not yet added to the log.
pub(super) struct Pending {
    counters: BTreeMap<Key, Value>,
    max_counters: usize,
}

impl Pending {
    pub(super) fn new(max_counters: usize) -> Self {
        Pending { counters: BTreeMap::new(), max_counters }
    }

    /// Adds the minute counts of `slots` to their minute, hour and day counters. Past the
    /// bound, the oldest minute counters are given up (their hour and day counters keep
    /// their requests); returns how many were.
    pub(super) fn add(&mut self, slots: Vec<Slot>) -> u64 {
        for slot in slots {
            let (token_id, outcome, minute) = slot.key;
            let at = UNIX_EPOCH + Duration::from_secs(minute.saturating_mul(60));
            for granularity in Granularity::ALL {
                let key = (granularity, granularity.bucket(at), token_id.clone(), outcome);
                let value = self.counters.entry(key).or_insert_with(|| Value {
                    count: 0,
                    organization: slot.organization.clone(),
                    subject: slot.subject.clone(),
                });
                value.count = value.count.saturating_add(slot.count);
            }
        }
        let mut given_up = 0;
        while self.counters.len() > self.max_counters {
            match self.counters.first_entry() {
                Some(entry) if entry.key().0 == Granularity::Minute => {
                    entry.remove();
                    given_up += 1;
                }
                _ => break,
            }
        }
        given_up
    }

    /// How many counters wait.
    pub(super) fn len(&self) -> usize {
        self.counters.len()
    }

    /// Up to `n` counters, as counts for the log (still held until
    /// [`written`](Self::written)).
    pub(super) fn batch(&self, n: usize) -> Vec<UsageCount> {
        self.counters
            .iter()
            .take(n)
            .map(|((granularity, bucket, token_id, outcome), v)| UsageCount {
                token_id: token_id.clone(),
                organization: v.organization.clone(),
                subject: v.subject.clone(),
                outcome: *outcome,
                granularity: *granularity,
                bucket: *bucket,
                count: v.count,
            })
            .collect()
    }

    /// Drops the counters of `batch`, which the log has added.
    pub(super) fn written(&mut self, batch: &[UsageCount]) {
        for c in batch {
            self.counters.remove(&(c.granularity, c.bucket, c.token_id.clone(), c.outcome));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(minute: u64, count: u64) -> Slot {
        Slot {
            key: (Some(TokenId::from("tid_1")), UsageOutcome::Admitted, minute),
            organization: None,
            subject: Some("ada".into()),
            count,
        }
    }

    #[test]
    fn minutes_roll_up_and_a_full_pending_gives_up_old_minutes_alone() {
        let mut pending = Pending::new(5);
        assert_eq!(pending.add(vec![slot(0, 2), slot(1, 3)]), 0);
        // Two minutes, one hour, one day.
        assert_eq!(pending.len(), 4);
        let all = pending.batch(10);
        let hour: Vec<_> = all.iter().filter(|c| c.granularity == Granularity::Hour).collect();
        assert_eq!(hour[0].count, 5);
        // Two more minutes: the oldest minute is given up, the hour keeps every request.
        assert_eq!(pending.add(vec![slot(2, 1), slot(3, 1)]), 1);
        let all = pending.batch(10);
        assert_eq!(all.len(), 5);
        assert_eq!(all.iter().find(|c| c.granularity == Granularity::Day).map(|c| c.count), Some(7));
        pending.written(&all[..2]);
        assert_eq!(pending.len(), 3);
    }
}
