//! [`SharedStoreError`]: one store error handed to every caller that waited on the same
//! lookup (coalesced misses of a cache or of a resolver).

use std::fmt;
use std::sync::Arc;

use crate::store::error::{StoreError, StoreErrorKind};

/// A [`StoreError`] shared by every caller of one coalesced lookup: `StoreError` is not
/// `Clone`, so each caller gets its own with [`to_store_error`](Self::to_store_error), of the
/// same kind, whose chain ends in the original cause.
#[derive(Clone)]
pub struct SharedStoreError(Arc<StoreError>);

impl SharedStoreError {
    /// Shares `error`.
    #[must_use]
    pub fn new(error: StoreError) -> Self {
        SharedStoreError(Arc::new(error))
    }

    /// An error of the same kind for one caller: a timeout stays a timeout, anything else is
    /// "unavailable" with the original's cause as its source.
    #[must_use]
    pub fn to_store_error(&self) -> StoreError {
        match self.0.kind() {
            StoreErrorKind::Timeout => StoreError::timeout(),
            _ => StoreError::unavailable(self.clone()),
        }
    }
}

impl From<StoreError> for SharedStoreError {
    fn from(error: StoreError) -> Self {
        SharedStoreError::new(error)
    }
}

impl fmt::Debug for SharedStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SharedStoreError {
    // Stands in for the original's cause, so the new error's chain reads
    // "token store unavailable: <cause>" rather than repeating the first part.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::error::Error::source(&*self.0) {
            Some(cause) => fmt::Display::fmt(cause, f),
            None => fmt::Display::fmt(&*self.0, f),
        }
    }
}

impl std::error::Error for SharedStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0).and_then(std::error::Error::source)
    }
}
