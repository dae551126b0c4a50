//! Self-contained signed access tokens for [tower-bearer](tower_bearer): RFC 9068 JWTs that
//! carry the subject, organization, kind, expiry and scopes, verified without a store round
//! trip, and still revoked at once.
//!
//! - [`SigningKey`] / [`KeySet`]: Ed25519 (default), ES256 or HS256 keys by `kid`, from PEM,
//!   JWK or the environment, and RSA public keys (RS256, PS256) to verify with; rotation
//!   without downtime, never shown in `Debug` or errors; a verify-only set from another
//!   issuer's published JWKS ([`KeySet::from_jwks`]);
//! - [`SignedTokens`]: issue through [`TokenManager`](tower_bearer::TokenManager), verify as a
//!   [`TokenStore`](tower_bearer::TokenStore) (opaque tokens go to the store underneath, so one
//!   layer takes both), revoke onto a deny list kept until each token's expiry;
//! - [`Jwks`]: the public keys as a tower service, for other services to verify offline;
//! - [`DpopVerifier`]: DPoP proofs (RFC 9449) checked for the auth layer and a token endpoint,
//!   so that a token bound to a client's key is useless to whoever copies it; and
//!   [`SigningKey::dpop_proof`], the client's side;
//! - [`Jws`]: the one JWS verifier of the workspace (EdDSA, ES256, RS256, PS256, and HS256
//!   for this workspace's own keys), for these tokens and outside issuers' alike: `alg`
//!   checked against an [`AlgorithmPolicy`] before the key is chosen, the signature checked,
//!   the payload left to the caller's own claims type;
//! - [`ClaimsMemo`]: what recent tokens meant, by digest, so that a token presented again is
//!   not verified again ([`SignedTokens`]' memo, and tower-bearer-oauth's `JwtStore`'s), and
//!   [`VerifiedToken`], what it remembers and what that is at a given time.
//!
//! ```
//! use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, TokenManager};
//! use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = KeySet::new(SigningKey::hs256("k1", b"a secret of at least thirty-two bytes")?)?;
//! let tokens = SignedTokens::new(MemoryTokenStore::new(), keys, "https://auth.example.com", "https://api.example.com");
//! let issued = tokens.issue(NewToken::for_subject("ada").organization("acme").scopes(["reports:read"])).await?;
//! assert_eq!(issued.secret().expose_secret().split('.').count(), 3);
//! let layer = BearerAuthLayer::new(tokens.clone());
//! tokens.revoke(issued.id()).await?; // refused from now on
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod access;
mod base64url;
mod builder;
mod claims;
mod deny;
mod dpop;
mod effective;
mod header;
mod jwk;
mod jwks;
mod jws;
mod jwt;
mod key;
mod key_set;
mod memo;
mod store;

pub use access::{AccessResolver, EffectiveAccess};
pub use builder::SignedTokensBuilder;
pub use dpop::{DpopVerifier, DpopVerifierBuilder};
pub use jwks::Jwks;
pub use jws::{AlgorithmPolicy, Jws, JwsError, UnverifiedHeader, VerifiedJws};
pub use key::{Algorithm, KeyError, SigningKey};
pub use key_set::KeySet;
pub use memo::{ClaimsMemo, VerifiedToken};
pub use store::SignedTokens;
