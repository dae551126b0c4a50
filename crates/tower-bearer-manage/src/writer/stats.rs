//! What an [`AuditWriter`](super::AuditWriter) reports of itself: its counters
//! ([`AuditStats`]) and, to its drop hook, the events it dropped ([`AuditDrops`]).

/// Counters of an [`AuditWriter`](super::AuditWriter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditStats {
    /// Events waiting to be written (in the threads' rings and in the batch being written).
    pub pending: u64,
    /// Events written to the log.
    pub written: u64,
    /// Writes to the log (one per batch).
    pub batches: u64,
    /// Writes that failed and were tried again.
    pub retries: u64,
    /// Events dropped: recorded while the writer held its
    /// [`max_bytes`](super::AuditWriterBuilder::max_bytes) already (a log down, or slower than
    /// the traffic), or after it stopped.
    pub dropped: u64,
    /// Bytes the writer holds now, by its own accounting: the threads' rings, the strings and
    /// events they point to, the batch being written. At most
    /// [`max_bytes`](super::AuditWriterBuilder::max_bytes).
    pub held_bytes: u64,
}

/// Events an [`AuditWriter`](super::AuditWriter) dropped, as told to its
/// [`on_drop`](super::AuditWriterBuilder::on_drop) hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditDrops {
    /// Dropped since the hook was last called.
    pub count: u64,
    /// Dropped since the writer was built (as [`AuditStats::dropped`]).
    pub total: u64,
}
