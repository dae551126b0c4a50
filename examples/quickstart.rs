//! The five-minute tour: an axum API on 127.0.0.1:3000 protected by `BearerAuthLayer`.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It prints two demo tokens (one that may read invoices, one that may only read the profile)
//! and the curl lines to try: 200 with a token, 401 without, 403 for the wrong scope.
//! Set `PORT` to listen elsewhere (`PORT=0` picks a free port).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes, TokenId};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryTokenStore::new();
    let full = demo_token();
    let profile_only = demo_token();
    store.insert(
        &full,
        Principal::builder("user_42")
            .organization("acme")
            .name("demo: full access")
            .scopes(Scopes::parse("profile:read invoices:read"))
            .build(),
    )?;
    store.insert(
        &profile_only,
        Principal::builder("user_42")
            .name("demo: profile only")
            .scopes(Scopes::parse("profile:read"))
            .build(),
    )?;

    let profile = Router::new()
        .route("/v1/me", get(me))
        .route_layer(BearerAuthLayer::new(store.clone()).realm("quickstart"));
    let invoices = Router::new()
        .route("/v1/invoices", get(invoices))
        .route_layer(BearerAuthLayer::new(store).realm("quickstart").require_scopes(["invoices:read"]));
    let app = profile.merge(invoices);

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("listening on {base}");
    println!("token: {full}");
    println!("token (profile:read only): {profile_only}");
    println!();
    println!("try:");
    println!("  curl -i -H 'Authorization: Bearer {full}' {base}/v1/me            # 200");
    println!("  curl -i {base}/v1/me                                              # 401");
    println!("  curl -i -H 'Authorization: Bearer {profile_only}' {base}/v1/invoices   # 403");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "user": principal.subject(),
        "organization": principal.organization(),
        "token_id": principal.token_id().map(TokenId::as_str),
        "token_name": principal.name(),
        "scopes": principal.scopes().iter().collect::<Vec<_>>(),
    }))
}

async fn invoices(principal: Principal) -> Json<Value> {
    Json(json!({ "owner": principal.subject(), "invoices": [{ "id": "inv_1", "total": 4200 }] }))
}

/// A random demo token: 32 bytes from the OS CSPRNG, hex-encoded.
fn demo_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS random number generator");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("demo_{hex}")
}
