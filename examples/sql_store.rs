//! The quickstart on a real database: tokens in SQLite, surviving restarts.
//!
//! ```text
//! cargo run --example sql_store --features cache
//! ```
//!
//! On its first start it issues a demo token and prints it: the secret is shown once, and only
//! its SHA-256 digest is stored. Start it again and the same token still works; the example
//! just names the token it found. `--issue` mints another one.
//!
//! - `SQLITE_PATH`: the database file (default `tower-bearer-demo.db` in the current directory).
//! - `DATABASE_URL=postgres://user@host/db`: use PostgreSQL instead; every instance started
//!   against it shares the tokens, and a revocation on one is seen by the others' caches at
//!   once.
//! - `PORT`: where to listen (default 3000; `0` picks a free port).
//!
//! ```text
//! curl -i -H 'Authorization: Bearer <token>' http://127.0.0.1:3000/v1/me          # 200
//! curl -i -X DELETE -H 'Authorization: Bearer <token>' http://127.0.0.1:3000/v1/me/token   # revokes it
//! ```

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_bearer::stores::CacheConfig;
use tower_bearer::{
    BearerAuthLayer, CachedTokenStore, IssuedToken, NewToken, Principal, TokenFormat, TokenId, TokenInfo,
    TokenManager,
};
use tower_bearer_sqlx::{OpenError, SqlTokenStore};

/// The demo token is the one of this subject with this name: the database is the marker.
const DEMO_SUBJECT: &str = "demo-user";
const DEMO_NAME: &str = "sql_store demo";

/// The example's store: SQL, with a cache in front.
pub type Store = CachedTokenStore<SqlTokenStore>;

/// The store at `DATABASE_URL` (Postgres) or the SQLite file `sqlite_path`, with a cache in
/// front.
pub async fn open(database_url: Option<&str>, sqlite_path: &str) -> Result<Store, OpenError> {
    // One line picks the store; everything below works the same on either database (and on
    // `MemoryTokenStore`, minus the persistence).
    let builder = SqlTokenStore::builder().format(TokenFormat::new("tok_demo_"));
    let store = match database_url {
        Some(url) => builder.open(url).await?,
        None => builder.open_sqlite(sqlite_path).await?,
    };
    // Lookups answered from memory; the cache also hears other instances' revocations (Postgres
    // LISTEN/NOTIFY, or the SQLite file's change feed for every process on it).
    Ok(store.cached(CacheConfig::default()))
}

/// The API over `store`.
pub fn app(store: Store) -> Router {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/me/token", axum::routing::delete(revoke_own))
        .route_layer(BearerAuthLayer::new(store.clone()).realm("sql_store"))
        .with_state(store)
}

/// The demo token found in `store`, if one was issued on an earlier start.
pub async fn existing_demo_token(store: &Store) -> Result<Option<TokenInfo>, tower_bearer::ManageError> {
    Ok(store.list(DEMO_SUBJECT).await?.into_iter().find(|t| t.principal.token_name() == Some(DEMO_NAME)))
}

/// Mints a demo token.
pub async fn issue_demo_token(store: &Store) -> Result<IssuedToken, tower_bearer::ManageError> {
    store.issue(NewToken::for_subject(DEMO_SUBJECT).name(DEMO_NAME).scopes(["profile:read"])).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sqlite_path = std::env::var("SQLITE_PATH").unwrap_or_else(|_| "tower-bearer-demo.db".into());
    let store = open(std::env::var("DATABASE_URL").ok().as_deref(), &sqlite_path).await?;
    let existing = existing_demo_token(&store).await?;
    let mint = existing.is_none() || std::env::args().any(|a| a == "--issue");
    let app = app(store.clone());

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("listening on {base}");
    if let Some(info) = &existing {
        let hint = info.hint.as_deref().unwrap_or("?");
        println!("existing demo token id {} ({hint}): still valid, shown when it was issued", info.id);
    }
    if mint {
        let issued = issue_demo_token(&store).await?;
        println!("token: {}", issued.secret().expose_secret());
        println!("token id: {} (only its digest is stored; this is the one time it is shown)", issued.id());
    }
    println!();
    println!("try:");
    println!("  curl -i -H 'Authorization: Bearer <token>' {base}/v1/me");
    println!("  curl -i -X DELETE -H 'Authorization: Bearer <token>' {base}/v1/me/token");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "subject": principal.subject(),
        "token_id": principal.token_id().map(TokenId::as_str),
        "token_name": principal.token_name(),
        "scopes": principal.scopes().iter().collect::<Vec<_>>(),
    }))
}

/// Revokes the token that authenticated this request: through the cache, so the very next
/// request with it is refused.
async fn revoke_own(State(store): State<Store>, principal: Principal) -> Result<StatusCode, StatusCode> {
    let id = principal.token_id().ok_or(StatusCode::BAD_REQUEST)?;
    match store.revoke(id).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}
