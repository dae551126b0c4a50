//! RFC 6749 conformance of the client-credentials token endpoint: one test per rule of
//! §2.3.1 (client authentication), §3.2 (token endpoint), §4.4 (the grant) and §5
//! (responses), plus the crate's own promises (size limit, brute-force limit, tokens the
//! layer accepts until they expire).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore, Principal, TokenManager};
use tower_bearer_oauth::{
    ClientRegistry, MemoryClientRegistry, NewClient, TokenEndpoint, TokenEndpointBuilder,
};
use tower_bearer_test_support::at_once;

const ID: &str = "billing-sync";

struct Setup {
    endpoint: TokenEndpoint<MemoryClientRegistry, MemoryTokenStore>,
    store: MemoryTokenStore,
    clients: MemoryClientRegistry,
    secret: String,
}

fn setup() -> Setup {
    setup_with(|e| e)
}

fn setup_with(
    configure: impl FnOnce(
        TokenEndpointBuilder<MemoryClientRegistry, MemoryTokenStore>,
    ) -> TokenEndpointBuilder<MemoryClientRegistry, MemoryTokenStore>,
) -> Setup {
    let store = MemoryTokenStore::new();
    let clients = MemoryClientRegistry::new();
    let client = at_once(
        clients.register(
            NewClient::new("svc-billing")
                .client_id(ID)
                .allowed_scopes(["invoices:read", "invoices:write"])
                .access_token_ttl(Duration::from_secs(3600)),
        ),
    )
    .unwrap();
    let endpoint = configure(TokenEndpoint::builder(clients.clone(), store.clone()).realm("api")).build();
    Setup { endpoint, store, clients, secret: client.client_secret.expose_secret().to_owned() }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

fn form(body: &str, authorization: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::post("/oauth/token").header("content-type", "application/x-www-form-urlencoded");
    if let Some(auth) = authorization {
        req = req.header("authorization", auth);
    }
    req.body(Full::from(body.to_owned())).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

async fn send<B>(endpoint: &TokenEndpoint<MemoryClientRegistry, MemoryTokenStore>, req: Request<B>) -> Answer
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let res = endpoint.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {bytes:?}"));
    Answer { status: parts.status, headers: parts.headers, json }
}

fn assert_error(answer: &Answer, status: StatusCode, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["error"], error, "{}", answer.json);
    // §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    let description = answer.json["error_description"].as_str().unwrap();
    assert!(description.chars().all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')));
    assert_eq!(answer.json.as_object().unwrap().len(), 2, "only error and error_description");
    assert_no_store(answer);
}

fn assert_no_store(answer: &Answer) {
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.headers["pragma"], "no-cache");
    assert_eq!(answer.headers["content-type"], "application/json");
}

/// §4.4.2 + §4.4.3 + §5.1: a valid request gets an access token, its type, lifetime and
/// scope, and no refresh token.
#[tokio::test]
async fn s4_4_3_successful_response_has_token_type_expiry_and_scope_and_no_refresh_token() {
    let s = setup();
    let a = send(&s.endpoint, form("grant_type=client_credentials", Some(&basic(ID, &s.secret)))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_no_store(&a);
    let token = a.json["access_token"].as_str().unwrap();
    assert!(token.starts_with("tok_") && token.len() > 40);
    assert_eq!(a.json["token_type"], "bearer");
    assert_eq!(a.json["expires_in"], 3600);
    assert_eq!(a.json["scope"], "invoices:read invoices:write");
    assert!(a.json.get("refresh_token").is_none(), "§4.4.3: a refresh token SHOULD NOT be included");
    assert_eq!(a.json.as_object().unwrap().len(), 4);
}

/// §5.1: Cache-Control: no-store and Pragma: no-cache on every token response, errors too.
#[tokio::test]
async fn s5_1_every_response_is_uncacheable() {
    let s = setup();
    let ok = send(&s.endpoint, form("grant_type=client_credentials", Some(&basic(ID, &s.secret)))).await;
    assert_no_store(&ok);
    let err = send(&s.endpoint, form("grant_type=password", Some(&basic(ID, &s.secret)))).await;
    assert_no_store(&err);
}

/// §4.4.2: grant_type is REQUIRED.
#[tokio::test]
async fn s4_4_2_missing_grant_type_is_invalid_request() {
    let s = setup();
    let a = send(&s.endpoint, form("scope=invoices:read", Some(&basic(ID, &s.secret)))).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
}

/// §4.4.2 / §5.2: any grant type but client_credentials is unsupported_grant_type.
#[tokio::test]
async fn s5_2_other_grant_types_are_unsupported() {
    let s = setup();
    for grant in ["password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS"] {
        let a = send(&s.endpoint, form(&format!("grant_type={grant}"), Some(&basic(ID, &s.secret)))).await;
        assert_error(&a, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
}

/// §4.4.2 + §3.3: without `scope` the client gets its allowed scopes; a subset is granted
/// as asked.
#[tokio::test]
async fn s3_3_scope_is_optional_and_a_subset_is_granted() {
    let s = setup();
    let a = send(
        &s.endpoint,
        form("grant_type=client_credentials&scope=invoices%3Aread", Some(&basic(ID, &s.secret))),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["scope"], "invoices:read");
    let issued = s.store.list("svc-billing").await.unwrap();
    assert!(issued.iter().any(|t| t.principal.scopes().iter().collect::<Vec<_>>() == ["invoices:read"]));
}

/// §5.2: a scope beyond the client's is invalid_scope.
#[tokio::test]
async fn s5_2_scope_beyond_the_client_is_invalid_scope() {
    let s = setup();
    let a = send(
        &s.endpoint,
        form("grant_type=client_credentials&scope=invoices:read+admin", Some(&basic(ID, &s.secret))),
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "invalid_scope");
    assert!(s.store.list("svc-billing").await.unwrap().is_empty(), "nothing is issued");
}

/// §3.3: a malformed scope list is invalid_scope.
#[tokio::test]
async fn s3_3_malformed_scope_is_invalid_scope() {
    let s = setup();
    for scope in ["invoices:read++invoices:write", "a%22b", "a%5Cb", "%20"] {
        let a = send(
            &s.endpoint,
            form(&format!("grant_type=client_credentials&scope={scope}"), Some(&basic(ID, &s.secret))),
        )
        .await;
        assert_error(&a, StatusCode::BAD_REQUEST, "invalid_scope");
    }
}

/// §3.2: parameters sent without a value are treated as omitted.
#[tokio::test]
async fn s3_2_empty_parameters_are_omitted() {
    let s = setup();
    let a =
        send(&s.endpoint, form("grant_type=client_credentials&scope=", Some(&basic(ID, &s.secret)))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["scope"], "invoices:read invoices:write");
}

/// §3.2: parameters must not be repeated.
#[tokio::test]
async fn s3_2_repeated_parameters_are_invalid_request() {
    let s = setup();
    let a = send(
        &s.endpoint,
        form("grant_type=client_credentials&grant_type=client_credentials", Some(&basic(ID, &s.secret))),
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
}

/// §3.2: the client MUST use POST.
#[tokio::test]
async fn s3_2_other_methods_are_405() {
    let s = setup();
    let res = s
        .endpoint
        .clone()
        .oneshot(Request::get("/oauth/token").body(Full::<Bytes>::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "POST");
}

/// §4.4.2: the body is application/x-www-form-urlencoded.
#[tokio::test]
async fn s4_4_2_other_content_types_are_400() {
    let s = setup();
    let req = Request::post("/oauth/token")
        .header("content-type", "application/json")
        .header("authorization", basic(ID, &s.secret))
        .body(Full::from(r#"{"grant_type":"client_credentials"}"#))
        .unwrap();
    assert_error(&send(&s.endpoint, req).await, StatusCode::BAD_REQUEST, "invalid_request");
    let charset = Request::post("/oauth/token")
        .header("content-type", "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
        .header("authorization", basic(ID, &s.secret))
        .body(Full::from("grant_type=client_credentials"))
        .unwrap();
    assert_eq!(send(&s.endpoint, charset).await.status, StatusCode::OK, "parameters and case are allowed");
}

/// §2.3.1: HTTP Basic with the form-urlencoded id and secret.
#[tokio::test]
async fn s2_3_1_basic_credentials_are_form_urlencoded() {
    let store = MemoryTokenStore::new();
    let clients = MemoryClientRegistry::new();
    let client =
        at_once(clients.register(NewClient::new("svc").client_id("id with+special%chars:and colon")))
            .unwrap();
    let endpoint = TokenEndpoint::new(clients, store);
    let encoded_id = "id+with%2Bspecial%25chars%3Aand+colon";
    let auth = basic(encoded_id, client.client_secret.expose_secret());
    let a = send(&endpoint, form("grant_type=client_credentials", Some(&auth))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
}

/// §2.3.1 + §5.2: a wrong secret over Basic is 401 invalid_client with a Basic challenge.
#[tokio::test]
async fn s5_2_wrong_basic_secret_is_401_with_challenge() {
    let s = setup();
    let a = send(&s.endpoint, form("grant_type=client_credentials", Some(&basic(ID, "cs_wrong")))).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(a.json["error_description"], "Client authentication failed");
    assert_eq!(a.headers["www-authenticate"], r#"Basic realm="api", charset="UTF-8""#);
}

/// §5.2: an unknown client is answered exactly like a wrong secret.
#[tokio::test]
async fn s5_2_unknown_client_looks_like_a_wrong_secret() {
    let s = setup();
    let unknown = send(&s.endpoint, form("grant_type=client_credentials", Some(&basic("nobody", "x")))).await;
    let wrong = send(&s.endpoint, form("grant_type=client_credentials", Some(&basic(ID, "x")))).await;
    assert_eq!((unknown.status, &unknown.json), (wrong.status, &wrong.json));
    assert_eq!(unknown.headers["www-authenticate"], wrong.headers["www-authenticate"]);
}

/// §2.3.1: credentials in the body are allowed; failures there are 400 invalid_client.
#[tokio::test]
async fn s2_3_1_body_credentials() {
    let s = setup();
    let ok = send(
        &s.endpoint,
        form(&format!("grant_type=client_credentials&client_id={ID}&client_secret={}", s.secret), None),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let wrong = send(
        &s.endpoint,
        form(&format!("grant_type=client_credentials&client_id={ID}&client_secret=nope"), None),
    )
    .await;
    assert_error(&wrong, StatusCode::BAD_REQUEST, "invalid_client");
    assert!(wrong.headers.get("www-authenticate").is_none());
    let id_only =
        send(&s.endpoint, form(&format!("grant_type=client_credentials&client_id={ID}"), None)).await;
    assert_error(&id_only, StatusCode::BAD_REQUEST, "invalid_client");
}

/// §2.3: the client MUST NOT use more than one authentication method.
#[tokio::test]
async fn s2_3_two_authentication_methods_are_invalid_request() {
    let s = setup();
    let a = send(
        &s.endpoint,
        form(
            &format!("grant_type=client_credentials&client_id={ID}&client_secret={}", s.secret),
            Some(&basic(ID, &s.secret)),
        ),
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
}

/// §3.2.1: confidential clients MUST authenticate; no credentials is 401 with the challenge.
#[tokio::test]
async fn s3_2_1_missing_client_authentication_is_401() {
    let s = setup();
    let a = send(&s.endpoint, form("grant_type=client_credentials", None)).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(a.headers["www-authenticate"], r#"Basic realm="api", charset="UTF-8""#);
    let bearer = send(&s.endpoint, form("grant_type=client_credentials", Some("Bearer abc"))).await;
    assert_error(&bearer, StatusCode::UNAUTHORIZED, "invalid_client");
}

/// A body that would go on forever; records whether it was polled at all.
struct Endless(Arc<AtomicBool>);

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0.store(true, Ordering::SeqCst);
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![b'a'; 4096])))))
    }
}

/// The endpoint refuses an oversize body with 413 without reading it: not at all when the
/// length is declared, and no further than the limit when it is not.
#[tokio::test]
async fn oversize_bodies_are_413_without_reading_them() {
    let s = setup_with(|e| e.max_body_bytes(1024));
    let polled = Arc::new(AtomicBool::new(false));
    let declared = Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", "10000000")
        .body(Endless(polled.clone()))
        .unwrap();
    let a = send(&s.endpoint, declared).await;
    assert_error(&a, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    assert!(!polled.load(Ordering::SeqCst), "the declared-too-large body was never read");

    let streamed = Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Endless(polled.clone()))
        .unwrap();
    assert_error(&send(&s.endpoint, streamed).await, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
}

/// `req` as coming from `peer` (what a hyper server inserts for the default source).
fn from(peer: [u8; 4], mut req: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    req.extensions_mut().insert(std::net::SocketAddr::from((peer, 40_000)));
    req
}

/// Failed authentications are counted per source: past the limit its failing attempts get
/// 429 `slow_down` with Retry-After, until the window ends. A correct secret is never refused,
/// and a client id is no lever: before, three bad guesses by anyone locked the client out,
/// right secret included (security review #11, finding 3).
#[tokio::test]
async fn failed_authentications_are_limited_per_source_and_never_refuse_a_right_secret() {
    let clock = Clock::manual(SystemTime::now());
    let s = setup_with(|e| e.failure_limit(3, Duration::from_millis(1500)).clock(clock.clone()));
    let attacker = [203, 0, 113, 7];
    let guess = || from(attacker, form("grant_type=client_credentials", Some(&basic(ID, "guess"))));
    for _ in 0..3 {
        assert_eq!(send(&s.endpoint, guess()).await.status, StatusCode::UNAUTHORIZED);
    }
    let slowed = send(&s.endpoint, guess()).await;
    assert_error(&slowed, StatusCode::TOO_MANY_REQUESTS, "slow_down");
    assert_eq!(slowed.headers["retry-after"], "2");
    assert_no_store(&slowed);

    // The client itself, right secret, from anywhere (the attacker's address too): served.
    for peer in [[198, 51, 100, 1], attacker] {
        let right = from(peer, form("grant_type=client_credentials", Some(&basic(ID, &s.secret))));
        assert_eq!(send(&s.endpoint, right).await.status, StatusCode::OK);
    }
    // Another source's failures are its own.
    let other = from([198, 51, 100, 1], form("grant_type=client_credentials", Some(&basic(ID, "typo"))));
    assert_error(&send(&s.endpoint, other).await, StatusCode::UNAUTHORIZED, "invalid_client");

    // The window passes on the endpoint's clock.
    clock.advance(Duration::from_millis(1600));
    assert_eq!(send(&s.endpoint, guess()).await.status, StatusCode::UNAUTHORIZED);
}

/// A rotated client secret stops working; the new one works.
#[tokio::test]
async fn rotated_client_secrets() {
    let s = setup();
    let new = at_once(s.clients.rotate_secret(ID, Duration::ZERO)).unwrap().unwrap();
    let old = send(&s.endpoint, form("grant_type=client_credentials", Some(&basic(ID, &s.secret)))).await;
    assert_error(&old, StatusCode::UNAUTHORIZED, "invalid_client");
    let fresh = send(
        &s.endpoint,
        form("grant_type=client_credentials", Some(&basic(ID, new.client_secret.expose_secret()))),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK);
}

/// The issued token passes the layer with the granted scopes, and is 401 invalid_token once
/// it expires.
#[tokio::test]
async fn issued_tokens_work_until_they_expire() {
    let clock = Clock::manual(SystemTime::now());
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let clients = MemoryClientRegistry::new();
    let client = at_once(clients.register(
        NewClient::new("svc").allowed_scopes(["reports:read"]).access_token_ttl(Duration::from_secs(1)),
    ))
    .unwrap();
    let endpoint = TokenEndpoint::builder(clients, store.clone()).clock(clock.clone()).build();
    let a = send(
        &endpoint,
        form(
            "grant_type=client_credentials",
            Some(&basic(&client.client_id, client.client_secret.expose_secret())),
        ),
    )
    .await;
    assert_eq!(a.json["expires_in"], 1);
    let token = a.json["access_token"].as_str().unwrap().to_owned();

    let api = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(store).require_scopes(["reports:read"]).clock(clock.clone()))
        .service(service_fn(|req: Request<Full<Bytes>>| async move {
            let p = req.extensions().get::<Principal>().unwrap();
            let body =
                json!({"sub": p.subject(), "kind": p.token_kind(), "client": p.token_name()}).to_string();
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body)))
        }));
    let call = |token: String| {
        let api = api.clone();
        async move {
            let req = Request::get("/v1/reports").header("authorization", format!("Bearer {token}"));
            api.oneshot(req.body(Full::default()).unwrap()).await.unwrap()
        }
    };
    let ok = call(token.clone()).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body = ok.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({"sub": "svc", "kind": "oauth_access", "client": client.client_id}));

    // Its second passes on the endpoint's, the store's and the layer's clock.
    clock.advance(Duration::from_millis(1100));
    let expired = call(token).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the access token expired""#
    );
}

/// Out-of-range durations are cut, never a panic (security review #11, finding 5).
#[tokio::test]
async fn out_of_range_durations_do_not_panic() {
    let store = MemoryTokenStore::new();
    let clients = MemoryClientRegistry::new();
    let client = at_once(clients.register(NewClient::new("svc").access_token_ttl(Duration::MAX))).unwrap();
    let rotated =
        at_once(clients.rotate_secret(&client.client_id, Duration::MAX)).unwrap().expect("a known client");
    let endpoint = TokenEndpoint::new(clients, store);
    for secret in [client.client_secret.expose_secret(), rotated.client_secret.expose_secret()] {
        let a =
            send(&endpoint, form("grant_type=client_credentials", Some(&basic(&client.client_id, secret))))
                .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.json);
        assert_eq!(a.json["expires_in"], 100_u64 * 365 * 24 * 3600);
    }
}

/// The registry contract every registry passes (the SQL one too, in `tower-bearer-sqlx`).
#[tokio::test]
async fn the_memory_registry_passes_the_registry_contract() {
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let registry = MemoryClientRegistry::with_clock(clock.clone());
    tower_bearer_test_support::clients::contract(&registry, &clock).await;
}
