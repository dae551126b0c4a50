//! [`CachedTokenStore`](crate::CachedTokenStore): a bounded cache in front of any store, with
//! separate TTLs for positive and negative answers and request coalescing (feature `cache`).
//! Its design and revocation bound are documented on the type.

mod config;
mod core;
mod fallback;
mod flight;
mod invalidator;
mod manage;
mod store;

pub use config::CacheConfig;
pub use store::CachedTokenStore;
