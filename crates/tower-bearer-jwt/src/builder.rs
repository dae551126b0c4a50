//! [`SignedTokensBuilder`]: the settings of [`SignedTokens`], fixed once built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_bearer::TokenManager;

use crate::access::{AccessResolver, EffectiveAccess};
use crate::deny::{DenyList, DenyListSubscriber};
use crate::effective::Access;
use crate::key_set::KeySet;
use crate::memo::ClaimsMemo;
use crate::store::{Inner, SignedTokens};

/// Configures [`SignedTokens`]; see [`SignedTokens::builder`]. The settings are fixed once
/// built, and every clone of the built value shares its deny list (and its
/// [`EffectiveAccess`], if any).
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
/// use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};
///
/// let keys = KeySet::new(SigningKey::hs256("k1", &[7; 32]).unwrap()).unwrap();
/// let tokens = SignedTokens::builder(MemoryTokenStore::new(), keys, "https://auth.example.com", "https://api.example.com")
///     .leeway(Duration::from_secs(5))
///     .default_lifetime(Duration::from_secs(15 * 60))
///     .build();
/// let layer = BearerAuthLayer::new(tokens.clone());
/// ```
#[must_use]
pub struct SignedTokensBuilder<M> {
    store: M,
    keys: KeySet,
    issuer: String,
    audience: String,
    leeway: Duration,
    default_lifetime: Duration,
    access: Option<Box<dyn Access>>,
    memo_capacity: usize,
}

impl<M> fmt::Debug for SignedTokensBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedTokensBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys)
            .field("leeway", &self.leeway)
            .field("default_lifetime", &self.default_lifetime)
            .field("effective_access", &self.access.is_some())
            .field("claims_memo", &self.memo_capacity)
            .finish_non_exhaustive()
    }
}

impl<M: TokenManager> SignedTokens<M> {
    /// Signed tokens of `issuer` for `audience` (the resource tokens are for unless a token
    /// names its own), signed with `keys`, recorded in `store`, with the default settings:
    /// [`builder`](Self::builder)`(store, keys, issuer, audience).build()`.
    pub fn new(store: M, keys: KeySet, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::builder(store, keys, issuer, audience).build()
    }

    /// Configures signed tokens of `issuer` for `audience` (the resource tokens are for
    /// unless a token names its own), signed with `keys`, recorded in `store`: leeway,
    /// default lifetime, effective access. See [`SignedTokensBuilder`].
    pub fn builder(
        store: M,
        keys: KeySet,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> SignedTokensBuilder<M> {
        SignedTokensBuilder::new(store, keys, issuer.into(), audience.into())
    }
}

impl<M: TokenManager> SignedTokensBuilder<M> {
    /// The default settings for `store`'s tokens signed with `keys`.
    pub(crate) fn new(store: M, keys: KeySet, issuer: String, audience: String) -> Self {
        SignedTokensBuilder {
            store,
            keys,
            issuer,
            audience,
            leeway: Duration::from_secs(30),
            default_lifetime: Duration::from_secs(3600),
            access: None,
            memo_capacity: ClaimsMemo::DEFAULT_CAPACITY,
        }
    }

    /// The clock skew allowed on `exp` and `nbf` (default 30 seconds, at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// The lifetime of tokens issued without an expiry (default an hour).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// How many tokens' meanings are remembered, so that a token presented again is not
    /// verified, decoded and read again (default [`ClaimsMemo::DEFAULT_CAPACITY`], about 2 MB;
    /// 0 turns the memo off; see [`ClaimsMemo`]). Expiry, `nbf` and the deny list are checked
    /// on every request either way. Raise it when more tokens are in use at once: a token the
    /// memo does not hold costs the digest of its signature on top of its full check.
    pub fn claims_memo(mut self, capacity: usize) -> Self {
        self.memo_capacity = capacity;
        self
    }

    /// Effective access that follows the user: each valid signed token's scopes are
    /// intersected with what `access` says its subject holds now (in its organization); a
    /// user with no access left is refused (401, revoked). Answers are cached for the TTL of
    /// `access`, so a change reaches requests within it, or at once with
    /// [`EffectiveAccess::invalidate`] (keep a clone to call it). Opaque tokens are not
    /// affected.
    pub fn effective_access<R: AccessResolver>(mut self, access: EffectiveAccess<R>) -> Self {
        self.access = Some(Box::new(access));
        self
    }

    /// The signed tokens, their deny list subscribed to the store's revocations
    /// ([`TokenStore::subscribe_revocations`](tower_bearer::TokenStore::subscribe_revocations)).
    /// Over a SQL store, build it within a tokio runtime, so that the store can start its
    /// push; without one, every signed token is checked against its record.
    #[must_use]
    pub fn build(self) -> SignedTokens<M> {
        // Revocations are kept past a token's expiry for as long as it still verifies.
        let deny = Arc::new(DenyList::new(self.leeway.as_secs(), self.store.clock()));
        // The list is trusted once the store's push replayed the revocations in effect and
        // connected; a store that pushes nothing leaves it untrusted (records are read).
        self.store.subscribe_revocations(Box::new(DenyListSubscriber::new(&deny)));
        let inner = Inner {
            store: self.store,
            keys: self.keys,
            issuer: self.issuer,
            audience: self.audience,
            leeway: self.leeway,
            default_lifetime: self.default_lifetime,
            deny,
            memo: ClaimsMemo::new(self.memo_capacity),
            access: self.access,
        };
        SignedTokens { inner: Arc::new(inner) }
    }
}

/// The largest leeway on `exp` and `nbf` accepted (a larger one is cut to it).
const MAX_LEEWAY: Duration = Duration::from_secs(300);
