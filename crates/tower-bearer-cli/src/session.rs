//! [`Session`]: the token store opened for one command. What the command changes (issued,
//! rotated, revoked, deleted, purged tokens) the store writes to its audit log in the same
//! transaction as the change.

use tower_bearer::TokenFormat;
use tower_bearer_sqlx::SqlTokenStore;

use crate::database::DatabaseUrl;
use crate::failure::Failure;

/// The store a command runs on.
pub(crate) struct Session {
    store: SqlTokenStore,
}

impl Session {
    /// Opens the store at `db` (applying its migrations), making secrets of `format` (else
    /// the store's default). Only a command that may start a database (`may_create`) opens a
    /// SQLite file that does not exist yet.
    ///
    /// # Errors
    ///
    /// [`Failure::Usage`] for an unsupported URL, [`Failure::Database`] otherwise.
    pub(crate) async fn open(
        db: &DatabaseUrl,
        may_create: bool,
        format: Option<TokenFormat>,
    ) -> Result<Self, Failure> {
        if !may_create && db.is_missing_sqlite_file() {
            return Err(Failure::database(
                "the SQLite database file does not exist (only `issue` creates one): check the path",
            ));
        }
        let mut builder = SqlTokenStore::builder();
        if let Some(format) = format {
            builder = builder.format(format);
        }
        // One command at a time: a connection, and one spare.
        let store = builder.max_connections(2).open(db.expose()).await?;
        Ok(Session { store })
    }

    /// The store.
    pub(crate) fn store(&self) -> &SqlTokenStore {
        &self.store
    }

    /// Closes the store.
    pub(crate) async fn close(self) {
        self.store.close().await;
    }
}
