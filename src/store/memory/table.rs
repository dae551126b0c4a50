//! The memory store's table: digests to entries in a lock-free map, ids to digests, and the
//! writer that keeps both in step.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::InsertError;
use super::hint::Hint;
use crate::clock::{Clock, unix_nanos};
use crate::grant::{Grant, MintRules, Terms};
use crate::limit::MemoryCredits;
use crate::manage::error::ManageError;
use crate::manage::event::{LifecycleEvent, LifecycleEvents};
use crate::manage::info::TokenInfo;
use crate::manage::issued::IssuedToken;
use crate::principal::Principal;
use crate::scope::Scopes;
use crate::token::format::TokenFormat;
use crate::token::hash::TokenHash;
use crate::token::id::TokenId;
use crate::token::secret::TokenSecret;

pub(super) struct Shared {
    /// Every stored digest: live tokens, and the revocation records of revoked ones, so that
    /// one probe tells live, revoked (for audit events) and unknown apart.
    pub(super) tokens: papaya::HashMap<TokenHash, Entry, DigestHasher>,
    /// Live tokens by id.
    pub(super) by_id: papaya::HashMap<TokenId, TokenHash>,
    /// Serializes writers so that the maps change together: a revoke never runs between an
    /// insert's steps. Lookups never take it.
    pub(super) writer: Mutex<Writer>,
    pub(super) format: TokenFormat,
    pub(super) usage_interval_ms: u64,
    pub(super) events: LifecycleEvents,
    pub(super) clock: Clock,
    pub(super) rules: MintRules,
    /// The credits of the tokens that have some, on the store's clock.
    pub(super) credits: MemoryCredits,
    /// The [`OnceMarkers`](crate::manage::OnceMarkers) set, for as long as the store lives.
    pub(super) markers: Mutex<HashSet<Box<str>>>,
}

/// What only writers touch.
#[derive(Default)]
pub(super) struct Writer {
    /// One copy of each distinct scope set, shared by every token that grants it: most
    /// tokens of an API carry one of a handful of sets.
    scopes: HashSet<Scopes>,
    /// One copy of each distinct set of a grant's shared terms (organization, kind, audience,
    /// limits): a customer's tokens repeat them.
    terms: HashSet<Arc<Terms>>,
    /// Size of `scopes` at which sets no token uses any more are dropped.
    prune_at: usize,
    /// Size of `terms` at which terms no token uses any more are dropped.
    prune_terms_at: usize,
}

/// A stored token, next to its 32-byte digest in one papaya allocation: kept small (the memory
/// per token is in BENCHMARKS.md).
pub(super) struct Entry {
    /// Always has a token id (assigned on insert if missing).
    pub(super) principal: Principal,
    pub(super) hint: Option<Hint>,
    /// Nanoseconds since the Unix epoch.
    pub(super) created_ns: u64,
    /// Milliseconds since the Unix epoch; 0 for never, [`REVOKED`] for a revocation record.
    /// Written at most once per interval.
    pub(super) last_used_ms: AtomicU64,
}

/// `last_used_ms` of a revocation record: no live token is ever used at that time.
pub(super) const REVOKED: u64 = u64::MAX;

impl Shared {
    pub(super) fn write_lock(&self) -> MutexGuard<'_, Writer> {
        // The interned scope sets are whole at every instant (a set is inserted or not), so a
        // writer that panicked left nothing half-done to see.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn insert(
        &self,
        hash: TokenHash,
        principal: Principal,
        hint: Option<Hint>,
    ) -> Result<TokenInfo, InsertError> {
        let mut writer = self.write_lock();
        self.insert_locked(&mut writer, hash, principal, hint)
    }

    /// Adds a live token. The caller holds the writer lock.
    pub(super) fn insert_locked(
        &self,
        writer: &mut Writer,
        hash: TokenHash,
        mut principal: Principal,
        hint: Option<Hint>,
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
        let (terms, scopes) = (writer.intern_terms(principal.grant()), writer.intern(principal.scopes()));
        principal.share_grant(|grant| grant.share(terms, scopes));
        let now = self.clock.now();
        if let Some(plan) = principal.credits() {
            // A rotation's successor carries its predecessor's handle: it is reattached to the
            // same account once the rotation moves it.
            principal = self.credits.attach(principal, &id, plan, now);
        }
        let entry = Entry { principal, hint, created_ns: unix_nanos(now), last_used_ms: AtomicU64::new(0) };
        let info = self.info(&entry);
        // Replaces the revocation record, if any: inserting a secret again un-revokes it, as
        // the application asked explicitly.
        tokens.insert(hash, entry);
        // papaya grows a table only once an insert probes past 5·log2(capacity) slots, so a
        // grown table runs nearly full and a miss (every unknown token) walks a long probe
        // sequence, a cache line per step, several times slower than at half load (BENCHMARKS.md,
        // "Memory"). Keep the table at most half full: at every power of two, reserve as much
        // again (one copy of the table, on this writer, once per doubling; readers never wait).
        let len = tokens.len();
        if len >= 8 && len.is_power_of_two() {
            tokens.reserve(len);
        }
        Ok(info)
    }

    /// Takes a live token out, leaving a revocation record if `tombstone`. The caller holds
    /// the writer lock.
    pub(super) fn remove(&self, id: &TokenId, tombstone: bool) -> Option<TokenInfo> {
        let hash = *self.by_id.pin().remove(id)?;
        let tokens = self.tokens.pin();
        let entry = tokens.get(&hash).filter(|e| e.is_live())?;
        let info = self.info(entry);
        self.credits.close(id);
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

    /// Replaces the token `id` with a new one of the same principal and lifetime length (but
    /// not past `not_after`); the old one stops now (`grace` zero) or after `grace`, replaced.
    pub(super) fn rotate(
        &self,
        id: &TokenId,
        grace: Duration,
        not_after: Option<SystemTime>,
    ) -> Result<IssuedToken, ManageError> {
        let now = self.clock.now();
        // Checked before anything changes: a failed rotation leaves the store as it was.
        let until = now.checked_add(grace).ok_or(ManageError::OutOfRange("grace"))?;
        let mut writer = self.write_lock();
        let tokens = self.tokens.pin();
        let old_hash = *self.by_id.pin().get(id).ok_or_else(|| ManageError::NotFound(id.clone()))?;
        let old =
            tokens.get(&old_hash).filter(|e| e.is_live()).ok_or_else(|| ManageError::NotFound(id.clone()))?;
        let grant = old.info(self.format.prefix()).rotated_grant(now, not_after);
        let (secret, new_info) = loop {
            let secret = self.format.generate();
            // A successor is not itself replaced.
            let principal =
                old.principal.to_builder().grant(grant.clone()).token_id(TokenId::random()).not_replaced();
            if let Ok(info) =
                self.insert_locked(&mut writer, secret.hash(), principal.build(), Some(self.hint_of(&secret)))
            {
                break (secret, info);
            }
        };
        // The balance goes to the successor; during a grace period, the old token spends
        // from it too (`credit_account`), so a rotation never doubles credits.
        self.credits.transfer(id, &new_info.id);
        let balance = self.credits.balance(&new_info.id);
        let new_info = new_info.with_credits(balance);
        if grace.is_zero() {
            self.remove(id, true);
        } else {
            let expires = old.principal.expires_at().map_or(until, |at| at.min(until));
            let principal =
                old.principal.to_builder().expires_at(expires).replaced_by(new_info.id.clone()).build();
            tokens.insert(old_hash, Entry { principal, ..old.clone() });
        }
        drop(writer);
        self.events.emit(&LifecycleEvent::Rotated { old: id.clone(), new: new_info.clone(), grace });
        Ok(IssuedToken::new(secret, new_info))
    }

    /// The display hint of a secret the store's format generated.
    pub(super) fn hint_of(&self, secret: &TokenSecret) -> Hint {
        Hint::of(secret.expose_secret(), self.format.prefix().len())
    }

    /// The metadata of `entry`, with its credit balance.
    pub(super) fn info(&self, entry: &Entry) -> TokenInfo {
        let info = entry.info(self.format.prefix());
        let credits = info.principal.credits().and_then(|_| self.credits.balance(&info.id));
        info.with_credits(credits)
    }

    /// Removes every token expired at `now`, with the revocation records of expired tokens.
    /// Returns how many live tokens were removed.
    pub(super) fn purge_expired(&self, now: SystemTime) -> usize {
        let purged: Vec<TokenInfo> = {
            let _writer = self.write_lock();
            let tokens = self.tokens.pin();
            let expired: Vec<TokenId> = tokens
                .values()
                .filter(|e| e.is_live() && e.principal.is_expired_at(now))
                .map(|e| e.id().clone())
                .collect();
            tokens.retain(|_, e| e.is_live() || !e.principal.is_expired_at(now));
            expired.iter().filter_map(|id| self.remove(id, false)).collect()
        };
        let count = purged.len();
        if count > 0 {
            self.events.emit(&LifecycleEvent::ExpiredPurged(purged));
        }
        count
    }
}

impl Writer {
    /// The shared copy of `grant`'s terms.
    fn intern_terms(&mut self, grant: &Grant) -> Option<Arc<Terms>> {
        let terms = grant.terms()?;
        if let Some(shared) = self.terms.get(terms) {
            return Some(shared.clone());
        }
        if self.terms.len() >= self.prune_terms_at {
            self.terms.retain(|t| Arc::strong_count(t) > 1);
            self.prune_terms_at = (self.terms.len() * 2).max(64);
        }
        self.terms.insert(terms.clone());
        Some(terms.clone())
    }

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
    pub(super) fn id(&self) -> &TokenId {
        self.principal.token_id().expect("insert_locked gives every stored principal a token id")
    }

    pub(super) fn is_live(&self) -> bool {
        self.last_used_ms.load(Ordering::Relaxed) != REVOKED
    }

    /// The metadata of the entry, in a store whose format has `prefix`.
    pub(super) fn info(&self, prefix: &str) -> TokenInfo {
        let last_used = self.last_used_ms.load(Ordering::Relaxed);
        let created_at = UNIX_EPOCH + Duration::from_nanos(self.created_ns);
        let mut info = TokenInfo::new(self.id().clone(), self.principal.clone(), created_at)
            .with_last_used_at((last_used > 0).then(|| UNIX_EPOCH + Duration::from_millis(last_used)));
        info.hint = self.hint.map(|h| h.render(prefix));
        info
    }

    /// Notes a use now, writing only if the last recorded use is older than `interval_ms`.
    pub(super) fn touch(&self, interval_ms: u64, clock: &Clock) {
        let now = clock.coarse_unix_millis();
        if now.saturating_sub(self.last_used_ms.load(Ordering::Relaxed)) >= interval_ms {
            self.last_used_ms.store(now, Ordering::Relaxed);
        }
    }
}

impl Clone for Entry {
    fn clone(&self) -> Self {
        Entry {
            principal: self.principal.clone(),
            hint: self.hint,
            created_ns: self.created_ns,
            last_used_ms: AtomicU64::new(self.last_used_ms.load(Ordering::Relaxed)),
        }
    }
}

pub(super) fn oldest_first<'a>(shared: &Shared, entries: impl Iterator<Item = &'a Entry>) -> Vec<TokenInfo> {
    let mut infos: Vec<TokenInfo> = entries.map(|e| shared.info(e)).collect();
    infos.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    infos
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Hashes a [`TokenHash`] by passing its first eight bytes through: a SHA-256 digest needs no
/// further mixing (see [`TokenHash`]'s `Hash` impl for why this is safe).
#[derive(Clone, Copy, Default)]
pub(super) struct DigestHasher;

impl BuildHasher for DigestHasher {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

pub(super) struct PassThrough(u64);

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
