//! [`DenyList`]: the ids of signed tokens that must be refused before they expire, each kept
//! until the token's own expiry and then dropped; and [`DenyListSubscriber`], through which the
//! store pushes every revocation into it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use tower_bearer::manage::Revocation;
use tower_bearer::store::RevocationSubscriber;
use tower_bearer::{Clock, TokenHash, TokenId};

/// Map sizes below this are never swept.
const SWEEP_MIN: usize = 1024;

/// One denied token: refused from `from` (seconds since the epoch: now for a revocation, the
/// end of the grace for a rotation), forgotten after `until` (its expiry), and during a grace
/// period, the token that replaced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Denial {
    pub(crate) from: u64,
    pub(crate) until: u64,
    pub(crate) replaced_by: Option<TokenId>,
}

pub(crate) fn secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Denial {
    /// `revocation`, kept `leeway` seconds beyond the token's expiry (it verifies until then).
    fn of(revocation: &Revocation, leeway: u64) -> Self {
        Denial {
            from: secs(revocation.refused_from),
            until: secs(revocation.kept_until).saturating_add(leeway),
            replaced_by: revocation.replaced_by.clone(),
        }
    }

    /// The two denials of one token as one: refused from the earlier, kept until the later.
    fn merge(self, other: &Denial) -> Denial {
        Denial {
            from: self.from.min(other.from),
            until: self.until.max(other.until),
            replaced_by: self.replaced_by.or_else(|| other.replaced_by.clone()),
        }
    }
}

pub(crate) struct DenyList {
    /// Keyed by token ids, which only revocations put here (no flooding concern): a fast
    /// hasher, as the lookup is on every signed token's path.
    entries: papaya::HashMap<TokenId, Denial, foldhash::fast::RandomState>,
    sweep_at: AtomicUsize,
    /// Whether the list holds every revocation in effect: the store's push replayed those
    /// made before and is connected, so it delivers every later one. Until then, and while the
    /// push is down, it may lack one.
    current: AtomicBool,
    /// The verifier's leeway in seconds: revocations are kept that much past expiry.
    leeway: u64,
    /// The verifier's clock, for sweeping.
    clock: Clock,
}

impl DenyList {
    pub(crate) fn new(leeway: u64, clock: Clock) -> Self {
        DenyList {
            clock,
            entries: papaya::HashMap::with_hasher(foldhash::fast::RandomState::default()),
            sweep_at: AtomicUsize::new(SWEEP_MIN),
            current: AtomicBool::new(false),
            leeway,
        }
    }

    /// The denial of `id`, if any.
    pub(crate) fn get(&self, id: &TokenId) -> Option<Denial> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries.pin().get(id).cloned()
    }

    /// Whether the list can be trusted alone: the store's push is connected. A store that
    /// pushes nothing (a SQL store built outside a runtime, a store of the application's own)
    /// never connects it, and every signed token is checked against its record.
    pub(crate) fn is_current(&self) -> bool {
        self.current.load(Ordering::Acquire)
    }

    /// Denies the token of `revocation` (merged with an earlier denial of it); entries whose
    /// token has expired are swept when the list doubles.
    pub(crate) fn deny(&self, revocation: &Revocation) {
        let denial = Denial::of(revocation, self.leeway);
        let id = revocation.id.clone();
        let now = secs(self.clock.now());
        let entries = self.entries.pin();
        entries.update_or_insert(id, |old| denial.clone().merge(old), denial.clone());
        if entries.len() >= self.sweep_at.load(Ordering::Relaxed) {
            entries.retain(|_, d| d.until > now);
            self.sweep_at.store((entries.len() * 2).max(SWEEP_MIN), Ordering::Relaxed);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The deny list of a [`SignedTokens`](crate::SignedTokens) as a [`RevocationSubscriber`],
/// subscribed to the store when the verifier is built: the revocations, deletions and
/// rotations every instance makes are refused here as soon as they arrive. While the push is
/// down (and before it first connects), signed tokens are checked against their record in the
/// store, one query per request, as a cache stops caching: nothing revoked elsewhere is
/// accepted in between.
///
/// It does not keep the list alive: once the `SignedTokens` is dropped, the push stops.
pub(crate) struct DenyListSubscriber {
    list: Weak<DenyList>,
}

impl DenyListSubscriber {
    pub(crate) fn new(list: &Arc<DenyList>) -> Self {
        DenyListSubscriber { list: Arc::downgrade(list) }
    }

    fn with(&self, f: impl FnOnce(&DenyList)) -> bool {
        self.list.upgrade().map(|list| f(&list)).is_some()
    }
}

impl RevocationSubscriber for DenyListSubscriber {
    fn revoked(&self, _: &TokenHash, revocation: Option<&Revocation>) -> bool {
        self.with(|list| {
            if let Some(r) = revocation {
                list.deny(r);
            }
        })
    }

    /// Nothing to forget: denials are never wrong, only possibly incomplete.
    fn reset(&self) -> bool {
        self.with(|_| {})
    }

    fn set_connected(&self, connected: bool) -> bool {
        self.with(|list| list.current.store(connected, Ordering::Release))
    }

    fn is_alive(&self) -> bool {
        self.list.strong_count() > 0
    }

    fn wants_replay(&self) -> bool {
        true
    }

    fn replay(&self, revocations: Vec<Revocation>) -> bool {
        self.with(|list| {
            for r in &revocations {
                list.deny(r);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn revocation(id: &str, from: u64, until: u64) -> Revocation {
        Revocation::new(
            TokenId::from(id),
            UNIX_EPOCH + Duration::from_secs(from),
            UNIX_EPOCH + Duration::from_secs(until),
        )
    }

    #[test]
    fn denials_of_one_token_merge_to_the_strictest() {
        let list = DenyList::new(30, Clock::manual(UNIX_EPOCH));
        let id = TokenId::from("tid_a");
        list.deny(&revocation("tid_a", 200, 1000).replaced_by(TokenId::from("tid_b")));
        // Revoked during the grace; the store's record expires at the grace's end.
        list.deny(&revocation("tid_a", 100, 200));
        assert_eq!(
            list.get(&id),
            Some(Denial { from: 100, until: 1030, replaced_by: Some(TokenId::from("tid_b")) })
        );
    }

    #[test]
    fn the_subscriber_fills_the_list_and_reports_its_state() {
        let list = Arc::new(DenyList::new(0, Clock::system()));
        let subscriber = DenyListSubscriber::new(&list);
        assert!(!list.is_current(), "no push connected yet");
        assert!(subscriber.set_connected(false));
        assert!(!list.is_current());
        let far = secs(SystemTime::now()) + 3600;
        assert!(subscriber.replay(vec![revocation("tid_a", 1, far)]));
        assert!(subscriber.revoked(&TokenHash::of("x"), Some(&revocation("tid_b", 2, far))));
        assert!(subscriber.revoked(&TokenHash::of("y"), None), "a token without expiry needs no denial");
        assert!(subscriber.set_connected(true));
        assert!(list.is_current());
        assert_eq!(list.len(), 2);
        assert!(subscriber.set_connected(false), "the push went down");
        assert!(!list.is_current());
        drop(list);
        assert!(!subscriber.is_alive());
        assert!(!subscriber.revoked(&TokenHash::of("x"), None));
    }
}
