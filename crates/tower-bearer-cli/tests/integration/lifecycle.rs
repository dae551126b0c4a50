//! One operator's session, on SQLite and on PostgreSQL (over TLS): issue, list, show, rotate, revoke,
//! delete, purge and the audit log, each checked against a store the test opens itself.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog};
use tower_bearer::{TokenId, TokenState};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::state;

use crate::support::{Cli, KillOnDrop};

#[tokio::test]
async fn sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tokens.db").display());
    operator_session(&Cli::new(&url, None)).await;
}

/// Over TLS, as managed PostgreSQL services ask: the cluster refuses connections without it.
#[tokio::test]
async fn postgres_cluster_over_tls() {
    let Some(cluster) = PgCluster::start_tls() else { return };
    // The cluster trusts local connections, so the password is never checked: it is there to
    // be kept out of every output.
    let password = "cli-test-pw-91c4e";
    let url = cluster.url().replacen("postgres@", &format!("postgres:{password}@"), 1) + "?sslmode=require";
    assert_ne!(url, cluster.url());
    operator_session(&Cli::new(&url, Some(password))).await;
}

/// An operator revokes a key with the CLI while a server on the same SQLite file holds it in a
/// cache for an hour: the server refuses it within its poll of the file's change feed.
#[tokio::test]
async fn a_key_the_cli_revokes_leaves_a_running_servers_cache() {
    use tower_bearer::CachedTokenStore;
    use tower_bearer::stores::CacheConfig;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let cli = Cli::new(&format!("sqlite://{}", path.display()), None);
    let issued = cli.run(&["issue", "--subject", "alice"]);
    let (key, id) = (secret_of(issued.ok()), id_in(&issued.stderr));

    let store = SqlTokenStore::builder()
        .revocation_poll_interval(Duration::from_millis(20))
        .open_sqlite(&path)
        .await
        .unwrap();
    let cache = CachedTokenStore::with_config(
        store.clone(),
        CacheConfig::default().positive_ttl(Duration::from_secs(3600)),
    );
    assert!(store.revocation_pushes()[0].wait_until_subscribed(Duration::from_secs(5)).await);
    assert!(matches!(state(&cache, &key).await, TokenState::Active(_)));
    assert_eq!(cache.entry_count(), 1, "the answer is cached");

    cli.run(&["revoke", &id]).ok();
    let start = Instant::now();
    while matches!(state(&cache, &key).await, TokenState::Active(_)) {
        assert!(start.elapsed() < Duration::from_secs(5), "the server still admits the revoked key");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(matches!(state(&cache, &key).await, TokenState::Revoked(_)));
}

/// The id in a summary line such as `issued tid_… for subject …`.
fn id_in(note: &str) -> String {
    let word = note.split_whitespace().find(|w| w.starts_with("tid_")).expect("an id in the summary");
    word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

/// The secret alone on stdout's one line.
#[track_caller]
fn secret_of(stdout: &str) -> String {
    let mut lines = stdout.lines();
    let secret = lines.next().expect("the secret").to_owned();
    assert!(lines.next().is_none() && secret.starts_with("tok_") && !secret.contains(' '), "{stdout:?}");
    secret
}

async fn operator_session(cli: &Cli) {
    let mut secrets = Vec::new();

    // Issue: the secret alone on stdout, the summary on stderr; the command creates the file.
    let issued = cli.run(&[
        "issue",
        "--subject",
        "alice",
        "--organization",
        "acme",
        "--name",
        "CI key",
        "--scope",
        "read",
        "--scopes",
        "write,deploy",
        "--expires-in",
        "30d",
    ]);
    let key = secret_of(issued.ok());
    let id = id_in(&issued.stderr);
    secrets.push(key.clone());
    // With --quiet and --database: just the secret, as `$(tower-bearer issue …)` captures it.
    let short = cli.run_with_flag(&["issue", "--subject", "bob", "--expires-in", "1s", "--quiet"]);
    let short_key = secret_of(short.ok());
    assert_eq!(short.stderr, "");
    secrets.push(short_key.clone());
    // In the application's format, for a layer that checks formats.
    let formatted = cli.run(&["issue", "--subject", "carol", "--token-prefix", "sk_live_", "--quiet"]);
    let formatted_key = formatted.ok().trim_end().to_owned();
    assert!(tower_bearer::TokenFormat::new("sk_live_").check(&formatted_key).is_ok(), "{formatted_key}");
    secrets.push(formatted_key);
    let issued_at = Instant::now();

    let store = SqlTokenStore::open(cli.url()).await.unwrap();
    let TokenState::Active(principal) = state(&store, &key).await else { panic!("the issued key works") };
    assert_eq!((principal.subject(), principal.organization()), ("alice", Some("acme")));
    assert_eq!(principal.token_id().map(TokenId::as_str), Some(id.as_str()));
    assert_eq!(principal.scopes().to_string(), "deploy read write");

    // List and show: metadata, never the secret.
    let table = cli.run(&["list", "--subject", "alice"]);
    assert!(table.ok().starts_with("ID ") && table.stdout.contains(&id) && table.stdout.contains("CI key"));
    let listed = cli.run(&["--json", "list", "--organization", "acme"]).json_lines();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["scopes"], serde_json::json!(["deploy", "read", "write"]));
    assert_eq!((&listed[0]["expired"], &listed[0]["replaced_by"]), (&Value::Bool(false), &Value::Null));
    assert!(listed[0].get("secret").is_none());
    assert_eq!(cli.run(&["--json", "list", "--all"]).json_lines().len(), 3, "alice's, bob's and carol's");
    let first = cli.run(&["--json", "list", "--limit", "1"]);
    assert_eq!(first.json_lines().len(), 1);
    assert!(first.stderr.contains("more tokens follow"), "{first:?}");
    let shown = cli.run(&["show", &id]);
    for field in ["CI key", "acme", "alice", "deploy read write", "expired:      no"] {
        assert!(shown.ok().contains(field), "{field}: {shown:?}");
    }
    let hint = listed[0]["hint"].as_str().unwrap();
    assert!(shown.stdout.contains(hint) && key.ends_with(&hint[hint.len() - 4..]));

    // Rotate: a new secret, the old one refused at once; with a grace period, still accepted.
    let rotated = cli.run(&["rotate", &id]);
    let rotated_key = secret_of(rotated.ok());
    secrets.push(rotated_key.clone());
    let rotated_id = id_in(rotated.stderr.split(" into ").nth(1).unwrap());
    assert!(matches!(state(&store, &key).await, TokenState::Revoked(_)), "the old key is refused");
    assert!(matches!(state(&store, &rotated_key).await, TokenState::Active(_)));
    let graced = cli.run(&["--json", "rotate", &rotated_id, "--grace", "1h"]).json_lines();
    assert_eq!(graced.len(), 1);
    let newest_key = graced[0]["secret"].as_str().unwrap().to_owned();
    let newest_id = graced[0]["token"]["id"].as_str().unwrap().to_owned();
    secrets.push(newest_key.clone());
    assert_eq!(graced[0]["replaced"], rotated_id.as_str());
    assert!(graced[0]["old_valid_until"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(matches!(state(&store, &rotated_key).await, TokenState::Active(_)), "within its grace period");
    let old = cli.run(&["--json", "show", &rotated_id]).json_lines();
    assert_eq!(old[0]["replaced_by"], newest_id.as_str());

    // Revoke; unknown ids fail with a message and exit code 1.
    assert_eq!(cli.run(&["revoke", &newest_id]).ok(), format!("revoked {newest_id}\n"));
    assert!(matches!(state(&store, &newest_key).await, TokenState::Revoked(_)));
    cli.run(&["revoke", &newest_id]).fails(1, "no live token with id");
    cli.run(&["revoke", "tid_unknown"]).fails(1, "tid_unknown");
    cli.run(&["show", "tid_unknown"]).fails(1, "no live token");
    cli.run(&["rotate", "tid_unknown"]).fails(1, "no live token");
    cli.run(&["delete", "tid_unknown"]).fails(1, "no live token");

    // Delete: the token is gone, not revoked.
    let deleted = cli.run(&["--json", "delete", &rotated_id]).json_lines();
    assert_eq!(deleted, [serde_json::json!({"id": rotated_id, "deleted": true})]);
    assert!(matches!(state(&store, &rotated_key).await, TokenState::Unknown));

    // The audit log: what the CLI changed, and a request event written by an application.
    let mut rejected = AuditEvent::new(AuditKind::Rejected, UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    rejected.token_id = Some(TokenId::from(newest_id.as_str()));
    rejected.subject = Some("alice".to_owned());
    (rejected.method, rejected.path, rejected.status) =
        (Some("GET".to_owned()), Some("/v1/things".to_owned()), Some(401));
    store.append(vec![rejected.with_reason("revoked_token")]).await.unwrap();
    let of_key = cli.run(&["audit", "--token", &id]);
    let events: Vec<&str> = of_key.ok().lines().map(|l| l.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(events, ["token.issued", "token.rotated"], "{of_key:?}");
    let revoked = cli.run(&["--json", "audit", "--event", "token.revoked"]).json_lines();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        (&revoked[0]["token_id"], &revoked[0]["organization"]),
        (&Value::from(newest_id.as_str()), &Value::from("acme"))
    );
    let request = cli.run(&["audit", "--event", "request.rejected"]);
    assert!(
        request.ok().contains("2001-09-09T01:46:40Z  request.rejected")
            && request.stdout.contains("GET /v1/things 401  revoked_token"),
        "{request:?}"
    );
    let all = cli.run(&["--json", "audit"]).json_lines();
    assert!(all.windows(2).all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()), "oldest first");
    let page =
        cli.run(&["--json", "audit", "--after", &all[1]["seq"].to_string(), "--limit", "2"]).json_lines();
    assert_eq!(page, all[2..4]);
    follow(cli, &store).await;

    // Purge: the expired token, and audit events older than a day (the request event).
    if let Some(wait) = Duration::from_millis(1100).checked_sub(issued_at.elapsed()) {
        tokio::time::sleep(wait).await;
    }
    assert_eq!(cli.run(&["--json", "list", "--subject", "bob"]).json_lines()[0]["expired"], true);
    let purged = cli.run(&["--json", "purge", "--audit-older-than", "1d"]).json_lines();
    assert_eq!(purged, [serde_json::json!({"expired_tokens": 1, "audit_events": 1})]);
    assert!(matches!(state(&store, &short_key).await, TokenState::Unknown));
    let purges = cli.run(&["--json", "audit", "--event", "token.purged"]).json_lines();
    assert_eq!(purges.len(), 1, "the purge is in the audit log");
    assert_eq!(cli.run(&["purge"]).ok(), "purged 0 expired tokens\n");

    store.close().await;
    cli.assert_nothing_leaked(&secrets);
}

/// `audit --follow` prints an event written after it started, and ends cleanly on Ctrl-C.
async fn follow(cli: &Cli, store: &SqlTokenStore) {
    let mut command: Command = cli.command(&["audit", "--follow", "--event", "token.leaked"]);
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // Give it time to print the (empty) backlog, then report a leak.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leaked =
        AuditEvent::new(AuditKind::Leaked, SystemTime::now()).with_reason("found in a public repository");
    store.append(vec![leaked]).await.unwrap();
    let line = received.recv_timeout(Duration::from_secs(10)).expect("the new event is printed");
    assert!(line.contains("token.leaked") && line.ends_with("found in a public repository"), "{line}");
    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "--follow ends on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    cli.keep(line, stderr);
}
