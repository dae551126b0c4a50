//! The audit log in the store's database: an append-only table (migration 7), one multi-row
//! `INSERT` per batch, read a page at a time by position, purged by time.

use std::time::SystemTime;

use sqlx::{QueryBuilder, Row};
use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog, AuditPage, AuditQuery, AuditRecord};
use tower_bearer::{StoreError, TokenId};

use crate::db::Db;
use crate::micros::{micros, time};
use crate::store::SqlTokenStore;

const COLUMNS: &str = "at_us, kind, token_id, subject, organization, method, path, status, reason";

/// Rows per `INSERT`: well under both backends' limits on bound parameters (9 per row).
const ROWS_PER_INSERT: usize = 500;

fn failed(e: sqlx::Error) -> StoreError {
    StoreError::unavailable(e)
}

/// The audit table's name on this backend.
fn table(db: &Db) -> String {
    match db {
        #[cfg(feature = "sqlite")]
        Db::Sqlite(_) => "tower_bearer_audit".to_owned(),
        #[cfg(feature = "postgres")]
        Db::Postgres(db) => format!("\"{}\".audit", db.schema),
    }
}

/// The `SELECT` of a page: filters that are `NULL` match everything; the tenant filter's
/// "no organization" flag matches rows without one only.
fn page_sql(db: &Db) -> String {
    let t = table(db);
    let p = |n: u8| match db {
        #[cfg(feature = "sqlite")]
        Db::Sqlite(_) => format!("?{n}"),
        #[cfg(feature = "postgres")]
        Db::Postgres(_) => format!("${n}"),
    };
    let text = |n: u8| match db {
        #[cfg(feature = "sqlite")]
        Db::Sqlite(_) => p(n),
        #[cfg(feature = "postgres")]
        Db::Postgres(_) => format!("${n}::TEXT"),
    };
    let boolean = |n: u8| match db {
        #[cfg(feature = "sqlite")]
        Db::Sqlite(_) => p(n),
        #[cfg(feature = "postgres")]
        Db::Postgres(_) => format!("${n}::BOOLEAN"),
    };
    // On Postgres, `seq` is taken when a row is inserted, not when it commits: a row is shown
    // only once every transaction older than its own has ended, so that no earlier-numbered
    // row can appear after it (SQLite has one writer at a time: rows commit in `seq` order).
    let committed_in_order = match db {
        #[cfg(feature = "sqlite")]
        Db::Sqlite(_) => "",
        #[cfg(feature = "postgres")]
        Db::Postgres(_) => " AND (txid IS NULL OR txid < pg_snapshot_xmin(pg_current_snapshot()))",
    };
    format!(
        "SELECT seq, {COLUMNS} FROM {t} WHERE seq > {}{committed_in_order} \
         AND ({} IS NULL OR token_id = {}) AND ({} IS NULL OR kind = {}) \
         AND ({} IS NULL OR subject = {}) AND ({} IS NULL OR organization = {}) \
         AND (NOT {} OR organization IS NULL) ORDER BY seq LIMIT {}",
        p(1),
        text(2),
        p(2),
        text(3),
        p(3),
        text(4),
        p(4),
        text(5),
        p(5),
        boolean(7),
        p(6)
    )
}

fn record<R: Row>(r: &R) -> Result<AuditRecord, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i32>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = r.try_get("kind")?;
    let kind = kind.parse::<AuditKind>().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let mut event = AuditEvent::new(kind, time(r.try_get("at_us")?));
    event.token_id = r.try_get::<Option<String>, _>("token_id")?.map(TokenId::from);
    event.subject = r.try_get("subject")?;
    event.organization = r.try_get("organization")?;
    event.method = r.try_get("method")?;
    event.path = r.try_get("path")?;
    event.status = r.try_get::<Option<i32>, _>("status")?.and_then(|s| u16::try_from(s).ok());
    event.reason = r.try_get("reason")?;
    let seq: i64 = r.try_get("seq")?;
    Ok(AuditRecord::new(u64::try_from(seq).unwrap_or(0), event))
}

/// Binds one event's columns, in [`COLUMNS`] order.
macro_rules! push_event {
    ($row:expr, $e:expr) => {
        $row.push_bind(micros($e.at))
            .push_bind($e.kind.as_str())
            .push_bind($e.token_id.as_ref().map(|id| id.as_str().to_owned()))
            .push_bind($e.subject.clone())
            .push_bind($e.organization.clone())
            .push_bind($e.method.clone())
            .push_bind($e.path.clone())
            .push_bind($e.status.map(i32::from))
            .push_bind($e.reason.clone())
    };
}

/// The audit log of tower-bearer in the store's database, next to the tokens: append-only,
/// each batch one multi-row `INSERT`, read by position ([`AuditQuery::after`]), purged by
/// time for retention.
///
/// Following the log by position misses nothing, even with several instances writing: on
/// Postgres (13 or newer), a page stops short of any row while an earlier-numbered one may
/// still commit, so a row written while a long write transaction runs anywhere on the server
/// shows once that transaction ends.
#[allow(unreachable_patterns, reason = "reachable with both backends enabled")]
impl AuditLog for SqlTokenStore {
    async fn append(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        let db = &self.inner.db;
        let t = table(db);
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let head = format!("INSERT INTO {t} ({COLUMNS}) ");
            match db {
                #[cfg(feature = "sqlite")]
                Db::Sqlite(db) => {
                    let mut q = QueryBuilder::<sqlx::Sqlite>::new(head);
                    q.push_values(chunk, |mut row, e| {
                        push_event!(row, e);
                    });
                    q.build().execute(&db.pool).await.map_err(failed)?;
                }
                #[cfg(feature = "postgres")]
                Db::Postgres(db) => {
                    let mut q = QueryBuilder::<sqlx::Postgres>::new(head);
                    q.push_values(chunk, |mut row, e| {
                        push_event!(row, e);
                    });
                    q.build().execute(&db.pool).await.map_err(failed)?;
                }
            }
        }
        Ok(())
    }

    async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let db = &self.inner.db;
        let sql = page_sql(db);
        let size = query.page_size();
        let after = i64::try_from(query.after.unwrap_or(0)).unwrap_or(i64::MAX);
        let limit = i64::try_from(size + 1).unwrap_or(i64::MAX);
        let (token_id, kind) =
            (query.token_id.as_ref().map(TokenId::as_str), query.kind.map(AuditKind::as_str));
        let (subject, (organization, no_organization)) =
            (query.subject.as_deref(), query.organization.sql_params());
        // The same query on either backend's pool.
        macro_rules! page {
            ($pool:expr) => {
                sqlx::query(&sql)
                    .bind(after)
                    .bind(token_id)
                    .bind(kind)
                    .bind(subject)
                    .bind(organization)
                    .bind(limit)
                    .bind(no_organization)
                    .fetch_all($pool)
                    .await
                    .map_err(failed)?
                    .iter()
                    .map(record)
                    .collect::<Result<Vec<_>, _>>()
            };
        }
        let records = match db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => page!(&db.pool),
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => page!(&db.pool),
        };
        Ok(AuditPage::from_one_extra(records.map_err(failed)?, size))
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        let db = &self.inner.db;
        let t = table(db);
        let done = match db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => sqlx::query(&format!("DELETE FROM {t} WHERE at_us < ?1"))
                .bind(micros(before))
                .execute(&db.pool)
                .await
                .map_err(failed)?
                .rows_affected(),
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => sqlx::query(&format!("DELETE FROM {t} WHERE at_us < $1"))
                .bind(micros(before))
                .execute(&db.pool)
                .await
                .map_err(failed)?
                .rows_affected(),
        };
        Ok(done)
    }
}
