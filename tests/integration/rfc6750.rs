//! RFC 6750 conformance of `BearerAuthLayer`, one test per rule, driven as a black box through
//! `tower::ServiceBuilder` in front of an echo service.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_TYPE, COOKIE, ORIGIN, WWW_AUTHENTICATE,
};
use http::{Extensions, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_bearer::header::ParseError;
use tower_bearer::middleware::{InvalidRequest, InvalidToken};
use tower_bearer::store::StoreErrorKind;
use tower_bearer::{
    AuthError, BearerAuthLayer, CallbackTokenStore, MemoryTokenStore, PresentedToken, Principal, Scopes,
    TokenManager, TokenStore,
};

type Body = Full<Bytes>;

/// Alice's token: the RFC 6750 §2.1 example token. Alice holds the scope `read`.
const ALICE: &str = "mF_9.B5f-4.1JqM";
/// A token no store knows.
const UNKNOWN: &str = "never-issued-token";

const BARE: &str = r#"Bearer realm="test""#;
const BARE_BODY: &str = r#"{"error":"unauthorized","error_description":"a bearer token is required"}"#;
const INVALID_CHAR: &str = r#"Bearer realm="test", error="invalid_token", error_description="the bearer token contains characters not allowed by RFC 6750""#;
const INVALID_CHAR_BODY: &str = r#"{"error":"invalid_token","error_description":"the bearer token contains characters not allowed by RFC 6750"}"#;
const EMPTY_TOKEN: &str =
    r#"Bearer realm="test", error="invalid_token", error_description="the bearer token is empty""#;
const BAD_SEPARATOR: &str = r#"Bearer realm="test", error="invalid_token", error_description="the Bearer scheme must be followed by a space""#;
const TOO_LONG: &str =
    r#"Bearer realm="test", error="invalid_token", error_description="the bearer token is too long""#;
const INVALID: &str =
    r#"Bearer realm="test", error="invalid_token", error_description="the access token is invalid""#;
const INVALID_BODY: &str = r#"{"error":"invalid_token","error_description":"the access token is invalid"}"#;
const EXPIRED: &str =
    r#"Bearer realm="test", error="invalid_token", error_description="the access token expired""#;
const TWO_HEADERS: &str = r#"Bearer realm="test", error="invalid_request", error_description="the request has more than one Authorization header""#;
const TWO_HEADERS_BODY: &str =
    r#"{"error":"invalid_request","error_description":"the request has more than one Authorization header"}"#;
const SENT_TWICE: &str = r#"Bearer realm="test", error="invalid_request", error_description="the access token must be sent exactly once""#;
const STORE_DOWN_BODY: &str =
    r#"{"error":"temporarily_unavailable","error_description":"authentication is temporarily unavailable"}"#;

/// What came back from one request through the stack.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
    /// How many times the inner (echo) service was called.
    inner_calls: usize,
}

impl Reply {
    fn challenge(&self) -> &str {
        self.headers.get(WWW_AUTHENTICATE).map_or("<none>", |v| v.to_str().expect("ASCII challenge"))
    }

    fn body(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    /// A rejection: `status`, exactly `challenge`, JSON, and the inner service untouched.
    fn assert_rejected(&self, status: StatusCode, challenge: &str) {
        assert_eq!(self.status, status);
        assert_eq!(self.challenge(), challenge);
        assert_eq!(self.headers[CONTENT_TYPE], "application/json");
        assert_eq!(self.inner_calls, 0, "the inner service must not run on a rejection");
    }

    /// Admitted: 200 from the echo service, for `subject`.
    fn assert_admitted(&self, subject: &str) {
        assert_eq!(self.status, StatusCode::OK, "rejected with {:?}", self.challenge());
        assert_eq!(self.body(), subject);
        assert_eq!(self.inner_calls, 1);
        assert!(self.headers.get(WWW_AUTHENTICATE).is_none());
    }
}

/// The inner service: 200, the principal's subject as the body (`anonymous` without one), the
/// principal copied into the response extensions, and whether the `Authorization` header
/// reached it marked sensitive in `x-authorization-sensitive`.
async fn echo(calls: Arc<AtomicUsize>, req: Request<Body>) -> Result<Response<Body>, Infallible> {
    calls.fetch_add(1, Ordering::SeqCst);
    let principal = req.extensions().get::<Principal>().cloned();
    let subject = principal.as_ref().map_or("anonymous", Principal::subject).to_owned();
    let mut res = Response::new(Body::from(subject));
    if let Some(authz) = req.headers().get(AUTHORIZATION) {
        let flag = if authz.is_sensitive() { "true" } else { "false" };
        res.headers_mut().insert("x-authorization-sensitive", HeaderValue::from_static(flag));
    }
    if let Some(p) = principal {
        res.extensions_mut().insert(p);
    }
    Ok(res)
}

/// Sends `req` through `layer` in front of [`echo`].
async fn send<T: TokenStore>(layer: BearerAuthLayer<T>, req: Request<Body>) -> Reply {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    // The reason rides along so that the tests can check it; off by default (see below).
    let layer = layer.rejection_extension(true);
    let mut service = ServiceBuilder::new().layer(layer).service_fn(move |req| echo(counter.clone(), req));
    let Ok(ready) = service.ready().await;
    let Ok(res) = ready.call(req).await;
    let (parts, body) = res.into_parts();
    let Ok(body) = body.collect().await;
    Reply {
        status: parts.status,
        headers: parts.headers,
        extensions: parts.extensions,
        body: body.to_bytes(),
        inner_calls: calls.load(Ordering::SeqCst),
    }
}

/// A store holding Alice's token.
fn store() -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    store.insert(ALICE, Principal::builder("alice").scopes(Scopes::parse("read")).build()).unwrap();
    store
}

/// The layer under test: Alice's store, realm `test`.
fn layer() -> BearerAuthLayer<MemoryTokenStore> {
    BearerAuthLayer::new(store()).realm("test")
}

/// A store holding exactly `token` for `principal`.
fn store_with(token: &str, principal: Principal) -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    store.insert(token, principal).unwrap();
    store
}

/// `GET /` with the given `Authorization` value.
fn with_auth(value: impl TryInto<HeaderValue, Error: std::fmt::Debug>) -> Request<Body> {
    let mut req = Request::get("/").body(Body::default()).unwrap();
    req.headers_mut().insert(AUTHORIZATION, value.try_into().unwrap());
    req
}

/// `GET /` with no credentials.
fn anonymous() -> Request<Body> {
    Request::get("/").body(Body::default()).unwrap()
}

fn bearer(token: &str) -> Request<Body> {
    with_auth(format!("Bearer {token}"))
}

/// A store whose every lookup fails with a message that must never reach the client.
fn failing_store() -> impl TokenStore {
    CallbackTokenStore::new(|_token: PresentedToken| async {
        Err::<Option<Principal>, _>(std::io::Error::other("pg: password authentication failed for db_admin"))
    })
}

/// RFC 6750 §2.1: a valid `Authorization: Bearer` token is accepted and the request reaches the
/// resource, with the token's principal in its extensions.
#[tokio::test]
async fn valid_token_is_admitted_with_principal_in_extensions() {
    let reply = send(layer(), bearer(ALICE)).await;
    reply.assert_admitted("alice");
    let principal = reply.extensions.get::<Principal>().expect("the principal reached the inner service");
    assert_eq!(principal.subject(), "alice");
    assert!(principal.scopes().contains("read"));
}

/// RFC 6750 §2.1 also holds through `oneshot`: a cloned service admits the request.
#[tokio::test]
async fn valid_token_is_admitted_through_oneshot() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let service = ServiceBuilder::new().layer(layer()).service_fn(move |req| echo(counter.clone(), req));
    let Ok(res) = service.clone().oneshot(bearer(ALICE)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let Ok(res) = service.oneshot(bearer(UNKNOWN)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// RFC 6750 §3 and §3.1: a request with no authentication information gets a challenge with no
/// error code and no other error information.
#[tokio::test]
async fn missing_header_gets_bare_challenge() {
    let reply = send(layer(), anonymous()).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, BARE);
    assert_eq!(reply.body(), BARE_BODY);
}

/// RFC 6750 §3: the challenge carries no `realm` when none is configured (the realm is
/// optional), and is then exactly `Bearer`.
#[tokio::test]
async fn missing_header_without_realm_gets_plain_bearer_challenge() {
    let reply = send(BearerAuthLayer::new(store()), anonymous()).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, "Bearer");
}

/// RFC 6750 §3.1: credentials in another scheme are no bearer authentication information, so the
/// answer is the same bare challenge as for a missing header (so is an empty header value).
#[tokio::test]
async fn other_scheme_gets_bare_challenge() {
    for value in ["Basic dXNlcjpwYXNz", "Token mF_9.B5f-4.1JqM", "Bearerx abc", ""] {
        let reply = send(layer(), with_auth(value)).await;
        reply.assert_rejected(StatusCode::UNAUTHORIZED, BARE);
        assert_eq!(reply.body(), BARE_BODY, "{value}");
        assert_eq!(reply.extensions.get::<AuthError>(), Some(&AuthError::MissingCredentials), "{value}");
    }
}

/// RFC 9110 §11.1 (referenced by RFC 6750 §2.1): the auth scheme is case-insensitive.
#[tokio::test]
async fn scheme_is_case_insensitive() {
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let reply = send(layer(), with_auth(format!("{scheme} {ALICE}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme}");
        assert_eq!(reply.body(), "alice", "{scheme}");
    }
}

/// RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`: more than one space is allowed.
#[tokio::test]
async fn multiple_spaces_after_scheme_are_accepted() {
    send(layer(), with_auth(format!("Bearer    {ALICE}"))).await.assert_admitted("alice");
}

/// RFC 9110 §5.5: whitespace around the whole field value is not part of it.
#[tokio::test]
async fn surrounding_whitespace_is_ignored() {
    send(layer(), with_auth(format!(" \tBearer {ALICE}\t "))).await.assert_admitted("alice");
}

/// RFC 6750 §2.1: the separator is `1*SP`; a tab is not a space, so the token is malformed.
#[tokio::test]
async fn tab_separator_is_invalid_token() {
    let reply = send(layer(), with_auth(format!("Bearer\t{ALICE}"))).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, BAD_SEPARATOR);
}

/// RFC 6750 §2.1: `b64token` is `1*(...)`; `Bearer` with no token is a malformed token.
#[tokio::test]
async fn empty_token_is_invalid_token() {
    for value in ["Bearer", "Bearer   ", "bearer "] {
        let reply = send(layer(), with_auth(value)).await;
        reply.assert_rejected(StatusCode::UNAUTHORIZED, EMPTY_TOKEN);
        assert_eq!(
            reply.body(),
            r#"{"error":"invalid_token","error_description":"the bearer token is empty"}"#,
            "{value:?}"
        );
    }
}

/// Asserts that `value` is rejected as a token with a character outside `b64token`.
async fn assert_invalid_char(value: HeaderValue) {
    let reply = send(layer(), with_auth(value.clone())).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, INVALID_CHAR);
    assert_eq!(reply.body(), INVALID_CHAR_BODY, "{value:?}");
    assert_eq!(
        reply.extensions.get::<AuthError>(),
        Some(&AuthError::InvalidToken(InvalidToken::Malformed(ParseError::InvalidCharacter))),
        "{value:?}"
    );
}

/// RFC 6750 §2.1: a space is not a `b64token` character, so a token cannot contain one.
#[tokio::test]
async fn space_inside_token_is_invalid_token() {
    assert_invalid_char(HeaderValue::from_static("Bearer mF_9 B5f")).await;
}

/// RFC 6750 §2.1: a comma is not a `b64token` character; in particular two credentials folded
/// into one line are not one token.
#[tokio::test]
async fn comma_in_token_is_invalid_token() {
    assert_invalid_char(HeaderValue::from_static("Bearer a, Bearer b")).await;
    assert_invalid_char(HeaderValue::from_static("Bearer a,b")).await;
}

/// RFC 6750 §2.1: the token is a `b64token`, not a quoted-string: `"` is not allowed.
#[tokio::test]
async fn quote_in_token_is_invalid_token() {
    assert_invalid_char(HeaderValue::from_static(r#"Bearer "mF_9.B5f-4.1JqM""#)).await;
}

/// RFC 6750 §2.1: `\` is not a `b64token` character.
#[tokio::test]
async fn backslash_in_token_is_invalid_token() {
    assert_invalid_char(HeaderValue::from_static(r"Bearer mF_9\B5f")).await;
}

/// RFC 6750 §2.1: bytes outside US-ASCII (obs-text, or not UTF-8 at all) are not `b64token`
/// characters.
#[tokio::test]
async fn non_ascii_bytes_in_token_are_invalid_token() {
    assert_invalid_char(HeaderValue::from_bytes(b"Bearer abc\xffdef").unwrap()).await;
    assert_invalid_char(HeaderValue::from_bytes(b"Bearer \x80\x81").unwrap()).await;
    assert_invalid_char(HeaderValue::from_bytes("Bearer tok\u{e9}n".as_bytes()).unwrap()).await;
}

/// RFC 6750 §2.1: NUL is not a `b64token` character. `http::HeaderValue` cannot hold NUL at
/// all, so the rule is checked on the public parser and through the query-string source, whose
/// percent-decoding can produce one.
#[tokio::test]
async fn nul_in_token_is_invalid_token() {
    assert_eq!(
        tower_bearer::PresentedToken::from_header(
            b"Bearer abc\0def",
            tower_bearer::PresentedToken::DEFAULT_MAX_LEN
        )
        .err(),
        Some(ParseError::InvalidCharacter)
    );
    let req = Request::get("/?access_token=mF_9.B5f%004.1JqM").body(Body::default()).unwrap();
    let reply = send(layer().token_from_query("access_token"), req).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, INVALID_CHAR);
}

/// RFC 6750 §2.1: `=` may only end the token (`*"="` padding), never appear inside it.
#[tokio::test]
async fn equals_in_middle_of_token_is_invalid_token() {
    assert_invalid_char(HeaderValue::from_static("Bearer ab=cd")).await;
    assert_invalid_char(HeaderValue::from_static("Bearer ab==cd==")).await;
}

/// RFC 6750 §2.1: `b64token` needs at least one character before the `=` padding.
#[tokio::test]
async fn leading_equals_is_invalid_token() {
    assert_invalid_char(HeaderValue::from_static("Bearer =abc")).await;
    assert_invalid_char(HeaderValue::from_static("Bearer ==")).await;
}

/// RFC 6750 §2.1: trailing `=` padding is part of a valid `b64token`.
#[tokio::test]
async fn trailing_equals_padding_is_accepted() {
    let store = store_with("dG9rZW4=", Principal::builder("padded").build());
    send(BearerAuthLayer::new(store).realm("test"), bearer("dG9rZW4=")).await.assert_admitted("padded");
    let store = store_with("dG9r==", Principal::builder("padded2").build());
    send(BearerAuthLayer::new(store).realm("test"), bearer("dG9r==")).await.assert_admitted("padded2");
}

/// RFC 6750 §3.1 `invalid_token` ("malformed"): a token longer than `max_token_len` is refused
/// before the store is asked.
#[tokio::test]
async fn token_longer_than_max_len_is_invalid_token() {
    let store = store_with("123456789", Principal::builder("long").build());
    let reply = send(BearerAuthLayer::new(store).realm("test").max_token_len(8), bearer("123456789")).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, TOO_LONG);
    assert_eq!(
        reply.extensions.get::<AuthError>(),
        Some(&AuthError::InvalidToken(InvalidToken::Malformed(ParseError::TooLong)))
    );
}

/// The length limit is inclusive: a token of exactly `max_token_len` bytes is accepted.
#[tokio::test]
async fn token_of_exactly_max_len_is_accepted() {
    let store = store_with("12345678", Principal::builder("exact").build());
    let layer = BearerAuthLayer::new(store).realm("test").max_token_len(8);
    send(layer, bearer("12345678")).await.assert_admitted("exact");
}

/// The rejection reason goes into the response extensions only when asked for: by default a
/// rejection allocates nothing it does not send.
#[tokio::test]
async fn the_rejection_reason_is_attached_only_on_request() {
    let service = |layer: BearerAuthLayer<MemoryTokenStore>| {
        ServiceBuilder::new()
            .layer(layer)
            .service_fn(|_req: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::default())) })
    };
    let Ok(res) = service(layer()).oneshot(bearer(UNKNOWN)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.extensions().get::<AuthError>().is_none());
    let Ok(res) = service(layer().rejection_extension(true)).oneshot(bearer(UNKNOWN)).await;
    assert_eq!(res.extensions().get::<AuthError>(), Some(&AuthError::InvalidToken(InvalidToken::Unknown)));
}

/// RFC 6750 §3.1 `invalid_token`: a well-formed token the store does not know.
#[tokio::test]
async fn unknown_token_is_invalid_token() {
    let reply = send(layer(), bearer(UNKNOWN)).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, INVALID);
    assert_eq!(reply.body(), INVALID_BODY);
    assert_eq!(reply.extensions.get::<AuthError>(), Some(&AuthError::InvalidToken(InvalidToken::Unknown)));
}

/// RFC 6750 §3.1 `invalid_token` ("revoked"), answered exactly like an unknown token so a client
/// cannot probe which tokens once existed.
#[tokio::test]
async fn revoked_token_is_answered_like_unknown() {
    let store = store();
    let bob = store.insert("bob-token", Principal::builder("bob").build()).unwrap();
    let layer = BearerAuthLayer::new(store.clone()).realm("test");
    send(layer.clone(), bearer("bob-token")).await.assert_admitted("bob");

    assert!(store.revoke(&bob).await.unwrap());
    let revoked = send(layer.clone(), bearer("bob-token")).await;
    let unknown = send(layer, bearer(UNKNOWN)).await;
    revoked.assert_rejected(StatusCode::UNAUTHORIZED, INVALID);
    assert_eq!(revoked.status, unknown.status);
    assert_eq!(revoked.challenge(), unknown.challenge());
    assert_eq!(revoked.body, unknown.body);
    assert_eq!(revoked.body(), INVALID_BODY);
}

/// RFC 6750 §3.1 `invalid_token` ("expired"): the description says so.
#[tokio::test]
async fn expired_token_is_invalid_token_saying_expired() {
    let past = SystemTime::now() - Duration::from_secs(60);
    let store = store_with("old-token", Principal::builder("old").expires_at(past).build());
    let reply = send(BearerAuthLayer::new(store).realm("test"), bearer("old-token")).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, EXPIRED);
    assert_eq!(reply.body(), r#"{"error":"invalid_token","error_description":"the access token expired"}"#);
}

/// A token whose expiry is still in the future is accepted.
#[tokio::test]
async fn token_expiring_in_future_is_accepted() {
    let future = SystemTime::now() + Duration::from_secs(3600);
    let store = store_with("fresh-token", Principal::builder("fresh").expires_at(future).build());
    send(BearerAuthLayer::new(store).realm("test"), bearer("fresh-token")).await.assert_admitted("fresh");
}

/// RFC 6750 §3.1 `invalid_request` ("repeats the same parameter"): two `Authorization` lines.
#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let req = Request::get("/")
        .header(AUTHORIZATION, format!("Bearer {ALICE}"))
        .header(AUTHORIZATION, format!("Bearer {ALICE}"))
        .body(Body::default())
        .unwrap();
    let reply = send(layer(), req).await;
    reply.assert_rejected(StatusCode::BAD_REQUEST, TWO_HEADERS);
    assert_eq!(reply.body(), TWO_HEADERS_BODY);
    assert_eq!(
        reply.extensions.get::<AuthError>(),
        Some(&AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders))
    );
}

/// RFC 6750 §3.1 `insufficient_scope` with an all-of requirement: 403 and the `scope` attribute
/// lists the scopes required (RFC 6750 §3).
#[tokio::test]
async fn missing_one_of_all_required_scopes_is_insufficient_scope() {
    let reply = send(layer().require_scopes(["write", "read"]), bearer(ALICE)).await;
    reply.assert_rejected(
        StatusCode::FORBIDDEN,
        r#"Bearer realm="test", error="insufficient_scope", error_description="the access token lacks the required scope", scope="read write""#,
    );
    assert_eq!(
        reply.body(),
        r#"{"error":"insufficient_scope","error_description":"the access token lacks the required scope"}"#
    );
}

/// RFC 6750 §3.1: a token holding every required scope is not `insufficient_scope`.
#[tokio::test]
async fn holding_all_required_scopes_is_admitted() {
    let store =
        store_with("rw-token", Principal::builder("rw").scopes(Scopes::parse("read write extra")).build());
    let layer = BearerAuthLayer::new(store).realm("test").require_scopes(["read", "write"]);
    send(layer, bearer("rw-token")).await.assert_admitted("rw");
}

/// RFC 6750 §3.1 `insufficient_scope` with an any-of requirement: none held → 403 listing them.
#[tokio::test]
async fn holding_none_of_any_required_scopes_is_insufficient_scope() {
    let reply = send(layer().require_any_scope(["billing", "admin"]), bearer(ALICE)).await;
    reply.assert_rejected(
        StatusCode::FORBIDDEN,
        r#"Bearer realm="test", error="insufficient_scope", error_description="the access token lacks the required scope", scope="admin billing""#,
    );
}

/// An any-of requirement is met by holding one of the scopes.
#[tokio::test]
async fn holding_one_of_any_required_scopes_is_admitted() {
    send(layer().require_any_scope(["admin", "read"]), bearer(ALICE)).await.assert_admitted("alice");
}

/// The wildcard scope `*` satisfies every requirement, all-of and any-of.
#[tokio::test]
async fn wildcard_scope_satisfies_any_requirement() {
    let admin = || store_with("root-token", Principal::builder("root").scopes(Scopes::parse("*")).build());
    let all = BearerAuthLayer::new(admin()).realm("test").require_scopes(["admin", "billing:write"]);
    send(all, bearer("root-token")).await.assert_admitted("root");
    let any = BearerAuthLayer::new(admin()).realm("test").require_any_scope(["admin", "billing:write"]);
    send(any, bearer("root-token")).await.assert_admitted("root");
}

/// RFC 6750 §3 / RFC 9110 §11.2: auth-params are separated by `, `, every value is a
/// quoted-string, and (RFC 6750 §3: `scope`, `error`, `error_description` exclude `"` and `\`)
/// no value needs escaping.
#[tokio::test]
async fn challenges_are_well_formed_auth_params() {
    let malformed = || with_auth(HeaderValue::from_static("Bearer a\"b\\c"));
    let cases = [
        send(layer(), anonymous()).await,
        send(layer(), malformed()).await,
        send(layer(), bearer(UNKNOWN)).await,
        send(layer(), with_auth("Bearer")).await,
        send(layer().require_scopes(["a:b", "c!d", "e#f"]), bearer(ALICE)).await,
        send(layer(), {
            let mut req = bearer(ALICE);
            req.headers_mut().append(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
            req
        })
        .await,
    ];
    for reply in &cases {
        let challenge = reply.challenge();
        let params = challenge.strip_prefix("Bearer ").unwrap_or_else(|| panic!("{challenge}"));
        for param in params.split(", ") {
            let (name, value) = param.split_once('=').unwrap_or_else(|| panic!("{challenge}"));
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{challenge}"
            );
            let inner = value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
            let inner = inner.unwrap_or_else(|| panic!("unquoted value in {challenge}"));
            assert!(!inner.contains(['"', '\\']), "{challenge}");
        }
    }
    assert_eq!(
        cases[4].challenge(),
        r#"Bearer realm="test", error="insufficient_scope", error_description="the access token lacks the required scope", scope="a:b c!d e#f""#
    );
}

/// RFC 6750 §3 leaves the body open; this crate always answers JSON, for every rejection.
#[tokio::test]
async fn every_rejection_is_json() {
    let two_lines = {
        let mut req = bearer(ALICE);
        req.headers_mut().append(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        req
    };
    let replies = [
        send(layer(), anonymous()).await,
        send(layer(), with_auth("Basic dXNlcjpwYXNz")).await,
        send(layer(), with_auth("Bearer a,b")).await,
        send(layer(), bearer(UNKNOWN)).await,
        send(layer(), two_lines).await,
        send(layer().require_scopes(["admin"]), bearer(ALICE)).await,
        send(BearerAuthLayer::new(failing_store()).realm("test"), bearer(ALICE)).await,
    ];
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 400, 403, 503]);
    for reply in &replies {
        assert_eq!(reply.headers[CONTENT_TYPE], "application/json", "{}", reply.status);
        let parsed: serde_json::Value = serde_json::from_slice(&reply.body).expect("the body is JSON");
        assert!(parsed.is_object());
    }
}

/// The reason for each rejection is put into the response's extensions as an `AuthError`.
#[tokio::test]
async fn rejection_carries_auth_error_in_extensions() {
    let cases: [(Reply, AuthError); 4] = [
        (send(layer(), anonymous()).await, AuthError::MissingCredentials),
        (
            send(layer(), with_auth("Bearer\tx")).await,
            AuthError::InvalidToken(InvalidToken::Malformed(ParseError::BadSeparator)),
        ),
        (
            send(layer().require_scopes(["admin"]), bearer(ALICE)).await,
            AuthError::InsufficientScope(tower_bearer::ScopeRequirement::All(Scopes::parse("admin"))),
        ),
        (
            send(BearerAuthLayer::new(failing_store()).realm("test"), bearer(ALICE)).await,
            AuthError::StoreUnavailable(StoreErrorKind::Unavailable),
        ),
    ];
    for (reply, expected) in &cases {
        assert_eq!(reply.extensions.get::<AuthError>(), Some(expected));
    }
}

/// A store failure is not the client's fault: 503, no challenge (the token was not found
/// invalid), and a generic body that reveals nothing of the store's error.
#[tokio::test]
async fn store_error_is_503_without_challenge_or_details() {
    let reply = send(BearerAuthLayer::new(failing_store()).realm("test"), bearer(ALICE)).await;
    reply.assert_rejected(StatusCode::SERVICE_UNAVAILABLE, "<none>");
    assert_eq!(reply.body(), STORE_DOWN_BODY);
    for leak in ["pg:", "password", "db_admin"] {
        assert!(!reply.body().contains(leak), "store error leaked: {}", reply.body());
    }
}

/// The inner service never runs for any rejection.
#[tokio::test]
async fn inner_service_is_never_called_on_rejection() {
    let requests: Vec<(BearerAuthLayer<MemoryTokenStore>, Request<Body>)> = vec![
        (layer(), anonymous()),
        (layer(), with_auth("Basic dXNlcjpwYXNz")),
        (layer(), with_auth("Bearer")),
        (layer(), with_auth("Bearer a b")),
        (layer(), bearer(UNKNOWN)),
        (layer().max_token_len(4), bearer(ALICE)),
        (layer().require_scopes(["admin"]), bearer(ALICE)),
        (layer(), Request::options("/").body(Body::default()).unwrap()),
        (layer(), Request::get(format!("/?access_token={ALICE}")).body(Body::default()).unwrap()),
    ];
    for (layer, req) in requests {
        let reply = send(layer, req).await;
        assert!(reply.status.is_client_error(), "{}", reply.status);
        assert_eq!(reply.inner_calls, 0, "{}", reply.challenge());
    }
    let reply = send(BearerAuthLayer::new(failing_store()), bearer(ALICE)).await;
    assert_eq!((reply.status, reply.inner_calls), (StatusCode::SERVICE_UNAVAILABLE, 0));
}

/// RFC 6750 §2.3 / §5.3: the URI query parameter is not accepted unless enabled (tokens in URLs
/// leak into logs); without it the request simply has no credentials.
#[tokio::test]
async fn query_token_is_ignored_by_default() {
    let req = Request::get(format!("/?access_token={ALICE}")).body(Body::default()).unwrap();
    let reply = send(layer(), req).await;
    reply.assert_rejected(StatusCode::UNAUTHORIZED, BARE);
    assert_eq!(reply.body(), BARE_BODY);
}

/// RFC 6750 §2.3: when enabled, `access_token` in the query is accepted.
#[tokio::test]
async fn query_token_is_accepted_when_enabled() {
    let req = Request::get(format!("/items?x=1&access_token={ALICE}&y=2")).body(Body::default()).unwrap();
    send(layer().token_from_query("access_token"), req).await.assert_admitted("alice");
}

/// RFC 6750 §2.3: the query parameter is form-urlencoded; `%2F`, `%2B`, `%3D` decode to the
/// token's `/`, `+`, `=`.
#[tokio::test]
async fn percent_encoded_query_token_is_decoded() {
    let store = store_with("a/b+c=", Principal::builder("encoded").build());
    let req = Request::get("/?access_token=a%2Fb%2Bc%3D").body(Body::default()).unwrap();
    send(BearerAuthLayer::new(store).realm("test").token_from_query("access_token"), req)
        .await
        .assert_admitted("encoded");
}

/// A token in a cookie is not accepted unless enabled.
#[tokio::test]
async fn cookie_token_is_ignored_by_default() {
    let req = Request::get("/").header(COOKIE, format!("session={ALICE}")).body(Body::default()).unwrap();
    send(layer(), req).await.assert_rejected(StatusCode::UNAUTHORIZED, BARE);
}

/// A token in the configured cookie is accepted when enabled.
#[tokio::test]
async fn cookie_token_is_accepted_when_enabled() {
    let req = Request::get("/")
        .header(COOKIE, format!("theme=dark; session={ALICE}"))
        .body(Body::default())
        .unwrap();
    send(layer().token_from_cookie("session"), req).await.assert_admitted("alice");
}

/// RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each
/// request": header and query together are `invalid_request`.
#[tokio::test]
async fn token_in_header_and_query_is_invalid_request() {
    let req = Request::get(format!("/?access_token={ALICE}"))
        .header(AUTHORIZATION, format!("Bearer {ALICE}"))
        .body(Body::default())
        .unwrap();
    let reply = send(layer().token_from_query("access_token"), req).await;
    reply.assert_rejected(StatusCode::BAD_REQUEST, SENT_TWICE);
    assert_eq!(
        reply.body(),
        r#"{"error":"invalid_request","error_description":"the access token must be sent exactly once"}"#
    );
}

/// RFC 6750 §2: the same query parameter twice is also more than one token.
#[tokio::test]
async fn repeated_query_parameter_is_invalid_request() {
    let req =
        Request::get(format!("/?access_token={ALICE}&access_token={ALICE}")).body(Body::default()).unwrap();
    send(layer().token_from_query("access_token"), req)
        .await
        .assert_rejected(StatusCode::BAD_REQUEST, SENT_TWICE);
}

/// The length limit applies to a query-string token as well as to the header.
#[tokio::test]
async fn query_token_longer_than_max_len_is_invalid_token() {
    let req = Request::get(format!("/?access_token={ALICE}")).body(Body::default()).unwrap();
    let layer = layer().token_from_query("access_token").max_token_len(ALICE.len() - 1);
    send(layer, req).await.assert_rejected(StatusCode::UNAUTHORIZED, TOO_LONG);
}

/// RFC 6750 §2: the configured cookie sent twice is more than one token.
#[tokio::test]
async fn repeated_cookie_is_invalid_request() {
    let req = Request::get("/")
        .header(COOKIE, format!("session={ALICE}"))
        .header(COOKIE, format!("session={ALICE}"))
        .body(Body::default())
        .unwrap();
    send(layer().token_from_cookie("session"), req)
        .await
        .assert_rejected(StatusCode::BAD_REQUEST, SENT_TWICE);
}

/// RFC 6750 §2: header and cookie together are `invalid_request` too.
#[tokio::test]
async fn token_in_header_and_cookie_is_invalid_request() {
    let req = Request::get("/")
        .header(AUTHORIZATION, format!("Bearer {ALICE}"))
        .header(COOKIE, format!("session={ALICE}"))
        .body(Body::default())
        .unwrap();
    send(layer().token_from_cookie("session"), req)
        .await
        .assert_rejected(StatusCode::BAD_REQUEST, SENT_TWICE);
}

fn preflight() -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/")
        .header(ORIGIN, "https://app.example")
        .header(ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .body(Body::default())
        .unwrap()
}

/// A CORS preflight carries no credentials, so by default it is answered like any other
/// request without them.
#[tokio::test]
async fn cors_preflight_needs_token_by_default() {
    send(layer(), preflight()).await.assert_rejected(StatusCode::UNAUTHORIZED, BARE);
}

/// With `allow_cors_preflight(true)`, a preflight reaches the inner service without a token.
#[tokio::test]
async fn cors_preflight_passes_when_allowed() {
    send(layer().allow_cors_preflight(true), preflight()).await.assert_admitted("anonymous");
}

/// `allow_cors_preflight(true)` exempts only real preflights: a plain `OPTIONS` (or a `GET` with
/// `Access-Control-Request-Method`) still needs a token.
#[tokio::test]
async fn plain_options_still_needs_token_when_preflight_allowed() {
    let options = Request::builder().method(Method::OPTIONS).uri("/").body(Body::default()).unwrap();
    send(layer().allow_cors_preflight(true), options).await.assert_rejected(StatusCode::UNAUTHORIZED, BARE);
    let get = Request::get("/").header(ACCESS_CONTROL_REQUEST_METHOD, "GET").body(Body::default()).unwrap();
    send(layer().allow_cors_preflight(true), get).await.assert_rejected(StatusCode::UNAUTHORIZED, BARE);
}

/// A preflight needs an `Origin` (Fetch standard): an `OPTIONS` with
/// `Access-Control-Request-Method` but no `Origin` is no preflight, and never reaches a handler
/// that does real work without a token (security review #11, finding 6).
#[tokio::test]
async fn options_without_origin_is_no_preflight() {
    let no_origin = Request::builder()
        .method(Method::OPTIONS)
        .uri("/admin/purge")
        .header(ACCESS_CONTROL_REQUEST_METHOD, "DELETE")
        .body(Body::default())
        .unwrap();
    send(layer().allow_cors_preflight(true), no_origin).await.assert_rejected(StatusCode::UNAUTHORIZED, BARE);
}

/// RFC 6750 §5.3 (don't leak tokens): the `Authorization` header reaches the inner service
/// marked sensitive, so HPACK and `Debug` treat it as a secret.
#[tokio::test]
async fn authorization_header_reaches_inner_service_marked_sensitive() {
    let req = bearer(ALICE);
    assert!(!req.headers()[AUTHORIZATION].is_sensitive(), "precondition: not sensitive when sent");
    let reply = send(layer(), req).await;
    reply.assert_admitted("alice");
    assert_eq!(reply.headers["x-authorization-sensitive"], "true");
}

/// RFC 6750 §3: `realm` is a quoted-string this crate never escapes, so a realm that would need
/// escaping (`"` or `\`) is refused when the layer is configured.
#[test]
#[should_panic(expected = "the realm must be printable ASCII")]
fn realm_needing_escapes_is_refused() {
    let _ = BearerAuthLayer::new(MemoryTokenStore::new()).realm(r#"my "api""#);
}

/// RFC 6750 §3 / RFC 6749 §3.3: a required scope must be a `scope-token`, so the `scope`
/// attribute never needs escaping; one with a space is refused when the layer is configured.
#[test]
#[should_panic(expected = "is not a valid OAuth scope")]
fn required_scope_with_space_is_refused() {
    let _ = BearerAuthLayer::new(MemoryTokenStore::new()).require_scopes(["read write"]);
}
