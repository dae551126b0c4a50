//! An OAuth 2.0 client-credentials token endpoint (RFC 6749 §4.4) and an API that accepts the
//! tokens it mints, on 127.0.0.1:3008.
//!
//! ```text
//! cargo run --example oauth_client_credentials
//! ```
//!
//! It prints a demo client's id and secret and the curl lines to try: get a token, call the
//! API with it, ask for a scope the client may not have, use a wrong secret. Set `PORT` to
//! listen elsewhere and `TOKEN_TTL_SECS` to shorten the tokens' lifetime (default 3600).

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore, Principal, StoreError, TokenFormat};
use tower_bearer_oauth::{ClientRegistry, MemoryClientRegistry, NewClient, RegisteredClient, TokenEndpoint};

/// The token endpoint and the API, reading the time from `clock`, with one demo client whose
/// access tokens live `ttl`.
pub async fn demo(ttl: Duration, clock: Clock) -> Result<(Router, RegisteredClient), StoreError> {
    let format = TokenFormat::new("at_");
    let store = MemoryTokenStore::builder().format(format.clone()).clock(clock.clone()).build();
    let clients = MemoryClientRegistry::new();
    let client = clients
        .register(
            NewClient::new("svc-reporting")
                .client_id("reporting-demo")
                .allowed_scopes(["reports:read"])
                .access_token_ttl(ttl),
        )
        .await?;

    let app = Router::new()
        .route("/v1/reports", get(reports))
        .route_layer(
            BearerAuthLayer::new(store.clone())
                .realm("reports")
                .token_formats([format])
                .require_scopes(["reports:read"])
                .clock(clock.clone()),
        )
        .route_service(
            "/oauth/token",
            TokenEndpoint::builder(clients, store).realm("reports").clock(clock).build(),
        );
    Ok((app, client))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ttl: u64 = std::env::var("TOKEN_TTL_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(3600);
    let (app, client) = demo(Duration::from_secs(ttl), Clock::system()).await?;

    let port = std::env::var("PORT").unwrap_or_else(|_| "3008".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (id, secret) = (&client.client_id, client.client_secret.expose_secret());
    println!("listening on {base}");
    println!("client_id: {id}");
    println!("client_secret: {secret}");
    println!();
    println!("try:");
    println!("  curl -s -u '{id}:{secret}' -d grant_type=client_credentials {base}/oauth/token");
    println!("  curl -i -H 'Authorization: Bearer <access_token>' {base}/v1/reports");
    println!(
        "  curl -s -u '{id}:{secret}' -d grant_type=client_credentials -d scope=admin {base}/oauth/token   # invalid_scope"
    );
    println!(
        "  curl -i -u '{id}:wrong' -d grant_type=client_credentials {base}/oauth/token                       # invalid_client"
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn reports(principal: Principal) -> Json<Value> {
    Json(json!({
        "client": principal.token_name(),
        "subject": principal.subject(),
        "scopes": principal.scopes().to_string(),
        "reports": [{ "id": "rep_1", "title": "Monthly revenue" }],
    }))
}
