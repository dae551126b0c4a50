//! The writer's side of the [`Buffers`]: a drain reads what every thread has recorded until it
//! began, merging the threads' events in time order a batch at a time, and dropping the rings
//! their threads have left once they are read.

use std::sync::atomic::Ordering;

use rtrb::Consumer;
use tower_bearer::manage::audit::AuditEvent;

use super::budget::{event_bytes, ring_bytes};
use super::buffers::{Buffers, Reader, Rings, lock};
use super::entry::Entry;

impl Buffers {
    /// Begins a drain: the batches that follow read what every thread has recorded until now
    /// (not what comes later, so that a drain ends under any load). The threads that have
    /// ended and were read to the end are forgotten, and the count of unauthenticated paths
    /// starts again. Returns how many entries the drain reads.
    pub(super) fn begin_drain(&self) -> usize {
        self.unauthenticated_paths.store(0, Ordering::Relaxed);
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

    /// The next batch of the drain: up to `max_events` events, the earliest first across
    /// threads, and no more than half the budget's share for the batch (at least one event).
    /// The batch is counted against the budget twice (it, and the copy handed to the log
    /// while it is written) until [`release`](super::budget::Budget::release)d; returns it and those bytes.
    pub(super) fn take_batch(&self, max_events: usize) -> (Vec<AuditEvent>, usize) {
        let room = self.budget.batch_max() / 2;
        let mut released = 0;
        let mut readers = lock(&self.readers);
        let mut next: Vec<Option<u64>> = readers.iter_mut().map(|r| r.next_time(&mut released)).collect();
        let (mut events, mut bytes) = (Vec::new(), 0);
        while events.len() < max_events && bytes < room {
            let earliest = next.iter().enumerate().filter_map(|(i, at)| at.map(|at| (at, i))).min();
            let Some((_, i)) = earliest else { break };
            if let Some(event) = readers[i].take_event(&mut released) {
                bytes += 2 * event_bytes(&event);
                events.push(event);
            }
            next[i] = readers[i].next_time(&mut released);
        }
        drop(readers);
        self.budget.release(released);
        self.budget.take_for_batch(bytes);
        (events, bytes)
    }
}

impl Reader {
    /// The time of this thread's next event within the drain's quota, once the entries
    /// before it (what it refers to) are read; `None` when there is none.
    fn next_time(&mut self, released: &mut usize) -> Option<u64> {
        let Reader { shared, context, quota, .. } = self;
        let mut rings = lock(&shared.rings);
        while *quota > 0 {
            let ring = rings.front_mut()?;
            match ring.peek().map(Entry::time_ms) {
                Ok(Some(at)) => return Some(at),
                Ok(None) => {
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
    use std::sync::Arc;

    use super::super::budget::DEFAULT_MAX_BYTES;
    use super::super::testing::{buffers, drain, request, stamp};
    use super::*;

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
    fn the_rings_of_an_ended_thread_are_read_then_dropped() {
        let buffers = Arc::new(buffers(DEFAULT_MAX_BYTES));
        let writer = buffers.clone();
        std::thread::spawn(move || writer.record_request(&request(1, None))).join().expect("the thread ran");
        assert_eq!(drain(&buffers).len(), 1);
        drain(&buffers);
        assert!(lock(&buffers.readers).is_empty());
    }
}
