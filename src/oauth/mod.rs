//! OAuth 2.0 client-credentials grant (RFC 6749 §4.4), feature `oauth`: a token endpoint
//! that mints access tokens into the same store the [`BearerAuthLayer`](crate::BearerAuthLayer)
//! checks, and a registry of clients whose secrets are kept as digests.
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use tower_bearer::oauth::{MemoryClientRegistry, NewClient, TokenEndpoint};
//! use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
//!
//! let store = MemoryTokenStore::new();
//! let clients = MemoryClientRegistry::new();
//! let client = clients.register(NewClient::new("reporting").allowed_scopes(["reports:read"]));
//!
//! let app: Router = Router::new()
//!     .route("/v1/reports", get(|| async { "[]" }))
//!     .route_layer(BearerAuthLayer::new(store.clone()).require_scopes(["reports:read"]))
//!     .route_service("/oauth/token", TokenEndpoint::new(clients, store));
//! ```

mod client;
mod endpoint;

pub use client::{
    ClientRecord, ClientRegistry, DEFAULT_ACCESS_TOKEN_TTL, MemoryClientRegistry, NewClient, RegisteredClient,
};
pub use endpoint::{DEFAULT_MAX_BODY, TokenEndpoint};
