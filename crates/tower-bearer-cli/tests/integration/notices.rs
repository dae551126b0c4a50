//! `tower-bearer notices`: the tokens expiring within the window and the leak reports of it,
//! on a SQLite file the test fills through a store of its own.

use std::time::{Duration, SystemTime};

use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog};
use tower_bearer::{NewToken, TokenManager};
use tower_bearer_sqlx::SqlTokenStore;

use crate::support::Cli;

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn notices_lists_expiring_and_leaked_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tokens.db").display());
    let store = SqlTokenStore::builder().open(&url).await.unwrap();
    let now = SystemTime::now();
    let soon =
        store.issue(NewToken::for_subject("ada").organization("acme").expires_at(now + DAY)).await.unwrap();
    let _later = store.issue(NewToken::for_subject("bob").expires_at(now + 30 * DAY)).await.unwrap();
    let leaked = store.issue(NewToken::for_subject("cy").organization("evil")).await.unwrap();
    store
        .append(vec![AuditEvent::new(AuditKind::Leaked, now).with_principal(&leaked.info().principal)])
        .await
        .unwrap();
    store.close().await;
    let cli = Cli::new(&url, None);

    let lines = cli.run(&["notices", "--within", "7d", "--json"]).json_lines();
    let ids: Vec<&str> =
        lines.iter().map(|line| line["id"].as_str().or_else(|| line["token_id"].as_str()).unwrap()).collect();
    assert_eq!(ids, [soon.id().as_str(), leaked.id().as_str()], "{lines:?}");
    assert_eq!(lines[1]["event"], "token.leaked");

    let table = cli.run(&["notices"]);
    assert!(table.ok().contains(soon.id().as_str()) && table.stderr.contains("expiring:"), "{table:?}");
    // One organization's: acme's expiring token, no leak of its own.
    let acme = cli.run(&["notices", "--organization", "acme", "--json"]).json_lines();
    assert_eq!(acme.len(), 1, "{acme:?}");
    let none = cli.run(&["notices", "--within", "1h"]);
    assert!(none.stderr.contains("no token expires within the window"), "{none:?}");
}
