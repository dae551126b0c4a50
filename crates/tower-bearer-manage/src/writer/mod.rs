//! [`AuditWriter`]: audit events off the request path, into an [`AuditLog`] in batches.

mod buffers;
mod entry;
mod recent;
mod task;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tower_bearer::Clock;
use tower_bearer::manage::LifecycleEvent;
use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog};
use tower_bearer::middleware::{AuthEvent, Outcome};

use self::buffers::{Buffers, lock};
use self::entry::{RequestOutcome, method_code};
use self::recent::RecentTime;
use self::task::{Control, Counters, Task};
use crate::leaks::LeakReport;

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

/// Writes audit events to an [`AuditLog`] off the request path. Recording a request's outcome
/// appends 16 bytes to the recording thread's own ring with a plain store: no lock, no string
/// built, no task woken, no reference count taken (its principal, path and refusal reason are
/// written only when they differ from the thread's previous request; the event is made on the
/// writer's side). A task of its own empties the rings every
/// [`flush_interval`](AuditWriterBuilder::flush_interval) (1 s by default) and writes the
/// events in time order, in batches of up to [`batch_size`](AuditWriterBuilder::batch_size)
/// (100). A failed write is retried (with backoff, the batch kept), so nothing recorded is
/// lost while the process runs; [`shutdown`](Self::shutdown) writes what is left.
///
/// Request events are stamped to the millisecond from the coarse clock (which moves once per
/// kernel tick, 1 to 4 ms): while requests arrive, the task reads it every millisecond for
/// them, so that a request does not; one request in 64 on a thread checks that time against
/// the clock and corrects it when it lags by more than 5 ms (a runtime too busy to run the
/// task on time). With a manual [`Clock`](AuditWriterBuilder::clock), every event reads it.
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
            buffers: self.buffers.clone(),
            recent: self.recent.clone(),
            control,
            batch_size,
            flush_interval,
            counters: self.counters.clone(),
            keeps_time: (!self.clock.is_manual()).then(|| self.clock.clone()),
        };
        tokio::spawn(task.run());
        true
    }

    /// Records `event` (never blocks on the writer, never fails).
    pub fn record(&self, event: AuditEvent) {
        self.buffers.record_event(event);
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
            let at_ms = writer.recent.stamp(&writer.clock);
            let Some(method) = method_code(event.method) else {
                // A method of the application's own: rare, so recorded whole.
                return writer
                    .record(AuditEvent::of_request(event, UNIX_EPOCH + Duration::from_millis(at_ms)));
            };
            let outcome =
                RequestOutcome { at_ms, principal: event.principal(), path: event.path, method, refused };
            writer.buffers.record_request(&outcome);
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
    /// unwritten: at most one ring of them per thread is kept). Call it on graceful shutdown; it waits as long as the log refuses writes
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
        let pending = self.buffers.events_waiting();
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
            buffers: Arc::new(Buffers::new()),
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
