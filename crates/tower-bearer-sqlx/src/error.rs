//! [`OpenError`]: why a store could not be opened.

use sqlx::migrate::MigrateError;

/// Why a [`SqlTokenStore`](crate::SqlTokenStore) could not be opened. Never contains the database URL (it may hold
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
