//! [`MemoryTokenStoreBuilder`]: how a memory store is configured.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::push::RevocationPush;
use super::store::MemoryTokenStore;
use super::table::{DigestHasher, Shared, Writer, millis};
use crate::clock::Clock;
use crate::grant::MintRules;
use crate::manage::audit::ring::AuditRing;
use crate::manage::usage::memory::UsageTable;
use crate::manage::{LifecycleEvent, LifecycleEvents};
use crate::stores::memory::credits::MemoryCredits;
use crate::stores::replay::{self, ReplayIds};
use crate::token::format::TokenFormat;

impl Default for MemoryTokenStore {
    fn default() -> Self {
        MemoryTokenStoreBuilder::default().build()
    }
}

impl MemoryTokenStore {
    /// An empty store with default settings.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Configures a store: token format, usage interval, lifecycle event hook, clock, the
    /// capacities of its audit log and replay cache.
    pub fn builder() -> MemoryTokenStoreBuilder {
        MemoryTokenStoreBuilder::default()
    }
}

/// Configures a [`MemoryTokenStore`]; see [`MemoryTokenStore::builder`].
#[must_use]
pub struct MemoryTokenStoreBuilder {
    shared: Shared,
    replay_capacity: usize,
}

impl Default for MemoryTokenStoreBuilder {
    fn default() -> Self {
        MemoryTokenStoreBuilder {
            shared: Shared {
                tokens: papaya::HashSet::with_hasher(DigestHasher),
                by_id: papaya::HashSet::new(),
                writer: Mutex::new(Writer::default()),
                format: TokenFormat::default(),
                usage_interval_ms: millis(Duration::from_secs(60)),
                events: LifecycleEvents::default(),
                clock: Clock::default(),
                rules: MintRules::new(),
                credits: MemoryCredits::new(),
                markers: Mutex::default(),
                audit: AuditRing::with_capacity(AuditRing::DEFAULT_CAPACITY),
                usage: UsageTable::default(),
                replay: ReplayIds::new(replay::DEFAULT_CAPACITY, Clock::default()),
                push: RevocationPush::default(),
            },
            replay_capacity: replay::DEFAULT_CAPACITY,
        }
    }
}

impl MemoryTokenStoreBuilder {
    /// The format of issued tokens (default: [`TokenFormat::default`], prefix `tok_`).
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.shared.format = format;
        self
    }

    /// How often, at most, a token's `last_used_at` is updated (default one
    /// minute). A request within the interval of the last recorded use
    /// writes nothing.
    pub fn usage_interval(mut self, interval: Duration) -> Self {
        self.shared.usage_interval_ms = millis(interval);
        self
    }

    /// Calls `hook` with every [`LifecycleEvent`] (issued, rotated, revoked, deleted, expired
    /// tokens purged), for an audit trail.
    pub fn on_lifecycle_event(mut self, hook: impl Fn(&LifecycleEvent) + Send + Sync + 'static) -> Self {
        self.shared.events.set_hook(hook);
        self
    }

    /// Reads the time from `clock` (default: the system clock): creation and use times,
    /// expiry, rotation, purges. For tests: give the store and the layer the same
    /// [`Clock::manual`].
    pub fn clock(mut self, clock: Clock) -> Self {
        self.shared.clock = clock;
        self
    }

    /// The scope that lets a token manage other subjects' tokens of its organization
    /// (default `tokens:admin`; see [`MintRules`]).
    pub fn admin_scope(mut self, scope: impl Into<String>) -> Self {
        self.shared.rules = self.shared.rules.with_admin_scope(scope);
        self
    }

    /// The rules for one token acting on others (default [`MintRules::new`]): give it the
    /// [`DefaultLimits`](crate::grant::DefaultLimits) of the `RateLimitLayer` in front of the
    /// store, so that minting compares effective limits.
    pub fn rules(mut self, rules: MintRules) -> Self {
        self.shared.rules = rules;
        self
    }

    /// How many audit events the store keeps as its [`AuditLog`](crate::manage::audit::AuditLog)
    /// (default 10 000, at least one): the latest, the oldest dropped first.
    pub fn audit_capacity(mut self, events: usize) -> Self {
        self.shared.audit = AuditRing::with_capacity(events);
        self
    }

    /// How many live single-use identifiers the store keeps as its
    /// [`ReplayCache`](crate::store::ReplayCache) (default 2²⁰, about 60 MiB when full; at
    /// least one). Full, it refuses new ones (the request is refused) rather than forget a
    /// live one.
    pub fn replay_capacity(mut self, identifiers: usize) -> Self {
        self.replay_capacity = identifiers;
        self
    }

    /// The store.
    #[must_use]
    pub fn build(mut self) -> MemoryTokenStore {
        self.shared.credits = MemoryCredits::with_clock(self.shared.clock.clone());
        self.shared.replay = ReplayIds::new(self.replay_capacity, self.shared.clock.clone());
        MemoryTokenStore::from_shared(Arc::new(self.shared))
    }
}

impl fmt::Debug for MemoryTokenStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTokenStoreBuilder").field("format", &self.shared.format).finish_non_exhaustive()
    }
}
