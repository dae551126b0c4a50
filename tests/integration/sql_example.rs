//! `examples/sql_store.rs` in process, opened three times on the same SQLite file: the token
//! issued on the first start still works after a "restart" (the store closed and opened
//! again), the file never holds a secret, and a token revoked over HTTP is refused at once.

use std::path::Path;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::client::Served;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/sql_store.rs"]
mod sql_store;

/// The example's store on the SQLite file `db` (never on a `DATABASE_URL` from outside), served.
async fn start(db: &Path) -> (sql_store::Store, Served) {
    let store = sql_store::open(None, db.to_str().unwrap()).await.unwrap();
    let served = Served::start(sql_store::app(store.clone())).await;
    (store, served)
}

async fn send(method: Method, url: &str, token: &str) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.expect("request");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_sql_store_example_keeps_its_tokens_across_restarts() {
    let dir =
        tempfile::Builder::new().prefix("tower-bearer-example-").tempdir_in(std::env::temp_dir()).unwrap();
    let db = dir.path().join("demo.db");

    // First start: a new database, no demo token yet, so one is issued and shown once.
    let (store, first) = start(&db).await;
    assert!(sql_store::existing_demo_token(&store).await.unwrap().is_none());
    let token = sql_store::issue_demo_token(&store).await.unwrap().secret().expose_secret().to_owned();
    assert!(token.starts_with("tok_demo_"));
    let (status, body) = send(Method::GET, &first.url("/v1/me"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["subject"], "demo-user");
    assert_eq!(me["token_name"], "sql_store demo");
    let id = me["token_id"].as_str().unwrap().to_owned();
    drop(first);
    store.get_ref().close().await;

    // Second start: the token is found (so none is minted), and still works.
    let (store, second) = start(&db).await;
    let existing = sql_store::existing_demo_token(&store).await.unwrap();
    let existing = existing.unwrap_or_else(|| panic!("a restart must find the demo token"));
    assert_eq!(existing.id.as_str(), id);
    assert!(existing.hint.as_deref().is_some_and(|h| h.starts_with("tok_demo_…")), "{existing:?}");
    assert!(!format!("{existing:?}").contains(&token), "the secret is never shown again");
    assert_eq!(send(Method::GET, &second.url("/v1/me"), &token).await.0, StatusCode::OK);
    assert_eq!(
        send(Method::GET, &second.url("/v1/me"), "tok_demo_unknown").await.0,
        StatusCode::UNAUTHORIZED
    );
    drop(second);
    store.get_ref().close().await;

    // `--issue`: one more token; revoking it over HTTP refuses it at once, the first lives on.
    let (store, third) = start(&db).await;
    let another = sql_store::issue_demo_token(&store).await.unwrap().secret().expose_secret().to_owned();
    assert_ne!(another, token);
    assert_eq!(send(Method::GET, &third.url("/v1/me"), &another).await.0, StatusCode::OK);
    assert_eq!(send(Method::DELETE, &third.url("/v1/me/token"), &another).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(Method::GET, &third.url("/v1/me"), &another).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(Method::GET, &third.url("/v1/me"), &token).await.0, StatusCode::OK);
    drop(third);
    store.get_ref().close().await;

    // Only digests ever reached the file (and its write-ahead log).
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        on_disk.extend(std::fs::read(entry.path()).unwrap_or_default());
    }
    assert!(!on_disk.is_empty());
    for secret in [&token, &another] {
        assert!(
            !on_disk.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is in the database file"
        );
    }
}
