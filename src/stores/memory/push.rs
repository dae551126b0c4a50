//! [`RevocationPush`]: the memory store's revocations, kept while they are in effect and told
//! at once to every subscriber in the process (the deny list of each `SignedTokens`, a cache's
//! invalidator), so that every verifier over one store refuses what any of them revoked.

use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::store::revocation::Revocation;
use crate::store::subscriber::RevocationSubscriber;
use crate::token::hash::TokenHash;

/// The subscribers and the revocations in effect, under one lock: a subscriber that comes is
/// given every revocation made before it, and told every one made after, none lost between.
#[derive(Default)]
pub(super) struct RevocationPush {
    state: Mutex<PushState>,
}

#[derive(Default)]
struct PushState {
    subscribers: Vec<Box<dyn RevocationSubscriber>>,
    /// Revocations of tokens with an expiry, until that expiry.
    in_effect: Vec<Revocation>,
}

impl RevocationPush {
    fn state(&self) -> std::sync::MutexGuard<'_, PushState> {
        // Each change is one push or one `retain`: a panic left nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token known by `hash` was revoked, deleted or replaced (`revocation`: its record,
    /// for a token with an expiry): kept, and told to every subscriber.
    pub(super) fn revoked(&self, hash: &TokenHash, revocation: Option<Revocation>, now: SystemTime) {
        let mut state = self.state();
        state.in_effect.retain(|r| r.kept_until > now);
        state.subscribers.retain(|s| s.revoked(hash, revocation.as_ref()));
        state.in_effect.extend(revocation);
    }

    /// From now on `subscriber` is told every revocation, after those in effect (if it asks
    /// for them), and it is told the push is connected: it misses none.
    pub(super) fn subscribe(&self, subscriber: Box<dyn RevocationSubscriber>, now: SystemTime) {
        let mut state = self.state();
        state.in_effect.retain(|r| r.kept_until > now);
        state.subscribers.retain(|s| s.is_alive());
        let alive = (!subscriber.wants_replay() || subscriber.replay(state.in_effect.clone()))
            && subscriber.set_connected(true);
        if alive {
            state.subscribers.push(subscriber);
        }
    }

    /// The revocations in effect at `now`.
    pub(super) fn in_effect(&self, now: SystemTime) -> Vec<Revocation> {
        self.state().in_effect.iter().filter(|r| r.kept_until > now).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::token::id::TokenId;

    /// A digest told, with the id of the revocation's token, if it came with one.
    type Told = (TokenHash, Option<TokenId>);

    /// Records what it is told.
    #[derive(Clone, Default)]
    struct Recorder {
        told: Arc<Mutex<Vec<Told>>>,
        connected: Arc<AtomicBool>,
        gone: Arc<AtomicBool>,
    }

    impl RevocationSubscriber for Recorder {
        fn revoked(&self, hash: &TokenHash, revocation: Option<&Revocation>) -> bool {
            self.told.lock().unwrap().push((*hash, revocation.map(|r| r.id.clone())));
            self.is_alive()
        }
        fn reset(&self) -> bool {
            self.is_alive()
        }
        fn set_connected(&self, connected: bool) -> bool {
            self.connected.store(connected, Ordering::SeqCst);
            self.is_alive()
        }
        fn is_alive(&self) -> bool {
            !self.gone.load(Ordering::SeqCst)
        }
        fn wants_replay(&self) -> bool {
            true
        }
        fn replay(&self, revocations: Vec<Revocation>) -> bool {
            let mut told = self.told.lock().unwrap();
            told.extend(revocations.into_iter().map(|r| (TokenHash::of("replayed"), Some(r.id))));
            self.is_alive()
        }
    }

    const T0: Duration = Duration::from_secs(1_800_000_000);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(secs)
    }

    fn revocation(id: &str, until: u64) -> Revocation {
        Revocation::new(TokenId::from(id), at(0), at(until))
    }

    #[test]
    fn a_subscriber_gets_the_revocations_in_effect_then_every_new_one() {
        let push = RevocationPush::default();
        push.revoked(&TokenHash::of("a"), Some(revocation("tid_a", 60)), at(0));
        push.revoked(&TokenHash::of("b"), Some(revocation("tid_b", 10)), at(0));
        let late = Recorder::default();
        push.subscribe(Box::new(late.clone()), at(20));
        assert!(late.connected.load(Ordering::SeqCst));
        let replayed: Vec<_> = late.told.lock().unwrap().iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(replayed, [Some(TokenId::from("tid_a"))], "b had expired: not in effect");
        push.revoked(&TokenHash::of("c"), None, at(21));
        assert_eq!(late.told.lock().unwrap().last(), Some(&(TokenHash::of("c"), None)));
        assert_eq!(push.in_effect(at(30)), [revocation("tid_a", 60)]);
        assert!(push.in_effect(at(60)).is_empty());
    }

    #[test]
    fn a_subscriber_that_is_gone_is_dropped() {
        let push = RevocationPush::default();
        let gone = Recorder::default();
        push.subscribe(Box::new(gone.clone()), at(0));
        gone.gone.store(true, Ordering::SeqCst);
        push.revoked(&TokenHash::of("a"), None, at(1));
        assert_eq!(push.state().subscribers.len(), 0);
    }
}
