//! A service protected by JWT access tokens another authorization server signs, verified in
//! this process with the issuer's published keys (`JwtStore`): no call to the issuer per
//! request, only a fetch of its JWKS now and then.
//!
//! ```text
//! cargo run --example jwt_store
//! ```
//!
//! Self-contained, and it exits by itself. It plays the outside issuer too: an Ed25519 key
//! signs RFC 9068 access tokens (here with `tower-bearer-jwt`; in production, Keycloak, Auth0,
//! Okta, ...), and its public half is served as a JWKS on a loopback port of its own. The API
//! knows nothing of the issuer but its name and that URL. Three requests follow, and what the
//! API answered is printed: a valid token (200), a token the issuer made for another API
//! (401), and the valid token once it has expired (401).

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use tower::ServiceExt as _;
use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore, NewToken, Principal, TokenManager};
use tower_bearer_jwt::{Jwks, KeySet, SignedTokens, SigningKey};
use tower_bearer_oauth::JwtStore;

/// The issuer's identifier: the `iss` of its tokens.
const ISSUER: &str = "https://login.example.com";

/// This API's identifier at the issuer: tokens must name it in `aud`.
const API: &str = "https://reports.example.com";

/// The API's answers to the three requests: the valid token, the token for another API, the
/// expired token.
pub async fn run() -> Result<[StatusCode; 3], Box<dyn std::error::Error + Send + Sync>> {
    // A manual clock stands in for the passing of time, so that the example need not wait
    // for a token to expire; a real service keeps the default (system) clock.
    let clock = Clock::manual(SystemTime::now());

    // The outside issuer: its signing key, and the JWKS with the key's public half.
    let keys = KeySet::new(SigningKey::ed25519_generate("issuer-key-1")?)?;
    let issuer =
        SignedTokens::new(MemoryTokenStore::builder().clock(clock.clone()).build(), keys, ISSUER, API);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let jwks_url = format!("http://{}{}", listener.local_addr()?, Jwks::PATH);
    let jwks = Router::new().route_service(Jwks::PATH, issuer.jwks());
    let jwks_server = tokio::spawn(async move { axum::serve(listener, jwks).await });
    println!("the issuer's JWKS: {jwks_url}");

    // The API: a store for the issuer's tokens, for this API's audience, in front of a route.
    let store = JwtStore::builder(&jwks_url, ISSUER)?.audience(API).clock(clock.clone()).build();
    let api = Router::new()
        .route("/v1/reports", get(reports))
        .route_layer(BearerAuthLayer::new(store).require_scopes(["reports:read"]).clock(clock.clone()));

    let issued = issuer
        .issue(
            NewToken::for_subject("svc-dashboard")
                .scopes(["reports:read"])
                .expires_at(clock.now() + Duration::from_secs(300)),
        )
        .await?;
    let for_billing = issuer
        .issue(
            NewToken::for_subject("svc-dashboard")
                .scopes(["reports:read"])
                .audience(["https://billing.example.com"]),
        )
        .await?;

    let token = issued.secret().expose_secret();
    let accepted = call(&api, "a valid token", token).await?;
    let other_api = call(&api, "a token for another API", for_billing.secret().expose_secret()).await?;
    // Past `exp` and the store's 30-second leeway.
    clock.advance(Duration::from_secs(301 + 30));
    let expired = call(&api, "the same token, expired", token).await?;

    jwks_server.abort();
    Ok([accepted, other_api, expired])
}

/// Sends `GET /v1/reports` with `token` through `api`, and prints the answer.
async fn call(
    api: &Router,
    label: &str,
    token: &str,
) -> Result<StatusCode, Box<dyn std::error::Error + Send + Sync>> {
    let request =
        Request::get("/v1/reports").header("authorization", format!("Bearer {token}")).body(Body::empty())?;
    let response = api.clone().oneshot(request).await?;
    let status = response.status();
    let challenge =
        response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await?;
    println!("{label}: {status}");
    if let Some(challenge) = challenge {
        println!("  WWW-Authenticate: {challenge}");
    }
    println!("  {}", String::from_utf8_lossy(&body).trim_end());
    Ok(status)
}

async fn reports(principal: Principal) -> String {
    format!("reports for {}", principal.subject())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let answers = run().await?;
    let expected = [StatusCode::OK, StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED];
    if answers != expected {
        return Err(format!("expected {expected:?}, the API answered {answers:?}").into());
    }
    Ok(())
}
