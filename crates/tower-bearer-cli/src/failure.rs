//! [`Failure`]: why a command failed, the exit code that tells scripts which way, and the
//! message for stderr (never a secret, never the database URL).

use std::error::Error;
use std::io;

use tower_bearer::{ManageError, StoreError, TokenId};
use tower_bearer_sqlx::OpenError;

use crate::database::DatabaseUrl;
use crate::escape::printable;

type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Exit code: no live token has the id given, or the store refused the change.
pub(crate) const EXIT_NOT_DONE: u8 = 1;
/// Exit code: the command line is wrong (as `clap` exits for its own errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: the token database could not be opened or failed.
pub(crate) const EXIT_DATABASE: u8 = 3;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An argument or the configuration is wrong.
    Usage(String),
    /// No live token has this id.
    NotFound(TokenId),
    /// The store refused the operation (a [`ManageError`] other than the store's failure).
    Refused(String),
    /// The database could not be opened, or failed during the command.
    Database(BoxError),
    /// Stdout could not be written (a reader that went away: said nothing about).
    Output(io::Error),
}

impl Failure {
    /// A database failure.
    pub(crate) fn database(cause: impl Into<BoxError>) -> Self {
        Failure::Database(cause.into())
    }

    /// The process's exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::NotFound(_) | Failure::Refused(_) | Failure::Output(_) => EXIT_NOT_DONE,
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Database(_) => EXIT_DATABASE,
        }
    }

    /// The message for stderr, if there is one to give. Every message the database stack
    /// produced is checked against `db`: one showing its URL or password ends the message.
    pub(crate) fn message(&self, db: Option<&DatabaseUrl>) -> Option<String> {
        let text = match self {
            Failure::Usage(message) | Failure::Refused(message) => message.clone(),
            Failure::NotFound(id) => {
                format!("no live token with id {} (unknown, revoked or deleted)", id.as_str())
            }
            Failure::Database(cause) => causes(cause.as_ref(), db),
            Failure::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => return None,
            Failure::Output(e) => format!("could not write the output: {e}"),
        };
        Some(printable(&text).into_owned())
    }
}

/// `error` and its sources, joined by `: `, each once (a message often repeats its source's).
fn causes(error: &(dyn Error + 'static), db: Option<&DatabaseUrl>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if db.is_some_and(|db| db.shows_in(&text)) {
            parts.push("(details withheld: they show the database URL)".to_owned());
            break;
        }
        if !parts.last().is_some_and(|last| last.ends_with(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

impl From<ManageError> for Failure {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::NotFound(id) => Failure::NotFound(id),
            ManageError::OutOfRange(what) => Failure::Usage(format!("{what} is out of range")),
            ManageError::Store(e) => Failure::database(e),
            other => Failure::Refused(other.to_string()),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::database(e)
    }
}

impl From<OpenError> for Failure {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::UnsupportedUrl => Failure::Usage(
                "unsupported database URL: expected sqlite://path/to/tokens.db or \
                 postgres://user:password@host/database"
                    .to_owned(),
            ),
            other => Failure::database(other),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn messages_keep_the_causes_but_never_the_url() {
        let db = DatabaseUrl::from_arg_or_env(Some("postgres://ops:hunter2@db/app".to_owned())).unwrap();
        let refused = Layer(
            "could not connect",
            Some(Box::new(Layer(
                "io: connection refused",
                Some(Box::new(Layer("connection refused", None))),
            ))),
        );
        let failure = Failure::database(refused);
        assert_eq!(failure.message(Some(&db)).unwrap(), "could not connect: io: connection refused");
        assert_eq!(failure.exit_code(), EXIT_DATABASE);
        let leaky = Failure::database(Layer("bad", Some(Box::new(Layer("password hunter2 rejected", None)))));
        let message = leaky.message(Some(&db)).unwrap();
        assert!(!message.contains("hunter2") && message.starts_with("bad: (details withheld"), "{message}");
        let broken = Failure::Output(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(broken.message(None), None);
    }
}
