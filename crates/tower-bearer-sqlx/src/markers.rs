//! [`OnceMarkers`] in the store's database (migration 8): one row per marker, inserted if
//! absent, so of concurrent instances exactly one sets it.

use std::time::SystemTime;

use tower_bearer::StoreError;
use tower_bearer::manage::OnceMarkers;

use crate::db::Db;
use crate::micros::micros;
use crate::store::SqlTokenStore;

#[allow(unreachable_patterns, reason = "reachable with both backends enabled")]
impl OnceMarkers for SqlTokenStore {
    async fn set_once(&self, name: &str, at: SystemTime) -> Result<bool, StoreError> {
        let done = match &self.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => sqlx::query(
                "INSERT INTO tower_bearer_markers (name, set_at_us) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(micros(at))
            .execute(&db.pool)
            .await
            .map(|done| done.rows_affected()),
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => sqlx::query(&format!(
                "INSERT INTO \"{}\".markers (name, set_at_us) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                db.schema
            ))
            .bind(name)
            .bind(micros(at))
            .execute(&db.pool)
            .await
            .map(|done| done.rows_affected()),
        };
        Ok(done.map_err(StoreError::unavailable)? == 1)
    }
}
