//! The one place rejections become HTTP responses: [`AuthError`] → status, `WWW-Authenticate`
//! challenge (RFC 6750 §3) and a JSON body in the configured [`ErrorFormat`].

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::header::ParseError;
use crate::scope::ScopeRequirement;
use crate::store::StoreErrorKind;

/// Why the layer refused a request: in every rejection [`AuthEvent`](crate::AuthEvent), and in
/// the rejection response's extensions when the layer is built with
/// [`rejection_extension(true)`](crate::BearerAuthLayer::rejection_extension), so outer layers
/// can see the reason.
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
    /// The token store failed or timed out. 503; the store's error is not shown.
    #[error("the token store is unavailable ({0})")]
    StoreUnavailable(StoreErrorKind),
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
}

impl AuthError {
    /// The HTTP status this rejection is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials | AuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            AuthError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 §3.1 error code, or `None` where none is sent (missing credentials) or
    /// the condition is not an RFC 6750 one (store unavailable).
    #[must_use]
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingCredentials | AuthError::StoreUnavailable(_) => None,
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }

    /// A short, stable code naming the exact reason, for logs and audit trails (never sent
    /// to the client, which cannot tell unknown from revoked tokens): `missing_credentials`,
    /// `multiple_authorization_headers`, `token_sent_twice`, `malformed_token`, `bad_format`,
    /// `unknown_token`, `revoked_token`, `expired_token`, `insufficient_scope`,
    /// `store_unavailable`, `store_timeout`.
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
            AuthError::InsufficientScope(_) => "insufficient_scope",
            AuthError::StoreUnavailable(StoreErrorKind::Timeout) => "store_timeout",
            AuthError::StoreUnavailable(_) => "store_unavailable",
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
            AuthError::InsufficientScope(_) => "the access token lacks the required scope",
            AuthError::StoreUnavailable(_) => "authentication is temporarily unavailable",
        }
    }
}

/// The JSON body of rejection responses. Status and `WWW-Authenticate` do not depend on it.
///
/// Each built-in format reproduces, byte for byte, the error bodies some real API providers
/// send, so an application moving onto this crate keeps its documented responses.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ErrorFormat {
    /// `{"error":"invalid_token","error_description":"the access token is invalid"}`: the
    /// RFC 6750 error code and description (`"unauthorized"` when credentials are missing,
    /// `"temporarily_unavailable"` when the store failed). The default.
    #[default]
    OAuth,
    /// `{"status":401,"message":"Unauthorized","timestamp":1713200000000}`: status, its
    /// reason phrase and the time in milliseconds since the Unix epoch.
    StatusMessageTimestamp,
    /// `{"message":"Unauthenticated."}` (Laravel style); 403 is
    /// `{"message":"This action is unauthorized."}`, 400 `{"message":"Bad request."}`,
    /// 503 `{"message":"Service unavailable."}`.
    Message,
    /// `{"error":"unauthorized","message":"Invalid or missing API key"}`; 403 is
    /// `{"error":"forbidden","message":"Insufficient scope"}`, 400
    /// `{"error":"bad_request","message":"Malformed Authorization header"}`, 503
    /// `{"error":"service_unavailable","message":"Authentication is temporarily unavailable"}`.
    ErrorMessage,
    /// A body built by the application; see [`ErrorFormat::custom`].
    Custom(Arc<dyn Fn(&AuthError) -> String + Send + Sync>),
}

impl ErrorFormat {
    /// A body built by `f` from the rejection. It is sent as `application/json`.
    ///
    /// ```
    /// use tower_bearer::ErrorFormat;
    /// let format = ErrorFormat::custom(|e| format!(r#"{{"code":{}}}"#, e.status().as_u16()));
    /// ```
    pub fn custom(f: impl Fn(&AuthError) -> String + Send + Sync + 'static) -> Self {
        ErrorFormat::Custom(Arc::new(f))
    }

    /// The body for `error`.
    #[must_use]
    pub fn body(&self, error: &AuthError) -> String {
        let status = error.status();
        match self {
            ErrorFormat::OAuth => {
                let code = match error {
                    AuthError::MissingCredentials => "unauthorized",
                    AuthError::StoreUnavailable(_) => "temporarily_unavailable",
                    _ => error.error_code().unwrap_or("unauthorized"),
                };
                format!(r#"{{"error":"{code}","error_description":"{}"}}"#, error.description())
            }
            ErrorFormat::StatusMessageTimestamp => {
                let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
                let reason = status.canonical_reason().unwrap_or("Error");
                format!(r#"{{"status":{},"message":"{reason}","timestamp":{millis}}}"#, status.as_u16())
            }
            ErrorFormat::Message => {
                let message = match status {
                    StatusCode::UNAUTHORIZED => "Unauthenticated.",
                    StatusCode::FORBIDDEN => "This action is unauthorized.",
                    StatusCode::BAD_REQUEST => "Bad request.",
                    _ => "Service unavailable.",
                };
                format!(r#"{{"message":"{message}"}}"#)
            }
            ErrorFormat::ErrorMessage => {
                let (code, message) = match status {
                    StatusCode::UNAUTHORIZED => ("unauthorized", "Invalid or missing API key"),
                    StatusCode::FORBIDDEN => ("forbidden", "Insufficient scope"),
                    StatusCode::BAD_REQUEST => ("bad_request", "Malformed Authorization header"),
                    _ => ("service_unavailable", "Authentication is temporarily unavailable"),
                };
                format!(r#"{{"error":"{code}","message":"{message}"}}"#)
            }
            ErrorFormat::Custom(f) => f(error),
        }
    }

    /// Whether the body for a given error is always the same (so it can be built once).
    fn is_fixed(&self) -> bool {
        !matches!(self, ErrorFormat::StatusMessageTimestamp | ErrorFormat::Custom(_))
    }
}

impl fmt::Debug for ErrorFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorFormat::OAuth => "OAuth",
            ErrorFormat::StatusMessageTimestamp => "StatusMessageTimestamp",
            ErrorFormat::Message => "Message",
            ErrorFormat::ErrorMessage => "ErrorMessage",
            ErrorFormat::Custom(_) => "Custom(..)",
        })
    }
}

/// Builds rejection responses. Holds the realm and format, and every response head that can
/// be built ahead of time: the set of rejections a layer can produce is finite (one scope
/// requirement per layer), so a rejection costs an index, a copy of a prebuilt header map and
/// the response, not string formatting or header hashing.
#[derive(Clone, Debug)]
pub(crate) struct Responder {
    realm: Option<Box<str>>,
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

/// The rejections every layer can produce, in [`slot`] order.
const PREBUILT: [AuthError; 13] = [
    AuthError::MissingCredentials,
    AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders),
    AuthError::InvalidRequest(InvalidRequest::MultipleTokens),
    AuthError::InvalidToken(InvalidToken::BadFormat),
    AuthError::InvalidToken(InvalidToken::Unknown),
    AuthError::InvalidToken(InvalidToken::Revoked),
    AuthError::InvalidToken(InvalidToken::Expired),
    AuthError::StoreUnavailable(StoreErrorKind::Unavailable),
    AuthError::StoreUnavailable(StoreErrorKind::Timeout),
    AuthError::InvalidToken(InvalidToken::Malformed(ParseError::EmptyToken)),
    AuthError::InvalidToken(InvalidToken::Malformed(ParseError::BadSeparator)),
    AuthError::InvalidToken(InvalidToken::Malformed(ParseError::InvalidCharacter)),
    AuthError::InvalidToken(InvalidToken::Malformed(ParseError::TooLong)),
];

/// Where `error`'s prebuilt response sits: a match, not a scan comparing errors.
fn slot(error: &AuthError) -> Option<usize> {
    use InvalidToken::{BadFormat, Expired, Malformed, Revoked, Unknown};
    Some(match error {
        AuthError::MissingCredentials => 0,
        AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders) => 1,
        AuthError::InvalidRequest(InvalidRequest::MultipleTokens) => 2,
        AuthError::InvalidToken(BadFormat) => 3,
        AuthError::InvalidToken(Unknown) => 4,
        AuthError::InvalidToken(Revoked) => 5,
        AuthError::InvalidToken(Expired) => 6,
        AuthError::StoreUnavailable(StoreErrorKind::Unavailable) => 7,
        AuthError::StoreUnavailable(StoreErrorKind::Timeout) => 8,
        AuthError::InvalidToken(Malformed(ParseError::EmptyToken)) => 9,
        AuthError::InvalidToken(Malformed(ParseError::BadSeparator)) => 10,
        AuthError::InvalidToken(Malformed(ParseError::InvalidCharacter)) => 11,
        AuthError::InvalidToken(Malformed(ParseError::TooLong)) => 12,
        AuthError::InsufficientScope(_) => PREBUILT.len(),
        _ => return None,
    })
}

impl Default for Responder {
    fn default() -> Self {
        Responder::new(None, ErrorFormat::default(), None)
    }
}

impl Responder {
    pub(crate) fn new(
        realm: Option<Box<str>>,
        format: ErrorFormat,
        requirement: Option<&ScopeRequirement>,
    ) -> Self {
        let mut responder = Responder { realm, format, prebuilt: Vec::new() };
        let errors = PREBUILT.into_iter().chain(requirement.cloned().map(AuthError::InsufficientScope));
        responder.prebuilt = errors
            .map(|error| {
                let prebuilt = responder.build(&error);
                (error, prebuilt)
            })
            .collect();
        responder
    }

    pub(crate) fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    pub(crate) fn format(&self) -> &ErrorFormat {
        &self.format
    }

    fn build(&self, error: &AuthError) -> Prebuilt {
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // RFC 6750 §3: a challenge for every bearer error; a failed store is not one.
        if !matches!(error, AuthError::StoreUnavailable(_)) {
            headers.insert(WWW_AUTHENTICATE, self.challenge(error));
        }
        let body =
            self.format.is_fixed().then(|| Bytes::from_static(intern(self.format.body(error)).as_bytes()));
        Prebuilt { headers, body }
    }

    /// The `WWW-Authenticate` value for `error`, or the bare challenge.
    fn challenge(&self, error: &AuthError) -> HeaderValue {
        // Every value written here is in the RFC 6749 §5.2 set (realm and scopes are checked
        // when configured, descriptions are fixed text), so none can end its quoted string.
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(4);
        if let Some(realm) = self.realm.as_deref() {
            params.push(("realm", realm));
        }
        if let Some(code) = error.error_code() {
            params.push(("error", code));
            params.push(("error_description", error.description()));
        }
        let scope;
        if let AuthError::InsufficientScope(req) = error {
            scope = req.scopes().to_string();
            params.push(("scope", &scope));
        }
        let mut value = String::from("Bearer");
        for (i, (name, v)) in params.iter().enumerate() {
            value.push_str(if i == 0 { " " } else { ", " });
            value.push_str(name);
            value.push_str("=\"");
            value.extend(v.chars().filter(|&c| is_param_char(c)));
            value.push('"');
        }
        HeaderValue::from_maybe_shared(Bytes::from_static(intern(value).as_bytes()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// The complete rejection response for `error`, with `error` in its extensions if
    /// `attach_error`.
    pub(crate) fn respond<B: From<Bytes>>(&self, error: AuthError, attach_error: bool) -> Response<B> {
        let found = slot(&error)
            .and_then(|i| self.prebuilt.get(i))
            // Only `insufficient_scope` can differ from its slot: another requirement than the
            // layer's (a store or a caller building its own errors).
            .filter(|(e, _)| !matches!(e, AuthError::InsufficientScope(_)) || *e == error)
            .map(|(_, p)| p);
        let built;
        let prebuilt = match found {
            Some(p) => p,
            None => {
                built = self.build(&error);
                &built
            }
        };
        let body = prebuilt.body.clone().unwrap_or_else(|| self.format.body(&error).into());
        let mut response = Response::new(B::from(body));
        *response.status_mut() = error.status();
        *response.headers_mut() = prebuilt.headers.clone();
        if attach_error {
            // Three allocations (the extensions map, its table, the boxed error) and their
            // frees: ~40-60 ns of every rejection, hence opt-in.
            response.extensions_mut().insert(error);
        }
        response
    }
}

/// `text` for the life of the process, one copy per distinct text.
///
/// Prebuilt challenges and bodies are static bytes so that copying one into a response copies a
/// pointer: shared `Bytes` would cost an atomic increment and decrement per rejection, on a
/// reference count every core contends for during a flood of bad tokens. The set grows with
/// distinct layer configurations (realm, error format, scope requirement), never with requests.
fn intern(text: String) -> &'static str {
    static TEXTS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut texts = TEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = texts.get(text.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(leaked);
    leaked
}

/// Whether `c` may appear in an auth-param value: RFC 6749 §5.2's
/// `%x20-21 / %x23-5B / %x5D-7E` (printable ASCII without `"` and `\`).
pub(crate) fn is_param_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

#[cfg(test)]
mod tests {
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
            AuthError::InsufficientScope(ScopeRequirement::All(Scopes::parse("a b"))),
            AuthError::StoreUnavailable(StoreErrorKind::Unavailable),
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
    fn equal_texts_are_kept_once() {
        let a = intern(String::from("Bearer realm=\"interned\""));
        let b = intern(String::from("Bearer realm=\"interned\""));
        assert!(std::ptr::eq(a, b));
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
