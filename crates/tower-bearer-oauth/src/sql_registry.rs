//! [`SqlClientRegistry`] (feature `sql`): the clients in a `tower-bearer-sqlx` store's
//! database, with the memory registry's behaviour. The store keeps the rows
//! ([`OAuthClients`]); this gives them their meaning: records, secrets, rotation.

use std::fmt;
use std::time::Duration;

use tower_bearer::{Clock, Scopes, StoreError, TokenManager};
use tower_bearer_sqlx::{OAuthClientRow, OAuthClients, SqlTokenStore};

use crate::client::{ClientRecord, ClientRegistry, NewClient, RegisteredClient};

/// A rotation that loses its compare-and-set this many times in a row reports the contention.
const ROTATE_ATTEMPTS: usize = 4;

/// OAuth clients in a [`SqlTokenStore`]'s database (table `oauth_clients` in its Postgres
/// schema, `tower_bearer_oauth_clients` on SQLite; created by the store's migrations). The
/// same contract as [`MemoryClientRegistry`](crate::MemoryClientRegistry): secrets as SHA-256
/// digests only, a rotation keeps the previous secret for its grace period (on the store's
/// [`Clock`]), registering an existing id replaces the client.
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

/// The row of `record`: its current secret, and the previous one with its end, if any.
fn row_of(record: &ClientRecord) -> Result<OAuthClientRow, StoreError> {
    let current = record.secrets.iter().find_map(|(digest, until)| until.is_none().then_some(*digest));
    let previous = record.secrets.iter().find_map(|(digest, until)| Some((*digest, (*until)?)));
    Ok(OAuthClientRow {
        client_id: record.client_id.clone(),
        subject: record.subject.clone(),
        allowed_scopes: record.allowed_scopes.iter().map(str::to_owned).collect(),
        access_token_ttl: record.access_token_ttl,
        secret_hash: current
            .ok_or_else(|| StoreError::unavailable("a client record without a current secret"))?,
        previous_secret: previous,
    })
}

fn record_of(row: OAuthClientRow) -> ClientRecord {
    let mut secrets = vec![(row.secret_hash, None)];
    if let Some((previous, until)) = row.previous_secret {
        secrets.push((previous, Some(until)));
    }
    let scopes: Scopes = row.allowed_scopes.iter().map(String::as_str).collect();
    ClientRecord::new(row.client_id, row.subject, scopes, row.access_token_ttl, secrets)
}

impl ClientRegistry for SqlClientRegistry {
    async fn find(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.clients.get(client_id).await?.map(record_of))
    }

    async fn register(&self, new: NewClient) -> Result<RegisteredClient, StoreError> {
        let (record, registered) = new.issue();
        self.clients.put(&row_of(&record)?).await?;
        Ok(registered)
    }

    async fn rotate_secret(
        &self,
        client_id: &str,
        grace: Duration,
    ) -> Result<Option<RegisteredClient>, StoreError> {
        for _ in 0..ROTATE_ATTEMPTS {
            let Some(row) = self.clients.get(client_id).await? else { return Ok(None) };
            let current = row.secret_hash;
            let (record, registered) = record_of(row).rotated(grace, self.clock.now());
            if self.clients.swap_secrets(&row_of(&record)?, &current).await? {
                return Ok(Some(registered));
            }
        }
        Err(StoreError::unavailable("the client's secret kept changing during the rotation"))
    }

    async fn remove(&self, client_id: &str) -> Result<bool, StoreError> {
        self.clients.remove(client_id).await
    }
}
