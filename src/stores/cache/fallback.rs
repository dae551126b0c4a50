//! [`Fallback`]: active answers kept for an outage, served when the store cannot answer (off by
//! default; [`CacheConfig::serve_stale_for`](super::CacheConfig::serve_stale_for)).

use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::principal::Principal;
use crate::store::state::TokenState;
use crate::token::hash::TokenHash;

/// The last active answer the store gave for each digest, and when: served for at most
/// `window` after it was given, only when the store answers with an error.
pub(super) struct Fallback {
    window: Duration,
    clock: Clock,
    answers: moka::sync::Cache<TokenHash, (Principal, SystemTime)>,
}

impl Fallback {
    pub(super) fn new(window: Duration, max_entries: u64, clock: Clock) -> Self {
        // moka's own timer bounds memory; the clock decides what is served (a manual one too).
        let answers = moka::sync::Cache::builder().max_capacity(max_entries).time_to_live(window).build();
        Fallback { window, clock, answers }
    }

    /// The store said `principal` is active now.
    pub(super) fn keep(&self, hash: TokenHash, principal: &Principal) {
        self.answers.insert(hash, (principal.clone(), self.clock.now()));
    }

    /// The store could not answer: the answer it gave within the window, if any, unless the
    /// token has expired since.
    pub(super) fn serve(&self, hash: &TokenHash) -> Option<TokenState> {
        let (principal, at) = self.answers.get(hash)?;
        let now = self.clock.now();
        let fresh = now.duration_since(at).unwrap_or_default() <= self.window;
        let unexpired = principal.expires_at().is_none_or(|expiry| now < expiry);
        (fresh && unexpired).then_some(TokenState::Active(principal))
    }

    pub(super) fn forget(&self, hash: &TokenHash) {
        self.answers.invalidate(hash);
    }

    pub(super) fn forget_all(&self) {
        self.answers.invalidate_all();
    }
}
