//! [`RevocationListener`]: the handle of a running push of a store's revocations to a
//! [`RevocationSubscriber`](tower_bearer::store::RevocationSubscriber): its status, its losses,
//! and a way to stop it.

use std::time::Duration;

use tokio::sync::watch;

use crate::status::ListenerStatus;

/// A running subscription to a store's revocations: one the store started for a cache or a
/// deny list built over it ([`revocation_pushes`]), or one started by [`push_revocations`]
/// (any other [`RevocationSubscriber`]).
///
/// [`revocation_pushes`]: crate::SqlTokenStore::revocation_pushes
/// [`push_revocations`]: crate::SqlTokenStore::push_revocations
/// [`RevocationSubscriber`]: tower_bearer::store::RevocationSubscriber
/// [replays]: tower_bearer::store::RevocationSubscriber::wants_replay
///
/// # The revocation bound
///
/// With the listener subscribed, a token revoked on any instance is rejected by every other
/// instance as soon as the notification arrives: a few milliseconds (the two-instance test
/// measures 2 to 5 ms on one machine, from `revoke` returning on one instance to the other
/// refusing the token). When the subscription breaks, the cache cannot trust what
/// it holds, so:
///
/// 1. the moment the loss is detected, the whole cache is cleared and active tokens are no
///    longer cached (every request asks the database, or gets 503 while it is down);
/// 2. the listener reconnects with exponential backoff (100 ms doubling to 5 s) and
///    re-subscribes; the cache is then cleared once more (a notification may have been missed
///    in between) and caching resumes.
///
/// A connection that is closed or reset (a database restart, a failover) is detected at once.
/// A connection that silently stops delivering (a dead network path) is detected by the
/// heartbeat: every `interval` the listener notifies its own channel and expects to hear
/// itself within `timeout` ([`listener_heartbeat`](crate::SqlTokenStoreBuilder::listener_heartbeat),
/// 5 s + 5 s by default). So a revocation made elsewhere is missed by a cache for at most
/// `interval + timeout`, and never longer than the cache's positive TTL, which stays the
/// fallback. A notification whose payload is not a digest (`NOTIFY tower_bearer_revocations,
/// 'all'`) clears every cache: an operator's panic button. PostgreSQL lets any role that can
/// connect to the database `NOTIFY` any channel, so a role sending `'all'` in a loop could keep
/// every cache empty: full flushes are coalesced to at most one per second (a flush asked for
/// within the second happens at its end, never dropped). Keep roles you do not trust off the
/// database the store uses.
///
/// On SQLite (several processes sharing one file), a deny list is refreshed, and a cache reads
/// the file's change feed (the digest of every token revoked, deleted or rotated, by any
/// process, numbered as committed), every
/// [`revocation_poll_interval`](crate::SqlTokenStoreBuilder::revocation_poll_interval) (1 s
/// by default): that interval is the bound. A failed read reports the channel down, so tokens
/// are checked against their records, and a cache caches no active token, until a read
/// succeeds again. The feed keeps the newest 10 000 changes; a cache further behind is cleared.
///
/// A subscriber that [replays] (a deny list of signed tokens) gets the same bound: at each
/// subscription, after `LISTEN` took effect, the revocations in effect are read from the
/// database and handed over before the subscriber is told it is connected; while it is not, it
/// has the database check each token.
///
/// The listener runs on a task of its own for as long as the subscriber exists; dropping this
/// handle does not stop it ([`stop`](Self::stop) does, leaving a cache on its TTL alone).
#[derive(Clone, Debug)]
pub struct RevocationListener {
    pub(crate) status: watch::Receiver<ListenerStatus>,
    pub(crate) task: tokio::task::AbortHandle,
}

impl RevocationListener {
    /// The listener's current state.
    #[must_use]
    pub fn status(&self) -> ListenerStatus {
        *self.status.borrow()
    }

    /// Waits until the listener's state satisfies `condition`, for at most `timeout`. Returns
    /// the state, or `None` on timeout (or if the listener stopped).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&ListenerStatus) -> bool,
    ) -> Option<ListenerStatus> {
        let mut status = self.status.clone();
        match tokio::time::timeout(timeout, status.wait_for(|s| condition(s))).await {
            Ok(Ok(s)) => Some(*s),
            _ => None,
        }
    }

    /// Waits until the listener is subscribed, for at most `timeout`. Returns whether it is.
    pub async fn wait_until_subscribed(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| s.subscribed).await.is_some()
    }

    /// Calls `hook` each time the subscription is lost (the database restarted, went away,
    /// or stopped answering the heartbeat), as soon as the listener notices, until `hook`
    /// returns `false`. Give it a
    /// [`CircuitBreakerTokenStore::tripper`](tower_bearer::CircuitBreakerTokenStore::tripper):
    /// requests then get their 503 at once instead of each waiting for the lookup timeout,
    /// and the breaker's probe closes it when the database answers again. Call it within a
    /// tokio runtime.
    pub fn on_loss(&self, hook: impl Fn() -> bool + Send + 'static) {
        let mut status = self.status.clone();
        let mut losses = status.borrow_and_update().losses;
        tokio::spawn(async move {
            // Ends with the listener (its sender dropped) or when the hook says so.
            while status.changed().await.is_ok() {
                let now = status.borrow_and_update().losses;
                if now > losses {
                    losses = now;
                    if !hook() {
                        return;
                    }
                }
            }
        });
    }

    /// Stops the listener. The cache then relies on its TTL alone for revocations made
    /// elsewhere.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Whether the task has ended: its subscriber is gone, the store was closed, or
    /// [`stop`](Self::stop).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}
