//! [`OnceMarkers`]: a store's durable memory of things that happen once, such as minting the
//! first admin key.

use std::future::Future;
use std::time::SystemTime;

use crate::store::error::StoreError;

/// Markers a store sets once and never unsets, kept as long as its tokens: what makes a
/// one-time step (minting the first admin key) happen once in the store's life, not once per
/// process start, even when the token it produced has since been revoked.
pub trait OnceMarkers: Send + Sync {
    /// Sets the marker `name` at `at` if it was never set. Returns whether this call set it
    /// (of concurrent calls, exactly one does).
    fn set_once(&self, name: &str, at: SystemTime) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
