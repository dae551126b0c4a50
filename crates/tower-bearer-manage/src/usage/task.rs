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

use super::minute::RecentMinute;
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
    pub(super) minute: Arc<RecentMinute>,
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
            // Awake as each minute starts too, to move the requests' minute on.
            let wake = next_flush.min(Instant::now() + self.minute.until_next());
            let control = match tokio::time::timeout_at(wake, self.control.recv()).await {
                Ok(Some(control)) => Some(control),
                // Every handle is gone: flush what is left, and end.
                Ok(None) => {
                    self.flush().await;
                    return;
                }
                Err(_) => {
                    self.minute.refresh();
                    if Instant::now() < next_flush {
                        continue;
                    }
                    None
                }
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
        crate::monitoring::usage_backlog(self.pending.len() as u64);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::UNIX_EPOCH;

    use tower_bearer::manage::usage::{UsageCount, UsageOutcome, UsageQuery};
    use tower_bearer::{MemoryTokenStore, Principal, StoreError};

    use super::super::{Retention, UsageCounter};
    use super::*;

    /// A memory log that refuses writes while `down` is set.
    #[derive(Clone, Default)]
    struct Flaky {
        log: Arc<MemoryTokenStore>,
        down: Arc<AtomicBool>,
    }

    impl UsageLog for Flaky {
        async fn add_usage(&self, counts: Vec<UsageCount>) -> Result<(), StoreError> {
            if self.down.load(Ordering::Relaxed) {
                return Err(StoreError::unavailable(std::io::Error::other("down")));
            }
            self.log.add_usage(counts).await
        }

        async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageCount>, StoreError> {
            self.log.usage(query).await
        }

        async fn purge_usage(&self, granularity: Granularity, before: SystemTime) -> Result<u64, StoreError> {
            self.log.purge_usage(granularity, before).await
        }
    }

    const DAY: u64 = 86_400;

    fn total(counts: &[UsageCount]) -> u64 {
        counts.iter().map(|c| c.count).sum()
    }

    async fn read(log: &Flaky, granularity: Granularity) -> Vec<UsageCount> {
        let to = UNIX_EPOCH + Duration::from_secs(10_000 * DAY);
        log.usage(&UsageQuery::new(granularity, UNIX_EPOCH, to)).await.unwrap()
    }

    #[tokio::test]
    async fn a_refused_flush_keeps_its_counts_and_the_next_one_adds_them_once() {
        let log = Flaky::default();
        let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(1_000 * DAY));
        let counter = UsageCounter::builder(log.clone()).clock(clock.clone()).batch_size(1).build();
        let ada = Principal::builder("ada").token_id("tid_ada").build();
        log.down.store(true, Ordering::Relaxed);
        for _ in 0..5 {
            counter.shards.add(Some(&ada), UsageOutcome::Admitted, &counter.minute);
        }
        assert!(!counter.flush().await);
        assert_eq!(counter.stats().pending, 3, "a minute, an hour and a day");
        assert_eq!(counter.stats().failed_flushes, 1);
        clock.advance(Duration::from_secs(60));
        counter.shards.add(None, UsageOutcome::Unknown, &counter.minute);
        log.down.store(false, Ordering::Relaxed);
        assert!(counter.flush().await);
        assert!(counter.flush().await);
        for granularity in Granularity::ALL {
            assert_eq!(total(&read(&log, granularity).await), 6, "{granularity:?}");
        }
        assert_eq!(counter.stats().pending, 0);
    }

    #[tokio::test]
    async fn shutdown_and_dropping_every_handle_flush() {
        let log = Flaky::default();
        // At the count's time: nothing past its retention.
        let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(600));
        let counter = UsageCounter::builder(log.clone()).clock(clock.clone()).build();
        counter.shards.add(None, UsageOutcome::Unknown, &counter.minute);
        assert!(counter.clone().shutdown().await);
        assert_eq!(total(&read(&log, Granularity::Minute).await), 1);
        assert!(!counter.flush().await, "stopped");

        let dropped = UsageCounter::builder(log.clone()).clock(clock).build();
        dropped.shards.add(None, UsageOutcome::Unknown, &dropped.minute);
        drop(dropped);
        // The task ends once it has flushed: wait for the log to have the count.
        for _ in 0..1_000 {
            if total(&read(&log, Granularity::Minute).await) == 2 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("not flushed on drop");
    }

    #[tokio::test]
    async fn counters_past_their_retention_are_purged() {
        let log = Flaky::default();
        let now = UNIX_EPOCH + Duration::from_secs(1_000 * DAY);
        let clock = Clock::manual(now);
        let old = |granularity: Granularity, age: u64| UsageCount {
            token_id: None,
            organization: None,
            subject: None,
            outcome: UsageOutcome::Unknown,
            granularity,
            bucket: now - Duration::from_secs(age),
            count: 1,
        };
        log.add_usage(vec![
            old(Granularity::Minute, 3 * DAY),
            old(Granularity::Minute, DAY),
            old(Granularity::Hour, 91 * DAY),
            old(Granularity::Hour, 89 * DAY),
            old(Granularity::Day, 731 * DAY),
            old(Granularity::Day, 10 * DAY),
        ])
        .await
        .unwrap();
        let retention = Retention::default().day(Duration::from_secs(365 * DAY));
        let counter = UsageCounter::builder(log.clone()).clock(clock).retention(retention).build();
        assert!(counter.flush().await);
        for granularity in Granularity::ALL {
            assert_eq!(read(&log, granularity).await.len(), 1, "{granularity:?}");
        }
    }
}
