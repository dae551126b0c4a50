//! [`ClaimsMemo`]: what recent tokens meant, so that a token presented again is not verified,
//! decoded, read and turned into a principal again; and [`VerifiedToken`], what it remembers.
//!
//! A token is known by the SHA-256 digest of all its bytes ([`TokenHash`], compared in
//! constant time, as the stores know opaque tokens): no plaintext token is kept. What a token
//! means (whether its header, signature and claims check out, and the principal they describe)
//! depends on nothing but those bytes and the verifier's keys, issuer, audience and leeway; so
//! while those stay the same, a token that verified once verifies again, and one with any other
//! byte (a forged payload, another signature) is another digest and is verified in full. Only
//! tokens that verified are remembered. Expiry and `nbf` are checked on every request, from
//! what the memo returns ([`VerifiedToken::state_at`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use foldhash::fast::RandomState;
use tower_bearer::{PresentedToken, Principal, TokenHash, TokenState};

/// How often, at most, a full memo is swept of expired tokens (seconds). A full memo takes
/// nothing new until a sweep makes room: when more tokens are in use than it holds, a token it
/// does not hold costs its digest and its full check, never an eviction as well.
const SWEEP_EVERY: u64 = 1;

/// What a token that verified means: the principal its claims describe (whose expiry is `exp`
/// plus the verifier's leeway) and its `nbf`. Both times are checked at each use
/// ([`state_at`](Self::state_at)), never once for all.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    principal: Principal,
    not_before: Option<SystemTime>,
}

impl VerifiedToken {
    /// A verified token's meaning: its `principal`, and the time its `nbf` names, if any.
    #[must_use]
    pub fn new(principal: Principal, not_before: Option<SystemTime>) -> Self {
        VerifiedToken { principal, not_before }
    }

    /// The principal.
    #[must_use]
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// What the token is at `now`, by [`TokenState::of_verified`]: unknown before its `nbf`
    /// (with `leeway` for the issuer's clock), expired once its principal has expired, active
    /// otherwise.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tower_bearer::{Grant, Principal, TokenState};
    /// use tower_bearer_jwt::VerifiedToken;
    ///
    /// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    /// let grant = Grant::new("ada").with_expires_at(t0 + Duration::from_secs(60));
    /// let token = VerifiedToken::new(Principal::for_grant(grant).build(), Some(t0));
    /// let leeway = Duration::from_secs(5);
    /// assert!(matches!(token.clone().state_at(t0 - Duration::from_secs(6), leeway), TokenState::Unknown));
    /// assert!(matches!(token.clone().state_at(t0 - Duration::from_secs(5), leeway), TokenState::Active(_)));
    /// assert!(matches!(token.state_at(t0 + Duration::from_secs(60), leeway), TokenState::Expired(_)));
    /// ```
    #[must_use]
    pub fn state_at(self, now: SystemTime, leeway: Duration) -> TokenState {
        TokenState::of_verified(self.principal, self.not_before, now, leeway)
    }
}

/// What recent tokens meant, by the SHA-256 digest of each token's bytes (no plaintext kept),
/// so that a token presented again is not verified, decoded and read again: the memo of
/// [`SignedTokens`](crate::SignedTokens), and of any other verifier of JWTs.
///
/// A memo holds the answers of one verifier under one key set, issuer, audience and leeway:
/// when any of them changes (the issuer's keys were fetched again, say), start a new memo, or a
/// token signed by a withdrawn key would still be taken. At most `capacity` tokens are kept; a
/// full memo is swept of expired tokens at most once a second, and otherwise takes nothing new
/// (a token it does not hold costs its full check plus its digest, never an eviction).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_bearer::{Grant, PresentedToken, Principal, TokenState};
/// use tower_bearer_jwt::{ClaimsMemo, VerifiedToken};
///
/// let memo = ClaimsMemo::new(ClaimsMemo::DEFAULT_CAPACITY);
/// let token = PresentedToken::new("eyJhbGciOiJFZERTQSJ9.e30.c2ln");
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// // The first time, the verifier runs; the second time the memo answers.
/// let verify = || Some(VerifiedToken::new(Principal::for_grant(Grant::new("ada")).build(), None));
/// assert!(memo.verify(&token, now, verify).is_some());
/// let again = memo.remembered(&token).expect("remembered");
/// assert!(matches!(again.state_at(now, Duration::ZERO), TokenState::Active(p) if p.subject() == "ada"));
/// ```
pub struct ClaimsMemo {
    known: papaya::HashMap<TokenHash, VerifiedToken, RandomState>,
    /// How many tokens it holds at most (0: none, the memo is off).
    capacity: usize,
    /// When the next sweep of a full memo may run, seconds since the epoch.
    next_sweep: AtomicU64,
}

impl ClaimsMemo {
    /// How many tokens are remembered unless configured: a digest and a principal each, about
    /// 1 MB for a full memo of typical tokens.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A memo of at most `capacity` tokens (0: off, every token is verified every time).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        ClaimsMemo {
            known: papaya::HashMap::with_hasher(RandomState::default()),
            capacity,
            next_sweep: AtomicU64::new(0),
        }
    }

    /// What `token` meant when it verified, if the memo holds it.
    #[must_use]
    pub fn remembered(&self, token: &PresentedToken<'_>) -> Option<VerifiedToken> {
        if self.capacity == 0 {
            return None;
        }
        self.known.pin().get(token.hash()).cloned()
    }

    /// What `token` means: remembered, or found by `verify` (and remembered when it verifies and
    /// there is room). `verify` must check the token in full (signature and claims) and return
    /// `None` for a token that does not verify: whatever it returns is taken as the token's
    /// meaning for as long as the memo holds it. `now` decides the sweeps of a full memo.
    pub fn verify(
        &self,
        token: &PresentedToken<'_>,
        now: SystemTime,
        verify: impl FnOnce() -> Option<VerifiedToken>,
    ) -> Option<VerifiedToken> {
        if self.capacity == 0 {
            return verify();
        }
        let map = self.known.pin();
        if let Some(known) = map.get(token.hash()) {
            return Some(known.clone());
        }
        let fresh = verify()?;
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
            map.retain(|_, known| !known.principal.is_expired_at(now));
            if map.len() >= self.capacity {
                return Some(fresh);
            }
        }
        map.insert(*token.hash(), fresh.clone());
        Some(fresh)
    }

    /// How many tokens are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether no token is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for ClaimsMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimsMemo").field("capacity", &self.capacity).field("len", &self.len()).finish()
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
        read: impl FnOnce() -> Option<VerifiedToken>,
    ) -> Option<VerifiedToken> {
        memo.verify(&PresentedToken::new(secret), now, read)
    }

    /// Claims of a token expiring `in_secs` after [`NOW`].
    fn claims(in_secs: u64) -> VerifiedToken {
        claims_of("ada", in_secs)
    }

    /// Claims of `subject`'s token expiring `in_secs` after [`NOW`].
    fn claims_of(subject: &str, in_secs: u64) -> VerifiedToken {
        let at = SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(in_secs);
        VerifiedToken::new(Principal::for_grant(Grant::new(subject).with_expires_at(at)).build(), None)
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
        let read = |claims: Option<VerifiedToken>| {
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
