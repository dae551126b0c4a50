//! The token endpoint's integration tests, as one binary.

mod conformance;
#[cfg(feature = "dpop")]
mod dpop;
mod hostile;
mod introspection_revocation;
#[cfg(feature = "client")]
mod introspection_store;
#[cfg(feature = "jwt")]
mod jwks;
#[cfg(feature = "jwt")]
mod jwt_store;
#[cfg(feature = "jwt")]
mod jwt_store_memo;
#[cfg(feature = "jwt")]
mod private_key_jwt;
#[cfg(feature = "sql")]
mod sql_registry;
