//! [`FailureLimiter`]: failed client authentications per client id, to stop secret guessing.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Failed authentications per client id, to stop secret guessing.
pub(crate) struct FailureLimiter {
    pub(crate) max_failures: u32,
    pub(crate) window: Duration,
    pub(crate) failures: Mutex<HashMap<String, (u32, SystemTime)>>,
}

/// Failure records kept before expired ones are swept, bounding memory under a flood of
/// made-up client ids.
pub(crate) const MAX_TRACKED_CLIENTS: usize = 10_000;

impl FailureLimiter {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        FailureLimiter { max_failures, window, failures: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, SystemTime)>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long `id` must still wait at `now`, if it is locked out.
    pub(crate) fn locked(&self, id: &str, now: SystemTime) -> Option<Duration> {
        let (count, since) = *self.table().get(id)?;
        let elapsed = now.duration_since(since).unwrap_or_default();
        (count >= self.max_failures && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Records a failed authentication of `id` at `now`.
    pub(crate) fn failed(&self, id: &str, now: SystemTime) {
        let window = self.window;
        let expired = |since: SystemTime| now.duration_since(since).unwrap_or_default() >= window;
        let mut table = self.table();
        if table.len() >= MAX_TRACKED_CLIENTS {
            table.retain(|_, (_, since)| !expired(*since));
        }
        let key = id.chars().take(256).collect::<String>();
        let entry = table.entry(key).or_insert((0, now));
        if expired(entry.1) {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub(crate) fn succeeded(&self, id: &str) {
        self.table().remove(id);
    }
}
