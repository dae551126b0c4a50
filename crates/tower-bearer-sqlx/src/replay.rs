//! [`ReplayCache`] in the store's database (migration `replay ids`): one row per single-use
//! id, inserted by one statement, so that every instance sharing the database refuses a
//! second use, whichever instance saw the first.

use std::time::SystemTime;

use tower_bearer::StoreError;
use tower_bearer::store::{ReplayCache, ReplayFuture};

use crate::db::Db;
use crate::micros::micros;
use crate::store::SqlTokenStore;

/// Single-use identifiers (DPoP proofs' `jti`s, client assertions') shared by every instance
/// on the database: a replay sent to another instance than the first use is refused too.
///
/// Each check is one `INSERT` (`ON CONFLICT … DO UPDATE … WHERE` expired, so a row whose
/// use expired counts as unseen), bounded by the [lookup
/// timeout](crate::SqlTokenStoreBuilder::lookup_timeout) since it runs on the request's path.
/// A database error or a timeout answers `Err`: the caller refuses, never admits a use it
/// could not record. Expiry is read on the store's [clock](crate::SqlTokenStoreBuilder::clock).
/// [`purge_expired`](tower_bearer::TokenManager::purge_expired) deletes the expired ids with
/// the expired tokens: schedule it, or the table keeps every id ever seen.
impl ReplayCache for SqlTokenStore {
    fn first_use(&self, id: [u8; 32], until: SystemTime) -> ReplayFuture<'_> {
        Box::pin(async move {
            let inner = &*self.inner;
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
