//! [`UsageSource`]: the usage log the management API and the portal read from, behind a
//! pointer (the `UsageLog` trait's futures are not object-safe).

use std::future::Future;
use std::pin::Pin;

use tower_bearer::StoreError;
use tower_bearer::manage::usage::{UsageCount, UsageLog, UsageQuery};

/// What a read of the usage log answers.
type Counts<'a> = Pin<Box<dyn Future<Output = Result<Vec<UsageCount>, StoreError>> + Send + 'a>>;

/// A [`UsageLog`], as the readers hold it.
pub(crate) trait UsageSource: Send + Sync + 'static {
    fn counts(&self, query: UsageQuery) -> Counts<'_>;
}

impl<L: UsageLog> UsageSource for L {
    fn counts(&self, query: UsageQuery) -> Counts<'_> {
        Box::pin(async move { self.usage(&query).await })
    }
}
