//! Personal access tokens: each token carries its user, organization, token type, expiry and
//! permission set, and handlers read all of it from the `Principal`.
//!
//! The demo user `alice` (organization `acme`) may `repo:read` and `repo:write`. Two personal
//! tokens are printed at startup: a full one (all of the user's permissions, 90 days) and a
//! reduced one (`repo:read` only, 30 days).
//!
//! - `GET /user` (any valid token): subject, organization, kind, token id, name, scopes and
//!   `expires_at` (Unix seconds), straight from the principal.
//! - `POST /user/repos` (requires `repo:write`) `{"name": "..."}`: creates a repository, 201.
//!   Requests with a body must send JSON: another `Content-Type` is 415 (axum's `Json`
//!   extractor), malformed JSON 400, a missing or bad name 422. The reduced token gets 403
//!   `insufficient_scope` before its body is read.
//!
//! Run it (`PORT` defaults to 3007, `PORT=0` picks a free port):
//!
//! ```text
//! cargo run --example personal_tokens
//! ```
//!
//! It prints the two tokens; then, with `F=<full token>` and `R=<reduced token>`:
//!
//! ```text
//! curl -i -H "Authorization: Bearer $F" http://127.0.0.1:3007/user                  # 200
//! curl -i -X POST -H "Authorization: Bearer $F" -H 'content-type: application/json' \
//!      -d '{"name":"hello-world"}' http://127.0.0.1:3007/user/repos                   # 201
//! curl -i -X POST -H "Authorization: Bearer $F" -H 'content-type: text/plain' \
//!      -d 'name=hello-world' http://127.0.0.1:3007/user/repos                         # 415
//! curl -i -X POST -H "Authorization: Bearer $R" -H 'content-type: application/json' \
//!      -d '{"name":"hello-world"}' http://127.0.0.1:3007/user/repos                   # 403
//! ```

use std::error::Error;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::{
    BearerAuthLayer, IssuedToken, ManageError, MemoryTokenStore, NewToken, Principal, RequireScopes,
    TokenFormat, TokenId, TokenManager,
};

/// Everything the demo user may do; a personal token gets all of it or a subset.
const USER_PERMISSIONS: [&str; 2] = ["repo:read", "repo:write"];
/// Longest repository name accepted.
const MAX_REPO_NAME: usize = 100;
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The demo: the API and the two personal tokens it printed.
pub struct Demo {
    pub app: Router,
    pub full: IssuedToken,
    pub reduced: IssuedToken,
}

/// Two personal tokens of `alice` and the API they open.
pub async fn demo() -> Result<Demo, ManageError> {
    let store = MemoryTokenStore::builder().format(TokenFormat::new("pat_")).build();
    let personal =
        |name: &str| NewToken::for_subject("alice").organization("acme").kind("personal").name(name);
    let full = store.issue(personal("laptop").scopes(USER_PERMISSIONS).expires_in(90 * DAY)).await?;
    let reduced = store.issue(personal("ci (read-only)").scopes(["repo:read"]).expires_in(30 * DAY)).await?;

    let app = Router::new()
        .route("/user", get(user))
        .route("/user/repos", post(create_repo.layer(RequireScopes::all(["repo:write"]))))
        .route_layer(
            BearerAuthLayer::new(store.clone())
                .realm("personal-tokens")
                .token_formats([store.format().clone()]),
        )
        .with_state(Arc::new(AtomicU64::new(1)));
    Ok(Demo { app, full, reduced })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3007,
    };
    // Logs go to stderr (stdout is for the lines below). They carry token ids, never secrets.
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).init();
    let Demo { app, full, reduced } = demo().await?;

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (f, r) = (full.secret().expose_secret(), reduced.secret().expose_secret());
    println!("listening on {base}");
    println!("token full: {f}");
    println!("token reduced: {r}");
    println!();
    println!("try:");
    println!("  curl -i -H 'Authorization: Bearer {f}' {base}/user");
    println!(
        "  curl -i -X POST -H 'Authorization: Bearer {f}' -H 'content-type: application/json' -d '{{\"name\":\"hello-world\"}}' {base}/user/repos   # 201"
    );
    println!(
        "  curl -i -X POST -H 'Authorization: Bearer {f}' -H 'content-type: text/plain' -d 'name=hello-world' {base}/user/repos   # 415"
    );
    println!(
        "  curl -i -X POST -H 'Authorization: Bearer {r}' -H 'content-type: application/json' -d '{{\"name\":\"hello-world\"}}' {base}/user/repos   # 403"
    );
    drop((full, reduced));

    axum::serve(listener, app).await?;
    Ok(())
}

/// `GET /user`: everything the token says about its holder.
async fn user(principal: Principal) -> Json<Value> {
    Json(json!({
        "subject": principal.subject(),
        "organization": principal.organization(),
        "kind": principal.token_kind(),
        "token_id": principal.token_id().map(TokenId::as_str),
        "name": principal.token_name(),
        "scopes": principal.scopes().iter().collect::<Vec<_>>(),
        "expires_at": principal.expires_at().map(unix_secs),
    }))
}

/// `POST /user/repos` `{"name": "..."}`: needs `repo:write` (the layer) and a JSON body (the
/// `Json` extractor: 415 for another content type, 400 for malformed JSON).
async fn create_repo(
    State(next_id): State<Arc<AtomicU64>>,
    principal: Principal,
    Json(body): Json<Value>,
) -> Response {
    let Some(name) = body.get("name").and_then(Value::as_str).filter(|n| is_repo_name(n)) else {
        let body = json!({
            "error": "invalid_request",
            "error_description": "`name` must be 1-100 ASCII letters, digits, '-', '_' or '.'",
        });
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    };
    let id = next_id.fetch_add(1, Ordering::Relaxed);
    let repo = json!({
        "id": format!("repo_{id}"),
        "name": name,
        "owner": principal.subject(),
        "organization": principal.organization(),
        "created_with": principal.token_id().map(TokenId::as_str),
    });
    (StatusCode::CREATED, Json(repo)).into_response()
}

fn is_repo_name(name: &str) -> bool {
    (1..=MAX_REPO_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
