//! A `CallbackTokenStore` over a (simulated) database of token digests, behind a
//! `TimeoutTokenStore` and a `CircuitBreakerTokenStore`.
//!
//! The store is an async function: it queries a `tokens` table by the SHA-256 digest of the
//! presented token (`token.hash()`), so the table never holds a plaintext token. The query
//! takes about 5 ms, like a database round trip; one that takes longer than 250 ms is given up
//! (503), so a stuck database cannot hold requests. Setting `SIMULATE_OUTAGE=1` makes every
//! query fail; the layer then fails closed with 503, and the database error goes only to the
//! server's log (through the layer's `on_event` hook), never to the client. After three
//! failures in a row the circuit opens: requests get 503 at once, without a query, and one
//! query every five seconds checks whether the database is back.
//!
//! Run it (`PORT` defaults to 3002):
//!
//! ```text
//! cargo run --example callback
//! SIMULATE_OUTAGE=1 cargo run --example callback
//! ```
//!
//! It prints a random demo token; then:
//!
//! ```text
//! curl -i -H "Authorization: Bearer <token>" http://127.0.0.1:3002/v1/me   # 200 (503 during an outage)
//! curl -i http://127.0.0.1:3002/v1/me                                      # 401
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::middleware::{AuthEvent, Outcome};
use tower_bearer::{
    BearerAuthLayer, CallbackTokenStore, CircuitBreakerTokenStore, PresentedToken, Principal, Scopes,
    TimeoutTokenStore, TokenFormat, TokenHash, TokenId,
};

/// One row of the `tokens` table.
struct Row {
    user_id: String,
    token_id: TokenId,
    scopes: Scopes,
}

/// The simulated database: a `tokens` table keyed by digest, and an outage switch.
#[derive(Clone)]
struct Database {
    tokens: Arc<HashMap<TokenHash, Row>>,
    outage: bool,
}

/// What a failed query reports. It reaches the server's log, never the client.
#[derive(Debug)]
struct DatabaseError;

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused (simulated outage)")
    }
}

impl Error for DatabaseError {}

impl Database {
    /// `SELECT user_id, token_id, scopes FROM tokens WHERE sha256 = $1`
    async fn find_token(&self, digest: &TokenHash) -> Result<Option<Principal>, DatabaseError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if self.outage {
            return Err(DatabaseError);
        }
        Ok(self.tokens.get(digest).map(|row| {
            Principal::builder(&row.user_id).token_id(row.token_id.clone()).scopes(row.scopes.clone()).build()
        }))
    }
}

/// The API over a simulated database holding `token`; with `outage`, every query fails. The
/// operator's log line for a store failure goes to `log`.
pub fn app(token: &str, outage: bool, log: impl Fn(String) + Send + Sync + 'static) -> Router {
    // The client gets the secret, the table only its digest.
    let row =
        Row { user_id: "user_42".into(), token_id: TokenId::random(), scopes: Scopes::parse("profile") };
    let database = Database { tokens: Arc::new(HashMap::from([(TokenHash::of(token), row)])), outage };

    let store = CallbackTokenStore::new(move |token: PresentedToken| {
        let database = database.clone();
        async move { database.find_token(token.hash()).await }
    });
    let store = TimeoutTokenStore::new(store, Duration::from_millis(250));
    let store = CircuitBreakerTokenStore::new(store, 3, Duration::from_secs(5));

    // The operator's view of a store failure: the client only sees a generic 503.
    let log_store_failures = move |event: &AuthEvent<'_>| {
        if let Outcome::Rejected { store_error: Some(error), .. } = event.outcome {
            let cause = error.source().map(ToString::to_string).unwrap_or_default();
            log(format!("{} {}: {error}: {cause}", event.method, event.path));
        }
    };
    Router::new()
        .route("/v1/me", get(me))
        .route_layer(BearerAuthLayer::new(store).realm("callback-example").on_event(log_store_failures))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3002,
    };
    let outage = std::env::var("SIMULATE_OUTAGE").is_ok_and(|v| v == "1");
    let token = TokenFormat::new("demo_").generate().expose_secret().to_owned();
    let app = app(&token, outage, |line| eprintln!("{line}"));

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    println!("token: {token}");
    if outage {
        println!("SIMULATE_OUTAGE=1: every token lookup fails, so authenticated requests get 503");
    }
    println!(
        "curl -i -H \"Authorization: Bearer {token}\" http://{addr}/v1/me   # 200, or 503 during an outage"
    );
    println!("curl -i http://{addr}/v1/me   # 401");

    axum::serve(listener, app).await?;
    Ok(())
}

async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "user": principal.subject(),
        "token_id": principal.token_id().map(TokenId::as_str),
        "scopes": principal.scopes().to_string(),
    }))
}
