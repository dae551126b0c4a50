//! [`StoreError`]: a store could not answer (the layer fails closed with 503).

use std::error::Error as StdError;
use std::fmt;

/// A boxed error, as stores report them.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A store could not answer. The layer answers 503 and never shows the client this error.
#[derive(Debug, thiserror::Error)]
#[error("token store {kind}")]
pub struct StoreError {
    kind: StoreErrorKind,
    #[source]
    source: Option<BoxError>,
}

/// The broad reason a store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The backing service is unreachable or refused the query.
    Unavailable,
    /// The lookup took longer than allowed.
    Timeout,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Timeout => "timed out",
        })
    }
}

impl StoreError {
    /// The store's backend failed with `source`.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        StoreError { kind: StoreErrorKind::Unavailable, source: Some(source.into()) }
    }

    /// The lookup timed out.
    #[must_use]
    pub fn timeout() -> Self {
        StoreError { kind: StoreErrorKind::Timeout, source: None }
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}
