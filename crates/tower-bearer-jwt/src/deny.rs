//! [`DenyList`]: the ids of signed tokens that must be refused before they expire, each kept
//! until the token's own expiry and then dropped.

use std::sync::atomic::{AtomicUsize, Ordering};

use tower_bearer::TokenId;

/// Map sizes below this are never swept.
const SWEEP_MIN: usize = 1024;

/// One denied token: refused from `from` (seconds since the epoch: now for a revocation, the
/// end of the grace for a rotation), forgotten after `until` (its expiry), and during a grace
/// period, the token that replaced it.
#[derive(Clone, Debug)]
pub(crate) struct Denial {
    pub(crate) from: u64,
    pub(crate) until: u64,
    pub(crate) replaced_by: Option<TokenId>,
}

pub(crate) struct DenyList {
    entries: papaya::HashMap<TokenId, Denial>,
    sweep_at: AtomicUsize,
}

impl Default for DenyList {
    fn default() -> Self {
        DenyList { entries: papaya::HashMap::new(), sweep_at: AtomicUsize::new(SWEEP_MIN) }
    }
}

impl DenyList {
    /// The denial of `id`, if any.
    pub(crate) fn get(&self, id: &TokenId) -> Option<Denial> {
        self.entries.pin().get(id).cloned()
    }

    /// Denies `id`; entries whose token has expired by `now` are swept when the list doubles.
    pub(crate) fn deny(&self, id: TokenId, denial: Denial, now: u64) {
        let entries = self.entries.pin();
        entries.insert(id, denial);
        if entries.len() >= self.sweep_at.load(Ordering::Relaxed) {
            entries.retain(|_, d| d.until > now);
            self.sweep_at.store((entries.len() * 2).max(SWEEP_MIN), Ordering::Relaxed);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
