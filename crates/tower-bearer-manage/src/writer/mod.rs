//! [`AuditWriter`]: audit events off the request path, into an [`AuditLog`] in batches, within
//! a memory cap.

mod budget;
mod buffers;
mod context;
mod drain;
mod entry;
mod kept;
mod recent;
mod ring;
mod stats;
mod task;
#[cfg(test)]
mod testing;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tower_bearer::Clock;
use tower_bearer::manage::LifecycleEvent;
use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog};
use tower_bearer::middleware::{AuthEvent, Outcome};

use self::budget::{Budget, DEFAULT_MAX_BYTES, MIN_MAX_BYTES};
use self::buffers::{Buffers, lock};
use self::entry::{RequestOutcome, method_code};
use self::kept::{MAX_METHOD_BYTES, MAX_PATH_BYTES, OTHER_PATH, kept};
use self::recent::RecentTime;
pub use self::stats::{AuditDrops, AuditStats};
use self::task::{Control, Counters, DropHook, Reports, Task, Timekeeping};
use crate::leaks::LeakReport;

/// How many paths of requests that name no known token are kept between two drains, by
/// default.
const DEFAULT_UNAUTHENTICATED_PATHS: usize = 1024;

/// Writes audit events to an [`AuditLog`] off the request path, holding at most
/// [`max_bytes`](AuditWriterBuilder::max_bytes) of memory. Recording a request's outcome
/// appends 16 bytes to the recording thread's own ring with a plain store: no lock, no string
/// built, no task woken, no reference count taken (its principal, path and refusal reason are
/// written only when they differ from the thread's previous request; the event is made on the
/// writer's side). A task of its own empties the rings every
/// [`flush_interval`](AuditWriterBuilder::flush_interval) (1 s by default) and writes the
/// events in time order, in batches of up to [`batch_size`](AuditWriterBuilder::batch_size)
/// (100). A failed write is retried with backoff (50 ms, doubling to 5 s), the batch kept;
/// [`shutdown`](Self::shutdown) writes what is left.
///
/// # Memory, and what is dropped
///
/// Everything the writer holds counts against its cap
/// ([`max_bytes`](AuditWriterBuilder::max_bytes), 8 MiB by default): the threads' rings (a
/// first ring of 1 024 entries, 16 KiB, then rings twice as large up to 64 Ki entries), the
/// paths and whole events the entries point to, and the batch being written (an eighth of the
/// cap is kept for it, counted twice while a write is in flight: the batch and the copy handed
/// to the log). The figures are the writer's own estimates of its allocations
/// ([`AuditStats::held_bytes`]); principals are the store's, shared, and not counted, nor are
/// a few hundred bytes of bookkeeping per thread.
///
/// - While the log is down, or slower than the traffic, events wait in the rings, 16 bytes a
///   request while paths repeat. Once the cap is reached, **new events are dropped**, never
///   the ones held: the oldest are written first when the log is back. Drops are counted
///   ([`AuditStats::dropped`]) and reported to [`on_drop`](AuditWriterBuilder::on_drop), off
///   the request path, at most once per flush interval.
/// - What a client chooses is kept bounded: a path to 256 bytes and a method of the
///   application's own to 32 (cut at a character boundary, ending in `…`). Requests that name
///   no known token (anyone can send them) keep at most
///   [`unauthenticated_paths`](AuditWriterBuilder::unauthenticated_paths) path strings
///   between two drains (1 024); the others are recorded with the path `<other>`, so that a
///   flood of made-up paths costs 16 bytes a request, not a string each.
/// - What is recorded after [`shutdown`](Self::shutdown) is dropped.
/// - **A crash loses what the writer holds**: events not yet written, up to a flush interval
///   of them in normal operation, everything held while the log was down. Events are in the
///   log once [`flush`](Self::flush) returns.
///
/// # One event per request
///
/// The layer reports each request once, when it is answered: a request it admitted and a
/// check behind it then refused ([`RequireScopesLayer`](tower_bearer::RequireScopesLayer), the limit
/// layers, a handler's `AuthError`) comes as that refusal alone. The writer records each event
/// it is given, so an audit log has one entry per request.
///
/// Request events are stamped to the millisecond from the coarse clock (which moves once per
/// kernel tick, 1 to 4 ms): while requests arrive, the task reads it every millisecond for
/// them, so that a request does not; one request in 64 on a thread checks that time against
/// the clock and corrects it when it lags by more than 5 ms (a runtime too busy to run the
/// task on time). With a manual [`Clock`](AuditWriterBuilder::clock), every event reads it.
///
/// Feed it from the layer ([`request_hook`](Self::request_hook) into
/// `BearerAuthLayer::on_event`) and, for a store that does not record its tokens' lifecycle
/// itself (the memory store), from the store ([`lifecycle_hook`](Self::lifecycle_hook) into
/// its builder's `on_lifecycle_event`). The SQL store writes each lifecycle event in the
/// transaction that makes the change (its `audit_lifecycle`, on by default): never batched,
/// never lost in a crash. When the log is a store opened after the writer, build the writer
/// first and [`start`](Self::start) it once the store is open. Cheap to clone (the clones
/// share the task).
///
/// ```
/// use tower_bearer::BearerAuthLayer;
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer_manage::AuditWriter;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let log = MemoryTokenStore::new();
/// let audit = AuditWriter::builder()
///     .max_bytes(16 << 20)
///     .on_drop(|drops| eprintln!("audit: {} events dropped ({} in all)", drops.count, drops.total))
///     .spawn(log.clone());
/// let store = MemoryTokenStore::builder().on_lifecycle_event(audit.lifecycle_hook()).build();
/// let layer = BearerAuthLayer::new(store).on_event(audit.request_hook());
/// // ... serve; then, on the way out:
/// audit.shutdown().await;
/// # }
/// ```
#[derive(Clone)]
pub struct AuditWriter {
    buffers: Arc<Buffers>,
    recent: Arc<RecentTime>,
    control: mpsc::UnboundedSender<Control>,
    clock: Clock,
    counters: Arc<Counters>,
    /// What the task needs, until [`start`](Self::start) hands it over.
    unstarted: Arc<Mutex<Option<Unstarted>>>,
}

struct Unstarted {
    control: mpsc::UnboundedReceiver<Control>,
    batch_size: usize,
    flush_interval: Duration,
    on_drop: Option<DropHook>,
}

/// Configures an [`AuditWriter`].
#[must_use = "spawn(log) starts the writer"]
pub struct AuditWriterBuilder {
    batch_size: usize,
    flush_interval: Duration,
    clock: Clock,
    max_bytes: usize,
    unauthenticated_paths: usize,
    on_drop: Option<DropHook>,
}

impl AuditWriter {
    /// A writer, to configure.
    pub fn builder() -> AuditWriterBuilder {
        AuditWriterBuilder {
            batch_size: 100,
            flush_interval: Duration::from_secs(1),
            clock: Clock::system(),
            max_bytes: DEFAULT_MAX_BYTES,
            unauthenticated_paths: DEFAULT_UNAUTHENTICATED_PATHS,
            on_drop: None,
        }
    }

    /// Starts writing to `log` (within a tokio runtime): for a writer made with
    /// [`AuditWriterBuilder::build`], whose hooks were needed before the log existed (the
    /// store that is the log takes the writer's lifecycle hook when it is built). Events
    /// recorded before wait in their threads' buffers, within the writer's cap. Returns
    /// `false` if the writer was started already.
    pub fn start<L: AuditLog>(&self, log: L) -> bool {
        let unstarted = lock(&self.unstarted).take();
        let Some(Unstarted { control, batch_size, flush_interval, on_drop }) = unstarted else {
            return false;
        };
        let task = Task {
            log,
            buffers: self.buffers.clone(),
            recent: self.recent.clone(),
            control,
            batch_size,
            flush_interval,
            counters: self.counters.clone(),
            keeps_time: (!self.clock.is_manual()).then(|| self.clock.clone()),
            on_drop,
            reports: Reports::default(),
            timekeeping: Timekeeping::default(),
        };
        tokio::spawn(task.run());
        true
    }

    /// Records `event` (never blocks on the writer, never fails: with no room left under the
    /// cap, the event is dropped and counted).
    pub fn record(&self, event: AuditEvent) {
        self.buffers.record_event(event);
    }

    /// Records `events`, in order.
    pub fn record_all(&self, events: Vec<AuditEvent>) {
        for event in events {
            self.record(event);
        }
    }

    /// A hook for `BearerAuthLayer::on_event`: every request's outcome, as an event (one per
    /// request: see "One event per request" above).
    pub fn request_hook(&self) -> impl Fn(&AuthEvent<'_>) + Send + Sync + 'static {
        let writer = self.clone();
        move |event| {
            let refused = match event.outcome {
                Outcome::Rejected { error, .. } => Some((error.status().as_u16(), error.reason())),
                _ => None,
            };
            let at_ms = writer.recent.stamp(&writer.clock);
            let Some(method) = method_code(event.method) else {
                // A method of the application's own: rare, so recorded whole.
                return writer.record_rare_request(event, at_ms, refused);
            };
            let principal = event.principal();
            let outcome = RequestOutcome { at_ms, principal, path: event.path, method, refused };
            writer.buffers.record_request(&outcome);
        }
    }

    /// Records a request whose method has no code, as a whole event: its method and path
    /// kept bounded as a coded request's are.
    #[cold]
    fn record_rare_request(&self, event: &AuthEvent<'_>, at_ms: u64, refused: Option<(u16, &str)>) {
        let principal = event.principal();
        let path = if principal.is_none() && !self.buffers.keep_unauthenticated_path() {
            OTHER_PATH.into()
        } else {
            kept(event.path, MAX_PATH_BYTES)
        };
        let method = kept(event.method.as_str(), MAX_METHOD_BYTES);
        let at = UNIX_EPOCH + Duration::from_millis(at_ms);
        self.record(AuditEvent::of_request_parts(at, &method, &path, principal, refused));
    }

    /// A hook for a store builder's `on_lifecycle_event`: issues, rotations, revocations,
    /// deletions and purges, as events, batched like requests' (a crash loses what is held).
    /// Not for a SQL store with `audit_lifecycle` on: it records them itself, durably.
    pub fn lifecycle_hook(&self) -> impl Fn(&LifecycleEvent) + Send + Sync + 'static {
        let writer = self.clone();
        move |event| writer.record_all(AuditEvent::of_lifecycle(event, writer.clock.now()))
    }

    /// A hook for [`LeakedTokenEndpoint::on_leak`](crate::LeakedTokenEndpoint::on_leak): a
    /// `token.leaked` event for every token a secret scanner found (its reason: where, and
    /// whether it was revoked now).
    pub fn leak_hook(&self) -> impl Fn(&LeakReport) + Send + Sync + 'static {
        let writer = self.clone();
        move |leak| {
            let mut event = AuditEvent::new(AuditKind::Leaked, writer.clock.now());
            event.token_id = leak.token_id.clone();
            event.subject = Some(leak.subject.clone());
            event.organization = leak.organization.clone();
            let found = leak.url.as_deref().unwrap_or("an undisclosed place");
            let state = if leak.revoked { "revoked now" } else { "already revoked or expired" };
            writer.record(event.with_reason(format!("found at {found}; {state}")));
        }
    }

    /// Waits until every event recorded before this call is written (the writer retries a
    /// failing log meanwhile). Returns `false` if the writer has stopped.
    pub async fn flush(&self) -> bool {
        let (done, wait) = oneshot::channel();
        self.control.send(Control::Flush(done)).is_ok() && wait.await.is_ok()
    }

    /// Writes what is left and stops the writer for every clone (events recorded later are
    /// dropped, and counted). Call it on graceful shutdown; it waits as long as the log
    /// refuses writes (bound it with a timeout if the log may be gone for good). Returns
    /// `false` if the writer had stopped already.
    pub async fn shutdown(self) -> bool {
        let (done, wait) = oneshot::channel();
        self.control.send(Control::Stop(done)).is_ok() && wait.await.is_ok()
    }

    /// The writer's counters.
    #[must_use]
    pub fn stats(&self) -> AuditStats {
        let c = &self.counters;
        let pending = self.buffers.events_waiting() as u64 + c.writing.load(Ordering::Relaxed);
        AuditStats {
            pending,
            written: c.written.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            dropped: self.buffers.dropped(),
            held_bytes: self.buffers.budget().held() as u64,
        }
    }
}

impl AuditWriterBuilder {
    /// At most this many events per write (at least 1; default 100).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// How often queued events are written (default 1 s): how long an event may wait (and
    /// 20 ms more, for the refusals behind the layer to come in: see [`AuditWriter`]).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The clock that stamps request and lifecycle events (the store's, in tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The most memory the writer holds, in bytes (default 8 MiB, at least 64 KiB): its
    /// rings, what they point to and the batch being written, by its own accounting (see
    /// [`AuditWriter`], "Memory, and what is dropped"). Once it holds that much, new events
    /// are dropped and counted until the log has taken some.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(MIN_MAX_BYTES);
        self
    }

    /// How many path strings of requests that name no known token (missing, malformed or
    /// unknown tokens: requests anyone can send) are kept between two drains of the rings
    /// (default 1 024); the others are recorded with the path `<other>`. A thread's
    /// consecutive requests to one path share a string.
    pub fn unauthenticated_paths(mut self, paths: usize) -> Self {
        self.unauthenticated_paths = paths;
        self
    }

    /// Calls `hook` with the number of events dropped since its last call (see
    /// [`AuditDrops`]): from the writer's task, never on the request path, at most once per
    /// flush interval, while drops happen (during a log outage too, between retries).
    pub fn on_drop(mut self, hook: impl Fn(&AuditDrops) + Send + Sync + 'static) -> Self {
        self.on_drop = Some(Arc::new(hook));
        self
    }

    /// The writer, not started: its hooks work at once (events wait in their threads' buffers) and
    /// [`AuditWriter::start`] gives it its log.
    pub fn build(self) -> AuditWriter {
        let (control, control_rx) = mpsc::unbounded_channel();
        let unstarted = Unstarted {
            control: control_rx,
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            on_drop: self.on_drop,
        };
        let budget = Arc::new(Budget::new(self.max_bytes));
        AuditWriter {
            buffers: Arc::new(Buffers::new(budget, self.unauthenticated_paths)),
            recent: Arc::default(),
            control,
            clock: self.clock,
            counters: Arc::new(Counters::default()),
            unstarted: Arc::new(Mutex::new(Some(unstarted))),
        }
    }

    /// The writer, writing to `log` (within a tokio runtime).
    pub fn spawn<L: AuditLog>(self, log: L) -> AuditWriter {
        let writer = self.build();
        writer.start(log);
        writer
    }
}

impl fmt::Debug for AuditWriterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditWriterBuilder")
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("clock", &self.clock)
            .field("max_bytes", &self.max_bytes)
            .field("unauthenticated_paths", &self.unauthenticated_paths)
            .field("on_drop", &self.on_drop.is_some())
            .finish()
    }
}

impl fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditWriter").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tower_bearer::manage::audit::AuditQuery;
    use tower_bearer::{MemoryTokenStore, TokenId};

    use super::*;

    #[tokio::test]
    async fn a_leak_is_an_audit_event_naming_where_it_was_found() {
        let log = MemoryTokenStore::new();
        let audit = AuditWriter::builder().spawn(log.clone());
        let report = LeakReport {
            token_id: Some(TokenId::from("tid_leaked")),
            subject: "ada".into(),
            organization: Some("acme".into()),
            url: Some("https://github.com/acme/app/blob/main/.env".into()),
            source: Some("content".into()),
            revoked: true,
        };
        audit.leak_hook()(&report);
        assert!(audit.flush().await);
        let page = log.audit_page(&AuditQuery::new()).await.unwrap();
        let event = &page.items[0].event;
        assert_eq!(event.kind, AuditKind::Leaked);
        assert_eq!(event.token_id, Some(TokenId::from("tid_leaked")));
        assert_eq!(
            event.reason.as_deref(),
            Some("found at https://github.com/acme/app/blob/main/.env; revoked now")
        );
    }
}
