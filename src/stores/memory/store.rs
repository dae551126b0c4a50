//! [`MemoryTokenStore`]: the handle, static keys, and the lookup.

use std::fmt;
use std::sync::Arc;

use super::error::InsertError;
use super::hint::Hint;
use super::table::Shared;
use crate::header::validate_b64token;
use crate::principal::Principal;
use crate::store::answer::Answer;
use crate::store::error::StoreError;
use crate::store::ledger::{CreditLedger, Spend};
use crate::store::lookup::TokenStore;
use crate::store::state::TokenState;
use crate::store::subscriber::RevocationSubscriber;
use crate::token::format::TokenFormat;
use crate::token::hash::TokenHash;
use crate::token::id::TokenId;
use crate::token::presented::PresentedToken;

/// An in-memory token store.
///
/// Tokens are kept only as SHA-256 digests ([`TokenHash`]); the plaintext is never stored.
/// A lookup probes the map by the digest the layer computed and confirms the hit with a
/// constant-time comparison of the full digest.
///
/// Reads are lock-free ([`papaya`]): requests never wait behind each other or behind a writer.
/// Writers take turns (a mutex that lookups never touch). Writes are linearizable: once
/// a revocation returns, every lookup that starts afterwards sees the token as revoked.
///
/// Static keys are loaded synchronously, at start-up: [`insert`](Self::insert),
/// [`insert_hash`](Self::insert_hash), [`insert_from_env`](Self::insert_from_env). Everything else
/// (issue, list, rotate, revoke, ...) goes through the [`TokenManager`](crate::TokenManager)
/// trait, exactly as on the SQL store, so code moves between stores unchanged.
///
/// Cloning is cheap and clones share the same tokens, so one handle can go into the layer and
/// another into an admin endpoint. Listing by subject scans every token: fine for the sizes
/// a memory store holds, but an admin operation, not a per-request one.
///
/// ```
/// use tower_bearer::{MemoryTokenStore, Principal, Scopes};
///
/// let store = MemoryTokenStore::new();
/// let id = store.insert("alice-static-key", Principal::builder("alice").scopes(Scopes::parse("read")).build())?;
/// assert_eq!(store.len(), 1);
/// # Ok::<_, tower_bearer::stores::InsertError>(())
/// ```
#[derive(Clone)]
pub struct MemoryTokenStore {
    pub(super) shared: Arc<Shared>,
}

impl MemoryTokenStore {
    pub(super) fn from_shared(shared: Arc<Shared>) -> Self {
        MemoryTokenStore { shared }
    }

    /// The format of the tokens this store issues.
    #[must_use]
    pub fn format(&self) -> &TokenFormat {
        &self.shared.format
    }

    /// Stores a known token, such as a static per-user key loaded from configuration.
    ///
    /// Only its digest is kept. If `principal` has no token id, a random one is assigned.
    /// Returns the token's id.
    ///
    /// # Errors
    ///
    /// [`InsertError`] if the secret is not a usable bearer token, is already stored, or the
    /// token id is taken.
    pub fn insert(&self, secret: &str, principal: Principal) -> Result<TokenId, InsertError> {
        if secret.len() > PresentedToken::DEFAULT_MAX_LEN || validate_b64token(secret.as_bytes()).is_err() {
            return Err(InsertError::InvalidToken);
        }
        // The prefix is shown only for a key of the store's own format: in a key such as
        // `alice_secret_key_...` everything up to the last `_` is secret too.
        let prefix_len =
            if self.shared.format.check(secret).is_ok() { self.shared.format.prefix().len() } else { 0 };
        let hint = Hint::of(secret, prefix_len);
        self.shared.insert(TokenHash::of(secret), principal, Some(hint)).map(|info| info.id)
    }

    /// Stores a token by its digest, for applications that keep only digests in their
    /// configuration. See [`insert`](Self::insert).
    ///
    /// # Errors
    ///
    /// [`InsertError::DuplicateToken`] or [`InsertError::DuplicateTokenId`].
    pub fn insert_hash(&self, hash: TokenHash, principal: Principal) -> Result<TokenId, InsertError> {
        self.shared.insert(hash, principal, None).map(|info| info.id)
    }

    /// Number of stored tokens that were neither revoked nor deleted (expired ones included
    /// until purged).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.by_id.len()
    }

    /// Whether [`len`](Self::len) is zero.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TokenStore for MemoryTokenStore {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        let shared = &*self.shared;
        let state = match shared.tokens.pin().get(token.hash()) {
            Some(entry) if entry.is_live() => {
                if entry.principal.expires_at().is_some_and(|at| shared.clock.has_passed(at)) {
                    // Refused: not a use.
                    TokenState::Expired(entry.principal.clone())
                } else {
                    entry.touch(shared.usage_interval_ms, &shared.clock);
                    TokenState::Active(entry.principal.clone())
                }
            }
            Some(record) => TokenState::Revoked(record.principal.clone()),
            None => TokenState::Unknown,
        };
        Answer::Now(Ok(state))
    }

    /// Every revocation is made in this process, through this store: each subscriber is told
    /// of it before the call that made it returns.
    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        self.shared.push.subscribe(subscriber, self.shared.clock.now());
        true
    }
}

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTokenStore")
            .field("tokens", &self.len())
            .field("format", &self.shared.format)
            .finish_non_exhaustive()
    }
}

/// The store keeps the credits of the tokens it issued with [`Credits`](crate::Credits) (and
/// of inserted principals that carry some): exact, answered at once, and shown in
/// [`TokenInfo::credits`](crate::TokenInfo::credits). A rotation moves the balance to the new
/// token. It keeps those of another store's principals too (a
/// [`CallbackTokenStore`](crate::CallbackTokenStore)'s that carry [`Credits`](crate::Credits)),
/// by token id, from the first spend:
///
/// ```
/// use tower_bearer::limit::{CreditLedger, Spend};
/// use tower_bearer::store::Answer;
/// use tower_bearer::{Credits, MemoryTokenStore, Principal};
///
/// let ledger = MemoryTokenStore::new();
/// let p = Principal::builder("u").token_id("tid_1").credits(Credits::new(2)).build();
/// for expected in [Spend::Granted, Spend::Granted, Spend::Exhausted { retry_after: None }] {
///     assert!(matches!(ledger.spend(&p, 1), Answer::Now(Ok(s)) if s == expected));
/// }
/// ```
impl CreditLedger for MemoryTokenStore {
    /// Never used: every spend is answered at once.
    fn spend(&self, principal: &Principal, cost: u64) -> Answer<Result<Spend, StoreError>> {
        self.shared.credits.spend(principal, cost)
    }
}
