//! [`Buffers`]: every thread's rings for one writer, what a thread and the writer share of them,
//! and what they hold and count. A request appends to its own thread's ring with a plain store
//! (no lock, no read-modify-write, no cache line shared with another thread:
//! [`ring`](super::ring)), and the writer's task empties every ring each interval, a batch at a
//! time, in time order ([`drain`](super::drain)).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rtrb::Consumer;

use super::budget::Budget;
use super::context::Context;
use super::entry::Entry;

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One thread's rings for one writer, oldest first: the thread writes to the last; the
/// writer reads them in order and drops each once it is abandoned and read.
pub(super) type Rings = VecDeque<Consumer<Entry>>;

/// What a thread and the writer share.
pub(super) struct Shared {
    pub(super) rings: Mutex<Rings>,
    /// Events the thread could not record (no room): written by the thread alone, with a
    /// load and a store.
    pub(super) dropped: AtomicU64,
}

impl Shared {
    pub(super) fn count_drop(&self) {
        self.dropped.store(self.dropped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// Every thread's rings for one writer.
pub(super) struct Buffers {
    /// Tells this writer's rings from other writers' in a thread's list.
    pub(super) id: u64,
    pub(super) readers: Mutex<Vec<Reader>>,
    /// Set when the writer has stopped: nothing reads the rings any more, so a full ring is
    /// not followed by another (what is recorded then is dropped, as documented).
    pub(super) stopped: AtomicBool,
    pub(super) budget: Arc<Budget>,
    /// Paths of requests that name no known token kept since the last drain began.
    pub(super) unauthenticated_paths: AtomicUsize,
    max_unauthenticated_paths: usize,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The writer's side of one thread's rings.
pub(super) struct Reader {
    pub(super) shared: Arc<Shared>,
    pub(super) context: Context,
    /// Entries of this thread left to read in the current drain.
    pub(super) quota: usize,
}

impl Buffers {
    pub(super) fn new(budget: Arc<Budget>, max_unauthenticated_paths: usize) -> Self {
        Buffers {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            readers: Mutex::default(),
            stopped: AtomicBool::new(false),
            budget,
            unauthenticated_paths: AtomicUsize::new(0),
            max_unauthenticated_paths,
        }
    }

    /// Whether one more path of a request that names no known token may be kept until the
    /// next drain.
    pub(super) fn keep_unauthenticated_path(&self) -> bool {
        let kept = &self.unauthenticated_paths;
        let max = self.max_unauthenticated_paths;
        // Read first: once they are all taken, a flood of such requests writes nothing shared.
        kept.load(Ordering::Relaxed) < max && kept.fetch_add(1, Ordering::Relaxed) < max
    }

    /// The writer has stopped: rings no longer grow (each thread keeps at most one full ring).
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// The budget.
    pub(super) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Events dropped so far (no room, or after the writer stopped).
    pub(super) fn dropped(&self) -> u64 {
        let readers = lock(&self.readers);
        let threads: u64 = readers.iter().map(|r| r.shared.dropped.load(Ordering::Relaxed)).sum();
        threads + self.budget.dropped()
    }

    /// How many entries wait in the rings (events and what they refer to): a cheap measure of
    /// activity.
    pub(super) fn entries_waiting(&self) -> usize {
        let readers = lock(&self.readers);
        readers.iter().map(|r| lock(&r.shared.rings).iter().map(Consumer::slots).sum::<usize>()).sum()
    }

    /// How many events wait in the rings.
    pub(super) fn events_waiting(&self) -> usize {
        let readers = lock(&self.readers);
        let mut waiting = 0;
        for reader in readers.iter() {
            for ring in lock(&reader.shared.rings).iter_mut() {
                if let Ok(chunk) = ring.read_chunk(ring.slots()) {
                    // Peeked at, not taken: the chunk is dropped without a commit.
                    let (a, b) = chunk.as_slices();
                    waiting += a.iter().chain(b).filter(|e| e.is_event()).count();
                }
            }
        }
        waiting
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use tower_bearer::Principal;
    use tower_bearer::manage::audit::AuditEvent;

    use super::super::budget::{DEFAULT_MAX_BYTES, LEASE, ring_bytes};
    use super::super::entry::RequestOutcome;
    use super::super::ring::FIRST_RING;
    use super::super::testing::{buffers, drain, request};
    use super::*;

    #[test]
    fn what_the_entries_hold_is_given_back_once_read_and_a_threads_share_when_it_ends() {
        let buffers = Arc::new(buffers(DEFAULT_MAX_BYTES));
        let writer = buffers.clone();
        std::thread::spawn(move || {
            let alice = Principal::builder("alice").build();
            for i in 0..10_000 {
                let path = format!("/v1/things/{i}");
                let refused = (i % 3 == 0).then_some((403, "insufficient_scope"));
                let outcome = RequestOutcome { path: &path, refused, ..request(i, Some(&alice)) };
                writer.record_request(&outcome);
                if i % 100 == 0 {
                    writer.record_event(AuditEvent::of_request_parts(UNIX_EPOCH, "PURGE", &path, None, None));
                }
            }
        })
        .join()
        .expect("the thread ran");
        assert!(buffers.budget().held() > FIRST_RING * 16, "{}", buffers.budget().held());
        assert_eq!(drain(&buffers).len(), 10_100);
        // Everything read, the thread gone: its rings and its unspent share are back.
        drain(&buffers);
        assert_eq!(buffers.budget().held(), 0);
        assert!(lock(&buffers.readers).is_empty());
        // A live thread holds its ring and at most a lease ahead.
        buffers.record_request(&RequestOutcome { path: "/x", ..request(1, None) });
        drain(&buffers);
        assert!(buffers.budget().held() <= ring_bytes(FIRST_RING) + LEASE, "{}", buffers.budget().held());
    }
}
