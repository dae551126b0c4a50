//! The cache's [`TokenManager`]: the inner store's, with invalidation.

use std::future::Future;
use std::time::{Duration, SystemTime};

use super::store::CachedTokenStore;
use crate::clock::Clock;
use crate::grant::MintRules;
use crate::manage::error::ManageError;
use crate::manage::info::TokenInfo;
use crate::manage::issued::IssuedToken;
use crate::manage::manager::TokenManager;
use crate::manage::new_token::NewToken;
use crate::manage::query::{Page, TokenQuery};
use crate::store::revocation::Revocation;
use crate::token::id::TokenId;

/// Invalidates through the cache: every operation that can end a token's validity (revoke,
/// rotate, delete) drops its cached answer before returning, whatever the inner store
/// answered (a failed call may still have committed).
impl<S: TokenManager> TokenManager for CachedTokenStore<S> {
    fn issue(&self, new: NewToken) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send {
        self.inner.store.issue(new)
    }

    fn list(&self, subject: &str) -> impl Future<Output = Result<Vec<TokenInfo>, ManageError>> + Send {
        self.inner.store.list(subject)
    }

    fn get(&self, id: &TokenId) -> impl Future<Output = Result<Option<TokenInfo>, ManageError>> + Send {
        self.inner.store.get(id)
    }

    async fn revoke(&self, id: &TokenId) -> Result<bool, ManageError> {
        let result = self.inner.store.revoke(id).await;
        self.inner.core.forget_id(id);
        result
    }

    fn rules(&self) -> &MintRules {
        self.inner.store.rules()
    }

    fn clock(&self) -> Clock {
        self.inner.store.clock()
    }

    async fn rotate_until(
        &self,
        id: &TokenId,
        grace: Duration,
        not_after: Option<SystemTime>,
    ) -> Result<IssuedToken, ManageError> {
        let result = self.inner.store.rotate_until(id, grace, not_after).await;
        // With grace the old token's expiry changed; without, it is revoked.
        self.inner.core.forget_id(id);
        result
    }

    async fn delete(&self, id: &TokenId) -> Result<bool, ManageError> {
        let result = self.inner.store.delete(id).await;
        self.inner.core.forget_id(id);
        result
    }

    fn purge_expired(&self) -> impl Future<Output = Result<usize, ManageError>> + Send {
        // Expired entries are never served as valid (the layer checks expiry) and leave the
        // cache at their expiry.
        self.inner.store.purge_expired()
    }

    fn record_usage(
        &self,
        id: &TokenId,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), ManageError>> + Send {
        self.inner.store.record_usage(id, at)
    }

    fn list_page(
        &self,
        query: &TokenQuery,
    ) -> impl Future<Output = Result<Page<TokenInfo>, ManageError>> + Send {
        self.inner.store.list_page(query)
    }

    fn revocations(&self) -> impl Future<Output = Result<Vec<Revocation>, ManageError>> + Send {
        self.inner.store.revocations()
    }
}
