//! `usage` run as the binary: per key, totals and a sparkline of admitted requests per day,
//! read from the counts the application's usage counter added to the SQL store.

use std::time::{Duration, SystemTime};

use tower_bearer::TokenId;
use tower_bearer::manage::usage::{Granularity, UsageCount, UsageLog, UsageOutcome};
use tower_bearer_sqlx::SqlTokenStore;

use crate::support::Cli;

/// `count` requests of `token` with `outcome`, `days_ago` days before today.
fn counted(token: Option<&str>, outcome: UsageOutcome, days_ago: u64, count: u64) -> UsageCount {
    let today = Granularity::Day.bucket(SystemTime::now());
    UsageCount {
        token_id: token.map(TokenId::from),
        organization: None,
        subject: token.map(|_| "ci".to_owned()),
        outcome,
        granularity: Granularity::Day,
        bucket: today - Duration::from_secs(86_400 * days_ago),
        count,
    }
}

#[tokio::test]
async fn usage_prints_each_keys_totals_and_sparkline() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&format!("sqlite://{}", dir.path().join("tokens.db").display()), None);
    let issued = cli.run(&["--json", "issue", "--subject", "ci"]).json_lines();
    let id = issued[0]["token"]["id"].as_str().unwrap().to_owned();
    let store = SqlTokenStore::open(cli.url()).await.unwrap();
    store
        .add_usage(vec![
            counted(Some(&id), UsageOutcome::Admitted, 6, 1),
            counted(Some(&id), UsageOutcome::Admitted, 4, 7),
            counted(Some(&id), UsageOutcome::Admitted, 3, 4),
            counted(Some(&id), UsageOutcome::RateLimited, 3, 2),
            counted(Some(&id), UsageOutcome::Admitted, 0, 2),
            counted(None, UsageOutcome::Unknown, 1, 5),
            counted(Some(&id), UsageOutcome::Admitted, 9, 1000), // before the 7 days
        ])
        .await
        .unwrap();
    store.close().await;

    let out = cli.run(&["usage", "--days", "7"]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(lines[0].starts_with("TOKEN") && lines[0].ends_with("ADMITTED PER DAY"), "{out:?}");
    let unknown: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(unknown, ["(unknown)", "5", "0", "unknown", "5", "▁▁▁▁▁▁▁"]);
    let key: Vec<&str> = lines[2].split_whitespace().collect();
    // 1, 0, 7, 4, 0, 0, 2 admitted, oldest first: scaled to 7.
    assert_eq!(key, [id.as_str(), "16", "14", "rate_limited", "2", "▂▁█▅▁▁▃"]);

    let one = cli.run(&["usage", &id, "--days", "7", "--json"]).json_lines();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["token_id"], id.as_str());
    assert_eq!(one[0]["totals"]["admitted"], 14);
    assert_eq!(one[0]["buckets"].as_array().unwrap().len(), 7);
    assert_eq!(one[0]["buckets"][2]["counts"]["admitted"], 7);

    cli.run(&["usage", "--granularity", "minute"]).fails(2, "buckets");
    cli.run(&["usage", "--granularity", "week"]).fails(2, "minute, hour or day");
    cli.assert_nothing_leaked(&[]);
}
