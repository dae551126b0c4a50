//! The writer's per-thread rings: a request appends to its own thread's ring with a plain
//! store (no lock, no read-modify-write, no cache line shared with another thread), and the
//! writer's task empties every ring each interval.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rtrb::{Consumer, PushError, RingBuffer};
use tower_bearer::manage::audit::AuditEvent;

use super::entry::{Context, Entry, RequestOutcome};

/// Entries in a thread's first ring (16 KiB); each new ring doubles, up to [`MAX_RING`].
const FIRST_RING: usize = 1024;
const MAX_RING: usize = 1 << 20;

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One thread's rings for one writer, oldest first: the thread writes to the last; the
/// writer reads them in order and drops each once it is abandoned and read.
type Rings = Mutex<VecDeque<Consumer<Entry>>>;

/// What this thread writes to for one writer, and what its entries refer to.
struct Producer {
    writer: u64,
    ring: rtrb::Producer<Entry>,
    rings: Arc<Rings>,
    context: Context,
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
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The writer's side of one thread's rings.
struct Reader {
    rings: Arc<Rings>,
    context: Context,
}

impl Buffers {
    pub(super) fn new() -> Self {
        Buffers {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            readers: Mutex::default(),
            stopped: AtomicBool::new(false),
        }
    }

    /// Appends `event` to this thread's rings.
    pub(super) fn record_event(&self, event: AuditEvent) {
        self.with_producer(|p| push(&mut p.ring, &p.rings, &self.stopped, Entry::Event(Box::new(event))));
    }

    /// Appends a request's outcome to this thread's rings.
    #[inline]
    pub(super) fn record_request(&self, outcome: &RequestOutcome<'_>) {
        self.with_producer(|producer| {
            let Producer { ring, rings, context, .. } = producer;
            context.write(outcome, |entry| push(ring, rings, &self.stopped, entry));
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

    /// Gives this thread its first ring for this writer; returns the new producer's index.
    #[cold]
    fn register(&self, producers: &mut Vec<Producer>) -> usize {
        // Rings of writers gone since are dropped here (their lists held the other reference).
        producers.retain(|p| Arc::strong_count(&p.rings) > 1);
        let (ring, reader) = RingBuffer::new(FIRST_RING);
        let rings = Arc::new(Rings::new(VecDeque::from([reader])));
        lock(&self.readers).push(Reader { rings: rings.clone(), context: Context::default() });
        producers.push(Producer { writer: self.id, ring, rings, context: Context::default() });
        producers.len() - 1
    }

    /// Everything recorded so far, as events in time order (each thread's are in order;
    /// threads are merged by their stamps).
    pub(super) fn take_events(&self) -> Vec<AuditEvent> {
        let mut readers = lock(&self.readers);
        let mut events = Vec::new();
        for Reader { rings, context } in readers.iter_mut() {
            let mut rings = lock(rings);
            while let Some(ring) = rings.front_mut() {
                // Abandoned before it is read: nothing comes after what is read now.
                let abandoned = ring.is_abandoned();
                if let Ok(chunk) = ring.read_chunk(ring.slots()) {
                    events.extend(chunk.into_iter().filter_map(|entry| context.read(entry)));
                }
                if !abandoned {
                    break;
                }
                rings.pop_front();
            }
        }
        // The readers of threads that have ended, once read.
        readers.retain(|r| Arc::strong_count(&r.rings) > 1 || !lock(&r.rings).is_empty());
        drop(readers);
        events.sort_by_key(|event| event.at);
        events
    }

    /// The writer has stopped: rings no longer grow (each thread keeps at most one full ring).
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// How many entries wait in the rings (events and what they refer to): a cheap measure of
    /// activity.
    pub(super) fn entries_waiting(&self) -> usize {
        let readers = lock(&self.readers);
        readers.iter().map(|r| lock(&r.rings).iter().map(Consumer::slots).sum::<usize>()).sum()
    }

    /// How many events wait in the rings.
    pub(super) fn events_waiting(&self) -> usize {
        let readers = lock(&self.readers);
        let mut waiting = 0;
        for reader in readers.iter() {
            for ring in lock(&reader.rings).iter_mut() {
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

/// Appends `entry` to `ring`: a plain store while it has room (the writer's task empties it
/// every interval); else a new ring, twice as large, follows it in `rings` (unless the writer
/// has `stopped`).
#[inline]
fn push(ring: &mut rtrb::Producer<Entry>, rings: &Rings, stopped: &AtomicBool, entry: Entry) {
    if let Err(PushError::Full(entry)) = ring.push(entry)
        && !stopped.load(Ordering::Relaxed)
    {
        push_to_new_ring(ring, rings, entry);
    }
}

#[cold]
fn push_to_new_ring(ring: &mut rtrb::Producer<Entry>, rings: &Rings, entry: Entry) {
    let capacity = (ring.buffer().capacity() * 2).min(MAX_RING);
    let (mut next, reader) = RingBuffer::new(capacity);
    if next.push(entry).is_err() {
        unreachable!("a new ring has room");
    }
    lock(rings).push_back(reader);
    // The full ring is abandoned here: the writer reads it to the end, then drops it.
    *ring = next;
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use http::Method;
    use tower_bearer::Principal;

    use super::super::entry::method_code;
    use super::*;

    fn request(at_ms: u64, principal: Option<&Principal>) -> RequestOutcome<'_> {
        let method = method_code(&Method::GET).expect("coded");
        RequestOutcome { at_ms, principal, path: "/", method, refused: None }
    }

    fn rings(buffers: &Buffers) -> usize {
        lock(&lock(&buffers.readers)[0].rings).len()
    }

    #[test]
    fn a_full_ring_is_followed_by_a_larger_one_and_all_is_read_in_order() {
        let buffers = Buffers::new();
        // With the path written first: 1 024 entries in the first ring, 1 025 in the second.
        let count = FIRST_RING * 2;
        for i in 0..count {
            buffers.record_request(&request(u64::try_from(i).expect("small"), None));
        }
        assert_eq!(rings(&buffers), 2, "rings of 1 024 and 2 048 entries");
        assert_eq!((buffers.events_waiting(), buffers.entries_waiting()), (count, count + 1));
        let stamps: Vec<u64> = buffers
            .take_events()
            .iter()
            .map(|e| {
                u64::try_from(e.at.duration_since(UNIX_EPOCH).expect("after").as_millis()).expect("small")
            })
            .collect();
        assert_eq!(stamps, (0..u64::try_from(count).expect("small")).collect::<Vec<_>>());
        // The full ring was dropped once read; the thread writes on in the last.
        assert_eq!(rings(&buffers), 1);
        assert_eq!(buffers.entries_waiting(), 0);
        // The reader remembers what the entries read before set.
        let alice = Principal::builder("alice").build();
        buffers.record_request(&request(5, Some(&alice)));
        buffers.record_request(&request(6, Some(&alice)));
        assert_eq!(buffers.entries_waiting(), 3);
        let events = buffers.take_events();
        assert_eq!(events.len(), 2);
        assert!(
            events.iter().all(|e| e.subject.as_deref() == Some("alice") && e.path.as_deref() == Some("/"))
        );
    }

    #[test]
    fn once_the_writer_has_stopped_a_full_ring_is_not_followed_by_another() {
        let buffers = Buffers::new();
        buffers.stop();
        for i in 0..FIRST_RING * 4 {
            buffers.record_request(&request(u64::try_from(i).expect("small"), None));
        }
        assert_eq!((rings(&buffers), buffers.entries_waiting()), (1, FIRST_RING));
    }

    #[test]
    fn the_rings_of_an_ended_thread_are_read_then_dropped() {
        let buffers = Arc::new(Buffers::new());
        let writer = buffers.clone();
        std::thread::spawn(move || writer.record_request(&request(1, None))).join().expect("the thread ran");
        assert_eq!(buffers.take_events().len(), 1);
        assert!(lock(&buffers.readers).is_empty());
    }
}
