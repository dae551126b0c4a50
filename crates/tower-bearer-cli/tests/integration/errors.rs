//! Mistakes and outages: clear messages, the documented exit codes, nothing created, and
//! never the database URL.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::{BIN, Cli, DATABASE_ENV};

#[test]
fn usage_errors_say_what_is_wrong() {
    let missing =
        std::process::Command::new(BIN).args(["revoke", "tid_x"]).env_remove(DATABASE_ENV).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let message = String::from_utf8(missing.stderr).unwrap();
    assert!(message.contains("--database") && message.contains(DATABASE_ENV), "{message}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.db");
    let cli = Cli::new(&format!("sqlite://{}", file.display()), None);
    let bad = cli.run(&["issue", "--subject", "a", "--expires-in", "30x"]);
    bad.fails(2, "--expires-in");
    assert!(bad.stderr.contains("such as 90m, 12h, 30d"), "{bad:?}");
    cli.run(&["issue", "--subject", "a", "--expires-in", "30"]).fails(2, "add a unit: 30s");
    cli.run(&["rotate", "tid_x", "--grace", "1y"]).fails(2, "--grace");
    cli.run(&["issue", "--subject", "a", "--token-prefix", "sk-live"]).fails(2, "token prefix");
    cli.run(&["issue", "--subject", "a", "--expires-at", "1"]).fails(2, "in the past");
    cli.run(&["issue", "--subject", "a", "--scope", "bad scope"]).fails(2, "--scope");
    cli.run(&["audit", "--event", "token.stolen"]).fails(2, "token.revoked");
    cli.run(&["list", "--limit", "0"]).fails(2, "--limit");
    assert!(!file.exists(), "nothing opened the database");
    // Any command but `issue` refuses to create a SQLite file.
    cli.run(&["revoke", "tid_x"]).fails(3, "does not exist");
    assert!(!file.exists());
    assert!(cli.run(&["--help"]).ok().contains("TOWER_BEARER_DATABASE_URL"));

    let other = Cli::new("mysql://ops:hunter2@db/app", Some("hunter2"));
    other.run(&["list"]).fails(2, "unsupported database URL");
    other.assert_nothing_leaked(&[]);
    cli.assert_nothing_leaked(&[]);
}

#[test]
fn an_unreachable_database_fails_quickly_without_its_url() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cli = Cli::new(&format!("postgres://ops:s3cret-pw@127.0.0.1:{port}/app"), Some("s3cret-pw"));
    let start = Instant::now();
    cli.run(&["revoke", "tid_x"]).fails(3, "could not connect to the token database");
    assert!(start.elapsed() < Duration::from_secs(20));
    cli.assert_nothing_leaked(&[]);
}
