//! What this crate records through the `metrics` facade (feature `metrics`): the names,
//! defined once, and one function per thing recorded. Without the feature the functions do
//! nothing, so that callers need no `cfg` of their own. The table of every metric of the
//! workspace is in `docs/guide/metrics.md`.

/// Events an audit writer holds, not yet written to the log.
#[cfg(feature = "metrics")]
pub(crate) const AUDIT_BACKLOG: &str = "tower_bearer_audit_backlog";
/// Events an audit writer dropped (no room within its `max_bytes`, or after it stopped).
#[cfg(feature = "metrics")]
pub(crate) const AUDIT_DROPPED: &str = "tower_bearer_audit_dropped_total";
/// Usage counts a usage counter holds, not yet flushed to its `UsageLog`.
#[cfg(feature = "metrics")]
pub(crate) const USAGE_BACKLOG: &str = "tower_bearer_usage_backlog";

/// Records an audit writer's backlog, and the events it dropped since the last call.
pub(crate) fn audit(backlog: u64, newly_dropped: u64) {
    #[cfg(feature = "metrics")]
    {
        metrics::gauge!(AUDIT_BACKLOG).set(as_f64(backlog));
        if newly_dropped > 0 {
            metrics::counter!(AUDIT_DROPPED).increment(newly_dropped);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (backlog, newly_dropped);
}

/// The usage counter's hook: records how many counts wait for the next flush. Call it when
/// the backlog changes size noticeably (after each flush, and as counts are added), not per
/// request: the gauge is a sample, not a ledger.
pub(crate) fn usage_backlog(pending: u64) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(USAGE_BACKLOG).set(as_f64(pending));
    #[cfg(not(feature = "metrics"))]
    let _ = pending;
}

#[cfg(feature = "metrics")]
#[allow(clippy::cast_precision_loss)] // Exact below 2^53 events.
fn as_f64(n: u64) -> f64 {
    n as f64
}
