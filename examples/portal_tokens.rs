//! A client portal where a user manages their own API tokens.
//!
//! The demo user `user_42` is signed in to the portal with a session token (kind `session`,
//! scope `portal`, printed at startup). In the portal the user creates a named API token and
//! sees its secret exactly once, in the response that creates it; the listing shows only
//! metadata (id, name, display hint, created and last-used times). The token then works on the
//! API (`GET /api/projects`, scope `api`) until the user revokes it, after which the API answers
//! `401 {"message":"Unauthenticated."}` (`ErrorFormat::Message`).
//!
//! - Sessions and API tokens live in two `MemoryTokenStore`s with their own formats (`ps_live_`
//!   and `pt_live_`), and each layer accepts only its own format (`token_formats`): a session
//!   token is refused by the API, and an API token by the portal, before any lookup.
//! - API tokens have no expiry: they work until revoked. Only SHA-256 digests are stored.
//! - `last_used_at` is recorded by the store itself, at most once a minute per token.
//!
//! Run it (`PORT` defaults to 3005, `PORT=0` picks a free port):
//!
//! ```text
//! cargo run --example portal_tokens
//! ```
//!
//! It prints the session token; then, with `S=<session token>`:
//!
//! ```text
//! curl -i -X POST -H "Authorization: Bearer $S" -H 'content-type: application/json' \
//!      -d '{"name":"CI deploy"}' http://127.0.0.1:3005/portal/tokens        # 201, shows "token" once
//! curl -i -H "Authorization: Bearer $S" http://127.0.0.1:3005/portal/tokens  # 200, metadata only
//! curl -i -H "Authorization: Bearer $T" http://127.0.0.1:3005/api/projects   # 200 ($T: the new token)
//! curl -i -X DELETE -H "Authorization: Bearer $S" http://127.0.0.1:3005/portal/tokens/<id>   # 204
//! curl -i -H "Authorization: Bearer $T" http://127.0.0.1:3005/api/projects   # 401 {"message":"Unauthenticated."}
//! ```

use std::error::Error;
use std::io::IsTerminal as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::{
    BearerAuthLayer, ErrorFormat, IssuedToken, ManageError, MemoryTokenStore, NewToken, Principal,
    TokenFormat, TokenId, TokenInfo, TokenManager,
};

/// The scope of portal sessions.
const PORTAL_SCOPE: &str = "portal";
/// The scope of the API tokens users create.
const API_SCOPE: &str = "api";
/// Longest token name accepted, in characters.
const MAX_NAME_CHARS: usize = 100;

/// The demo: the portal and API, and the signed-in user's session token.
pub struct Demo {
    pub app: Router,
    pub session: IssuedToken,
}

/// The portal and the API, with the demo user signed in.
pub async fn demo() -> Result<Demo, ManageError> {
    let sessions = MemoryTokenStore::builder().format(TokenFormat::new("ps_live_")).build();
    let api_tokens = MemoryTokenStore::builder()
        .format(TokenFormat::new("pt_live_"))
        .usage_interval(Duration::from_secs(60))
        .build();

    // In a real portal the session comes from signing in; here the demo user is signed in.
    let session = sessions
        .issue(
            NewToken::for_subject("user_42")
                .organization("acme")
                .name("portal session")
                .kind("session")
                .scopes([PORTAL_SCOPE])
                .expires_in(Duration::from_secs(12 * 3600)),
        )
        .await?;

    let portal = Router::new()
        .route("/portal/tokens", get(list_tokens).post(create_token))
        .route("/portal/tokens/{id}", delete(revoke_token))
        .route_layer(
            BearerAuthLayer::new(sessions.clone())
                .realm("portal")
                .token_formats([sessions.format().clone()])
                .require_scopes([PORTAL_SCOPE])
                .error_format(ErrorFormat::Message),
        )
        .with_state(api_tokens.clone());
    let api = Router::new().route("/api/projects", get(projects)).route_layer(
        BearerAuthLayer::new(api_tokens.clone())
            .realm("api")
            .token_formats([api_tokens.format().clone()])
            .require_scopes([API_SCOPE])
            .error_format(ErrorFormat::Message),
    );
    Ok(Demo { app: portal.merge(api), session })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3005,
    };
    // Logs go to stderr (stdout is for the lines below). They carry token ids, never secrets.
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).init();
    let Demo { app, session } = demo().await?;

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let s = session.secret().expose_secret();
    println!("listening on {base}");
    println!("token session: {s}");
    println!();
    println!("try (T is the token the first call returns, ID its id):");
    println!(
        "  curl -i -X POST -H 'Authorization: Bearer {s}' -H 'content-type: application/json' -d '{{\"name\":\"CI deploy\"}}' {base}/portal/tokens"
    );
    println!("  curl -i -H 'Authorization: Bearer {s}' {base}/portal/tokens");
    println!("  curl -i -H \"Authorization: Bearer $T\" {base}/api/projects");
    println!("  curl -i -X DELETE -H 'Authorization: Bearer {s}' {base}/portal/tokens/$ID");
    drop(session);

    axum::serve(listener, app).await?;
    Ok(())
}

/// `POST /portal/tokens` `{"name": "..."}`: creates an API token for the signed-in user. The
/// response is the only place its secret ever appears.
async fn create_token(
    State(api_tokens): State<MemoryTokenStore>,
    user: Principal,
    Json(body): Json<Value>,
) -> Response {
    let name = match body.get("name").and_then(Value::as_str).map(str::trim) {
        Some(name) if !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS => name,
        Some(name) if !name.is_empty() => {
            return message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The name may not be longer than 100 characters.",
            );
        }
        _ => return message(StatusCode::UNPROCESSABLE_ENTITY, "The name field is required."),
    };
    let mut new = NewToken::for_subject(user.subject()).name(name).kind("api").scopes([API_SCOPE]);
    if let Some(organization) = user.organization() {
        new = new.organization(organization);
    }
    let Ok(issued) = api_tokens.issue(new).await else {
        return message(StatusCode::SERVICE_UNAVAILABLE, "Try again later.");
    };
    let (secret, info) = issued.into_parts();
    let mut body = token_json(&info);
    body["token"] = json!(secret.expose_secret());
    body["notice"] = json!("Copy this token now: it will not be shown again.");
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `GET /portal/tokens`: the user's API tokens, oldest first. Metadata only: the store keeps
/// no secret to show.
async fn list_tokens(State(api_tokens): State<MemoryTokenStore>, user: Principal) -> Response {
    match api_tokens.list(user.subject()).await {
        Ok(tokens) => {
            Json(json!({ "tokens": tokens.iter().map(token_json).collect::<Vec<_>>() })).into_response()
        }
        Err(_) => message(StatusCode::SERVICE_UNAVAILABLE, "Try again later."),
    }
}

/// `DELETE /portal/tokens/{id}`: revokes one of the user's tokens, effective at once.
async fn revoke_token(
    State(api_tokens): State<MemoryTokenStore>,
    user: Principal,
    Path(id): Path<String>,
) -> Response {
    let id = TokenId::from(id);
    // Another user's token is "not found", exactly like a token that does not exist.
    let owned =
        api_tokens.get(&id).await.ok().flatten().is_some_and(|t| t.principal.subject() == user.subject());
    if owned && api_tokens.revoke(&id).await.unwrap_or(false) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        message(StatusCode::NOT_FOUND, "Token not found.")
    }
}

/// `GET /api/projects`: the API the tokens are for.
async fn projects(caller: Principal) -> Json<Value> {
    Json(json!({
        "owner": caller.subject(),
        "projects": [{ "id": "prj_1", "name": "Website" }, { "id": "prj_2", "name": "Mobile app" }],
    }))
}

/// A token's public metadata. Times are Unix seconds.
fn token_json(info: &TokenInfo) -> Value {
    json!({
        "id": info.id.as_str(),
        "name": info.principal.token_name(),
        "hint": info.hint,
        "scopes": info.principal.scopes().iter().collect::<Vec<_>>(),
        "created_at": unix_secs(info.created_at),
        "last_used_at": info.last_used_at.map(unix_secs),
    })
}

fn message(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
