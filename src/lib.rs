//! Bearer-token authentication (RFC 6750) as [tower] middleware, for axum and hyper.
//!
//! Put [`BearerAuthLayer`] in front of your routes. Every request must carry
//! `Authorization: Bearer <token>`; the layer parses it strictly, asks a [`TokenStore`] who
//! the token belongs to, and either passes the request on with the [`Principal`] in its
//! extensions or answers itself:
//!
//! | condition | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no `Authorization` header, or another scheme | 401 | `Bearer realm="..."` |
//! | malformed, unknown, revoked or expired token | 401 | `..., error="invalid_token", error_description="..."` |
//! | two `Authorization` lines, token sent twice | 400 | `..., error="invalid_request", ...` |
//! | token lacks a required scope | 403 | `..., error="insufficient_scope", ..., scope="..."` |
//! | the store failed | 503 | none; generic body, fail closed |
//!
//! Bodies are JSON in a configurable [`ErrorFormat`]. Stores keep only SHA-256 digests of
//! tokens ([`TokenHash`]); types that hold a token secret have a redacted `Debug` and no
//! `Display`.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = MemoryTokenStore::new();
//! store.insert("s3cr3t-demo-token", Principal::builder("user_42").scopes(Scopes::parse("read")).build())?;
//!
//! let service = ServiceBuilder::new()
//!     .layer(BearerAuthLayer::new(store).realm("example").require_scopes(["read"]))
//!     .service_fn(|req: Request<Full<Bytes>>| async move {
//!         let who = req.extensions().get::<Principal>().expect("set by the layer").subject().to_owned();
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from(format!("hello {who}"))))
//!     });
//!
//! let ok = Request::get("/").header("authorization", "Bearer s3cr3t-demo-token").body(Full::default())?;
//! assert_eq!(service.clone().oneshot(ok).await?.status(), StatusCode::OK);
//!
//! let missing = service.oneshot(Request::get("/").body(Full::default())?).await?;
//! assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(missing.headers()["www-authenticate"], r#"Bearer realm="example""#);
//! # Ok(())
//! # }
//! ```
//!
//! With axum (feature `axum`), handlers take [`Principal`] as an argument; use
//! `Router::route_layer` so unknown paths still answer 404 rather than 401.
//!
//! # Features
//!
//! - `axum`: [`Principal`] implements axum's `FromRequestParts` (and `Option<Principal>`).
//! - `tracing`: one `tracing` event per request outcome (target `tower_bearer`), carrying the
//!   token id and subject, never the token.
//! - `tokio`: [`store::timeout::TimeoutStore`], a lookup deadline for slow stores (503).
//! - `sqlite`: [`SqlTokenStore`] on an embedded SQLite database (a file or `:memory:`), with
//!   the whole token lifecycle, via `sqlx`.
//! - `postgres`: the same store on PostgreSQL, shared by many instances; with `cache`, each
//!   instance's cache hears revocations made elsewhere through `LISTEN/NOTIFY`
//!   ([`store::sql::SqlTokenStore::listen_for_revocations`]).
//! - `cache`: [`CachedTokenStore`], a bounded cache in front of any store: positive and
//!   negative TTLs, coalesced misses, invalidation on revoke.
//! - `oauth`: [`oauth::TokenEndpoint`], the OAuth 2.0 client-credentials token endpoint.
//!
//! [tower]: https://docs.rs/tower
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod clock;
mod credentials;
pub mod event;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod extract;
mod future;
pub mod header;
mod layer;
mod lifecycle;
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub mod oauth;
mod principal;
mod response;
mod scope;
mod service;
pub mod store;
mod token;

pub use event::{AuthEvent, LifecycleEvent, Outcome};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::MissingPrincipal;
pub use future::ResponseFuture;
pub use layer::BearerAuthLayer;
pub use lifecycle::{IssuedToken, LifecycleError, NewToken, TokenInfo, TokenLifecycle};
pub use principal::{Principal, PrincipalBuilder, TokenId};
pub use response::{AuthError, ErrorFormat, InvalidRequest, InvalidToken};
pub use scope::{ScopeRequirement, Scopes, WILDCARD};
pub use service::BearerAuth;
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub use store::cache::CachedTokenStore;
pub use store::callback::CallbackTokenStore;
pub use store::memory::{InsertError, MemoryTokenStore, MemoryTokenStoreBuilder};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use store::sql::SqlTokenStore;
pub use store::{BoxError, BoxLookup, Lookup, StoreError, StoreErrorKind, TokenState, TokenStore};
pub use token::{FormatError, PresentedToken, TokenFormat, TokenHash, TokenSecret};
