//! SQLite: the store's [`Dialect`] there (tables named `tower_bearer_*`, times in INTEGER
//! microseconds, lists as JSON arrays) and its migrations.

use sqlx::Row;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool, SqliteQueryResult, SqliteRow};

use crate::changes;
use crate::dialect::Dialect;
use crate::error::OpenError;
use crate::migrate::{SQLITE, migrator};
use crate::revocations::RevocationRow;

impl Dialect for Sqlite {
    fn table_prefix(_schema: &str) -> String {
        "tower_bearer_".to_owned()
    }

    fn param(n: usize) -> String {
        format!("?{n}")
    }

    fn typed_param(n: usize, _sql_type: &str) -> String {
        Self::param(n)
    }

    fn time_column(name: &str) -> String {
        name.to_owned()
    }

    fn time_param(n: usize) -> String {
        Self::param(n)
    }

    const LEAST: &'static str = "min";
    const GREATEST: &'static str = "max";
    const ID_BY_BYTES: &'static str = "id";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK_ROW: &'static str = "";
    const AUDIT_COMMITTED_IN_ORDER: &'static str = "";

    type List<'a> = String;

    fn list(items: &[String]) -> Result<String, sqlx::Error> {
        // A list of strings always serializes.
        serde_json::to_string(items).map_err(|e| sqlx::Error::Encode(Box::new(e)))
    }

    fn read_list(row: &SqliteRow, name: &str) -> Result<Vec<String>, sqlx::Error> {
        let json: String = row.try_get(name)?;
        serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    /// No channel: the change goes into the feed that every process's caches poll.
    async fn announce(
        conn: &mut SqliteConnection,
        _channel: &str,
        hash: &[u8],
        _revocation: Option<&RevocationRow>,
    ) -> Result<(), sqlx::Error> {
        changes::record(conn, hash).await
    }

    async fn migrate(pool: &SqlitePool, _schema: &str) -> Result<(), OpenError> {
        let migrator = migrator(SQLITE).await?;
        // `run_direct` on a connection: `Migrator::run` (generic over `Acquire`) makes the
        // future non-`Send` (a higher-ranked lifetime in sqlx), and `open` must be spawnable.
        let mut conn = pool.acquire().await.map_err(OpenError::Connect)?;
        migrator.run_direct(&mut *conn).await.map_err(OpenError::Migrate)
    }
}
