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
use std::fmt::Write as _;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::{BearerAuthLayer, ErrorFormat, MemoryTokenStore, Principal, TokenId};

const PREFIX: &str = "API_KEY_";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3004,
    };

    let mut keys = keys_from_env()?;
    let generated = keys.is_empty();
    if generated {
        keys = ["alice", "bob"].map(|user| (user.to_owned(), random_key())).into();
    }

    let store = MemoryTokenStore::new();
    for (user, key) in &keys {
        let principal = Principal::builder(user).token_id(format!("key_{user}")).kind("static").build();
        // The error names the variable, never its value.
        store.insert(key, principal).map_err(|e| format!("{PREFIX}{}: {e}", user.to_uppercase()))?;
    }

    let app = Router::new().route("/v2/me", get(me)).route_layer(
        BearerAuthLayer::new(store).realm("static-keys").error_format(ErrorFormat::StatusMessageTimestamp),
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    for (user, key) in &keys {
        let var = format!("{PREFIX}{}", user.to_uppercase());
        if generated {
            println!("token {user}: {key}");
            println!("curl -i -H \"Authorization: Bearer {key}\" http://{addr}/v2/me   # 200");
        } else {
            println!("loaded key for {user} from {var}");
            println!("curl -i -H \"Authorization: Bearer ${var}\" http://{addr}/v2/me   # 200");
        }
    }
    println!("curl -i http://{addr}/v2/me   # 401");

    axum::serve(listener, app).await?;
    Ok(())
}

/// `(user, key)` for every `API_KEY_<USER>` variable, sorted by user.
fn keys_from_env() -> Result<Vec<(String, String)>, String> {
    let mut keys = Vec::new();
    // `vars_os`, not `vars`: an unrelated variable that is not UTF-8 must not panic the server.
    for (name, value) in std::env::vars_os() {
        let Some(user) = name.to_str().and_then(|name| name.strip_prefix(PREFIX)) else { continue };
        if user.is_empty() {
            continue;
        }
        let key = value.into_string().map_err(|_| format!("{PREFIX}{user} is not UTF-8"))?;
        keys.push((user.to_lowercase(), key));
    }
    keys.sort();
    Ok(keys)
}

async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "user": principal.subject(),
        "token_id": principal.token_id().map(TokenId::as_str),
    }))
}

/// A demo key: 128 random bits from the OS CSPRNG, hex-encoded.
fn random_key() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
    bytes.iter().fold(String::from("demo_"), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
