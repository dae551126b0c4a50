//! [`SqlTokenStore`]: [tower-bearer](tower_bearer) tokens in SQLite (embedded, the default for
//! one instance) or PostgreSQL (shared by many instances), on [`sqlx`] (features `sqlite`,
//! the default, and `postgres`; `tls` for PostgreSQL servers that require it, such as managed
//! ones: `?sslmode=require` in the URL, or `?sslmode=verify-full&sslrootcert=ca.pem` to check
//! the server against a private CA; without the feature, a TLS-only server refuses to open).
//!
//! The store implements [`TokenStore`](tower_bearer::TokenStore) (one indexed query per lookup) and the whole
//! [`TokenManager`](tower_bearer::TokenManager) with exactly the semantics of
//! [`MemoryTokenStore`](tower_bearer::MemoryTokenStore), so switching stores is one line:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_bearer::{BearerAuthLayer, NewToken, TokenManager};
//! use tower_bearer_sqlx::SqlTokenStore;
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
//! display hint (`tok_…a1B2`), subject, organization, name, kind, scopes, audience, limits,
//! the key it is bound to (DPoP), `created_at`, `expires_at`, `last_used_at` and `revoked_at`. The plaintext never reaches the database:
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
//!   [`TokenState::Revoked`](tower_bearer::TokenState::Revoked). A database error answers `Err(StoreError)` and a lookup
//!   still pending after the [lookup timeout](SqlTokenStoreBuilder::lookup_timeout)
//!   answers [`StoreError::timeout`](tower_bearer::StoreError::timeout): the layer fails closed with 503 either way, and serves
//!   again as soon as the database answers again (the pool reconnects; nothing restarts).
//!   [`TimeoutTokenStore`](tower_bearer::TimeoutTokenStore) composes as well, for a deadline
//!   that also covers a cache in front.
//! - **Rotation** inserts the new token and revokes (or, with a grace period, shortens) the
//!   old one in one transaction: a crash can neither lose the new token nor bring the old one
//!   back.
//! - **Usage**: `last_used_at` is written at most once per token per
//!   [usage interval](SqlTokenStoreBuilder::usage_interval) (per instance), by a spawned
//!   task the request never waits for, keyed by an in-memory map of the last write.
//! - **Events**: issue, rotate, revoke, delete and purge emit [`LifecycleEvent`](tower_bearer::manage::LifecycleEvent)s to the
//!   [hook](SqlTokenStoreBuilder::on_lifecycle_event) after their transaction commits.
//! - **Single-use identifiers**: the store is a [`ReplayCache`](tower_bearer::store::ReplayCache)
//!   shared by every instance on the database (a DPoP proof's `jti` seen by one is refused by
//!   all), one `INSERT` per check; `purge_expired` deletes the expired ones.
//! - **Postgres revocation push**: revoke, rotate and delete also run
//!   `pg_notify(<channel>, '<digest hex>')` in their transaction, so caches on every instance
//!   hear of it the moment it commits: a cache or a deny list built over the store subscribes
//!   by itself ([`SqlTokenStore::revocation_pushes`]; feature `postgres`).
//! - **SQLite revocation push**: the same transactions append the digest to the file's change
//!   feed, which the caches of every process on the file poll
//!   ([`revocation_poll_interval`](SqlTokenStoreBuilder::revocation_poll_interval)), so a
//!   token revoked by another process or the CLI stops being served from a cache within it.
//!
//! # With a cache
//!
//! A lookup costs a database round trip; [`SqlTokenStore::cached`] puts a
//! [`CachedTokenStore`](tower_bearer::CachedTokenStore) in front, which answers repeat
//! lookups from memory, and subscribes it to every instance's revocations:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_bearer::stores::CacheConfig;
//! use tower_bearer::BearerAuthLayer;
//! use tower_bearer_sqlx::SqlTokenStore;
//!
//! let store = SqlTokenStore::open("postgres://app@db.internal/app").await?;
//! let cached = store.cached(CacheConfig::default());
//! let layer = BearerAuthLayer::new(cached.clone());
//! // Revoke through `cached`: this instance forgets the token at once, the others as soon as
//! // the notification arrives (milliseconds; bounded as documented on `RevocationListener`).
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("tower-bearer-sqlx needs a backend: enable the feature `sqlite`, `postgres`, or both");

mod audit;
mod builder;
#[cfg(feature = "sqlite")]
mod changes;
mod credits;
mod db;
mod dialect;
mod error;
mod leases;
#[cfg(feature = "postgres")]
mod listener;
mod manage;
mod markers;
mod metering;
mod micros;
mod migrate;
#[cfg(feature = "metrics")]
mod monitoring;
mod oauth_clients;
#[cfg(feature = "sqlite")]
mod poller;
#[cfg(feature = "postgres")]
mod postgres;
mod queries;
mod replay;
mod replay_schedule;
mod revocation_listener;
mod revocations;
mod row;
#[cfg(feature = "sqlite")]
mod sqlite;
mod statements;
mod status;
mod store;
mod subscription;
mod token_store;
mod usage;
mod usage_log;

pub use builder::SqlTokenStoreBuilder;
pub use db::SqlBackend;
pub use error::OpenError;
pub use oauth_clients::{OAuthClientRow, OAuthClients};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use revocation_listener::RevocationListener;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use status::ListenerStatus;
pub use store::SqlTokenStore;

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn opening_can_be_spawned() {
        #[cfg(feature = "sqlite")]
        assert_send(&SqlTokenStore::open("sqlite::memory:"));
        #[cfg(feature = "postgres")]
        assert_send(&SqlTokenStore::builder().open("postgres://localhost/db"));
    }
}
