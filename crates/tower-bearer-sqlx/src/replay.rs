//! [`ReplayCache`] in the store's database (migration `replay ids`): one row per single-use
//! id, inserted by one statement, so that every instance sharing the database refuses a
//! second use, whichever instance saw the first.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use tower_bearer::StoreError;
use tower_bearer::store::{Answer, ReplayCache};

use crate::db::Db;
use crate::micros::micros;
use crate::store::{Inner, SqlTokenStore};

/// Single-use identifiers (DPoP proofs' `jti`s, client assertions') shared by every instance
/// on the database: a replay sent to another instance than the first use is refused too.
///
/// Each check is one `INSERT` (`ON CONFLICT … DO UPDATE … WHERE` expired, so a row whose
/// use expired counts as unseen), bounded by the [lookup
/// timeout](crate::SqlTokenStoreBuilder::lookup_timeout) since it runs on the request's path.
/// A database error or a timeout answers `Err`: the caller refuses, never admits a use it
/// could not record. Expiry is read on the store's [clock](crate::SqlTokenStoreBuilder::clock).
/// From its first check on, an instance deletes the expired ids every
/// [`replay_purge_interval`](crate::SqlTokenStoreBuilder::replay_purge_interval) (one minute by
/// default), so the table holds about the ids of the last few minutes;
/// [`purge_expired`](tower_bearer::TokenManager::purge_expired) deletes them too.
impl ReplayCache for SqlTokenStore {
    fn first_use(&self, id: [u8; 32], until: SystemTime) -> Answer<Result<bool, StoreError>> {
        self.inner.replay_purge.start_once(|| spawn_purge(&self.inner));
        let inner = self.inner.clone();
        Answer::later(async move {
            let (until, now) = (micros(until), micros(inner.clock.now()));
            let insert = async {
                match &inner.db {
                    #[cfg(feature = "sqlite")]
                    Db::Sqlite(db) => db.use_once(&id, until, now).await,
                    #[cfg(feature = "postgres")]
                    Db::Postgres(db) => db.use_once(&id, until, now).await,
                }
            };
            match tokio::time::timeout(inner.lookup_timeout, insert).await {
                Err(_) => Err(StoreError::timeout()),
                Ok(answer) => answer.map_err(StoreError::unavailable),
            }
        })
    }
}

/// The most ids one statement deletes: a backlog (a purge long overdue) goes in several
/// statements, none holding its locks for long.
const PURGE_BATCH: u32 = 10_000;

/// Deletes the expired ids every [`ReplaySchedule::every`](crate::replay_schedule::ReplaySchedule),
/// until the store is dropped or closed. A failed delete is tried again at the next tick.
fn spawn_purge(inner: &Arc<Inner>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    let every = inner.replay_purge.every;
    let inner: Weak<Inner> = Arc::downgrade(inner);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once, when nothing has expired yet.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(inner) = inner.upgrade() else { return };
            if inner.db.is_closed() {
                return;
            }
            let now = micros(inner.clock.now());
            loop {
                let deleted = match &inner.db {
                    #[cfg(feature = "sqlite")]
                    Db::Sqlite(db) => db.purge_replay_batch(now, i64::from(PURGE_BATCH)).await,
                    #[cfg(feature = "postgres")]
                    Db::Postgres(db) => db.purge_replay_batch(now, i64::from(PURGE_BATCH)).await,
                };
                match deleted {
                    Ok(deleted) if deleted >= u64::from(PURGE_BATCH) => tokio::task::yield_now().await,
                    _ => break,
                }
            }
        }
    });
}
