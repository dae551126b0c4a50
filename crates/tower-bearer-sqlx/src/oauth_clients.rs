//! [`OAuthClients`]: the OAuth clients table of the store's database (migration 5; public
//! keys and optional secrets since SQLite's 12 and PostgreSQL's 13), row by row. The registry that gives the rows their meaning (secrets, rotation) is
//! `tower-bearer-oauth`'s `SqlClientRegistry`, which depends on this crate, never the other
//! way. (The migration's comment still places the registry here, under a feature `oauth`:
//! applied migrations are never edited.)

use std::fmt;
use std::time::{Duration, SystemTime};

use sqlx::{ColumnIndex, Decode, Row, Type};
use tower_bearer::{StoreError, TokenHash};

use crate::db::Db;
use crate::dialect::Dialect;
use crate::micros::{micros, time};
use crate::store::SqlTokenStore;

/// A row of the OAuth clients table: a client, with digests of its secrets only, and the
/// public keys of a client that authenticates with a private key (`private_key_jwt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClientRow {
    /// The public client id (the key).
    pub client_id: String,
    /// The subject its access tokens authenticate as.
    pub subject: String,
    /// The scopes it may ask for.
    pub allowed_scopes: Vec<String>,
    /// The lifetime of its access tokens (microseconds in the table).
    pub access_token_ttl: Duration,
    /// The SHA-256 digest of its current secret; `None` for a client that authenticates with
    /// a private key alone (it then has `jwks` or `jwks_uri`: the table refuses a client
    /// without any of the three).
    pub secret_hash: Option<TokenHash>,
    /// During a rotation's grace: the previous secret's digest, and when it stops being
    /// accepted.
    pub previous_secret: Option<(TokenHash, SystemTime)>,
    /// The client's public keys as a JWKS document (JSON text), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// The URL of the client's JWKS, for `private_key_jwt`; never set with `jwks`.
    pub jwks_uri: Option<String>,
}

impl OAuthClientRow {
    /// The access-token lifetime's column: microseconds, saturated.
    pub(crate) fn ttl_column(&self) -> i64 {
        i64::try_from(self.access_token_ttl.as_micros()).unwrap_or(i64::MAX)
    }

    /// The current secret's column.
    pub(crate) fn secret_column(&self) -> Option<&[u8]> {
        self.secret_hash.as_ref().map(|digest| digest.as_bytes().as_slice())
    }

    /// The previous secret's two columns: its digest and the microsecond it ends.
    pub(crate) fn previous_columns(&self) -> (Option<&[u8]>, Option<i64>) {
        match &self.previous_secret {
            Some((digest, until)) => (Some(digest.as_bytes().as_slice()), Some(micros(*until))),
            None => (None, None),
        }
    }

    /// Reads a row of `Statements::get_client`'s columns.
    pub(crate) fn read<DB: Dialect>(r: &DB::Row) -> Result<Self, sqlx::Error>
    where
        for<'a> &'a str: ColumnIndex<DB::Row>,
        for<'r> String: Decode<'r, DB> + Type<DB>,
        for<'r> i64: Decode<'r, DB> + Type<DB>,
        for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
    {
        let previous_hash: Option<Vec<u8>> = r.try_get("previous_secret_hash")?;
        let previous_until: Option<i64> = r.try_get("previous_until_us")?;
        let previous_secret = match (previous_hash, previous_until) {
            (Some(digest), Some(until)) => Some((digest_of(digest)?, time(until))),
            _ => None,
        };
        let ttl: i64 = r.try_get("access_token_ttl_us")?;
        Ok(OAuthClientRow {
            client_id: r.try_get("client_id")?,
            subject: r.try_get("subject")?,
            allowed_scopes: DB::read_list(r, "allowed_scopes")?,
            access_token_ttl: Duration::from_micros(u64::try_from(ttl).unwrap_or(0)),
            secret_hash: r.try_get::<Option<Vec<u8>>, _>("secret_hash")?.map(digest_of).transpose()?,
            previous_secret,
            jwks: r.try_get("jwks")?,
            jwks_uri: r.try_get("jwks_uri")?,
        })
    }
}

/// A stored digest; the table's `CHECK` keeps them 32 bytes, so anything else is corrupt.
fn digest_of(bytes: Vec<u8>) -> Result<TokenHash, sqlx::Error> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenHash::from_bytes)
        .map_err(|_| sqlx::Error::Decode("a stored client secret digest is not 32 bytes".into()))
}

/// The OAuth clients table in a [`SqlTokenStore`]'s database (`oauth_clients` in its Postgres
/// schema, `tower_bearer_oauth_clients` on SQLite; created by the store's migrations), from
/// [`SqlTokenStore::oauth_clients`]. Each call is one statement; errors are the database's.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::TokenHash;
/// use tower_bearer_sqlx::{OAuthClientRow, SqlTokenStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqlTokenStore::open("sqlite::memory:").await?;
/// let clients = store.oauth_clients();
/// let reports = OAuthClientRow {
///     client_id: "reports".into(),
///     subject: "svc-reports".into(),
///     allowed_scopes: vec!["reports:read".into()],
///     access_token_ttl: Duration::from_secs(900),
///     secret_hash: Some(TokenHash::of("cs_the-secret")),
///     previous_secret: None,
///     jwks: None,
///     jwks_uri: None,
/// };
/// clients.put(&reports).await?;
/// assert_eq!(clients.get("reports").await?, Some(reports));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuthClients {
    store: SqlTokenStore,
}

impl SqlTokenStore {
    /// The OAuth clients table in this store's database (same pool and schema): the storage
    /// under `tower-bearer-oauth`'s `SqlClientRegistry`.
    #[must_use]
    pub fn oauth_clients(&self) -> OAuthClients {
        OAuthClients { store: self.clone() }
    }
}

impl fmt::Debug for OAuthClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClients").field("backend", &self.store.backend()).finish()
    }
}

fn failed(e: sqlx::Error) -> StoreError {
    StoreError::unavailable(e)
}

impl OAuthClients {
    /// The client `client_id`, if it is there.
    ///
    /// # Errors
    ///
    /// The database's, or a stored digest that is not 32 bytes.
    pub async fn get(&self, client_id: &str) -> Result<Option<OAuthClientRow>, StoreError> {
        match &self.store.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.get_client(client_id).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.get_client(client_id).await,
        }
        .map_err(failed)
    }

    /// Inserts `client`, or replaces the client with its id.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn put(&self, client: &OAuthClientRow) -> Result<(), StoreError> {
        match &self.store.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.put_client(client).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.put_client(client).await,
        }
        .map_err(failed)
    }

    /// Writes `client`'s secrets (the current one and the previous one) over its row, if the
    /// current secret there still is `current` (`None`: still none): a compare-and-set, so
    /// that of two concurrent rotations one wins and the other sees it lost. Returns whether
    /// it wrote. The client's keys are left as they are.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn swap_secrets(
        &self,
        client: &OAuthClientRow,
        current: Option<&TokenHash>,
    ) -> Result<bool, StoreError> {
        match &self.store.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.swap_client_secrets(client, current).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.swap_client_secrets(client, current).await,
        }
        .map_err(failed)
    }

    /// Removes the client `client_id`. Returns whether it was there.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn remove(&self, client_id: &str) -> Result<bool, StoreError> {
        match &self.store.inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(db) => db.remove_client(client_id).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(db) => db.remove_client(client_id).await,
        }
        .map_err(failed)
    }
}
