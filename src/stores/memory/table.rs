//! The memory store's table: one record per stored token, reached by its digest (the lookup)
//! and by its id (management), and the writer that keeps both indexes in step.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::error::InsertError;
use super::hint::Hint;
use super::index::{ByDigest, ById, Indexed};
use super::push::RevocationPush;
use super::record::{REVOKED, Record};
use crate::clock::{Clock, unix_nanos};
use crate::grant::{Grant, MintRules, Terms};
use crate::manage::audit::ring::AuditRing;
use crate::manage::error::ManageError;
use crate::manage::event::{LifecycleEvent, LifecycleEvents};
use crate::manage::info::TokenInfo;
use crate::manage::issued::IssuedToken;
use crate::manage::usage::memory::UsageTable;
use crate::principal::Principal;
use crate::store::revocation::Revocation;
use crate::stores::memory::credits::MemoryCredits;
use crate::stores::replay::ReplayIds;
use crate::token::format::TokenFormat;
use crate::token::hash::TokenHash;
use crate::token::id::TokenId;
use crate::token::secret::TokenSecret;

pub(super) struct Shared {
    /// Every stored digest: live tokens, and the revocation records of revoked ones, so that
    /// one probe tells live, revoked (for audit events) and unknown apart.
    pub(super) tokens: papaya::HashSet<Indexed<ByDigest>, DigestHasher>,
    /// Live tokens by id: the same records, so an index entry is one pointer.
    pub(super) by_id: papaya::HashSet<Indexed<ById>>,
    /// Serializes writers so that the indexes change together: a revoke never runs between
    /// an insert's steps. Lookups never take it.
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
    /// Its [`AuditLog`](crate::manage::audit::AuditLog): the latest events.
    pub(super) audit: AuditRing,
    /// Its [`UsageLog`](crate::manage::usage::UsageLog).
    pub(super) usage: UsageTable,
    /// Its [`ReplayCache`](crate::store::ReplayCache), on the store's clock.
    pub(super) replay: ReplayIds,
    /// Its revocations, told to the verifiers and caches over it.
    pub(super) push: RevocationPush,
}

/// What only writers touch.
#[derive(Default)]
pub(super) struct Writer {
    /// One copy of each distinct set of a grant's shared terms (organization, scopes,
    /// audience, kind, limits): a customer's tokens repeat them, and most tokens of an API
    /// carry one of a handful of scope sets.
    terms: HashSet<Arc<Terms>>,
    /// Size of `terms` at which terms no token uses any more are dropped.
    prune_at: usize,
}

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
        digest: TokenHash,
        mut principal: Principal,
        hint: Option<Hint>,
    ) -> Result<TokenInfo, InsertError> {
        let (tokens, by_id) = (self.tokens.pin(), self.by_id.pin());
        if tokens.get(&digest).is_some_and(|r| r.is_live()) {
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
        if by_id.contains(&id) {
            return Err(InsertError::DuplicateTokenId(id));
        }
        let terms = writer.intern(principal.grant());
        principal.share_grant(|grant| grant.share(terms));
        let now = self.clock.now();
        if let Some(plan) = principal.credits() {
            // A rotation's successor carries its predecessor's handle: it is reattached to the
            // same account once the rotation moves it.
            principal = self.credits.attach(principal, &id, plan, now);
        }
        let record = Arc::new(Record {
            digest,
            principal,
            hint,
            created_ns: unix_nanos(now),
            last_used_ms: AtomicU64::new(0),
        });
        let info = self.info(&record);
        by_id.insert(Indexed::new(record.clone()));
        // Replaces the revocation record, if any: inserting a secret again un-revokes it, as
        // the application asked explicitly.
        tokens.insert(Indexed::new(record));
        drop((tokens, by_id));
        self.keep_half_empty();
        Ok(info)
    }

    /// papaya grows a table only once an insert probes past 5·log2(capacity) slots, so a
    /// grown table runs nearly full and a miss (every unknown token) walks a long probe
    /// sequence, a cache line per step, several times slower than at half load (BENCHMARKS.md,
    /// "Memory"). Keeps both indexes at most half full: at every power of two, reserves as
    /// much again (one copy of the table, on this writer, once per doubling; readers never
    /// wait), and hands the old table back at once (papaya frees retired tables in batches,
    /// and a store that only grows would keep every earlier table until it is dropped).
    fn keep_half_empty(&self) {
        let len = self.tokens.len();
        if len >= 8 && len.is_power_of_two() {
            self.tokens.pin().reserve(len);
            papaya::Guard::flush(&self.tokens.guard());
        }
        let len = self.by_id.len();
        if len >= 8 && len.is_power_of_two() {
            self.by_id.pin().reserve(len);
            papaya::Guard::flush(&self.by_id.guard());
        }
    }

    /// The live record of `id`.
    pub(super) fn live(&self, id: &TokenId) -> Option<Arc<Record>> {
        self.by_id.pin().get(id).map(Indexed::record).filter(|r| r.is_live())
    }

    /// Takes a live token out, leaving a revocation record if `tombstone`; its metadata and
    /// digest. The caller holds the writer lock.
    pub(super) fn remove(&self, id: &TokenId, tombstone: bool) -> Option<(TokenInfo, TokenHash)> {
        let record = self.live(id)?;
        self.by_id.pin().remove(id);
        let info = self.info(&record);
        self.credits.close(id);
        if tombstone {
            // One atomic swap: a concurrent lookup sees the live token or its revocation
            // record, never neither.
            self.tokens.pin().insert(Indexed::new(Arc::new(Record {
                digest: record.digest,
                principal: record.principal.clone(),
                hint: None,
                created_ns: record.created_ns,
                last_used_ms: AtomicU64::new(REVOKED),
            })));
        } else {
            self.tokens.pin().remove(&record.digest);
        }
        Some((info, record.digest))
    }

    /// Ends the live token `id` now, under the writer lock, leaving a revocation record if
    /// `tombstone` (a revocation; a deletion leaves none), and tells the verifiers and caches
    /// over this store; its metadata.
    pub(super) fn end(&self, id: &TokenId, tombstone: bool) -> Option<TokenInfo> {
        let (info, digest) = {
            let _writer = self.write_lock();
            self.remove(id, tombstone)?
        };
        self.push_revocation(&info.id, info.principal.expires_at(), &digest, self.clock.now(), None);
        Some(info)
    }

    /// Tells the verifiers and caches over this store that the token `id`, known by `digest`
    /// and expiring at `expires`, is refused from `from` (now, or the end of a rotation's
    /// grace), replaced by `successor` if it was rotated. The caller has released the writer
    /// lock.
    pub(super) fn push_revocation(
        &self,
        id: &TokenId,
        expires: Option<SystemTime>,
        digest: &TokenHash,
        from: SystemTime,
        successor: Option<TokenId>,
    ) {
        let revocation = expires.map(|until| {
            let revocation = Revocation::new(id.clone(), from, until);
            match successor {
                Some(successor) => revocation.replaced_by(successor),
                None => revocation,
            }
        });
        self.push.revoked(digest, revocation, self.clock.now());
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
        let old = self.live(id).ok_or_else(|| ManageError::NotFound(id.clone()))?;
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
            let replaced = Arc::new(Record {
                digest: old.digest,
                principal,
                hint: old.hint,
                created_ns: old.created_ns,
                last_used_ms: AtomicU64::new(old.last_used_ms.load(Ordering::Relaxed)),
            });
            self.by_id.pin().insert(Indexed::new(replaced.clone()));
            self.tokens.pin().insert(Indexed::new(replaced));
        }
        drop(writer);
        let old_expiry = old.principal.expires_at();
        self.push_revocation(id, old_expiry, &old.digest, until, Some(new_info.id.clone()));
        self.events.emit(&LifecycleEvent::Rotated { old: id.clone(), new: new_info.clone(), grace });
        Ok(IssuedToken::new(secret, new_info))
    }

    /// The display hint of a secret the store's format generated.
    pub(super) fn hint_of(&self, secret: &TokenSecret) -> Hint {
        Hint::of(secret.expose_secret(), self.format.prefix().len())
    }

    /// The metadata of `entry`, with its credit balance.
    pub(super) fn info(&self, record: &Record) -> TokenInfo {
        let info = record.info(self.format.prefix());
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
                .iter()
                .filter(|r| r.is_live() && r.principal.is_expired_at(now))
                .map(|r| r.id().clone())
                .collect();
            tokens.retain(|r| r.is_live() || !r.principal.is_expired_at(now));
            expired.iter().filter_map(|id| self.remove(id, false).map(|(info, _)| info)).collect()
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
    fn intern(&mut self, grant: &Grant) -> Option<Arc<Terms>> {
        let terms = grant.terms()?;
        if let Some(shared) = self.terms.get(terms) {
            return Some(shared.clone());
        }
        if self.terms.len() >= self.prune_at {
            // Terms only this table still holds belong to no token any more.
            self.terms.retain(|t| Arc::strong_count(t) > 1);
            self.prune_at = (self.terms.len() * 2).max(64);
        }
        self.terms.insert(terms.clone());
        Some(terms.clone())
    }
}

pub(super) fn oldest_first<'a>(shared: &Shared, records: impl Iterator<Item = &'a Record>) -> Vec<TokenInfo> {
    let mut infos: Vec<TokenInfo> = records.map(|r| shared.info(r)).collect();
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
