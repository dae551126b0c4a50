//! The embedded migrations of both databases, run by sqlx's migrator.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::error::OpenError;

/// SQLite's migrations. Applied ones are never edited or renumbered: sqlx refuses a database
/// whose applied migrations changed; a change is a new migration at the end.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: Embedded = Embedded(&[
    (1, "tokens", include_str!("../migrations/sqlite/1_tokens.sql")),
    (2, "replaced by", include_str!("../migrations/sqlite/2_replaced_by.sql")),
    (3, "limits", include_str!("../migrations/sqlite/3_limits.sql")),
    (4, "audience", include_str!("../migrations/sqlite/4_audience.sql")),
    (5, "oauth clients", include_str!("../migrations/sqlite/5_oauth_clients.sql")),
    (6, "revocations", include_str!("../migrations/sqlite/6_revocations.sql")),
    (7, "audit", include_str!("../migrations/sqlite/7_audit.sql")),
    (8, "markers", include_str!("../migrations/sqlite/8_markers.sql")),
    (9, "credits allowance", include_str!("../migrations/sqlite/9_credits_allowance.sql")),
    (10, "credit leases", include_str!("../migrations/sqlite/10_credit_leases.sql")),
    (11, "confirmation", include_str!("../migrations/sqlite/11_confirmation.sql")),
    (12, "client keys", include_str!("../migrations/sqlite/12_client_keys.sql")),
    (13, "replay ids", include_str!("../migrations/sqlite/13_replay.sql")),
    (14, "usage", include_str!("../migrations/sqlite/14_usage.sql")),
    (15, "token changes", include_str!("../migrations/sqlite/15_token_changes.sql")),
]);

/// PostgreSQL's (each runs with `search_path` set to the store's schema). Its 9 has no SQLite
/// counterpart (SQLite commits audit rows in order without help), so the numbers part there.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: Embedded = Embedded(&[
    (1, "tokens", include_str!("../migrations/postgres/1_tokens.sql")),
    (2, "replaced by", include_str!("../migrations/postgres/2_replaced_by.sql")),
    (3, "limits", include_str!("../migrations/postgres/3_limits.sql")),
    (4, "audience", include_str!("../migrations/postgres/4_audience.sql")),
    (5, "oauth clients", include_str!("../migrations/postgres/5_oauth_clients.sql")),
    (6, "revocations", include_str!("../migrations/postgres/6_revocations.sql")),
    (7, "audit", include_str!("../migrations/postgres/7_audit.sql")),
    (8, "markers", include_str!("../migrations/postgres/8_markers.sql")),
    (9, "audit commit order", include_str!("../migrations/postgres/9_audit_commit_order.sql")),
    (10, "credits allowance", include_str!("../migrations/postgres/10_credits_allowance.sql")),
    (11, "credit leases", include_str!("../migrations/postgres/11_credit_leases.sql")),
    (12, "confirmation", include_str!("../migrations/postgres/12_confirmation.sql")),
    (13, "client keys", include_str!("../migrations/postgres/13_client_keys.sql")),
    (14, "replay ids", include_str!("../migrations/postgres/14_replay.sql")),
    (15, "usage", include_str!("../migrations/postgres/15_usage.sql")),
]);

/// The embedded migrations of one backend, as a [`MigrationSource`] for sqlx's migrator.
#[derive(Debug)]
pub(crate) struct Embedded(pub(crate) &'static [(i64, &'static str, &'static str)]);

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

pub(crate) async fn migrator(source: Embedded) -> Result<Migrator, OpenError> {
    let mut migrator = Migrator::new(source).await.map_err(OpenError::Migrate)?;
    // Tolerate migrations of a newer version of this crate, and of the application where it
    // shares the history table (SQLite).
    migrator.set_ignore_missing(true);
    Ok(migrator)
}
