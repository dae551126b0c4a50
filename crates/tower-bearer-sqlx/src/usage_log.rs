//! Usage analytics in the store's database (migration `usage`): one table of counters, to
//! which every instance adds its counts with upserts that add, a batch in one transaction.

use std::time::SystemTime;

use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};
use tower_bearer::manage::usage::{Granularity, UsageCount, UsageLog, UsageOutcome, UsageQuery};
use tower_bearer::{StoreError, TokenId};

use crate::db::{Db, SqlDb};
use crate::dialect::Dialect;
use crate::micros::{micros, time};
use crate::statements::UNKNOWN_TOKEN;
use crate::store::SqlTokenStore;

/// Counters per `INSERT`: 7 parameters each, well under both databases' limits.
const ROWS_PER_INSERT: usize = 500;

fn decode(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

/// A name the columns hold that this version does not know (written by a newer one).
#[derive(Debug)]
struct UnknownName(String);

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown usage granularity or outcome {:?}", self.0)
    }
}

impl std::error::Error for UnknownName {}

impl<DB> SqlDb<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Decode<'q, DB>,
{
    /// Adds `counts`, all in one transaction.
    async fn add_usage(&self, counts: &[UsageCount]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for chunk in counts.chunks(ROWS_PER_INSERT) {
            let statement = self.sql.add_usage::<DB>(chunk.len());
            let insert = chunk.iter().fold(sqlx::query(&statement), |q, c| {
                q.bind(c.granularity.as_str())
                    .bind(micros(c.granularity.bucket(c.bucket)))
                    .bind(c.token_id.as_ref().map_or(UNKNOWN_TOKEN, TokenId::as_str))
                    .bind(c.outcome.as_str())
                    .bind(c.organization.as_deref())
                    .bind(c.subject.as_deref())
                    .bind(i64::try_from(c.count).unwrap_or(i64::MAX))
            });
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageCount>, sqlx::Error> {
        let (organization, no_organization) = query.organization.sql_params();
        let known_only = organization.is_some() || no_organization;
        let rows = sqlx::query(&self.sql.usage_read)
            .bind(query.granularity.as_str())
            .bind(micros(query.from))
            .bind(micros(query.to))
            .bind(query.token_id.as_ref().map(TokenId::as_str))
            .bind(query.subject.as_deref())
            .bind(organization)
            .bind(no_organization)
            .bind(known_only)
            .fetch_all(&self.pool)
            .await?;
        let mut counts = rows.iter().map(read::<DB>).collect::<Result<Vec<_>, _>>()?;
        // In the order the trait promises (outcomes in their declared order, not by name).
        counts.sort_by(|a, b| (a.bucket, &a.token_id, a.outcome).cmp(&(b.bucket, &b.token_id, b.outcome)));
        Ok(counts)
    }

    async fn purge_usage(&self, granularity: Granularity, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(&self.sql.purge_usage)
            .bind(granularity.as_str())
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&done))
    }
}

/// One counter row.
fn read<DB>(r: &DB::Row) -> Result<UsageCount, sqlx::Error>
where
    DB: Dialect,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'q> i64: Decode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Decode<'q, DB>,
{
    let granularity: String = r.try_get("granularity")?;
    let granularity = Granularity::from_name(&granularity).ok_or_else(|| decode(UnknownName(granularity)))?;
    let outcome: String = r.try_get("outcome")?;
    let outcome = UsageOutcome::from_name(&outcome).ok_or_else(|| decode(UnknownName(outcome)))?;
    let token_id: String = r.try_get("token_id")?;
    let count: i64 = r.try_get("count")?;
    Ok(UsageCount {
        token_id: (token_id != UNKNOWN_TOKEN).then(|| TokenId::from(token_id)),
        organization: r.try_get("organization")?,
        subject: r.try_get("subject")?,
        outcome,
        granularity,
        bucket: time(r.try_get("bucket_us")?),
        count: u64::try_from(count).unwrap_or(0),
    })
}

/// Usage counters in the store's database, next to the tokens: one row per granularity,
/// bucket, token (unknown tokens share one) and outcome, to which every instance adds its
/// counts (`count = count + excluded.count`), a batch in one transaction (all or nothing).
/// Reads return the rows, already the sum of every instance's counts.
impl UsageLog for SqlTokenStore {
    async fn add_usage(&self, counts: Vec<UsageCount>) -> Result<(), StoreError> {
        match &self.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.add_usage(&counts).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.add_usage(&counts).await,
        }
        .map_err(StoreError::unavailable)
    }

    async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageCount>, StoreError> {
        match &self.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.usage(query).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.usage(query).await,
        }
        .map_err(StoreError::unavailable)
    }

    async fn purge_usage(&self, granularity: Granularity, before: SystemTime) -> Result<u64, StoreError> {
        match &self.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.purge_usage(granularity, micros(before)).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.purge_usage(granularity, micros(before)).await,
        }
        .map_err(StoreError::unavailable)
    }
}
