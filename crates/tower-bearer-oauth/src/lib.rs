//! The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for [tower-bearer](tower_bearer): a
//! token endpoint that mints access tokens into the same store the
//! [`BearerAuthLayer`](tower_bearer::BearerAuthLayer) checks, and a registry of clients whose
//! secrets are kept as digests.
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use tower_bearer_oauth::{MemoryClientRegistry, NewClient, TokenEndpoint};
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

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod client;
mod credentials;
mod endpoint;
mod error;
mod form;
#[cfg(feature = "client")]
mod introspected;
mod introspection;
#[cfg(feature = "client")]
mod introspection_store;
mod limiter;
mod metadata;
mod revocation;
mod shared;

pub use client::{ClientRecord, ClientRegistry, MemoryClientRegistry, NewClient, RegisteredClient};
pub use endpoint::TokenEndpoint;
pub use introspection::IntrospectionEndpoint;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use introspection_store::IntrospectionStore;
pub use metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
pub use revocation::RevocationEndpoint;
