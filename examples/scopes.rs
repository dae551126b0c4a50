//! Per-route and per-method scope requirements with axum, under one auth layer.
//!
//! Two tokens share one store: `reader` holds `invoices:read`, `writer` holds
//! `invoices:read invoices:write`. `GET /v1/invoices` requires `invoices:read` and
//! `POST /v1/invoices` requires `invoices:write`: one router, one `BearerAuthLayer`, and a
//! `RequireScopesLayer` per method. The reader's POST is answered 403 with
//! `WWW-Authenticate: Bearer ..., error="insufficient_scope", ..., scope="invoices:write"`.
//!
//! Run it (`PORT` defaults to 3003):
//!
//! ```text
//! cargo run --example scopes
//! ```
//!
//! It prints two random demo tokens; then:
//!
//! ```text
//! curl -i -H "Authorization: Bearer <reader token>" http://127.0.0.1:3003/v1/invoices             # 200
//! curl -i -X POST -H "Authorization: Bearer <reader token>" http://127.0.0.1:3003/v1/invoices     # 403
//! curl -i -X POST -H "Authorization: Bearer <writer token>" http://127.0.0.1:3003/v1/invoices     # 201
//! ```

use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::stores::InsertError;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, RequireScopesLayer, Scopes, TokenFormat};

/// The demo: its router and the two tokens it prints.
pub struct Demo {
    pub app: Router,
    pub reader: String,
    pub writer: String,
}

pub fn demo() -> Result<Demo, InsertError> {
    let store = MemoryTokenStore::new();
    let demo_tokens = TokenFormat::new("demo_");
    let reader = demo_tokens.generate().expose_secret().to_owned();
    let writer = demo_tokens.generate().expose_secret().to_owned();
    store.insert(&reader, Principal::builder("reader").scopes(Scopes::parse("invoices:read")).build())?;
    store.insert(
        &writer,
        Principal::builder("writer").scopes(Scopes::parse("invoices:read invoices:write")).build(),
    )?;

    // Each handler carries its own requirement (`Handler::layer`): GET needs `invoices:read`,
    // POST `invoices:write`.
    let invoices = get(list_invoices.layer(RequireScopesLayer::all(["invoices:read"])))
        .post(create_invoice.layer(RequireScopesLayer::all(["invoices:write"])));
    let app = Router::new()
        .route("/v1/invoices", invoices)
        .route_layer(BearerAuthLayer::new(store).realm("invoices"));
    Ok(Demo { app, reader, writer })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3003,
    };
    let Demo { app, reader, writer } = demo()?;

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}/v1/invoices");
    println!("listening on http://{addr}");
    println!("token reader: {reader}");
    println!("token writer: {writer}");
    println!("curl -i -H \"Authorization: Bearer {reader}\" {url}   # 200");
    println!("curl -i -X POST -H \"Authorization: Bearer {reader}\" {url}   # 403 insufficient_scope");
    println!("curl -i -X POST -H \"Authorization: Bearer {writer}\" {url}   # 201");

    axum::serve(listener, app).await?;
    Ok(())
}

async fn list_invoices(principal: Principal) -> Json<Value> {
    Json(json!({
        "requested_by": principal.subject(),
        "invoices": [{ "id": "inv_1", "amount_cents": 4200 }],
    }))
}

async fn create_invoice(principal: Principal) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({ "id": "inv_2", "created_by": principal.subject() })))
}
