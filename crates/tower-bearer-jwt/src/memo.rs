//! [`ClaimsMemo`]: what the payloads of recent tokens meant, so that a token presented again
//! is not decoded, read and turned into a principal again.
//!
//! The signature is checked on every request, before the memo is asked: only bytes the keys
//! signed are looked up, and only their meaning is remembered, which depends on nothing but
//! the bytes and the store's fixed issuer, audience and leeway. So the memo cannot let
//! through a token the keys no longer verify, and revocation, expiry and `nbf` are checked
//! on every request as before, from what it returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use foldhash::fast::RandomState;
use tower_bearer::Principal;

/// How often, at most, a full memo is swept of the payloads of expired tokens (seconds). A
/// full memo takes nothing new until a sweep makes room: when more tokens are in use than
/// it holds, a token it does not hold costs its read, as without a memo, not a read and an
/// eviction.
const SWEEP_EVERY: u64 = 1;

/// What a verified payload means for the store: the principal and the times checked per
/// request.
#[derive(Clone)]
pub(crate) struct ReadClaims {
    pub(crate) principal: Principal,
    /// `exp`, seconds since the epoch.
    pub(crate) exp: u64,
    /// `nbf`, seconds since the epoch.
    pub(crate) nbf: Option<u64>,
}

/// Payloads (base64url, as the token carries them) and what they meant.
pub(crate) struct ClaimsMemo {
    read: papaya::HashMap<Box<str>, ReadClaims, RandomState>,
    /// How many payloads it holds at most (0: none, the memo is off).
    capacity: usize,
    /// When the next sweep of a full memo may run, seconds since the epoch.
    next_sweep: AtomicU64,
}

impl ClaimsMemo {
    /// How many payloads are remembered unless configured. A typical token's payload is about
    /// 300 bytes, so a full memo holds about 2 MB; payloads at the layer's default token limit
    /// (4 KiB) would make it 16 MB, and only tokens the keys signed get in.
    pub(crate) const DEFAULT_CAPACITY: usize = 4096;

    /// A memo of at most `capacity` payloads (0: off).
    pub(crate) fn new(capacity: usize) -> Self {
        ClaimsMemo {
            read: papaya::HashMap::with_hasher(RandomState::default()),
            capacity,
            next_sweep: AtomicU64::new(0),
        }
    }

    /// What `payload` means: remembered, or `read` (and remembered when it reads and there is
    /// room). Call it only for a payload whose signature has been checked.
    pub(crate) fn read(
        &self,
        payload: &str,
        now: SystemTime,
        read: impl FnOnce() -> Option<ReadClaims>,
    ) -> Option<ReadClaims> {
        if self.capacity == 0 {
            return read();
        }
        let map = self.read.pin();
        if let Some(known) = map.get(payload) {
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
            map.retain(|_, claims| claims.principal.expires_at().is_none_or(|at| at > now));
            if map.len() >= self.capacity {
                return Some(fresh);
            }
        }
        map.insert(payload.into(), fresh.clone());
        Some(fresh)
    }

    /// How many payloads are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.read.len()
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

    /// Claims of a token expiring `in_secs` after [`NOW`].
    fn claims(in_secs: u64) -> ReadClaims {
        claims_of("ada", in_secs)
    }

    /// Claims of `subject`'s token expiring `in_secs` after [`NOW`].
    fn claims_of(subject: &str, in_secs: u64) -> ReadClaims {
        let at = SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(in_secs);
        ReadClaims {
            principal: Principal::for_grant(Grant::new(subject).with_expires_at(at)).build(),
            exp: (NOW.as_secs() + in_secs),
            nbf: None,
        }
    }

    /// Four threads read payloads of their own and shared ones while the memo fills up, is
    /// swept as time moves on and refuses newcomers: every answer is the meaning of the payload
    /// asked for (its subject is the payload), never another's, and the memo stays near its
    /// bound (each thread can insert one payload past it between its check and its insert).
    #[test]
    fn concurrent_readers_each_get_their_own_payloads_meaning() {
        let memo = ClaimsMemo::new(CAPACITY);
        std::thread::scope(|scope| {
            for thread in 0..4_u64 {
                let memo = &memo;
                scope.spawn(move || {
                    for i in 0..6_000_u64 {
                        // A quarter of the payloads are shared by all threads, the rest their own.
                        let payload =
                            if i % 4 == 0 { format!("shared{}", i % 400) } else { format!("t{thread}-{i}") };
                        let second = i / 1_500; // time moves on: four sweeps may run
                        let now = SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(second);
                        let lifetime = if i % 3 == 0 { 1 } else { 3_600 };
                        let read = memo.read(&payload, now, || Some(claims_of(&payload, second + lifetime)));
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
    fn a_payload_is_read_once_and_a_refusal_never_remembered() {
        let memo = ClaimsMemo::new(CAPACITY);
        let now = SystemTime::UNIX_EPOCH + NOW;
        let reads = Cell::new(0);
        let read = |claims: Option<ReadClaims>| {
            reads.set(reads.get() + 1);
            claims
        };
        assert!(memo.read("a", now, || read(None)).is_none());
        assert!(memo.read("a", now, || read(Some(claims(60)))).is_some());
        assert_eq!(memo.read("a", now, || read(None)).map(|c| c.exp), Some(NOW.as_secs() + 60));
        assert_eq!((reads.get(), memo.len()), (2, 1));
    }

    #[test]
    fn a_memo_of_no_capacity_reads_every_time() {
        let memo = ClaimsMemo::new(0);
        let now = SystemTime::UNIX_EPOCH + NOW;
        let reads = Cell::new(0);
        for _ in 0..3 {
            let read = memo.read("a", now, || {
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
            memo.read(&i.to_string(), now, || Some(claims(if i < live { 60 } else { 1 })));
        }
        assert_eq!(memo.len(), CAPACITY);
        memo.read("a", now, || Some(claims(60)));
        assert_eq!(memo.len(), CAPACITY, "nothing has expired: nothing new is taken");
        let later = now + Duration::from_secs(1);
        memo.read("b", later, || Some(claims(60)));
        assert_eq!(memo.len(), live + 1, "the expired went, the live stayed, the new one came in");
        assert!(memo.read("0", later, || None).is_some());
        assert!(memo.read("a", later, || None).is_none());
    }

    #[test]
    fn a_full_memo_of_live_tokens_takes_nothing_new_and_sweeps_at_most_once_a_second() {
        let memo = ClaimsMemo::new(CAPACITY);
        let now = SystemTime::UNIX_EPOCH + NOW;
        for i in 0..CAPACITY {
            memo.read(&i.to_string(), now, || Some(claims(60)));
        }
        let reads = Cell::new(0);
        for _ in 0..2 {
            let read = memo.read("next", now, || {
                reads.set(reads.get() + 1);
                Some(claims(60))
            });
            assert!(read.is_some(), "answered, only not remembered");
        }
        assert_eq!((memo.len(), reads.get()), (CAPACITY, 2));
        assert!(memo.read("0", now, || None).is_some(), "the ones it held are kept");
        // The sweep due now ran at the first miss; the next may run a second later.
        assert_eq!(memo.next_sweep.load(Ordering::Relaxed), NOW.as_secs() + SWEEP_EVERY);
    }
}
