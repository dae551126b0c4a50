//! The writer's task: empties the threads' rings every interval and writes the events to the
//! log in batches, retrying a failing log with backoff; reports the events it had to drop;
//! while requests arrive, it also keeps the recent time they are stamped with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tower_bearer::Clock;
use tower_bearer::manage::audit::{AuditEvent, AuditLog};

use super::buffers::Buffers;
use super::recent::RecentTime;
use super::stats::AuditDrops;

const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often the recent time is refreshed while requests arrive. The coarse clock it is read
/// from moves once per kernel tick (1 to 4 ms) anyway.
const TICK: Duration = Duration::from_millis(1);

/// Ticks without a new entry after which the recent time is no longer kept (requests then read
/// the clock themselves, and ask for it again).
const IDLE_TICKS: u32 = 100;

/// The application's hook for drops.
pub(super) type DropHook = Arc<dyn Fn(&AuditDrops) + Send + Sync>;

/// What a writer handle asks of its task.
pub(super) enum Control {
    /// Answered once everything recorded before it is written.
    Flush(oneshot::Sender<()>),
    /// Write what is left and end.
    Stop(oneshot::Sender<()>),
}

/// The task's counters, read by [`AuditWriter::stats`](super::AuditWriter::stats).
#[derive(Default)]
pub(super) struct Counters {
    pub(super) written: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) retries: AtomicU64,
    /// Events of the batch being written.
    pub(super) writing: AtomicU64,
}

pub(super) struct Task<L> {
    pub(super) log: L,
    pub(super) buffers: Arc<Buffers>,
    pub(super) recent: Arc<RecentTime>,
    pub(super) control: mpsc::UnboundedReceiver<Control>,
    pub(super) batch_size: usize,
    pub(super) flush_interval: Duration,
    pub(super) counters: Arc<Counters>,
    /// The clock the recent time is read from; `None` for a manual clock, which requests read
    /// themselves so that a test's clock is followed exactly.
    pub(super) keeps_time: Option<Clock>,
    pub(super) on_drop: Option<DropHook>,
    pub(super) reports: Reports,
    pub(super) timekeeping: Timekeeping,
}

/// What was last reported to the drop hook, and when.
#[derive(Default)]
pub(super) struct Reports {
    reported: u64,
    at: Option<Instant>,
    /// The drops counted in the metrics so far.
    recorded: u64,
}

/// Whether the task keeps the recent time now, and how long nothing has arrived.
#[derive(Default)]
pub(super) struct Timekeeping {
    ticking: bool,
    idle_ticks: u32,
    entries_seen: usize,
}

impl<L: AuditLog> Task<L> {
    pub(super) async fn run(mut self) {
        let mut next_drain = Instant::now() + self.flush_interval;
        loop {
            let until_drain = next_drain.saturating_duration_since(Instant::now());
            let wait = if self.timekeeping.ticking { until_drain.min(TICK) } else { until_drain };
            let control = match tokio::time::timeout(wait, self.control.recv()).await {
                Ok(Some(control)) => Some(control),
                // Every writer handle is gone: write what is left, and end.
                Ok(None) => {
                    self.drain().await;
                    return;
                }
                Err(_) => None,
            };
            self.keep_time();
            if control.is_none() && Instant::now() < next_drain {
                continue;
            }
            // Everything recorded before a flush or stop was asked for is in a ring now.
            self.drain().await;
            next_drain = Instant::now() + self.flush_interval;
            match control {
                Some(Control::Flush(done)) => {
                    // The caller may have stopped waiting: nothing to tell then.
                    let _ = done.send(());
                }
                Some(Control::Stop(done)) => {
                    self.buffers.stop();
                    self.recent.set(0);
                    let _ = done.send(());
                    return;
                }
                None => {}
            }
        }
    }

    /// Refreshes the recent time while entries arrive; stops after [`IDLE_TICKS`] without
    /// one, and starts again once a request asked for it.
    fn keep_time(&mut self) {
        let Some(clock) = &self.keeps_time else { return };
        let state = &mut self.timekeeping;
        if !state.ticking {
            if !self.recent.take_wanted() {
                return;
            }
            *state = Timekeeping { ticking: true, idle_ticks: 0, entries_seen: usize::MAX };
        }
        // A drain empties the rings: any change of the count means new entries (or a drain
        // of them, which is as good).
        let seen = self.buffers.entries_waiting();
        if seen == state.entries_seen {
            state.idle_ticks += 1;
        } else {
            state.idle_ticks = 0;
        }
        state.entries_seen = seen;
        if state.idle_ticks >= IDLE_TICKS {
            state.ticking = false;
            self.recent.set(0);
        } else {
            self.recent.set(clock.coarse_unix_millis());
        }
    }

    /// Writes everything recorded so far, in time order, a batch at a time: the rings hold
    /// the rest meanwhile, in their compact form.
    async fn drain(&mut self) {
        if self.buffers.begin_drain() == 0 {
            self.report_drops();
            return;
        }
        loop {
            let (batch, bytes) = self.buffers.take_batch(self.batch_size);
            if batch.is_empty() {
                break;
            }
            self.write(batch, bytes).await;
        }
        self.report_drops();
    }

    /// Writes `batch` (which holds `bytes` of the budget), retrying with backoff until the
    /// log takes it; drops are reported meanwhile.
    async fn write(&mut self, batch: Vec<AuditEvent>, bytes: usize) {
        let count = batch.len() as u64;
        self.counters.writing.store(count, Ordering::Relaxed);
        let mut backoff = INITIAL_BACKOFF;
        while self.log.append(batch.clone()).await.is_err() {
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            self.report_drops();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        drop(batch);
        self.buffers.budget().release(bytes);
        self.counters.writing.store(0, Ordering::Relaxed);
        self.counters.written.fetch_add(count, Ordering::Relaxed);
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// Tells the drop hook how many events were dropped since it was last told, at most once
    /// per flush interval.
    fn report_drops(&mut self) {
        self.record_metrics();
        let Some(hook) = &self.on_drop else { return };
        let total = self.buffers.dropped();
        let now = Instant::now();
        let reports = &mut self.reports;
        if total == reports.reported || reports.at.is_some_and(|at| now < at + self.flush_interval) {
            return;
        }
        let drops = AuditDrops { count: total - reports.reported, total };
        (reports.reported, reports.at) = (total, Some(now));
        hook(&drops);
    }

    /// Records the backlog and the drops, once per drain and per retry of a failing write:
    /// the backlog is a sample taken as often as the writer wakes.
    fn record_metrics(&mut self) {
        if !cfg!(feature = "metrics") {
            return;
        }
        let backlog = self.buffers.events_waiting() as u64 + self.counters.writing.load(Ordering::Relaxed);
        let total = self.buffers.dropped();
        crate::monitoring::audit(backlog, total.saturating_sub(self.reports.recorded));
        self.reports.recorded = total;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use tower_bearer::MemoryTokenStore;

    use super::super::entry::RequestOutcome;
    use super::*;

    fn spawn(keeps_time: Option<Clock>) -> (Arc<Buffers>, Arc<RecentTime>, mpsc::UnboundedSender<Control>) {
        let budget = Arc::new(super::super::budget::Budget::new(1 << 20));
        let buffers = Arc::new(Buffers::new(budget, 1024));
        let recent = Arc::new(RecentTime::default());
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = Task {
            log: MemoryTokenStore::new(),
            buffers: buffers.clone(),
            recent: recent.clone(),
            control: control_rx,
            batch_size: 100,
            flush_interval: Duration::from_secs(1),
            counters: Arc::default(),
            keeps_time,
            on_drop: None,
            reports: Reports::default(),
            timekeeping: Timekeeping::default(),
        };
        tokio::spawn(task.run());
        (buffers, recent, control)
    }

    fn now_ms() -> u64 {
        u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis())
            .expect("before 2554")
    }

    #[tokio::test(start_paused = true)]
    async fn the_recent_time_is_kept_while_requests_arrive_and_dropped_when_they_stop() {
        let clock = Clock::system();
        let (buffers, recent, _control) = spawn(Some(clock.clone()));
        recent.stamp(&clock);
        assert_eq!(recent.get(), None, "asked for, not kept yet");
        // The task sees the request at its next wake (the flush interval at most).
        tokio::time::sleep(Duration::from_millis(1_001)).await;
        let kept = recent.get().expect("kept now");
        assert!(now_ms().abs_diff(kept) < 1_000, "the clock's time: {kept}");
        // Requests keep it going (one a millisecond of tokio's paused clock) ...
        for at_ms in 0..300 {
            let outcome = RequestOutcome { at_ms, principal: None, path: "/", method: 0, refused: None };
            buffers.record_request(&outcome);
            tokio::time::sleep(TICK).await;
        }
        assert!(recent.get().is_some());
        // ... and once none has come for IDLE_TICKS ticks, requests read the clock again.
        tokio::time::sleep(TICK * (IDLE_TICKS + 5)).await;
        assert_eq!(recent.get(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_manual_clock_requests_read_it_themselves() {
        let clock = Clock::manual(UNIX_EPOCH);
        let (_buffers, recent, _control) = spawn(None);
        recent.stamp(&clock);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(recent.get(), None);
    }
}
