//! [`CacheInvalidator`]: how a push channel invalidates a cache it does not own.

use std::fmt;
use std::sync::Weak;

use super::core::Core;
use crate::store::revocation::Revocation;
use crate::store::subscriber::RevocationSubscriber;
use crate::token::hash::TokenHash;

/// Invalidates a [`CachedTokenStore`](crate::CachedTokenStore) from elsewhere: the
/// [`RevocationSubscriber`] a push channel (such as the Postgres store's `LISTEN/NOTIFY`
/// revocation listener) delivers to. It does not keep the cache alive: once every clone of the
/// cache is dropped, its methods return `false`.
#[derive(Clone)]
pub(crate) struct CacheInvalidator {
    core: Weak<Core>,
}

impl CacheInvalidator {
    pub(super) fn new(core: Weak<Core>) -> Self {
        CacheInvalidator { core }
    }
}

/// A cache's side of a revocation push: drops the token's answer, clears on a reset, caches no
/// valid token while the channel is down (disconnected: the cache is cleared and active tokens
/// are no longer cached; connected: cleared once more, since a notification may have been
/// missed before the subscription took effect, and caching resumes).
impl RevocationSubscriber for CacheInvalidator {
    fn revoked(&self, hash: &TokenHash, _: Option<&Revocation>) -> bool {
        self.core.upgrade().map(|core| core.invalidate(hash)).is_some()
    }

    fn reset(&self) -> bool {
        self.core.upgrade().map(|core| core.invalidate_all()).is_some()
    }

    fn set_connected(&self, connected: bool) -> bool {
        self.core.upgrade().map(|core| core.set_push_connected(connected)).is_some()
    }

    fn is_alive(&self) -> bool {
        self.core.strong_count() > 0
    }
}

impl fmt::Debug for CacheInvalidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheInvalidator").field("alive", &self.is_alive()).finish()
    }
}
