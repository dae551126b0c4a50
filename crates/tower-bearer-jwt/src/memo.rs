//! [`ClaimsMemo`]: what recent tokens meant, so that a token presented again is not verified,
//! decoded, read and turned into a principal again.
//!
//! A token is known by the SHA-256 digest of all its bytes ([`TokenHash`], compared in
//! constant time, as the stores know opaque tokens): no plaintext token is kept. What a token
//! means (whether its header, signature and claims check out, and the principal they describe)
//! depends on nothing but those bytes and the store's key set, issuer, audience and leeway,
//! all fixed once built; so a token that verified once verifies again, and one with any other
//! byte (a forged payload, another signature) is another digest and is verified in full. Only
//! tokens that verified are remembered. Expiry, `nbf`, the deny list and effective access are
//! checked on every request, from what the memo returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use foldhash::fast::RandomState;
use tower_bearer::{PresentedToken, Principal, TokenHash};

/// How often, at most, a full memo is swept of expired tokens (seconds). A full memo takes
/// nothing new until a sweep makes room: when more tokens are in use than it holds, a token it
/// does not hold costs its digest and its full check, never an eviction as well.
const SWEEP_EVERY: u64 = 1;

/// What a verified token means for the store: the principal (whose expiry is `exp` plus the
/// leeway) and `nbf`, both checked per request.
#[derive(Clone)]
pub(crate) struct ReadClaims {
    pub(crate) principal: Principal,
    /// `nbf`, seconds since the epoch.
    pub(crate) nbf: Option<u64>,
}

/// Tokens, by digest, and what they meant.
pub(crate) struct ClaimsMemo {
    known: papaya::HashMap<TokenHash, ReadClaims, RandomState>,
    /// How many tokens it holds at most (0: none, the memo is off).
    capacity: usize,
    /// When the next sweep of a full memo may run, seconds since the epoch.
    next_sweep: AtomicU64,
}

impl ClaimsMemo {
    /// How many tokens are remembered unless configured: a digest and a principal each, about
    /// 1 MB for a full memo of typical tokens.
    pub(crate) const DEFAULT_CAPACITY: usize = 4096;

    /// A memo of at most `capacity` tokens (0: off).
    pub(crate) fn new(capacity: usize) -> Self {
        ClaimsMemo {
            known: papaya::HashMap::with_hasher(RandomState::default()),
            capacity,
            next_sweep: AtomicU64::new(0),
        }
    }

    /// What `token` means: remembered, or `read` (and remembered when it reads and there is
    /// room). `read` must return `None` for a token that does not verify.
    pub(crate) fn read(
        &self,
        token: &PresentedToken<'_>,
        now: SystemTime,
        read: impl FnOnce() -> Option<ReadClaims>,
    ) -> Option<ReadClaims> {
        if self.capacity == 0 {
            return read();
        }
        let map = self.known.pin();
        if let Some(known) = map.get(token.hash()) {
            return Some(known.clone());
        }
        let fresh = read()?;
        if map.len() >= self.capacity {
            let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let due = self.next_sweep.load(Ordering::Relaxed);
            if secs < due
                || self
                    .next_sweep
                    .compare_exchange(
                        due,
                        secs.saturating_add(SWEEP_EVERY),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_err()
            {
                return Some(fresh);
            }
            // The principal's expiry includes the leeway: after it the token is refused anyway.
            map.retain(|_, claims| !claims.principal.is_expired_at(now));
            if map.len() >= self.capacity {
                return Some(fresh);
            }
        }
        map.insert(*token.hash(), fresh.clone());
        Some(fresh)
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.known.len()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use tower_bearer::Grant;

    use super::*;

    const NOW: Duration = Duration::from_secs(1_800_000_000);
    const CAPACITY: usize = ClaimsMemo::DEFAULT_CAPACITY;

    /// `memo`'s answer for the token `secret`.
    fn ask(
        memo: &ClaimsMemo,
        secret: &str,
        now: SystemTime,
        read: impl FnOnce() -> Option<ReadClaims>,
    ) -> Option<ReadClaims> {
        memo.read(&PresentedToken::new(secret), now, read)
    }

    /// Claims of a token expiring `in_secs` after [`NOW`].
    fn claims(in_secs: u64) -> ReadClaims {
        claims_of("ada", in_secs)
    }

    /// Claims of `subject`'s token expiring `in_secs` after [`NOW`].
    fn claims_of(subject: &str, in_secs: u64) -> ReadClaims {
        let at = SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(in_secs);
        ReadClaims {
            principal: Principal::for_grant(Grant::new(subject).with_expires_at(at)).build(),
            nbf: None,
        }
    }

    /// Four threads read tokens of their own and shared ones while the memo fills up, is
    /// swept as time moves on and refuses newcomers: every answer is the meaning of the token
    /// asked for (its subject is the token), never another's, and the memo stays near its
    /// bound (each thread can insert one token past it between its check and its insert).
    #[test]
    fn concurrent_readers_each_get_their_own_tokens_meaning() {
        let memo = ClaimsMemo::new(CAPACITY);
        std::thread::scope(|scope| {
            for thread in 0..4_u64 {
                let memo = &memo;
                scope.spawn(move || {
                    for i in 0..6_000_u64 {
                        // A quarter of the tokens are shared by all threads, the rest their own.
                        let payload =
                            if i % 4 == 0 { format!("shared{}", i % 400) } else { format!("t{thread}-{i}") };
                        let second = i / 1_500; // time moves on: four sweeps may run
                        let now = SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(second);
                        let lifetime = if i % 3 == 0 { 1 } else { 3_600 };
                        let read = ask(memo, &payload, now, || Some(claims_of(&payload, second + lifetime)));
                        assert_eq!(
                            read.map(|c| c.principal.subject().to_owned()).as_deref(),
                            Some(&*payload)
                        );
                    }
                });
            }
        });
        assert!(memo.len() <= CAPACITY + 4, "{}", memo.len());
    }

    #[test]
    fn a_token_is_read_once_and_a_refusal_never_remembered() {
        let memo = ClaimsMemo::new(CAPACITY);
        let now = SystemTime::UNIX_EPOCH + NOW;
        let reads = Cell::new(0);
        let read = |claims: Option<ReadClaims>| {
            reads.set(reads.get() + 1);
            claims
        };
        assert!(ask(&memo, "a", now, || read(None)).is_none());
        assert!(ask(&memo, "a", now, || read(Some(claims(60)))).is_some());
        assert_eq!(
            ask(&memo, "a", now, || read(None)).and_then(|c| c.principal.expires_at()),
            Some(SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(60))
        );
        assert_eq!((reads.get(), memo.len()), (2, 1));
    }

    #[test]
    fn a_memo_of_no_capacity_reads_every_time() {
        let memo = ClaimsMemo::new(0);
        let now = SystemTime::UNIX_EPOCH + NOW;
        let reads = Cell::new(0);
        for _ in 0..3 {
            let read = ask(&memo, "a", now, || {
                reads.set(reads.get() + 1);
                Some(claims(60))
            });
            assert!(read.is_some());
        }
        assert_eq!((reads.get(), memo.len()), (3, 0));
    }

    #[test]
    fn a_full_memo_makes_room_by_sweeping_the_expired_once_a_second() {
        let memo = ClaimsMemo::new(CAPACITY);
        let now = SystemTime::UNIX_EPOCH + NOW;
        let live = CAPACITY / 4;
        for i in 0..CAPACITY {
            // Expiring at `now + 1`: refused from that second on.
            ask(&memo, &i.to_string(), now, || Some(claims(if i < live { 60 } else { 1 })));
        }
        assert_eq!(memo.len(), CAPACITY);
        ask(&memo, "a", now, || Some(claims(60)));
        assert_eq!(memo.len(), CAPACITY, "nothing has expired: nothing new is taken");
        let later = now + Duration::from_secs(1);
        ask(&memo, "b", later, || Some(claims(60)));
        assert_eq!(memo.len(), live + 1, "the expired went, the live stayed, the new one came in");
        assert!(ask(&memo, "0", later, || None).is_some());
        assert!(ask(&memo, "a", later, || None).is_none());
    }

    #[test]
    fn a_full_memo_of_live_tokens_takes_nothing_new_and_sweeps_at_most_once_a_second() {
        let memo = ClaimsMemo::new(CAPACITY);
        let now = SystemTime::UNIX_EPOCH + NOW;
        for i in 0..CAPACITY {
            ask(&memo, &i.to_string(), now, || Some(claims(60)));
        }
        let reads = Cell::new(0);
        for _ in 0..2 {
            let read = ask(&memo, "next", now, || {
                reads.set(reads.get() + 1);
                Some(claims(60))
            });
            assert!(read.is_some(), "answered, only not remembered");
        }
        assert_eq!((memo.len(), reads.get()), (CAPACITY, 2));
        assert!(ask(&memo, "0", now, || None).is_some(), "the ones it held are kept");
        // The sweep due now ran at the first miss; the next may run a second later.
        assert_eq!(memo.next_sweep.load(Ordering::Relaxed), NOW.as_secs() + SWEEP_EVERY);
    }
}
