//! PostgreSQL: the store's [`Dialect`] there (tables in the store's own schema, times in
//! `TIMESTAMPTZ`, lists as `TEXT[]`, `pg_notify` of the digest in every transaction that ends
//! a token's validity), its migrations, and the pool it opens itself.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgQueryResult, PgRow, Postgres};
use sqlx::{Connection, Executor, Row};

use crate::dialect::Dialect;
use crate::error::OpenError;
use crate::migrate::{POSTGRES, migrator};
use crate::revocations::{RevocationRow, payload};

/// A pooled connection idle longer than this is pinged before use, so connections a database
/// restart killed are replaced instead of failing a request; busy connections skip the ping.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The pool the store opens itself.
pub(super) fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout.max(Duration::from_secs(1)))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// A stable advisory-lock key for migrating `schema` (FNV-1a).
fn lock_key(schema: &str) -> i64 {
    let hash = format!("tower_bearer:{schema}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    i64::from_ne_bytes(hash.to_ne_bytes())
}

impl Dialect for Postgres {
    fn table_prefix(schema: &str) -> String {
        format!("\"{schema}\".")
    }

    fn param(n: usize) -> String {
        format!("${n}")
    }

    fn typed_param(n: usize, sql_type: &str) -> String {
        format!("${n}::{sql_type}")
    }

    fn time_column(name: &str) -> String {
        format!("(EXTRACT(EPOCH FROM {name}) * 1000000)::BIGINT AS {name}")
    }

    /// Exact up to 2^53 µs (the `FLOAT8`'s mantissa), some 285 years either side of 1970.
    fn time_param(n: usize) -> String {
        format!("(TIMESTAMPTZ 'epoch' + ${n}::FLOAT8 * INTERVAL '1 microsecond')")
    }

    const LEAST: &'static str = "LEAST";
    const GREATEST: &'static str = "GREATEST";
    const ID_BY_BYTES: &'static str = "id COLLATE \"C\"";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_ROW: &'static str = " FOR UPDATE";
    const AUDIT_COMMITTED_IN_ORDER: &'static str =
        " AND (txid IS NULL OR txid < pg_snapshot_xmin(pg_current_snapshot()))";

    type List<'a> = &'a [String];

    fn list(items: &[String]) -> Result<&[String], sqlx::Error> {
        Ok(items)
    }

    fn read_list(row: &PgRow, name: &str) -> Result<Vec<String>, sqlx::Error> {
        row.try_get(name)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn announce(
        conn: &mut PgConnection,
        channel: &str,
        hash: &[u8],
        revocation: Option<&RevocationRow>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload(hash, revocation))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Creates the schema and applies the migrations inside it, on a connection of its own
    /// (its `search_path` is changed, so it is closed afterwards, never reused), under an
    /// advisory lock so that instances starting together take turns.
    async fn migrate(pool: &PgPool, schema: &str) -> Result<(), OpenError> {
        let migrator = migrator(POSTGRES).await?;
        let mut conn = pool.acquire().await.map_err(OpenError::Connect)?;
        conn.close_on_drop();
        let key = lock_key(schema);
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await
            .map_err(OpenError::Connect)?;
        let result = async {
            (&mut *conn)
                .execute(sqlx::raw_sql(&format!(
                    "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET search_path TO \"{schema}\""
                )))
                .await
                .map_err(OpenError::Connect)?;
            migrator.run_direct(&mut *conn).await.map_err(OpenError::Migrate)
        }
        .await;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut *conn).await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::Statements;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("tower_bearer"), lock_key("tower_bearer"));
        assert_ne!(lock_key("tower_bearer"), lock_key("other"));
    }

    #[test]
    fn statements_name_the_schema() {
        let s = Statements::new::<Postgres>(&Postgres::table_prefix("tb_test"));
        assert!(s.lookup.contains("FROM \"tb_test\".tokens WHERE token_hash = $1"));
        assert!(s.insert.contains("$11::FLOAT8"));
    }
}
