//! [`SqlClientRegistry`]: `tower-bearer-oauth`'s clients in the store's database (feature
//! `oauth`), with the memory registry's behaviour.

use std::fmt;
use std::time::{Duration, SystemTime};

use tower_bearer::{Scopes, StoreError, TokenHash};
use tower_bearer_oauth::{ClientRecord, ClientRegistry, NewClient, RegisteredClient};

use crate::db::Db;
use crate::micros::{micros, time};
use crate::store::SqlTokenStore;

/// A rotation that loses its compare-and-set this many times in a row reports the contention.
const ROTATE_ATTEMPTS: usize = 4;

/// OAuth clients in the [`SqlTokenStore`]'s database (table `oauth_clients` in its Postgres
/// schema, `tower_bearer_oauth_clients` on SQLite; created by the store's migrations), for
/// `tower-bearer-oauth`'s endpoints. The same contract as its `MemoryClientRegistry`: secrets
/// as SHA-256 digests only, a rotation keeps the previous secret for its grace period (on the
/// store's [`Clock`](tower_bearer::Clock)), registering an existing id replaces the client.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer_oauth::{ClientRegistry, NewClient, TokenEndpoint};
/// use tower_bearer_sqlx::SqlTokenStore;
///
/// let store = SqlTokenStore::open("sqlite://auth.db").await?;
/// let clients = store.client_registry();
/// let client = clients.register(NewClient::new("svc-reporting").allowed_scopes(["reports:read"])).await?;
/// let endpoint = TokenEndpoint::new(clients, store);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlClientRegistry {
    store: SqlTokenStore,
}

impl SqlTokenStore {
    /// The OAuth client registry in this store's database (same pool, schema and clock).
    #[must_use]
    pub fn client_registry(&self) -> SqlClientRegistry {
        SqlClientRegistry { store: self.clone() }
    }
}

impl fmt::Debug for SqlClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlClientRegistry").field("backend", &self.store.backend()).finish()
    }
}

/// A client as its row holds it.
struct ClientRow {
    client_id: String,
    subject: String,
    allowed_scopes: Vec<String>,
    access_token_ttl_us: i64,
    secret_hash: Vec<u8>,
    previous_secret_hash: Option<Vec<u8>>,
    previous_until_us: Option<i64>,
}

impl ClientRow {
    fn of(record: &ClientRecord) -> Self {
        let current = record.secrets.iter().find(|(_, until)| until.is_none());
        let previous = record.secrets.iter().find_map(|(digest, until)| Some((digest, (*until)?)));
        ClientRow {
            client_id: record.client_id.clone(),
            subject: record.subject.clone(),
            allowed_scopes: record.allowed_scopes.iter().map(str::to_owned).collect(),
            access_token_ttl_us: i64::try_from(record.access_token_ttl.as_micros()).unwrap_or(i64::MAX),
            secret_hash: current.map(|(digest, _)| digest.as_bytes().to_vec()).unwrap_or_default(),
            previous_secret_hash: previous.map(|(digest, _)| digest.as_bytes().to_vec()),
            previous_until_us: previous.map(|(_, until)| micros(until)),
        }
    }

    fn record(self) -> Result<ClientRecord, StoreError> {
        let digest = |bytes: Vec<u8>| {
            <[u8; 32]>::try_from(bytes)
                .map(TokenHash::from_bytes)
                .map_err(|_| StoreError::unavailable("a stored client secret digest is not 32 bytes"))
        };
        let mut secrets = vec![(digest(self.secret_hash)?, None)];
        if let (Some(previous), Some(until)) = (self.previous_secret_hash, self.previous_until_us) {
            secrets.push((digest(previous)?, Some(time(until))));
        }
        let ttl = Duration::from_micros(u64::try_from(self.access_token_ttl_us).unwrap_or(0));
        let scopes: Scopes = self.allowed_scopes.iter().map(String::as_str).collect();
        Ok(ClientRecord::new(self.client_id, self.subject, scopes, ttl, secrets))
    }
}

fn failed(e: sqlx::Error) -> StoreError {
    StoreError::unavailable(e)
}

impl SqlClientRegistry {
    fn now(&self) -> SystemTime {
        self.store.inner.clock.now()
    }

    async fn upsert(&self, row: &ClientRow) -> Result<(), sqlx::Error> {
        match &self.store.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => sqlite::upsert(&db.pool, row).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => postgres::upsert(&db.pool, &db.schema, row).await,
        }
    }

    async fn select(&self, client_id: &str) -> Result<Option<ClientRow>, sqlx::Error> {
        match &self.store.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => sqlite::select(&db.pool, client_id).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => postgres::select(&db.pool, &db.schema, client_id).await,
        }
    }

    /// Writes `new`'s secrets over a row whose current secret is still `current`.
    async fn swap_secrets(&self, new: &ClientRow, current: &[u8]) -> Result<bool, sqlx::Error> {
        match &self.store.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => sqlite::swap_secrets(&db.pool, new, current).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => postgres::swap_secrets(&db.pool, &db.schema, new, current).await,
        }
    }

    async fn delete(&self, client_id: &str) -> Result<bool, sqlx::Error> {
        match &self.store.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => sqlite::delete(&db.pool, client_id).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => postgres::delete(&db.pool, &db.schema, client_id).await,
        }
    }
}

impl ClientRegistry for SqlClientRegistry {
    async fn find(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.select(client_id).await.map_err(failed)?.map(ClientRow::record).transpose()
    }

    async fn register(&self, new: NewClient) -> Result<RegisteredClient, StoreError> {
        let (record, registered) = new.issue();
        self.upsert(&ClientRow::of(&record)).await.map_err(failed)?;
        Ok(registered)
    }

    async fn rotate_secret(
        &self,
        client_id: &str,
        grace: Duration,
    ) -> Result<Option<RegisteredClient>, StoreError> {
        for _ in 0..ROTATE_ATTEMPTS {
            let Some(row) = self.select(client_id).await.map_err(failed)? else { return Ok(None) };
            let current = row.secret_hash.clone();
            let (record, registered) = row.record()?.rotated(grace, self.now());
            if self.swap_secrets(&ClientRow::of(&record), &current).await.map_err(failed)? {
                return Ok(Some(registered));
            }
        }
        Err(StoreError::unavailable("the client's secret kept changing during the rotation"))
    }

    async fn remove(&self, client_id: &str) -> Result<bool, StoreError> {
        self.delete(client_id).await.map_err(failed)
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use sqlx::{Row, SqlitePool};

    use crate::clients::ClientRow;

    const COLUMNS: &str = "client_id, subject, allowed_scopes, access_token_ttl_us, secret_hash, \
        previous_secret_hash, previous_until_us";

    pub(super) async fn upsert(pool: &SqlitePool, row: &ClientRow) -> Result<(), sqlx::Error> {
        let scopes =
            serde_json::to_string(&row.allowed_scopes).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let sql = format!(
            "INSERT INTO tower_bearer_oauth_clients ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (client_id) DO UPDATE SET subject = excluded.subject, \
             allowed_scopes = excluded.allowed_scopes, access_token_ttl_us = excluded.access_token_ttl_us, \
             secret_hash = excluded.secret_hash, previous_secret_hash = excluded.previous_secret_hash, \
             previous_until_us = excluded.previous_until_us"
        );
        sqlx::query(&sql)
            .bind(&row.client_id)
            .bind(&row.subject)
            .bind(scopes)
            .bind(row.access_token_ttl_us)
            .bind(&row.secret_hash)
            .bind(&row.previous_secret_hash)
            .bind(row.previous_until_us)
            .execute(pool)
            .await
            .map(drop)
    }

    pub(super) async fn select(pool: &SqlitePool, client_id: &str) -> Result<Option<ClientRow>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM tower_bearer_oauth_clients WHERE client_id = ?1");
        let Some(r) = sqlx::query(&sql).bind(client_id).fetch_optional(pool).await? else { return Ok(None) };
        let scopes: String = r.try_get("allowed_scopes")?;
        Ok(Some(ClientRow {
            client_id: r.try_get("client_id")?,
            subject: r.try_get("subject")?,
            allowed_scopes: serde_json::from_str(&scopes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            access_token_ttl_us: r.try_get("access_token_ttl_us")?,
            secret_hash: r.try_get("secret_hash")?,
            previous_secret_hash: r.try_get("previous_secret_hash")?,
            previous_until_us: r.try_get("previous_until_us")?,
        }))
    }

    pub(super) async fn swap_secrets(
        pool: &SqlitePool,
        new: &ClientRow,
        current: &[u8],
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE tower_bearer_oauth_clients SET secret_hash = ?2, previous_secret_hash = ?3, \
             previous_until_us = ?4 WHERE client_id = ?1 AND secret_hash = ?5",
        )
        .bind(&new.client_id)
        .bind(&new.secret_hash)
        .bind(&new.previous_secret_hash)
        .bind(new.previous_until_us)
        .bind(current)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn delete(pool: &SqlitePool, client_id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM tower_bearer_oauth_clients WHERE client_id = ?1")
            .bind(client_id)
            .execute(pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::{PgPool, Row};

    use crate::clients::ClientRow;

    const COLUMNS: &str = "client_id, subject, allowed_scopes, access_token_ttl_us, secret_hash, \
        previous_secret_hash, previous_until_us";

    pub(super) async fn upsert(pool: &PgPool, schema: &str, row: &ClientRow) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO \"{schema}\".oauth_clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (client_id) DO UPDATE SET subject = excluded.subject, \
             allowed_scopes = excluded.allowed_scopes, access_token_ttl_us = excluded.access_token_ttl_us, \
             secret_hash = excluded.secret_hash, previous_secret_hash = excluded.previous_secret_hash, \
             previous_until_us = excluded.previous_until_us"
        );
        sqlx::query(&sql)
            .bind(&row.client_id)
            .bind(&row.subject)
            .bind(row.allowed_scopes.as_slice())
            .bind(row.access_token_ttl_us)
            .bind(&row.secret_hash)
            .bind(&row.previous_secret_hash)
            .bind(row.previous_until_us)
            .execute(pool)
            .await
            .map(drop)
    }

    pub(super) async fn select(
        pool: &PgPool,
        schema: &str,
        client_id: &str,
    ) -> Result<Option<ClientRow>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM \"{schema}\".oauth_clients WHERE client_id = $1");
        let Some(r) = sqlx::query(&sql).bind(client_id).fetch_optional(pool).await? else { return Ok(None) };
        Ok(Some(ClientRow {
            client_id: r.try_get("client_id")?,
            subject: r.try_get("subject")?,
            allowed_scopes: r.try_get("allowed_scopes")?,
            access_token_ttl_us: r.try_get("access_token_ttl_us")?,
            secret_hash: r.try_get("secret_hash")?,
            previous_secret_hash: r.try_get("previous_secret_hash")?,
            previous_until_us: r.try_get("previous_until_us")?,
        }))
    }

    pub(super) async fn swap_secrets(
        pool: &PgPool,
        schema: &str,
        new: &ClientRow,
        current: &[u8],
    ) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "UPDATE \"{schema}\".oauth_clients SET secret_hash = $2, previous_secret_hash = $3, \
             previous_until_us = $4 WHERE client_id = $1 AND secret_hash = $5"
        );
        let done = sqlx::query(&sql)
            .bind(&new.client_id)
            .bind(&new.secret_hash)
            .bind(&new.previous_secret_hash)
            .bind(new.previous_until_us)
            .bind(current)
            .execute(pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn delete(pool: &PgPool, schema: &str, client_id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(&format!("DELETE FROM \"{schema}\".oauth_clients WHERE client_id = $1"))
            .bind(client_id)
            .execute(pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
