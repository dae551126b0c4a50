//! An admin API key that manages scoped, expiring tokens through the API itself, with rotation,
//! revocation and an audit log.
//!
//! At startup one admin key is issued (scope `*`, full access, no expiry) and printed. Through
//! the API, a token creates, lists, rotates and revokes tokens of its own account:
//!
//! | route | requires | does |
//! |---|---|---|
//! | `POST /v1/tokens` `{"name","scopes":[..],"expires_in_secs"}` | `tokens:write` | issues a token (`issue_as`): 201, secret shown once |
//! | `GET /v1/tokens` | `tokens:read` | lists the account's tokens, metadata only |
//! | `GET /v1/tokens/{id}` | `tokens:read` | one token's metadata |
//! | `POST /v1/tokens/{id}/rotate` `{"grace_secs"}` (body optional) | `tokens:write` | replaces the token: 200, new secret shown once |
//! | `DELETE /v1/tokens/{id}` | `tokens:write` | revokes the token: 204 |
//! | `GET /v1/audit` | `audit:read` | the last 1000 audit events, newest last |
//!
//! Rules:
//!
//! - A token never mints a scope it does not hold, nor a token that outlives it
//!   (`TokenManager::issue_as`): a `tokens:write` token cannot create an `audit:read` one,
//!   only the wildcard admin key can create another wildcard key. Refused: 403 with the scope.
//! - The same rule guards rotation (a rotation hands out a fresh copy of the token) and
//!   revocation: a token manages itself, or tokens whose scopes it holds. Without it a
//!   `tokens:write` token could rotate the admin key and read the new admin secret.
//! - Rotation without `grace_secs` revokes the old secret in the same step that creates the new
//!   one: the old value is 401 at once.
//! - `expires_in_secs` (or `expires_at`, Unix seconds) is optional; an expired token is 401
//!   `error_description="the access token expired"`. Expired tokens are purged every 10 minutes.
//! - The audit log gets every request outcome from the layers' `on_event` hook (method, path,
//!   outcome, reason, token id, subject) and every issue, rotation and revocation from the
//!   store's `on_lifecycle_event` hook. It never holds a secret. Times are Unix seconds.
//!
//! One `BearerAuthLayer` covers the API and each handler names the scope it needs
//! (`RequireScopes`). The layer accepts only this app's token format (`sk_live_...` with a
//! checksum), so a mistyped key is refused before any lookup.
//!
//! Everything here is written against the `TokenManager` trait: the store is picked on one
//! line of `main` (memory by default; `SQLITE_PATH=keys.db` keeps the keys in SQLite).
//!
//! Run it (`PORT` defaults to 3006, `PORT=0` picks a free port):
//!
//! ```text
//! cargo run --example scoped_keys
//! ```
//!
//! It prints the admin key and its id; then, with `A=<admin key>`:
//!
//! ```text
//! curl -s -X POST -H "Authorization: Bearer $A" -H 'content-type: application/json' \
//!      -d '{"name":"dashboard","scopes":["tokens:read"],"expires_in_secs":3600}' \
//!      http://127.0.0.1:3006/v1/tokens                                                     # 201
//! curl -i -H "Authorization: Bearer $R" http://127.0.0.1:3006/v1/tokens                      # 200 ($R: that token)
//! curl -i -X POST -H "Authorization: Bearer $R" -H 'content-type: application/json' \
//!      -d '{"name":"x","scopes":["tokens:read"]}' http://127.0.0.1:3006/v1/tokens           # 403 insufficient_scope
//! curl -s -X POST -H "Authorization: Bearer $A" http://127.0.0.1:3006/v1/tokens/<admin id>/rotate   # 200, new key
//! curl -i -H "Authorization: Bearer $A" http://127.0.0.1:3006/v1/tokens                      # 401 (old key)
//! curl -s -H "Authorization: Bearer $NEW_A" http://127.0.0.1:3006/v1/audit                   # 200, the events
//! ```

use std::collections::VecDeque;
use std::error::Error;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::manage::LifecycleEvent;
use tower_bearer::middleware::{AuthEvent, Outcome};
use tower_bearer::{
    BearerAuthLayer, Clock, IssuedToken, ManageError, MemoryTokenStore, NewToken, Principal, RequireScopes,
    Scopes, TokenFormat, TokenId, TokenInfo, TokenManager,
};
use tower_bearer_sqlx::{OpenError, SqlTokenStore};

/// How many audit events are kept; older ones are dropped.
const AUDIT_CAPACITY: usize = 1000;
/// The longest lifetime a new token may ask for.
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// The longest grace period of a rotation.
const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often expired tokens are removed from the store.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Longest token name accepted, in characters.
const MAX_NAME_CHARS: usize = 100;

#[derive(Clone)]
struct App<S> {
    store: S,
    audit: Arc<AuditLog>,
    clock: Clock,
}

/// The format of this app's keys.
fn key_format() -> TokenFormat {
    TokenFormat::new("sk_live_")
}

/// The demo on a memory store, its lifecycle events going to `audit`.
pub fn memory_store(audit: &Arc<AuditLog>, clock: &Clock) -> MemoryTokenStore {
    let audit = audit.clone();
    MemoryTokenStore::builder()
        .format(key_format())
        .clock(clock.clone())
        .on_lifecycle_event(move |event| audit.record(lifecycle_entry(event)))
        .build()
}

/// The demo on a SQLite file, its lifecycle events going to `audit`.
pub async fn sqlite_store(
    audit: &Arc<AuditLog>,
    clock: &Clock,
    path: &std::path::Path,
) -> Result<SqlTokenStore, OpenError> {
    let audit = audit.clone();
    SqlTokenStore::builder()
        .format(key_format())
        .clock(clock.clone())
        .on_lifecycle_event(move |event| audit.record(lifecycle_entry(event)))
        .open_sqlite(path)
        .await
}

/// The demo: the API, and the admin key it printed.
pub struct Demo {
    pub app: Router,
    pub admin: IssuedToken,
}

/// Issues the admin key into `store` and builds the API over it, whichever store it is. The
/// API reads the time from `clock`, as the store should.
pub async fn demo<S>(store: S, audit: Arc<AuditLog>, clock: Clock) -> Result<Demo, ManageError>
where
    S: TokenManager + Clone,
{
    let admin = store
        .issue(
            NewToken::for_subject("acct_acme")
                .organization("acme")
                .name("admin key")
                .kind("admin")
                .scopes([Scopes::WILDCARD]),
        )
        .await?;

    let auth = BearerAuthLayer::new(store.clone())
        .realm("scoped-keys")
        .token_formats([key_format()])
        .clock(clock.clone())
        .on_event({
            let audit = audit.clone();
            move |event| audit.record(request_entry(event))
        });
    let read = || RequireScopes::all(["tokens:read"]);
    let write = || RequireScopes::all(["tokens:write"]);
    let app = Router::new()
        .route("/v1/tokens", get(list_tokens::<S>.layer(read())).post(create_token::<S>.layer(write())))
        .route("/v1/tokens/{id}", get(get_token::<S>.layer(read())).delete(revoke_token::<S>.layer(write())))
        .route("/v1/tokens/{id}/rotate", post(rotate_token::<S>.layer(write())))
        .route("/v1/audit", get(audit_events::<S>.layer(RequireScopes::all(["audit:read"]))))
        .route_layer(auth)
        .with_state(App { store: store.clone(), audit, clock });

    tokio::spawn(purge_expired(store));
    Ok(Demo { app, admin })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3006,
    };
    // Logs go to stderr (stdout is for the lines below). They carry token ids, never secrets.
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).init();

    let (audit, clock) = (Arc::new(AuditLog::default()), Clock::system());
    // The one line that picks the store: everything else is written against `TokenManager`.
    let Demo { app, admin } = match std::env::var_os("SQLITE_PATH") {
        None => demo(memory_store(&audit, &clock), audit, clock).await?,
        Some(path) => demo(sqlite_store(&audit, &clock, path.as_ref()).await?, audit, clock).await?,
    };

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (key, id) = (admin.secret().expose_secret(), admin.id());
    println!("listening on {base}");
    println!("token admin: {key}");
    println!("admin key id: {id}");
    println!();
    println!("try:");
    println!(
        "  curl -s -X POST -H 'Authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"name\":\"dashboard\",\"scopes\":[\"tokens:read\"],\"expires_in_secs\":3600}}' {base}/v1/tokens"
    );
    println!("  curl -s -H 'Authorization: Bearer {key}' {base}/v1/tokens");
    println!("  curl -s -X POST -H 'Authorization: Bearer {key}' {base}/v1/tokens/{id}/rotate");
    println!("  curl -s -H 'Authorization: Bearer {key}' {base}/v1/audit");
    drop(admin);

    axum::serve(listener, app).await?;
    Ok(())
}

/// `POST /v1/tokens`: the caller issues a token for its own account, never with more scopes
/// or a longer life than its own.
async fn create_token<S: TokenManager + Clone>(
    State(app): State<App<S>>,
    caller: Principal,
    Json(body): Json<Value>,
) -> Response {
    let new = match new_token(&caller, &body, app.clock.now()) {
        Ok(new) => new,
        Err(response) => return response,
    };
    match app.store.issue_as(&caller, new).await {
        Ok(issued) => (StatusCode::CREATED, Json(with_secret(issued))).into_response(),
        Err(e) => lifecycle_error(e),
    }
}

/// `GET /v1/tokens`: the caller's account's tokens, oldest first. Metadata only.
async fn list_tokens<S: TokenManager + Clone>(State(app): State<App<S>>, caller: Principal) -> Response {
    match app.store.list(caller.subject()).await {
        Ok(tokens) => {
            Json(json!({ "tokens": tokens.iter().map(token_json).collect::<Vec<_>>() })).into_response()
        }
        Err(e) => lifecycle_error(e),
    }
}

/// `GET /v1/tokens/{id}`.
async fn get_token<S: TokenManager + Clone>(
    State(app): State<App<S>>,
    caller: Principal,
    Path(id): Path<String>,
) -> Response {
    match own_token(&app.store, &caller, &TokenId::from(id)).await {
        Ok(info) => Json(token_json(&info)).into_response(),
        Err(response) => response,
    }
}

/// `POST /v1/tokens/{id}/rotate`, optional body `{"grace_secs": N}`: replaces the token with a
/// new one of the same name, scopes and lifetime. Without grace the old secret stops working in
/// the same step.
async fn rotate_token<S: TokenManager + Clone>(
    State(app): State<App<S>>,
    caller: Principal,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let grace = match body.as_ref().and_then(|Json(body)| body.get("grace_secs")).filter(|v| !v.is_null()) {
        None => Duration::ZERO,
        Some(v) => match v.as_u64().map(Duration::from_secs).filter(|g| *g <= MAX_GRACE) {
            Some(grace) => grace,
            None => return invalid_request("`grace_secs` must be a whole number of seconds, at most 604800"),
        },
    };
    let id = TokenId::from(id);
    // `rotate_as` hands out a fresh copy only to a caller that could issue it: the same
    // account, holding all its scopes, and outliving it (a token may rotate itself).
    match app.store.rotate_as(&caller, &id, grace).await {
        Ok(issued) => {
            let mut body = with_secret(issued);
            body["replaces"] = json!(id.as_str());
            body["grace_secs"] = json!(grace.as_secs());
            Json(body).into_response()
        }
        Err(e) => lifecycle_error(e),
    }
}

/// `DELETE /v1/tokens/{id}`: revokes the token, effective for every later request.
async fn revoke_token<S: TokenManager + Clone>(
    State(app): State<App<S>>,
    caller: Principal,
    Path(id): Path<String>,
) -> Response {
    // `revoke_as` lets a token revoke itself or a token of its account whose scopes it holds,
    // so a `tokens:write` token cannot lock the admin out.
    match app.store.revoke_as(&caller, &TokenId::from(id)).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(),
        Err(e) => lifecycle_error(e),
    }
}

/// `GET /v1/audit`: the last [`AUDIT_CAPACITY`] events, newest last.
async fn audit_events<S: TokenManager + Clone>(State(app): State<App<S>>) -> Json<Value> {
    Json(json!({ "events": app.audit.snapshot() }))
}

/// Reads `{"name", "scopes", "expires_in_secs" | "expires_at"}` into a token for the caller's
/// account (same subject and organization).
#[expect(clippy::result_large_err, reason = "the error is the response, returned at once")]
fn new_token(caller: &Principal, body: &Value, now: SystemTime) -> Result<NewToken, Response> {
    let field = |name: &str| body.get(name).filter(|v| !v.is_null());
    let name = field("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= MAX_NAME_CHARS && !n.chars().any(char::is_control))
        .ok_or_else(|| invalid_request("`name` must be a non-empty string of at most 100 characters"))?;
    let scopes: Vec<&str> = field("scopes")
        .and_then(Value::as_array)
        .and_then(|scopes| {
            scopes.iter().map(|s| s.as_str().filter(|s| Scopes::is_valid(s))).collect::<Option<_>>()
        })
        .filter(|scopes: &Vec<&str>| !scopes.is_empty())
        .ok_or_else(|| invalid_request("`scopes` must be a non-empty array of scope names"))?;

    let mut new = NewToken::for_subject(caller.subject()).name(name).kind("scoped").scopes(scopes);
    if let Some(organization) = caller.organization() {
        new = new.organization(organization);
    }
    match (field("expires_in_secs"), field("expires_at")) {
        (Some(_), Some(_)) => {
            return Err(invalid_request("give `expires_in_secs` or `expires_at`, not both"));
        }
        (Some(secs), None) => {
            let lifetime = secs
                .as_u64()
                .map(Duration::from_secs)
                .filter(|d| !d.is_zero() && *d <= MAX_LIFETIME)
                .ok_or_else(|| invalid_request("`expires_in_secs` must be between 1 and 31536000"))?;
            new = new.expires_at(now + lifetime);
        }
        (None, Some(at)) => {
            let at = at
                .as_u64()
                .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
                .filter(|at| *at > now && *at <= now + MAX_LIFETIME)
                .ok_or_else(|| {
                    invalid_request("`expires_at` must be Unix seconds in the future, within a year")
                })?;
            new = new.expires_at(at);
        }
        (None, None) => {}
    }
    Ok(new)
}

/// A token of the caller's account, or 404 (also for another account's token: its existence is
/// not revealed).
async fn own_token<S: TokenManager>(
    store: &S,
    caller: &Principal,
    id: &TokenId,
) -> Result<TokenInfo, Response> {
    let found = store.get(id).await.map_err(lifecycle_error)?;
    found.filter(|t| t.principal.subject() == caller.subject()).ok_or_else(not_found)
}

/// A token's public metadata. Times are Unix seconds.
fn token_json(info: &TokenInfo) -> Value {
    let p = &info.principal;
    json!({
        "id": info.id.as_str(),
        "name": p.token_name(),
        "kind": p.token_kind(),
        "scopes": p.scopes().iter().collect::<Vec<_>>(),
        "hint": info.hint,
        "created_at": unix_secs(info.created_at),
        "expires_at": p.expires_at().map(unix_secs),
        "last_used_at": info.last_used_at.map(unix_secs),
    })
}

/// A new token's metadata with its secret: the one response that shows it.
fn with_secret(issued: IssuedToken) -> Value {
    let (secret, info) = issued.into_parts();
    let mut body = token_json(&info);
    body["token"] = json!(secret.expose_secret());
    body
}

fn lifecycle_error(e: ManageError) -> Response {
    let (status, body) = match e {
        ManageError::ScopeNotHeld(scope) => (
            StatusCode::FORBIDDEN,
            json!({
                "error": "insufficient_scope",
                "error_description": "a token cannot grant or manage a scope it does not hold",
                "scope": scope,
            }),
        ),
        ManageError::OutlivesIssuer => (
            StatusCode::FORBIDDEN,
            json!({
                "error": "outlives_issuer",
                "error_description": "a token cannot create a token that outlives it",
            }),
        ),
        ManageError::Superseded => (
            StatusCode::FORBIDDEN,
            json!({
                "error": "superseded",
                "error_description": "this token was replaced by a rotation: use its successor",
            }),
        ),
        ManageError::OtherTenant => (
            StatusCode::FORBIDDEN,
            json!({
                "error": "other_tenant",
                "error_description": "a token manages tokens of its own account only",
            }),
        ),
        ManageError::OutOfRange(what) => return invalid_request(&format!("`{what}` is out of range")),
        ManageError::NotFound(_) => return not_found(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "temporarily_unavailable", "error_description": "try again later" }),
        ),
    };
    (status, Json(body)).into_response()
}

fn invalid_request(description: &str) -> Response {
    let body = json!({ "error": "invalid_request", "error_description": description });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

fn not_found() -> Response {
    let body = json!({ "error": "not_found", "error_description": "no live token with this id" });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Removes expired tokens now and then (each purge is an audit event).
async fn purge_expired<S: TokenManager>(store: S) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    every.tick().await; // the first tick is immediate
    loop {
        every.tick().await;
        // A failure is retried at the next tick.
        let _ = store.purge_expired().await;
    }
}

/// A bounded, in-memory audit log: the newest [`AUDIT_CAPACITY`] events, oldest first.
#[derive(Default)]
pub struct AuditLog {
    events: Mutex<(u64, VecDeque<Value>)>,
}

impl AuditLog {
    /// Appends an event, numbering and timestamping it. Called on the request path: cheap.
    fn record(&self, mut event: Value) {
        let mut guard = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let (seq, events) = &mut *guard;
        *seq += 1;
        event["seq"] = json!(*seq);
        event["at"] = json!(unix_secs(SystemTime::now()));
        if events.len() == AUDIT_CAPACITY {
            events.pop_front();
        }
        events.push_back(event);
    }

    fn snapshot(&self) -> Vec<Value> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).1.iter().cloned().collect()
    }
}

/// One request outcome, from the layers' hook: who, what, and why it was refused.
fn request_entry(event: &AuthEvent<'_>) -> Value {
    let principal = event.principal();
    let (outcome, status, reason) = match event.outcome {
        Outcome::Authenticated(_) => ("authenticated", None, None),
        Outcome::Rejected { error, .. } => ("rejected", Some(error.status().as_u16()), Some(error.reason())),
        _ => ("other", None, None),
    };
    json!({
        "type": "request",
        "method": event.method.as_str(),
        "path": event.path,
        "outcome": outcome,
        "status": status,
        "reason": reason,
        "token_id": principal.and_then(Principal::token_id).map(TokenId::as_str),
        "subject": principal.map(Principal::subject),
    })
}

/// One lifecycle event, from the store's hook.
fn lifecycle_entry(event: &LifecycleEvent) -> Value {
    let token = |kind: &str, info: &TokenInfo| {
        json!({
            "type": kind,
            "token_id": info.id.as_str(),
            "subject": info.principal.subject(),
            "name": info.principal.token_name(),
            "scopes": info.principal.scopes().iter().collect::<Vec<_>>(),
            "expires_at": info.principal.expires_at().map(unix_secs),
        })
    };
    match event {
        LifecycleEvent::Issued(info) => token("token.issued", info),
        LifecycleEvent::Revoked(info) => token("token.revoked", info),
        LifecycleEvent::Deleted(info) => token("token.deleted", info),
        LifecycleEvent::Rotated { old, new, grace } => {
            let mut entry = token("token.rotated", new);
            entry["token_id"] = json!(old.as_str());
            entry["new_token_id"] = json!(new.id.as_str());
            entry["grace_secs"] = json!(grace.as_secs());
            entry
        }
        LifecycleEvent::ExpiredPurged(infos) => json!({
            "type": "token.expired_purged",
            "token_ids": infos.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        }),
        _ => json!({ "type": "token.other" }),
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
