//! [`MemoryTokenStore`]: tokens kept as SHA-256 digests in a lock-free concurrent map, with
//! the whole lifecycle (issue, list, rotate, revoke, delete, expire, usage, audit events).

use std::collections::HashSet;
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
use crate::scope::Scopes;
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
    /// Every stored digest: live tokens, and the revocation records of revoked ones, so that
    /// one probe tells live, revoked (for audit events) and unknown apart.
    tokens: papaya::HashMap<TokenHash, Entry, DigestHasher>,
    /// Live tokens by id.
    by_id: papaya::HashMap<TokenId, TokenHash>,
    /// Serializes writers so that the maps change together: a revoke never runs between an
    /// insert's steps. Lookups never take it.
    writer: Mutex<Writer>,
    format: TokenFormat,
    usage_interval_ms: u64,
    events: LifecycleSink,
}

/// What only writers touch.
#[derive(Default)]
struct Writer {
    /// One copy of each distinct scope set, shared by every token that grants it: most
    /// tokens of an API carry one of a handful of sets.
    scopes: HashSet<Scopes>,
    /// Size of `scopes` at which sets no token uses any more are dropped.
    prune_at: usize,
}

impl Default for Shared {
    fn default() -> Self {
        MemoryTokenStoreBuilder::default().shared
    }
}

/// A stored token: 40 bytes next to its 32-byte digest in one papaya allocation.
struct Entry {
    /// Always has a token id (assigned on insert if missing).
    principal: Principal,
    hint: Option<Box<str>>,
    /// Nanoseconds since the Unix epoch.
    created_ns: u64,
    /// Milliseconds since the Unix epoch; 0 for never, [`REVOKED`] for a revocation record.
    /// Written at most once per interval.
    last_used_ms: AtomicU64,
}

/// `last_used_ms` of a revocation record: no live token is ever used at that time.
const REVOKED: u64 = u64::MAX;

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
                tokens: papaya::HashMap::with_hasher(DigestHasher),
                by_id: papaya::HashMap::new(),
                writer: Mutex::new(Writer::default()),
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
        oldest_first(
            self.shared.tokens.pin().values().filter(|e| e.is_live() && e.principal.subject() == subject),
        )
    }

    /// Metadata of every live token, oldest first.
    #[must_use]
    pub fn list_all(&self) -> Vec<TokenInfo> {
        oldest_first(self.shared.tokens.pin().values().filter(|e| e.is_live()))
    }

    /// Metadata of one live token.
    #[must_use]
    pub fn get(&self, id: &TokenId) -> Option<TokenInfo> {
        let hash = *self.shared.by_id.pin().get(id)?;
        self.shared.tokens.pin().get(&hash).filter(|e| e.is_live()).map(Entry::info)
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
        let mut writer = shared.write_lock();
        let tokens = shared.tokens.pin();
        let old_hash = *shared.by_id.pin().get(id).ok_or_else(|| LifecycleError::NotFound(id.clone()))?;
        let old = tokens
            .get(&old_hash)
            .filter(|e| e.is_live())
            .ok_or_else(|| LifecycleError::NotFound(id.clone()))?;
        let now = SystemTime::now();
        let (secret, new_info) = loop {
            let secret = shared.format.generate();
            let mut principal = old.principal.to_builder().token_id(TokenId::random());
            if let Some(expires) = old.info().rotated_expiry(now) {
                principal = principal.expires_at(expires);
            }
            if let Ok(info) =
                shared.insert_locked(&mut writer, secret.hash(), principal.build(), Some(secret.hint()))
            {
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
            tokens.insert(old_hash, entry);
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
            let tokens = shared.tokens.pin();
            let expired: Vec<TokenId> = tokens
                .values()
                .filter(|e| e.is_live() && e.principal.is_expired_at(now))
                .map(|e| e.id().clone())
                .collect();
            // Revocation records of expired tokens go too: the token would be refused anyway.
            tokens.retain(|_, e| e.is_live() || !e.principal.is_expired_at(now));
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
            && let Some(entry) = shared.tokens.pin().get(hash)
            && entry.is_live()
        {
            entry.last_used_ms.fetch_max(clock::unix_millis(at).min(REVOKED - 1), Ordering::Relaxed);
        }
    }

    /// Number of live (not revoked) tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.by_id.len()
    }

    /// Whether no live token is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shared {
    fn write_lock(&self) -> MutexGuard<'_, Writer> {
        // The interned scope sets are whole at every instant (a set is inserted or not), so a
        // writer that panicked left nothing half-done to see.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(
        &self,
        hash: TokenHash,
        principal: Principal,
        hint: Option<String>,
    ) -> Result<TokenInfo, InsertError> {
        let mut writer = self.write_lock();
        self.insert_locked(&mut writer, hash, principal, hint)
    }

    /// Adds a live token. The caller holds the writer lock.
    fn insert_locked(
        &self,
        writer: &mut Writer,
        hash: TokenHash,
        mut principal: Principal,
        hint: Option<String>,
    ) -> Result<TokenInfo, InsertError> {
        let tokens = self.tokens.pin();
        if tokens.get(&hash).is_some_and(Entry::is_live) {
            return Err(InsertError::DuplicateToken);
        }
        let id = match principal.token_id() {
            Some(id) => id.clone(),
            None => {
                let id = TokenId::random();
                principal.set_token_id(id.clone());
                id
            }
        };
        if self.by_id.pin().try_insert(id.clone(), hash).is_err() {
            return Err(InsertError::DuplicateTokenId(id));
        }
        principal.share_scopes(writer.intern(principal.scopes()));
        let entry = Entry {
            principal,
            hint: hint.map(String::into_boxed_str),
            created_ns: clock::unix_nanos(SystemTime::now()),
            last_used_ms: AtomicU64::new(0),
        };
        let info = entry.info();
        // Replaces the revocation record, if any: inserting a secret again un-revokes it, as
        // the application asked explicitly.
        tokens.insert(hash, entry);
        // papaya grows a table only once an insert probes past 5·log2(capacity) slots, so a
        // grown table runs ~85-90 % full and a miss (every unknown token) walks a long probe
        // sequence, a cache line per step: ~190 ns at 1 M tokens, ~50 ns at half load, ~40 ns
        // at 1 k. Keep the table at most half full: at every power of two, reserve as much
        // again (one copy of the table, on this writer, once per doubling; readers never wait).
        let len = tokens.len();
        if len >= 8 && len.is_power_of_two() {
            tokens.reserve(len);
        }
        Ok(info)
    }

    /// Takes a live token out, leaving a revocation record if `tombstone`. The caller holds
    /// the writer lock.
    fn remove(&self, id: &TokenId, tombstone: bool) -> Option<TokenInfo> {
        let hash = *self.by_id.pin().remove(id)?;
        let tokens = self.tokens.pin();
        let entry = tokens.get(&hash).filter(|e| e.is_live())?;
        let info = entry.info();
        if tombstone {
            // One atomic swap: a concurrent lookup sees the live token or its revocation
            // record, never neither.
            let record = Entry {
                principal: entry.principal.clone(),
                hint: None,
                created_ns: entry.created_ns,
                last_used_ms: AtomicU64::new(REVOKED),
            };
            tokens.insert(hash, record);
        } else {
            tokens.remove(&hash);
        }
        Some(info)
    }
}

impl Writer {
    /// The shared copy of `scopes`.
    fn intern(&mut self, scopes: &Scopes) -> Scopes {
        if let Some(shared) = self.scopes.get(scopes) {
            return shared.clone();
        }
        if self.scopes.len() >= self.prune_at {
            // Sets only this table still holds belong to no token any more.
            self.scopes.retain(|s| !s.is_unique());
            self.prune_at = (self.scopes.len() * 2).max(64);
        }
        self.scopes.insert(scopes.clone());
        scopes.clone()
    }
}

impl Entry {
    fn id(&self) -> &TokenId {
        self.principal.token_id().expect("insert_locked gives every stored principal a token id")
    }

    fn is_live(&self) -> bool {
        self.last_used_ms.load(Ordering::Relaxed) != REVOKED
    }

    fn info(&self) -> TokenInfo {
        let last_used = self.last_used_ms.load(Ordering::Relaxed);
        let created_at = UNIX_EPOCH + Duration::from_nanos(self.created_ns);
        let mut info = TokenInfo::new(self.id().clone(), self.principal.clone(), created_at)
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
            principal: self.principal.clone(),
            hint: self.hint.clone(),
            created_ns: self.created_ns,
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
        let shared = &*self.shared;
        let state = match shared.tokens.pin().get(token.hash()) {
            Some(entry) if entry.is_live() => {
                entry.touch(shared.usage_interval_ms);
                TokenState::Active(entry.principal.clone())
            }
            Some(record) => TokenState::Revoked(record.principal.clone()),
            None => TokenState::Unknown,
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
