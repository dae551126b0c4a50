//! [`CacheInvalidator`]: how a push channel invalidates a cache it does not own.

use std::fmt;
use std::sync::Weak;

use super::core::Core;
use crate::store::revocation::Revocation;
use crate::store::subscriber::RevocationSubscriber;
use crate::token::hash::TokenHash;

/// Invalidates a [`CachedTokenStore`](crate::CachedTokenStore) from elsewhere: the handle a push channel (such as the
/// Postgres store's `LISTEN/NOTIFY` revocation listener) uses. It does not keep the cache
/// alive: once every clone of the cache is dropped, its methods return `false`.
#[derive(Clone)]
pub struct CacheInvalidator {
    core: Weak<Core>,
}

impl CacheInvalidator {
    pub(super) fn new(core: Weak<Core>) -> Self {
        CacheInvalidator { core }
    }

    /// Drops the cached answer for this digest. Returns whether the cache still exists.
    pub fn invalidate(&self, hash: &TokenHash) -> bool {
        self.core.upgrade().map(|core| core.invalidate(hash)).is_some()
    }

    /// Drops every cached answer. Returns whether the cache still exists.
    pub fn invalidate_all(&self) -> bool {
        self.core.upgrade().map(|core| core.invalidate_all()).is_some()
    }

    /// Reports the push channel's state. Disconnected: the cache is cleared and active tokens
    /// are no longer cached (a revocation elsewhere could not reach it). Connected: the cache
    /// is cleared once more (a notification may have been missed before the subscription took
    /// effect) and caching resumes. Returns whether the cache still exists.
    pub fn set_push_connected(&self, connected: bool) -> bool {
        self.core.upgrade().map(|core| core.set_push_connected(connected)).is_some()
    }

    /// Whether the cache still exists.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.core.strong_count() > 0
    }
}

/// A cache's side of a revocation push: drops the token's answer, clears on a reset, caches no
/// valid token while the channel is down.
impl RevocationSubscriber for CacheInvalidator {
    fn revoked(&self, hash: &TokenHash, _: Option<&Revocation>) -> bool {
        self.invalidate(hash)
    }

    fn reset(&self) -> bool {
        self.invalidate_all()
    }

    fn set_connected(&self, connected: bool) -> bool {
        self.set_push_connected(connected)
    }

    fn is_alive(&self) -> bool {
        CacheInvalidator::is_alive(self)
    }
}

impl fmt::Debug for CacheInvalidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheInvalidator").field("alive", &self.is_alive()).finish()
    }
}
