//! The writer's per-thread rings: a request appends to its own thread's ring with a plain
//! store (no lock, no read-modify-write, no cache line shared with another thread), and the
//! writer's task empties every ring each interval, a batch at a time, in time order.
//!
//! A full ring is followed by another, twice as large up to [`MAX_RING`], while the writer's
//! [`Budget`] has room for it; past that, what a thread records is dropped, and counted by the
//! thread itself.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rtrb::{Consumer, PushError, RingBuffer};
use tower_bearer::manage::audit::AuditEvent;

use super::budget::{Budget, Credit, boxed_event_bytes, event_bytes, ring_bytes};
use super::entry::{Context, Entry, RequestOutcome, Sink, Written};

/// Entries in a thread's first ring (16 KiB); each new ring doubles, up to [`MAX_RING`].
const FIRST_RING: usize = 1024;
/// Entries in the largest ring (1 MiB).
const MAX_RING: usize = 1 << 16;

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One thread's rings for one writer, oldest first: the thread writes to the last; the
/// writer reads them in order and drops each once it is abandoned and read.
type Rings = VecDeque<Consumer<Entry>>;

/// What a thread and the writer share.
struct Shared {
    rings: Mutex<Rings>,
    /// Events the thread could not record (no room): written by the thread alone, with a
    /// load and a store.
    dropped: AtomicU64,
    /// Refusals behind the layer the thread recorded, each after its entry (so that the
    /// writer looks for them only in the rings of threads that wrote some).
    overrides: AtomicU64,
}

impl Shared {
    fn count_drop(&self) {
        self.dropped.store(self.dropped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    #[cold]
    fn count_override(&self) {
        self.overrides.store(self.overrides.load(Ordering::Relaxed) + 1, Ordering::Release);
    }
}

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

/// Every thread's rings for one writer.
pub(super) struct Buffers {
    /// Tells this writer's rings from other writers' in a thread's list.
    id: u64,
    readers: Mutex<Vec<Reader>>,
    /// Set when the writer has stopped: nothing reads the rings any more, so a full ring is
    /// not followed by another (what is recorded then is dropped, as documented).
    stopped: AtomicBool,
    budget: Arc<Budget>,
    /// Paths of requests that name no known token kept since the last drain began.
    unauthenticated_paths: AtomicUsize,
    max_unauthenticated_paths: usize,
    /// Admissions that a refusal behind the layer takes the place of: not written (the
    /// refusal is); each kept for the drain that found its refusal and the next.
    overridden: Mutex<HashMap<u32, u8>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The writer's side of one thread's rings.
struct Reader {
    shared: Arc<Shared>,
    context: Context,
    /// Entries of this thread left to read in the current drain.
    quota: usize,
    /// Refusals behind the layer this thread had recorded when its rings were last searched.
    overrides_seen: u64,
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
    pub(super) fn new(budget: Arc<Budget>, max_unauthenticated_paths: usize) -> Self {
        Buffers {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            readers: Mutex::default(),
            stopped: AtomicBool::new(false),
            budget,
            unauthenticated_paths: AtomicUsize::new(0),
            max_unauthenticated_paths,
            overridden: Mutex::default(),
        }
    }

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
            } else if outcome.admission != 0 && outcome.refused.is_some() {
                shared.count_override();
            }
        });
    }

    /// Whether one more path of a request that names no known token may be kept until the
    /// next drain.
    pub(super) fn keep_unauthenticated_path(&self) -> bool {
        let kept = &self.unauthenticated_paths;
        let max = self.max_unauthenticated_paths;
        // Read first: once they are all taken, a flood of such requests writes nothing shared.
        kept.load(Ordering::Relaxed) < max && kept.fetch_add(1, Ordering::Relaxed) < max
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
        let shared = Arc::new(Shared {
            rings: Mutex::new(VecDeque::from([reader])),
            dropped: AtomicU64::new(0),
            overrides: AtomicU64::new(0),
        });
        let reader =
            Reader { shared: shared.clone(), context: Context::default(), quota: 0, overrides_seen: 0 };
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

    /// Begins a drain: the batches that follow read what every thread has recorded until now
    /// (not what comes later, so that a drain ends under any load). The threads that have
    /// ended and were read to the end are forgotten, and the count of unauthenticated paths
    /// starts again. Returns how many entries the drain reads.
    pub(super) fn begin_drain(&self) -> usize {
        self.unauthenticated_paths.store(0, Ordering::Relaxed);
        lock(&self.overridden).retain(|_, drains| {
            *drains -= 1;
            *drains > 0
        });
        let mut released = 0;
        let mut readers = lock(&self.readers);
        readers.retain_mut(|reader| {
            let mut rings = lock(&reader.shared.rings);
            drop_read_rings(&mut rings, &mut released);
            // A live thread's ring is never abandoned: no rings left, no thread.
            let ended = rings.is_empty();
            drop(rings);
            if ended {
                self.budget.count_dropped(reader.shared.dropped.load(Ordering::Relaxed));
            }
            !ended
        });
        let mut entries = 0;
        for reader in readers.iter_mut() {
            reader.quota = lock(&reader.shared.rings).iter().map(Consumer::slots).sum();
            entries += reader.quota;
        }
        drop(readers);
        self.budget.release(released);
        entries
    }

    /// Finds the refusals behind the layer recorded until now (after the drain began too):
    /// the admissions they take the place of are not written, whichever drain reads them.
    pub(super) fn collect_overrides(&self) {
        let mut readers = lock(&self.readers);
        let mut overridden = lock(&self.overridden);
        for reader in readers.iter_mut() {
            let recorded = reader.shared.overrides.load(Ordering::Acquire);
            if recorded == reader.overrides_seen {
                continue;
            }
            reader.overrides_seen = recorded;
            for ring in lock(&reader.shared.rings).iter_mut() {
                if let Ok(chunk) = ring.read_chunk(ring.slots()) {
                    // Peeked at, not taken: the chunk is dropped without a commit.
                    let (a, b) = chunk.as_slices();
                    for admission in a.iter().chain(b).filter_map(Entry::overridden) {
                        overridden.insert(admission, 2);
                    }
                }
            }
        }
    }

    /// The next batch of the drain: up to `max_events` events, the earliest first across
    /// threads, and no more than half the budget's share for the batch (at least one event).
    /// The batch is counted against the budget twice (it, and the copy handed to the log
    /// while it is written) until [`release`](Budget::release)d; returns it and those bytes.
    pub(super) fn take_batch(&self, max_events: usize) -> (Vec<AuditEvent>, usize) {
        let room = self.budget.batch_max() / 2;
        let mut released = 0;
        let mut readers = lock(&self.readers);
        let overridden = &mut *lock(&self.overridden);
        let mut next: Vec<Option<u64>> =
            readers.iter_mut().map(|r| r.next_time(overridden, &mut released)).collect();
        let (mut events, mut bytes) = (Vec::new(), 0);
        while events.len() < max_events && bytes < room {
            let earliest = next.iter().enumerate().filter_map(|(i, at)| at.map(|at| (at, i))).min();
            let Some((_, i)) = earliest else { break };
            if let Some(event) = readers[i].take_event(&mut released) {
                bytes += 2 * event_bytes(&event);
                events.push(event);
            }
            next[i] = readers[i].next_time(overridden, &mut released);
        }
        drop(readers);
        self.budget.release(released);
        self.budget.take_for_batch(bytes);
        (events, bytes)
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
                    // Peeked at, not taken: the chunk is dropped without a commit. A refusal
                    // behind the layer is the same request as its admission.
                    let (a, b) = chunk.as_slices();
                    waiting += a.iter().chain(b).filter(|e| e.is_event() && e.overridden().is_none()).count();
                }
            }
        }
        waiting
    }
}

impl Reader {
    /// The time of this thread's next event within the drain's quota, once the entries
    /// before it (what it refers to, admissions a refusal takes the place of) are read;
    /// `None` when there is none.
    fn next_time(&mut self, overridden: &mut HashMap<u32, u8>, released: &mut usize) -> Option<u64> {
        let Reader { shared, context, quota, .. } = self;
        let mut rings = lock(&shared.rings);
        while *quota > 0 {
            let ring = rings.front_mut()?;
            match ring.peek().map(|entry| (entry.time_ms(), entry.admitted())) {
                // Not written: its refusal is, as the request's one event.
                Ok((Some(_), Some(admission))) if overridden.remove(&admission).is_some() => {
                    ring.pop().ok()?;
                    *quota -= 1;
                }
                Ok((Some(at), _)) => return Some(at),
                Ok((None, _)) => {
                    let entry = ring.pop().ok()?;
                    *quota -= 1;
                    context.read(entry, released);
                }
                // Empty: what follows is in the next ring, if the thread has left this one.
                Err(_) => {
                    if !drop_read_ring(&mut rings, released) {
                        return None;
                    }
                }
            }
        }
        None
    }

    /// This thread's next event (as [`next_time`](Self::next_time) found it).
    fn take_event(&mut self, released: &mut usize) -> Option<AuditEvent> {
        let entry = lock(&self.shared.rings).front_mut()?.pop().ok()?;
        self.quota -= 1;
        self.context.read(entry, released)
    }
}

/// Drops the first of `rings` if its thread has left it and it is read to the end; adds its
/// bytes to `released`. Whether it did.
fn drop_read_ring(rings: &mut Rings, released: &mut usize) -> bool {
    // Abandoned before it is found empty: nothing comes after.
    let Some(ring) = rings.front().filter(|ring| ring.is_abandoned() && ring.is_empty()) else {
        return false;
    };
    *released += ring_bytes(ring.buffer().capacity());
    rings.pop_front();
    true
}

/// Drops the rings at the front of `rings` that their thread has left and that are read.
fn drop_read_rings(rings: &mut Rings, released: &mut usize) {
    while drop_read_ring(rings, released) {}
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use http::Method;
    use tower_bearer::Principal;

    use super::super::budget::{DEFAULT_MAX_BYTES, LEASE, MIN_MAX_BYTES};
    use super::super::entry::method_code;
    use super::*;

    fn buffers(max_bytes: usize) -> Buffers {
        Buffers::new(Arc::new(Budget::new(max_bytes)), 1024)
    }

    fn request(at_ms: u64, principal: Option<&Principal>) -> RequestOutcome<'_> {
        let method = method_code(&Method::GET).expect("coded");
        RequestOutcome { at_ms, principal, path: "/", method, refused: None, admission: 0 }
    }

    fn rings(buffers: &Buffers) -> usize {
        lock(&lock(&buffers.readers)[0].shared.rings).len()
    }

    /// A drain: every batch, the bytes of each given back as if written.
    fn drain(buffers: &Buffers) -> Vec<AuditEvent> {
        buffers.begin_drain();
        buffers.collect_overrides();
        let mut events = Vec::new();
        loop {
            let (batch, bytes) = buffers.take_batch(100);
            buffers.budget().release(bytes);
            if batch.is_empty() {
                return events;
            }
            events.extend(batch);
        }
    }

    fn stamp(event: &AuditEvent) -> u64 {
        u64::try_from(event.at.duration_since(UNIX_EPOCH).expect("after").as_millis()).expect("small")
    }

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
    fn threads_are_merged_in_time_order_a_batch_at_a_time() {
        let buffers = Arc::new(buffers(DEFAULT_MAX_BYTES));
        for (first, step) in [(0, 2), (1, 2)] {
            let writer = buffers.clone();
            std::thread::spawn(move || {
                for at in (first..600).step_by(step) {
                    writer.record_request(&request(at, None));
                }
            })
            .join()
            .expect("the thread ran");
        }
        buffers.begin_drain();
        let (batch, bytes) = buffers.take_batch(100);
        assert_eq!(batch.iter().map(stamp).collect::<Vec<_>>(), (0..100).collect::<Vec<_>>());
        assert!(bytes >= 2 * 100 * std::mem::size_of::<AuditEvent>(), "the batch counts: {bytes}");
        assert!(buffers.budget().held() >= bytes);
        buffers.budget().release(bytes);
        assert_eq!(drain(&buffers).iter().map(stamp).collect::<Vec<_>>(), (100..600).collect::<Vec<_>>());
    }

    #[test]
    fn a_drain_reads_what_was_recorded_before_it_began() {
        let buffers = buffers(DEFAULT_MAX_BYTES);
        buffers.record_request(&request(1, None));
        buffers.begin_drain();
        buffers.record_request(&request(2, None));
        let (batch, bytes) = buffers.take_batch(100);
        buffers.budget().release(bytes);
        assert_eq!(batch.iter().map(stamp).collect::<Vec<_>>(), [1]);
        assert!(buffers.take_batch(100).0.is_empty(), "the next drain's");
        assert_eq!(drain(&buffers).iter().map(stamp).collect::<Vec<_>>(), [2]);
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

    #[test]
    fn the_rings_of_an_ended_thread_are_read_then_dropped() {
        let buffers = Arc::new(buffers(DEFAULT_MAX_BYTES));
        let writer = buffers.clone();
        std::thread::spawn(move || writer.record_request(&request(1, None))).join().expect("the thread ran");
        assert_eq!(drain(&buffers).len(), 1);
        drain(&buffers);
        assert!(lock(&buffers.readers).is_empty());
    }

    /// `rita`'s request on its own thread: admitted as `admission`, or refused behind the
    /// layer in its place.
    fn on_thread(buffers: &Arc<Buffers>, rita: &Principal, at_ms: u64, admission: u32, refused: bool) {
        let (writer, rita) = (buffers.clone(), rita.clone());
        std::thread::spawn(move || {
            let refused = refused.then_some((403, "insufficient_scope"));
            let outcome = RequestOutcome { refused, admission, ..request(at_ms, Some(&rita)) };
            writer.record_request(&outcome);
        })
        .join()
        .expect("the thread ran");
    }

    fn outcomes(events: &[AuditEvent]) -> Vec<(u64, Option<u16>)> {
        events.iter().map(|e| (stamp(e), e.status)).collect()
    }

    /// Issue 21, finding 8: a request refused behind the layer is written once, as refused,
    /// whichever threads recorded its admission and its refusal.
    #[test]
    fn a_refusal_behind_the_layer_takes_the_place_of_its_admission() {
        let buffers = Arc::new(buffers(DEFAULT_MAX_BYTES));
        let rita = Principal::builder("rita").build();
        on_thread(&buffers, &rita, 1, 7, false);
        on_thread(&buffers, &rita, 2, 8, false);
        on_thread(&buffers, &rita, 3, 7, true);
        assert_eq!(buffers.events_waiting(), 2, "two requests");
        assert_eq!(outcomes(&drain(&buffers)), [(2, None), (3, Some(403))]);
        // A refusal found before its admission is read (a thread the drain looked at first):
        // the admission is left out of the next drain.
        on_thread(&buffers, &rita, 4, 9, true);
        buffers.begin_drain();
        on_thread(&buffers, &rita, 5, 9, false);
        buffers.collect_overrides();
        let (batch, bytes) = buffers.take_batch(100);
        buffers.budget().release(bytes);
        assert_eq!(outcomes(&batch), [(4, Some(403))]);
        assert!(drain(&buffers).is_empty());
        // A refusal that comes once its admission is written is written too (documented).
        on_thread(&buffers, &rita, 6, 10, false);
        assert_eq!(outcomes(&drain(&buffers)), [(6, None)]);
        on_thread(&buffers, &rita, 7, 10, true);
        assert_eq!(outcomes(&drain(&buffers)), [(7, Some(403))]);
        // The layer's own refusals have no admission: nothing to take the place of.
        buffers.record_request(&RequestOutcome { refused: Some((401, "unknown_token")), ..request(8, None) });
        assert_eq!(outcomes(&drain(&buffers)), [(8, Some(401))]);
    }
}
