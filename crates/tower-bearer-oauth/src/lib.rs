//! The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for [tower-bearer](tower_bearer): a
//! token endpoint that mints access tokens into the same store the
//! [`BearerAuthLayer`](tower_bearer::BearerAuthLayer) checks, and a registry of clients whose
//! secrets are kept as digests.
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use tower_bearer_oauth::{ClientRegistry, MemoryClientRegistry, NewClient, TokenEndpoint};
//! use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_bearer::StoreError> {
//! let store = MemoryTokenStore::new();
//! let clients = MemoryClientRegistry::new();
//! let client = clients.register(NewClient::new("reporting").allowed_scopes(["reports:read"])).await?;
//!
//! let token = TokenEndpoint::builder(clients, store.clone()).issuer("https://auth.example.com").build();
//! let app: Router = Router::new()
//!     .route("/v1/reports", get(|| async { "[]" }))
//!     .route_layer(BearerAuthLayer::new(store.clone()).require_scopes(["reports:read"]))
//!     .route_service("/oauth/introspect", token.introspection())
//!     .route_service("/oauth/revoke", token.revocation())
//!     .route_service("/oauth/token", token);
//! # let _ = (client, app);
//! # Ok(()) }
//! ```
//!
//! Also here: RFC 7662 introspection ([`IntrospectionEndpoint`]) and RFC 7009 revocation
//! ([`RevocationEndpoint`]) made from the token endpoint; the RFC 8414 and RFC 9728 metadata
//! documents ([`AuthorizationServerMetadata`], [`ProtectedResourceMetadata`]); and, with
//! feature `client`, [`IntrospectionStore`], a store for services whose tokens another
//! authorization server issues; with feature `sql`, `SqlClientRegistry`, the clients in the
//! database of a `tower-bearer-sqlx` store.
//!
//! # Clients that authenticate with a private key
//!
//! With feature `jwt`, a client may be registered with public keys instead of a secret
//! (`ClientRegistry::register_without_secret`) or besides one (`ClientRegistry::register`):
//! `NewClient::public_keys` with `ClientKeys::jwks` (a JWKS given now) or
//! `ClientKeys::jwks_uri` (a URL where the client publishes its keys, fetched and kept as
//! `JwtStore` keeps an issuer's). Both registries keep them. The client then authenticates to
//! the token, introspection and revocation endpoints with a JWT it signs (`private_key_jwt`,
//! RFC 7523 §2.2, RFC 7521 §4.2), in place of a secret:
//!
//! ```text
//! POST /oauth/token
//! Content-Type: application/x-www-form-urlencoded
//!
//! grant_type=client_credentials
//! &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer
//! &client_assertion=eyJhbGciOiJFZERTQSIsImtpZCI6IjIwMjYtMDEifQ.eyJpc3Mi...
//! ```
//!
//! The JWT's header names the key (`kid`) and an asymmetric algorithm (EdDSA, ES256, RS256,
//! PS256; never HS256); its claims are `iss` and `sub`, both the client id; `aud`, the
//! issuer identifier (`TokenEndpointBuilder::issuer`) or the endpoint's URL
//! (`TokenEndpointBuilder::token_endpoint_url` and the others); `exp`, at most five minutes
//! ahead by default; and a `jti` never used before (kept in a `ReplayCache`, which a fleet
//! shares: `TokenEndpointBuilder::replay_cache`). Anything else is answered 401
//! `invalid_client`, the same for every reason. `AuthorizationServerMetadata::private_key_jwt`
//! announces the method in the RFC 8414 document.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod client;
#[cfg(feature = "jwt")]
mod client_keys;
mod credentials;
#[cfg(feature = "dpop")]
mod dpop;
mod endpoint;
mod error;
#[cfg(feature = "client")]
mod fetch;
mod form;
mod granted;
#[cfg(feature = "client")]
mod introspected;
mod introspection;
#[cfg(feature = "client")]
mod introspection_store;
#[cfg(feature = "jwt")]
mod jwt_store;
mod limiter;
mod metadata;
#[cfg(feature = "jwt")]
mod private_key_jwt;
mod revocation;
mod shared;
#[cfg(feature = "sql")]
mod sql_registry;

pub use client::{ClientRecord, ClientRegistry, MemoryClientRegistry, NewClient, RegisteredClient};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use client_keys::{ClientKeys, ClientKeysError};
pub use endpoint::{TokenEndpoint, TokenEndpointBuilder};
pub use introspection::IntrospectionEndpoint;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use introspection_store::{IntrospectionStore, IntrospectionStoreBuilder};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt_store::{Algorithm, DiscoveryError, JwtStore, JwtStoreBuilder};
pub use metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
pub use revocation::RevocationEndpoint;
#[cfg(feature = "sql")]
#[cfg_attr(docsrs, doc(cfg(feature = "sql")))]
pub use sql_registry::SqlClientRegistry;

/// Entry points for the fuzz targets (feature `fuzzing`). Not public API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Parses `body` as an RFC 7662 introspection answer; returns whether it is one.
    pub fn introspection_answer(body: &[u8]) -> bool {
        crate::introspected::parse(body, &tower_bearer::Clock::system()).is_ok()
    }
}
