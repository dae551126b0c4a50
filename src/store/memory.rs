//! [`MemoryTokenStore`]: tokens kept as SHA-256 digests in a lock-free concurrent map, with
//! the whole lifecycle (issue, list, rotate, revoke, delete, expire, usage, audit events).

use std::fmt;
use std::future::{Future, ready};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock;
use crate::event::{LifecycleEvent, LifecycleSink};
use crate::header::{DEFAULT_MAX_TOKEN_LEN, validate_b64token};
use crate::lifecycle::{IssuedToken, LifecycleError, NewToken, TokenInfo, TokenLifecycle};
use crate::principal::{Principal, TokenId};
use crate::store::{Lookup, NoFuture, TokenState, TokenStore};
use crate::token::{PresentedToken, TokenFormat, TokenHash, display_hint};

/// The default type prefix of tokens a [`MemoryTokenStore`] issues.
pub const DEFAULT_PREFIX: &str = "tok_";

/// How often, at most, a token's `last_used_at` is written: once per token per interval.
pub const DEFAULT_USAGE_INTERVAL: Duration = Duration::from_secs(60);

/// An in-memory token store with the whole token lifecycle.
///
/// Tokens are kept only as SHA-256 digests ([`TokenHash`]); the plaintext is never stored.
/// A lookup probes the map by the digest the layer computed and confirms the hit with a
/// constant-time comparison of the full digest.
///
/// Reads are lock-free ([`papaya`]): requests never wait behind each other or behind a writer.
/// Writers take turns (a mutex that lookups never touch). Writes are linearizable: once
/// [`revoke`](Self::revoke) returns, every lookup that starts afterwards sees the token as
/// revoked.
///
/// The lifecycle operations exist twice with the same names: as synchronous methods here,
/// and as the `async` [`TokenLifecycle`] trait that database stores implement too (generic
/// code uses the trait and `.await`s).
///
/// Cloning is cheap and clones share the same tokens, so one handle can go into the layer and
/// another into an admin endpoint. Listing by subject scans every token: fine for the sizes
/// a memory store holds, but an admin operation, not a per-request one.
///
/// ```
/// use tower_bearer::{MemoryTokenStore, NewToken, TokenFormat};
///
/// let store = MemoryTokenStore::builder().format(TokenFormat::new("tok_live_")).build();
/// let issued = store.issue(NewToken::for_subject("alice").name("laptop").scopes(["read"]));
/// println!("shown once: {}", issued.secret().expose_secret());
/// assert_eq!(store.list("alice").len(), 1);
/// assert!(store.revoke(issued.id()));
/// assert!(store.list("alice").is_empty());
/// ```
#[derive(Clone, Default)]
pub struct MemoryTokenStore {
    shared: Arc<Shared>,
}

struct Shared {
    active: papaya::HashMap<TokenHash, Entry, DigestHasher>,
    /// Revoked digests, so that audit events can tell "revoked" from "unknown". Consulted only
    /// after a miss in `active`, so valid tokens never pay for it.
    revoked: papaya::HashMap<TokenHash, Principal, DigestHasher>,
    by_id: papaya::HashMap<TokenId, TokenHash>,
    /// Serializes writers so that the maps change together: a revoke never runs between an
    /// insert's steps. Lookups never take it.
    writer: Mutex<()>,
    format: TokenFormat,
    usage_interval_ms: u64,
    events: LifecycleSink,
}

impl Default for Shared {
    fn default() -> Self {
        MemoryTokenStoreBuilder::default().shared
    }
}

struct Entry {
    id: TokenId,
    principal: Principal,
    hint: Option<Box<str>>,
    created_at: SystemTime,
    /// Milliseconds since the Unix epoch; 0 for never. Written at most once per interval.
    last_used_ms: AtomicU64,
}

/// Why a known token could not be inserted.
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

/// Configures a [`MemoryTokenStore`]; see [`MemoryTokenStore::builder`].
#[must_use]
pub struct MemoryTokenStoreBuilder {
    shared: Shared,
}

impl Default for MemoryTokenStoreBuilder {
    fn default() -> Self {
        MemoryTokenStoreBuilder {
            shared: Shared {
                active: papaya::HashMap::with_hasher(DigestHasher),
                revoked: papaya::HashMap::with_hasher(DigestHasher),
                by_id: papaya::HashMap::new(),
                writer: Mutex::new(()),
                format: TokenFormat::new(DEFAULT_PREFIX),
                usage_interval_ms: millis(DEFAULT_USAGE_INTERVAL),
                events: LifecycleSink::default(),
            },
        }
    }
}

impl MemoryTokenStoreBuilder {
    /// The format of issued tokens (default prefix [`DEFAULT_PREFIX`]).
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.shared.format = format;
        self
    }

    /// How often, at most, a token's `last_used_at` is updated (default
    /// [`DEFAULT_USAGE_INTERVAL`]). A request within the interval of the last recorded use
    /// writes nothing.
    pub fn usage_interval(mut self, interval: Duration) -> Self {
        self.shared.usage_interval_ms = millis(interval);
        self
    }

    /// Calls `hook` with every [`LifecycleEvent`] (issued, rotated, revoked, deleted, expired
    /// tokens purged), for an audit trail.
    pub fn on_lifecycle_event(mut self, hook: impl Fn(&LifecycleEvent) + Send + Sync + 'static) -> Self {
        self.shared.events.set_hook(Arc::new(hook));
        self
    }

    /// The store.
    #[must_use]
    pub fn build(self) -> MemoryTokenStore {
        MemoryTokenStore { shared: Arc::new(self.shared) }
    }
}

impl fmt::Debug for MemoryTokenStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTokenStoreBuilder").field("format", &self.shared.format).finish_non_exhaustive()
    }
}

impl MemoryTokenStore {
    /// An empty store with default settings.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Configures a store: token format, usage interval, lifecycle event hook.
    pub fn builder() -> MemoryTokenStoreBuilder {
        MemoryTokenStoreBuilder::default()
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
        if secret.len() > DEFAULT_MAX_TOKEN_LEN || validate_b64token(secret.as_bytes()).is_err() {
            return Err(InsertError::InvalidToken);
        }
        let hint = display_hint(secret);
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

    /// Mints a token of the store's [format](TokenFormat). The secret is in the result and
    /// nowhere else; the store keeps its digest.
    pub fn issue(&self, new: NewToken) -> IssuedToken {
        let shared = &*self.shared;
        loop {
            let secret = shared.format.generate();
            let principal = new.principal(TokenId::random());
            // A collision of 256 random bits (or 96 for the id) does not happen; if it ever
            // did, drawing again is the right answer.
            if let Ok(info) = shared.insert(secret.hash(), principal, Some(secret.hint())) {
                shared.events.emit(&LifecycleEvent::Issued(info.clone()));
                return IssuedToken::new(secret, info);
            }
        }
    }

    /// Mints a token on behalf of `issuer`, which must hold every requested scope.
    ///
    /// # Errors
    ///
    /// See [`NewToken::check_issuer`].
    pub fn issue_as(&self, issuer: &Principal, new: NewToken) -> Result<IssuedToken, LifecycleError> {
        new.check_issuer(issuer)?;
        Ok(self.issue(new))
    }

    /// Metadata (never secrets or digests) of every live token of `subject`, oldest first.
    #[must_use]
    pub fn list(&self, subject: &str) -> Vec<TokenInfo> {
        oldest_first(self.shared.active.pin().values().filter(|e| e.principal.subject() == subject))
    }

    /// Metadata of every live token, oldest first.
    #[must_use]
    pub fn list_all(&self) -> Vec<TokenInfo> {
        oldest_first(self.shared.active.pin().values())
    }

    /// Metadata of one live token.
    #[must_use]
    pub fn get(&self, id: &TokenId) -> Option<TokenInfo> {
        let hash = *self.shared.by_id.pin().get(id)?;
        self.shared.active.pin().get(&hash).map(Entry::info)
    }

    /// Revokes a token on behalf of `manager`; see [`TokenInfo::check_manager`]. Returns
    /// `Ok(false)` for a token that is not live.
    ///
    /// # Errors
    ///
    /// See [`TokenInfo::check_manager`].
    pub fn revoke_as(&self, manager: &Principal, id: &TokenId) -> Result<bool, LifecycleError> {
        match self.get(id) {
            Some(target) => {
                target.check_manager(manager)?;
                Ok(self.revoke(id))
            }
            None => Ok(false),
        }
    }

    /// Rotates a token on behalf of `manager`; see [`TokenInfo::check_rotator`].
    ///
    /// # Errors
    ///
    /// See [`TokenInfo::check_rotator`] and [`rotate`](Self::rotate).
    pub fn rotate_as(
        &self,
        manager: &Principal,
        id: &TokenId,
        grace: Duration,
    ) -> Result<IssuedToken, LifecycleError> {
        let target = self.get(id).ok_or_else(|| LifecycleError::NotFound(id.clone()))?;
        target.check_rotator(manager, SystemTime::now())?;
        self.rotate(id, grace)
    }

    /// Revokes the token with this id. Returns whether it was live.
    ///
    /// When this returns, every lookup that starts afterwards answers
    /// [`TokenState::Revoked`].
    pub fn revoke(&self, id: &TokenId) -> bool {
        let shared = &*self.shared;
        let revoked = {
            let _writer = shared.write_lock();
            shared.remove(id, true)
        };
        revoked.map(|info| shared.events.emit(&LifecycleEvent::Revoked(info))).is_some()
    }

    /// Removes the token with this id without a trace: it then looks unknown, not revoked.
    /// Returns whether it was live.
    pub fn delete(&self, id: &TokenId) -> bool {
        let shared = &*self.shared;
        let deleted = {
            let _writer = shared.write_lock();
            shared.remove(id, false)
        };
        deleted.map(|info| shared.events.emit(&LifecycleEvent::Deleted(info))).is_some()
    }

    /// Replaces a token with a new one of the same subject, organization, name, kind,
    /// scopes and lifetime length (a token that had 90 days gets 90 days from now).
    ///
    /// With `grace == Duration::ZERO`, the old token is revoked in the same step that makes
    /// the new one live, and the new secret exists only in the return value: no client can
    /// ever hold two working tokens, and there is no instant with neither. Otherwise the old
    /// token keeps working until `grace` from now (or its own expiry, if sooner).
    ///
    /// # Errors
    ///
    /// [`LifecycleError::NotFound`] if no live token has this id.
    pub fn rotate(&self, id: &TokenId, grace: Duration) -> Result<IssuedToken, LifecycleError> {
        let shared = &*self.shared;
        let writer = shared.write_lock();
        let active = shared.active.pin();
        let old_hash = *shared.by_id.pin().get(id).ok_or_else(|| LifecycleError::NotFound(id.clone()))?;
        let old = active.get(&old_hash).ok_or_else(|| LifecycleError::NotFound(id.clone()))?;
        let now = SystemTime::now();
        let (secret, new_info) = loop {
            let secret = shared.format.generate();
            let mut principal = old.principal.to_builder().token_id(TokenId::random());
            if let Some(expires) = old.info().rotated_expiry(now) {
                principal = principal.expires_at(expires);
            }
            if let Ok(info) = shared.insert_locked(secret.hash(), principal.build(), Some(secret.hint())) {
                break (secret, info);
            }
        };
        if grace.is_zero() {
            shared.remove(id, true);
        } else {
            let until = now + grace;
            let expires = old.principal.expires_at().map_or(until, |at| at.min(until));
            let entry =
                Entry { principal: old.principal.to_builder().expires_at(expires).build(), ..old.clone() };
            active.insert(old_hash, entry);
        }
        drop(writer);
        shared.events.emit(&LifecycleEvent::Rotated { old: id.clone(), new: new_info.clone(), grace });
        Ok(IssuedToken::new(secret, new_info))
    }

    /// Removes every token whose expiry has passed, with the revocation records of expired
    /// tokens. Returns how many live tokens were removed.
    pub fn purge_expired(&self) -> usize {
        let shared = &*self.shared;
        let now = SystemTime::now();
        let purged: Vec<TokenInfo> = {
            let _writer = shared.write_lock();
            let expired: Vec<TokenId> = shared
                .active
                .pin()
                .values()
                .filter(|e| e.principal.is_expired_at(now))
                .map(|e| e.id.clone())
                .collect();
            shared.revoked.pin().retain(|_, p| !p.is_expired_at(now));
            expired.iter().filter_map(|id| shared.remove(id, false)).collect()
        };
        let count = purged.len();
        if count > 0 {
            shared.events.emit(&LifecycleEvent::ExpiredPurged(purged));
        }
        count
    }

    /// Records that a token was used at `at`, if later than what is recorded.
    pub fn record_usage(&self, id: &TokenId, at: SystemTime) {
        let shared = &*self.shared;
        if let Some(hash) = shared.by_id.pin().get(id)
            && let Some(entry) = shared.active.pin().get(hash)
        {
            entry.last_used_ms.fetch_max(clock::unix_millis(at), Ordering::Relaxed);
        }
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

    fn insert(
        &self,
        hash: TokenHash,
        principal: Principal,
        hint: Option<String>,
    ) -> Result<TokenInfo, InsertError> {
        let _writer = self.write_lock();
        self.insert_locked(hash, principal, hint)
    }

    /// Adds a live token. The caller holds the writer lock.
    fn insert_locked(
        &self,
        hash: TokenHash,
        principal: Principal,
        hint: Option<String>,
    ) -> Result<TokenInfo, InsertError> {
        let (id, principal) = match principal.token_id() {
            Some(id) => (id.clone(), principal),
            None => {
                let id = TokenId::random();
                (id.clone(), principal.to_builder().token_id(id).build())
            }
        };
        if self.by_id.pin().try_insert(id.clone(), hash).is_err() {
            return Err(InsertError::DuplicateTokenId(id));
        }
        let entry = Entry {
            id: id.clone(),
            principal,
            hint: hint.map(String::into_boxed_str),
            created_at: SystemTime::now(),
            last_used_ms: AtomicU64::new(0),
        };
        let info = entry.info();
        if self.active.pin().try_insert(hash, entry).is_err() {
            self.by_id.pin().remove(&id);
            return Err(InsertError::DuplicateToken);
        }
        // papaya grows a table only once an insert probes past 5·log2(capacity) slots, so a
        // grown table runs ~85-90 % full and a miss (every unknown or revoked token) walks a
        // long probe sequence, a cache line per step: ~190 ns at 1 M tokens, ~50 ns at half
        // load. Keep `active` at most half full: at every power of two, reserve as much again
        // (one copy of the table, on this writer, once per doubling; readers never wait).
        let len = self.active.len();
        if len >= 1024 && len.is_power_of_two() {
            self.active.pin().reserve(len);
        }
        // Inserting a secret again un-revokes it: the application asked for it explicitly.
        self.revoked.pin().remove(&hash);
        Ok(info)
    }

    /// Takes a live token out, leaving a revocation record if `tombstone`. The caller holds
    /// the writer lock.
    fn remove(&self, id: &TokenId, tombstone: bool) -> Option<TokenInfo> {
        let hash = *self.by_id.pin().remove(id)?;
        let active = self.active.pin();
        let info = active.get(&hash).map(Entry::info);
        if tombstone && let Some(info) = &info {
            // Marked revoked before it leaves `active`, so a concurrent lookup sees one or the
            // other, never neither.
            self.revoked.pin().insert(hash, info.principal.clone());
        }
        active.remove(&hash);
        info
    }
}

impl Entry {
    fn info(&self) -> TokenInfo {
        let last_used = self.last_used_ms.load(Ordering::Relaxed);
        let mut info = TokenInfo::new(self.id.clone(), self.principal.clone(), self.created_at)
            .with_last_used_at((last_used > 0).then(|| UNIX_EPOCH + Duration::from_millis(last_used)));
        info.hint = self.hint.as_deref().map(str::to_owned);
        info
    }

    /// Notes a use now, writing only if the last recorded use is older than `interval_ms`.
    fn touch(&self, interval_ms: u64) {
        let now = clock::coarse_unix_millis();
        if now.saturating_sub(self.last_used_ms.load(Ordering::Relaxed)) >= interval_ms {
            self.last_used_ms.store(now, Ordering::Relaxed);
        }
    }
}

impl Clone for Entry {
    fn clone(&self) -> Self {
        Entry {
            id: self.id.clone(),
            principal: self.principal.clone(),
            hint: self.hint.clone(),
            created_at: self.created_at,
            last_used_ms: AtomicU64::new(self.last_used_ms.load(Ordering::Relaxed)),
        }
    }
}

fn oldest_first<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<TokenInfo> {
    let mut infos: Vec<TokenInfo> = entries.map(Entry::info).collect();
    infos.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    infos
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TokenStore for MemoryTokenStore {
    type Future = NoFuture;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<NoFuture> {
        let hash = token.hash();
        let shared = &*self.shared;
        let state = match shared.active.pin().get(hash) {
            Some(entry) => {
                entry.touch(shared.usage_interval_ms);
                TokenState::Active(entry.principal.clone())
            }
            None => match shared.revoked.pin().get(hash) {
                Some(principal) => TokenState::Revoked(principal.clone()),
                None => TokenState::Unknown,
            },
        };
        Lookup::Now(Ok(state))
    }
}

impl TokenLifecycle for MemoryTokenStore {
    fn issue(&self, new: NewToken) -> impl Future<Output = Result<IssuedToken, LifecycleError>> + Send {
        ready(Ok(MemoryTokenStore::issue(self, new)))
    }

    fn list(&self, subject: &str) -> impl Future<Output = Result<Vec<TokenInfo>, LifecycleError>> + Send {
        ready(Ok(MemoryTokenStore::list(self, subject)))
    }

    fn get(&self, id: &TokenId) -> impl Future<Output = Result<Option<TokenInfo>, LifecycleError>> + Send {
        ready(Ok(MemoryTokenStore::get(self, id)))
    }

    fn revoke(&self, id: &TokenId) -> impl Future<Output = Result<bool, LifecycleError>> + Send {
        ready(Ok(MemoryTokenStore::revoke(self, id)))
    }

    fn rotate(
        &self,
        id: &TokenId,
        grace: Duration,
    ) -> impl Future<Output = Result<IssuedToken, LifecycleError>> + Send {
        ready(MemoryTokenStore::rotate(self, id, grace))
    }

    fn delete(&self, id: &TokenId) -> impl Future<Output = Result<bool, LifecycleError>> + Send {
        ready(Ok(MemoryTokenStore::delete(self, id)))
    }

    fn purge_expired(&self) -> impl Future<Output = Result<usize, LifecycleError>> + Send {
        ready(Ok(MemoryTokenStore::purge_expired(self)))
    }

    fn record_usage(
        &self,
        id: &TokenId,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), LifecycleError>> + Send {
        MemoryTokenStore::record_usage(self, id, at);
        ready(Ok(()))
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
