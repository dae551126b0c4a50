//! [`Budget`]: the bytes an [`AuditWriter`](super::AuditWriter) may hold, what it holds now by
//! its own accounting, and the estimates that accounting is made of.
//!
//! Every allocation the writer makes for what it records is counted when it is made and given
//! back when it is freed: the rings (their slots and their shared header), the strings and
//! whole events that entries point to, and the batch being written. A thread takes its share
//! for strings and events [`LEASE`] bytes at a time, so that a request that records a new path
//! touches no counter shared with other threads; a new ring is counted when it is made. The
//! sizes are estimates of what the allocator hands out (the bytes asked for, plus
//! [`ALLOCATION`] for its own header and rounding), not measurements.

use std::mem::size_of;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tower_bearer::manage::audit::AuditEvent;

use super::entry::Entry;

/// The default cap: 8 MiB, about half a million requests' entries while paths repeat.
pub(super) const DEFAULT_MAX_BYTES: usize = 8 << 20;

/// The smallest cap the builder accepts: room for a few threads' first rings.
pub(super) const MIN_MAX_BYTES: usize = 64 << 10;

/// What a thread takes from the budget at a time for the strings and events it records.
pub(super) const LEASE: usize = 4 << 10;

/// What an allocation costs besides the bytes asked for (the allocator's header and rounding).
pub(super) const ALLOCATION: usize = 16;

/// What a reference count's header adds to an `Arc`'s allocation.
const ARC_HEADER: usize = 2 * size_of::<usize>();

/// The bytes an [`AuditWriter`](super::AuditWriter) may hold, and what it holds.
#[derive(Debug)]
pub(super) struct Budget {
    max: usize,
    /// What the recording threads may hold (rings, strings, events, their leases): the rest
    /// of the cap is the batch's, so that a full set of rings never keeps the writer from
    /// taking the next batch out of them.
    recording_max: usize,
    held: AtomicUsize,
    /// Drops counted here rather than by a thread's own counter (threads that have ended).
    dropped: AtomicU64,
}

impl Budget {
    pub(super) fn new(max: usize) -> Self {
        let max = max.max(MIN_MAX_BYTES);
        Budget { max, recording_max: max - max / 8, held: AtomicUsize::new(0), dropped: AtomicU64::new(0) }
    }

    /// The cap.
    #[cfg(test)]
    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// What the batch being written may take: an eighth of the cap, half of it for the copy
    /// handed to the log during a write.
    pub(super) fn batch_max(&self) -> usize {
        self.max - self.recording_max
    }

    /// Bytes held now.
    pub(super) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Takes `bytes` for what a thread records; `false` when they would not fit.
    pub(super) fn reserve(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.recording_max)
            })
            .is_ok()
    }

    /// Takes `bytes` for the batch (kept within [`batch_max`](Self::batch_max) by the caller).
    pub(super) fn take_for_batch(&self, bytes: usize) {
        self.held.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Gives back `bytes`.
    pub(super) fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// Counts `count` events dropped outside a thread's own counter.
    pub(super) fn count_dropped(&self, count: u64) {
        if count > 0 {
            self.dropped.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// The drops counted by [`count_dropped`](Self::count_dropped).
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A thread's share of the budget, taken ahead [`LEASE`] bytes at a time and given back
/// when the thread ends.
#[derive(Debug, Default)]
pub(super) struct Credit {
    bytes: usize,
}

impl Credit {
    /// Spends `bytes` of the thread's share, taking more from `budget` when it runs out;
    /// `false` when the budget has no more.
    #[inline]
    pub(super) fn spend(&mut self, budget: &Budget, bytes: usize) -> bool {
        if let Some(left) = self.bytes.checked_sub(bytes) {
            self.bytes = left;
            return true;
        }
        self.spend_more(budget, bytes)
    }

    #[cold]
    fn spend_more(&mut self, budget: &Budget, bytes: usize) -> bool {
        let missing = bytes - self.bytes;
        let lease = missing.max(LEASE);
        if budget.reserve(lease) {
            self.bytes = self.bytes + lease - bytes;
            return true;
        }
        // Near the cap: exactly what is missing, if that fits.
        if lease > missing && budget.reserve(missing) {
            self.bytes = 0;
            return true;
        }
        false
    }

    /// Takes back `bytes` spent on what could not be recorded after all.
    pub(super) fn refund(&mut self, bytes: usize) {
        self.bytes += bytes;
    }

    /// Gives the rest back to `budget` (the thread has ended).
    pub(super) fn give_back(&mut self, budget: &Budget) {
        budget.release(std::mem::take(&mut self.bytes));
    }
}

/// A ring of `capacity` entries: its slots and its shared header (two cache-padded indices).
/// A thread whose first ring found no room gets a ring of none, not counted (its header is
/// the thread's bookkeeping).
pub(super) fn ring_bytes(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    capacity * size_of::<Entry>() + size_of::<rtrb::RingBuffer<Entry>>() + ARC_HEADER + 2 * ALLOCATION
}

/// A path string shared by a thread's entries (`Arc<String>`).
pub(super) fn path_bytes(path: &str) -> usize {
    ARC_HEADER + size_of::<String>() + ALLOCATION + path.len() + ALLOCATION
}

/// A refusal reason entry's box.
pub(super) const REASON_BYTES: usize = size_of::<&str>() + ALLOCATION;

/// An event and its strings.
pub(super) fn event_bytes(event: &AuditEvent) -> usize {
    let strings = [&event.subject, &event.organization, &event.method, &event.path, &event.reason];
    let text: usize = strings.iter().filter_map(|s| s.as_ref()).map(|s| s.len() + ALLOCATION).sum();
    let token_id = event.token_id.as_ref().map_or(0, |id| id.as_str().len() + ARC_HEADER + ALLOCATION);
    size_of::<AuditEvent>() + text + token_id
}

/// An event recorded whole, in its box.
pub(super) fn boxed_event_bytes(event: &AuditEvent) -> usize {
    event_bytes(event) + ALLOCATION
}
