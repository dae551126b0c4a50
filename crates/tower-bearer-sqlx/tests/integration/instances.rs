//! What the PostgreSQL tests share: the store they open, polling until a state holds, and an
//! API instance (store, cache subscribed to revocations, layer) as a deployment runs it.
#![cfg(feature = "postgres")]

use std::time::{Duration, Instant};

use http::StatusCode;
use tower_bearer::{
    BearerAuthLayer, CachedTokenStore, CircuitBreakerTokenStore, IssuedToken, TokenFormat,
    stores::CacheConfig,
};
use tower_bearer_sqlx::{RevocationListener, SqlTokenStore, SqlTokenStoreBuilder};
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::status;

/// A running cluster, or return from the test (the support module already said why, or failed
/// the test in CI).
macro_rules! cluster {
    () => {
        match tower_bearer_test_support::pg::PgCluster::start() {
            Some(cluster) => cluster,
            None => return,
        }
    };
}

pub(crate) use cluster;

pub fn live() -> TokenFormat {
    TokenFormat::new("tok_live_")
}

pub fn builder() -> SqlTokenStoreBuilder {
    SqlTokenStore::builder().format(live())
}

/// Polls `check` every millisecond until it holds; how long that took, or `None` after
/// `timeout`.
pub async fn until(timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// The stores of an instance, outermost first.
pub type Stores = CircuitBreakerTokenStore<CachedTokenStore<SqlTokenStore>>;

/// One instance of an API: its store, its cache (subscribed to revocations), a circuit
/// breaker the listener trips when it loses the database, and its layer.
pub struct Instance {
    pub cache: CachedTokenStore<SqlTokenStore>,
    pub listener: RevocationListener,
    pub layer: BearerAuthLayer<Stores>,
}

impl Instance {
    pub async fn start(cluster: &PgCluster, heartbeat: Duration) -> Self {
        let store = builder()
            .lookup_timeout(Duration::from_secs(1))
            .listener_heartbeat(heartbeat, heartbeat)
            .open(&cluster.url())
            .await
            .unwrap();
        // An hour: only a notification can make a revocation visible before then.
        let cache = CachedTokenStore::with_config(
            store.clone(),
            CacheConfig::default().positive_ttl(Duration::from_secs(3600)),
        );
        // The cache subscribed itself to the store's push as it was built.
        let [listener] = <[RevocationListener; 1]>::try_from(store.revocation_pushes()).unwrap();
        assert!(listener.wait_until_subscribed(PgCluster::PATIENCE).await, "the listener subscribes");
        // Opened by three failed lookups in a row, or at once by the listener's loss.
        let breaker = CircuitBreakerTokenStore::new(cache.clone(), 3, Duration::from_millis(50));
        listener.on_loss(breaker.tripper());
        let layer = BearerAuthLayer::new(breaker).token_formats([live()]);
        Instance { cache, listener, layer }
    }

    pub async fn status(&self, token: &IssuedToken) -> StatusCode {
        status(&self.layer, token.secret().expose_secret()).await
    }

    /// Asks until the database answers (a restart leaves dead pooled connections behind).
    pub async fn status_when_up(&self, token: &IssuedToken) -> StatusCode {
        let mut last = StatusCode::SERVICE_UNAVAILABLE;
        until(PgCluster::PATIENCE, async || {
            last = self.status(token).await;
            last != StatusCode::SERVICE_UNAVAILABLE
        })
        .await;
        last
    }
}
