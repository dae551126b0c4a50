//! Static per-user API keys from the environment, one key per user.
//!
//! Every environment variable named `API_KEY_<USER>` becomes a key for the subject `<user>`
//! (lowercased), with the public token id `key_<user>`. If none is set, demo keys for `alice`
//! and `bob` are generated and printed. Rejections use `ErrorFormat::StatusMessageTimestamp`:
//! `{"status":401,"message":"Unauthorized","timestamp":1713200000000}`.
//!
//! Run it (`PORT` defaults to 3004):
//!
//! ```text
//! API_KEY_ALICE=alice-secret-key API_KEY_BOB=bob-secret-key cargo run --example static_keys
//! cargo run --example static_keys   # generates demo keys
//! ```
//!
//! Then:
//!
//! ```text
//! curl -i -H "Authorization: Bearer $API_KEY_ALICE" http://127.0.0.1:3004/v2/me   # 200 {"token_id":"key_alice","user":"alice"}
//! curl -i http://127.0.0.1:3004/v2/me                                            # 401 {"status":401,...}
//! ```

use std::error::Error;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::stores::InsertError;
use tower_bearer::{BearerAuthLayer, ErrorFormat, MemoryTokenStore, Principal, TokenFormat, TokenId};

const PREFIX: &str = "API_KEY_";

/// The API over `store`.
pub fn app(store: MemoryTokenStore) -> Router {
    Router::new().route("/v2/me", get(me)).route_layer(
        BearerAuthLayer::new(store).realm("static-keys").error_format(ErrorFormat::StatusMessageTimestamp),
    )
}

/// The principal of user `user`'s static key.
fn principal(user: &str) -> Principal {
    Principal::builder(user).token_id(format!("key_{user}")).token_kind("static").build()
}

/// A store with every `API_KEY_<USER>` variable's key; the error names the variable, never its
/// value. Returns the users whose keys were loaded.
pub fn from_env(store: &MemoryTokenStore) -> Result<Vec<String>, InsertError> {
    let ids = store.insert_from_env(PREFIX, principal)?;
    Ok(ids.iter().filter_map(|id| id.as_str().strip_prefix("key_").map(str::to_owned)).collect())
}

/// Demo keys for `alice` and `bob`, when the environment has none: `(user, key)`.
pub fn demo_keys(store: &MemoryTokenStore) -> Vec<(String, String)> {
    let format = TokenFormat::new("demo_");
    ["alice", "bob"]
        .map(|user| {
            let key = format.generate().expose_secret().to_owned();
            store.insert(&key, principal(user)).expect("a fresh generated key");
            (user.to_owned(), key)
        })
        .into()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3004,
    };

    let store = MemoryTokenStore::new();
    let loaded = from_env(&store)?;
    let generated = if loaded.is_empty() { demo_keys(&store) } else { Vec::new() };

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    for user in &loaded {
        let var = format!("{PREFIX}{}", user.to_uppercase());
        println!("loaded key for {user} from {var}");
        println!("curl -i -H \"Authorization: Bearer ${var}\" http://{addr}/v2/me   # 200");
    }
    for (user, key) in &generated {
        println!("token {user}: {key}");
        println!("curl -i -H \"Authorization: Bearer {key}\" http://{addr}/v2/me   # 200");
    }
    println!("curl -i http://{addr}/v2/me   # 401");

    axum::serve(listener, app(store)).await?;
    Ok(())
}

async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "user": principal.subject(),
        "token_id": principal.token_id().map(TokenId::as_str),
    }))
}
