//! [`Db`]: the database a store runs on, and the one place that dispatches each token
//! operation to it (the audit log, the markers and the OAuth clients dispatch their few where
//! they are implemented); [`SqlDb`]: the database on one backend, whose operations are written
//! once for both (`queries.rs`).

use sqlx::Pool;

use crate::dialect::Dialect;
use crate::error::OpenError;
use crate::metering::{Account, Hold};
use crate::revocations::RevocationRow;
use crate::row::{LifecycleAudit, PageQuery, Rotated, Rotation, TokenRow};
use crate::statements::Statements;

/// Which database a [`SqlTokenStore`](crate::SqlTokenStore) uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlBackend {
    /// SQLite (feature `sqlite`).
    Sqlite,
    /// PostgreSQL (feature `postgres`).
    Postgres,
}

/// The store's database on backend `DB`: the pool, the statements on the store's tables, and
/// where they are.
pub(crate) struct SqlDb<DB: Dialect> {
    pub(crate) pool: Pool<DB>,
    /// PostgreSQL: the schema of the store's tables and migrations.
    pub(crate) schema: String,
    /// PostgreSQL: the channel changes are announced on.
    pub(crate) channel: String,
    pub(crate) sql: Box<Statements>,
}

impl<DB: Dialect> SqlDb<DB> {
    pub(crate) fn new(pool: Pool<DB>, schema: &str, channel: String) -> Self {
        let sql = Box::new(Statements::new::<DB>(&DB::table_prefix(schema)));
        SqlDb { pool, schema: schema.to_owned(), channel, sql }
    }

    pub(crate) async fn migrate(&self) -> Result<(), OpenError> {
        DB::migrate(&self.pool, &self.schema).await
    }
}

/// The store's database: one variant per backend compiled in.
pub(crate) enum Db {
    #[cfg(feature = "sqlite")]
    Sqlite(SqlDb<sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(SqlDb<sqlx::Postgres>),
}

impl Db {
    pub(crate) fn backend(&self) -> SqlBackend {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(_) => SqlBackend::Sqlite,
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => SqlBackend::Postgres,
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.pool.close().await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.pool.close().await,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.pool.is_closed(),
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.pool.is_closed(),
        }
    }

    pub(crate) async fn migrate(&self) -> Result<(), OpenError> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.migrate().await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.migrate().await,
        }
    }

    pub(crate) async fn lookup(&self, hash: &[u8; 32]) -> Result<Option<TokenRow>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.lookup(hash).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.lookup(hash).await,
        }
    }

    pub(crate) async fn insert(
        &self,
        hash: &[u8; 32],
        row: &TokenRow,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<(), sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.insert(hash, row, audit).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.insert(hash, row, audit).await,
        }
    }

    pub(crate) async fn get(&self, id: &str) -> Result<Option<TokenRow>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.get(id).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.get(id).await,
        }
    }

    pub(crate) async fn page(&self, page: &PageQuery<'_>) -> Result<Vec<TokenRow>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.page(page).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.page(page).await,
        }
    }

    pub(crate) async fn list(&self, subject: &str) -> Result<Vec<TokenRow>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.list(subject).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.list(subject).await,
        }
    }

    pub(crate) async fn revoke(
        &self,
        id: &str,
        now: i64,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.revoke(id, now, audit).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.revoke(id, now, audit).await,
        }
    }

    pub(crate) async fn delete(
        &self,
        id: &str,
        now: i64,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.delete(id, now, audit).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.delete(id, now, audit).await,
        }
    }

    /// The revocations kept beyond `now`.
    pub(crate) async fn revocations(&self, now: i64) -> Result<Vec<RevocationRow>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.revocations(now).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.revocations(now).await,
        }
    }

    pub(crate) async fn purge_expired(
        &self,
        now: i64,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Vec<TokenRow>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.purge_expired(now, audit).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.purge_expired(now, audit).await,
        }
    }

    pub(crate) async fn record_usage(&self, id: &str, at: i64) -> Result<(), sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.record_usage(id, at).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.record_usage(id, at).await,
        }
    }

    pub(crate) async fn touch(&self, hash: &[u8; 32], at: i64) -> Result<(), sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.touch(hash, at).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.touch(hash, at).await,
        }
    }

    /// Replaces the live token `id` by `new_hash` / `new_id` (expiring no later than
    /// `not_after`) in one transaction; the old one is revoked, or expires at `grace_until`,
    /// replaced.
    pub(crate) async fn rotate(
        &self,
        id: &str,
        rotation: Rotation<'_>,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Rotated, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.rotate(id, rotation, audit).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.rotate(id, rotation, audit).await,
        }
    }

    /// The credit bookkeeping of token `id`, if it has credits.
    pub(crate) async fn credits(&self, id: &str) -> Result<Option<Account>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.credits(id).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.credits(id).await,
        }
    }

    /// Writes `write` over token `id`'s bookkeeping if it still is `read`, with the lease it
    /// takes. Returns whether it did.
    pub(crate) async fn take_credits(
        &self,
        id: &str,
        read: Account,
        write: Account,
        hold: Option<Hold<'_>>,
    ) -> Result<bool, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.take_credits(id, read, write, hold).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.take_credits(id, read, write, hold).await,
        }
    }

    /// Moves the deadline of `holder`'s lease of token `id`; whether it is still there.
    pub(crate) async fn renew_lease(
        &self,
        id: &str,
        holder: &str,
        period_start: i64,
        until: i64,
    ) -> Result<bool, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.renew_lease(id, holder, period_start, until).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.renew_lease(id, holder, period_start, until).await,
        }
    }

    /// Ends `holder`'s lease of token `id`, giving back its `unused` credits unless it was
    /// reclaimed or its period ended; whether they came back.
    pub(crate) async fn give_back(
        &self,
        id: &str,
        holder: &str,
        unused: i64,
        period_start: i64,
    ) -> Result<bool, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.give_back(id, holder, unused, period_start).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.give_back(id, holder, unused, period_start).await,
        }
    }

    /// Reclaims token `id`'s leases past their deadline at `now` (spent); how many credits.
    pub(crate) async fn reclaim_leases(&self, id: &str, now: i64) -> Result<i64, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.reclaim_leases(id, now).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.reclaim_leases(id, now).await,
        }
    }
}
