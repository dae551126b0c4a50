//! [`ReplaySchedule`]: how often an instance deletes the single-use ids whose use expired,
//! once it has used the store as a replay cache.

use std::sync::Once;
use std::time::Duration;

/// The interval of the purge of expired single-use ids, started by the first use.
pub(crate) struct ReplaySchedule {
    pub(crate) every: Duration,
    started: Once,
}

impl ReplaySchedule {
    pub(crate) fn new(every: Duration) -> Self {
        ReplaySchedule { every, started: Once::new() }
    }

    /// Runs `start` the first time only: an instance that never checks an id runs no purge.
    pub(crate) fn start_once(&self, start: impl FnOnce()) {
        self.started.call_once(start);
    }
}
