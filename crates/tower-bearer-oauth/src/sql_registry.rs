//! [`SqlClientRegistry`] (feature `sql`): the clients in a `tower-bearer-sqlx` store's
//! database, with the memory registry's behaviour. The store keeps the rows
//! ([`OAuthClients`]); this gives them their meaning: records, secrets, rotation, public keys
//! (the one place rows and records are converted: [`row_of`], [`record_of`]).

use std::fmt;
use std::time::Duration;

use tower_bearer::{Clock, Scopes, StoreError, TokenManager};
use tower_bearer_sqlx::{OAuthClientRow, OAuthClients, SqlTokenStore};

use crate::client::{ClientRecord, ClientRegistry, NewClient, RegisteredClient};
#[cfg(feature = "jwt")]
use crate::client_keys::ClientKeys;

/// A rotation that loses its compare-and-set this many times in a row reports the contention.
const ROTATE_ATTEMPTS: usize = 4;

/// OAuth clients in a [`SqlTokenStore`]'s database (table `oauth_clients` in its Postgres
/// schema, `tower_bearer_oauth_clients` on SQLite; created by the store's migrations). The
/// same contract as [`MemoryClientRegistry`](crate::MemoryClientRegistry): secrets as SHA-256
/// digests only, a rotation keeps the previous secret for its grace period (on the store's
/// [`Clock`]), registering an existing id replaces the client. A client's public keys
/// (feature `jwt`) are kept as given: the JWKS document as JSON text, or the `jwks_uri`.
/// Without feature `jwt`, the keys stay in the table but are not read: a client that has no
/// secret cannot authenticate then.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer_oauth::{ClientRegistry, NewClient, SqlClientRegistry, TokenEndpoint};
/// use tower_bearer_sqlx::SqlTokenStore;
///
/// let store = SqlTokenStore::open("sqlite://auth.db").await?;
/// let clients = SqlClientRegistry::new(&store);
/// let client = clients.register(NewClient::new("svc-reporting").allowed_scopes(["reports:read"])).await?;
/// let endpoint = TokenEndpoint::new(clients, store);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlClientRegistry {
    clients: OAuthClients,
    clock: Clock,
}

impl SqlClientRegistry {
    /// The registry in `store`'s database (same pool, schema and clock).
    #[must_use]
    pub fn new(store: &SqlTokenStore) -> Self {
        SqlClientRegistry { clients: store.oauth_clients(), clock: store.clock() }
    }
}

impl fmt::Debug for SqlClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlClientRegistry").field("clients", &self.clients).finish()
    }
}

/// The row of `record`: its current secret, the previous one with its end, if any, and its
/// public keys.
fn row_of(record: &ClientRecord) -> Result<OAuthClientRow, StoreError> {
    let current = record.secrets.iter().find_map(|(digest, until)| until.is_none().then_some(*digest));
    let previous = record.secrets.iter().find_map(|(digest, until)| Some((*digest, (*until)?)));
    #[cfg(feature = "jwt")]
    let (jwks, jwks_uri) = match &record.keys {
        Some(keys) => (keys.document().map(str::to_owned), keys.uri().map(str::to_owned)),
        None => (None, None),
    };
    #[cfg(not(feature = "jwt"))]
    let (jwks, jwks_uri) = (None, None);
    if current.is_none() && jwks.is_none() && jwks_uri.is_none() {
        return Err(StoreError::unavailable("a client record with neither a current secret nor public keys"));
    }
    Ok(OAuthClientRow {
        client_id: record.client_id.clone(),
        subject: record.subject.clone(),
        allowed_scopes: record.allowed_scopes.iter().map(str::to_owned).collect(),
        access_token_ttl: record.access_token_ttl,
        secret_hash: current,
        previous_secret: previous,
        jwks,
        jwks_uri,
    })
}

/// The record of `row`.
///
/// # Errors
///
/// If the row's public keys are not keys ([`ClientKeys::jwks`], [`ClientKeys::jwks_uri`]):
/// the client cannot be used until it is registered again.
fn record_of(row: OAuthClientRow) -> Result<ClientRecord, StoreError> {
    let mut secrets: Vec<_> = row.secret_hash.map(|current| (current, None)).into_iter().collect();
    if let Some((previous, until)) = row.previous_secret {
        secrets.push((previous, Some(until)));
    }
    let scopes: Scopes = row.allowed_scopes.iter().map(String::as_str).collect();
    let record = ClientRecord::new(row.client_id, row.subject, scopes, row.access_token_ttl, secrets);
    #[cfg(feature = "jwt")]
    return Ok(record.with_keys(keys_of(row.jwks.as_deref(), row.jwks_uri.as_deref())?));
    #[cfg(not(feature = "jwt"))]
    Ok(record)
}

/// The public keys of a row's `jwks` and `jwks_uri` columns (the table has at most one).
#[cfg(feature = "jwt")]
fn keys_of(jwks: Option<&str>, jwks_uri: Option<&str>) -> Result<Option<ClientKeys>, StoreError> {
    let stored = |e| StoreError::unavailable(format!("a stored client's keys: {e}"));
    match (jwks, jwks_uri) {
        (Some(document), _) => {
            let document =
                serde_json::from_str(document).map_err(|_| stored("the JWKS is not JSON".into()))?;
            ClientKeys::jwks(&document).map(Some).map_err(|e| stored(e.to_string()))
        }
        (None, Some(uri)) => ClientKeys::jwks_uri(uri).map(Some).map_err(|e| stored(e.to_string())),
        (None, None) => Ok(None),
    }
}

impl ClientRegistry for SqlClientRegistry {
    async fn find(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.clients.get(client_id).await?.map(record_of).transpose()
    }

    async fn register(&self, new: NewClient) -> Result<RegisteredClient, StoreError> {
        let (record, registered) = new.issue();
        self.clients.put(&row_of(&record)?).await?;
        Ok(registered)
    }

    async fn register_without_secret(&self, new: NewClient) -> Result<String, StoreError> {
        let record = new.issue_without_secret()?;
        self.clients.put(&row_of(&record)?).await?;
        Ok(record.client_id)
    }

    async fn rotate_secret(
        &self,
        client_id: &str,
        grace: Duration,
    ) -> Result<Option<RegisteredClient>, StoreError> {
        for _ in 0..ROTATE_ATTEMPTS {
            let Some(row) = self.clients.get(client_id).await? else { return Ok(None) };
            let current = row.secret_hash;
            let (record, registered) = record_of(row)?.rotated(grace, self.clock.now());
            if self.clients.swap_secrets(&row_of(&record)?, current.as_ref()).await? {
                return Ok(Some(registered));
            }
        }
        Err(StoreError::unavailable("the client's secret kept changing during the rotation"))
    }

    async fn remove(&self, client_id: &str) -> Result<bool, StoreError> {
        self.clients.remove(client_id).await
    }
}
