//! The one place rejections become HTTP responses: [`AuthError`] → status, `WWW-Authenticate`
//! challenge (RFC 6750 §3) and a JSON body in the configured [`ErrorFormat`].

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response};

use super::format::ErrorFormat;
use super::grpc::{GrpcAnswers, grpc_response};
use super::proof::DpopChallenge;

/// The header a server's DPoP nonce travels in (RFC 9449 §8).
const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");
use crate::header::ParseError;
use crate::outcome::error::{AuthError, InvalidRequest, InvalidToken, Throttle};
use crate::scope::ScopeRequirement;
use crate::store::error::StoreErrorKind;

/// Builds rejection responses. Holds the realm and format, and every response head that can
/// be built ahead of time: the set of rejections a layer can produce is finite (one scope
/// requirement per layer), so a rejection costs an index, a copy of a prebuilt header map and
/// the response, not string formatting or header hashing.
#[derive(Clone, Debug)]
pub(crate) struct Responder {
    realm: Option<Box<str>>,
    /// RFC 9728 §5.1: where the protected resource's metadata is, in every challenge.
    resource_metadata: Option<Box<str>>,
    /// The `DPoP` challenge, for a layer that takes DPoP proofs.
    dpop: Option<DpopChallenge>,
    format: ErrorFormat,
    /// At [`slot`]`(error)` for every error [`PREBUILT`] lists, then the layer's
    /// `insufficient_scope`.
    prebuilt: Vec<(AuthError, Prebuilt)>,
}

#[derive(Clone, Debug)]
struct Prebuilt {
    /// `Content-Type` and, for bearer errors, `WWW-Authenticate`.
    headers: HeaderMap,
    /// `None` when the format builds a fresh body each time (timestamps, custom closures).
    body: Option<Bytes>,
}

/// Declares the rejections every layer prebuilds, once: the table ([`PREBUILT`]) and the
/// index of each entry ([`slot`]) both come from this one list.
macro_rules! prebuilt_rejections {
    ($({ $($error:tt)* }),* $(,)?) => {
        /// The rejections every layer can produce, in [`slot`] order.
        const PREBUILT: &[AuthError] = &[$($($error)*),*];

        /// Where `error`'s prebuilt response sits: pattern tests the compiler turns into a
        /// jump on the discriminants, not a scan comparing errors.
        fn slot(error: &AuthError) -> Option<usize> {
            let mut index = 0;
            $(
                if matches!(error, $($error)*) {
                    return Some(index);
                }
                index += 1;
            )*
            // The layer's own scope requirement follows the list.
            matches!(error, AuthError::InsufficientScope(_)).then_some(index)
        }
    };
}

prebuilt_rejections![
    { AuthError::MissingCredentials },
    { AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders) },
    { AuthError::InvalidRequest(InvalidRequest::MultipleTokens) },
    { AuthError::InvalidToken(InvalidToken::BadFormat) },
    { AuthError::InvalidToken(InvalidToken::Unknown) },
    { AuthError::InvalidToken(InvalidToken::Revoked) },
    { AuthError::InvalidToken(InvalidToken::Expired) },
    { AuthError::InvalidToken(InvalidToken::WrongAudience) },
    { AuthError::StoreUnavailable(StoreErrorKind::Unavailable) },
    { AuthError::StoreUnavailable(StoreErrorKind::Timeout) },
    { AuthError::InvalidToken(InvalidToken::Malformed(ParseError::EmptyToken)) },
    { AuthError::InvalidToken(InvalidToken::Malformed(ParseError::BadSeparator)) },
    { AuthError::InvalidToken(InvalidToken::Malformed(ParseError::InvalidCharacter)) },
    { AuthError::InvalidToken(InvalidToken::Malformed(ParseError::TooLong)) },
    { AuthError::Denied },
    { AuthError::Throttled(Throttle::RateLimited) },
    { AuthError::Throttled(Throttle::NoCredits) },
];

impl Default for Responder {
    fn default() -> Self {
        Responder::new(None, ErrorFormat::default(), None)
    }
}

/// What every challenge of a layer names besides the error: its realm and where its resource
/// metadata is.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChallengeParams {
    pub(crate) realm: Option<Box<str>>,
    pub(crate) resource_metadata: Option<Box<str>>,
    pub(crate) dpop: Option<DpopChallenge>,
}

impl Responder {
    pub(crate) fn new(
        realm: Option<Box<str>>,
        format: ErrorFormat,
        requirement: Option<&ScopeRequirement>,
    ) -> Self {
        Self::with_params(ChallengeParams { realm, resource_metadata: None, dpop: None }, format, requirement)
    }

    pub(crate) fn with_params(
        params: ChallengeParams,
        format: ErrorFormat,
        requirement: Option<&ScopeRequirement>,
    ) -> Self {
        let ChallengeParams { realm, resource_metadata, dpop } = params;
        let mut responder = Responder { realm, resource_metadata, dpop, format, prebuilt: Vec::new() };
        let errors = PREBUILT.iter().cloned().chain(requirement.cloned().map(AuthError::InsufficientScope));
        responder.prebuilt = errors
            .map(|error| {
                let prebuilt = responder.build(&error);
                (error, prebuilt)
            })
            .collect();
        responder
    }

    fn build(&self, error: &AuthError) -> Prebuilt {
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // RFC 6750 §3: a challenge for every bearer error; a failed store or a reached limit
        // is not one.
        if !matches!(error, AuthError::StoreUnavailable(_) | AuthError::Throttled(_)) {
            for challenge in self.challenges(error) {
                let challenge = HeaderValue::from_maybe_shared(Bytes::from(challenge))
                    .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
                headers.append(WWW_AUTHENTICATE, challenge);
            }
        }
        if let AuthError::UseDpopNonce(nonce) = error
            && let Ok(nonce) = HeaderValue::from_str(nonce)
        {
            headers.insert(DPOP_NONCE, nonce);
        }
        let body = self.format.is_fixed().then(|| Bytes::from(self.format.body(error)));
        Prebuilt { headers, body }
    }

    /// The `WWW-Authenticate` value for `error`, or the bare challenge, of a layer without
    /// DPoP.
    #[cfg(test)]
    fn challenge(&self, error: &AuthError) -> String {
        self.challenges(error).remove(0)
    }

    /// The `WWW-Authenticate` values for `error`: the `Bearer` challenge, with the `DPoP` one
    /// (RFC 9449 §7.1) after it where the layer takes DPoP proofs, or alone where it requires
    /// them. The error goes in the challenge of the scheme it concerns.
    fn challenges(&self, error: &AuthError) -> Vec<String> {
        let Some(dpop) = &self.dpop else {
            return vec![self.challenge_of("Bearer", Some(error), None)];
        };
        let algs = Some(&*dpop.algs);
        if dpop.required {
            return vec![self.challenge_of("DPoP", Some(error), algs)];
        }
        let about_dpop = matches!(
            error,
            AuthError::InvalidProof(_)
                | AuthError::UseDpopNonce(_)
                | AuthError::InvalidToken(
                    InvalidToken::KeyBound
                        | InvalidToken::NotKeyBound
                        | InvalidToken::OtherKey
                        | InvalidToken::DpopRequired
                )
        );
        let (bearer_error, dpop_error) = if about_dpop { (None, Some(error)) } else { (Some(error), None) };
        vec![self.challenge_of("Bearer", bearer_error, None), self.challenge_of("DPoP", dpop_error, algs)]
    }

    /// One challenge of `scheme`: the realm and metadata URL, `algs` for DPoP, and `error`'s
    /// parameters if any.
    fn challenge_of(&self, scheme: &str, error: Option<&AuthError>, algs: Option<&str>) -> String {
        // Every value written here is in the RFC 6749 §5.2 set (realm and scopes are checked
        // when configured, descriptions are fixed text), so none can end its quoted string.
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(5);
        if let Some(realm) = self.realm.as_deref() {
            params.push(("realm", realm));
        }
        if let Some(url) = self.resource_metadata.as_deref() {
            params.push(("resource_metadata", url));
        }
        if let Some(algs) = algs {
            params.push(("algs", algs));
        }
        if let Some(code) = error.and_then(AuthError::error_code) {
            params.push(("error", code));
            params.push(("error_description", error.map_or("", AuthError::description)));
        }
        let scope;
        if let Some(AuthError::InsufficientScope(req)) = error {
            scope = req.scopes().to_string();
            params.push(("scope", &scope));
        }
        let mut value = String::from(scheme);
        for (i, (name, v)) in params.iter().enumerate() {
            value.push_str(if i == 0 { " " } else { ", " });
            value.push_str(name);
            value.push_str("=\"");
            value.extend(v.chars().filter(|&c| is_param_char(c)));
            value.push('"');
        }
        value
    }

    /// What `error` is answered with: its prebuilt head and body, or one built for it alone.
    fn prebuilt(&self, error: &AuthError) -> Cow<'_, Prebuilt> {
        let found = slot(error)
            .and_then(|i| self.prebuilt.get(i))
            // Only `insufficient_scope` can differ from its slot: another requirement than the
            // layer's (a store or a caller building its own errors).
            .filter(|(e, _)| !matches!(e, AuthError::InsufficientScope(_)) || e == error)
            .map(|(_, p)| p);
        match found {
            Some(p) => Cow::Borrowed(p),
            // A scope requirement of a handler's choosing: built for this response only,
            // never kept, so texts made from request data cannot accumulate.
            None => Cow::Owned(self.build(error)),
        }
    }

    /// The complete rejection response for `error` to a request of gRPC content type
    /// `grpc_type` (`None`: not gRPC), in gRPC or HTTP as `grpc` chooses, with `error` in its
    /// extensions if `attach_error`.
    pub(crate) fn answer<B: From<Bytes>>(
        &self,
        grpc: GrpcAnswers,
        grpc_type: Option<&HeaderValue>,
        error: AuthError,
        attach_error: bool,
    ) -> Response<B> {
        if grpc.chooses_grpc(grpc_type) {
            self.respond_grpc(grpc_type, error, attach_error)
        } else {
            self.respond(error, attach_error)
        }
    }

    /// The HTTP answer for `error`.
    fn respond<B: From<Bytes>>(&self, error: AuthError, attach_error: bool) -> Response<B> {
        let prebuilt = self.prebuilt(&error);
        let body = prebuilt.body.clone().unwrap_or_else(|| self.format.body(&error).into());
        let mut response = Response::new(B::from(body));
        *response.status_mut() = error.status();
        *response.headers_mut() = prebuilt.headers.clone();
        attach(&mut response, error, attach_error);
        response
    }

    /// The gRPC answer for `error` to a request of gRPC content type `grpc_type` (see
    /// [`GrpcAnswers`](super::grpc::GrpcAnswers)), with the challenges of the HTTP answer (the
    /// `DPoP` one too) and its `DPoP-Nonce`, as metadata.
    fn respond_grpc<R: From<Bytes>>(
        &self,
        grpc_type: Option<&HeaderValue>,
        error: AuthError,
        attach_error: bool,
    ) -> Response<R> {
        let prebuilt = self.prebuilt(&error);
        let mut challenges = prebuilt.headers.get_all(WWW_AUTHENTICATE).iter();
        let mut response = grpc_response(grpc_type, &error, challenges.next()).map(R::from);
        let headers = response.headers_mut();
        for challenge in challenges {
            headers.append(WWW_AUTHENTICATE, challenge.clone());
        }
        if let Some(nonce) = prebuilt.headers.get(DPOP_NONCE) {
            headers.insert(DPOP_NONCE, nonce.clone());
        }
        attach(&mut response, error, attach_error);
        response
    }
}

fn attach<B>(response: &mut Response<B>, error: AuthError, attach_error: bool) {
    if attach_error {
        // Three allocations (the extensions map, its table, the boxed error) and their
        // frees: as much as the rest of a rejection (BENCHMARKS.md), hence opt-in.
        response.extensions_mut().insert(error);
    }
}

/// Whether `c` may appear in an auth-param value: RFC 6749 §5.2's
/// `%x20-21 / %x23-5B / %x5D-7E` (printable ASCII without `"` and `\`).
pub(crate) fn is_param_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::scope::Scopes;

    fn every_error() -> Vec<AuthError> {
        vec![
            AuthError::MissingCredentials,
            AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders),
            AuthError::InvalidRequest(InvalidRequest::MultipleTokens),
            AuthError::InvalidToken(InvalidToken::Malformed(ParseError::InvalidCharacter)),
            AuthError::InvalidToken(InvalidToken::Malformed(ParseError::EmptyToken)),
            AuthError::InvalidToken(InvalidToken::Malformed(ParseError::BadSeparator)),
            AuthError::InvalidToken(InvalidToken::Malformed(ParseError::TooLong)),
            AuthError::InvalidToken(InvalidToken::BadFormat),
            AuthError::InvalidToken(InvalidToken::Unknown),
            AuthError::InvalidToken(InvalidToken::Revoked),
            AuthError::InvalidToken(InvalidToken::Expired),
            AuthError::InvalidToken(InvalidToken::WrongAudience),
            AuthError::InsufficientScope(ScopeRequirement::All(Scopes::parse("a b"))),
            AuthError::StoreUnavailable(StoreErrorKind::Unavailable),
            AuthError::Throttled(Throttle::RateLimited),
            AuthError::Throttled(Throttle::NoCredits),
        ]
    }

    #[test]
    fn every_prebuilt_error_sits_at_its_slot() {
        for (i, e) in PREBUILT.iter().enumerate() {
            assert_eq!(slot(e), Some(i), "{e:?}");
        }
        let scoped = AuthError::InsufficientScope(ScopeRequirement::All(Scopes::parse("a")));
        assert_eq!(slot(&scoped), Some(PREBUILT.len()));
        // Every error the layer answers is covered, so none is built per request.
        for e in every_error() {
            assert!(slot(&e).is_some(), "{e:?}");
        }
    }

    #[test]
    fn another_scope_requirement_than_the_layers_gets_its_own_challenge() {
        let layer_req = ScopeRequirement::All(Scopes::parse("a"));
        let responder = Responder::new(None, ErrorFormat::default(), Some(&layer_req));
        let other = AuthError::InsufficientScope(ScopeRequirement::All(Scopes::parse("b")));
        let res = responder.respond::<Bytes>(other, false);
        let challenge = res.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains(r#"scope="b""#), "{challenge}");
        let res = responder.respond::<Bytes>(AuthError::InsufficientScope(layer_req), false);
        let challenge = res.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains(r#"scope="a""#), "{challenge}");
    }

    #[test]
    fn descriptions_stay_in_the_rfc6749_character_set() {
        for e in every_error() {
            assert!(e.description().chars().all(is_param_char), "{e:?}");
        }
    }

    #[test]
    fn challenge_forms() {
        let r = Responder::new(Some("api".into()), ErrorFormat::OAuth, None);
        assert_eq!(r.challenge(&AuthError::MissingCredentials), "Bearer realm=\"api\"");
        assert_eq!(
            r.challenge(&AuthError::InvalidToken(InvalidToken::Expired)),
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the access token expired\""
        );
        assert_eq!(
            r.challenge(&AuthError::InsufficientScope(ScopeRequirement::All(Scopes::parse("b a")))),
            "Bearer realm=\"api\", error=\"insufficient_scope\", \
             error_description=\"the access token lacks the required scope\", scope=\"a b\""
        );
        let bare = Responder::new(None, ErrorFormat::OAuth, None);
        assert_eq!(bare.challenge(&AuthError::MissingCredentials), "Bearer");
        let params = ChallengeParams {
            realm: Some("mcp".into()),
            resource_metadata: Some("https://api.example.com/.well-known/oauth-protected-resource".into()),
            dpop: None,
        };
        let with_metadata = Responder::with_params(params, ErrorFormat::OAuth, None);
        assert_eq!(
            with_metadata.challenge(&AuthError::MissingCredentials),
            "Bearer realm=\"mcp\", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\""
        );
    }

    #[test]
    fn dpop_challenges_follow_the_scheme_each_error_concerns() {
        use crate::outcome::error::InvalidProof;
        let layer = |required| {
            let dpop = Some(DpopChallenge { algs: "EdDSA ES256".into(), required });
            let params = ChallengeParams { realm: Some("api".into()), resource_metadata: None, dpop };
            Responder::with_params(params, ErrorFormat::OAuth, None)
        };
        let values = |r: &Responder, error: AuthError| {
            let response = r.respond::<Bytes>(error, false);
            let all = response.headers().get_all(WWW_AUTHENTICATE).iter();
            all.map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>()
        };
        let accepted = layer(false);
        assert_eq!(
            values(&accepted, AuthError::MissingCredentials),
            ["Bearer realm=\"api\"", "DPoP realm=\"api\", algs=\"EdDSA ES256\""]
        );
        assert_eq!(
            values(&accepted, AuthError::InvalidToken(InvalidToken::Expired)),
            [
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the access token expired\"",
                "DPoP realm=\"api\", algs=\"EdDSA ES256\""
            ]
        );
        assert_eq!(
            values(&accepted, AuthError::InvalidProof(InvalidProof::Replayed)),
            [
                "Bearer realm=\"api\"",
                "DPoP realm=\"api\", algs=\"EdDSA ES256\", error=\"invalid_dpop_proof\", \
                 error_description=\"the DPoP proof was used before\""
            ]
        );
        let required = layer(true);
        assert_eq!(
            values(&required, AuthError::InvalidToken(InvalidToken::Unknown)),
            ["DPoP realm=\"api\", algs=\"EdDSA ES256\", error=\"invalid_token\", \
              error_description=\"the access token is invalid\""]
        );
        let grpc_type = HeaderValue::from_static("application/grpc");
        let accepted_grpc = accepted.respond_grpc::<Bytes>(
            Some(&grpc_type),
            AuthError::InvalidProof(InvalidProof::Replayed),
            false,
        );
        assert_eq!(accepted_grpc.headers()["grpc-status"], "16");
        let challenges: Vec<_> = accepted_grpc.headers().get_all(WWW_AUTHENTICATE).iter().collect();
        assert_eq!(challenges.len(), 2, "both challenges, the DPoP error in the second");
        assert!(challenges[1].to_str().unwrap().contains("invalid_dpop_proof"));
        let nonce_grpc =
            required.respond_grpc::<Bytes>(Some(&grpc_type), AuthError::UseDpopNonce("n-2".into()), false);
        assert_eq!(nonce_grpc.headers()["dpop-nonce"], "n-2");
        let nonce = required.respond::<Bytes>(AuthError::UseDpopNonce("n-1".into()), false);
        assert_eq!(nonce.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(nonce.headers()["dpop-nonce"], "n-1");
        assert!(nonce.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains("error=\"use_dpop_nonce\""));
    }

    #[test]
    fn prebuilt_and_fresh_responses_agree() {
        let req = ScopeRequirement::Any(Scopes::parse("x y"));
        let prebuilt = Responder::new(Some("r".into()), ErrorFormat::Message, Some(&req));
        let fresh = Responder::new(Some("r".into()), ErrorFormat::Message, None);
        for e in every_error().into_iter().chain([AuthError::InsufficientScope(req.clone())]) {
            let (a, b) =
                (prebuilt.respond::<Bytes>(e.clone(), true), fresh.respond::<Bytes>(e.clone(), true));
            assert_eq!(a.status(), b.status(), "{e:?}");
            assert_eq!(a.headers(), b.headers(), "{e:?}");
            assert_eq!(a.body(), b.body(), "{e:?}");
            assert_eq!(a.extensions().get::<AuthError>(), Some(&e));
        }
    }

    #[test]
    fn store_failure_has_no_challenge_and_a_generic_body() {
        let r =
            Responder::default().respond::<Bytes>(AuthError::StoreUnavailable(StoreErrorKind::Timeout), true);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
        assert_eq!(
            r.body(),
            r#"{"error":"temporarily_unavailable","error_description":"authentication is temporarily unavailable"}"#
        );
    }
}
