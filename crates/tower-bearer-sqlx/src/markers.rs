//! [`OnceMarkers`] in the store's database (migration 8): one row per marker, inserted if
//! absent, so of concurrent instances exactly one sets it.

use std::time::SystemTime;

use tower_bearer::StoreError;
use tower_bearer::manage::OnceMarkers;

use crate::db::Db;
use crate::micros::micros;
use crate::store::SqlTokenStore;

impl OnceMarkers for SqlTokenStore {
    async fn set_once(&self, name: &str, at: SystemTime) -> Result<bool, StoreError> {
        match &self.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.set_marker(name, micros(at)).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.set_marker(name, micros(at)).await,
        }
        .map_err(StoreError::unavailable)
    }
}
