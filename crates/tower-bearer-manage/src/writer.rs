//! [`AuditWriter`]: audit events off the request path, into an [`AuditLog`] in batches.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use tokio::sync::{mpsc, oneshot};
use tower_bearer::manage::LifecycleEvent;
use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog};
use tower_bearer::middleware::{AuthEvent, Outcome};
use tower_bearer::{Clock, Principal};

use crate::leaks::LeakReport;

const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the request path leaves for the writer: no string is built there. The path is shared
/// with the thread's previous request when it is the same (most are).
struct RequestRecord {
    /// Milliseconds since the epoch (the coarse clock: a request pays no more).
    at_ms: u64,
    principal: Option<Principal>,
    method: Method,
    path: Arc<str>,
    /// The status and reason code of a refusal.
    refused: Option<(u16, &'static str)>,
}

impl RequestRecord {
    fn event(self) -> AuditEvent {
        let kind = if self.refused.is_some() { AuditKind::Rejected } else { AuditKind::Authenticated };
        let mut event = AuditEvent::new(kind, UNIX_EPOCH + Duration::from_millis(self.at_ms));
        if let Some(p) = &self.principal {
            event = event.with_principal(p);
        }
        if let Some((status, reason)) = self.refused {
            event.status = Some(status);
            event = event.with_reason(reason);
        }
        event.method = Some(self.method.as_str().to_owned());
        event.path = Some(self.path.as_ref().to_owned());
        event
    }
}

enum Pending {
    Event(AuditEvent),
    Request(RequestRecord),
}

impl Pending {
    fn at(&self) -> SystemTime {
        match self {
            Pending::Event(event) => event.at,
            Pending::Request(record) => UNIX_EPOCH + Duration::from_millis(record.at_ms),
        }
    }

    fn event(self) -> AuditEvent {
        match self {
            Pending::Event(event) => event,
            Pending::Request(record) => record.event(),
        }
    }
}

/// One thread's events for one writer: pushed under a lock only that thread and, once per
/// drain, the writer's task take (uncontended), so that a request moves no cache line between
/// cores.
type Shard = Arc<Mutex<Vec<Pending>>>;

/// Every shard of one writer, for its task to drain.
#[derive(Default)]
struct Shards(Mutex<Vec<Shard>>);

static NEXT_WRITER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The path of this thread's previous request, shared rather than copied again.
    static LAST_PATH: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    /// This thread's shard of each writer it has recorded for, by writer id.
    static SHARDS: RefCell<Vec<(u64, Shard)>> = const { RefCell::new(Vec::new()) };
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section leaves its vector whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn shared_path(path: &str) -> Arc<str> {
    LAST_PATH.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some(shared) if **shared == *path => shared.clone(),
            _ => {
                let shared: Arc<str> = Arc::from(path);
                *last = Some(shared.clone());
                shared
            }
        }
    })
}

enum Control {
    /// Answered once everything recorded before it is written.
    Flush(oneshot::Sender<()>),
    /// Write what is left and end.
    Stop(oneshot::Sender<()>),
}

/// Counters of an [`AuditWriter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditStats {
    /// Events waiting to be written.
    pub pending: u64,
    /// Events written to the log.
    pub written: u64,
    /// Writes to the log (one per batch).
    pub batches: u64,
    /// Writes that failed and were tried again.
    pub retries: u64,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
}

/// Writes audit events to an [`AuditLog`] off the request path. Recording an event is a push
/// onto the recording thread's own buffer: no string is built, no task woken and no cache
/// line taken from another core on the request path (a request's outcome keeps its
/// principal, a shared path, a static reason code and a coarse time stamp; the event is made
/// on the writer's side). A task of its own takes what has queued every
/// [`flush_interval`](AuditWriterBuilder::flush_interval) (1 s by default) and writes it in
/// batches of up to [`batch_size`](AuditWriterBuilder::batch_size) (100). A failed write is
/// retried (with backoff, the batch kept), so nothing recorded is lost while the process
/// runs; [`shutdown`](Self::shutdown) writes what is left.
///
/// Feed it from the layer ([`request_hook`](Self::request_hook) into
/// `BearerAuthLayer::on_event`) and from the store ([`lifecycle_hook`](Self::lifecycle_hook)
/// into its builder's `on_lifecycle_event`; when that store is also the log, build the
/// writer first and [`start`](Self::start) it once the store is open). Cheap to clone (the
/// clones share the task).
///
/// ```
/// use tower_bearer::BearerAuthLayer;
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer::manage::audit::MemoryAuditLog;
/// use tower_bearer_manage::AuditWriter;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let log = MemoryAuditLog::new();
/// let audit = AuditWriter::builder().spawn(log.clone());
/// let store = MemoryTokenStore::builder().on_lifecycle_event(audit.lifecycle_hook()).build();
/// let layer = BearerAuthLayer::new(store).on_event(audit.request_hook());
/// // ... serve; then, on the way out:
/// audit.shutdown().await;
/// # }
/// ```
#[derive(Clone)]
pub struct AuditWriter {
    id: u64,
    shards: Arc<Shards>,
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
}

/// Configures an [`AuditWriter`].
#[derive(Debug)]
#[must_use = "spawn(log) starts the writer"]
pub struct AuditWriterBuilder {
    batch_size: usize,
    flush_interval: Duration,
    clock: Clock,
}

impl AuditWriter {
    /// A writer, to configure.
    pub fn builder() -> AuditWriterBuilder {
        AuditWriterBuilder { batch_size: 100, flush_interval: Duration::from_secs(1), clock: Clock::system() }
    }

    /// Starts writing to `log` (within a tokio runtime): for a writer made with
    /// [`AuditWriterBuilder::build`], whose hooks were needed before the log existed (the
    /// store that is the log takes the writer's lifecycle hook when it is built). Events
    /// recorded before wait in their threads' buffers. Returns `false` if the writer was started already.
    pub fn start<L: AuditLog>(&self, log: L) -> bool {
        let unstarted = lock(&self.unstarted).take();
        let Some(Unstarted { control, batch_size, flush_interval }) = unstarted else {
            return false;
        };
        let task = Task {
            log,
            shards: self.shards.clone(),
            control,
            batch_size,
            flush_interval,
            counters: self.counters.clone(),
        };
        tokio::spawn(task.run());
        true
    }

    /// Records `event` (never blocks on the writer, never fails).
    pub fn record(&self, event: AuditEvent) {
        self.push(Pending::Event(event));
    }

    /// Appends to this thread's shard, registering it with the writer the first time.
    fn push(&self, pending: Pending) {
        SHARDS.with(|shards| {
            let mut shards = shards.borrow_mut();
            if let Some((_, shard)) = shards.iter().find(|(id, _)| *id == self.id) {
                lock(shard).push(pending);
                return;
            }
            let shard: Shard = Arc::new(Mutex::new(vec![pending]));
            lock(&self.shards.0).push(shard.clone());
            // Shards of writers gone since are dropped here (the writer's list held the other
            // reference).
            shards.retain(|(_, s)| Arc::strong_count(s) > 1);
            shards.push((self.id, shard));
        });
    }

    /// Records `events`, in order.
    pub fn record_all(&self, events: Vec<AuditEvent>) {
        for event in events {
            self.record(event);
        }
    }

    /// A hook for `BearerAuthLayer::on_event`: every request's outcome, as an event.
    pub fn request_hook(&self) -> impl Fn(&AuthEvent<'_>) + Send + Sync + 'static {
        let writer = self.clone();
        move |event| {
            let refused = match event.outcome {
                Outcome::Rejected { error, .. } => Some((error.status().as_u16(), error.reason())),
                _ => None,
            };
            writer.push(Pending::Request(RequestRecord {
                at_ms: writer.clock.coarse_unix_millis(),
                principal: event.principal().cloned(),
                method: event.method.clone(),
                path: shared_path(event.path),
                refused,
            }));
        }
    }

    /// A hook for a store builder's `on_lifecycle_event`: issues, rotations, revocations,
    /// deletions and purges, as events.
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

    /// Writes what is left and stops the writer for every clone (events recorded later stay
    /// unwritten). Call it on graceful shutdown; it waits as long as the log refuses writes
    /// (bound it with a timeout if the log may be gone for good). Returns `false` if the
    /// writer had stopped already.
    pub async fn shutdown(self) -> bool {
        let (done, wait) = oneshot::channel();
        self.control.send(Control::Stop(done)).is_ok() && wait.await.is_ok()
    }

    /// The writer's counters.
    #[must_use]
    pub fn stats(&self) -> AuditStats {
        let c = &self.counters;
        let pending: usize = lock(&self.shards.0).iter().map(|shard| lock(shard).len()).sum();
        AuditStats {
            pending: pending as u64,
            written: c.written.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }
}

impl AuditWriterBuilder {
    /// At most this many events per write (at least 1; default 100).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// How often queued events are written (default 1 s): how long an event may wait.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The clock that stamps request and lifecycle events (the store's, in tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
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
        };
        AuditWriter {
            id: NEXT_WRITER.fetch_add(1, Ordering::Relaxed),
            shards: Arc::default(),
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

struct Task<L> {
    log: L,
    shards: Arc<Shards>,
    control: mpsc::UnboundedReceiver<Control>,
    batch_size: usize,
    flush_interval: Duration,
    counters: Arc<Counters>,
}

impl<L: AuditLog> Task<L> {
    async fn run(mut self) {
        loop {
            let control = match tokio::time::timeout(self.flush_interval, self.control.recv()).await {
                Ok(Some(control)) => Some(control),
                // Every writer handle is gone: write what is left, and end.
                Ok(None) => {
                    self.drain().await;
                    return;
                }
                Err(_) => None,
            };
            // Everything recorded before a flush or stop was asked for is in a shard now.
            self.drain().await;
            match control {
                Some(Control::Flush(done)) => {
                    // The caller may have stopped waiting: nothing to tell then.
                    let _ = done.send(());
                }
                Some(Control::Stop(done)) => {
                    let _ = done.send(());
                    return;
                }
                None => {}
            }
        }
    }

    /// Writes everything recorded so far, in time order (each thread's events are in order;
    /// threads are merged by their stamps), in batches.
    async fn drain(&self) {
        let mut pending: Vec<Pending> = Vec::new();
        for shard in lock(&self.shards.0).iter() {
            pending.append(&mut lock(shard));
        }
        pending.sort_by_key(Pending::at);
        let mut pending = pending.into_iter().map(Pending::event).peekable();
        while pending.peek().is_some() {
            self.write(pending.by_ref().take(self.batch_size).collect()).await;
        }
    }

    /// Writes `batch`, retrying until the log takes it.
    async fn write(&self, batch: Vec<AuditEvent>) {
        let mut backoff = INITIAL_BACKOFF;
        while self.log.append(batch.clone()).await.is_err() {
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.counters.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditWriter").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tower_bearer::TokenId;
    use tower_bearer::manage::audit::{AuditQuery, MemoryAuditLog};

    use super::*;

    #[tokio::test]
    async fn a_leak_is_an_audit_event_naming_where_it_was_found() {
        let log = MemoryAuditLog::new();
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
        let event = &page.records[0].event;
        assert_eq!(event.kind, AuditKind::Leaked);
        assert_eq!(event.token_id, Some(TokenId::from("tid_leaked")));
        assert_eq!(
            event.reason.as_deref(),
            Some("found at https://github.com/acme/app/blob/main/.env; revoked now")
        );
    }
}
