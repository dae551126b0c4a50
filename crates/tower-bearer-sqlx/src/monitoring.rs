//! What this crate records through the `metrics` facade (feature `metrics`): the names,
//! defined once. The table of every metric of the workspace is in `docs/guide/metrics.md`.

/// 1 while the revocation push (the Postgres listener, the SQLite poller) is subscribed, 0
/// while it is not (the cache then caches no active token).
pub(crate) const PUSH_CONNECTED: &str = "tower_bearer_revocation_push_connected";
/// Subscriptions of the revocation push after the first: each follows a lost one.
pub(crate) const PUSH_RECONNECTS: &str = "tower_bearer_revocation_push_reconnects_total";
/// Tokens whose credits this instance holds a lease on, as of the last idle-lease sweep.
pub(crate) const LEASES_HELD: &str = "tower_bearer_credit_leases_held";

/// Records the push's state: `connected`, and whether this subscription is a reconnection.
pub(crate) fn push(connected: bool, reconnected: bool) {
    metrics::gauge!(PUSH_CONNECTED).set(if connected { 1.0 } else { 0.0 });
    if reconnected {
        metrics::counter!(PUSH_RECONNECTS).increment(1);
    }
}

/// Records how many tokens this instance holds leases on.
pub(crate) fn leases_held(held: u64) {
    // Precision is lost only past 2^53 leases.
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(LEASES_HELD).set(held as f64);
}
