//! [`SqlTokenStoreBuilder`]: how a [`SqlTokenStore`] is opened.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_bearer::grant::MintRules;
use tower_bearer::manage::{LifecycleEvent, LifecycleEvents};
use tower_bearer::{Clock, TokenFormat, TokenId};

use crate::db::{Db, SqlDb};
use crate::error::OpenError;
use crate::leases::Leases;
use crate::replay_schedule::ReplaySchedule;
use crate::store::{Inner, SqlTokenStore};
use crate::usage::Usage;

/// Configures a [`SqlTokenStore`]; see [`SqlTokenStore::builder`].
#[must_use]
pub struct SqlTokenStoreBuilder {
    format: TokenFormat,
    usage_interval: Duration,
    lookup_timeout: Duration,
    events: LifecycleEvents,
    audit_lifecycle: bool,
    clock: Clock,
    rules: MintRules,
    migrate: bool,
    max_connections: u32,
    schema: String,
    channel: String,
    heartbeat: (Duration, Duration),
    poll_interval: Duration,
    credit_lease: u64,
    credit_lease_term: Duration,
    replay_purge_interval: Duration,
}

impl Default for SqlTokenStoreBuilder {
    fn default() -> Self {
        SqlTokenStoreBuilder {
            format: TokenFormat::default(),
            usage_interval: Duration::from_secs(60),
            lookup_timeout: Duration::from_secs(2),
            events: LifecycleEvents::default(),
            audit_lifecycle: true,
            clock: Clock::default(),
            rules: MintRules::new(),
            migrate: true,
            max_connections: 10,
            schema: "tower_bearer".to_owned(),
            channel: "tower_bearer_revocations".to_owned(),
            heartbeat: (Duration::from_secs(5), Duration::from_secs(5)),
            poll_interval: Duration::from_secs(1),
            credit_lease: 100,
            credit_lease_term: Duration::from_secs(60),
            replay_purge_interval: Duration::from_secs(60),
        }
    }
}

impl fmt::Debug for SqlTokenStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTokenStoreBuilder")
            .field("format", &self.format)
            .field("usage_interval", &self.usage_interval)
            .field("lookup_timeout", &self.lookup_timeout)
            .field("migrate", &self.migrate)
            .field("schema", &self.schema)
            .field("channel", &self.channel)
            .field("audit_lifecycle", &self.audit_lifecycle)
            .field("credit_lease", &self.credit_lease)
            .field("credit_lease_term", &self.credit_lease_term)
            .finish_non_exhaustive()
    }
}

impl SqlTokenStore {
    /// Opens the store at `url` with default settings; see [`SqlTokenStoreBuilder::open`].
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the URL is not supported, the database cannot be reached, or the
    /// migrations fail.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::builder().open(url).await
    }

    /// Configures a store: token format, usage interval, lookup timeout, event hook,
    /// migrations, and for Postgres the schema and notification channel.
    pub fn builder() -> SqlTokenStoreBuilder {
        SqlTokenStoreBuilder::default()
    }
}

impl SqlTokenStoreBuilder {
    /// The format of issued tokens (default: [`TokenFormat::default`], prefix `tok_`).
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// How often, at most, a token's `last_used_at` is written, per instance (default one
    /// minute). `Duration::ZERO` writes on every use.
    pub fn usage_interval(mut self, interval: Duration) -> Self {
        self.usage_interval = interval;
        self
    }

    /// How long a lookup may take before the layer answers 503 (default 2
    /// seconds). Covers waiting for a pooled connection too.
    pub fn lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }

    /// Calls `hook` with every [`LifecycleEvent`] (issued, rotated, revoked, deleted, expired
    /// tokens purged), after the change is committed.
    pub fn on_lifecycle_event(mut self, hook: impl Fn(&LifecycleEvent) + Send + Sync + 'static) -> Self {
        self.events.set_hook(hook);
        self
    }

    /// Whether each token's lifecycle (issued, rotated, revoked, deleted, purged once expired)
    /// is written to the store's own [audit log](tower_bearer::manage::audit::AuditLog) in the
    /// transaction that makes the change (default `true`): the change and its record commit
    /// together or not at all, and a crash loses neither. Turn it off when the audit log is
    /// elsewhere, and feed that log from [`on_lifecycle_event`](Self::on_lifecycle_event)
    /// instead (an `AuditWriter`'s `lifecycle_hook`, which batches them); with it on, do not
    /// also feed the lifecycle to a writer over this store, or each event is recorded twice.
    pub fn audit_lifecycle(mut self, audit: bool) -> Self {
        self.audit_lifecycle = audit;
        self
    }

    /// How many credits an instance takes from the database at a time for a token it spends
    /// credits of (default 100, at least 1): one database write per lease instead of one
    /// per request. Larger leases write less; what an instance holds when it stops without
    /// [`close`](SqlTokenStore::close) is lost (never over-granted), and another instance may
    /// refuse a token (429) while this one still holds some of its credits.
    pub fn credit_lease(mut self, size: u64) -> Self {
        self.credit_lease = size;
        self
    }

    /// How long a credit lease holds in the database unless its instance renews it (default
    /// one minute, at least one second). An instance renews the leases it spends from halfway
    /// through their term, and gives back the ones it stops using within an eighth of it. The
    /// lease of an instance that died (a crash, `kill -9`, a lost machine) is reclaimed once
    /// its term is over, by the next instance that leases credits of the token: it leaves the
    /// leased count and counts as spent, since the dead instance may have spent any part of
    /// it. So a crash loses at most one lease of each token it held, and reported balances
    /// are exact again after one term.
    pub fn credit_lease_term(mut self, term: Duration) -> Self {
        self.credit_lease_term = term.max(Duration::from_secs(1));
        self
    }

    /// Reads the time from `clock` (default: the system clock): creation, use and
    /// revocation times, expiry, rotation, purges. For tests: give the store and the layer the
    /// same [`Clock::manual`].
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The scope that lets a token manage other subjects' tokens of its organization (default
    /// `tokens:admin`; see [`MintRules`]).
    pub fn admin_scope(mut self, scope: impl Into<String>) -> Self {
        self.rules = self.rules.with_admin_scope(scope);
        self
    }

    /// The rules for one token acting on others (default [`MintRules::new`]): give it the
    /// [`DefaultLimits`](tower_bearer::grant::DefaultLimits) of the `RateLimitLayer` in front
    /// of the store, so that minting compares effective limits.
    pub fn rules(mut self, rules: MintRules) -> Self {
        self.rules = rules;
        self
    }

    /// Whether opening the store applies its migrations (default `true`). Turn it off to run
    /// them from a deploy step with [`SqlTokenStore::migrate`].
    pub fn run_migrations(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// The size of the pool the store opens itself (default 10; an
    /// in-memory SQLite database always has one connection).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Postgres only: the schema holding the store's table and migration history (default
    /// `tower_bearer`). Lowercase letters, digits and `_`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Postgres only: the `NOTIFY` channel revocations are announced on (default
    /// `tower_bearer_revocations`). Instances sharing a database must agree on it.
    pub fn notify_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// Postgres only: how often a [`RevocationListener`](crate::RevocationListener) checks that its
    /// subscription still delivers (it notifies itself), and how long it waits for that
    /// notification before declaring the channel lost (clearing the cache and reconnecting).
    /// Their sum bounds how long a silently broken connection can go unnoticed. Defaults:
    /// 5 s and 5 s.
    pub fn listener_heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat = (interval, timeout);
        self
    }

    /// SQLite only: how often [`push_revocations`](SqlTokenStore::push_revocations) reads what
    /// changed in the database file (the revocations in effect for a deny list, the change
    /// feed for a cache): how long a revocation made by another process (another server, the
    /// CLI) can take to reach this one's caches and deny lists. Default 1 s; at least 10 ms.
    pub fn revocation_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How often an instance that uses the store as a [`ReplayCache`](tower_bearer::store::ReplayCache)
    /// deletes the single-use ids whose use expired (default one minute; at least 10 ms), in
    /// batches of 10 000, from its first use on. Each instance sharing the database purges;
    /// the deletes are the same.
    pub fn replay_purge_interval(mut self, interval: Duration) -> Self {
        self.replay_purge_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Opens the store at `url`: `sqlite://path/to/file.db` (created if missing),
    /// `sqlite::memory:`, or `postgres://user:password@host/database`.
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the URL is not supported, the database cannot be reached, or the
    /// migrations fail.
    pub async fn open(self, url: &str) -> Result<SqlTokenStore, OpenError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                let options: sqlx::sqlite::SqliteConnectOptions =
                    url.parse().map_err(|_| OpenError::UnsupportedUrl)?;
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                self.sqlite(options, in_memory).await
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(OpenError::Connect)?;
                self.postgres(options).await
            }
            _ => Err(OpenError::UnsupportedUrl),
        }
    }

    /// Opens (creating if missing) the SQLite database file at `path`.
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the file cannot be opened or the migrations fail.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub async fn open_sqlite(self, path: impl AsRef<std::path::Path>) -> Result<SqlTokenStore, OpenError> {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
        self.sqlite(options, false).await
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite(
        self,
        options: sqlx::sqlite::SqliteConnectOptions,
        in_memory: bool,
    ) -> Result<SqlTokenStore, OpenError> {
        use sqlx::sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
        let mut pool = SqlitePoolOptions::new().test_before_acquire(false);
        let options = if in_memory {
            // One connection, never closed: the database lives exactly as long as it.
            pool = pool.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
            options
        } else {
            pool = pool.max_connections(self.max_connections);
            options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
        };
        let pool = pool.connect_with(options).await.map_err(OpenError::Connect)?;
        self.with_sqlite_pool(pool).await
    }

    /// Uses an existing SQLite pool.
    ///
    /// # Errors
    ///
    /// [`OpenError::Migrate`] if the migrations fail.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub async fn with_sqlite_pool(self, pool: sqlx::SqlitePool) -> Result<SqlTokenStore, OpenError> {
        let db = SqlDb::new(pool, &self.schema, self.channel.clone());
        self.finish(Db::Sqlite(db)).await
    }

    #[cfg(feature = "postgres")]
    async fn postgres(self, options: sqlx::postgres::PgConnectOptions) -> Result<SqlTokenStore, OpenError> {
        let pool = crate::postgres::pool_options(self.max_connections, self.lookup_timeout)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        self.with_postgres_pool(pool).await
    }

    /// Uses an existing Postgres pool. The store's tables go into their own
    /// [schema](Self::schema); the pool's connections are not altered.
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the schema name is invalid or the migrations fail.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub async fn with_postgres_pool(self, pool: sqlx::PgPool) -> Result<SqlTokenStore, OpenError> {
        if !valid_identifier(&self.schema) {
            return Err(OpenError::InvalidSchema(self.schema));
        }
        let db = SqlDb::new(pool, &self.schema, self.channel.clone());
        self.finish(Db::Postgres(db)).await
    }

    async fn finish(self, db: Db) -> Result<SqlTokenStore, OpenError> {
        let store = SqlTokenStore {
            inner: Arc::new(Inner {
                db,
                format: self.format,
                lookup_timeout: self.lookup_timeout,
                usage: Usage::new(self.usage_interval),
                events: self.events,
                audit_lifecycle: self.audit_lifecycle,
                clock: self.clock,
                rules: self.rules,
                leases: Leases::new(self.credit_lease, self.credit_lease_term, TokenId::random().to_string()),
                replay_purge: ReplaySchedule::new(self.replay_purge_interval),
                #[cfg(feature = "postgres")]
                heartbeat: self.heartbeat,
                poll_interval: self.poll_interval,
                pushes: std::sync::Mutex::default(),
            }),
        };
        if self.migrate {
            store.migrate().await?;
        }
        crate::credits::spawn_idle_return(&store.inner);
        Ok(store)
    }
}

#[cfg(feature = "postgres")]
fn valid_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 63
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

    #[cfg(feature = "postgres")]
    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_identifier("tower_bearer") && valid_identifier("_t2"));
        for bad in ["", "2x", "Tower", "a-b", "a\"b", "a;drop", &"x".repeat(64)] {
            assert!(!valid_identifier(bad), "{bad}");
        }
    }
}
