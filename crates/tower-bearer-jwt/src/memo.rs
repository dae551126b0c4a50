//! [`ClaimsMemo`]: what recent tokens meant, so that a token presented again is not verified,
//! decoded, read and turned into a principal again; and [`VerifiedToken`], what it remembers.
//!
//! Why a token is known by its signature's digest and not its own: the digest of a whole
//! HS256 token (five blocks of SHA-256) cost nearly as much as the HMAC it saved; its signature
//! is one block.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use foldhash::fast::RandomState;
use tower_bearer::{Clock, Principal, TokenHash, TokenState};

use crate::jws::Jws;

/// How often, at most, a full memo is swept of expired tokens (seconds). A full memo takes
/// nothing new until a sweep makes room: when more tokens are in use than it holds, a token it
/// does not hold costs its digest and its full check, never an eviction as well.
const SWEEP_EVERY: u64 = 1;

/// What a token that verified means: the principal its claims describe (whose expiry is `exp`
/// plus the verifier's leeway) and its `nbf`. Both times are checked at each use
/// ([`state`](Self::state)), never once for all.
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

    /// What the token is now, by `clock` and [`TokenState::of_verified`]: unknown before its
    /// `nbf` (with `leeway` for the issuer's clock), expired once its principal has expired,
    /// active otherwise.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tower_bearer::{Clock, Grant, Principal, TokenState};
    /// use tower_bearer_jwt::VerifiedToken;
    ///
    /// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    /// let grant = Grant::new("ada").with_expires_at(t0 + Duration::from_secs(60));
    /// let token = VerifiedToken::new(Principal::for_grant(grant).build(), Some(t0));
    /// let (clock, leeway) = (Clock::manual(t0 - Duration::from_secs(6)), Duration::from_secs(5));
    /// assert!(matches!(token.clone().state(&clock, leeway), TokenState::Unknown));
    /// clock.advance(Duration::from_secs(1));
    /// assert!(matches!(token.clone().state(&clock, leeway), TokenState::Active(_)));
    /// clock.advance(Duration::from_secs(65));
    /// assert!(matches!(token.state(&clock, leeway), TokenState::Expired(_)));
    /// ```
    #[must_use]
    pub fn state(self, clock: &Clock, leeway: Duration) -> TokenState {
        TokenState::of_verified(self.principal, self.not_before, clock, leeway)
    }
}

/// What recent tokens meant, so that a token presented again is not verified, decoded and read
/// again: the memo of [`SignedTokens`](crate::SignedTokens), and of any other verifier of JWTs.
///
/// A token is known by the SHA-256 digest of its signature segment ([`TokenHash`], compared in
/// constant time), and the memo keeps the part the signature covers (`header.payload`) to
/// compare with. The signature is what makes the rest a credential, so it is never kept, only
/// its digest; the header and payload alone are no credential (whoever sees the token sees
/// them, and they cannot be presented without the signature). A token matching both is the
/// token that verified: the same signature (the digest resists collisions) over the same
/// bytes. One with a remembered signature over other bytes, or any other signature, is
/// verified in full. What a token means (whether its header, signature and claims check out,
/// and the principal they describe) depends on nothing but its bytes and the verifier's keys,
/// issuer, audience and leeway, so while those stay the same a token that verified once
/// verifies again. Only tokens that verified are remembered. Expiry and `nbf` are checked on
/// every request, from what the memo returns ([`VerifiedToken::state`]).
///
/// A memo holds the answers of one verifier under one key set, issuer, audience and leeway:
/// when any of them changes (the issuer's keys were fetched again, say), start a new memo, or a
/// token signed by a withdrawn key would still be taken. At most `capacity` tokens are kept; a
/// full memo is swept of expired tokens at most once a second, and otherwise takes nothing new
/// (a token it does not hold costs its full check plus its digest, never an eviction).
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::{Clock, Grant, Principal, TokenState};
/// use tower_bearer_jwt::{ClaimsMemo, Jws, VerifiedToken};
///
/// let memo = ClaimsMemo::new(ClaimsMemo::DEFAULT_CAPACITY);
/// let token = Jws::split("eyJhbGciOiJFZERTQSJ9.e30.c2ln").expect("a JWS");
/// let clock = Clock::system();
/// // The first time, the verifier runs; the second time the memo answers.
/// let verify = || Some(VerifiedToken::new(Principal::for_grant(Grant::new("ada")).build(), None));
/// assert!(memo.verify(&token, &clock, verify).is_some());
/// let again = memo.remembered(&token).expect("remembered");
/// assert!(matches!(again.state(&clock, Duration::ZERO), TokenState::Active(p) if p.subject() == "ada"));
/// // The same signature over other bytes is another token.
/// assert!(memo.remembered(&Jws::split("eyJhbGciOiJFZERTQSJ9.e31.c2ln").expect("a JWS")).is_none());
/// ```
pub struct ClaimsMemo {
    /// By the digest of the signature segment.
    known: papaya::HashMap<TokenHash, Remembered, RandomState>,
    /// How many tokens it holds at most (0: none, the memo is off).
    capacity: usize,
    /// When the next sweep of a full memo may run, seconds since the epoch.
    next_sweep: AtomicU64,
}

impl ClaimsMemo {
    /// How many tokens are remembered unless configured: a digest, the signed part and a
    /// principal each, about 2 MB for a full memo of typical tokens.
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
    pub fn remembered(&self, token: &Jws<'_>) -> Option<VerifiedToken> {
        if self.capacity == 0 {
            return None;
        }
        self.known.pin().get(&key_of(token)).and_then(|known| known.meaning_of(token))
    }

    /// What `token` means: remembered, or found by `verify` (and remembered when it verifies and
    /// there is room). `verify` must check the token in full (signature and claims) and return
    /// `None` for a token that does not verify: whatever it returns is taken as the token's
    /// meaning for as long as the memo holds it. `clock` times the sweeps of a full memo (read
    /// only when it is full).
    pub fn verify(
        &self,
        token: &Jws<'_>,
        clock: &Clock,
        verify: impl FnOnce() -> Option<VerifiedToken>,
    ) -> Option<VerifiedToken> {
        if self.capacity == 0 {
            return verify();
        }
        let map = self.known.pin();
        let key = key_of(token);
        if let Some(known) = map.get(&key).and_then(|known| known.meaning_of(token)) {
            return Some(known);
        }
        let fresh = verify()?;
        if map.len() >= self.capacity {
            let now = clock.now();
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
            map.retain(|_, known| !known.token.principal.is_expired_at(now));
            if map.len() >= self.capacity {
                return Some(fresh);
            }
        }
        let signed = token.signed().into();
        map.insert(key, Remembered { signed, token: fresh.clone() });
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

/// The key `token` is remembered under: the digest of its signature segment.
fn key_of(token: &Jws<'_>) -> TokenHash {
    TokenHash::of(token.signature())
}

/// A token that verified: the part its signature covers, and what it means.
struct Remembered {
    signed: Box<[u8]>,
    token: VerifiedToken,
}

impl Remembered {
    /// What `token` means, if it is the token remembered: the signature matched already (by
    /// its digest), and the signed part must too. Compared in variable time: only someone
    /// holding a valid signature gets this far, and the header and payload are no secret.
    fn meaning_of(&self, token: &Jws<'_>) -> Option<VerifiedToken> {
        (*self.signed == *token.signed()).then(|| self.token.clone())
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
        memo.verify(&Jws::split(&format!("e30.{secret}.{secret}")).expect("a JWS"), &Clock::manual(now), read)
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

    /// A forger who has one valid token's signature puts it over other claims: the digest
    /// matches, the signed part does not, so the token is verified in full (and refused), and
    /// the valid token is still remembered.
    #[test]
    fn a_remembered_signature_over_other_bytes_is_verified_in_full() {
        let memo = ClaimsMemo::new(CAPACITY);
        let now = SystemTime::UNIX_EPOCH + NOW;
        let valid = Jws::split("e30.eyJzdWIiOiJhZGEifQ.c2ln").expect("a JWS");
        let forged = Jws::split("e30.eyJzdWIiOiJyb290In0.c2ln").expect("a JWS");
        assert!(memo.verify(&valid, &Clock::manual(now), || Some(claims(60))).is_some());
        assert!(memo.remembered(&forged).is_none());
        let reads = Cell::new(0);
        let answer = memo.verify(&forged, &Clock::manual(now), || {
            reads.set(reads.get() + 1);
            None
        });
        assert!(answer.is_none());
        assert_eq!(reads.get(), 1, "verified in full");
        assert!(memo.remembered(&valid).is_some());
        assert_eq!(memo.len(), 1);
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
