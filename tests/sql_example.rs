//! Runs `examples/sql_store.rs` as a real process, twice (and a third time with `--issue`)
//! against the same SQLite file: the token printed by the first run still works after a
//! restart, the file never holds a secret, and a token revoked over HTTP is refused at once.
//!
//! Same conventions and process harness (`tests/support/example.rs`) as `tests/examples.rs`:
//! `cargo run --example NAME` with `PORT=0`, first stdout line
//! `listening on http://127.0.0.1:<port>`, tokens on lines starting `token: `.
#![cfg(all(feature = "axum", feature = "sqlite", feature = "cache"))]

mod support;

use std::path::Path;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use support::example::Example;

/// `examples/sql_store.rs` on the SQLite file `db`, never on a `DATABASE_URL` from outside.
fn start(db: &Path, args: &[&str]) -> Example {
    Example::launch("sql_store").args(args).env("SQLITE_PATH", db).env_remove("DATABASE_URL").start()
}

fn token_in(banner: &[String]) -> Option<String> {
    banner.iter().find_map(|l| l.strip_prefix("token: ")).map(str::to_owned)
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

    // First start: a new database, a new demo token, shown once.
    let mut first = start(&db, &[]);
    let banner = first.banner();
    let token = token_in(&banner).unwrap_or_else(|| panic!("no token printed: {banner:?}"));
    assert!(token.starts_with("tok_demo_"));
    let (status, body) = send(Method::GET, &first.url("/v1/me"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["subject"], "demo-user");
    assert_eq!(me["token_name"], "sql_store demo");
    let id = me["token_id"].as_str().unwrap().to_owned();
    first.stop();

    // Second start: the token is found, not re-issued, and still works.
    let mut second = start(&db, &[]);
    let banner = second.banner();
    assert!(token_in(&banner).is_none(), "a restart must not mint a new token: {banner:?}");
    assert!(
        banner.iter().any(|l| l.starts_with(&format!("existing demo token id {id} (tok_demo_…"))),
        "{banner:?}"
    );
    assert!(banner.iter().all(|l| !l.contains(&token)), "the secret is never shown again");
    assert_eq!(send(Method::GET, &second.url("/v1/me"), &token).await.0, StatusCode::OK);
    assert_eq!(
        send(Method::GET, &second.url("/v1/me"), "tok_demo_unknown").await.0,
        StatusCode::UNAUTHORIZED
    );
    second.stop();

    // `--issue`: one more token; revoking it over HTTP refuses it at once, the first lives on.
    let mut third = start(&db, &["--issue"]);
    let banner = third.banner();
    let another = token_in(&banner).unwrap_or_else(|| panic!("--issue printed no token: {banner:?}"));
    assert_ne!(another, token);
    assert_eq!(send(Method::GET, &third.url("/v1/me"), &another).await.0, StatusCode::OK);
    assert_eq!(send(Method::DELETE, &third.url("/v1/me/token"), &another).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(Method::GET, &third.url("/v1/me"), &another).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(Method::GET, &third.url("/v1/me"), &token).await.0, StatusCode::OK);
    third.stop();

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
