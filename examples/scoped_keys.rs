//! Scoped, expiring API keys managed through an API, with rotation and an audit log (the
//! Tooken scheme), on SQLite: `tower-bearer-manage` does the work.
//!
//! The first start mints one admin key (all scopes) and prints it once; later starts never
//! mint another, even after it was revoked (use the `tower-bearer` CLI then). Through the API
//! (`/v1`, described at `/openapi.json`) a key creates, lists, rotates and revokes keys of its
//! organization, within its own scopes, and reads the audit log.
//!
//! ```text
//! cargo run --example scoped_keys                   # SQLITE_PATH=keys.db by default, port 3006
//! curl -s -X POST -H "Authorization: Bearer $A" -H 'content-type: application/json' \
//!      -d '{"name":"dashboard","scopes":["tokens:read"],"expires_in":3600}' http://127.0.0.1:3006/v1/tokens
//! curl -s -H "Authorization: Bearer $A" 'http://127.0.0.1:3006/v1/tokens?limit=10'
//! curl -s -X POST -H "Authorization: Bearer $A" -H 'content-type: application/json' \
//!      -d '{"grace_secs":60}' http://127.0.0.1:3006/v1/tokens/$ID/rotate
//! curl -i -X DELETE -H "Authorization: Bearer $A" http://127.0.0.1:3006/v1/tokens/$ID
//! curl -s -H "Authorization: Bearer $A" 'http://127.0.0.1:3006/v1/audit?event=request.rejected'
//! ```

use std::error::Error;
use std::path::Path;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_bearer::{BearerAuthLayer, Clock, IssuedToken, NewToken, TokenFormat, TokenManager};
use tower_bearer_manage::{AuditWriter, ManagementApi, bootstrap_admin};
use tower_bearer_sqlx::SqlTokenStore;

/// The API, its store and audit writer, and the admin key if this start minted it.
pub struct Demo {
    pub app: Router,
    pub store: SqlTokenStore,
    pub audit: AuditWriter,
    pub admin: Option<IssuedToken>,
}

pub fn key_format() -> TokenFormat {
    TokenFormat::new("sk_live_")
}

/// The API on the SQLite file `path`, on `clock`.
pub async fn demo(path: &Path, clock: Clock) -> Result<Demo, Box<dyn Error + Send + Sync>> {
    // The store is also the audit log: it records each key's lifecycle in the transaction
    // that changes it, and the writer batches the requests' events into it.
    let audit =
        AuditWriter::builder().clock(clock.clone()).flush_interval(Duration::from_millis(100)).build();
    let store = SqlTokenStore::builder().format(key_format()).clock(clock).open_sqlite(path).await?;
    audit.start(store.clone());
    let admin = NewToken::for_subject("owner").organization("acme").kind("admin").name("admin key");
    let admin = bootstrap_admin(&store, admin.scopes(["*", store.rules().admin_scope()])).await?;

    let api = ManagementApi::new(store.clone()).audit_log(store.clone());
    let openapi = api.openapi("/v1");
    let auth = BearerAuthLayer::new(store.clone())
        .realm("scoped-keys")
        .token_formats([key_format()])
        .on_event(audit.request_hook());
    let app = Router::new()
        .nest("/v1", api.router())
        .layer(auth)
        .route("/openapi.json", get(move || async move { Json(openapi) }));
    tokio::spawn(purge_expired(store.clone()));
    Ok(Demo { app, store, audit, admin })
}

/// Expired keys are removed every ten minutes (their audit events stay).
async fn purge_expired(store: SqlTokenStore) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        let _ = store.purge_expired().await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let path = std::env::var("SQLITE_PATH").unwrap_or_else(|_| "keys.db".into());
    let Demo { app, audit, admin, .. } = demo(Path::new(&path), Clock::system()).await?;
    match admin {
        Some(admin) => println!("admin key (shown once): {}", admin.secret().expose_secret()),
        None => println!(
            "the admin key was minted at an earlier start ({path}); `tower-bearer issue` makes others"
        ),
    }
    let listener = TcpListener::bind(("127.0.0.1", 3006)).await?;
    println!("listening on http://{}/v1 (OpenAPI at /openapi.json)", listener.local_addr()?);
    axum::serve(listener, app).with_graceful_shutdown(async { drop(tokio::signal::ctrl_c().await) }).await?;
    // Nothing recorded is lost on the way out.
    audit.shutdown().await;
    Ok(())
}
