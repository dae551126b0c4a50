//! [`Dialect`]: what differs between SQLite and PostgreSQL in the store's statements, so that
//! each statement is written once for both ([`Statements`](crate::statements::Statements)) and
//! run by one implementation generic over the database (`queries.rs`).

use std::future::Future;

use sqlx::{Database, Encode, Pool, Type};

use crate::error::OpenError;
use crate::revocations::RevocationRow;

/// The store's SQL on one database. Each item differs because the databases do; all else
/// is the same text on both.
pub(crate) trait Dialect: Database {
    /// The prefix of the store's table names: its own schema on PostgreSQL (so nothing mixes
    /// with the application's tables), a name prefix on SQLite (which has no schemas).
    fn table_prefix(schema: &str) -> String;

    /// Parameter `n` (1-based).
    fn param(n: usize) -> String;

    /// Parameter `n` in a test the statement gives no type to (`… IS NULL`): PostgreSQL must
    /// be told it to plan the statement; SQLite has no types to tell.
    fn typed_param(n: usize, sql_type: &str) -> String;

    /// Time column `name`, read as microseconds since the epoch (under its own name): the
    /// store's unit. PostgreSQL keeps times as `TIMESTAMPTZ`, SQLite as those microseconds.
    fn time_column(name: &str) -> String;

    /// Parameter `n`, microseconds since the epoch, as a value for a time column.
    fn time_param(n: usize) -> String;

    /// The two-argument minimum (`LEAST`; SQLite's scalar `min`). The two disagree on NULL
    /// (`LEAST` skips it, `min` returns it): statements give them no NULL.
    const LEAST: &'static str;

    /// The two-argument maximum (`GREATEST`; SQLite's scalar `max`), NULL as for [`LEAST`](Self::LEAST).
    const GREATEST: &'static str;

    /// `id` compared by its bytes, the order pages follow: PostgreSQL's default collation
    /// may be a language's, SQLite's is by bytes.
    const ID_BY_BYTES: &'static str;

    /// What opens a transaction that reads a row and then writes: SQLite takes its one
    /// write lock at once (`IMMEDIATE`), so that no other writer slips in between and a busy
    /// database waits for `busy_timeout` instead of failing; PostgreSQL locks the row it reads
    /// ([`LOCK_ROW`](Self::LOCK_ROW)).
    const BEGIN_WRITE: &'static str;

    /// Ends such a read: `FOR UPDATE` on PostgreSQL; nothing on SQLite, already locked.
    const LOCK_ROW: &'static str;

    /// A condition on audit rows that keeps a page from showing one while an earlier-numbered
    /// row may still commit: PostgreSQL numbers a row when it is inserted, not when it commits,
    /// and its migration 9 records each row's transaction; SQLite has one writer at a time,
    /// whose rows commit in order, and needs none.
    const AUDIT_COMMITTED_IN_ORDER: &'static str;

    /// A list of strings as the database keeps it: a `TEXT[]` on PostgreSQL, a JSON array in a
    /// `TEXT` column on SQLite (which has no arrays).
    type List<'a>: Encode<'a, Self> + Type<Self> + Send + 'a;

    /// `items` as a [`List`](Self::List) to bind.
    fn list(items: &[String]) -> Result<Self::List<'_>, sqlx::Error>;

    /// The list in column `name` of `row`.
    fn read_list(row: &Self::Row, name: &str) -> Result<Vec<String>, sqlx::Error>;

    /// How many rows a statement changed: each driver has the method, sqlx no trait for it.
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Runs in the transaction on `conn` that changes the token with digest `hash`: PostgreSQL
    /// tells every instance's listener (`pg_notify` on `channel`, sent when it commits).
    /// SQLite has no channel (other processes poll), hence this default: nothing.
    fn announce(
        _conn: &mut Self::Connection,
        _channel: &str,
        _hash: &[u8],
        _revocation: Option<&RevocationRow>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        std::future::ready(Ok(()))
    }

    /// Applies the store's migrations (each database has its own, in its own types).
    fn migrate(pool: &Pool<Self>, schema: &str) -> impl Future<Output = Result<(), OpenError>> + Send;
}
