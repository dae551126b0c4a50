//! [`MemoryTokenStore`]: tokens kept as SHA-256 digests in a lock-free concurrent map.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::header::{DEFAULT_MAX_TOKEN_LEN, validate_b64token};
use crate::principal::{Principal, TokenId};
use crate::store::{Lookup, NoFuture, TokenState, TokenStore};
use crate::token::{PresentedToken, TokenHash};

/// An in-memory token store.
///
/// Tokens are kept only as SHA-256 digests ([`TokenHash`]); the plaintext is never stored.
/// A lookup hashes the presented token (the layer already did), probes the map by digest and
/// confirms the hit with a constant-time comparison of the full digest.
///
/// Reads are lock-free ([`papaya`]): requests never wait behind each other or behind a writer.
/// Writers take turns (a mutex that lookups never touch). Writes are linearizable: once
/// [`revoke`](Self::revoke) returns, every lookup that starts afterwards sees the token as
/// revoked.
///
/// Cloning is cheap and clones share the same tokens, so one handle can go into the layer and
/// another into an admin endpoint.
///
/// ```
/// use tower_bearer::{MemoryTokenStore, Principal, Scopes};
///
/// let store = MemoryTokenStore::new();
/// let id = store
///     .insert("static-key-for-alice", Principal::builder("alice").scopes(Scopes::parse("read")).build())
///     .unwrap();
/// assert_eq!(store.len(), 1);
/// assert!(store.revoke(&id));
/// assert!(store.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct MemoryTokenStore {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    active: papaya::HashMap<TokenHash, Entry, DigestHasher>,
    /// Revoked digests, so that audit events can tell "revoked" from "unknown". Consulted only
    /// after a miss in `active`, so valid tokens never pay for it.
    revoked: papaya::HashMap<TokenHash, Principal, DigestHasher>,
    by_id: papaya::HashMap<TokenId, TokenHash>,
    /// Serializes writers (`insert_hash`, `revoke`) so that the maps change together: a revoke
    /// never runs between an insert's steps. Lookups never take it.
    writer: Mutex<()>,
}

struct Entry {
    id: TokenId,
    principal: Principal,
    created_at: SystemTime,
}

/// Metadata about a stored token: never its secret or digest.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The token's public id.
    pub id: TokenId,
    /// Who the token authenticates, with its scopes and expiry.
    pub principal: Principal,
    /// When the token was put into the store.
    pub created_at: SystemTime,
}

/// Why a token could not be inserted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The secret is empty, too long, or not an RFC 6750 `b64token`: no request could ever
    /// present it.
    #[error("the token is not a valid RFC 6750 bearer token")]
    InvalidToken,
    /// A token with the same secret is already stored.
    #[error("the token is already stored")]
    DuplicateToken,
    /// The principal's token id is already used by another token.
    #[error("token id {0} is already in use")]
    DuplicateTokenId(TokenId),
}

impl MemoryTokenStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
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
        if secret.len() > DEFAULT_MAX_TOKEN_LEN || validate_b64token(secret.as_bytes()).is_err() {
            return Err(InsertError::InvalidToken);
        }
        self.insert_hash(TokenHash::of(secret), principal)
    }

    /// Stores a token by its digest, for applications that keep only digests in their
    /// configuration. See [`insert`](Self::insert).
    ///
    /// # Errors
    ///
    /// [`InsertError::DuplicateToken`] or [`InsertError::DuplicateTokenId`].
    pub fn insert_hash(&self, hash: TokenHash, principal: Principal) -> Result<TokenId, InsertError> {
        let (id, principal) = match principal.token_id() {
            Some(id) => (id.clone(), principal),
            None => {
                let id = TokenId::random();
                (id.clone(), principal.to_builder().token_id(id).build())
            }
        };
        let shared = &*self.shared;
        let _writer = shared.write_lock();
        if shared.by_id.pin().try_insert(id.clone(), hash).is_err() {
            return Err(InsertError::DuplicateTokenId(id));
        }
        let entry = Entry { id: id.clone(), principal, created_at: SystemTime::now() };
        if shared.active.pin().try_insert(hash, entry).is_err() {
            shared.by_id.pin().remove(&id);
            return Err(InsertError::DuplicateToken);
        }
        // Inserting a secret again un-revokes it: the application asked for it explicitly.
        shared.revoked.pin().remove(&hash);
        Ok(id)
    }

    /// Revokes the token with this id. Returns whether it was stored.
    ///
    /// When this returns, every lookup that starts afterwards answers
    /// [`TokenState::Revoked`].
    pub fn revoke(&self, id: &TokenId) -> bool {
        let shared = &*self.shared;
        let _writer = shared.write_lock();
        let Some(hash) = shared.by_id.pin().remove(id).copied() else {
            return false;
        };
        let active = shared.active.pin();
        if let Some(entry) = active.get(&hash) {
            // Marked revoked before it leaves `active`, so a concurrent lookup sees one or the
            // other, never neither.
            shared.revoked.pin().insert(hash, entry.principal.clone());
        }
        active.remove(&hash).is_some()
    }

    /// Metadata of every stored token (never secrets or digests), in no particular order.
    #[must_use]
    pub fn list(&self) -> Vec<TokenInfo> {
        self.shared.active.pin().values().map(Entry::info).collect()
    }

    /// Metadata of one token.
    #[must_use]
    pub fn get(&self, id: &TokenId) -> Option<TokenInfo> {
        let hash = *self.shared.by_id.pin().get(id)?;
        self.shared.active.pin().get(&hash).map(Entry::info)
    }

    /// Number of live (not revoked) tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.active.len()
    }

    /// Whether no live token is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shared {
    fn write_lock(&self) -> MutexGuard<'_, ()> {
        // The lock guards no data, so a writer that panicked left nothing half-done to see.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entry {
    fn info(&self) -> TokenInfo {
        TokenInfo { id: self.id.clone(), principal: self.principal.clone(), created_at: self.created_at }
    }
}

impl TokenStore for MemoryTokenStore {
    type Future = NoFuture;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<NoFuture> {
        let hash = token.hash();
        let state = match self.shared.active.pin().get(hash) {
            Some(entry) => TokenState::Active(entry.principal.clone()),
            None => match self.shared.revoked.pin().get(hash) {
                Some(principal) => TokenState::Revoked(principal.clone()),
                None => TokenState::Unknown,
            },
        };
        Lookup::Now(Ok(state))
    }
}

impl std::fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTokenStore").field("tokens", &self.len()).finish_non_exhaustive()
    }
}

/// Hashes a [`TokenHash`] by passing its first eight bytes through: a SHA-256 digest needs no
/// further mixing (see [`TokenHash`]'s `Hash` impl for why this is safe).
#[derive(Clone, Copy, Default)]
struct DigestHasher;

impl BuildHasher for DigestHasher {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if a key other than `TokenHash` is hashed; fold the bytes in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
