//! [`Shards`]: a counter's minute counts in memory, split over a few shards so that threads
//! counting at once rarely meet on one. While a shard sees the same token, outcome and minute
//! as last time, a request adds 1 with one compare-and-swap and no lock ([`HotSlot`]); any
//! other count takes the shard's lock, finds its counter by hashing, and makes its key the
//! hot one.

use std::collections::HashMap;
use std::mem;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// Which counter the shard's [`HotSlot`] adds to. The principal is held so that the address
/// the hot slot compares with ([`identity`]) names no other token while it is there.
struct Hot {
    slot: usize,
    _principal: Option<Principal>,
}

/// One shard's counts since the flush task last took them.
#[derive(Default)]
pub(super) struct Tally {
    /// Counts made under the lock, to check the minute against the clock now and then.
    seen: u32,
    hot: Option<Hot>,
    index: HashMap<Key, usize>,
    slots: Vec<Slot>,
}

impl Tally {
    /// Adds one count under the lock; the index of its counter.
    fn add(&mut self, principal: Option<&Principal>, outcome: UsageOutcome, minute: u64) -> usize {
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
        self.credit(slot, 1);
        slot
    }

    fn credit(&mut self, slot: usize, count: u64) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.count += count;
        }
    }

    /// Gives the hot slot's count to the counter it was made for, and names the one the hot
    /// slot counts for next (`None`: none).
    fn settle_hot(&mut self, moved: u64, next: Option<Hot>) {
        if let Some(hot) = mem::replace(&mut self.hot, next) {
            self.credit(hot.slot, moved);
        }
    }
}

/// The low bits of [`HotSlot::word`]: the count.
const COUNT: u64 = (1 << 40) - 1;
/// The lowest bit of the generation above the count, set while the key changes.
const CHANGING: u64 = 1 << 40;
/// A [`HotSlot::key`] no count has.
const NO_KEY: u64 = u64::MAX;

/// The address of `principal`'s token id, the same in every clone of one principal; 0 for
/// none (counted as an unknown token). Two live principals holding the same address hold the
/// same token id, so the hot slot compares one word instead of the id's text.
#[inline]
fn identity(principal: Option<&Principal>) -> usize {
    principal.and_then(Principal::token_id).map_or(0, |id| id.as_str().as_ptr() as usize)
}

/// `outcome` and `minute` in one word; `None` for an outcome this counter does not know
/// (always counted under the lock).
#[inline]
fn hot_key(outcome: UsageOutcome, minute: u64) -> Option<u64> {
    let code = UsageOutcome::ALL.iter().position(|o| *o == outcome)?;
    Some(minute << 8 | code as u64)
}

/// The key a shard counted last, and how many times since, read and added to without the
/// shard's lock: a seqlock whose reader commits its count by the same compare-and-swap that
/// checks the key did not change meanwhile. Only the lock's holder changes the key.
struct HotSlot {
    /// A generation (odd while the key changes) above a count.
    word: AtomicU64,
    /// The key's [`identity`].
    identity: AtomicUsize,
    /// The key's outcome and minute ([`hot_key`]).
    key: AtomicU64,
}

impl Default for HotSlot {
    fn default() -> Self {
        HotSlot { word: AtomicU64::new(0), identity: AtomicUsize::new(0), key: AtomicU64::new(NO_KEY) }
    }
}

impl HotSlot {
    /// Adds one count if `principal`, `outcome` and the minute are the slot's key; `false`
    /// if not, or if the key is changing.
    #[inline]
    fn try_add(&self, principal: Option<&Principal>, outcome: UsageOutcome, minute: &RecentMinute) -> bool {
        let word = self.word.load(Ordering::Acquire);
        let count = word & COUNT;
        if word & CHANGING != 0 || count == COUNT {
            return false;
        }
        #[allow(clippy::cast_possible_truncation, reason = "only every 64th count matters")]
        let minute = minute.get(count as u32);
        // Acquire: a key read here that a change wrote makes that change's start visible to
        // the exchange below, which then fails.
        if self.identity.load(Ordering::Acquire) != identity(principal)
            || Some(self.key.load(Ordering::Acquire)) != hot_key(outcome, minute)
        {
            return false;
        }
        // Succeeds only if no change began since `word` was read, so the key read was whole.
        // A generation wrapping around (2^23 changes) between the read and the exchange
        // could let a count through to the new key; it would take the thread being stalled
        // for that many locked counts.
        self.word.compare_exchange(word, word + 1, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// Makes `identity` and `key` the slot's key, returning the count made for the old one.
    /// Only with the shard's lock held.
    fn replace(&self, identity: usize, key: u64) -> u64 {
        let generation = self.word.load(Ordering::Relaxed) & !COUNT;
        let changing = generation.wrapping_add(CHANGING);
        let old = self.word.swap(changing, Ordering::Relaxed);
        self.identity.store(identity, Ordering::Release);
        self.key.store(key, Ordering::Release);
        self.word.store(changing.wrapping_add(CHANGING), Ordering::Release);
        old & COUNT
    }
}

/// A shard on cache lines of its own: two threads counting on two shards write to no line
/// in common; the hot slot first, on one line.
#[repr(C, align(128))]
#[derive(Default)]
struct Shard {
    hot: HotSlot,
    tally: Mutex<Tally>,
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, Tally> {
        // Every critical section leaves the tally whole.
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    fn add(&self, principal: Option<&Principal>, outcome: UsageOutcome, minute: &RecentMinute) {
        if !self.hot.try_add(principal, outcome, minute) {
            self.add_locked(principal, outcome, minute);
        }
    }

    /// A count the hot slot did not take: added under the lock, its key made the hot one.
    #[inline(never)]
    fn add_locked(&self, principal: Option<&Principal>, outcome: UsageOutcome, minute: &RecentMinute) {
        let mut tally = self.lock();
        tally.seen = tally.seen.wrapping_add(1);
        let minute = minute.get(tally.seen);
        let slot = tally.add(principal, outcome, minute);
        if let Some(key) = hot_key(outcome, minute) {
            let moved = self.hot.replace(identity(principal), key);
            tally.settle_hot(moved, Some(Hot { slot, _principal: principal.cloned() }));
        }
    }

    /// Every count so far; the hot slot is left empty.
    fn take(&self) -> Tally {
        let mut tally = self.lock();
        let moved = self.hot.replace(0, NO_KEY);
        tally.settle_hot(moved, None);
        mem::take(&mut *tally)
    }
}

/// Every shard of one counter.
pub(super) struct Shards {
    shards: Box<[Shard]>,
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
        self.shard().add(principal, outcome, minute);
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
            slots.extend(shard.take().slots);
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

    #[test]
    fn a_run_of_one_key_is_counted_without_the_lock_after_its_first() {
        let shard = Shard::default();
        let minute = RecentMinute::new(tower_bearer::Clock::manual(std::time::UNIX_EPOCH));
        let ada = Principal::builder("ada").token_id("tid_ada").build();
        for _ in 0..10 {
            shard.add(Some(&ada.clone()), UsageOutcome::Admitted, &minute);
        }
        assert_eq!(shard.hot.word.load(Ordering::Relaxed) & COUNT, 9);
        shard.add(Some(&ada), UsageOutcome::Denied, &minute);
        let slots = shard.take().slots;
        let counts: Vec<_> = slots.iter().map(|s| (s.key.1, s.count)).collect();
        assert_eq!(counts, [(UsageOutcome::Admitted, 10), (UsageOutcome::Denied, 1)]);
        assert_eq!(shard.hot.key.load(Ordering::Relaxed), NO_KEY, "taking empties the hot slot");
    }

    /// Threads counting runs of one key on one shard, while another takes the counts: every
    /// count lands once, on its own key, whether the hot slot or the lock took it.
    #[test]
    fn one_shard_shared_by_threads_and_the_flush_counts_each_key_exactly() {
        let shard = std::sync::Arc::new(Shard::default());
        let minute =
            std::sync::Arc::new(RecentMinute::new(tower_bearer::Clock::manual(std::time::UNIX_EPOCH)));
        let tokens: Vec<_> =
            (0..3).map(|i| Principal::builder("ada").token_id(format!("tid_{i}")).build()).collect();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let taker = {
            let (shard, done) = (shard.clone(), done.clone());
            std::thread::spawn(move || {
                let mut taken = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    taken.extend(shard.take().slots);
                    std::thread::yield_now();
                }
                taken
            })
        };
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (shard, minute, tokens) = (shard.clone(), minute.clone(), tokens.clone());
                std::thread::spawn(move || {
                    for i in 0..40_000 {
                        let run = (i / 50 + t) % 4;
                        let (principal, outcome) = match run {
                            3 => (None, UsageOutcome::Unknown),
                            n => (Some(&tokens[n]), UsageOutcome::Admitted),
                        };
                        shard.add(principal, outcome, &minute);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("the thread ran");
        }
        done.store(true, Ordering::Relaxed);
        let mut slots = taker.join().expect("the taker ran");
        slots.extend(shard.take().slots);
        let mut per_key = HashMap::new();
        for slot in slots {
            *per_key.entry(slot.key).or_insert(0) += slot.count;
        }
        let expected: HashMap<Key, u64> = [
            ((Some(TokenId::from("tid_0")), UsageOutcome::Admitted, 0), 40_000),
            ((Some(TokenId::from("tid_1")), UsageOutcome::Admitted, 0), 40_000),
            ((Some(TokenId::from("tid_2")), UsageOutcome::Admitted, 0), 40_000),
            ((None, UsageOutcome::Unknown, 0), 40_000),
        ]
        .into_iter()
        .collect();
        assert_eq!(per_key, expected);
    }

    /// One step of [`every_count_lands_once_on_its_own_key`].
    #[derive(Debug, Clone)]
    enum Step {
        /// A count for principal `who` (3: an unknown token), outcome `outcome`, after moving
        /// the clock on by a minute if `next_minute`.
        Count { who: usize, outcome: usize, next_minute: bool },
        /// The flush takes every count so far.
        Take,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            8 => (0usize..4, 0usize..3, proptest::bool::weighted(0.1))
                .prop_map(|(who, outcome, next_minute)| Step::Count { who, outcome, next_minute }),
            1 => Just(Step::Take),
        ]
    }

    proptest::proptest! {
        /// Any sequence of counts, for tokens, a second principal built apart for the same
        /// token, unknown tokens, outcomes and minutes, with flushes in between: each key's
        /// counts add up to what was counted for it. The hot slot and the lock never lose a
        /// count, count one twice, or move one to another key.
        #[test]
        fn every_count_lands_once_on_its_own_key(steps in proptest::collection::vec(step(), 1..300)) {
            let clock = tower_bearer::Clock::manual(std::time::UNIX_EPOCH);
            let minute = RecentMinute::new(clock.clone());
            let shard = Shard::default();
            let principals = [
                Principal::builder("ada").token_id("tid_a").build(),
                Principal::builder("ada").token_id("tid_a").build(),
                Principal::builder("bob").token_id("tid_b").build(),
            ];
            let outcomes = [UsageOutcome::Admitted, UsageOutcome::Denied, UsageOutcome::RateLimited];
            let mut expected: HashMap<Key, u64> = HashMap::new();
            let mut counted: HashMap<Key, u64> = HashMap::new();
            let mut now = 0;
            for step in steps {
                match step {
                    Step::Count { who, outcome, next_minute } => {
                        if next_minute {
                            clock.advance(std::time::Duration::from_secs(60));
                            now += 1;
                        }
                        let principal = principals.get(who);
                        let outcome = if principal.is_some() { outcomes[outcome] } else { UsageOutcome::Unknown };
                        shard.add(principal, outcome, &minute);
                        let id = principal.and_then(Principal::token_id).cloned();
                        *expected.entry((id, outcome, now)).or_default() += 1;
                    }
                    Step::Take => {
                        for slot in shard.take().slots {
                            *counted.entry(slot.key).or_default() += slot.count;
                        }
                    }
                }
            }
            for slot in shard.take().slots {
                *counted.entry(slot.key).or_default() += slot.count;
            }
            proptest::prop_assert_eq!(counted, expected);
        }
    }
}
