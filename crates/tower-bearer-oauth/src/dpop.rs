//! DPoP at the token endpoint (RFC 9449 §5): a request with a `DPoP` proof gets a token bound
//! to the proof's key (`token_type: "DPoP"`), checked by the same [`DpopVerifier`] the
//! resource's layer uses.

use http::StatusCode;
use http::request::Parts;
use tower_bearer::AuthError;
use tower_bearer::middleware::InvalidProof;
use tower_bearer_jwt::DpopVerifier;

use crate::error::OAuthError;

/// The thumbprint of the key the request's proof proves (the token to issue is bound to it),
/// `None` for a request without a proof (a bearer token), or the §5 error answer.
pub(crate) async fn proven_key(
    verifier: &DpopVerifier,
    head: &Parts,
) -> Result<Option<Box<str>>, OAuthError> {
    match verifier.check(head, None).await {
        Ok(jkt) => Ok(Some(jkt)),
        // No `DPoP` header: a bearer token is asked for.
        Err(AuthError::InvalidProof(InvalidProof::Missing)) => Ok(None),
        Err(AuthError::UseDpopNonce(nonce)) => Err(OAuthError {
            dpop_nonce: Some(nonce),
            ..OAuthError::bad_request(
                "use_dpop_nonce",
                "the DPoP proof must carry the nonce given in DPoP-Nonce",
            )
        }),
        Err(AuthError::StoreUnavailable(_)) => Err(OAuthError::unavailable()),
        Err(error) => Err(invalid_proof(error.description())),
    }
}

/// 400 `invalid_dpop_proof` (RFC 9449 §5).
fn invalid_proof(description: &'static str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", description)
}
