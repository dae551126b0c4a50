//! The stores this crate provides, and what they need beyond their names at the crate root
//! (builders, errors, the cache's configuration): in memory, over a callback, with a timeout,
//! a circuit breaker, and a cache in front of any store.

#[cfg(feature = "tokio")]
pub(crate) mod breaker;
#[cfg(feature = "cache")]
pub(crate) mod cache;
pub(crate) mod callback;
pub(crate) mod memory;
pub(crate) mod replay;
#[cfg(feature = "tokio")]
pub(crate) mod timeout;

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub use cache::CacheConfig;
pub use memory::{InsertError, MemoryTokenStoreBuilder};
