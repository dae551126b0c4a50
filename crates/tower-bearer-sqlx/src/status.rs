//! [`ListenerStatus`]: the state of a running push of revocations, as the task pushing them
//! (the Postgres listener, the SQLite poller) reports it to its [`RevocationListener`] handle.
//!
//! [`RevocationListener`]: crate::RevocationListener

use tokio::sync::watch;

/// The state of a [`RevocationListener`](crate::RevocationListener).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerStatus {
    /// Whether the listener is subscribed now (and the cache is caching active tokens).
    pub subscribed: bool,
    /// How many times it has subscribed, counting the first time.
    pub subscriptions: u64,
    /// How many times a subscription was lost (and the cache cleared).
    pub losses: u64,
}

/// The pushing task's side of the status: the two transitions it makes, so that both kinds of
/// push count subscriptions and losses alike.
pub(crate) struct StatusReport(watch::Sender<ListenerStatus>);

impl StatusReport {
    /// A report and the receiver its handle reads.
    pub(crate) fn channel() -> (Self, watch::Receiver<ListenerStatus>) {
        let (sender, receiver) = watch::channel(ListenerStatus::default());
        (StatusReport(sender), receiver)
    }

    pub(crate) fn subscribed(&self) {
        self.0.send_modify(|s| {
            s.subscribed = true;
            s.subscriptions += 1;
            #[cfg(feature = "metrics")]
            crate::monitoring::push(true, s.subscriptions > 1);
        });
    }

    pub(crate) fn lost(&self) {
        self.0.send_modify(|s| {
            s.subscribed = false;
            s.losses += 1;
            #[cfg(feature = "metrics")]
            crate::monitoring::push(false, false);
        });
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn the_push_state_is_a_gauge_and_reconnections_a_counter() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let (report, _status) = StatusReport::channel();
            report.subscribed();
            report.lost();
            report.subscribed();
        });
        let mut seen: Vec<(String, DebugValue)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
            .collect();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            seen,
            [
                (crate::monitoring::PUSH_CONNECTED.to_owned(), DebugValue::Gauge(1.0.into())),
                (crate::monitoring::PUSH_RECONNECTS.to_owned(), DebugValue::Counter(1)),
            ]
        );
    }
}
