//! The SQLite backend: table `tower_bearer_tokens`, times in INTEGER microseconds, scopes as
//! a JSON array.

use std::sync::LazyLock;

use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::{Executor, Row};

use crate::error::OpenError;
use crate::metering::{self, Account, Metering, metering_columns};
use crate::migrate::{Embedded, migrator};
use crate::revocations::{RevocationRow, RevocationStatements};
use crate::row::{PageQuery, Rotated, Rotation, TokenRow, is_unique_violation};

const MIGRATIONS: Embedded = Embedded(&[
    (1, "tokens", include_str!("../migrations/sqlite/1_tokens.sql")),
    (2, "replaced by", include_str!("../migrations/sqlite/2_replaced_by.sql")),
    (3, "limits", include_str!("../migrations/sqlite/3_limits.sql")),
    (4, "audience", include_str!("../migrations/sqlite/4_audience.sql")),
    (5, "oauth clients", include_str!("../migrations/sqlite/5_oauth_clients.sql")),
    (6, "revocations", include_str!("../migrations/sqlite/6_revocations.sql")),
    (7, "audit", include_str!("../migrations/sqlite/7_audit.sql")),
    (8, "markers", include_str!("../migrations/sqlite/8_markers.sql")),
    (9, "credits allowance", include_str!("../migrations/sqlite/9_credits_allowance.sql")),
]);

macro_rules! columns {
    () => {
        concat!(
            "id, hint, subject, organization, name, kind, scopes, audience, created_at, expires_at, last_used_at, \
             revoked_at, replaced_by, ",
            metering_columns!()
        )
    };
}

const LOOKUP: &str = concat!("SELECT ", columns!(), " FROM tower_bearer_tokens WHERE token_hash = ?1");
const INSERT: &str = concat!(
    "INSERT INTO tower_bearer_tokens \
     (id, token_hash, hint, subject, organization, name, kind, scopes, audience, created_at, expires_at, ",
    metering_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
);
const CREDITS: &str = "SELECT credits_remaining, credits_leased, credits_period_start FROM tower_bearer_tokens \
     WHERE id = ?1 AND credits_remaining IS NOT NULL";
const TAKE_CREDITS: &str = "UPDATE tower_bearer_tokens \
     SET credits_remaining = ?2, credits_leased = ?3, credits_period_start = ?4, \
     credits_allowance = CASE WHEN credits_period_start = ?4 THEN credits_allowance ELSE credits_refill_amount END \
     WHERE id = ?1 AND credits_remaining = ?5 AND credits_leased = ?6 AND credits_period_start = ?7";
const RETURN_CREDITS: &str = "UPDATE tower_bearer_tokens \
     SET credits_remaining = credits_remaining + ?2, credits_leased = max(credits_leased - ?3, 0) \
     WHERE id = ?1 AND credits_period_start = ?4";
const GET: &str =
    concat!("SELECT ", columns!(), " FROM tower_bearer_tokens WHERE id = ?1 AND revoked_at IS NULL");
const PAGE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tower_bearer_tokens WHERE revoked_at IS NULL AND (?1 IS NULL OR subject = ?1) \
     AND (?2 IS NULL OR organization = ?2) AND (NOT ?6 OR organization IS NULL) \
     AND (?3 IS NULL OR created_at > ?3 OR (created_at = ?3 AND id > ?4)) ORDER BY created_at, id LIMIT ?5"
);
const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tower_bearer_tokens WHERE subject = ?1 AND revoked_at IS NULL ORDER BY created_at, id"
);
const REVOKE: &str = concat!(
    "UPDATE tower_bearer_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL RETURNING ",
    columns!()
);
const SHORTEN: &str = "UPDATE tower_bearer_tokens SET expires_at = min(coalesce(expires_at, ?2), ?2), \
     replaced_by = ?3 WHERE id = ?1";
const DELETE: &str =
    concat!("DELETE FROM tower_bearer_tokens WHERE id = ?1 AND revoked_at IS NULL RETURNING ", columns!());
const PURGE: &str = concat!("DELETE FROM tower_bearer_tokens WHERE expires_at <= ?1 RETURNING ", columns!());
const RECORD_USAGE: &str = "UPDATE tower_bearer_tokens SET last_used_at = max(coalesce(last_used_at, ?2), ?2) \
     WHERE id = ?1 AND revoked_at IS NULL";
const TOUCH: &str = "UPDATE tower_bearer_tokens SET last_used_at = max(coalesce(last_used_at, ?2), ?2) \
     WHERE token_hash = ?1 AND revoked_at IS NULL";

pub(super) struct SqliteDb {
    pub(super) pool: SqlitePool,
}

fn row(r: &SqliteRow) -> Result<TokenRow, sqlx::Error> {
    let scopes: String = r.try_get("scopes")?;
    let audience: String = r.try_get("audience")?;
    Ok(TokenRow {
        id: r.try_get("id")?,
        hint: r.try_get("hint")?,
        subject: r.try_get("subject")?,
        organization: r.try_get("organization")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        scopes: serde_json::from_str(&scopes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        audience: serde_json::from_str(&audience).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
        replaced_by: r.try_get("replaced_by")?,
        metering: Metering::read(r)?,
    })
}

async fn insert<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    hash: &[u8; 32],
    row: &TokenRow,
) -> Result<(), sqlx::Error> {
    // A list of strings always serializes.
    let scopes = serde_json::to_string(&row.scopes).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let audience = serde_json::to_string(&row.audience).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let query = sqlx::query(INSERT)
        .bind(&row.id)
        .bind(hash.as_slice())
        .bind(&row.hint)
        .bind(&row.subject)
        .bind(&row.organization)
        .bind(&row.name)
        .bind(&row.kind)
        .bind(scopes)
        .bind(audience)
        .bind(row.created_at)
        .bind(row.expires_at);
    metering::bind(query, &row.metering).execute(executor).await.map(drop)
}

/// The revocations table's statements.
static REVOCATIONS: LazyLock<RevocationStatements> = LazyLock::new(|| {
    RevocationStatements::new("tower_bearer_revocations", |n| format!("?{n}"), "min", "max")
});

/// Records `revocation` in the caller's transaction (merged with any earlier record).
async fn record<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    revocation: &RevocationRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(&REVOCATIONS.record)
        .bind(&revocation.id)
        .bind(revocation.refused_from)
        .bind(revocation.kept_until)
        .bind(&revocation.replaced_by)
        .execute(executor)
        .await
        .map(drop)
}

impl SqliteDb {
    pub(super) fn new(pool: SqlitePool) -> Self {
        SqliteDb { pool }
    }

    pub(super) async fn migrate(&self) -> Result<(), OpenError> {
        let migrator = migrator(MIGRATIONS).await?;
        // `run_direct` on a connection: `Migrator::run` (generic over `Acquire`) makes the
        // future non-`Send` (a higher-ranked lifetime in sqlx), and `open` must be spawnable.
        let mut conn = self.pool.acquire().await.map_err(OpenError::Connect)?;
        migrator.run_direct(&mut *conn).await.map_err(OpenError::Migrate)
    }

    pub(super) async fn lookup(&self, hash: &[u8; 32]) -> Result<Option<TokenRow>, sqlx::Error> {
        sqlx::query(LOOKUP)
            .bind(hash.as_slice())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(row)
            .transpose()
    }

    pub(super) async fn insert(&self, hash: &[u8; 32], row: &TokenRow) -> Result<(), sqlx::Error> {
        insert(&self.pool, hash, row).await
    }

    pub(super) async fn get(&self, id: &str) -> Result<Option<TokenRow>, sqlx::Error> {
        sqlx::query(GET).bind(id).fetch_optional(&self.pool).await?.as_ref().map(row).transpose()
    }

    pub(super) async fn page(&self, page: &PageQuery<'_>) -> Result<Vec<TokenRow>, sqlx::Error> {
        sqlx::query(PAGE)
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
        sqlx::query(LIST).bind(subject).fetch_all(&self.pool).await?.iter().map(row).collect()
    }

    pub(super) async fn revoke(&self, id: &str, now: i64) -> Result<Option<TokenRow>, sqlx::Error> {
        self.change_and_record(sqlx::query(REVOKE).bind(id).bind(now), now).await
    }

    pub(super) async fn delete(&self, id: &str, now: i64) -> Result<Option<TokenRow>, sqlx::Error> {
        self.change_and_record(sqlx::query(DELETE).bind(id), now).await
    }

    /// Runs a statement returning the row of a token refused from `now`, and records the
    /// revocation, in one transaction.
    async fn change_and_record<'q>(
        &self,
        statement: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
        now: i64,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(changed) = statement.fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let changed = row(&changed)?;
        if let Some(revocation) = RevocationRow::of(&changed, now, None) {
            record(&mut *tx, &revocation).await?;
        }
        tx.commit().await?;
        Ok(Some(changed))
    }

    pub(super) async fn rotate(&self, id: &str, rotation: Rotation<'_>) -> Result<Rotated, sqlx::Error> {
        let Rotation { now, grace_until, not_after, new_hash, new_id, hint } = rotation;
        // IMMEDIATE: take the write lock first, so no other writer slips in between the read
        // and the writes (and a busy database waits for `busy_timeout` instead of failing).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(old) = sqlx::query(GET).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(Rotated::NotFound);
        };
        let old = row(&old)?;
        let new = old.successor(new_id, hint, now, not_after);
        match insert(&mut *tx, new_hash, &new).await {
            Err(e) if is_unique_violation(&e) => return Ok(Rotated::Conflict),
            other => other?,
        }
        match grace_until {
            None => {
                sqlx::query("UPDATE tower_bearer_tokens SET revoked_at = ?2 WHERE id = ?1").bind(id).bind(now)
            }
            Some(until) => sqlx::query(SHORTEN).bind(id).bind(until).bind(new_id.as_str()),
        }
        .execute(&mut *tx)
        .await?;
        if let Some(revocation) = RevocationRow::of(&old, grace_until.unwrap_or(now), Some(new_id.as_str())) {
            record(&mut *tx, &revocation).await?;
        }
        tx.commit().await?;
        Ok(Rotated::Done(Box::new(new)))
    }

    pub(super) async fn purge_expired(&self, now: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
        sqlx::query(&REVOCATIONS.purge).bind(now).execute(&self.pool).await?;
        sqlx::query(PURGE).bind(now).fetch_all(&self.pool).await?.iter().map(row).collect()
    }

    pub(super) async fn revocations(&self, now: i64) -> Result<Vec<RevocationRow>, sqlx::Error> {
        let rows = sqlx::query(&REVOCATIONS.in_effect).bind(now).fetch_all(&self.pool).await?;
        rows.iter().map(RevocationRow::read).collect()
    }

    pub(super) async fn record_usage(&self, id: &str, at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(RECORD_USAGE).bind(id).bind(at).execute(&self.pool).await.map(drop)
    }

    pub(super) async fn touch(&self, hash: &[u8; 32], at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(TOUCH).bind(hash.as_slice()).bind(at).execute(&self.pool).await.map(drop)
    }

    pub(super) async fn credits(&self, id: &str) -> Result<Option<Account>, sqlx::Error> {
        let found = sqlx::query(CREDITS).bind(id).fetch_optional(&self.pool).await?;
        found.as_ref().map(Account::read).transpose()
    }

    pub(super) async fn take_credits(
        &self,
        id: &str,
        read: Account,
        write: Account,
    ) -> Result<bool, sqlx::Error> {
        let query = Account::bind_swap(sqlx::query(TAKE_CREDITS).bind(id), read, write);
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
        let query = sqlx::query(RETURN_CREDITS).bind(id).bind(unused).bind(taken).bind(period_start);
        query.execute(&self.pool).await.map(drop)
    }
}
