//! Proof of possession (RFC 9449 DPoP) in the layer: the [`ProofVerifier`] hook a verifier
//! plugs in through (`tower-bearer-jwt`'s `DpopVerifier`: this crate has no signature code),
//! and the one rule for which tokens need a proof and whose key it must be.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::Request;
use http::header::AUTHORIZATION;
use http::request::Parts;

use super::head::with_head;
use crate::header::parse_dpop_bytes;
use crate::outcome::error::{AuthError, InvalidToken};
use crate::principal::Principal;
use crate::store::answer::Answer;

/// Checks DPoP proofs (RFC 9449 §4.3) for a [`BearerAuthLayer`](crate::BearerAuthLayer) that
/// takes them ([`dpop`](crate::BearerAuthLayer::dpop),
/// [`require_dpop`](crate::BearerAuthLayer::require_dpop)).
///
/// The layer finds the access token of an `Authorization: DPoP` request and checks that the
/// token is bound to the proof's key; the verifier checks the proof itself (RFC 9449 §4.3):
/// exactly one `DPoP` header, its type, algorithm, key, signature, `htm`, `htu`, `iat`, `jti`
/// (once only), `ath` and nonce. Implemented by `tower-bearer-jwt`'s
/// `DpopVerifier`; implement it to check proofs some other way.
pub trait ProofVerifier: Send + Sync + 'static {
    /// The JWS algorithms accepted, space-separated (`"EdDSA ES256"`): the `algs` of the
    /// `DPoP` challenge (RFC 9449 §7.1). Only characters of RFC 6749 §5.2's set are sent.
    fn algorithms(&self) -> &str;

    /// Checks the proof of the request `head` (its `DPoP` header), which presents
    /// `access_token` in its `Authorization` header. Answers the RFC 7638 SHA-256 thumbprint
    /// (base64url) of the proof's key, or the refusal: [`AuthError::InvalidProof`]
    /// ([`InvalidProof::Missing`](crate::middleware::InvalidProof::Missing) without a `DPoP`
    /// header, [`InvalidProof::Repeated`](crate::middleware::InvalidProof::Repeated) with
    /// more than one), or [`AuthError::UseDpopNonce`] with the nonce to use; at once, or later
    /// (a shared replay cache behind a round trip).
    fn verify(&self, head: &Parts, access_token: &str) -> Answer<Result<Box<str>, AuthError>>;
}

/// A layer's DPoP configuration: the verifier, and whether bearer tokens are still taken.
#[derive(Clone)]
pub(crate) struct Dpop {
    pub(crate) verifier: Arc<dyn ProofVerifier>,
    pub(crate) required: bool,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("algorithms", &self.verifier.algorithms())
            .field("required", &self.required)
            .finish()
    }
}

/// A proof check answered later: the verifier's answer, and the binding checked on it.
pub(crate) type ProofFuture = Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send>>;

/// What the proof check of one request says.
pub(crate) enum Proven {
    /// Nothing to prove, or proven: the request goes on to the other checks.
    Yes,
    /// Refused.
    No(AuthError),
    /// The verifier answers later.
    Later(ProofFuture),
}

/// The `DPoP` challenge of a layer (RFC 9449 §7.1).
#[derive(Clone, Debug)]
pub(crate) struct DpopChallenge {
    /// The `algs` parameter.
    pub(crate) algs: Box<str>,
    /// Whether the layer takes DPoP only: no `Bearer` challenge then.
    pub(crate) required: bool,
}

impl Dpop {
    pub(crate) fn challenge(&self) -> DpopChallenge {
        DpopChallenge { algs: self.verifier.algorithms().into(), required: self.required }
    }
}

/// The proof check of a request whose token the store vouched for: a layer without DPoP
/// (`dpop` is `None`) refuses key-bound tokens, having no way to check their proof; one with
/// DPoP checks the proof of a request in the `DPoP` scheme.
#[inline]
pub(crate) fn prove<B>(dpop: Option<&Dpop>, req: &mut Request<B>, principal: &Principal) -> Proven {
    let Some(dpop) = dpop else {
        return match binding(principal, None) {
            Ok(()) => Proven::Yes,
            Err(error) => Proven::No(error),
        };
    };
    let Some(access_token) = dpop_token(req) else {
        if dpop.required {
            // `Authorization: Bearer`, a query parameter or a cookie: bearer credentials.
            return Proven::No(AuthError::InvalidToken(InvalidToken::DpopRequired));
        }
        return match binding(principal, None) {
            Ok(()) => Proven::Yes,
            Err(error) => Proven::No(error),
        };
    };
    if principal.grant().confirmation().is_none() {
        return Proven::No(AuthError::InvalidToken(InvalidToken::NotKeyBound));
    }
    let answer = with_head(req, |head| dpop.verifier.verify(head, &access_token));
    match answer {
        Answer::Now(Ok(jkt)) => match binding(principal, Some(&jkt)) {
            Ok(()) => Proven::Yes,
            Err(error) => Proven::No(error),
        },
        Answer::Now(Err(error)) => Proven::No(error),
        Answer::Later(answer) => {
            let principal = principal.clone();
            Proven::Later(Box::pin(async move { binding(&principal, Some(&answer.await?)) }))
        }
    }
}

/// The access token of an `Authorization: DPoP` request, if that is how it presents one.
fn dpop_token<B>(req: &Request<B>) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?;
    let (token, _) = parse_dpop_bytes(value.as_bytes(), usize::MAX).ok()?;
    // Checked as `token68` characters (ASCII) by the parser.
    String::from_utf8(token.to_vec()).ok()
}

/// The one rule binding a token to a key: a token bound to a key is taken only with a proof
/// of that key (`proven`: the proof's key thumbprint, once the proof verified), and a proof
/// only with a token bound to its key.
pub(crate) fn binding(principal: &Principal, proven: Option<&str>) -> Result<(), AuthError> {
    match (principal.grant().confirmation(), proven) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(AuthError::InvalidToken(InvalidToken::KeyBound)),
        (None, Some(_)) => Err(AuthError::InvalidToken(InvalidToken::NotKeyBound)),
        // Thumbprints are public: no need for a constant-time comparison.
        (Some(bound), Some(proven)) if bound == proven => Ok(()),
        (Some(_), Some(_)) => Err(AuthError::InvalidToken(InvalidToken::OtherKey)),
    }
}
