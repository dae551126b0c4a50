//! The five-minute tour: an axum API on 127.0.0.1:3000 protected by `BearerAuthLayer`.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It prints two demo tokens (one that may read invoices, one that may only read the profile)
//! and the curl lines to try: 200 with a token, 401 without, 403 for the wrong scope.
//! Set `PORT` to listen elsewhere (`PORT=0` picks a free port).
//!
//! One `BearerAuthLayer` covers the router; `RequireScopesLayer` adds the invoices scope to the one
//! route that needs it, answered in the layer's own format and realm.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_bearer::stores::InsertError;
use tower_bearer::{
    BearerAuthLayer, MemoryTokenStore, Principal, RequireScopesLayer, Scopes, TokenFormat, TokenId,
};

/// The demo: its router and the two tokens it prints.
pub struct Demo {
    pub app: Router,
    /// May read the profile and the invoices.
    pub full: String,
    /// May read the profile only.
    pub profile_only: String,
}

/// Two demo tokens in a memory store, and the API they open.
pub fn demo() -> Result<Demo, InsertError> {
    let store = MemoryTokenStore::new();
    let demo_tokens = TokenFormat::new("demo_");
    let full = demo_tokens.generate().expose_secret().to_owned();
    let profile_only = demo_tokens.generate().expose_secret().to_owned();
    store.insert(
        &full,
        Principal::builder("user_42")
            .organization("acme")
            .token_name("demo: full access")
            .scopes(Scopes::parse("profile:read invoices:read"))
            .build(),
    )?;
    store.insert(
        &profile_only,
        Principal::builder("user_42")
            .token_name("demo: profile only")
            .scopes(Scopes::parse("profile:read"))
            .build(),
    )?;

    let app = Router::new()
        .route("/v1/me", get(me))
        .route("/v1/invoices", get(invoices).route_layer(RequireScopesLayer::all(["invoices:read"])))
        // `route_layer`: a path no route matches stays 404 instead of 401.
        .route_layer(BearerAuthLayer::new(store).realm("quickstart"));
    Ok(Demo { app, full, profile_only })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Demo { app, full, profile_only } = demo()?;
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
        "token_name": principal.token_name(),
        "scopes": principal.scopes().iter().collect::<Vec<_>>(),
    }))
}

async fn invoices(principal: Principal) -> Json<Value> {
    Json(json!({ "owner": principal.subject(), "invoices": [{ "id": "inv_1", "total": 4200 }] }))
}
