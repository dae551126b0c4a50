//! [`Record`]: a token as the memory store keeps it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use super::hint::Hint;
use crate::clock::Clock;
use crate::manage::info::TokenInfo;
use crate::principal::Principal;
use crate::token::hash::TokenHash;
use crate::token::id::TokenId;

/// A stored token: one allocation that both indexes point to (a record is never changed in
/// place but replaced whole, apart from its last use), kept small: the memory per token is in
/// BENCHMARKS.md.
pub(super) struct Record {
    pub(super) digest: TokenHash,
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

impl Record {
    pub(super) fn id(&self) -> &TokenId {
        self.principal.token_id().expect("insert_locked gives every stored principal a token id")
    }

    pub(super) fn is_live(&self) -> bool {
        self.last_used_ms.load(Ordering::Relaxed) != REVOKED
    }

    /// The metadata of the record, in a store whose format has `prefix`.
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
