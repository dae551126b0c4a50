//! [`CachedTokenStore`](crate::CachedTokenStore): a bounded cache in front of any [`TokenStore`](crate::TokenStore), with separate TTLs for
//! positive and negative answers and request coalescing (feature `cache`).
//!
//! # How a lookup is answered
//!
//! - **Hit**: the digest is found in a [`moka::sync::Cache`], whose `get` is synchronous, so
//!   the wrapper answers [`Lookup::Now`](crate::store::Lookup::Now): the layer admits or rejects the request without
//!   awaiting anything, and the only cost beyond the hash-table probe is cloning the
//!   [`Principal`](crate::Principal) (one reference count, no allocation). moka does its bookkeeping on the
//!   caller, once per 64 reads; that may allocate (an epoch-GC bag), so a hit costs at most
//!   1/64 of an allocation amortized (about 1/128 measured).
//! - **Miss**: the first request for a digest asks the inner store and registers its future
//!   as the *flight* for that digest; every request for the same digest that arrives while the
//!   flight is under way joins it instead of asking the store again (a burst of 200 requests
//!   with one unknown token makes one store query). Joiners share the flight through
//!   [`futures_util::future::Shared`]: whichever request polls drives the query, so one client
//!   going away does not stall the others, and the flight map holds only weak references, so
//!   a flight every client abandoned is dropped (and its database connection released).
//! - The flight's answer is cached when it arrives: active tokens for the positive TTL (but
//!   never past the token's own expiry), unknown and revoked tokens for the negative TTL.
//!   Store errors are never cached; every request of the flight gets the error (503).
//!
//! # Staying correct under revocation
//!
//! Every invalidation (a revoke, rotate or delete through this wrapper, a push notification
//! through [`CacheInvalidator`](crate::store::CacheInvalidator), an explicit [`invalidate`](crate::CachedTokenStore::invalidate))
//! advances a global *epoch*. A flight remembers the epoch it started in; its answer is cached
//! only if no invalidation happened meanwhile, and a request never joins a flight from an older
//! epoch. So an answer read from the store before a revocation committed can neither be cached
//! after it nor be handed to a request that started after it.
//!
//! A cached entry outlives a revocation by at most:
//!
//! | where the token was revoked | bound |
//! |---|---|
//! | through this wrapper ([`TokenManager::revoke`](crate::TokenManager::revoke), `rotate`, `delete`) | none: invalidated before the call returns |
//! | elsewhere, with a push channel connected (Postgres `LISTEN/NOTIFY`, see [`CacheInvalidator`](crate::store::CacheInvalidator)) | the notification's delivery time (milliseconds) |
//! | elsewhere, push channel lost | until the loss is detected (at once for a closed connection; for a silent one, the Postgres listener's heartbeat interval + timeout, 10 s by default); then the whole cache is cleared and active tokens are not cached until the channel is back |
//! | elsewhere, no push channel at all | the positive TTL |
//!
//! The positive TTL bounds every case: no active entry is ever served longer than that after
//! it was read from the store. Expired tokens are rejected by the layer on every request, from
//! the cache or not.
//!
//! Usage tracking of the inner store (such as `last_used_at`) sees only cache misses, so with a
//! cache its precision is the larger of the store's usage interval and the positive TTL.
//!
//! `CachedTokenStore` is at the crate root; [`CacheConfig`](crate::store::CacheConfig),
//! [`CacheInvalidator`](crate::store::CacheInvalidator) and
//! [`CachedLookup`](crate::store::CachedLookup) are in [`store`](crate::store).

mod config;
mod core;
mod flight;
mod invalidator;
mod manage;
mod store;

pub use config::CacheConfig;
pub use flight::CachedLookup;
pub use invalidator::CacheInvalidator;
pub use store::CachedTokenStore;
