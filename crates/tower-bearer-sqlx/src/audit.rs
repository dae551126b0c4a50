//! The audit log in the store's database: an append-only table (migration 7), one multi-row
//! `INSERT` per batch, read a page at a time by position, purged by time.

use std::time::SystemTime;

use sqlx::query::Query;
use sqlx::{Database, Encode, Row, Type};
use tower_bearer::manage::Page;
use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery, AuditRecord};
use tower_bearer::{StoreError, TokenId};

use crate::db::Db;
use crate::micros::{micros, time};
use crate::store::SqlTokenStore;

fn failed(e: sqlx::Error) -> StoreError {
    StoreError::unavailable(e)
}

/// What a page of the log binds (`Statements::audit_page`): the position to start after,
/// the filters (`None` matches everything), and one row more than the page, to tell whether
/// more follow.
pub(crate) struct AuditFilter<'a> {
    pub(crate) after: i64,
    pub(crate) token_id: Option<&'a str>,
    pub(crate) kind: Option<&'a str>,
    pub(crate) subject: Option<&'a str>,
    pub(crate) organization: Option<&'a str>,
    /// Only rows without an organization.
    pub(crate) no_organization: bool,
    pub(crate) limit: i64,
}

impl<'a> AuditFilter<'a> {
    fn of(query: &'a AuditQuery) -> Self {
        let (organization, no_organization) = query.organization.sql_params();
        AuditFilter {
            after: i64::try_from(query.after.unwrap_or(0)).unwrap_or(i64::MAX),
            token_id: query.token_id.as_ref().map(TokenId::as_str),
            kind: query.kind.map(AuditKind::as_str),
            subject: query.subject.as_deref(),
            organization,
            no_organization,
            limit: i64::try_from(query.page_size() + 1).unwrap_or(i64::MAX),
        }
    }
}

/// Binds one event's columns, in `AUDIT_COLUMNS` order, to the next parameters of `query`.
pub(crate) fn bind_event<'q, DB>(
    query: Query<'q, DB, DB::Arguments<'q>>,
    e: &'q AuditEvent,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<i32>: Encode<'q, DB> + Type<DB>,
{
    query
        .bind(micros(e.at))
        .bind(e.kind.as_str())
        .bind(e.token_id.as_ref().map(TokenId::as_str))
        .bind(e.subject.as_deref())
        .bind(e.organization.as_deref())
        .bind(e.method.as_deref())
        .bind(e.path.as_deref())
        .bind(e.status.map(i32::from))
        .bind(e.reason.as_deref())
}

/// Reads one row of a page: `seq`, then the columns of `AUDIT_COLUMNS`.
pub(crate) fn record<R: Row>(r: &R) -> Result<AuditRecord, sqlx::Error>
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

/// The audit log of tower-bearer in the store's database, next to the tokens: append-only,
/// each batch one multi-row `INSERT`, read by position ([`AuditQuery::after`]), purged by
/// time for retention.
///
/// Following the log by position misses nothing, even with several instances writing: on
/// Postgres (13 or newer), a page stops short of any row while an earlier-numbered one may
/// still commit, so a row written while a long write transaction runs anywhere on the server
/// shows once that transaction ends.
impl AuditLog for SqlTokenStore {
    async fn append(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        match &self.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.append_audit(&events).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.append_audit(&events).await,
        }
        .map_err(failed)
    }

    async fn audit_page(&self, query: &AuditQuery) -> Result<Page<AuditRecord, u64>, StoreError> {
        let filter = AuditFilter::of(query);
        let records = match &self.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.audit_page(&filter).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.audit_page(&filter).await,
        };
        Ok(Page::from_one_extra(records.map_err(failed)?, query.page_size(), |r| r.seq))
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        match &self.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.purge_audit(micros(before)).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.purge_audit(micros(before)).await,
        }
        .map_err(failed)
    }
}
