//! The embedded migrations, run by sqlx's migrator.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::error::OpenError;

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
