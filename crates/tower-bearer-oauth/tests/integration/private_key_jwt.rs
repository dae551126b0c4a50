//! `private_key_jwt` (RFC 7523 §2.2 and §3, RFC 7521 §4.2): clients that authenticate with a
//! JWT signed with their private key, at the token, introspection and revocation endpoints
//! served over real HTTP, the assertions signed by an independent implementation
//! (`jsonwebtoken`). One test per rule of RFC 7523 §3: a valid assertion with one thing
//! changed is refused (401 `invalid_client`), and the same assertion without the change is
//! then accepted. Keys given inline, and at a `jwks_uri` served by a local HTTP server; the
//! SQL registry keeping them; the metadata document announcing the method.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore};
use tower_bearer_oauth::{
    AuthorizationServerMetadata, ClientKeys, ClientRegistry, MemoryClientRegistry, NewClient, TokenEndpoint,
    TokenEndpointBuilder,
};
use tower_bearer_test_support::{serve, status};

use crate::jwks::{K1, K1_X, K2, K2_X, jwk, jwks_server};

const ISSUER: &str = "https://auth.example.com";
const TOKEN_URL: &str = "https://auth.example.com/oauth/token";
const INTROSPECTION_URL: &str = "https://auth.example.com/oauth/introspect";
const REVOCATION_URL: &str = "https://auth.example.com/oauth/revoke";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

const RSA: &str = include_str!("../fixtures/rsa-k1.pem");
const RSA_JWK: &str = include_str!("../fixtures/rsa-k1.pub.jwk.json");

/// `billing` has k1 (inline, no secret); `reporting` has k2 (inline, no secret).
const BILLING: &str = "billing";
const REPORTING: &str = "reporting";

fn jwks(keys: &[Value]) -> ClientKeys {
    ClientKeys::jwks(&json!({ "keys": keys })).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A `jti` no other assertion of this process has.
fn fresh_jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The claims of a valid assertion of `client` for the issuer: RFC 7523 §3's.
fn claims(client: &str) -> Value {
    claims_at(client, now())
}

/// [`claims`] for an endpoint whose clock says `now`.
fn claims_at(client: &str, now: u64) -> Value {
    json!({ "iss": client, "sub": client, "aud": ISSUER, "exp": now + 60, "iat": now, "jti": fresh_jti() })
}

fn sign_with(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn ed25519(pem: &str) -> EncodingKey {
    EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()
}

/// `claims` signed with k1 (billing's key).
fn k1(claims: &Value) -> String {
    sign_with(Algorithm::EdDSA, "k1", &ed25519(K1), claims)
}

/// `claims` signed with k2 (reporting's key).
fn k2(claims: &Value) -> String {
    sign_with(Algorithm::EdDSA, "k2", &ed25519(K2), claims)
}

type Endpoint = TokenEndpointBuilder<MemoryClientRegistry, MemoryTokenStore>;

/// The endpoints over a registry of `billing` and `reporting`, with the issuer and the
/// endpoints' URLs, a failure limit no test reaches, and the given settings.
async fn server(configure: impl FnOnce(Endpoint) -> Endpoint) -> Server {
    let clients = MemoryClientRegistry::new();
    for (id, keys) in [(BILLING, jwk("k1", K1_X)), (REPORTING, jwk("k2", K2_X))] {
        let new = NewClient::new(format!("svc-{id}"))
            .client_id(id)
            .allowed_scopes(["reports:read"])
            .public_keys(jwks(&[keys]));
        assert_eq!(clients.register_without_secret(new).await.unwrap(), id);
    }
    let store = MemoryTokenStore::new();
    serve_endpoints(clients, store, configure).await
}

async fn serve_endpoints<R: ClientRegistry + Clone>(
    clients: R,
    store: MemoryTokenStore,
    configure: impl FnOnce(TokenEndpointBuilder<R, MemoryTokenStore>) -> TokenEndpointBuilder<R, MemoryTokenStore>,
) -> Server<R> {
    let builder = TokenEndpoint::builder(clients.clone(), store.clone())
        .issuer(ISSUER)
        .token_endpoint_url(TOKEN_URL)
        .introspection_endpoint_url(INTROSPECTION_URL)
        .revocation_endpoint_url(REVOCATION_URL)
        .failure_limit(1000, Duration::from_secs(60));
    let token = configure(builder).build();
    let app = axum::Router::new()
        .route_service("/oauth/introspect", token.introspection())
        .route_service("/oauth/revoke", token.revocation())
        .route_service("/oauth/token", token);
    let (addr, task) = serve(app).await;
    Server { base: format!("http://{addr}"), clients, store, task }
}

/// The three endpoints on a loopback port, over a registry of `R`.
struct Server<R = MemoryClientRegistry> {
    base: String,
    clients: R,
    store: MemoryTokenStore,
    task: tokio::task::JoinHandle<()>,
}

impl<R> Drop for Server<R> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An answer: status, headers, body as JSON (`null` for an empty body).
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs the form `body` to `url`, with an `Authorization` header if given.
async fn post(url: &str, body: &str, authorization: Option<&str>) -> Answer {
    let mut req = Request::post(url).header("content-type", "application/x-www-form-urlencoded");
    if let Some(auth) = authorization {
        req = req.header("authorization", auth);
    }
    let res = http_client().request(req.body(Full::from(body.to_owned())).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {bytes:?}"))
    };
    Answer { status: parts.status, headers: parts.headers, json }
}

/// The form parameters of a client assertion.
fn assertion_params(assertion: &str) -> String {
    let kind: String = form_urlencoded::byte_serialize(JWT_BEARER.as_bytes()).collect();
    format!("client_assertion_type={kind}&client_assertion={assertion}")
}

/// A client-credentials request to the token endpoint of `base`, authenticated by `assertion`.
async fn token(base: &str, assertion: &str) -> Answer {
    let body = format!("grant_type=client_credentials&{}", assertion_params(assertion));
    post(&format!("{base}/oauth/token"), &body, None).await
}

fn assert_invalid_client(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
    assert_eq!(
        answer.json,
        json!({ "error": "invalid_client", "error_description": "Client authentication failed" }),
        "the same fixed answer whatever the reason"
    );
    assert_eq!(answer.headers["cache-control"], "no-store");
}

fn assert_token(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["token_type"], "bearer");
    answer.json["access_token"].as_str().unwrap().to_owned()
}

/// `change` applied to a valid assertion of billing's makes it refused at the token
/// endpoint; the assertion without it is then accepted. `sign` signs the claims, `extra` goes
/// into the form.
async fn refused_alone(change: impl FnOnce(&mut Value), sign: fn(&Value) -> String, extra: &str) {
    let s = server(|e| e).await;
    let mut changed = claims(BILLING);
    change(&mut changed);
    let body =
        |assertion: &str| format!("grant_type=client_credentials&{extra}{}", assertion_params(assertion));
    let url = format!("{}/oauth/token", s.base);
    assert_invalid_client(&post(&url, &body(&sign(&changed)), None).await);
    assert_token(&post(&url, &body(&k1(&claims(BILLING))), None).await);
}

// ---- RFC 7523 §3, one rule at a time ----

/// §3 (1): `iss` must be the client's id.
#[tokio::test]
async fn an_assertion_issued_by_another_is_refused() {
    refused_alone(|c| c["iss"] = json!(REPORTING), k1, "").await;
}

/// §3 (2): `sub` must be the client's id (the client named by `client_id` here, whose key
/// signed it).
#[tokio::test]
async fn an_assertion_about_another_subject_is_refused() {
    refused_alone(|c| c["sub"] = json!(REPORTING), k1, "client_id=billing&").await;
}

/// §3 (3): `aud` must name this authorization server.
#[tokio::test]
async fn an_assertion_for_another_audience_is_refused() {
    refused_alone(|c| c["aud"] = json!("https://elsewhere.example.com"), k1, "").await;
}

/// §3 (4): an expired assertion is refused.
#[tokio::test]
async fn an_expired_assertion_is_refused() {
    refused_alone(|c| c["exp"] = json!(now() - 120), k1, "").await;
}

/// §3 (4): `exp` is required.
#[tokio::test]
async fn an_assertion_without_exp_is_refused() {
    refused_alone(
        |c| {
            c.as_object_mut().unwrap().remove("exp");
        },
        k1,
        "",
    )
    .await;
}

/// §3 (4) and the crate's limit: an assertion valid for longer than five minutes is refused.
#[tokio::test]
async fn an_assertion_expiring_too_far_ahead_is_refused() {
    refused_alone(|c| c["exp"] = json!(now() + 3600), k1, "").await;
}

/// §3 (5): not before a time still to come.
#[tokio::test]
async fn an_assertion_not_yet_valid_is_refused() {
    refused_alone(|c| c["nbf"] = json!(now() + 600), k1, "").await;
}

/// §3 (6): issued in the future.
#[tokio::test]
async fn an_assertion_issued_in_the_future_is_refused() {
    refused_alone(|c| c["iat"] = json!(now() + 600), k1, "").await;
}

/// §3 (7): `jti` is required, so that a replay can be told.
#[tokio::test]
async fn an_assertion_without_jti_is_refused() {
    refused_alone(
        |c| {
            c.as_object_mut().unwrap().remove("jti");
        },
        k1,
        "",
    )
    .await;
}

/// §3 (9): the signature must verify: made by another key under the client's `kid`.
#[tokio::test]
async fn an_assertion_with_a_bad_signature_is_refused() {
    refused_alone(|_| {}, |c| sign_with(Algorithm::EdDSA, "k1", &ed25519(K2), c), "").await;
}

/// §3 (9): the payload changed after signing.
#[tokio::test]
async fn a_tampered_assertion_is_refused() {
    fn tampered(claims: &Value) -> String {
        let signed = k1(claims);
        let (header, rest) = signed.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let mut changed = claims.clone();
        changed["aud"] = json!([ISSUER, "https://elsewhere.example.com"]);
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(changed.to_string());
        format!("{header}.{payload}.{signature}")
    }
    refused_alone(|_| {}, tampered, "").await;
}

/// HS256 is never accepted: here "signed" with the client's public key as the HMAC secret,
/// the algorithm-confusion forgery.
#[tokio::test]
async fn an_hs256_assertion_is_refused() {
    fn hs256(claims: &Value) -> String {
        let public = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(K1_X).unwrap();
        sign_with(Algorithm::HS256, "k1", &EncodingKey::from_secret(&public).unwrap(), claims)
    }
    refused_alone(|_| {}, hs256, "").await;
}

/// Signed by a registered key, but another client's: each client's keys are its own.
#[tokio::test]
async fn an_assertion_signed_with_another_clients_key_is_refused() {
    refused_alone(|_| {}, k2, "").await;
    // The same key does authenticate its own client.
    let s = server(|e| e).await;
    assert_token(&token(&s.base, &k2(&claims(REPORTING))).await);
}

/// RFC 7515 makes `kid` optional: a client with one key may leave it out, and its key then
/// checks the assertion (another key's signature is refused as before).
#[tokio::test]
async fn an_assertion_without_a_kid_is_checked_with_the_clients_one_key() {
    let without_kid = |pem: &str, claims: &Value| {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &ed25519(pem)).unwrap()
    };
    let s = server(|e| e).await;
    assert_token(&token(&s.base, &without_kid(K1, &claims(BILLING))).await);
    assert_invalid_client(&token(&s.base, &without_kid(K2, &claims(BILLING))).await);

    // A client whose registered key has no `kid` either.
    let mut anonymous = jwk("unused", K1_X);
    anonymous.as_object_mut().unwrap().remove("kid");
    let clients = MemoryClientRegistry::new();
    let new = NewClient::new("svc-anon")
        .client_id("anon")
        .allowed_scopes(["reports:read"])
        .public_keys(jwks(&[anonymous]));
    clients.register_without_secret(new).await.unwrap();
    let s = serve_endpoints(clients, MemoryTokenStore::new(), |e| e).await;
    assert_token(&token(&s.base, &without_kid(K1, &claims("anon"))).await);
}

/// §3 (7): the same assertion is accepted once, at whichever endpoint.
#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let s = server(|e| e).await;
    let assertion = k1(&claims(BILLING));
    assert_token(&token(&s.base, &assertion).await);
    assert_invalid_client(&token(&s.base, &assertion).await);
    let introspect = format!("token=x&{}", assertion_params(&assertion));
    assert_invalid_client(&post(&format!("{}/oauth/introspect", s.base), &introspect, None).await);
    // A new jti, the rest the same: accepted.
    assert_token(&token(&s.base, &k1(&claims(BILLING))).await);
}

/// A fleet shares one replay cache: an assertion used on one instance is refused on another.
#[tokio::test]
async fn instances_sharing_a_replay_cache_accept_an_assertion_once() {
    let shared = Arc::new(MemoryTokenStore::new());
    let (a, b) =
        (server(|e| e.replay_cache(shared.clone())).await, server(|e| e.replay_cache(shared.clone())).await);
    let assertion = k1(&claims(BILLING));
    assert_token(&token(&a.base, &assertion).await);
    assert_invalid_client(&token(&b.base, &assertion).await);
    // Refused as a replay, not for being at the other instance: a fresh one is taken there.
    assert_token(&token(&b.base, &k1(&claims(BILLING))).await);
}

/// `client_id`, when sent, must be the client the assertion is of (here `twin`, which has
/// billing's key: the signature verifies, `iss` and `sub` do not name it).
#[tokio::test]
async fn a_client_id_other_than_the_assertions_is_refused() {
    let s = server(|e| e).await;
    let twin = NewClient::new("svc-twin").client_id("twin").public_keys(jwks(&[jwk("k1", K1_X)]));
    s.clients.register_without_secret(twin).await.unwrap();
    let url = format!("{}/oauth/token", s.base);
    let body = |id: &str, assertion: &str| {
        format!("grant_type=client_credentials&client_id={id}&{}", assertion_params(assertion))
    };
    assert_invalid_client(&post(&url, &body("twin", &k1(&claims(BILLING))), None).await);
    assert_token(&post(&url, &body(BILLING, &k1(&claims(BILLING))), None).await);
    assert_token(&post(&url, &body("twin", &k1(&claims("twin"))), None).await);
}

/// `aud` may name the endpoint's own URL instead of the issuer, but not another endpoint's.
#[tokio::test]
async fn the_audience_may_be_the_endpoints_url() {
    let s = server(|e| e).await;
    let with_aud = |aud: &str| {
        let mut c = claims(BILLING);
        c["aud"] = json!(aud);
        k1(&c)
    };
    assert_token(&token(&s.base, &with_aud(TOKEN_URL)).await);
    assert_invalid_client(&token(&s.base, &with_aud(INTROSPECTION_URL)).await);
    let mut both = claims(BILLING);
    both["aud"] = json!(["https://elsewhere.example.com", TOKEN_URL]);
    assert_token(&token(&s.base, &k1(&both)).await);

    let access = assert_token(&token(&s.base, &k1(&claims(BILLING))).await);
    let introspect = |assertion: String| format!("token={access}&{}", assertion_params(&assertion));
    let at = format!("{}/oauth/introspect", s.base);
    assert_eq!(post(&at, &introspect(with_aud(INTROSPECTION_URL)), None).await.json["active"], true);
    assert_invalid_client(&post(&at, &introspect(with_aud(TOKEN_URL)), None).await);
    let revoke = format!("token={access}&{}", assertion_params(&with_aud(REVOCATION_URL)));
    assert_eq!(post(&format!("{}/oauth/revoke", s.base), &revoke, None).await.status, StatusCode::OK);
}

/// Without an issuer or an endpoint URL, no audience is accepted.
#[tokio::test]
async fn without_an_issuer_or_url_no_assertion_is_accepted() {
    let clients = MemoryClientRegistry::new();
    let new = NewClient::new("svc").client_id(BILLING).public_keys(jwks(&[jwk("k1", K1_X)]));
    clients.register_without_secret(new).await.unwrap();
    let token_endpoint = TokenEndpoint::new(clients, MemoryTokenStore::new());
    let (addr, task) = serve(axum::Router::new().route_service("/oauth/token", token_endpoint)).await;
    assert_invalid_client(&token(&format!("http://{addr}"), &k1(&claims(BILLING))).await);
    task.abort();
}

// ---- client authentication methods ----

/// RFC 6749 §2.3: one method per request; an assertion with a secret, by either means, is
/// refused before anything is checked.
#[tokio::test]
async fn two_authentication_methods_are_refused() {
    let s = server(|e| e).await;
    let url = format!("{}/oauth/token", s.base);
    let body = format!("grant_type=client_credentials&{}", assertion_params(&k1(&claims(BILLING))));
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("billing:cs_x"));
    let with_secret = format!("{body}&client_secret=cs_x");
    for answer in [post(&url, &body, Some(&basic)).await, post(&url, &with_secret, None).await] {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.json);
        assert_eq!(answer.json["error"], "invalid_request");
    }
}

/// An assertion of another type, or half of the two parameters: refused.
#[tokio::test]
async fn only_jwt_bearer_assertions_are_taken() {
    let s = server(|e| e).await;
    let url = format!("{}/oauth/token", s.base);
    let assertion = k1(&claims(BILLING));
    for body in [
        format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aexample%3Asaml&client_assertion={assertion}"
        ),
        format!("grant_type=client_credentials&client_assertion={assertion}"),
        format!(
            "grant_type=client_credentials&client_assertion_type={}",
            "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        ),
    ] {
        assert_invalid_client(&post(&url, &body, None).await);
    }
    assert_token(&token(&s.base, &assertion).await);
}

/// A client registered with keys alone has no secret to send; one with both may use either.
#[tokio::test]
async fn a_secret_is_accepted_only_from_a_client_that_has_one() {
    let s = server(|e| e).await;
    let url = format!("{}/oauth/token", s.base);
    let basic = |id: &str, secret: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
    };
    for secret in ["", "cs_anything", "k1"] {
        let answer = post(&url, "grant_type=client_credentials", Some(&basic(BILLING, secret))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{secret}");
    }
    let body = "grant_type=client_credentials&client_id=billing&client_secret=cs_anything";
    assert_eq!(post(&url, body, None).await.json["error"], "invalid_client");

    let both = s
        .clients
        .register(NewClient::new("svc-both").client_id("both").public_keys(jwks(&[jwk("k1", K1_X)])))
        .await
        .unwrap();
    let secret = both.client_secret.expose_secret();
    assert_token(&post(&url, "grant_type=client_credentials", Some(&basic("both", secret))).await);
    assert_token(&token(&s.base, &k1(&claims("both"))).await);
}

/// Anything in `client_assertion`: an answer, never a panic, and never a token.
#[tokio::test]
async fn malformed_assertions_are_refused_without_a_panic() {
    let s = server(|e| e).await;
    let valid = k1(&claims(BILLING));
    let (header, _) = valid.split_once('.').unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let garbage = [
        "x".to_owned(),
        "..".to_owned(),
        "a.b.c".to_owned(),
        format!("{header}.{}.", b64(r#"{"sub":"billing"}"#)),
        format!("{header}.{}.AAAA", b64(r#"{"sub":"billing"}"#)),
        format!("{}.{}.AAAA", b64(r#"{"alg":"none","kid":"k1"}"#), b64(r#"{"sub":"billing"}"#)),
        format!("{}.{}.AAAA", b64(r#"{"alg":"EdDSA"}"#), b64(r#"{"sub":"billing"}"#)),
        format!("{}.{}.AAAA", b64(r#"{"alg":"EdDSA","kid":"k1","crit":["x"]}"#), b64(r#"{"sub":"billing"}"#)),
        format!("{}.{}.AAAA", b64(r#"{"alg":"EdDSA","kid":"k1"}"#), b64(r#"{"sub":7}"#)),
        format!("{}.{}.AAAA", b64("[]"), b64("null")),
        format!("{valid}.extra"),
        "%FF%FE.%00.%01".to_owned(),
        "a".repeat(12_000),
    ];
    for assertion in garbage {
        assert_invalid_client(&token(&s.base, &assertion).await);
    }
}

// ---- success at every endpoint ----

/// The whole cycle with assertions only: a token, introspected, revoked, introspected again.
async fn token_introspect_revoke(base: &str, client: &str, sign: impl Fn(&Value) -> String) {
    let access = assert_token(&token(base, &sign(&claims(client))).await);
    let introspect = |assertion: String| format!("token={access}&{}", assertion_params(&assertion));
    let at = format!("{base}/oauth/introspect");
    let answer = post(&at, &introspect(sign(&claims(client))), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!((&answer.json["active"], &answer.json["client_id"]), (&json!(true), &json!(client)));

    let revoke = format!("token={access}&{}", assertion_params(&sign(&claims(client))));
    let answer = post(&format!("{base}/oauth/revoke"), &revoke, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(post(&at, &introspect(sign(&claims(client))), None).await.json, json!({ "active": false }));
}

#[tokio::test]
async fn a_client_with_inline_keys_uses_all_three_endpoints() {
    let s = server(|e| e).await;
    token_introspect_revoke(&s.base, BILLING, k1).await;
    // The token endpoint minted into the store the layer checks.
    let access = assert_token(&token(&s.base, &k1(&claims(BILLING))).await);
    let layer = BearerAuthLayer::new(s.store.clone()).require_scopes(["reports:read"]);
    assert_eq!(status(&layer, &access).await, StatusCode::OK);
}

/// RS256 and PS256 with an RSA key; ES256 and EdDSA are the workspace's verifier's too.
#[tokio::test]
async fn rsa_keys_sign_with_rs256_and_ps256() {
    let s = server(|e| e).await;
    let jwk: Value = serde_json::from_str(RSA_JWK).unwrap();
    let new = NewClient::new("svc-rsa").client_id("rsa").public_keys(jwks(&[jwk]));
    s.clients.register_without_secret(new).await.unwrap();
    let rsa = EncodingKey::from_rsa_pem(RSA.as_bytes()).unwrap();
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        assert_token(&token(&s.base, &sign_with(alg, "r1", &rsa, &claims("rsa"))).await);
    }
    // Not allowed once the endpoint is told to take EdDSA only.
    let s = server(|e| e.client_assertion_algorithms([tower_bearer_oauth::Algorithm::EdDSA])).await;
    let jwk: Value = serde_json::from_str(RSA_JWK).unwrap();
    let new = NewClient::new("svc-rsa").client_id("rsa").public_keys(jwks(&[jwk]));
    s.clients.register_without_secret(new).await.unwrap();
    assert_invalid_client(&token(&s.base, &sign_with(Algorithm::RS256, "r1", &rsa, &claims("rsa"))).await);
}

#[tokio::test]
async fn a_client_with_a_jwks_uri_uses_all_three_endpoints() {
    let published = jwks_server(vec![jwk("k1", K1_X)]).await;
    let clock = Clock::manual(SystemTime::now());
    let s = server(|e| e.clock(clock.clone())).await;
    let keys = ClientKeys::jwks_uri(&published.url).unwrap();
    let new = NewClient::new("svc-remote").client_id("remote").public_keys(keys);
    s.clients.register_without_secret(new).await.unwrap();
    token_introspect_revoke(&s.base, "remote", k1).await;
    assert_eq!(published.fetches.load(Ordering::SeqCst), 1, "fetched once, then kept");

    // The client rotates: its new key is fetched when an assertion names it (once the last
    // fetch is a minute old).
    *published.set.lock().unwrap() = json!({ "keys": [jwk("k1", K1_X), jwk("k2", K2_X)] });
    clock.advance(Duration::from_secs(61));
    let at = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_token(&token(&s.base, &k2(&claims_at("remote", at))).await);
    assert_eq!(published.fetches.load(Ordering::SeqCst), 2);
    // A kid it does not publish: refused, and no fetch within the refetch interval.
    let other = sign_with(Algorithm::EdDSA, "k3", &ed25519(K2), &claims_at("remote", at));
    assert_invalid_client(&token(&s.base, &other).await);
    assert_eq!(published.fetches.load(Ordering::SeqCst), 2);
}

/// Keys that cannot be fetched: 503, the assertion neither accepted nor counted as invalid.
#[tokio::test]
async fn a_jwks_uri_that_fails_is_answered_503() {
    let published = jwks_server(vec![jwk("k1", K1_X)]).await;
    *published.down.lock().unwrap() = true;
    let s = server(|e| e).await;
    let keys = ClientKeys::jwks_uri(&published.url).unwrap();
    let new = NewClient::new("svc-remote").client_id("remote").public_keys(keys);
    s.clients.register_without_secret(new).await.unwrap();
    let answer = token(&s.base, &k1(&claims("remote"))).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.json);
    assert_eq!(answer.json["error"], "temporarily_unavailable");
}

#[test]
fn client_keys_refuse_what_is_not_a_public_key_set() {
    for bad in [
        json!({}),
        json!({ "keys": [] }),
        json!({ "keys": [{ "kty": "oct", "alg": "HS256", "k": "c2VjcmV0", "kid": "s" }] }),
        json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": K1_X, "d": K1_X, "kid": "k1" }] }),
        json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": K1_X, "kid": "" }] }),
        json!({ "keys": [jwk("k1", K1_X), jwk("k1", K2_X)] }),
    ] {
        let error = ClientKeys::jwks(&bad).unwrap_err();
        assert!(!error.to_string().contains(K1_X), "{error}");
    }
    for bad in ["", "jwks.json", "/jwks.json", "ftp://example.com/jwks", "https://"] {
        assert!(ClientKeys::jwks_uri(bad).is_err(), "{bad}");
    }
    let keys = ClientKeys::jwks_uri("https://client.example.com/jwks.json").unwrap();
    assert_eq!(keys.uri(), Some("https://client.example.com/jwks.json"));
    assert_eq!(format!("{keys:?}"), r#"ClientKeys("https://client.example.com/jwks.json")"#);
}

// ---- metadata ----

#[tokio::test]
async fn the_metadata_announces_private_key_jwt_at_each_endpoint() {
    let metadata = AuthorizationServerMetadata::new(ISSUER)
        .token_endpoint(TOKEN_URL)
        .private_key_jwt()
        .introspection_endpoint(INTROSPECTION_URL)
        .revocation_endpoint(REVOCATION_URL);
    let (addr, task) =
        serve(axum::Router::new().route_service(AuthorizationServerMetadata::PATH, metadata)).await;
    let res = http_client()
        .get(format!("http://{addr}{}", AuthorizationServerMetadata::PATH).parse().unwrap())
        .await
        .unwrap();
    let document: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    for endpoint in ["token", "introspection", "revocation"] {
        assert_eq!(
            document[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
        );
        assert_eq!(
            document[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            json!(["EdDSA", "ES256", "RS256", "PS256"]),
        );
    }
    task.abort();

    let narrowed =
        AuthorizationServerMetadata::new(ISSUER).token_endpoint(TOKEN_URL).private_key_jwt_algorithms([
            tower_bearer_oauth::Algorithm::ES256,
            tower_bearer_oauth::Algorithm::HS256,
        ]);
    assert_eq!(narrowed.members()["token_endpoint_auth_signing_alg_values_supported"], json!(["ES256"]));
    let plain = AuthorizationServerMetadata::new(ISSUER).token_endpoint(TOKEN_URL);
    assert!(!plain.members().contains_key("token_endpoint_auth_signing_alg_values_supported"));
}

// ---- registries ----

/// What every registry keeps of a client's keys: inline or at a URL, with or without a
/// secret; kept through a rotation; replaced by registering again.
async fn keys_contract<R: ClientRegistry>(registry: &R) {
    let inline = jwks(&[jwk("k1", K1_X)]);
    let document = inline.document().unwrap().to_owned();
    let new = NewClient::new("svc-inline").client_id("inline").allowed_scopes(["a"]).public_keys(inline);
    assert_eq!(registry.register_without_secret(new).await.unwrap(), "inline");
    let record = registry.find("inline").await.unwrap().expect("registered");
    assert!(record.secrets.is_empty());
    assert_eq!(record.keys.as_ref().and_then(ClientKeys::document), Some(document.as_str()));
    assert!(record.allowed_scopes.grants("a"));

    let remote = ClientKeys::jwks_uri("https://client.example.com/jwks.json").unwrap();
    let new = NewClient::new("svc-remote").client_id("remote").public_keys(remote);
    registry.register_without_secret(new).await.unwrap();
    let record = registry.find("remote").await.unwrap().unwrap();
    assert_eq!(record.keys.as_ref().and_then(ClientKeys::uri), Some("https://client.example.com/jwks.json"));
    assert!(record.keys.as_ref().and_then(ClientKeys::document).is_none());

    let both = registry
        .register(NewClient::new("svc-both").client_id("both").public_keys(jwks(&[jwk("k2", K2_X)])))
        .await
        .unwrap();
    let record = registry.find("both").await.unwrap().unwrap();
    assert!(record.verify(both.client_secret.expose_secret(), SystemTime::now()));
    assert!(record.keys.is_some());

    // A client without a secret gets its first by rotation, and keeps its keys.
    let first = registry.rotate_secret("inline", Duration::from_secs(60)).await.unwrap().unwrap();
    let record = registry.find("inline").await.unwrap().unwrap();
    assert!(record.verify(first.client_secret.expose_secret(), SystemTime::now()));
    assert_eq!(record.secrets.len(), 1, "no previous secret to keep");
    assert_eq!(record.keys.as_ref().and_then(ClientKeys::document), Some(document.as_str()));

    // Registering again replaces the keys.
    let new = NewClient::new("svc-inline").client_id("inline").public_keys(jwks(&[jwk("k2", K2_X)]));
    registry.register_without_secret(new).await.unwrap();
    let record = registry.find("inline").await.unwrap().unwrap();
    assert!(record.secrets.is_empty(), "replaced, secret included");
    assert!(record.keys.as_ref().and_then(ClientKeys::document).unwrap().contains(K2_X));

    // A client with neither a secret nor keys is not registered.
    assert!(registry.register_without_secret(NewClient::new("svc").client_id("none")).await.is_err());
    assert!(registry.find("none").await.unwrap().is_none());
}

#[tokio::test]
async fn the_memory_registry_keeps_client_keys() {
    keys_contract(&MemoryClientRegistry::new()).await;
}

#[cfg(feature = "sql")]
mod sql {
    use tower_bearer_oauth::SqlClientRegistry;
    use tower_bearer_sqlx::SqlTokenStore;
    use tower_bearer_test_support::pg::PgCluster;
    use tower_bearer_test_support::temp_dir;

    use super::*;

    /// The keys contract on a SQLite file; the clients survive reopening it, and authenticate
    /// over HTTP at endpoints on the reopened registry.
    #[tokio::test]
    async fn the_sql_registry_keeps_client_keys_on_a_sqlite_file() {
        let dir = temp_dir();
        let path = dir.path().join("clients.db");
        let store = SqlTokenStore::builder().open_sqlite(&path).await.unwrap();
        keys_contract(&SqlClientRegistry::new(&store)).await;
        let new = NewClient::new("svc-billing")
            .client_id(BILLING)
            .allowed_scopes(["reports:read"])
            .public_keys(jwks(&[jwk("k1", K1_X)]));
        SqlClientRegistry::new(&store).register_without_secret(new).await.unwrap();
        store.close().await;

        let store = SqlTokenStore::builder().open_sqlite(&path).await.unwrap();
        let registry = SqlClientRegistry::new(&store);
        let record = registry.find(BILLING).await.unwrap().expect("persisted");
        assert!(record.secrets.is_empty() && record.keys.is_some());
        let s = serve_endpoints(registry, MemoryTokenStore::new(), |e| e).await;
        token_introspect_revoke(&s.base, BILLING, k1).await;
        assert_invalid_client(&token(&s.base, &k2(&claims(BILLING))).await);
    }

    #[tokio::test]
    async fn the_sql_registry_keeps_client_keys_on_postgres() {
        let Some(cluster) = PgCluster::start() else { return };
        let store = SqlTokenStore::open(&cluster.url()).await.unwrap();
        keys_contract(&SqlClientRegistry::new(&store)).await;
    }

    /// Rows written before the migration (a secret, no keys) read back as they were; the
    /// table refuses a client with no way to authenticate, and one with keys both ways.
    #[tokio::test]
    async fn the_table_keeps_every_client_able_to_authenticate() {
        let store = SqlTokenStore::open("sqlite::memory:").await.unwrap();
        let clients = store.oauth_clients();
        let row = |secret: bool, jwks: bool, uri: bool| tower_bearer_sqlx::OAuthClientRow {
            client_id: "c".into(),
            subject: "svc".into(),
            allowed_scopes: vec![],
            access_token_ttl: Duration::from_secs(60),
            secret_hash: secret.then(|| tower_bearer::TokenHash::of("cs_x")),
            previous_secret: None,
            jwks: jwks.then(|| json!({ "keys": [jwk("k1", K1_X)] }).to_string()),
            jwks_uri: uri.then(|| "https://client.example.com/jwks.json".to_owned()),
        };
        assert!(clients.put(&row(false, false, false)).await.is_err());
        assert!(clients.put(&row(false, true, true)).await.is_err());
        for (secret, jwks, uri) in
            [(true, false, false), (false, true, false), (false, false, true), (true, true, false)]
        {
            let row = row(secret, jwks, uri);
            clients.put(&row).await.unwrap();
            assert_eq!(clients.get("c").await.unwrap(), Some(row));
        }
        // A rotation's compare-and-set from no secret.
        let mut rotated = row(true, true, false);
        assert!(!clients.swap_secrets(&rotated, None).await.unwrap(), "the row has a secret");
        clients.put(&row(false, true, false)).await.unwrap();
        assert!(clients.swap_secrets(&rotated, None).await.unwrap());
        rotated.secret_hash = Some(tower_bearer::TokenHash::of("cs_y"));
        assert!(clients.swap_secrets(&rotated, Some(&tower_bearer::TokenHash::of("cs_x"))).await.unwrap());
        assert_eq!(clients.get("c").await.unwrap().unwrap().secret_hash, rotated.secret_hash);
    }
}

/// The test clock is the endpoint's: an assertion is judged by the endpoint's time, and its
/// `jti` kept on the same clock.
#[tokio::test]
async fn assertions_are_judged_on_the_endpoints_clock() {
    let later = SystemTime::now() + Duration::from_secs(3600);
    let clock = Clock::manual(later);
    let s = server(|e| e.clock(clock.clone())).await;
    // Valid now, but an hour from now it has expired.
    assert_invalid_client(&token(&s.base, &k1(&claims(BILLING))).await);
    let at = later.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let assertion = k1(&claims_at(BILLING, at));
    assert_token(&token(&s.base, &assertion).await);
    assert_invalid_client(&token(&s.base, &assertion).await);
    // Once it expired, its jti is forgotten, and the assertion still refused (expired).
    clock.advance(Duration::from_secs(600));
    assert_invalid_client(&token(&s.base, &assertion).await);
}
