//! The memory store's [`TokenManager`] implementation: every operation answers at once.

use std::future::{Future, ready};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::record::REVOKED;
use super::store::MemoryTokenStore;
use super::table::oldest_first;
use crate::clock::{Clock, unix_millis};
use crate::grant::MintRules;
use crate::manage::error::ManageError;
use crate::manage::event::LifecycleEvent;
use crate::manage::info::TokenInfo;
use crate::manage::issued::IssuedToken;
use crate::manage::manager::TokenManager;
use crate::manage::marker::OnceMarkers;
use crate::manage::new_token::NewToken;
use crate::manage::query::{Page, TokenQuery};
use crate::store::error::StoreError;
use crate::store::revocation::Revocation;
use crate::token::id::TokenId;

/// The memory store manages its tokens with the same `async` operations as every other
/// store; the futures are ready on their first poll.
impl TokenManager for MemoryTokenStore {
    fn rules(&self) -> &MintRules {
        &self.shared.rules
    }

    fn clock(&self) -> Clock {
        self.shared.clock.clone()
    }

    fn issue(&self, new: NewToken) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send {
        let shared = &*self.shared;
        let new = new.issued_at(shared.clock.now());
        if let Err(e) = new.validate() {
            return ready(Err(e));
        }
        let issued = loop {
            let secret = shared.format.generate();
            let principal = new.principal(TokenId::random());
            // A collision of 256 random bits (or 96 for the id) does not happen; if it ever
            // did, drawing again is the right answer.
            if let Ok(info) = shared.insert(secret.hash(), principal, Some(shared.hint_of(&secret))) {
                shared.events.emit(&LifecycleEvent::Issued(info.clone()));
                break IssuedToken::new(secret, info);
            }
        };
        ready(Ok(issued))
    }

    fn list(&self, subject: &str) -> impl Future<Output = Result<Vec<TokenInfo>, ManageError>> + Send {
        let tokens = self.shared.tokens.pin();
        let live = tokens.iter().filter(|r| r.is_live() && r.principal.subject() == subject);
        ready(Ok(oldest_first(&self.shared, live.map(|r| &**r))))
    }

    fn list_page(
        &self,
        query: &TokenQuery,
    ) -> impl Future<Output = Result<Page<TokenInfo>, ManageError>> + Send {
        let tokens = self.shared.tokens.pin();
        let live = tokens.iter().filter(|r| r.is_live()).map(|r| self.shared.info(r));
        ready(Ok(query.select(live)))
    }

    fn get(&self, id: &TokenId) -> impl Future<Output = Result<Option<TokenInfo>, ManageError>> + Send {
        let found = self.shared.live(id).map(|r| self.shared.info(&r));
        ready(Ok(found))
    }

    /// Once this returns, every lookup that starts afterwards answers
    /// [`TokenState::Revoked`](crate::TokenState::Revoked).
    fn revoke(&self, id: &TokenId) -> impl Future<Output = Result<bool, ManageError>> + Send {
        let revoked = self.shared.end(id, true);
        ready(Ok(revoked.map(|info| self.shared.events.emit(&LifecycleEvent::Revoked(info))).is_some()))
    }

    /// With `grace == Duration::ZERO`, the old token is revoked in the same step that makes
    /// the new one live: there is no instant with two working tokens or with neither.
    fn rotate_until(
        &self,
        id: &TokenId,
        grace: Duration,
        not_after: Option<SystemTime>,
    ) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send {
        ready(self.shared.rotate(id, grace, not_after))
    }

    fn delete(&self, id: &TokenId) -> impl Future<Output = Result<bool, ManageError>> + Send {
        let deleted = self.shared.end(id, false);
        ready(Ok(deleted.map(|info| self.shared.events.emit(&LifecycleEvent::Deleted(info))).is_some()))
    }

    /// Revocation records of expired tokens go too: such a token would be refused anyway.
    fn purge_expired(&self) -> impl Future<Output = Result<usize, ManageError>> + Send {
        ready(Ok(self.shared.purge_expired(self.shared.clock.now())))
    }

    /// Revoked, deleted and rotated tokens with an expiry, until it: the memory store keeps
    /// them for the verifiers over it (see [`TokenStore::subscribe_revocations`](crate::TokenStore::subscribe_revocations)).
    fn revocations(&self) -> impl Future<Output = Result<Vec<Revocation>, ManageError>> + Send {
        ready(Ok(self.shared.push.in_effect(self.shared.clock.now())))
    }

    fn record_usage(
        &self,
        id: &TokenId,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), ManageError>> + Send {
        let shared = &*self.shared;
        if let Some(record) = shared.live(id) {
            record.last_used_ms.fetch_max(unix_millis(at).min(REVOKED - 1), Ordering::Relaxed);
        }
        ready(Ok(()))
    }
}

/// Markers live as long as the store: a process restart starts a new memory store, with new
/// tokens, so "once per store" is all that can be kept.
impl OnceMarkers for MemoryTokenStore {
    fn set_once(&self, name: &str, _at: SystemTime) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let mut markers = self.shared.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ready(Ok(markers.insert(name.into())))
    }
}
