//! [`UsageCounter`]: every request the layer decides, counted per token, outcome and minute in
//! memory, and added to a [`UsageLog`] in batches, rolled up to hours and days.

mod minute;
mod pending;
mod retention;
mod shards;
mod stats;
mod task;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tower_bearer::manage::usage::{UsageLog, UsageOutcome};
use tower_bearer::{Clock, Principal};

use self::minute::RecentMinute;
use self::pending::Pending;
pub use self::retention::Retention;
use self::shards::Shards;
pub use self::stats::UsageStats;
use self::task::{Control, Counters, Task};

/// Counts every request the layer decides, by token id and [`UsageOutcome`], in minute
/// buckets in this instance's memory, and adds the counts to a [`UsageLog`] every
/// [`flush_interval`](UsageCounterBuilder::flush_interval) (10 s by default), each minute
/// count added to the minute, hour and day buckets it falls in, with the token's organization
/// and subject. Several instances sharing one log (the SQL store's table) each add their own
/// counts: the log's totals are the sum.
///
/// # What is counted
///
/// One count per request, as the layer reports it ([`outcome_hook`](Self::outcome_hook) into
/// `BearerAuthLayer::on_outcome`): a request admitted by the layer and refused behind it
/// counts as that refusal alone. Requests without a token, or not well-formed, count for nothing
/// ([`UsageOutcome::of`]). A token the store did not know counts with `token_id: None` (and
/// nothing of what was presented); a token the store knew (expired, revoked, out of scope)
/// counts for its id (a store that assigns no ids: with `token_id: None` too).
///
/// # What can be lost, and memory
///
/// - **A crash loses the counts of one flush interval** at most in normal operation: those
///   made since the last flush (and any the log refused meanwhile, below). Counts are in the
///   log once [`flush`](Self::flush) returns `true`. [`shutdown`](Self::shutdown), or
///   dropping every handle (the layer's hook holds one), flushes what is left.
/// - **Nothing is counted twice**: the shards are emptied as they are taken, and a batch
///   is added in one transaction, all or nothing. (A log whose commit succeeds but reports a
///   failure, such as a connection lost at that moment, has the batch added again.)
/// - **A failed flush keeps its counts** and offers them again at the next interval. While the
///   log is down, counters wait, one per token, outcome and bucket; at most
///   [`max_pending`](UsageCounterBuilder::max_pending) of them (100 000 by default, a few
///   tens of MiB). Past that, the oldest *minute* counters are given up
///   ([`UsageStats::given_up`]): their requests stay counted in their hour and day counters.
///
/// # Retention
///
/// The counter's task purges counters past their [`Retention`] once an hour (by default,
/// minutes after 2 days, hours after 90 days, days after 2 years).
///
/// # Cost
///
/// Through `on_outcome`, an admitted request keeps only its principal (a reference count) until
/// its answer. A request takes one uncontended lock of a shard picked by its thread and adds 1 to a slot
/// (for the same token, outcome and minute as the shard's previous request, without hashing).
/// It does not read the clock: the counter's task keeps the current minute, set as each minute
/// starts (one count in 64 on a shard checks it against the clock, for a late task), so a
/// request in the first moments of a minute may be counted in the minute before; with a
/// manual clock, every count reads it.
/// Measured in `benches/overhead.rs` (`memory_usage_counted`, BENCHMARKS.md).
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::BearerAuthLayer;
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer_manage::{AuditWriter, UsageCounter};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let usage = UsageCounter::builder(MemoryTokenStore::new())
///     .flush_interval(Duration::from_secs(5))
///     .build();
/// let audit = AuditWriter::builder().spawn(MemoryTokenStore::new());
/// // Both see every request: the audit log its events, the counter its outcomes.
/// let layer = BearerAuthLayer::new(MemoryTokenStore::new())
///     .on_event(audit.request_hook())
///     .on_outcome(usage.outcome_hook());
/// // ... serve; then, on the way out:
/// usage.shutdown().await;
/// audit.shutdown().await;
/// # }
/// ```
#[derive(Clone)]
pub struct UsageCounter {
    shards: Arc<Shards>,
    minute: Arc<RecentMinute>,
    control: mpsc::UnboundedSender<Control>,
    counters: Arc<Counters>,
}

/// Configures a [`UsageCounter`].
#[must_use = "build() starts the counter"]
pub struct UsageCounterBuilder<L> {
    log: L,
    flush_interval: Duration,
    batch_size: usize,
    max_pending: usize,
    retention: Retention,
    clock: Clock,
}

impl UsageCounter {
    /// A counter adding to `log`, to configure.
    pub fn builder<L: UsageLog>(log: L) -> UsageCounterBuilder<L> {
        UsageCounterBuilder {
            log,
            flush_interval: Duration::from_secs(10),
            batch_size: 500,
            max_pending: 100_000,
            retention: Retention::default(),
            clock: Clock::system(),
        }
    }

    /// A hook for `BearerAuthLayer::on_outcome`: counts every request's outcome. An
    /// [`AuditWriter`](crate::AuditWriter) goes in `on_event` beside it (see
    /// [`UsageCounter`]).
    pub fn outcome_hook(&self) -> impl Fn(UsageOutcome, Option<&Principal>) + Send + Sync + 'static {
        let counter = self.clone();
        move |outcome, principal| counter.count(outcome, principal)
    }

    /// Counts one request of `principal`'s (`None`: a token the store did not know) with
    /// `outcome` (see "What is counted" above).
    #[inline]
    pub fn count(&self, outcome: UsageOutcome, principal: Option<&Principal>) {
        self.shards.add(principal, outcome, &self.minute);
    }

    /// Waits until every count made before this call was offered to the log. `true` if the
    /// log took them all, `false` if it refused some (they are kept, and offered again at the
    /// next interval) or the counter has stopped.
    pub async fn flush(&self) -> bool {
        let (done, wait) = oneshot::channel();
        self.control.send(Control::Flush(done)).is_ok() && wait.await.unwrap_or(false)
    }

    /// Flushes and stops the counter for every clone: counts made later are never added.
    /// Call it on graceful shutdown. `true` if the log took every count.
    pub async fn shutdown(self) -> bool {
        let (done, wait) = oneshot::channel();
        self.control.send(Control::Stop(done)).is_ok() && wait.await.unwrap_or(false)
    }

    /// The counter's figures.
    #[must_use]
    pub fn stats(&self) -> UsageStats {
        let c = &self.counters;
        UsageStats {
            pending: c.pending.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            failed_flushes: c.failed.load(Ordering::Relaxed),
            given_up: c.given_up.load(Ordering::Relaxed),
        }
    }
}

impl<L: UsageLog> UsageCounterBuilder<L> {
    /// How often counts are added to the log (default 10 s, at least 1 ms): the most a crash
    /// loses.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// At most this many counters per [`UsageLog::add_usage`] call, one transaction each
    /// (default 500, at least 1).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// At most this many counters wait for a log that refuses them (default 100 000, at
    /// least 1 000): past that, the oldest minute counters are given up (see
    /// [`UsageCounter`], "What can be lost").
    pub fn max_pending(mut self, counters: usize) -> Self {
        self.max_pending = counters.max(1_000);
        self
    }

    /// How long counters of each granularity are kept in the log (see [`Retention`]).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// The clock that puts requests in their minute and decides retention (a manual one in
    /// tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The counter, its task spawned on the current tokio runtime.
    pub fn build(self) -> UsageCounter {
        let (control, control_rx) = mpsc::unbounded_channel();
        let shards = Arc::new(Shards::new());
        let counters = Arc::new(Counters::default());
        let minute = Arc::new(RecentMinute::new(self.clock.clone()));
        let task = Task {
            minute: minute.clone(),
            log: self.log,
            shards: shards.clone(),
            control: control_rx,
            pending: Pending::new(self.max_pending),
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            retention: self.retention,
            clock: self.clock.clone(),
            counters: counters.clone(),
            next_purge: None,
        };
        tokio::spawn(task.run());
        UsageCounter { shards, minute, control, counters }
    }
}

impl<L> fmt::Debug for UsageCounterBuilder<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageCounterBuilder")
            .field("flush_interval", &self.flush_interval)
            .field("batch_size", &self.batch_size)
            .field("max_pending", &self.max_pending)
            .field("retention", &self.retention)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for UsageCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageCounter").field("stats", &self.stats()).finish_non_exhaustive()
    }
}
