//! The counter's task: every interval, takes the shards' counts, adds them to the log in
//! batches (a failed batch stays pending for the next interval), and purges counters past
//! their retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tower_bearer::Clock;
use tower_bearer::manage::usage::{Granularity, UsageLog};

use super::pending::Pending;
use super::retention::Retention;
use super::shards::Shards;

/// How often counters past their retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3_600);

/// What a counter handle asks of its task.
pub(super) enum Control {
    /// Answered (`true` if nothing is left pending) once every count made before it was
    /// offered to the log.
    Flush(oneshot::Sender<bool>),
    /// Flush, and end.
    Stop(oneshot::Sender<bool>),
}

/// The task's counters, read by [`UsageCounter::stats`](super::UsageCounter::stats).
#[derive(Default)]
pub(super) struct Counters {
    pub(super) pending: AtomicU64,
    pub(super) written: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) given_up: AtomicU64,
}

pub(super) struct Task<L> {
    pub(super) log: L,
    pub(super) shards: Arc<Shards>,
    pub(super) control: mpsc::UnboundedReceiver<Control>,
    pub(super) pending: Pending,
    pub(super) batch_size: usize,
    pub(super) flush_interval: Duration,
    pub(super) retention: Retention,
    pub(super) clock: Clock,
    pub(super) counters: Arc<Counters>,
    pub(super) next_purge: Option<SystemTime>,
}

impl<L: UsageLog> Task<L> {
    pub(super) async fn run(mut self) {
        let mut next_flush = Instant::now() + self.flush_interval;
        loop {
            let control = match tokio::time::timeout_at(next_flush, self.control.recv()).await {
                Ok(Some(control)) => Some(control),
                // Every handle is gone: flush what is left, and end.
                Ok(None) => {
                    self.flush().await;
                    return;
                }
                Err(_) => None,
            };
            next_flush = Instant::now() + self.flush_interval;
            let flushed = self.flush().await;
            self.purge().await;
            match control {
                // The caller may have stopped waiting: nothing to tell then.
                Some(Control::Flush(done)) => {
                    let _ = done.send(flushed);
                }
                Some(Control::Stop(done)) => {
                    let _ = done.send(flushed);
                    return;
                }
                None => {}
            }
        }
    }

    /// Takes the shards' counts and adds every pending counter to the log, a batch (one
    /// transaction) at a time; stops at the first failure, keeping what is left for the next
    /// interval. `true` if nothing is left.
    async fn flush(&mut self) -> bool {
        let given_up = self.pending.add(self.shards.take());
        self.counters.given_up.fetch_add(given_up, Ordering::Relaxed);
        let mut flushed = true;
        while self.pending.len() > 0 {
            let batch = self.pending.batch(self.batch_size);
            if self.log.add_usage(batch.clone()).await.is_err() {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                flushed = false;
                break;
            }
            self.pending.written(&batch);
            self.counters.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        self.counters.pending.store(self.pending.len() as u64, Ordering::Relaxed);
        flushed
    }

    /// Drops the counters past their retention, at most once per [`PURGE_EVERY`] (a failed
    /// purge is tried again at the next interval).
    async fn purge(&mut self) {
        let now = self.clock.now();
        if self.next_purge.is_some_and(|next| now < next) {
            return;
        }
        for granularity in Granularity::ALL {
            let before = granularity.bucket(now).checked_sub(self.retention.of(granularity));
            let Some(before) = before else { continue };
            if self.log.purge_usage(granularity, before).await.is_err() {
                return;
            }
        }
        self.next_purge = Some(now + PURGE_EVERY);
    }
}
