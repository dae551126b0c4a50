//! [`AuthError`]: why the layer (or a handler behind it) refuses a request, and the status,
//! error code and description each reason is answered with.

use http::StatusCode;

use crate::header::ParseError;
use crate::scope::{ScopeRequirement, Scopes};
use crate::store::error::StoreErrorKind;

/// Why a request is refused: in every rejection [`AuthEvent`](crate::middleware::AuthEvent), and in the
/// rejection response's extensions when the layer is built with
/// [`rejection_extension(true)`](crate::BearerAuthLayer::rejection_extension), so outer layers
/// can see the reason.
///
/// A handler behind the layer can refuse a request with one too: with the `axum` feature it is
/// an `IntoResponse`, and [`BearerAuth`](crate::middleware::BearerAuth) answers it in its own configured
/// format and realm, with the matching challenge (see [`AuthError::insufficient_scope`] and
/// [`AuthError::Denied`]).
///
/// Neither this type nor its messages ever contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer credentials: no `Authorization` header, or one with another scheme.
    /// 401 with a bare challenge (RFC 6750 §3.1: no error code).
    #[error("no bearer credentials were presented")]
    MissingCredentials,
    /// The request as a whole is malformed. 400 `invalid_request`.
    #[error("malformed request: {0}")]
    InvalidRequest(InvalidRequest),
    /// The token is malformed, unknown, revoked or expired. 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(InvalidToken),
    /// The token is valid but lacks a required scope. 403 `insufficient_scope`.
    #[error("the access token lacks the required scope")]
    InsufficientScope(ScopeRequirement),
    /// The token is valid but not for this request: a check of the principal against the
    /// request failed (another organization's resource, say). 403 `insufficient_scope`,
    /// without a `scope` parameter.
    #[error("the access token does not grant access to this resource")]
    Denied,
    /// The token store failed or timed out. 503; the store's error is not shown.
    #[error("the token store is unavailable ({0})")]
    StoreUnavailable(StoreErrorKind),
    /// The token is valid but over one of its limits: 429 (RFC 6585 §4), without a challenge
    /// (the credentials are fine), with `Retry-After` when waiting helps. Answered by the
    /// limit layers of [`limit`](crate::limit).
    #[error("{0}")]
    Throttled(Throttle),
    /// The DPoP proof of a request (RFC 9449 §4.3) is missing, malformed or fails a check.
    /// 401 `invalid_dpop_proof`, in the `DPoP` challenge.
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(InvalidProof),
    /// The DPoP proof must carry the server's nonce (RFC 9449 §9): 401 `use_dpop_nonce`, with
    /// the nonce to use in the `DPoP-Nonce` header.
    #[error("the DPoP proof must carry the server's nonce")]
    UseDpopNonce(Box<str>),
}

/// Which check of RFC 9449 §4.3 a DPoP proof failed. Each is answered alike
/// (401 `invalid_dpop_proof`), with its own [`AuthError::reason`] for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidProof {
    /// The request carries no `DPoP` header.
    #[error("no DPoP proof")]
    Missing,
    /// The request carries more than one `DPoP` header.
    #[error("more than one DPoP proof")]
    Repeated,
    /// The proof is not a JWS with a JSON header and claims, or lacks a required claim.
    #[error("the DPoP proof is malformed")]
    Malformed,
    /// The header's `typ` is not `dpop+jwt`.
    #[error("the DPoP proof is not of type dpop+jwt")]
    Type,
    /// The header's `alg` is not an asymmetric algorithm the server accepts.
    #[error("the DPoP proof's algorithm is not accepted")]
    Algorithm,
    /// The header's `jwk` is missing, not a public key of the `alg`, or holds private members.
    #[error("the DPoP proof's key is missing, invalid or private")]
    Key,
    /// The signature does not verify with the header's key.
    #[error("the DPoP proof's signature is invalid")]
    Signature,
    /// `htm` is not the request's method.
    #[error("the DPoP proof is for another method")]
    Method,
    /// `htu` is not the request's URI (without query and fragment).
    #[error("the DPoP proof is for another URI")]
    Uri,
    /// `iat` is outside the accepted window around the server's time.
    #[error("the DPoP proof is too old or from the future")]
    IssuedAt,
    /// The proof's `jti` was used already within its window.
    #[error("the DPoP proof was used before")]
    Replayed,
    /// `ath` is missing or not the hash of the access token presented.
    #[error("the DPoP proof is for another access token")]
    TokenHash,
    /// The `nonce` is not one the server gave out.
    #[error("the DPoP proof's nonce is invalid")]
    Nonce,
}

/// Which limit a valid token is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Throttle {
    /// More requests than its [`RateLimit`](crate::RateLimit) allows, for now.
    #[error("the token's rate limit was reached")]
    RateLimited,
    /// No [`Credits`](crate::Credits) left (until the next refill, if it has one).
    #[error("the token has no credits left")]
    NoCredits,
}

/// Why a request is malformed as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// More than one `Authorization` header line.
    #[error("more than one Authorization header")]
    MultipleAuthorizationHeaders,
    /// The token was sent in more than one place (header, query, cookie), or the same query
    /// parameter or cookie twice (RFC 6750 §2: clients must use exactly one method).
    #[error("the access token was sent more than once")]
    MultipleTokens,
}

/// Why a token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The token breaks the RFC 6750 grammar.
    #[error("{0}")]
    Malformed(ParseError),
    /// The token does not match the configured token format (prefix, checksum).
    #[error("the access token is not in the expected format")]
    BadFormat,
    /// The store does not know the token.
    #[error("unknown token")]
    Unknown,
    /// The token was revoked.
    #[error("revoked token")]
    Revoked,
    /// The token's expiry has passed.
    #[error("expired token")]
    Expired,
    /// The token is not meant for this resource: its audience does not name the layer's
    /// ([`BearerAuthLayer::audience`](crate::BearerAuthLayer::audience), RFC 8707).
    #[error("the token is for another resource")]
    WrongAudience,
    /// The token is bound to a key ([`Grant::confirmation`](crate::Grant::confirmation)) but
    /// was presented as a plain bearer token, without a proof of that key.
    #[error("a key-bound token was presented without a DPoP proof")]
    KeyBound,
    /// The token was presented with a DPoP proof but is bound to no key.
    #[error("a token bound to no key was presented with a DPoP proof")]
    NotKeyBound,
    /// The DPoP proof is signed by another key than the one the token is bound to.
    #[error("the DPoP proof's key is not the token's")]
    OtherKey,
    /// The token was presented as a bearer token to a layer that takes only DPoP-bound
    /// tokens ([`BearerAuthLayer::require_dpop`](crate::BearerAuthLayer::require_dpop)).
    #[error("a bearer token was presented where only DPoP is taken")]
    DpopRequired,
}

impl AuthError {
    /// 403 `insufficient_scope` naming every one of `scopes` in the challenge: what a handler
    /// answers when the principal lacks a scope the route needs. A scope that is not an
    /// RFC 6749 `scope-token` is left out of the challenge (it could not be quoted in it).
    #[must_use]
    pub fn insufficient_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Scopes =
            scopes.into_iter().map(Into::into).filter(|s: &String| Scopes::is_valid(s)).collect();
        AuthError::InsufficientScope(ScopeRequirement::All(scopes))
    }

    /// The HTTP status this rejection is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials
            | AuthError::InvalidToken(_)
            | AuthError::InvalidProof(_)
            | AuthError::UseDpopNonce(_) => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InsufficientScope(_) | AuthError::Denied => StatusCode::FORBIDDEN,
            AuthError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The RFC 6750 §3.1 error code, or `None` where none is sent (missing credentials) or
    /// the condition is not an RFC 6750 one (store unavailable, a limit reached).
    #[must_use]
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingCredentials | AuthError::StoreUnavailable(_) | AuthError::Throttled(_) => None,
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope(_) | AuthError::Denied => Some("insufficient_scope"),
            AuthError::InvalidProof(_) => Some("invalid_dpop_proof"),
            AuthError::UseDpopNonce(_) => Some("use_dpop_nonce"),
        }
    }

    /// A short, stable code naming the exact reason, for logs and audit trails (never sent
    /// to the client, which cannot tell unknown from revoked tokens): `missing_credentials`,
    /// `multiple_authorization_headers`, `token_sent_twice`, `malformed_token`, `bad_format`,
    /// `unknown_token`, `revoked_token`, `expired_token`, `wrong_audience`, `key_bound_token`,
    /// `token_not_key_bound`, `dpop_key_mismatch`, `dpop_required`, `insufficient_scope`, `denied`,
    /// `store_unavailable`, `store_timeout`, `rate_limited`, `credits_exhausted`,
    /// `use_dpop_nonce`, and `dpop_proof_` followed by the [`InvalidProof`] check (`missing`,
    /// `repeated`, `malformed`, `type`, `algorithm`, `key`, `signature`, `method`, `uri`,
    /// `issued_at`, `replayed`, `token_hash`, `nonce`).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing_credentials",
            AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders) => {
                "multiple_authorization_headers"
            }
            AuthError::InvalidRequest(InvalidRequest::MultipleTokens) => "token_sent_twice",
            AuthError::InvalidToken(InvalidToken::Malformed(_)) => "malformed_token",
            AuthError::InvalidToken(InvalidToken::BadFormat) => "bad_format",
            AuthError::InvalidToken(InvalidToken::Unknown) => "unknown_token",
            AuthError::InvalidToken(InvalidToken::Revoked) => "revoked_token",
            AuthError::InvalidToken(InvalidToken::Expired) => "expired_token",
            AuthError::InvalidToken(InvalidToken::WrongAudience) => "wrong_audience",
            AuthError::InvalidToken(InvalidToken::KeyBound) => "key_bound_token",
            AuthError::InvalidToken(InvalidToken::NotKeyBound) => "token_not_key_bound",
            AuthError::InvalidToken(InvalidToken::OtherKey) => "dpop_key_mismatch",
            AuthError::InvalidToken(InvalidToken::DpopRequired) => "dpop_required",
            AuthError::InvalidProof(proof) => proof.reason(),
            AuthError::UseDpopNonce(_) => "use_dpop_nonce",
            AuthError::InsufficientScope(_) => "insufficient_scope",
            AuthError::Denied => "denied",
            AuthError::StoreUnavailable(StoreErrorKind::Timeout) => "store_timeout",
            AuthError::StoreUnavailable(_) => "store_unavailable",
            AuthError::Throttled(Throttle::RateLimited) => "rate_limited",
            AuthError::Throttled(Throttle::NoCredits) => "credits_exhausted",
        }
    }

    /// A description safe to send to the client: fixed text, no input, and unknown and
    /// revoked tokens are described alike so a client cannot tell them apart.
    #[must_use]
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "a bearer token is required",
            AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders) => {
                "the request has more than one Authorization header"
            }
            AuthError::InvalidRequest(InvalidRequest::MultipleTokens) => {
                "the access token must be sent exactly once"
            }
            AuthError::InvalidToken(InvalidToken::Malformed(e)) => e.description(),
            AuthError::InvalidToken(InvalidToken::BadFormat) => "the access token is malformed",
            AuthError::InvalidToken(InvalidToken::Unknown | InvalidToken::Revoked) => {
                "the access token is invalid"
            }
            AuthError::InvalidToken(InvalidToken::Expired) => "the access token expired",
            AuthError::InvalidToken(InvalidToken::WrongAudience) => {
                "the access token is not meant for this resource"
            }
            AuthError::InvalidToken(InvalidToken::KeyBound) => {
                "the access token is bound to a key: present it with a DPoP proof"
            }
            AuthError::InvalidToken(InvalidToken::NotKeyBound) => {
                "the access token is not bound to a key: present it as a bearer token"
            }
            AuthError::InvalidToken(InvalidToken::OtherKey) => {
                "the DPoP proof is not signed by the key the access token is bound to"
            }
            AuthError::InvalidToken(InvalidToken::DpopRequired) => {
                "this resource takes only DPoP-bound access tokens, each with a DPoP proof"
            }
            AuthError::InvalidProof(proof) => proof.description(),
            AuthError::UseDpopNonce(_) => "the DPoP proof must carry the nonce given in DPoP-Nonce",
            AuthError::InsufficientScope(_) => "the access token lacks the required scope",
            AuthError::Denied => "the access token does not grant access to this resource",
            AuthError::StoreUnavailable(_) => "authentication is temporarily unavailable",
            AuthError::Throttled(Throttle::RateLimited) => "too many requests for this token, retry later",
            AuthError::Throttled(Throttle::NoCredits) => "the token has no credits left",
        }
    }
}

impl InvalidProof {
    /// The [`AuthError::reason`] of this check.
    fn reason(self) -> &'static str {
        match self {
            InvalidProof::Missing => "dpop_proof_missing",
            InvalidProof::Repeated => "dpop_proof_repeated",
            InvalidProof::Malformed => "dpop_proof_malformed",
            InvalidProof::Type => "dpop_proof_type",
            InvalidProof::Algorithm => "dpop_proof_algorithm",
            InvalidProof::Key => "dpop_proof_key",
            InvalidProof::Signature => "dpop_proof_signature",
            InvalidProof::Method => "dpop_proof_method",
            InvalidProof::Uri => "dpop_proof_uri",
            InvalidProof::IssuedAt => "dpop_proof_issued_at",
            InvalidProof::Replayed => "dpop_proof_replayed",
            InvalidProof::TokenHash => "dpop_proof_token_hash",
            InvalidProof::Nonce => "dpop_proof_nonce",
        }
    }

    /// The description sent to the client: fixed text in the RFC 6749 §5.2 set.
    fn description(self) -> &'static str {
        match self {
            InvalidProof::Missing => "a DPoP proof is required",
            InvalidProof::Repeated => "the request has more than one DPoP header",
            InvalidProof::Malformed => "the DPoP proof is malformed",
            InvalidProof::Type => "the DPoP proof must be of type dpop+jwt",
            InvalidProof::Algorithm => "the DPoP proof's algorithm is not accepted",
            InvalidProof::Key => "the DPoP proof must carry a valid public key",
            InvalidProof::Signature => "the DPoP proof's signature is invalid",
            InvalidProof::Method => "the DPoP proof is for another HTTP method",
            InvalidProof::Uri => "the DPoP proof is for another URI",
            InvalidProof::IssuedAt => "the DPoP proof is too old or issued in the future",
            InvalidProof::Replayed => "the DPoP proof was used before",
            InvalidProof::TokenHash => "the DPoP proof is for another access token",
            InvalidProof::Nonce => "the DPoP proof's nonce is invalid",
        }
    }
}
