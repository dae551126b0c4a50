//! The SQLite side of [`SqlTokenStore::push_revocations`]: processes sharing one database file
//! have no notification channel, so the revocations in effect are read again every interval
//! and replayed (a deny list merges what it already has).

use tokio::sync::watch;
use tower_bearer::store::RevocationSubscriber;

use crate::store::SqlTokenStore;
use crate::subscription::{ListenerStatus, in_effect};

/// Starts polling for `subscriber` (see [`RevocationListener`](crate::RevocationListener)).
pub(crate) fn spawn<R: RevocationSubscriber>(
    store: &SqlTokenStore,
    subscriber: R,
    status: watch::Sender<ListenerStatus>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(store.clone(), subscriber, status))
}

async fn run<R: RevocationSubscriber>(
    store: SqlTokenStore,
    subscriber: R,
    status: watch::Sender<ListenerStatus>,
) {
    let interval = store.inner.poll_interval;
    let mut connected = false;
    while subscriber.is_alive() && !store.inner.db.is_closed() {
        // A read slower than the interval counts as failed: the bound must hold.
        let read = tokio::time::timeout(interval, in_effect(&store)).await;
        let alive = match read {
            Ok(Ok(revocations)) => {
                let alive = subscriber.replay(revocations);
                if !connected && alive {
                    connected = true;
                    status.send_modify(|s| {
                        s.subscribed = true;
                        s.subscriptions += 1;
                    });
                    subscriber.set_connected(true)
                } else {
                    alive
                }
            }
            _ if connected => {
                connected = false;
                status.send_modify(|s| {
                    s.subscribed = false;
                    s.losses += 1;
                });
                subscriber.set_connected(false)
            }
            _ => subscriber.is_alive(),
        };
        if !alive {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}
