//! Bearer-token authentication (RFC 6750) as [tower] middleware, for axum and hyper.
//!
//! Put [`BearerAuthLayer`] in front of your routes: it parses `Authorization: Bearer <token>`
//! strictly, asks a [`TokenStore`] who the token belongs to, and either hands the request on
//! with the [`Principal`] or answers itself with the RFC's status, a `WWW-Authenticate`
//! challenge and a JSON body.
//!
//! ```
//! use axum::routing::get;
//! use axum::Router;
//! use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, RequireScopesLayer, Scopes};
//!
//! let store = MemoryTokenStore::new();
//! store.insert("alice-demo-key", Principal::builder("alice").scopes(Scopes::parse("invoices:read")).build())?;
//!
//! let app: Router = Router::new()
//!     .route("/v1/me", get(me))
//!     .route("/v1/invoices", get(|| async { "[]" }).route_layer(RequireScopesLayer::all(["invoices:read"])))
//!     // route_layer: unknown paths stay 404 instead of 401.
//!     .route_layer(BearerAuthLayer::new(store).realm("billing"));
//!
//! async fn me(principal: Principal) -> String {
//!     format!("hello {}", principal.subject())
//! }
//! # Ok::<_, tower_bearer::stores::InsertError>(())
//! ```
//!
//! | request | answer |
//! |---|---|
//! | valid token with the required scopes | passed on, [`Principal`] in the extensions |
//! | no `Authorization` header, or another scheme | 401, `Bearer realm="..."` |
//! | malformed, unknown, revoked or expired token | 401, `error="invalid_token"` |
//! | two `Authorization` lines, token sent twice | 400, `error="invalid_request"` |
//! | token lacks a required scope | 403, `error="insufficient_scope"`, `scope="..."` |
//! | the store failed | 503, no challenge, generic body (fail closed) |
//! | token over its rate limit or out of credits ([`limit`]) | 429, `Retry-After`, no challenge |
//!
//! Bodies are JSON in a configurable [`ErrorFormat`]. Handlers refuse requests in the same
//! format by returning an [`AuthError`] (feature `axum`).
//!
//! # Which store do I need?
//!
//! | you have | use |
//! |---|---|
//! | static keys from configuration or the environment | [`MemoryTokenStore::insert`], [`MemoryTokenStore::insert_from_env`] |
//! | tokens issued, listed, rotated and revoked by one process | [`MemoryTokenStore`], through [`TokenManager`] |
//! | tokens that survive restarts, on one machine | `SqlTokenStore` on SQLite, crate [`tower-bearer-sqlx`](https://docs.rs/tower-bearer-sqlx) |
//! | many instances sharing tokens, revocations pushed to all | `SqlTokenStore` on PostgreSQL with [`CachedTokenStore`] (feature `cache`) |
//! | tokens in your own database or another service | [`CallbackTokenStore`], or implement [`TokenStore`] |
//! | a backend that may hang | [`TimeoutTokenStore`] around it (feature `tokio`) |
//! | a backend that may go down: answer 503 at once meanwhile | [`CircuitBreakerTokenStore`] around the timeout (feature `tokio`) |
//!
//! Every store that keeps tokens implements [`TokenManager`] (issue, list, rotate, revoke,
//! delete, purge), so code written against it moves between stores by changing one line.
//! Stores keep only SHA-256 digests ([`TokenHash`]); types holding a secret have a redacted
//! `Debug` and no `Display`.
//!
//! # Features
//!
//! - `axum` (default): [`Principal`] is an axum extractor, [`AuthError`] an `IntoResponse`.
//! - `tracing`: one `tracing` event per request outcome and per lifecycle event (target
//!   `tower_bearer`), carrying the token id and subject, never the token.
//! - `tokio`: [`TimeoutTokenStore`], a lookup deadline for slow stores (503), and
//!   [`CircuitBreakerTokenStore`], fail-fast while a store is down.
//! - `cache`: [`CachedTokenStore`], a bounded cache in front of any store.
//! - `rate-limit` (default): [`RateLimitLayer`](crate::limit) and
//!   `BearerAuthLayer::rate_limit`, per-token rate limits on `governor`. Credits
//!   ([`CreditsLayer`]) need no feature.
//! - `metrics`: request outcomes, store lookup latency, cache hits and the circuit breaker's
//!   state through the [`metrics`](https://docs.rs/metrics) facade, for Prometheus or any
//!   other recorder the application installs (the guide's metrics page has the table).
//!
//! The OAuth 2.0 client-credentials endpoint is the crate `tower-bearer-oauth`.
//!
//! [tower]: https://docs.rs/tower
// Links to items behind features: to the item when the feature is on, to docs.rs otherwise.
#![cfg_attr(feature = "cache", doc = "[`CachedTokenStore`]: CachedTokenStore")]
#![cfg_attr(
    not(feature = "cache"),
    doc = "[`CachedTokenStore`]: https://docs.rs/tower-bearer/latest/tower_bearer/struct.CachedTokenStore.html"
)]
#![cfg_attr(feature = "tokio", doc = "[`TimeoutTokenStore`]: TimeoutTokenStore")]
#![cfg_attr(feature = "tokio", doc = "[`CircuitBreakerTokenStore`]: CircuitBreakerTokenStore")]
#![cfg_attr(
    not(feature = "tokio"),
    doc = "[`CircuitBreakerTokenStore`]: https://docs.rs/tower-bearer/latest/tower_bearer/struct.CircuitBreakerTokenStore.html"
)]
#![cfg_attr(
    not(feature = "tokio"),
    doc = "[`TimeoutTokenStore`]: https://docs.rs/tower-bearer/latest/tower_bearer/struct.TimeoutTokenStore.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod clock;
#[cfg(feature = "axum")]
mod extract;
pub mod grant;
pub mod header;
pub mod limit;
pub mod manage;
pub mod middleware;
#[cfg(feature = "metrics")]
mod monitoring;
mod outcome;
mod principal;
mod scope;
pub mod store;
pub mod stores;
pub mod token;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
struct ReadmeDoctests;

/// The guide's pages (`docs/guide/`), their examples compiled and run as doctests. The
/// dev-dependencies of this crate cover every crate of the workspace the pages show.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../docs/guide/README.md")]
    struct Index;
    #[doc = include_str!("../docs/guide/scopes.md")]
    struct Scopes;
    #[doc = include_str!("../docs/guide/errors.md")]
    struct Errors;
    #[doc = include_str!("../docs/guide/stores.md")]
    struct Stores;
    #[doc = include_str!("../docs/guide/management.md")]
    struct Management;
    #[doc = include_str!("../docs/guide/limits.md")]
    struct Limits;
    #[doc = include_str!("../docs/guide/testing.md")]
    struct Testing;
    #[doc = include_str!("../docs/guide/composing-layers.md")]
    struct ComposingLayers;
    #[doc = include_str!("../docs/guide/axum-hyper.md")]
    struct AxumHyper;
    #[doc = include_str!("../docs/guide/oauth.md")]
    struct OAuth;
    #[doc = include_str!("../docs/guide/outside-issuers.md")]
    struct OutsideIssuers;
    #[doc = include_str!("../docs/guide/signed-tokens.md")]
    struct SignedTokens;
    #[doc = include_str!("../docs/guide/management-api.md")]
    struct ManagementApi;
    #[doc = include_str!("../docs/guide/portal.md")]
    struct Portal;
    #[doc = include_str!("../docs/guide/cli.md")]
    struct Cli;
    #[doc = include_str!("../docs/guide/metrics.md")]
    struct Metrics;
    #[doc = include_str!("../docs/guide/operations.md")]
    struct Operations;
    #[doc = include_str!("../docs/guide/dpop.md")]
    struct Dpop;
    #[doc = include_str!("../docs/guide/usage.md")]
    struct Usage;
}

pub use clock::Clock;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::MissingPrincipal;
pub use grant::{Credits, Grant, RateLimit};
pub use limit::credits_layer::CreditsLayer;
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub use limit::layer::RateLimitLayer;
pub use manage::error::ManageError;
pub use manage::info::TokenInfo;
pub use manage::issued::IssuedToken;
pub use manage::manager::TokenManager;
pub use manage::new_token::NewToken;
pub use middleware::format::ErrorFormat;
pub use middleware::layer::BearerAuthLayer;
pub use middleware::require::RequireScopesLayer;
pub use outcome::error::AuthError;
pub use principal::{Principal, PrincipalBuilder};
pub use scope::{ScopeRequirement, Scopes};
pub use store::error::StoreError;
pub use store::lookup::TokenStore;
pub use store::state::TokenState;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use stores::breaker::CircuitBreakerTokenStore;
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub use stores::cache::CachedTokenStore;
pub use stores::callback::CallbackTokenStore;
pub use stores::memory::MemoryTokenStore;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use stores::timeout::TimeoutTokenStore;
pub use token::format::TokenFormat;
pub use token::hash::TokenHash;
pub use token::id::TokenId;
pub use token::presented::PresentedToken;
pub use token::secret::TokenSecret;
