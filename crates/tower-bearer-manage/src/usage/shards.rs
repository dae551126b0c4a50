//! [`Shards`]: a counter's minute counts in memory, split over a few locks so that threads
//! counting at once rarely meet on one. A request takes one uncontended lock and, while its
//! thread sees the same principal, outcome and minute as last time, adds 1 to a slot it
//! already knows (no hashing, no allocation).

use std::collections::HashMap;
use std::mem;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tower_bearer::manage::usage::UsageOutcome;

use super::minute::RecentMinute;
use tower_bearer::{Principal, TokenId};

/// A counter of one token (or of unknown tokens), outcome and minute (since the epoch).
pub(super) type Key = (Option<TokenId>, UsageOutcome, u64);

/// One minute count, with the token's tenant as its principal said.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) key: Key,
    pub(super) organization: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) count: u64,
}

/// The slot the shard's last count went to, and what it was for. The principal is held so
/// that its address is not reused while it is compared with.
struct Last {
    principal: Principal,
    outcome: UsageOutcome,
    minute: u64,
    slot: usize,
}

/// One shard's counts since the flush task last took them.
#[derive(Default)]
pub(super) struct Tally {
    /// Counts made, to check the minute against the clock now and then.
    seen: u32,
    last: Option<Last>,
    index: HashMap<Key, usize>,
    slots: Vec<Slot>,
}

impl Tally {
    #[inline]
    fn add(&mut self, principal: Option<&Principal>, outcome: UsageOutcome, minute: &RecentMinute) {
        self.seen = self.seen.wrapping_add(1);
        let minute = minute.get(self.seen);
        if let (Some(p), Some(last)) = (principal, &self.last)
            && Principal::ptr_eq(&last.principal, p)
            && last.outcome == outcome
            && last.minute == minute
            && let Some(slot) = self.slots.get_mut(last.slot)
        {
            slot.count += 1;
            return;
        }
        self.add_new(principal, outcome, minute);
    }

    /// A count for another principal, outcome or minute than the last one.
    #[inline(never)]
    fn add_new(&mut self, principal: Option<&Principal>, outcome: UsageOutcome, minute: u64) {
        // Unknown tokens come without a principal: what was presented is never kept.
        let key = (principal.and_then(Principal::token_id).cloned(), outcome, minute);
        let slot = match self.index.get(&key) {
            Some(&slot) => slot,
            None => {
                let slot = self.slots.len();
                self.index.insert(key.clone(), slot);
                self.slots.push(Slot {
                    key,
                    organization: principal.and_then(Principal::organization).map(str::to_owned),
                    subject: principal.map(|p| p.subject().to_owned()),
                    count: 0,
                });
                slot
            }
        };
        if let Some(s) = self.slots.get_mut(slot) {
            s.count += 1;
        }
        self.last = principal.map(|p| Last { principal: p.clone(), outcome, minute, slot });
    }
}

/// A shard on a cache line of its own: two threads counting on two shards write to no line
/// in common.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Tally>);

/// Every shard of one counter.
pub(super) struct Shards {
    shards: Box<[Shard]>,
}

fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    // Every critical section leaves the tally whole.
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shards {
    /// Four shards per core, at least four (a power of two).
    pub(super) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let n = (cores * 4).next_power_of_two().max(4);
        Shards { shards: (0..n).map(|_| Shard::default()).collect() }
    }

    /// Adds one request of `principal`'s token (`None`: an unknown token) with `outcome` in
    /// the current `minute`.
    #[inline]
    pub(super) fn add(&self, principal: Option<&Principal>, outcome: UsageOutcome, minute: &RecentMinute) {
        lock(&self.shard().0).add(principal, outcome, minute);
    }

    /// The calling thread's shard, chosen by where its stack is: threads running at once have
    /// stacks megabytes apart, so they mostly count on distinct shards, with nothing written
    /// to choose (no thread-local, no shared counter). Any shard would count correctly.
    #[inline]
    fn shard(&self) -> &Shard {
        let marker = 0u8;
        let stack = std::ptr::from_ref(&marker) as usize >> 20;
        // A multiplicative hash spreads neighbouring stacks over the shards.
        let i = stack.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 7;
        &self.shards[i & (self.shards.len() - 1)]
    }

    /// Takes every count so far, each shard at once: a count is in what this returns or in
    /// what the shards hold after, never both.
    pub(super) fn take(&self) -> Vec<Slot> {
        let mut slots = Vec::new();
        for shard in &self.shards {
            let tally = mem::take(&mut *lock(&shard.0));
            slots.extend(tally.slots);
        }
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_token_outcome_and_minute_once() {
        let shards = Shards::new();
        let clock = tower_bearer::Clock::manual(std::time::UNIX_EPOCH + std::time::Duration::from_secs(60));
        let minute = RecentMinute::new(clock.clone());
        let ada = Principal::builder("ada").token_id("tid_ada").organization("acme").build();
        let ada_again = Principal::builder("ada").token_id("tid_ada").organization("acme").build();
        for _ in 0..3 {
            shards.add(Some(&ada), UsageOutcome::Admitted, &minute);
        }
        shards.add(Some(&ada_again), UsageOutcome::Admitted, &minute);
        clock.advance(std::time::Duration::from_secs(60));
        shards.add(Some(&ada), UsageOutcome::Admitted, &minute);
        shards.add(Some(&ada), UsageOutcome::InsufficientScope, &minute);
        shards.add(None, UsageOutcome::Unknown, &minute);
        shards.add(None, UsageOutcome::Unknown, &minute);
        let mut slots: Vec<_> = shards.take().into_iter().map(|s| (s.key, s.count)).collect();
        slots.sort();
        let ada_id = Some(TokenId::from("tid_ada"));
        assert_eq!(
            slots,
            vec![
                ((None, UsageOutcome::Unknown, 2), 2),
                ((ada_id.clone(), UsageOutcome::Admitted, 1), 4),
                ((ada_id.clone(), UsageOutcome::Admitted, 2), 1),
                ((ada_id, UsageOutcome::InsufficientScope, 2), 1),
            ]
        );
        assert!(shards.take().is_empty(), "taken once");
    }

    #[test]
    fn threads_counting_at_once_lose_nothing() {
        let shards = std::sync::Arc::new(Shards::new());
        let clock = tower_bearer::Clock::manual(std::time::UNIX_EPOCH);
        let minute = std::sync::Arc::new(RecentMinute::new(clock));
        let tokens: Vec<_> =
            (0..3).map(|i| Principal::builder("ada").token_id(format!("tid_{i}")).build()).collect();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (shards, minute, tokens) = (shards.clone(), minute.clone(), tokens.clone());
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        let principal = (i % 4 != 3).then(|| &tokens[(i + t) % 3]);
                        shards.add(principal, UsageOutcome::Admitted, &minute);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("the thread ran");
        }
        let slots = shards.take();
        assert_eq!(slots.iter().map(|s| s.count).sum::<u64>(), 80_000);
        let unknown: u64 = slots.iter().filter(|s| s.key.0.is_none()).map(|s| s.count).sum();
        assert_eq!(unknown, 8 * 2_500);
    }
}
