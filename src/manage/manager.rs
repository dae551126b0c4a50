//! [`TokenManager`]: the one trait for managing tokens, whatever the store.

use std::future::Future;
use std::time::{Duration, SystemTime};

use super::error::ManageError;
use super::info::TokenInfo;
use super::issued::IssuedToken;
use super::new_token::NewToken;
use super::query::{TokenPage, TokenQuery};
use super::revocation::Revocation;
use crate::clock::Clock;
use crate::principal::Principal;
use crate::store::lookup::TokenStore;
use crate::token::id::TokenId;

/// The admin scope of stores not configured otherwise: see [`TokenManager::admin_scope`].
const DEFAULT_ADMIN_SCOPE: &str = "tokens:admin";

/// Managing tokens: every store that keeps tokens (not just checks them) implements this
/// trait, and only this: no store has inherent methods of the same names. An application
/// written against it changes store by changing the one line that builds the store.
///
/// All methods are `async` so that database-backed stores fit; the
/// [`MemoryTokenStore`](crate::MemoryTokenStore) answers at once, so its futures are ready on
/// their first poll.
///
/// ```
/// use tower_bearer::{MemoryTokenStore, NewToken, TokenManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_bearer::ManageError> {
/// let store = MemoryTokenStore::new();
/// let issued = store.issue(NewToken::for_subject("alice").name("laptop").scopes(["read"])).await?;
/// println!("shown once: {}", issued.secret().expose_secret());
/// assert_eq!(store.list("alice").await?.len(), 1);
/// assert!(store.revoke(issued.id()).await?);
/// assert!(store.list("alice").await?.is_empty());
/// # Ok(())
/// # }
/// ```
pub trait TokenManager: TokenStore {
    /// The scope that lets a token manage tokens of other subjects of its own organization
    /// (never of another organization): `tokens:admin` unless the store was configured
    /// otherwise. It must be held by name: the wildcard scope `*` does not grant it, so a
    /// full-access key of one subject stays within that subject.
    fn admin_scope(&self) -> &str {
        DEFAULT_ADMIN_SCOPE
    }

    /// The clock the store reads the time from (the system clock unless configured).
    fn clock(&self) -> Clock {
        Clock::system()
    }

    /// Checks that a managing principal has not expired by the store's clock (a principal
    /// the layer admitted has not; one kept by the application since may have).
    ///
    /// # Errors
    ///
    /// [`ManageError::ManagerExpired`].
    fn check_current(&self, manager: &Principal) -> Result<(), ManageError> {
        if manager.is_expired_at(self.clock().now()) {
            return Err(ManageError::ManagerExpired);
        }
        Ok(())
    }

    /// Mints a token of the store's format. The secret is in the result and nowhere else.
    ///
    /// # Errors
    ///
    /// [`ManageError::OutOfRange`] (see [`NewToken::validate`]), or the store's failure.
    fn issue(&self, new: NewToken) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send;

    /// Mints a token on behalf of `issuer` (a token creating another through the API): as
    /// [`issue`](Self::issue), after [`NewToken::check_issuer`] (same organization, same
    /// subject unless the issuer holds the [admin scope](Self::admin_scope), scopes held,
    /// not outliving the issuer, issuer not replaced by a rotation).
    fn issue_as(
        &self,
        issuer: &Principal,
        new: NewToken,
    ) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send {
        let checked = self.check_current(issuer).and_then(|()| new.check_issuer(issuer, self.admin_scope()));
        async move {
            checked?;
            self.issue(new).await
        }
    }

    /// Revokes a token on behalf of `manager` (a token revoking another through the API):
    /// as [`revoke`](Self::revoke), after [`TokenInfo::check_manager`]. Returns `false` for
    /// a token that is not live.
    fn revoke_as(
        &self,
        manager: &Principal,
        id: &TokenId,
    ) -> impl Future<Output = Result<bool, ManageError>> + Send {
        async move {
            self.check_current(manager)?;
            match self.get(id).await? {
                Some(target) => {
                    target.check_manager(manager, self.admin_scope())?;
                    self.revoke(id).await
                }
                None => Ok(false),
            }
        }
    }

    /// Rotates a token on behalf of `manager`: as [`rotate`](Self::rotate), after
    /// [`TokenInfo::check_rotator`]; a token rotating itself gets a successor that expires no
    /// later than it would have.
    fn rotate_as(
        &self,
        manager: &Principal,
        id: &TokenId,
        grace: Duration,
    ) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send {
        async move {
            self.check_current(manager)?;
            let target = self.get(id).await?.ok_or_else(|| ManageError::NotFound(id.clone()))?;
            let not_after = target.check_rotator(manager, self.admin_scope(), self.clock().now())?;
            self.rotate_until(id, grace, not_after).await
        }
    }

    /// Metadata of every token of `subject` that was neither revoked nor deleted, oldest first.
    /// Expired tokens are listed until they are purged ([`purge_expired`](Self::purge_expired)),
    /// so that an owner sees them expire; [`TokenInfo::is_expired_at`] tells them apart.
    fn list(&self, subject: &str) -> impl Future<Output = Result<Vec<TokenInfo>, ManageError>> + Send;

    /// Metadata of one token that was neither revoked nor deleted (expired or not).
    fn get(&self, id: &TokenId) -> impl Future<Output = Result<Option<TokenInfo>, ManageError>> + Send;

    /// A page of the live tokens `query` selects (by subject, organization, or every token of
    /// the store), oldest first; [`TokenPage::next`] continues the listing: what an
    /// administration API lists with. Expired tokens are listed until they are purged, as by
    /// [`list`](Self::list).
    fn list_page(&self, query: &TokenQuery) -> impl Future<Output = Result<TokenPage, ManageError>> + Send;

    /// Revokes a token, effective for every request that starts after this returns. Returns
    /// whether a live token had this id.
    fn revoke(&self, id: &TokenId) -> impl Future<Output = Result<bool, ManageError>> + Send;

    /// Replaces a token with a new one with the same subject, organization, name, kind,
    /// scopes and lifetime length. With `grace == Duration::ZERO` the old token stops working
    /// at the instant the new one exists (its secret is returned only then, so no client
    /// ever holds two working tokens); otherwise the old one keeps working for `grace`, as
    /// a token [replaced by](Principal::replaced_by) the new one: it authenticates but manages
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`ManageError::NotFound`]; [`ManageError::OutOfRange`] for a grace period past what a
    /// `SystemTime` can hold (nothing is changed then); or the store's failure.
    fn rotate(
        &self,
        id: &TokenId,
        grace: Duration,
    ) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send {
        self.rotate_until(id, grace, None)
    }

    /// [`rotate`](Self::rotate), the new token expiring no later than `not_after` (if given).
    ///
    /// # Errors
    ///
    /// As [`rotate`](Self::rotate).
    fn rotate_until(
        &self,
        id: &TokenId,
        grace: Duration,
        not_after: Option<SystemTime>,
    ) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send;

    /// Removes a token without replacement (it then looks unknown, not revoked; a store that
    /// keeps [`revocations`](Self::revocations) keeps one for it until its expiry). Returns
    /// whether a token had this id.
    fn delete(&self, id: &TokenId) -> impl Future<Output = Result<bool, ManageError>> + Send;

    /// Removes tokens whose expiry has passed. Returns how many.
    fn purge_expired(&self) -> impl Future<Output = Result<usize, ManageError>> + Send;

    /// Records that a token was used at `at` (stores that track usage themselves coalesce
    /// the writes).
    fn record_usage(
        &self,
        id: &TokenId,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), ManageError>> + Send;

    /// The revocations in effect: every token with an expiry that was revoked, deleted or
    /// rotated and has not expired yet. What a verifier of self-contained tokens loads as its
    /// deny list when it starts, or after losing the push of new ones.
    ///
    /// Stores shared between instances (SQL) keep them; the default, for stores that live
    /// and die with one process, has none to share.
    fn revocations(&self) -> impl Future<Output = Result<Vec<Revocation>, ManageError>> + Send {
        std::future::ready(Ok(Vec::new()))
    }
}
