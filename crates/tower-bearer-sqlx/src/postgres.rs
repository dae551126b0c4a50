//! The Postgres backend: table `tokens` in the store's own schema, times in `TIMESTAMPTZ`
//! (converted to and from microseconds in SQL), scopes as `TEXT[]`, and `pg_notify` of the
//! digest in every transaction that ends a token's validity.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{Connection, Executor, Row};

use crate::error::OpenError;
use crate::metering::{self, Account, Metering, metering_columns};
use crate::migrate::{Embedded, migrator};
use crate::revocations::{RevocationRow, RevocationStatements, payload};
use crate::row::{PageQuery, Rotated, Rotation, TokenRow, is_unique_violation};

const MIGRATIONS: Embedded = Embedded(&[
    (1, "tokens", include_str!("../migrations/postgres/1_tokens.sql")),
    (2, "replaced by", include_str!("../migrations/postgres/2_replaced_by.sql")),
    (3, "limits", include_str!("../migrations/postgres/3_limits.sql")),
    (4, "audience", include_str!("../migrations/postgres/4_audience.sql")),
    (5, "oauth clients", include_str!("../migrations/postgres/5_oauth_clients.sql")),
    (6, "revocations", include_str!("../migrations/postgres/6_revocations.sql")),
    (7, "audit", include_str!("../migrations/postgres/7_audit.sql")),
    (8, "markers", include_str!("../migrations/postgres/8_markers.sql")),
    (9, "audit commit order", include_str!("../migrations/postgres/9_audit_commit_order.sql")),
    (10, "credits allowance", include_str!("../migrations/postgres/10_credits_allowance.sql")),
]);

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

/// A time column as microseconds since the epoch.
macro_rules! micros {
    ($col:literal) => {
        concat!("(EXTRACT(EPOCH FROM ", $col, ") * 1000000)::BIGINT AS ", $col)
    };
}

const COLUMNS: &str = concat!(
    "id, hint, subject, organization, name, kind, scopes, audience, ",
    micros!("created_at"),
    ", ",
    micros!("expires_at"),
    ", ",
    micros!("last_used_at"),
    ", ",
    micros!("revoked_at"),
    ", replaced_by, ",
    metering_columns!()
);

/// Parameter `$n` (microseconds since the epoch) as a `TIMESTAMPTZ`; exact up to 2^53 µs.
fn ts(n: u8) -> String {
    format!("(TIMESTAMPTZ 'epoch' + ${n}::FLOAT8 * INTERVAL '1 microsecond')")
}

/// The statements, naming the store's schema.
struct Statements {
    lookup: String,
    page: String,
    insert: String,
    get: String,
    list: String,
    lock_live: String,
    revoke: String,
    revoke_locked: String,
    shorten: String,
    delete: String,
    purge: String,
    record_usage: String,
    touch: String,
    credits: String,
    take_credits: String,
    return_credits: String,
    revocations: RevocationStatements,
}

impl Statements {
    fn new(schema: &str) -> Self {
        let t = format!("\"{schema}\".tokens");
        Statements {
            revocations: RevocationStatements::new(
                &format!("\"{schema}\".revocations"),
                |n| format!("${n}"),
                "LEAST",
                "GREATEST",
            ),
            lookup: format!("SELECT {COLUMNS} FROM {t} WHERE token_hash = $1"),
            page: format!(
                "SELECT {COLUMNS} FROM {t} WHERE revoked_at IS NULL \
                 AND ($1::TEXT IS NULL OR subject = $1) AND ($2::TEXT IS NULL OR organization = $2) \
                 AND (NOT $6::BOOLEAN OR organization IS NULL) \
                 AND ($3::FLOAT8 IS NULL OR (created_at, id COLLATE \"C\") > ({}, $4)) \
                 ORDER BY created_at, id COLLATE \"C\" LIMIT $5",
                ts(3)
            ),
            insert: format!(
                "INSERT INTO {t} (id, token_hash, hint, subject, organization, name, kind, scopes, audience, \
                 created_at, expires_at, {}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {}, {}, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                metering_columns!(),
                ts(10),
                ts(11)
            ),
            get: format!("SELECT {COLUMNS} FROM {t} WHERE id = $1 AND revoked_at IS NULL"),
            list: format!(
                "SELECT {COLUMNS} FROM {t} WHERE subject = $1 AND revoked_at IS NULL ORDER BY created_at, id COLLATE \"C\""
            ),
            lock_live: format!(
                "SELECT token_hash, {COLUMNS} FROM {t} WHERE id = $1 AND revoked_at IS NULL FOR UPDATE"
            ),
            revoke: format!(
                "UPDATE {t} SET revoked_at = {} WHERE id = $1 AND revoked_at IS NULL RETURNING token_hash, {COLUMNS}",
                ts(2)
            ),
            revoke_locked: format!("UPDATE {t} SET revoked_at = {} WHERE id = $1", ts(2)),
            shorten: format!(
                "UPDATE {t} SET expires_at = LEAST(expires_at, {}), replaced_by = $3 WHERE id = $1",
                ts(2)
            ),
            delete: format!(
                "DELETE FROM {t} WHERE id = $1 AND revoked_at IS NULL RETURNING token_hash, {COLUMNS}"
            ),
            purge: format!("DELETE FROM {t} WHERE expires_at <= {} RETURNING {COLUMNS}", ts(1)),
            record_usage: format!(
                "UPDATE {t} SET last_used_at = GREATEST(last_used_at, {}) WHERE id = $1 AND revoked_at IS NULL",
                ts(2)
            ),
            touch: format!(
                "UPDATE {t} SET last_used_at = GREATEST(last_used_at, {}) \
                 WHERE token_hash = $1 AND revoked_at IS NULL",
                ts(2)
            ),
            credits: format!(
                "SELECT credits_remaining, credits_leased, credits_period_start FROM {t} \
                 WHERE id = $1 AND credits_remaining IS NOT NULL"
            ),
            take_credits: format!(
                "UPDATE {t} SET credits_remaining = $2, credits_leased = $3, credits_period_start = $4, \
                 credits_allowance = CASE WHEN credits_period_start = $4 THEN credits_allowance \
                 ELSE credits_refill_amount END \
                 WHERE id = $1 AND credits_remaining = $5 AND credits_leased = $6 AND credits_period_start = $7"
            ),
            return_credits: format!(
                "UPDATE {t} SET credits_remaining = credits_remaining + $2, \
                 credits_leased = GREATEST(credits_leased - $3, 0) WHERE id = $1 AND credits_period_start = $4"
            ),
        }
    }
}

pub(super) struct PgDb {
    pub(super) pool: PgPool,
    pub(crate) schema: String,
    pub(super) channel: String,
    sql: Box<Statements>,
}

fn row(r: &PgRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        id: r.try_get("id")?,
        hint: r.try_get("hint")?,
        subject: r.try_get("subject")?,
        organization: r.try_get("organization")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        scopes: r.try_get("scopes")?,
        audience: r.try_get("audience")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
        replaced_by: r.try_get("replaced_by")?,
        metering: Metering::read(r)?,
    })
}

/// A stable advisory-lock key for migrating `schema` (FNV-1a).
fn lock_key(schema: &str) -> i64 {
    let hash = format!("tower_bearer:{schema}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    i64::from_ne_bytes(hash.to_ne_bytes())
}

impl PgDb {
    pub(super) fn new(pool: PgPool, schema: &str, channel: String) -> Self {
        PgDb { pool, schema: schema.to_owned(), channel, sql: Box::new(Statements::new(schema)) }
    }

    /// Creates the schema and applies the migrations inside it, on a connection of its own
    /// (its `search_path` is changed, so it is closed afterwards, never reused), under an
    /// advisory lock so that instances starting together take turns.
    pub(super) async fn migrate(&self) -> Result<(), OpenError> {
        let migrator = migrator(MIGRATIONS).await?;
        let mut conn = self.pool.acquire().await.map_err(OpenError::Connect)?;
        conn.close_on_drop();
        let key = lock_key(&self.schema);
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await
            .map_err(OpenError::Connect)?;
        let schema = &self.schema;
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

    pub(super) async fn lookup(&self, hash: &[u8; 32]) -> Result<Option<TokenRow>, sqlx::Error> {
        sqlx::query(&self.sql.lookup)
            .bind(hash.as_slice())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(row)
            .transpose()
    }

    pub(super) async fn insert(&self, hash: &[u8; 32], row: &TokenRow) -> Result<(), sqlx::Error> {
        self.insert_with(&self.pool, hash, row).await
    }

    async fn insert_with<'e>(
        &self,
        executor: impl Executor<'e, Database = Postgres>,
        hash: &[u8; 32],
        row: &TokenRow,
    ) -> Result<(), sqlx::Error> {
        let query = sqlx::query(&self.sql.insert)
            .bind(&row.id)
            .bind(hash.as_slice())
            .bind(&row.hint)
            .bind(&row.subject)
            .bind(&row.organization)
            .bind(&row.name)
            .bind(&row.kind)
            .bind(row.scopes.as_slice())
            .bind(row.audience.as_slice())
            .bind(row.created_at)
            .bind(row.expires_at);
        metering::bind(query, &row.metering).execute(executor).await.map(drop)
    }

    pub(super) async fn get(&self, id: &str) -> Result<Option<TokenRow>, sqlx::Error> {
        sqlx::query(&self.sql.get).bind(id).fetch_optional(&self.pool).await?.as_ref().map(row).transpose()
    }

    pub(super) async fn page(&self, page: &PageQuery<'_>) -> Result<Vec<TokenRow>, sqlx::Error> {
        sqlx::query(&self.sql.page)
            .bind(page.subject)
            .bind(page.organization.0)
            .bind(page.after.map(|(us, _)| us))
            .bind(page.after.map(|(_, id)| id))
            .bind(page.limit)
            .bind(page.organization.1)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row)
            .collect()
    }

    pub(super) async fn list(&self, subject: &str) -> Result<Vec<TokenRow>, sqlx::Error> {
        sqlx::query(&self.sql.list).bind(subject).fetch_all(&self.pool).await?.iter().map(row).collect()
    }

    /// Announces, in the caller's transaction, that the token with this digest changed (and
    /// how, when it has a revocation record).
    async fn notify<'e>(
        &self,
        executor: impl Executor<'e, Database = Postgres>,
        hash: &[u8],
        revocation: Option<&RevocationRow>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload(hash, revocation))
            .execute(executor)
            .await
            .map(drop)
    }

    /// Records `revocation` in the caller's transaction; returns it merged with any earlier
    /// record of the same token.
    async fn record<'e>(
        &self,
        executor: impl Executor<'e, Database = Postgres>,
        revocation: &RevocationRow,
    ) -> Result<RevocationRow, sqlx::Error> {
        let merged = sqlx::query(&self.sql.revocations.record)
            .bind(&revocation.id)
            .bind(revocation.refused_from)
            .bind(revocation.kept_until)
            .bind(&revocation.replaced_by)
            .fetch_one(executor)
            .await?;
        RevocationRow::read(&merged)
    }

    pub(super) async fn revoke(&self, id: &str, now: i64) -> Result<Option<TokenRow>, sqlx::Error> {
        self.change_and_notify(sqlx::query(&self.sql.revoke).bind(id).bind(now), now).await
    }

    pub(super) async fn delete(&self, id: &str, now: i64) -> Result<Option<TokenRow>, sqlx::Error> {
        self.change_and_notify(sqlx::query(&self.sql.delete).bind(id), now).await
    }

    /// Runs a statement returning `token_hash` and the row of a token refused from `now`,
    /// records the revocation and notifies it, in one transaction.
    async fn change_and_notify<'q>(
        &self,
        statement: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
        now: i64,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let Some(changed) = statement.fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let hash: Vec<u8> = changed.try_get("token_hash")?;
        let changed = row(&changed)?;
        let revocation = match RevocationRow::of(&changed, now, None) {
            Some(revocation) => Some(self.record(&mut *tx, &revocation).await?),
            None => None,
        };
        self.notify(&mut *tx, &hash, revocation.as_ref()).await?;
        tx.commit().await?;
        Ok(Some(changed))
    }

    pub(super) async fn rotate(&self, id: &str, rotation: Rotation<'_>) -> Result<Rotated, sqlx::Error> {
        let Rotation { now, grace_until, not_after, new_hash, new_id, hint } = rotation;
        let mut tx = self.pool.begin().await?;
        let Some(old) = sqlx::query(&self.sql.lock_live).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(Rotated::NotFound);
        };
        let old_hash: Vec<u8> = old.try_get("token_hash")?;
        let old = row(&old)?;
        let new = old.successor(new_id, hint, now, not_after);
        match self.insert_with(&mut *tx, new_hash, &new).await {
            // The transaction is aborted; dropping it rolls back.
            Err(e) if is_unique_violation(&e) => return Ok(Rotated::Conflict),
            other => other?,
        }
        match grace_until {
            None => sqlx::query(&self.sql.revoke_locked).bind(id).bind(now),
            Some(until) => sqlx::query(&self.sql.shorten).bind(id).bind(until).bind(new_id.as_str()),
        }
        .execute(&mut *tx)
        .await?;
        let revocation = match RevocationRow::of(&old, grace_until.unwrap_or(now), Some(new_id.as_str())) {
            Some(revocation) => Some(self.record(&mut *tx, &revocation).await?),
            None => None,
        };
        // With a grace period the old token's expiry changed: caches must drop it too.
        self.notify(&mut *tx, &old_hash, revocation.as_ref()).await?;
        tx.commit().await?;
        Ok(Rotated::Done(Box::new(new)))
    }

    pub(super) async fn purge_expired(&self, now: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
        sqlx::query(&self.sql.revocations.purge).bind(now).execute(&self.pool).await?;
        sqlx::query(&self.sql.purge).bind(now).fetch_all(&self.pool).await?.iter().map(row).collect()
    }

    pub(super) async fn revocations(&self, now: i64) -> Result<Vec<RevocationRow>, sqlx::Error> {
        let rows = sqlx::query(&self.sql.revocations.in_effect).bind(now).fetch_all(&self.pool).await?;
        rows.iter().map(RevocationRow::read).collect()
    }

    pub(super) async fn record_usage(&self, id: &str, at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.record_usage).bind(id).bind(at).execute(&self.pool).await.map(drop)
    }

    pub(super) async fn touch(&self, hash: &[u8; 32], at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.touch).bind(hash.as_slice()).bind(at).execute(&self.pool).await.map(drop)
    }

    pub(super) async fn credits(&self, id: &str) -> Result<Option<Account>, sqlx::Error> {
        let found = sqlx::query(&self.sql.credits).bind(id).fetch_optional(&self.pool).await?;
        found.as_ref().map(Account::read).transpose()
    }

    pub(super) async fn take_credits(
        &self,
        id: &str,
        read: Account,
        write: Account,
    ) -> Result<bool, sqlx::Error> {
        let query = Account::bind_swap(sqlx::query(&self.sql.take_credits).bind(id), read, write);
        let done = query.execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn return_credits(
        &self,
        id: &str,
        unused: i64,
        taken: i64,
        period_start: i64,
    ) -> Result<(), sqlx::Error> {
        let query =
            sqlx::query(&self.sql.return_credits).bind(id).bind(unused).bind(taken).bind(period_start);
        query.execute(&self.pool).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("tower_bearer"), lock_key("tower_bearer"));
        assert_ne!(lock_key("tower_bearer"), lock_key("other"));
    }

    #[test]
    fn statements_name_the_schema() {
        let s = Statements::new("tb_test");
        assert!(s.lookup.contains("FROM \"tb_test\".tokens WHERE token_hash = $1"));
        assert!(s.insert.contains("$11::FLOAT8"));
    }
}
