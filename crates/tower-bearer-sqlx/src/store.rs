//! [`SqlTokenStore`]: the handle, its lookup (one indexed query), and the pool it owns.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_bearer::grant::MintRules;
use tower_bearer::manage::LifecycleEvents;
use tower_bearer::stores::CacheConfig;
use tower_bearer::{CachedTokenStore, Clock, StoreError, TokenFormat, TokenHash, TokenState};

use crate::db::{Db, SqlBackend};
use crate::error::OpenError;
use crate::leases::Leases;
use crate::micros::micros;
use crate::replay_schedule::ReplaySchedule;
use crate::usage::{Usage, millis};

/// A token store in SQLite or PostgreSQL. See the [crate documentation](crate).
///
/// Cloning is cheap; clones share the connection pool.
#[derive(Clone)]
pub struct SqlTokenStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) format: TokenFormat,
    pub(crate) lookup_timeout: Duration,
    pub(crate) usage: Usage,
    pub(crate) events: LifecycleEvents,
    /// Whether each lifecycle change writes its audit events in its own transaction.
    pub(crate) audit_lifecycle: bool,
    pub(crate) clock: Clock,
    pub(crate) rules: MintRules,
    /// This instance's credit leases.
    pub(crate) leases: Leases,
    /// When expired single-use ids are deleted.
    pub(crate) replay_purge: ReplaySchedule,
    #[cfg(feature = "postgres")]
    pub(crate) heartbeat: (Duration, Duration),
    /// SQLite: how often a push of revocations reads them.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code, reason = "the SQLite poller's"))]
    pub(crate) poll_interval: Duration,
    /// The pushes this store started itself, for the verifiers subscribed to it
    /// ([`TokenStore::subscribe_revocations`](tower_bearer::TokenStore::subscribe_revocations)).
    pub(crate) pushes: std::sync::Mutex<Vec<crate::revocation_listener::RevocationListener>>,
}

impl SqlTokenStore {
    /// Applies the store's embedded migrations (idempotent; concurrent instances take turns).
    ///
    /// # Errors
    ///
    /// [`OpenError::Migrate`], or [`OpenError::Connect`] if no connection could be had.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        self.inner.db.migrate().await
    }

    /// Which database this store uses.
    #[must_use]
    pub fn backend(&self) -> SqlBackend {
        self.inner.db.backend()
    }

    /// The format of the tokens this store issues.
    #[must_use]
    pub fn format(&self) -> &TokenFormat {
        &self.inner.format
    }

    /// The SQLite pool, if this store is on SQLite.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    #[must_use]
    #[allow(unreachable_patterns, reason = "reachable with both backends enabled")]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.inner.db {
            Db::Sqlite(db) => Some(&db.pool),
            _ => None,
        }
    }

    /// The Postgres pool, if this store is on Postgres.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    #[must_use]
    #[allow(unreachable_patterns, reason = "reachable with both backends enabled")]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.inner.db {
            Db::Postgres(db) => Some(&db.pool),
            _ => None,
        }
    }

    /// Gives back the credits this instance leased and did not spend
    /// ([`release_credits`](Self::release_credits)), then closes the connection pool: lookups
    /// then fail (503) and lifecycle calls return errors. Call it on graceful shutdown.
    pub async fn close(&self) {
        // A lease that cannot be given back stays counted as leased: nothing is over-granted.
        let _ = self.release_credits().await;
        self.inner.db.close().await;
    }

    /// Wraps the store in a [`CachedTokenStore`] configured by `config`, which on Postgres
    /// subscribes to the revocations made by every instance (a push listed by
    /// [`revocation_pushes`](Self::revocation_pushes)). Call it within a tokio runtime.
    pub fn cached(self, config: CacheConfig) -> CachedTokenStore<SqlTokenStore> {
        CachedTokenStore::with_config(self, config)
    }
}

impl fmt::Debug for SqlTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTokenStore")
            .field("backend", &self.backend())
            .field("format", &self.inner.format)
            .field("lookup_timeout", &self.inner.lookup_timeout)
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) async fn lookup(self: Arc<Self>, hash: TokenHash) -> Result<TokenState, StoreError> {
        let query = self.db.lookup(hash.as_bytes());
        let row = match tokio::time::timeout(self.lookup_timeout, query).await {
            Err(_) => return Err(StoreError::timeout()),
            Ok(Err(e)) => return Err(StoreError::unavailable(e)),
            Ok(Ok(None)) => return Ok(TokenState::Unknown),
            Ok(Ok(Some(row))) => row,
        };
        let principal = row.principal();
        if row.revoked_at.is_some() {
            return Ok(TokenState::Revoked(principal));
        }
        let now = micros(self.clock.now());
        if row.expires_at.is_some_and(|at| at <= now) {
            // Refused: not a use.
            return Ok(TokenState::Expired(principal));
        }
        if self.usage.claim(&hash, millis(now), row.last_used_at.map_or(0, millis))
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Never awaited by the request; a failed write is retried at the next use after
            // the interval.
            let inner = self.clone();
            runtime.spawn(async move {
                let write = inner.db.touch(hash.as_bytes(), now);
                let _ = tokio::time::timeout(inner.lookup_timeout, write).await;
            });
        }
        Ok(TokenState::Active(principal))
    }
}
