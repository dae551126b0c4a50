//! A thread's side of the [`Buffers`]: its rings for each writer (a thread-local list), and how
//! a request or an event is appended to the last of them.
//!
//! A full ring is followed by another, twice as large up to [`MAX_RING`], while the writer's
//! [`Budget`] has room for it; past that, what a thread records is dropped, and counted by the
//! thread itself.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rtrb::{PushError, RingBuffer};
use tower_bearer::manage::audit::AuditEvent;

use super::budget::{Budget, Credit, boxed_event_bytes, ring_bytes};
use super::buffers::{Buffers, Reader, Shared, lock};
use super::context::{Context, Sink, Written};
use super::entry::{Entry, RequestOutcome};

/// Entries in a thread's first ring (16 KiB); each new ring doubles, up to [`MAX_RING`].
pub(super) const FIRST_RING: usize = 1024;
/// Entries in the largest ring (1 MiB).
const MAX_RING: usize = 1 << 16;

/// What this thread writes to for one writer, and what its entries refer to.
struct Producer {
    writer: u64,
    ring: rtrb::Producer<Entry>,
    shared: Arc<Shared>,
    budget: Arc<Budget>,
    written: Written,
    credit: Credit,
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.credit.give_back(&self.budget);
    }
}

thread_local! {
    /// This thread's rings for each writer it has recorded for.
    static PRODUCERS: RefCell<Vec<Producer>> = const { RefCell::new(Vec::new()) };
}

/// A thread's producer as a [`Sink`] for its entries.
struct Appender<'a> {
    ring: &'a mut rtrb::Producer<Entry>,
    shared: &'a Shared,
    credit: &'a mut Credit,
    buffers: &'a Buffers,
}

impl Sink for Appender<'_> {
    /// A plain store while the ring has room (the writer's task empties it every interval);
    /// else a new ring, if the budget allows.
    #[inline]
    fn push(&mut self, entry: Entry) -> bool {
        match self.ring.push(entry) {
            Ok(()) => true,
            Err(PushError::Full(entry)) => self.push_to_new_ring(entry),
        }
    }

    #[inline]
    fn spend(&mut self, bytes: usize) -> bool {
        self.credit.spend(&self.buffers.budget, bytes)
    }

    fn refund(&mut self, bytes: usize) {
        self.credit.refund(bytes);
    }

    fn keep_unauthenticated_path(&mut self) -> bool {
        self.buffers.keep_unauthenticated_path()
    }
}

impl Appender<'_> {
    /// A full ring is followed by a larger one, up to [`MAX_RING`] (else the smallest), if
    /// the budget has room for it and the writer is still running.
    #[cold]
    fn push_to_new_ring(&mut self, entry: Entry) -> bool {
        if self.buffers.stopped.load(Ordering::Relaxed) {
            return false;
        }
        let budget = &self.buffers.budget;
        let larger = (self.ring.buffer().capacity() * 2).clamp(FIRST_RING, MAX_RING);
        let Some(capacity) = [larger, FIRST_RING].into_iter().find(|c| budget.reserve(ring_bytes(*c))) else {
            return false;
        };
        let (mut next, reader) = RingBuffer::new(capacity);
        if next.push(entry).is_err() {
            unreachable!("a new ring has room");
        }
        lock(&self.shared.rings).push_back(reader);
        // The full ring is abandoned here: the writer reads it to the end, then drops it.
        *self.ring = next;
        true
    }
}

impl Buffers {
    /// Appends `event` to this thread's rings, unless the budget has no room for it.
    pub(super) fn record_event(&self, event: AuditEvent) {
        let bytes = boxed_event_bytes(&event);
        self.with_appender(|appender| {
            if !appender.spend(bytes) {
                return false;
            }
            let pushed = appender.push(Entry::Event(Box::new(event)));
            if !pushed {
                appender.refund(bytes);
            }
            pushed
        });
    }

    /// Appends a request's outcome to this thread's rings, unless there is no room for it.
    #[inline]
    pub(super) fn record_request(&self, outcome: &RequestOutcome<'_>) {
        self.with_producer(|producer| {
            let Producer { ring, shared, written, credit, .. } = producer;
            let mut appender = Appender { ring, shared, credit, buffers: self };
            if !written.write(outcome, &mut appender) {
                shared.count_drop();
            }
        });
    }

    /// Runs `f` on this thread's appender; a `false` from it counts a drop.
    fn with_appender(&self, f: impl FnOnce(&mut Appender<'_>) -> bool) {
        self.with_producer(|producer| {
            let Producer { ring, shared, credit, .. } = producer;
            if !f(&mut Appender { ring, shared, credit, buffers: self }) {
                shared.count_drop();
            }
        });
    }

    /// Runs `f` on this thread's producer for this writer.
    #[inline]
    fn with_producer(&self, f: impl FnOnce(&mut Producer)) {
        PRODUCERS.with(|producers| {
            let mut producers = producers.borrow_mut();
            let index = match producers.iter().position(|p| p.writer == self.id) {
                Some(index) => index,
                None => self.register(&mut producers),
            };
            f(&mut producers[index]);
        });
    }

    /// Gives this thread its first ring for this writer (no ring at all, if the budget has
    /// no room for one: it asks again when it records); returns the new producer's index.
    #[cold]
    fn register(&self, producers: &mut Vec<Producer>) -> usize {
        // Rings of writers gone since are dropped here (their lists held the other reference).
        producers.retain(|p| Arc::strong_count(&p.shared) > 1);
        let capacity = if self.budget.reserve(ring_bytes(FIRST_RING)) { FIRST_RING } else { 0 };
        let (ring, reader) = RingBuffer::new(capacity);
        let shared =
            Arc::new(Shared { rings: Mutex::new(VecDeque::from([reader])), dropped: AtomicU64::new(0) });
        let reader = Reader { shared: shared.clone(), context: Context::default(), quota: 0 };
        lock(&self.readers).push(reader);
        producers.push(Producer {
            writer: self.id,
            ring,
            shared,
            budget: self.budget.clone(),
            written: Written::default(),
            credit: Credit::default(),
        });
        producers.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use tower_bearer::Principal;

    use super::super::budget::{DEFAULT_MAX_BYTES, MIN_MAX_BYTES};
    use super::super::testing::{buffers, drain, request, rings, stamp};
    use super::*;

    #[test]
    fn a_full_ring_is_followed_by_a_larger_one_and_all_is_read_in_order() {
        let buffers = buffers(DEFAULT_MAX_BYTES);
        // With the path written first: 1 024 entries in the first ring, 1 025 in the second.
        let count = FIRST_RING * 2;
        for i in 0..count {
            buffers.record_request(&request(u64::try_from(i).expect("small"), None));
        }
        assert_eq!(rings(&buffers), 2, "rings of 1 024 and 2 048 entries");
        assert_eq!((buffers.events_waiting(), buffers.entries_waiting()), (count, count + 1));
        let stamps: Vec<u64> = drain(&buffers).iter().map(stamp).collect();
        assert_eq!(stamps, (0..u64::try_from(count).expect("small")).collect::<Vec<_>>());
        // The full ring was dropped once read; the thread writes on in the last.
        assert_eq!(rings(&buffers), 1);
        assert_eq!(buffers.entries_waiting(), 0);
        // The reader remembers what the entries read before set.
        let alice = Principal::builder("alice").build();
        buffers.record_request(&request(5, Some(&alice)));
        buffers.record_request(&request(6, Some(&alice)));
        assert_eq!(buffers.entries_waiting(), 3);
        let events = drain(&buffers);
        assert_eq!(events.len(), 2);
        assert!(
            events.iter().all(|e| e.subject.as_deref() == Some("alice") && e.path.as_deref() == Some("/"))
        );
    }

    #[test]
    fn once_the_writer_has_stopped_a_full_ring_is_not_followed_by_another() {
        let buffers = buffers(DEFAULT_MAX_BYTES);
        buffers.stop();
        for i in 0..FIRST_RING * 4 {
            buffers.record_request(&request(u64::try_from(i).expect("small"), None));
        }
        assert_eq!((rings(&buffers), buffers.entries_waiting()), (1, FIRST_RING));
        assert_eq!(buffers.dropped(), u64::try_from(FIRST_RING * 3 + 1).expect("small"), "and counted");
    }

    /// Issue 21, finding 8: a thread's rings doubled without a cap while the log was down.
    #[test]
    fn rings_stop_growing_at_the_cap_and_what_does_not_fit_is_dropped_and_counted() {
        let max = 256 << 10;
        let buffers = buffers(max);
        let count = 1_000_000;
        for i in 0..count {
            buffers.record_request(&request(i, None));
            if i % 1000 == 0 {
                assert!(buffers.budget().held() <= max, "{} bytes held", buffers.budget().held());
            }
        }
        let (held, waiting, dropped) = (buffers.budget().held(), buffers.events_waiting(), buffers.dropped());
        assert!(held <= max, "{held} bytes held");
        assert!(held > max / 2, "the cap is used: {held} bytes held");
        // The thread's rings: 1 Ki, 2 Ki, 4 Ki entries, then the smallest that fits.
        assert!(rings(&buffers) <= 10, "{} rings", rings(&buffers));
        assert_eq!(waiting as u64 + dropped, count, "every request kept or counted");
        assert!(dropped > count / 2, "{dropped}");
        // Once read, there is room again.
        assert_eq!(drain(&buffers).len(), waiting);
        buffers.record_request(&request(count, None));
        assert_eq!((buffers.events_waiting(), buffers.dropped()), (1, dropped));
    }

    #[test]
    fn a_thread_that_finds_no_room_for_a_first_ring_records_nothing_until_there_is() {
        let buffers = Arc::new(buffers(MIN_MAX_BYTES));
        let budget = buffers.budget();
        let taken = budget.max() - budget.batch_max() - 1_000;
        assert!(budget.reserve(taken));
        let writer = buffers.clone();
        std::thread::spawn(move || {
            writer.record_request(&request(1, None));
            assert_eq!((writer.events_waiting(), writer.dropped()), (0, 1));
            writer.budget().release(taken);
            writer.record_request(&request(2, None));
        })
        .join()
        .expect("the thread ran");
        assert_eq!(drain(&buffers).iter().map(stamp).collect::<Vec<_>>(), [2]);
        assert_eq!(buffers.dropped(), 1);
    }
}
