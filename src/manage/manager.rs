//! [`TokenManager`]: the one trait for managing tokens, whatever the store.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::error::ManageError;
use super::info::TokenInfo;
use super::issued::IssuedToken;
use super::new_token::NewToken;
use super::query::{Page, TokenQuery};
use crate::clock::Clock;
use crate::grant::{Action, MintRules, Refusal};
use crate::principal::Principal;
use crate::store::lookup::TokenStore;
use crate::store::revocation::Revocation;
use crate::token::id::TokenId;

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
    /// The rules for one token acting on others: the admin scope (`tokens:admin` unless the
    /// store was configured otherwise; held by name: the wildcard scope `*` does not grant it,
    /// so a full-access key of one subject stays within that subject), the default limits
    /// minting compares with, the reserved kinds. See [`MintRules`] for the whole model.
    fn rules(&self) -> &MintRules {
        static DEFAULT: OnceLock<MintRules> = OnceLock::new();
        DEFAULT.get_or_init(MintRules::new)
    }

    /// The clock the store reads the time from (the system clock unless configured).
    fn clock(&self) -> Clock {
        Clock::system()
    }

    /// Mints a token of the store's format. The secret is in the result and nowhere else. A
    /// lifetime ([`NewToken::expires_in`]) counts from the store's [`clock`](Self::clock): an
    /// implementation takes `new.issued_at(self.clock().now())` first.
    ///
    /// # Errors
    ///
    /// [`ManageError::OutOfRange`] (see [`NewToken::validate`]), or the store's failure.
    fn issue(&self, new: NewToken) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send;

    /// Mints a token on behalf of `issuer` (a token creating another through the API): as
    /// [`issue`](Self::issue), once the rule of [`MintRules`] allowed it: the new grant is within
    /// the issuer's in every dimension.
    ///
    /// # Errors
    ///
    /// The refusal, as a [`ManageError`]; or as [`issue`](Self::issue).
    fn issue_as(
        &self,
        issuer: &Principal,
        new: NewToken,
    ) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send {
        let now = self.clock().now();
        let new = new.issued_at(now);
        let checked = self.rules().decide(issuer.actor(), Action::Mint(new.grant()), now);
        async move {
            checked?;
            self.issue(new).await
        }
    }

    /// Metadata of one token on behalf of `manager`: `None` where the rule of [`MintRules`]
    /// does not let `manager` manage it (another tenant's token is not revealed).
    ///
    /// # Errors
    ///
    /// The refusal, as a [`ManageError`] (never [`NotFound`](ManageError::NotFound)); or the
    /// store's failure.
    fn get_as(
        &self,
        manager: &Principal,
        id: &TokenId,
    ) -> impl Future<Output = Result<Option<TokenInfo>, ManageError>> + Send {
        async move {
            let Some(target) = self.get(id).await? else { return Ok(None) };
            let action = Action::Read { id, target: target.principal.grant() };
            match self.rules().decide(manager.actor(), action, self.clock().now()) {
                Ok(()) => Ok(Some(target)),
                Err(Refusal::NotFound(_)) => Ok(None),
                Err(refused) => Err(refused.into()),
            }
        }
    }

    /// Revokes a token on behalf of `manager` (a token revoking another through the API):
    /// as [`revoke`](Self::revoke), once the rule of [`MintRules`] allowed it. Returns `false` for
    /// a token that is not live.
    fn revoke_as(
        &self,
        manager: &Principal,
        id: &TokenId,
    ) -> impl Future<Output = Result<bool, ManageError>> + Send {
        async move {
            match self.get(id).await? {
                Some(target) => {
                    let action = Action::Manage { id, target: target.principal.grant() };
                    self.rules().decide(manager.actor(), action, self.clock().now())?;
                    self.revoke(id).await
                }
                None => Ok(false),
            }
        }
    }

    /// Rotates a token on behalf of `manager`: as [`rotate`](Self::rotate), once
    /// the rule of [`MintRules`] allowed it (the successor's grant within the manager's); a token
    /// rotating itself gets a successor that expires no later than it would have.
    fn rotate_as(
        &self,
        manager: &Principal,
        id: &TokenId,
        grace: Duration,
    ) -> impl Future<Output = Result<IssuedToken, ManageError>> + Send {
        async move {
            let now = self.clock().now();
            let target = self.get(id).await?.ok_or_else(|| ManageError::NotFound(id.clone()))?;
            // Rotation renews a token only through another token (or the store's own
            // `rotate`): a key cannot keep itself alive forever.
            let itself = manager.token_id() == Some(id);
            let successor =
                target.rotated_grant(now, if itself { target.principal.expires_at() } else { None });
            let action = Action::Rotate { id, target: target.principal.grant(), successor: &successor };
            self.rules().decide(manager.actor(), action, now)?;
            self.rotate_until(id, grace, successor.expires_at()).await
        }
    }

    /// A page of the tokens `manager` may see (under [`MintRules`]: its tenant exactly,
    /// and itself unless it holds the admin scope) that `query` selects; `query`'s own tenant
    /// and, for a non-admin, subject are replaced.
    ///
    /// # Errors
    ///
    /// The refusal, as a [`ManageError`]; or the store's failure.
    fn list_page_as(
        &self,
        manager: &Principal,
        query: TokenQuery,
    ) -> impl Future<Output = Result<Page<TokenInfo>, ManageError>> + Send {
        async move {
            self.rules().decide(manager.actor(), Action::List, self.clock().now())?;
            let query = query.within(self.rules(), manager.grant());
            self.list_page(&query).await
        }
    }

    /// Metadata of every token of `subject` that was neither revoked nor deleted, oldest first.
    /// Expired tokens are listed until they are purged ([`purge_expired`](Self::purge_expired)),
    /// so that an owner sees them expire; [`TokenInfo::is_expired_at`] tells them apart.
    fn list(&self, subject: &str) -> impl Future<Output = Result<Vec<TokenInfo>, ManageError>> + Send;

    /// Metadata of one token that was neither revoked nor deleted (expired or not).
    fn get(&self, id: &TokenId) -> impl Future<Output = Result<Option<TokenInfo>, ManageError>> + Send;

    /// A page of the live tokens `query` selects (by subject, organization, or every token of
    /// the store), oldest first; [`Page::next`](crate::manage::Page::next) continues the listing: what an
    /// administration API lists with. Expired tokens are listed until they are purged, as by
    /// [`list`](Self::list).
    fn list_page(
        &self,
        query: &TokenQuery,
    ) -> impl Future<Output = Result<Page<TokenInfo>, ManageError>> + Send;

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
    /// rotated and has not expired yet: what a push of revocations replays to a verifier of
    /// self-contained tokens each time it connects
    /// ([`TokenStore::subscribe_revocations`](crate::TokenStore::subscribe_revocations)).
    ///
    /// The memory and SQL stores keep them; the default has none.
    fn revocations(&self) -> impl Future<Output = Result<Vec<Revocation>, ManageError>> + Send {
        std::future::ready(Ok(Vec::new()))
    }
}
