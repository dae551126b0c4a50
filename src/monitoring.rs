//! What the core records through the `metrics` facade (feature `metrics`): the names, defined
//! once, and the few calls that record them. No recorder is installed here: the application
//! installs one (Prometheus, say), and without one every call is a no-op.
//!
//! The table of every metric of the workspace is in `docs/guide/metrics.md`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata};

use crate::manage::usage::UsageOutcome;

/// Requests the auth layer decided, by `outcome` ([`UsageOutcome::as_str`]), and by
/// `token_id` only when the layer is told to (`BearerAuthLayer::metric_token_ids`).
///
/// [`UsageOutcome::as_str`]: crate::manage::usage::UsageOutcome::as_str
pub(crate) const REQUESTS: &str = "tower_bearer_requests_total";
/// How long store lookups answered later took, in seconds.
pub(crate) const LOOKUP_SECONDS: &str = "tower_bearer_store_lookup_duration_seconds";
/// `CachedTokenStore` lookups answered from the cache.
pub(crate) const CACHE_HITS: &str = "tower_bearer_cache_hits_total";
/// `CachedTokenStore` lookups that went to the store (or joined a lookup already going).
pub(crate) const CACHE_MISSES: &str = "tower_bearer_cache_misses_total";
/// 1 while a `CircuitBreakerTokenStore` is open (failing lookups at once), 0 otherwise.
pub(crate) const BREAKER_OPEN: &str = "tower_bearer_circuit_breaker_open";

/// The `outcome` label of each [`UsageOutcome`], made once: a key built from static parts
/// costs no allocation per request, where the facade's macro given a label value that is not
/// a literal allocates the key's labels each time.
fn outcome_labels() -> &'static [[Label; 1]; UsageOutcome::ALL.len()] {
    static LABELS: OnceLock<[[Label; 1]; UsageOutcome::ALL.len()]> = OnceLock::new();
    LABELS.get_or_init(|| UsageOutcome::ALL.map(|o| [Label::from_static_parts("outcome", o.as_str())]))
}

/// Counts one decided request.
pub(crate) fn request(outcome: UsageOutcome, token_id: Option<&str>) {
    if let Some(id) = token_id {
        metrics::counter!(REQUESTS, "outcome" => outcome.as_str(), "token_id" => id.to_owned()).increment(1);
        return;
    }
    static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));
    let Some(at) = UsageOutcome::ALL.iter().position(|o| *o == outcome) else { return };
    let key = Key::from_static_parts(REQUESTS, &outcome_labels()[at]);
    metrics::with_recorder(|recorder| recorder.register_counter(&key, &METADATA)).increment(1);
}

/// Records how long a lookup answered later took.
pub(crate) fn lookup_took(took: Duration) {
    metrics::histogram!(LOOKUP_SECONDS).record(took.as_secs_f64());
}

/// Counts a cache hit (`true`) or miss.
#[cfg(feature = "cache")]
pub(crate) fn cache(hit: bool) {
    metrics::counter!(if hit { CACHE_HITS } else { CACHE_MISSES }).increment(1);
}

/// Sets the circuit breaker's gauge.
#[cfg(feature = "tokio")]
pub(crate) fn breaker_open(open: bool) {
    metrics::gauge!(BREAKER_OPEN).set(if open { 1.0 } else { 0.0 });
}
