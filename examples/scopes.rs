//! Per-route scope requirements with axum.
//!
//! Two tokens share one store: `reader` holds `invoices:read`, `writer` holds
//! `invoices:read invoices:write`. `GET /v1/invoices` requires `invoices:read` and
//! `POST /v1/invoices` requires `invoices:write`: each method lives in its own router, with
//! its own `route_layer`, and the two routers are merged. The reader's POST is answered 403
//! with `WWW-Authenticate: Bearer ..., error="insufficient_scope", ..., scope="invoices:write"`.
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

use std::fmt::Write as _;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3003,
    };

    let store = Arc::new(MemoryTokenStore::new());
    let reader = random_token();
    let writer = random_token();
    store.insert(&reader, Principal::builder("reader").scopes(Scopes::parse("invoices:read")).build())?;
    store.insert(
        &writer,
        Principal::builder("writer").scopes(Scopes::parse("invoices:read invoices:write")).build(),
    )?;

    let reads = Router::new().route("/v1/invoices", get(list_invoices)).route_layer(
        BearerAuthLayer::from_shared_store(store.clone()).realm("invoices").require_scopes(["invoices:read"]),
    );
    let writes = Router::new().route("/v1/invoices", post(create_invoice)).route_layer(
        BearerAuthLayer::from_shared_store(store.clone())
            .realm("invoices")
            .require_scopes(["invoices:write"]),
    );
    let app = reads.merge(writes);

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

/// A demo token: 128 random bits from the OS CSPRNG, hex-encoded.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
    bytes.iter().fold(String::from("demo_"), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
