//! RFC 7662 (introspection), RFC 7009 (revocation), RFC 8707 (resource indicators) and the
//! metadata documents of RFC 8414 and RFC 9728: one test per rule, against the endpoints made
//! from one `TokenEndpoint`, with tokens the layer then accepts or refuses.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};
use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore, NewToken, Principal, TokenManager};
use tower_bearer_oauth::{
    AuthorizationServerMetadata, ClientRegistry, MemoryClientRegistry, NewClient, ProtectedResourceMetadata,
    TokenEndpoint,
};
use tower_bearer_test_support::{at_once, status};

const ISSUER: &str = "https://auth.example.com";
const API: &str = "https://api.example.com";

struct Server {
    token: TokenEndpoint<MemoryClientRegistry, MemoryTokenStore>,
    store: MemoryTokenStore,
    clock: Clock,
    /// `(id, secret)` of two clients.
    a: (String, String),
    b: (String, String),
}

fn server() -> Server {
    let clock = Clock::manual(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let clients = MemoryClientRegistry::new();
    let register = |id: &str| {
        let c = at_once(
            clients.register(
                NewClient::new(format!("svc-{id}"))
                    .client_id(id)
                    .allowed_scopes(["reports:read", "reports:write"])
                    .access_token_ttl(Duration::from_secs(600)),
            ),
        )
        .unwrap();
        (c.client_id, c.client_secret.expose_secret().to_owned())
    };
    let (a, b) = (register("client-a"), register("client-b"));
    let token = TokenEndpoint::builder(clients, store.clone())
        .issuer(ISSUER)
        .resources([API])
        .clock(clock.clone())
        .build();
    Server { token, store, clock, a, b }
}

fn basic((id, secret): &(String, String)) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

fn post(body: &str, client: Option<&(String, String)>) -> Request<Full<Bytes>> {
    let mut req = Request::post("/").header("content-type", "application/x-www-form-urlencoded");
    if let Some(client) = client {
        req = req.header("authorization", basic(client));
    }
    req.body(Full::from(body.to_owned())).unwrap()
}

async fn call<S>(service: S, req: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let res = service.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

fn json(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {bytes:?}"))
}

/// A token from the token endpoint for `client`, with `extra` form parameters.
async fn access_token(s: &Server, client: &(String, String), extra: &str) -> String {
    let (status, _, body) =
        call(s.token.clone(), post(&format!("grant_type=client_credentials{extra}"), Some(client))).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    json(&body)["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(s: &Server, token: &str, client: Option<&(String, String)>) -> (StatusCode, Value) {
    let (status, headers, body) =
        call(s.token.introspection(), post(&format!("token={token}"), client)).await;
    if status == StatusCode::OK {
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["content-type"], "application/json");
    }
    (status, json(&body))
}

/// RFC 7662 §2.2: an active token's answer has `active: true` and what the token is.
#[tokio::test]
async fn rfc7662_2_2_an_active_token_is_described() {
    let s = server();
    let token = access_token(&s, &s.a, "&scope=reports:read&resource=https%3A%2F%2Fapi.example.com").await;
    let (status, answer) = introspect(&s, &token, Some(&s.b)).await;
    assert_eq!(status, StatusCode::OK);
    let now = 1_800_000_000_u64;
    let jti = answer["jti"].as_str().unwrap().to_owned();
    assert!(jti.starts_with("tid_"));
    assert_eq!(
        answer,
        json!({
            "active": true, "scope": "reports:read", "client_id": "client-a", "sub": "svc-client-a",
            "token_type": "Bearer", "exp": now + 600, "iat": now, "jti": jti, "iss": ISSUER, "aud": API,
            "token_kind": "oauth_access",
        })
    );
}

/// RFC 9449 §6.2: a token bound to a key is described with `cnf.jkt`, and is of type `DPoP`
/// (§5); an unbound one has no `cnf`.
#[tokio::test]
async fn rfc9449_6_2_a_bound_token_is_described_with_its_key() {
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let s = server();
    let until = s.clock.now() + Duration::from_secs(600);
    let bound = NewToken::for_subject("ada").scopes(["reports:read"]).confirmation(JKT).expires_at(until);
    let bound = at_once(s.store.issue(bound)).unwrap();
    let (status, answer) = introspect(&s, bound.secret().expose_secret(), Some(&s.b)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&answer["cnf"], &answer["token_type"]), (&json!({ "jkt": JKT }), &json!("DPoP")));
    let plain = at_once(s.store.issue(NewToken::for_subject("ada").expires_at(until))).unwrap();
    let (_, answer) = introspect(&s, plain.secret().expose_secret(), Some(&s.b)).await;
    assert_eq!((answer.get("cnf"), &answer["token_type"]), (None, &json!("Bearer")));
}

/// RFC 7662 §2.2: unknown, revoked, expired and malformed tokens are all `{"active":false}`,
/// indistinguishable.
#[tokio::test]
async fn rfc7662_2_2_inactive_tokens_are_indistinguishable() {
    let s = server();
    let revoked = access_token(&s, &s.a, "").await;
    let expired = access_token(&s, &s.a, "").await;
    let id = at_once(s.store.list("svc-client-a")).unwrap()[0].id.clone();
    at_once(s.store.revoke(&id)).unwrap();
    s.clock.advance(Duration::from_secs(601));
    for token in
        [revoked.as_str(), expired.as_str(), "tok_unknown0000000000000000000000", "bad%20token", "%22"]
    {
        let (status, answer) = introspect(&s, token, Some(&s.a)).await;
        assert_eq!((status, answer), (StatusCode::OK, json!({ "active": false })), "{token}");
    }
}

/// RFC 7662 §2.1: the caller authenticates; §2.1 `token` is REQUIRED.
#[tokio::test]
async fn rfc7662_2_1_the_caller_authenticates_and_names_a_token() {
    let s = server();
    let token = access_token(&s, &s.a, "").await;
    let (status, answer) = introspect(&s, &token, None).await;
    assert_eq!((status, &answer["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid_client")));
    let wrong = (s.a.0.clone(), "cs_wrong".to_owned());
    assert_eq!(introspect(&s, &token, Some(&wrong)).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, body) =
        call(s.token.introspection(), post("token_type_hint=access_token", Some(&s.a))).await;
    assert_eq!((status, &json(&body)["error"]), (StatusCode::BAD_REQUEST, &json!("invalid_request")));
    let get = Request::get("/").body(Full::default()).unwrap();
    assert_eq!(call(s.token.introspection(), get).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

/// RFC 7662 §2.1: `token_type_hint` is a hint: an unknown hint changes nothing.
#[tokio::test]
async fn rfc7662_2_1_token_type_hint_is_only_a_hint() {
    let s = server();
    let token = access_token(&s, &s.a, "").await;
    for hint in ["access_token", "refresh_token", "something_else"] {
        let (_, _, body) =
            call(s.token.introspection(), post(&format!("token={token}&token_type_hint={hint}"), Some(&s.b)))
                .await;
        assert_eq!(json(&body)["active"], true, "{hint}");
    }
}

/// Tokens not minted by the endpoint (an API key of the store) are described too, without a
/// `client_id`; the organization is this crate's extension member.
#[tokio::test]
async fn rfc7662_other_tokens_of_the_store_are_described() {
    let s = server();
    let key =
        at_once(s.store.issue(NewToken::for_subject("ada").organization("acme").scopes(["reports:read"])))
            .unwrap();
    let (_, answer) = introspect(&s, key.secret().expose_secret(), Some(&s.a)).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["organization"], "acme");
    assert_eq!(answer["sub"], "ada");
    assert!(answer.get("client_id").is_none() && answer.get("exp").is_none());
}

async fn revoke(s: &Server, body: &str, client: &(String, String)) -> (StatusCode, Bytes) {
    let (status, headers, body) = call(s.token.revocation(), post(body, Some(client))).await;
    assert_eq!(headers["cache-control"], "no-store");
    (status, body)
}

/// RFC 7009 §2.1 / §2.2: a client revokes its token; 200, and the layer refuses it at once.
#[tokio::test]
async fn rfc7009_2_2_a_revoked_token_is_refused_at_once() {
    let s = server();
    let token = access_token(&s, &s.a, "").await;
    let layer = BearerAuthLayer::new(s.store.clone()).clock(s.clock.clone());
    assert_eq!(status(&layer, &token).await, StatusCode::OK);
    assert_eq!(
        revoke(&s, &format!("token={token}&token_type_hint=access_token"), &s.a).await,
        (StatusCode::OK, Bytes::new())
    );
    assert_eq!(status(&layer, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&s, &token, Some(&s.a)).await.1, json!({ "active": false }));
}

/// RFC 7009 §2.2: invalid tokens (unknown, already revoked, malformed) do not cause an error.
#[tokio::test]
async fn rfc7009_2_2_unknown_tokens_are_answered_200() {
    let s = server();
    let token = access_token(&s, &s.a, "").await;
    for _ in 0..2 {
        assert_eq!(revoke(&s, &format!("token={token}"), &s.a).await.0, StatusCode::OK);
    }
    for token in ["tok_unknown0000000000000000000000", "bad%20token"] {
        assert_eq!(revoke(&s, &format!("token={token}"), &s.a).await.0, StatusCode::OK);
    }
}

/// RFC 7009 §2.1: the server verifies that the token was issued to the requesting client.
#[tokio::test]
async fn rfc7009_2_1_a_client_revokes_only_its_own_tokens() {
    let s = server();
    let token = access_token(&s, &s.a, "").await;
    let (status, body) = revoke(&s, &format!("token={token}"), &s.b).await;
    assert_eq!((status, &json(&body)["error"]), (StatusCode::BAD_REQUEST, &json!("unauthorized_client")));
    let key = at_once(s.store.issue(NewToken::for_subject("svc-client-a"))).unwrap();
    assert_eq!(
        revoke(&s, &format!("token={}", key.secret().expose_secret()), &s.a).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(introspect(&s, &token, Some(&s.a)).await.1["active"], true, "nothing was revoked");
}

/// RFC 7009 §2.1: `token` is REQUIRED, and the client authenticates.
#[tokio::test]
async fn rfc7009_2_1_token_is_required_and_the_client_authenticates() {
    let s = server();
    assert_eq!(revoke(&s, "token_type_hint=access_token", &s.a).await.0, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(s.token.revocation(), post("token=x", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// RFC 8707 §2: a `resource` becomes the token's audience; one the server does not serve is
/// `invalid_target`; the layer of that resource accepts the token, another refuses it.
#[tokio::test]
async fn rfc8707_2_the_resource_becomes_the_audience() {
    let s = server();
    let token = access_token(&s, &s.a, "&resource=https%3A%2F%2Fapi.example.com").await;
    let for_api = BearerAuthLayer::new(s.store.clone()).clock(s.clock.clone()).audience(API);
    let for_other =
        BearerAuthLayer::new(s.store.clone()).clock(s.clock.clone()).audience("https://other.example.com");
    assert_eq!(status(&for_api, &token).await, StatusCode::OK);
    assert_eq!(status(&for_other, &token).await, StatusCode::UNAUTHORIZED);
    for resource in
        ["https%3A%2F%2Fother.example.com", "relative%2Fpath", "https%3A%2F%2Fapi.example.com%23frag"]
    {
        let (status, _, body) = call(
            s.token.clone(),
            post(&format!("grant_type=client_credentials&resource={resource}"), Some(&s.a)),
        )
        .await;
        assert_eq!(
            (status, &json(&body)["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_target")),
            "{resource}"
        );
    }
}

/// RFC 8414 §2 / §3: the authorization server's metadata, at its well-known path.
#[tokio::test]
async fn rfc8414_the_metadata_names_the_endpoints() {
    let metadata = AuthorizationServerMetadata::new(ISSUER)
        .token_endpoint(format!("{ISSUER}/oauth/token"))
        .introspection_endpoint(format!("{ISSUER}/oauth/introspect"))
        .revocation_endpoint(format!("{ISSUER}/oauth/revoke"))
        .scopes_supported(["reports:read"]);
    let app: axum::Router = axum::Router::new().route_service(AuthorizationServerMetadata::PATH, metadata);
    let req =
        Request::get("/.well-known/oauth-authorization-server").body(axum::body::Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(doc["introspection_endpoint"], format!("{ISSUER}/oauth/introspect"));
    assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/oauth/revoke"));
    assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(doc["response_types_supported"], json!([]));
    let post = Request::builder().method(Method::POST).uri(AuthorizationServerMetadata::PATH);
    let res = app.oneshot(post.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// RFC 9728 §2 / §3 / §5.1: the resource's metadata, and the layer's challenge pointing to it.
#[tokio::test]
async fn rfc9728_the_resource_metadata_and_the_challenge_that_points_to_it() {
    let store = MemoryTokenStore::new();
    let metadata_url = format!("{API}{}", ProtectedResourceMetadata::PATH);
    let app: axum::Router = axum::Router::new()
        .route("/v1/reports", axum::routing::get(|p: Principal| async move { p.subject().to_owned() }))
        .route_layer(BearerAuthLayer::new(store).audience(API).resource_metadata(metadata_url.clone()))
        .route_service(
            ProtectedResourceMetadata::PATH,
            ProtectedResourceMetadata::new(API)
                .authorization_servers([ISSUER])
                .scopes_supported(["reports:read"]),
        );
    let res = app
        .clone()
        .oneshot(Request::get("/v1/reports").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], format!("Bearer resource_metadata=\"{metadata_url}\""));
    let req = Request::get(ProtectedResourceMetadata::PATH).body(axum::body::Body::empty()).unwrap();
    let doc: Value = serde_json::from_slice(
        &app.oneshot(req).await.unwrap().into_body().collect().await.unwrap().to_bytes(),
    )
    .unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": API, "authorization_servers": [ISSUER], "scopes_supported": ["reports:read"],
            "bearer_methods_supported": ["header"],
        })
    );
}
