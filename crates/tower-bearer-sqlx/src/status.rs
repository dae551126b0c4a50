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
        });
    }

    pub(crate) fn lost(&self) {
        self.0.send_modify(|s| {
            s.subscribed = false;
            s.losses += 1;
        });
    }
}
