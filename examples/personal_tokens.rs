//! Personal access tokens as self-contained signed tokens (MK.IO's scheme): each token carries
//! its user, organization, token type, expiry and permissions, signed with Ed25519; another
//! service verifies it from the published JWKS alone, and a revocation reaches it within a
//! second, with no call to the portal per request.
//!
//! Two processes share one SQLite file (`PERSONAL_TOKENS_DB`, by default
//! `tower-bearer-personal-tokens.db` in the temp directory):
//!
//! ```text
//! cargo run --example personal_tokens              # the portal and its API, 127.0.0.1:3007
//! cargo run --example personal_tokens -- verifier  # another service, 127.0.0.1:3008
//! ```
//!
//! The portal also serves the page a signed-in user manages her tokens on (MK.IO's "personal
//! API tokens"): <http://127.0.0.1:3007/sign-in> signs the demo user in (a cookie, as the
//! host's own session would), then <http://127.0.0.1:3007/account/tokens> lists her tokens and
//! creates one (description, UTC expiration date, reduced permissions), shown for 5 minutes.
//!
//! The portal prints the demo user's session token (`alice` of `acme`, who may `repo:read`,
//! `repo:write` and manage her tokens). With `S=<session token>`:
//!
//! ```text
//! # a personal token: a description, a UTC expiration date, reduced permissions (shown once)
//! curl -s -H "Authorization: Bearer $S" -H 'content-type: application/json' \
//!      -d '{"description":"ci","expires_on":"2027-06-30","scopes":["repo:read"]}' \
//!      http://127.0.0.1:3007/user/tokens
//! curl -i -H "Authorization: Bearer $T" http://127.0.0.1:3008/user            # 200, verified offline
//! curl -i -X POST -H "Authorization: Bearer $T" -H 'content-type: application/json' \
//!      -d '{"name":"hello-world"}' http://127.0.0.1:3007/user/repos            # 403: read-only
//! curl -i -X DELETE -H "Authorization: Bearer $S" http://127.0.0.1:3007/user/tokens/$ID   # 204
//! curl -i -H "Authorization: Bearer $T" http://127.0.0.1:3008/user            # 401 within 1 s
//! ```

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::{
    BearerAuthLayer, IssuedToken, ManageError, NewToken, Principal, RequireScopesLayer, TokenId, TokenManager,
};
use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};
use tower_bearer_manage::{PortalUser, TokenPortal};
use tower_bearer_sqlx::{RevocationListener, SqlTokenStore};

/// Who issues the tokens, and the API they are for: checked by every verifier.
pub const ISSUER: &str = "https://portal.example";
pub const AUDIENCE: &str = "https://api.example";
/// Everything the demo user may do; a personal token gets all of it or a subset.
const USER_PERMISSIONS: [&str; 3] = ["repo:read", "repo:write", "tokens:write"];
const MAX_REPO_NAME: usize = 100;
const MAX_DESCRIPTION: usize = 200;

type Tokens = SignedTokens<SqlTokenStore>;

/// The portal: its API, its tokens, and the demo user's session token.
pub struct Portal {
    pub app: Router,
    pub tokens: Tokens,
    pub session: IssuedToken,
}

/// The portal, signing with a fresh Ed25519 key (its public half is in the JWKS), recording
/// tokens in the SQLite file `db`.
pub async fn portal(db: &Path) -> Result<Portal, Box<dyn Error + Send + Sync>> {
    let store = SqlTokenStore::builder().open_sqlite(db).await?;
    let keys = KeySet::new(SigningKey::ed25519_generate("portal-1")?)?;
    let tokens = SignedTokens::new(store, keys, ISSUER, AUDIENCE);
    let session = tokens
        .issue(
            NewToken::for_subject("alice")
                .organization("acme")
                .kind("session")
                .scopes(USER_PERMISSIONS)
                .expires_in(Duration::from_secs(7 * 24 * 3600)),
        )
        .await?;
    let jwks = tokens.jwks();
    let mut csrf_key = [0_u8; 32];
    getrandom::fill(&mut csrf_key)?;
    let page = TokenPortal::new(tokens.clone(), signed_in, csrf_key)
        .kind("personal")
        .title("Personal API tokens")
        .scopes([("repo:read", "Read repositories"), ("repo:write", "Create repositories")])
        .show_secret_for(Duration::from_secs(5 * 60))
        .max_lifetime(Duration::from_secs(365 * 24 * 3600))
        .sign_in_at("/sign-in");
    let app = Router::new()
        .route("/user", get(user))
        .route("/user/tokens", post(create_token.layer(RequireScopesLayer::all(["tokens:write"]))))
        .route("/user/tokens/{id}", delete(revoke_token.layer(RequireScopesLayer::all(["tokens:write"]))))
        .route("/user/repos", post(create_repo.layer(RequireScopesLayer::all(["repo:write"]))))
        .route_layer(BearerAuthLayer::new(tokens.clone()).realm("personal-tokens"))
        .route_service("/.well-known/jwks.json", jwks)
        .nest("/account/tokens", page.router())
        .route("/sign-in", get(sign_in))
        .with_state(Shared { tokens: tokens.clone(), next_repo: Arc::new(AtomicU64::new(1)) });
    Ok(Portal { app, tokens, session })
}

/// Another service: the portal's public keys from its JWKS (no private key here), the
/// revocations from the shared database file, polled every `poll` (1 s by default).
pub async fn verifier(
    db: &Path,
    jwks: &Value,
    poll: Duration,
) -> Result<(Router, RevocationListener), Box<dyn Error + Send + Sync>> {
    let store = SqlTokenStore::builder().revocation_poll_interval(poll).open_sqlite(db).await?;
    // The store starts polling for the verifier's deny list as it is built.
    let tokens = SignedTokens::new(store.clone(), KeySet::from_jwks(jwks)?, ISSUER, AUDIENCE);
    let listener = store.revocation_pushes().pop().ok_or("SQLite polls")?;
    let app =
        Router::new().route("/user", get(user)).route_layer(BearerAuthLayer::new(tokens).realm("verifier"));
    Ok((app, listener))
}

#[derive(Clone)]
struct Shared {
    tokens: Tokens,
    next_repo: Arc<AtomicU64>,
}

/// The portal's JWKS, fetched over HTTP.
pub async fn fetch_jwks(url: &str) -> Result<Value, Box<dyn Error + Send + Sync>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let response = client.get(url.parse()?).await?;
    if !response.status().is_success() {
        return Err(format!("{url}: {}", response.status()).into());
    }
    let body = response.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let db = std::env::var_os("PERSONAL_TOKENS_DB")
        .map_or_else(|| std::env::temp_dir().join("tower-bearer-personal-tokens.db"), PathBuf::from);
    if std::env::args().nth(1).as_deref() == Some("verifier") {
        let jwks_url = "http://127.0.0.1:3007/.well-known/jwks.json";
        let (app, _listener) = verifier(&db, &fetch_jwks(jwks_url).await?, Duration::from_secs(1)).await?;
        let listener = TcpListener::bind(("127.0.0.1", 3008)).await?;
        println!("verifier on http://{} (keys from {jwks_url})", listener.local_addr()?);
        axum::serve(listener, app).await?;
        return Ok(());
    }
    let Portal { app, session, .. } = portal(&db).await?;
    let listener = TcpListener::bind(("127.0.0.1", 3007)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("portal on {base} (database {})", db.display());
    println!("alice's session token: {}", session.secret().expose_secret());
    println!("then: cargo run --example personal_tokens -- verifier   (serves http://127.0.0.1:3008/user)");
    drop(session);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The host's own session, in this demo a cookie naming the user (a real application would use
/// its session store): whom the token page is for.
fn signed_in(request: &http::request::Parts) -> Option<PortalUser> {
    let cookies = request.headers.get(http::header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .any(|c| c.trim() == "demo_session=alice")
        .then(|| PortalUser::new("alice", "Alice").organization("acme"))
}

/// `GET /sign-in`: signs the demo user in and goes to her token page.
async fn sign_in() -> impl IntoResponse {
    let cookie = "demo_session=alice; Path=/; HttpOnly; SameSite=Lax";
    (StatusCode::SEE_OTHER, [(http::header::SET_COOKIE, cookie), (http::header::LOCATION, "/account/tokens")])
}

/// `GET /user`: everything the token says about its holder.
async fn user(principal: Principal) -> Json<Value> {
    Json(json!({
        "subject": principal.subject(),
        "organization": principal.organization(),
        "kind": principal.token_kind(),
        "token_id": principal.token_id().map(TokenId::as_str),
        "description": principal.token_name(),
        "scopes": principal.scopes().iter().collect::<Vec<_>>(),
        "expires_at": principal.expires_at().map(unix_secs),
    }))
}

fn invalid(description: &str) -> Response {
    let body = json!({ "error": "invalid_request", "error_description": description });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

/// `POST /user/tokens` `{"description", "expires_on": "YYYY-MM-DD" (UTC), "scopes": [...]}`:
/// a personal token with at most the caller's permissions, expiring at the start of that day
/// (UTC), shown once (422 for a bad field, naming it).
async fn create_token(State(s): State<Shared>, caller: Principal, Json(body): Json<Value>) -> Response {
    let Some(description) = body["description"].as_str().filter(|d| (1..=MAX_DESCRIPTION).contains(&d.len()))
    else {
        return invalid("`description` must be 1-200 bytes");
    };
    let Some(expires_at) = body["expires_on"].as_str().and_then(parse_date) else {
        return invalid("`expires_on` must be a date, YYYY-MM-DD (UTC)");
    };
    let Some(scopes) =
        body["scopes"].as_array().and_then(|s| s.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
    else {
        return invalid("`scopes` must be an array of strings");
    };
    // Reduced permissions: a subset of what the user holds. The expiry is the user's choice,
    // not bounded by the session they create it from.
    if let Some(missing) = scopes.iter().find(|s| !caller.scopes().contains(s)) {
        return invalid(&format!("you do not hold the permission {missing:?}"));
    }
    if expires_at <= SystemTime::now() {
        return invalid("`expires_on` must be in the future");
    }
    let new = NewToken::for_subject(caller.subject())
        .organization(caller.organization().unwrap_or_default())
        .kind("personal")
        .name(description)
        .scopes(scopes)
        .expires_at(expires_at);
    let Ok(issued) = s.tokens.issue(new).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let (secret, info) = issued.into_parts();
    let body = json!({
        "id": info.id.as_str(),
        "token": secret.expose_secret(),
        "description": description,
        "expires_at": unix_secs(expires_at),
        "scopes": info.principal.scopes().iter().collect::<Vec<_>>(),
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `DELETE /user/tokens/{id}`: revokes one of the caller's tokens (404 for any other).
async fn revoke_token(
    State(s): State<Shared>,
    caller: Principal,
    UrlPath(id): UrlPath<String>,
) -> StatusCode {
    match s.tokens.revoke_as(&caller, &TokenId::from(id.as_str())).await {
        Ok(true) => StatusCode::NO_CONTENT,
        Ok(false) | Err(ManageError::NotFound(_) | ManageError::OtherTenant) => StatusCode::NOT_FOUND,
        Err(ManageError::ScopeNotHeld(_)) => StatusCode::FORBIDDEN,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `POST /user/repos` `{"name": "..."}`: needs `repo:write`.
async fn create_repo(State(s): State<Shared>, principal: Principal, Json(body): Json<Value>) -> Response {
    let Some(name) = body["name"].as_str().filter(|n| is_repo_name(n)) else {
        return invalid("`name` must be 1-100 ASCII letters, digits, '-', '_' or '.'");
    };
    let id = s.next_repo.fetch_add(1, Ordering::Relaxed);
    let repo = json!({ "id": format!("repo_{id}"), "name": name, "owner": principal.subject() });
    (StatusCode::CREATED, Json(repo)).into_response()
}

fn is_repo_name(name: &str) -> bool {
    (1..=MAX_REPO_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The start (UTC) of the day `YYYY-MM-DD`, from 1970 to 9999.
fn parse_date(date: &str) -> Option<SystemTime> {
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if y < 1970 || !(1..=12).contains(&m) || d < 1 || d > month_days[usize::try_from(m - 1).ok()?] {
        return None;
    }
    // Days since the epoch of a proleptic Gregorian date (March-based years).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = u64::try_from(era * 146_097 + day_of_era - 719_468).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(days * 86_400))
}
