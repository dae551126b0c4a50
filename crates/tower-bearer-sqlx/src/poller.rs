//! The SQLite side of [`SqlTokenStore::push_revocations`]: processes sharing one database file
//! have no notification channel, so the revocations in effect are read again every interval
//! and replayed (a deny list merges what it already has).

use tower_bearer::TokenManager;
use tower_bearer::store::RevocationSubscriber;

use crate::status::StatusReport;
use crate::store::SqlTokenStore;

/// Starts polling for `subscriber` (see [`RevocationListener`](crate::RevocationListener)).
pub(crate) fn spawn<R: RevocationSubscriber>(
    store: &SqlTokenStore,
    subscriber: R,
    status: StatusReport,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(store.clone(), subscriber, status))
}

async fn run<R: RevocationSubscriber>(store: SqlTokenStore, subscriber: R, status: StatusReport) {
    let interval = store.inner.poll_interval;
    let mut connected = false;
    while subscriber.is_alive() && !store.inner.db.is_closed() {
        // A read slower than the interval counts as failed: the bound must hold.
        let read = tokio::time::timeout(interval, store.revocations()).await;
        let alive = match read {
            Ok(Ok(revocations)) => {
                let alive = subscriber.replay(revocations);
                if !connected && alive {
                    connected = true;
                    status.subscribed();
                    subscriber.set_connected(true)
                } else {
                    alive
                }
            }
            _ if connected => {
                connected = false;
                status.lost();
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
