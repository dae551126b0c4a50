//! [`SqlTokenStore`]: tokens in SQLite (embedded, the default for one instance) or PostgreSQL
//! (shared by many instances), on [`sqlx`] (features `sqlite` and `postgres`).
//!
//! The store implements [`TokenStore`] (one indexed query per lookup) and the whole
//! [`TokenLifecycle`] with exactly the semantics of [`MemoryTokenStore`](crate::MemoryTokenStore),
//! so switching stores is one line:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_bearer::store::sql::SqlTokenStore;
//! use tower_bearer::{BearerAuthLayer, NewToken, TokenLifecycle};
//!
//! // let store = MemoryTokenStore::new();
//! let store = SqlTokenStore::open("sqlite://tokens.db").await?;
//! // or: SqlTokenStore::open("postgres://app@db.internal/app").await?;
//! let issued = store.issue(NewToken::for_subject("alice").scopes(["read"])).await?;
//! let layer = BearerAuthLayer::new(store.clone());
//! # Ok(()) }
//! ```
//!
//! # What is stored
//!
//! One row per token: its id, the SHA-256 digest of the secret (32 bytes, unique index), a
//! display hint (`tok_…a1B2`), subject, organization, name, kind, scopes, `created_at`,
//! `expires_at`, `last_used_at` and `revoked_at`. The plaintext never reaches the database:
//! it is generated, hashed and returned to the caller of `issue`, and lookups send only the
//! digest. The schema is created by migrations embedded in the crate (`migrations/sqlite`,
//! `migrations/postgres`), run by [`sqlx::migrate::Migrator`] when the store opens (or by
//! [`SqlTokenStore::migrate`] when you turn that off). On Postgres everything lives in its own
//! schema (`tower_bearer` by default) with its own `_sqlx_migrations` table, so it never mixes
//! with the application's tables or migrations. On SQLite, give the store its own database
//! file: sqlx keeps one `_sqlx_migrations` table per file.
//!
//! # Behaviour
//!
//! - **Lookups**: one query on the digest's unique index; a revoked row answers
//!   [`TokenState::Revoked`]. A database error answers `Err(StoreError)` and a lookup
//!   still pending after the [lookup timeout](SqlTokenStoreBuilder::lookup_timeout)
//!   answers [`StoreError::timeout`]: the layer fails closed with 503 either way, and serves
//!   again as soon as the database answers again (the pool reconnects; nothing restarts).
//!   [`TimeoutStore`](crate::store::timeout::TimeoutStore) composes as well, for a deadline
//!   that also covers a cache in front.
//! - **Rotation** inserts the new token and revokes (or, with a grace period, shortens) the
//!   old one in one transaction: a crash can neither lose the new token nor bring the old one
//!   back.
//! - **Usage**: `last_used_at` is written at most once per token per
//!   [usage interval](SqlTokenStoreBuilder::usage_interval) (per instance), by a spawned
//!   task the request never waits for, keyed by an in-memory map of the last write.
//! - **Events**: issue, rotate, revoke, delete and purge emit [`LifecycleEvent`]s to the
//!   [hook](SqlTokenStoreBuilder::on_lifecycle_event) after their transaction commits.
//! - **Postgres revocation push**: revoke, rotate and delete also run
//!   `pg_notify(<channel>, '<digest hex>')` in their transaction, so caches on every instance
//!   hear of it the moment it commits. See [`SqlTokenStore::listen_for_revocations`] (features
//!   `postgres` and `cache`).
//!
//! # With a cache
//!
//! A lookup costs a database round trip; [`SqlTokenStore::cached`] (feature `cache`) puts a
//! [`CachedTokenStore`](crate::store::cache::CachedTokenStore) in front, which answers repeat
//! lookups from memory, and on Postgres subscribes it to every instance's revocations:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_bearer::store::cache::CacheConfig;
//! use tower_bearer::store::sql::SqlTokenStore;
//! use tower_bearer::BearerAuthLayer;
//!
//! let store = SqlTokenStore::open("postgres://app@db.internal/app").await?;
//! let cached = store.cached(CacheConfig::default());
//! let layer = BearerAuthLayer::new(cached.clone());
//! // Revoke through `cached`: this instance forgets the token at once, the others as soon as
//! // the notification arrives (milliseconds; bounded as documented on `RevocationListener`).
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};

use crate::event::{LifecycleEvent, LifecycleSink};
use crate::lifecycle::{IssuedToken, LifecycleError, NewToken, TokenInfo, TokenLifecycle};
use crate::principal::{Principal, TokenId};
use crate::scope::Scopes;
use crate::store::memory::{DEFAULT_PREFIX, DEFAULT_USAGE_INTERVAL};
use crate::store::{BoxLookup, Lookup, LookupResult, StoreError, TokenState, TokenStore};
use crate::token::{PresentedToken, TokenFormat, TokenHash};

#[cfg(all(feature = "postgres", feature = "cache"))]
mod listener;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(all(feature = "postgres", feature = "cache"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "postgres", feature = "cache"))))]
pub use listener::{
    DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_TIMEOUT, ListenerStatus, RevocationListener,
};
/// The `sqlx` this store is built on, for building pools of the matching version.
pub use sqlx;

/// How long a lookup may take before it fails with [`StoreError::timeout`] (503): 2 seconds.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The Postgres schema that holds the store's table and migration history.
pub const DEFAULT_SCHEMA: &str = "tower_bearer";

/// The Postgres `NOTIFY` channel on which revocations are announced.
pub const DEFAULT_NOTIFY_CHANNEL: &str = "tower_bearer_revocations";

/// Connections in a pool the store opens itself.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// A collision of 256 random bits does not happen; a unique violation that repeats is a bug
/// somewhere else, and is reported instead of retried forever.
const INSERT_ATTEMPTS: usize = 4;

/// A token store in SQLite or PostgreSQL. See the [module documentation](self).
///
/// Cloning is cheap; clones share the connection pool.
#[derive(Clone)]
pub struct SqlTokenStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    format: TokenFormat,
    lookup_timeout: Duration,
    usage: Usage,
    events: LifecycleSink,
    #[cfg(all(feature = "postgres", feature = "cache"))]
    heartbeat: (Duration, Duration),
}

enum Db {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteDb),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgDb),
}

/// Runs `$body` with `$db` bound to whichever backend the store has.
macro_rules! with_db {
    ($inner:expr, $db:ident => $body:expr) => {
        match &$inner.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite($db) => $body,
            #[cfg(feature = "postgres")]
            Db::Postgres($db) => $body,
        }
    };
}

/// Which database a [`SqlTokenStore`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlBackend {
    /// SQLite (feature `sqlite`).
    Sqlite,
    /// PostgreSQL (feature `postgres`).
    Postgres,
}

/// Why a [`SqlTokenStore`] could not be opened. Never contains the database URL (it may hold
/// a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL is neither `sqlite:` nor `postgres:`/`postgresql:`, or names a backend whose
    /// cargo feature is not enabled.
    #[error("unsupported database URL (expected sqlite: or postgres:, with its cargo feature enabled)")]
    UnsupportedUrl,
    /// The Postgres schema name is not a plain lowercase identifier.
    #[error("invalid schema name {0:?}: use lowercase letters, digits and '_', not starting with a digit")]
    InvalidSchema(String),
    /// The database could not be reached or refused the connection.
    #[error("could not connect to the token database")]
    Connect(#[source] sqlx::Error),
    /// The store's migrations could not be applied.
    #[error("could not apply the token store's migrations")]
    Migrate(#[source] MigrateError),
}

/// Configures a [`SqlTokenStore`]; see [`SqlTokenStore::builder`].
#[must_use]
pub struct SqlTokenStoreBuilder {
    format: TokenFormat,
    usage_interval: Duration,
    lookup_timeout: Duration,
    events: LifecycleSink,
    migrate: bool,
    max_connections: u32,
    schema: String,
    channel: String,
    heartbeat: (Duration, Duration),
}

impl Default for SqlTokenStoreBuilder {
    fn default() -> Self {
        SqlTokenStoreBuilder {
            format: TokenFormat::new(DEFAULT_PREFIX),
            usage_interval: DEFAULT_USAGE_INTERVAL,
            lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
            events: LifecycleSink::default(),
            migrate: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            schema: DEFAULT_SCHEMA.to_owned(),
            channel: DEFAULT_NOTIFY_CHANNEL.to_owned(),
            heartbeat: (Duration::from_secs(5), Duration::from_secs(5)),
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
            .finish_non_exhaustive()
    }
}

impl SqlTokenStoreBuilder {
    /// The format of issued tokens (default prefix [`DEFAULT_PREFIX`]).
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// How often, at most, a token's `last_used_at` is written, per instance (default
    /// [`DEFAULT_USAGE_INTERVAL`]). `Duration::ZERO` writes on every use.
    pub fn usage_interval(mut self, interval: Duration) -> Self {
        self.usage_interval = interval;
        self
    }

    /// How long a lookup may take before the layer answers 503 (default
    /// [`DEFAULT_LOOKUP_TIMEOUT`]). Covers waiting for a pooled connection too.
    pub fn lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }

    /// Calls `hook` with every [`LifecycleEvent`] (issued, rotated, revoked, deleted, expired
    /// tokens purged), after the change is committed.
    pub fn on_lifecycle_event(mut self, hook: impl Fn(&LifecycleEvent) + Send + Sync + 'static) -> Self {
        self.events.set_hook(Arc::new(hook));
        self
    }

    /// Whether opening the store applies its migrations (default `true`). Turn it off to run
    /// them from a deploy step with [`SqlTokenStore::migrate`].
    pub fn run_migrations(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// The size of the pool the store opens itself (default [`DEFAULT_MAX_CONNECTIONS`]; an
    /// in-memory SQLite database always has one connection).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Postgres only: the schema holding the store's table and migration history (default
    /// [`DEFAULT_SCHEMA`]). Lowercase letters, digits and `_`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Postgres only: the `NOTIFY` channel revocations are announced on (default
    /// [`DEFAULT_NOTIFY_CHANNEL`]). Instances sharing a database must agree on it.
    pub fn notify_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// Postgres and `cache` only: how often a [`RevocationListener`] checks that its
    /// subscription still delivers (it notifies itself), and how long it waits for that
    /// notification before declaring the channel lost (clearing the cache and reconnecting).
    /// Their sum bounds how long a silently broken connection can go unnoticed. Defaults:
    /// 5 s and 5 s.
    pub fn listener_heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat = (interval, timeout);
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
                self.open_postgres_with(options).await
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

    /// A fresh in-memory SQLite database, for tests: gone when the store is dropped.
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the migrations fail.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub async fn open_sqlite_in_memory(self) -> Result<SqlTokenStore, OpenError> {
        let options: sqlx::sqlite::SqliteConnectOptions =
            "sqlite::memory:".parse().map_err(OpenError::Connect)?;
        self.sqlite(options, true).await
    }

    /// Opens a SQLite database with these options. File databases are opened with
    /// `create_if_missing`, WAL journaling and `synchronous = FULL` (a committed revocation
    /// survives a power cut).
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the database cannot be opened or the migrations fail.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub async fn open_sqlite_with(
        self,
        options: sqlx::sqlite::SqliteConnectOptions,
    ) -> Result<SqlTokenStore, OpenError> {
        // The name sqlx gives `sqlite::memory:` databases.
        let in_memory = options.get_filename().to_str().is_some_and(|f| f.starts_with("file:sqlx-in-memory"));
        self.sqlite(options, in_memory).await
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
        self.finish(Db::Sqlite(sqlite::SqliteDb::new(pool))).await
    }

    /// Connects to Postgres with these options.
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the schema name is invalid, the database cannot be reached, or the
    /// migrations fail.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub async fn open_postgres_with(
        self,
        options: sqlx::postgres::PgConnectOptions,
    ) -> Result<SqlTokenStore, OpenError> {
        let pool = postgres::pool_options(self.max_connections, self.lookup_timeout)
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
        let db = postgres::PgDb::new(pool, &self.schema, self.channel.clone());
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
                #[cfg(all(feature = "postgres", feature = "cache"))]
                heartbeat: self.heartbeat,
            }),
        };
        if self.migrate {
            store.migrate().await?;
        }
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

    /// Applies the store's embedded migrations (idempotent; concurrent instances take turns).
    ///
    /// # Errors
    ///
    /// [`OpenError::Migrate`], or [`OpenError::Connect`] if no connection could be had.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        with_db!(self.inner, db => db.migrate().await)
    }

    /// Which database this store uses.
    #[must_use]
    pub fn backend(&self) -> SqlBackend {
        with_db!(self.inner, db => db.backend())
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

    /// Closes the connection pool: lookups then fail (503) and lifecycle calls return errors.
    pub async fn close(&self) {
        with_db!(self.inner, db => db.pool.close().await);
    }

    /// Wraps the store in a [`CachedTokenStore`](crate::store::cache::CachedTokenStore)
    /// configured by `config` and, on Postgres, subscribes the cache to revocations made by
    /// other instances ([`listen_for_revocations`](Self::listen_for_revocations)). Call it
    /// within a tokio runtime.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn cached(
        self,
        config: crate::store::cache::CacheConfig,
    ) -> crate::store::cache::CachedTokenStore<SqlTokenStore> {
        let cached = config.build(self.clone());
        #[cfg(feature = "postgres")]
        let _listener = self.listen_for_revocations(&cached);
        cached
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

/// A row of the tokens table, without the digest. Times are microseconds since the epoch.
#[derive(Clone, Debug)]
struct TokenRow {
    id: String,
    hint: Option<String>,
    subject: String,
    organization: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    scopes: Vec<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    /// The row for a new token.
    fn new(id: &TokenId, new: &NewToken, hint: String, now: i64) -> Self {
        let p = new.principal(id.clone());
        TokenRow {
            id: id.as_str().to_owned(),
            hint: Some(hint),
            subject: p.subject().to_owned(),
            organization: p.organization().map(str::to_owned),
            name: p.name().map(str::to_owned),
            kind: p.kind().map(str::to_owned),
            scopes: p.scopes().iter().map(str::to_owned).collect(),
            created_at: now,
            expires_at: p.expires_at().map(micros),
            last_used_at: None,
            revoked_at: None,
        }
    }

    /// The row of the token that replaces this one: same owner, name, kind, scopes and
    /// lifetime length, counted from `now`.
    fn successor(&self, id: &TokenId, hint: String, now: i64) -> Self {
        TokenRow {
            id: id.as_str().to_owned(),
            hint: Some(hint),
            created_at: now,
            expires_at: self
                .expires_at
                .map(|at| now.saturating_add(at.saturating_sub(self.created_at).max(0))),
            last_used_at: None,
            revoked_at: None,
            ..self.clone()
        }
    }

    fn principal(&self) -> Principal {
        let mut b = Principal::builder(self.subject.clone())
            .token_id(self.id.as_str())
            .scopes(self.scopes.iter().map(String::as_str).collect::<Scopes>());
        if let Some(o) = &self.organization {
            b = b.organization(o.clone());
        }
        if let Some(n) = &self.name {
            b = b.name(n.clone());
        }
        if let Some(k) = &self.kind {
            b = b.kind(k.clone());
        }
        if let Some(at) = self.expires_at {
            b = b.expires_at(time(at));
        }
        b.build()
    }

    fn info(&self) -> TokenInfo {
        let mut info =
            TokenInfo::new(TokenId::from(self.id.as_str()), self.principal(), time(self.created_at))
                .with_last_used_at(self.last_used_at.map(time));
        info.hint.clone_from(&self.hint);
        info
    }
}

/// What a backend's rotation did.
enum Rotated {
    /// No live token has the id.
    NotFound,
    /// The new digest or id is taken (never in practice): draw again.
    Conflict,
    /// Committed: the new token's row.
    Done(Box<TokenRow>),
}

/// Microseconds since the Unix epoch (negative before it).
fn micros(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |us| -us),
    }
}

fn time(us: i64) -> SystemTime {
    let d = Duration::from_micros(us.unsigned_abs());
    if us >= 0 { UNIX_EPOCH + d } else { UNIX_EPOCH - d }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

fn store_error(e: sqlx::Error) -> LifecycleError {
    LifecycleError::Store(StoreError::unavailable(e))
}

/// The embedded migrations of one backend, as a [`MigrationSource`] for sqlx's migrator.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

async fn migrator(source: Embedded) -> Result<Migrator, OpenError> {
    let mut migrator = Migrator::new(source).await.map_err(OpenError::Migrate)?;
    // Tolerate migrations of a newer version of this crate, and of the application where it
    // shares the history table (SQLite).
    migrator.set_ignore_missing(true);
    Ok(migrator)
}

/// Coalesces `last_used_at` writes: at most one per token per interval, per instance.
struct Usage {
    interval_ms: u64,
    /// Digest → when this instance last wrote (or learned of) its use, in ms since the epoch.
    last: papaya::HashMap<TokenHash, AtomicU64>,
    /// Entries older than the interval are swept out when the map reaches this size.
    sweep_at: AtomicUsize,
}

const USAGE_SWEEP_MIN: usize = 1024;

impl Usage {
    fn new(interval: Duration) -> Self {
        Usage {
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last: papaya::HashMap::new(),
            sweep_at: AtomicUsize::new(USAGE_SWEEP_MIN),
        }
    }

    /// Whether this use should be written: the last known use (ours, or the database's
    /// `stored`) is an interval old. At most one caller wins per interval.
    fn claim(&self, hash: &TokenHash, now_ms: u64, stored_ms: u64) -> bool {
        let map = self.last.pin();
        let slot = map.get_or_insert_with(*hash, || AtomicU64::new(stored_ms));
        let last = slot.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last.max(stored_ms)) < self.interval_ms {
            return false;
        }
        let won = slot.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok();
        if map.len() >= self.sweep_at.load(Ordering::Relaxed) {
            let interval = self.interval_ms;
            map.retain(|_, at| now_ms.saturating_sub(at.load(Ordering::Relaxed)) < interval);
            self.sweep_at.store((map.len() * 2).max(USAGE_SWEEP_MIN), Ordering::Relaxed);
        }
        won
    }
}

fn millis(us: i64) -> u64 {
    u64::try_from(us / 1000).unwrap_or(0)
}

impl Inner {
    async fn lookup(self: Arc<Self>, hash: TokenHash) -> LookupResult {
        let query = async { with_db!(self, db => db.lookup(hash.as_bytes()).await) };
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
        let now = micros(SystemTime::now());
        if self.usage.claim(&hash, millis(now), row.last_used_at.map_or(0, millis))
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Never awaited by the request; a failed write is retried at the next use after
            // the interval.
            let inner = self.clone();
            runtime.spawn(async move {
                let write = async { with_db!(inner, db => db.touch(hash.as_bytes(), now).await) };
                let _ = tokio::time::timeout(inner.lookup_timeout, write).await;
            });
        }
        Ok(TokenState::Active(principal))
    }
}

impl TokenStore for SqlTokenStore {
    type Future = BoxLookup;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<BoxLookup> {
        Lookup::Later(Box::pin(self.inner.clone().lookup(*token.hash())))
    }
}

impl TokenLifecycle for SqlTokenStore {
    async fn issue(&self, new: NewToken) -> Result<IssuedToken, LifecycleError> {
        let inner = &*self.inner;
        for _ in 0..INSERT_ATTEMPTS {
            let secret = inner.format.generate();
            let row = TokenRow::new(&TokenId::random(), &new, secret.hint(), micros(SystemTime::now()));
            let inserted = with_db!(inner, db => db.insert(secret.hash().as_bytes(), &row).await);
            match inserted {
                Ok(()) => {
                    let info = row.info();
                    inner.events.emit(&LifecycleEvent::Issued(info.clone()));
                    return Ok(IssuedToken::new(secret, info));
                }
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(LifecycleError::Store(StoreError::unavailable("token digest or id collided repeatedly")))
    }

    async fn list(&self, subject: &str) -> Result<Vec<TokenInfo>, LifecycleError> {
        let rows = with_db!(self.inner, db => db.list(subject).await).map_err(store_error)?;
        Ok(rows.iter().map(TokenRow::info).collect())
    }

    async fn get(&self, id: &TokenId) -> Result<Option<TokenInfo>, LifecycleError> {
        let row = with_db!(self.inner, db => db.get(id.as_str()).await).map_err(store_error)?;
        Ok(row.as_ref().map(TokenRow::info))
    }

    async fn revoke(&self, id: &TokenId) -> Result<bool, LifecycleError> {
        let now = micros(SystemTime::now());
        let row = with_db!(self.inner, db => db.revoke(id.as_str(), now).await).map_err(store_error)?;
        Ok(row.map(|row| self.inner.events.emit(&LifecycleEvent::Revoked(row.info()))).is_some())
    }

    async fn rotate(&self, id: &TokenId, grace: Duration) -> Result<IssuedToken, LifecycleError> {
        let inner = &*self.inner;
        for _ in 0..INSERT_ATTEMPTS {
            let now = SystemTime::now();
            let grace_until = (!grace.is_zero()).then(|| micros(now + grace));
            let secret = inner.format.generate();
            let new_id = TokenId::random();
            let rotated = with_db!(inner, db => db
                .rotate(id.as_str(), micros(now), grace_until, secret.hash().as_bytes(), &new_id, secret.hint())
                .await);
            match rotated.map_err(store_error)? {
                Rotated::NotFound => return Err(LifecycleError::NotFound(id.clone())),
                Rotated::Conflict => {}
                Rotated::Done(new) => {
                    let info = new.info();
                    inner.events.emit(&LifecycleEvent::Rotated { old: id.clone(), new: info.clone(), grace });
                    return Ok(IssuedToken::new(secret, info));
                }
            }
        }
        Err(LifecycleError::Store(StoreError::unavailable("token digest or id collided repeatedly")))
    }

    async fn delete(&self, id: &TokenId) -> Result<bool, LifecycleError> {
        let row = with_db!(self.inner, db => db.delete(id.as_str()).await).map_err(store_error)?;
        Ok(row.map(|row| self.inner.events.emit(&LifecycleEvent::Deleted(row.info()))).is_some())
    }

    async fn purge_expired(&self) -> Result<usize, LifecycleError> {
        let now = micros(SystemTime::now());
        let rows = with_db!(self.inner, db => db.purge_expired(now).await).map_err(store_error)?;
        let purged: Vec<TokenInfo> =
            rows.iter().filter(|r| r.revoked_at.is_none()).map(TokenRow::info).collect();
        let count = purged.len();
        if count > 0 {
            self.inner.events.emit(&LifecycleEvent::ExpiredPurged(purged));
        }
        Ok(count)
    }

    async fn record_usage(&self, id: &TokenId, at: SystemTime) -> Result<(), LifecycleError> {
        with_db!(self.inner, db => db.record_usage(id.as_str(), micros(at)).await).map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn opening_can_be_spawned() {
        #[cfg(feature = "sqlite")]
        assert_send(&SqlTokenStore::open("sqlite::memory:"));
        #[cfg(feature = "postgres")]
        assert_send(&SqlTokenStore::builder().open("postgres://localhost/db"));
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn every_operation_can_be_spawned() {
        let store = SqlTokenStore::open("sqlite::memory:").await.unwrap();
        let id = TokenId::from("tid_x");
        assert_send(&store.issue(NewToken::for_subject("s")));
        assert_send(&store.list("s"));
        assert_send(&store.get(&id));
        assert_send(&store.revoke(&id));
        assert_send(&store.rotate(&id, Duration::ZERO));
        assert_send(&store.delete(&id));
        assert_send(&store.purge_expired());
        assert_send(&store.record_usage(&id, SystemTime::now()));
        assert_send(&store.migrate());
        assert_send(&store.lookup(&PresentedToken::new("t")));
    }

    #[test]
    fn micros_round_trip_around_the_epoch() {
        for us in [0, 1, -1, 1_700_000_000_123_456, -86_400_000_000] {
            assert_eq!(micros(time(us)), us);
        }
        let now = SystemTime::now();
        assert!(now.duration_since(time(micros(now))).unwrap() < Duration::from_micros(1));
    }

    #[test]
    fn a_successor_keeps_the_lifetime_length() {
        let id = TokenId::from("tid_a");
        let new = NewToken::for_subject("s").name("n").scopes(["a", "b"]).expires_at(time(5_000_000));
        let old = TokenRow::new(&id, &new, "tok_…abcd".into(), 1_000_000);
        let next = old.successor(&TokenId::from("tid_b"), "tok_…wxyz".into(), 10_000_000);
        assert_eq!(next.expires_at, Some(14_000_000));
        assert_eq!(
            (next.id.as_str(), next.subject.as_str(), next.name.as_deref()),
            ("tid_b", "s", Some("n"))
        );
        assert_eq!(next.scopes, ["a", "b"]);
        let forever = TokenRow::new(&id, &NewToken::for_subject("s"), String::new(), 0);
        assert_eq!(forever.successor(&id, String::new(), 9).expires_at, None);
    }

    #[test]
    fn usage_writes_are_claimed_once_per_interval() {
        let usage = Usage::new(Duration::from_secs(60));
        let h = TokenHash::of("t");
        assert!(usage.claim(&h, 1_000_000, 0));
        assert!(!usage.claim(&h, 1_030_000, 0), "within the interval");
        assert!(usage.claim(&h, 1_060_000, 0), "an interval later");
        let other = TokenHash::of("u");
        assert!(!usage.claim(&other, 2_000_000, 1_990_000), "the database saw a use 10 s ago");
        let eager = Usage::new(Duration::ZERO);
        assert!(eager.claim(&h, 5, 0) && eager.claim(&h, 5, 0));
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_identifier("tower_bearer") && valid_identifier("_t2"));
        for bad in ["", "2x", "Tower", "a-b", "a\"b", "a;drop", &"x".repeat(64)] {
            assert!(!valid_identifier(bad), "{bad}");
        }
    }
}
