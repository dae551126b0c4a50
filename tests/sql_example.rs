//! Runs `examples/sql_store.rs` as a real process, twice (and a third time with `--issue`)
//! against the same SQLite file: the token printed by the first run still works after a
//! restart, the file never holds a secret, and a token revoked over HTTP is refused at once.
//!
//! Same conventions as `tests/examples.rs`: `cargo run --example NAME` with `PORT=0`, first
//! stdout line `listening on http://127.0.0.1:<port>`, tokens on lines starting `token: `.
#![cfg(all(feature = "axum", feature = "sqlite", feature = "cache"))]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How long the example may take to print its first line. The first run compiles it.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// A running example process; killed when dropped, also when a test panics.
struct Example {
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    base_url: String,
}

impl Example {
    fn start(db: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO"))
            .args(["run", "--quiet", "--all-features", "--example", "sql_store", "--"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PORT", "0")
            .env("SQLITE_PATH", db)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cargo run");
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut example = Example { child, stdout, stderr, base_url: String::new() };
        let first = example.next_line(STARTUP_TIMEOUT);
        let Some(url) = first.strip_prefix("listening on ") else {
            panic!("first line is {first:?}, not `listening on ...`");
        };
        assert!(url.starts_with("http://127.0.0.1:"), "must bind 127.0.0.1 only: {url}");
        example.base_url = url.to_owned();
        example
    }

    fn next_line(&mut self, timeout: Duration) -> String {
        match self.stdout.recv_timeout(timeout) {
            Ok(line) => line,
            Err(e) => {
                let status = self.child.try_wait().ok().flatten();
                let reason = match e {
                    RecvTimeoutError::Timeout => "timed out waiting for output",
                    RecvTimeoutError::Disconnected => "stdout closed",
                };
                panic!(
                    "sql_store: {reason} (exit status {status:?}); stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
        }
    }

    /// Every line up to and including the blank one that ends the banner.
    fn banner(&mut self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        loop {
            let line = self.next_line(deadline.saturating_duration_since(Instant::now()));
            if line.is_empty() {
                return lines;
            }
            lines.push(line);
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let mut first = Example::start(&db, &[]);
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
    let mut second = Example::start(&db, &[]);
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
    let mut third = Example::start(&db, &["--issue"]);
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
