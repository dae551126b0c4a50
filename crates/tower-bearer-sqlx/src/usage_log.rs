//! Usage analytics in the store's database (migration `usage`): one table of counters, to
//! which every instance adds its counts with upserts that add, a batch in one transaction.

use std::time::SystemTime;

use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};
use tower_bearer::manage::usage::{Granularity, UsageCount, UsageLog, UsageOutcome, UsageQuery};
use tower_bearer::{StoreError, TokenId};

use crate::db::{Db, SqlDb};
use crate::dialect::Dialect;
use crate::micros::{micros, time};
use crate::store::SqlTokenStore;

/// The token id column of counts of tokens the store did not know (ids are never empty).
const UNKNOWN_TOKEN: &str = "";

/// Columns bound per counter by [`UsageStatements::add`].
const COLUMNS: usize = 7;

/// Counters per `INSERT`: 7 parameters each, well under both databases' limits.
const ROWS_PER_INSERT: usize = 500;

/// The statements on the counters table.
struct UsageStatements {
    table: String,
    /// Counts `$1` granularity, from bucket `$2` to `$3` (exclusive), `$4` token id, `$5`
    /// subject, `$6` organization (`NULL`: any), `$7` without an organization only, `$8`
    /// known tokens only.
    read: String,
    /// Drops `$1` granularity's counters of buckets before `$2`.
    purge: String,
}

impl UsageStatements {
    fn new<DB: Dialect>(schema: &str) -> Self {
        {
            let table = format!("{}usage_counts", DB::table_prefix(schema));
            let p = DB::param;
            let read = format!(
                "SELECT granularity, bucket_us, token_id, outcome, organization, subject, count FROM {table} \
                 WHERE granularity = {} AND bucket_us >= {} AND bucket_us < {} \
                 AND ({} IS NULL OR token_id = {}) AND ({} IS NULL OR subject = {}) \
                 AND ({} IS NULL OR organization = {}) AND (NOT {} OR organization IS NULL) \
                 AND (NOT {} OR token_id <> '{UNKNOWN_TOKEN}')",
                p(1),
                p(2),
                p(3),
                DB::typed_param(4, "TEXT"),
                p(4),
                DB::typed_param(5, "TEXT"),
                p(5),
                DB::typed_param(6, "TEXT"),
                p(6),
                DB::typed_param(7, "BOOLEAN"),
                DB::typed_param(8, "BOOLEAN"),
            );
            let purge = format!("DELETE FROM {table} WHERE granularity = {} AND bucket_us < {}", p(1), p(2));
            UsageStatements { table, read, purge }
        }
    }

    /// The upsert of `rows` counters, each adding its count to the row there.
    fn add<DB: Dialect>(&self, rows: usize) -> String {
        let values: Vec<String> = (0..rows)
            .map(|row| {
                let params: Vec<String> = (1..=COLUMNS).map(|c| DB::param(row * COLUMNS + c)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {table} (granularity, bucket_us, token_id, outcome, organization, subject, count) \
             VALUES {} ON CONFLICT (granularity, bucket_us, token_id, outcome) \
             DO UPDATE SET count = {table}.count + excluded.count",
            values.join(", "),
            table = self.table,
        )
    }
}

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
    fn usage_sql(&self) -> UsageStatements {
        UsageStatements::new::<DB>(&self.schema)
    }

    /// Adds `counts`, all in one transaction.
    async fn add_usage(&self, counts: &[UsageCount]) -> Result<(), sqlx::Error> {
        let sql = self.usage_sql();
        let mut tx = self.pool.begin().await?;
        for chunk in counts.chunks(ROWS_PER_INSERT) {
            let statement = sql.add::<DB>(chunk.len());
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
        let sql = self.usage_sql();
        let (organization, no_organization) = query.organization.sql_params();
        let known_only = organization.is_some() || no_organization;
        let rows = sqlx::query(&sql.read)
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
        let sql = self.usage_sql();
        let done =
            sqlx::query(&sql.purge).bind(granularity.as_str()).bind(before).execute(&self.pool).await?;
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
