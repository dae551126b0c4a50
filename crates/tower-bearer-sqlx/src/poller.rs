//! The SQLite side of [`SqlTokenStore::push_revocations`]: processes sharing one database file
//! have no notification channel, so each subscriber polls every interval. A deny list has the
//! revocations in effect replayed (it merges what it already has); a cache reads the change
//! feed (`changes.rs`) and drops each changed token, or everything after a gap.

use sqlx::sqlite::SqlitePool;
use tower_bearer::TokenManager;
use tower_bearer::store::RevocationSubscriber;

use crate::changes::{Feed, Read};
use crate::status::StatusReport;
use crate::store::SqlTokenStore;

/// Starts polling `pool` for `subscriber` (see [`RevocationListener`](crate::RevocationListener)).
pub(crate) fn spawn<R: RevocationSubscriber>(
    store: &SqlTokenStore,
    pool: &SqlitePool,
    subscriber: R,
    status: StatusReport,
) -> tokio::task::JoinHandle<()> {
    if subscriber.wants_replay() {
        tokio::spawn(replay(store.clone(), subscriber, status))
    } else {
        tokio::spawn(follow(store.clone(), pool.clone(), subscriber, status))
    }
}

/// Replays the revocations in effect every interval.
async fn replay<R: RevocationSubscriber>(store: SqlTokenStore, subscriber: R, status: StatusReport) {
    let interval = store.inner.poll_interval;
    let mut connection = Connection::new(status);
    while subscriber.is_alive() && !store.inner.db.is_closed() {
        // A read slower than the interval counts as failed: the bound must hold.
        let alive = match tokio::time::timeout(interval, store.revocations()).await {
            Ok(Ok(revocations)) => subscriber.replay(revocations) && connection.up(&subscriber),
            _ => connection.down(&subscriber),
        };
        if !alive {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

/// Tells the subscriber of every token changed since it subscribed, every interval.
async fn follow<R: RevocationSubscriber>(
    store: SqlTokenStore,
    pool: SqlitePool,
    subscriber: R,
    status: StatusReport,
) {
    let interval = store.inner.poll_interval;
    let mut connection = Connection::new(status);
    // Where the feed was when the subscriber started to trust the push: nothing it holds is
    // older than that.
    let mut feed: Option<Feed> = None;
    while subscriber.is_alive() && !pool.is_closed() {
        let read = tokio::time::timeout(interval, async {
            match &mut feed {
                Some(feed) => feed.read(&pool).await,
                None => Feed::start(&pool).await.map(|start| {
                    feed = Some(start);
                    Read::Gap
                }),
            }
        })
        .await;
        let (alive, more) = match read {
            Ok(Ok(read)) => {
                let (told, more) = match read {
                    // The first read, or a reader that fell behind the purge: whatever the
                    // subscriber holds may be stale.
                    Read::Gap => (subscriber.reset(), false),
                    Read::Changed { hashes, more } => {
                        (hashes.iter().all(|hash| subscriber.revoked(hash, None)), more)
                    }
                };
                (told && connection.up(&subscriber), more)
            }
            _ => (connection.down(&subscriber), false),
        };
        if !alive {
            return;
        }
        if !more {
            tokio::time::sleep(interval).await;
        }
    }
}

/// Whether the subscriber's push is connected, as it and the status report were last told.
struct Connection {
    status: StatusReport,
    connected: bool,
}

impl Connection {
    fn new(status: StatusReport) -> Self {
        Connection { status, connected: false }
    }

    /// A read succeeded; returns whether the subscriber is still alive.
    fn up(&mut self, subscriber: &impl RevocationSubscriber) -> bool {
        if self.connected {
            return subscriber.is_alive();
        }
        self.connected = true;
        self.status.subscribed();
        subscriber.set_connected(true)
    }

    /// A read failed or timed out; returns whether the subscriber is still alive.
    fn down(&mut self, subscriber: &impl RevocationSubscriber) -> bool {
        if !self.connected {
            return subscriber.is_alive();
        }
        self.connected = false;
        self.status.lost();
        subscriber.set_connected(false)
    }
}
