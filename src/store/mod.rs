//! Stores: the [`TokenStore`](crate::TokenStore) trait's answer types, and what the built-in
//! stores need beyond their names at the crate root (builders, errors, futures, the cache's
//! configuration).
//!
//! Which store to pick: see the [crate documentation](crate#which-store-do-i-need).

#[cfg(feature = "cache")]
pub(crate) mod cache;
pub(crate) mod callback;
pub(crate) mod error;
pub(crate) mod lookup;
pub(crate) mod memory;
pub(crate) mod shared_error;
pub(crate) mod state;
pub(crate) mod subscriber;
#[cfg(feature = "tokio")]
pub(crate) mod timeout;

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub use cache::{CacheConfig, CacheInvalidator, CachedLookup};
pub use callback::CallbackLookup;
pub use error::{BoxError, StoreErrorKind};
pub use lookup::{BoxLookup, Lookup, LookupFuture, LookupResult, NoFuture};
pub use memory::{EnvError, InsertError, MemoryTokenStoreBuilder};
pub use shared_error::SharedStoreError;
pub use subscriber::RevocationSubscriber;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use timeout::TimeoutLookup;
