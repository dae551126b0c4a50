//! The push of a store's revocations to a [`RevocationSubscriber`] (a cache, a deny list of
//! signed tokens): `LISTEN/NOTIFY` on PostgreSQL, polling on SQLite; each push is a
//! [`RevocationListener`].

use std::sync::{MutexGuard, PoisonError};

use tower_bearer::store::RevocationSubscriber;

use crate::db::Db;
use crate::revocation_listener::RevocationListener;
use crate::status::StatusReport;
use crate::store::SqlTokenStore;

impl SqlTokenStore {
    /// The pushes this store started for what subscribed to it (a `CachedTokenStore` built
    /// over it, the deny list of a `SignedTokens` of tower-bearer-jwt), oldest first, those
    /// still running: to watch their status, or hand [`RevocationListener::on_loss`] a breaker.
    #[must_use]
    pub fn revocation_pushes(&self) -> Vec<RevocationListener> {
        self.running_pushes().clone()
    }

    /// The pushes this store started, those that ended dropped, under their lock.
    pub(crate) fn running_pushes(&self) -> MutexGuard<'_, Vec<RevocationListener>> {
        let mut pushes = self.inner.pushes.lock().unwrap_or_else(PoisonError::into_inner);
        pushes.retain(|push| !push.is_finished());
        pushes
    }

    /// Pushes the revocations made by every instance sharing this database to `subscriber`,
    /// with the bound documented on [`RevocationListener`]: a verifier of signed tokens keeps
    /// its deny list current with it.
    ///
    /// - PostgreSQL: as they commit, through `LISTEN/NOTIFY` (one connection).
    /// - SQLite (processes sharing one file): every
    ///   [`revocation_poll_interval`](crate::SqlTokenStoreBuilder::revocation_poll_interval),
    ///   by reading the revocations in effect for subscribers that
    ///   [replay](RevocationSubscriber::wants_replay) them (a deny list), and the digests of the
    ///   tokens changed since the last read for others (a cache: one query, which finds nothing
    ///   most of the time). A cache that fell more than 10 000 changes behind is
    ///   [reset](RevocationSubscriber::reset).
    ///
    /// Call it within a tokio runtime; the task runs until the subscriber is gone or
    /// [`RevocationListener::stop`].
    pub fn push_revocations<R: RevocationSubscriber>(&self, subscriber: R) -> RevocationListener {
        let (report, status) = StatusReport::channel();
        // In each case, before returning: the subscriber trusts nothing until the subscription
        // is confirmed.
        let task = match &self.inner.db {
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => {
                subscriber.set_connected(false);
                crate::listener::spawn(self, db, subscriber, report)
            }
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => {
                subscriber.set_connected(false);
                crate::poller::spawn(self, &db.pool, subscriber, report)
            }
        };
        RevocationListener { status, task: task.abort_handle() }
    }
}
