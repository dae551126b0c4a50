//! [`Session`]: the token store opened for one command, which writes what the command changed
//! (issued, rotated, revoked, deleted, purged tokens) to the store's audit log before closing.

use std::mem;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tower_bearer::TokenFormat;
use tower_bearer::manage::audit::{AuditEvent, AuditLog};
use tower_bearer_sqlx::SqlTokenStore;

use crate::database::DatabaseUrl;
use crate::failure::Failure;
use crate::output::Printer;

/// The store, and the audit events of the changes made through it.
pub(crate) struct Session {
    store: SqlTokenStore,
    changes: Arc<Mutex<Vec<AuditEvent>>>,
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
        let changes = Arc::new(Mutex::new(Vec::new()));
        let recorder = Arc::clone(&changes);
        let mut builder = SqlTokenStore::builder();
        if let Some(format) = format {
            builder = builder.format(format);
        }
        let store = builder
            // One command at a time: a connection, and one spare.
            .max_connections(2)
            .on_lifecycle_event(move |event| {
                let events = AuditEvent::of_lifecycle(event, SystemTime::now());
                // A push cannot leave the list half-changed: a poisoned lock is still usable.
                recorder.lock().unwrap_or_else(PoisonError::into_inner).extend(events);
            })
            .open(db.expose())
            .await?;
        Ok(Session { store, changes })
    }

    /// The store.
    pub(crate) fn store(&self) -> &SqlTokenStore {
        &self.store
    }

    /// Appends the audit events of the changes made, then closes the store. A failure to
    /// append is a warning (with `db` kept out of it), not a failure: the changes are made.
    pub(crate) async fn close(self, db: &DatabaseUrl, out: &Printer) {
        let events = mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner));
        if !events.is_empty()
            && let Err(e) = self.store.append(events).await
            && let Some(message) = Failure::from(e).message(Some(db))
        {
            out.warn(&format!("the change was made, but could not be written to the audit log: {message}"));
        }
        self.store.close().await;
    }
}
