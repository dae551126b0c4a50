//! [`StoreError`]: a store could not answer (the layer fails closed with 503).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// A boxed error, as stores report them.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A store could not answer. The layer answers 503 and never shows the client this error.
///
/// Cheap to clone (the cause is shared), so one failed lookup can answer every request that
/// waited on it.
#[derive(Clone)]
pub struct StoreError {
    kind: StoreErrorKind,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
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

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError").field("kind", &self.kind).field("source", &self.source).finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token store {}", self.kind)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
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
    pub fn unavailable(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        StoreError { kind: StoreErrorKind::Unavailable, source: Some(Arc::from(source.into())) }
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
