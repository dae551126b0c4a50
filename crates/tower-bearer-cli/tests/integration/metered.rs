//! Metered keys from the command line: `issue --rate-limit --credits --refill`, shown by `list`
//! and `show` (text and JSON) with the balance apart (remaining, leased, spent) while another
//! instance holds a lease; the limit flags' mistakes; kinds the store reserves refused; tokens
//! bound to a key (`--dpop-jkt`).

use std::time::Duration;

use serde_json::json;
use tower_bearer::limit::{CreditLedger, Spend};
use tower_bearer::store::Answer;
use tower_bearer::{Credits, RateLimit, TokenState};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::state;

use crate::support::Cli;

/// Spends one credit of `secret` through `store`, as the application's `CreditsLayer` does.
async fn spend_one(store: &SqlTokenStore, secret: &str) {
    let TokenState::Active(principal) = state(store, secret).await else { panic!("active") };
    let spend = match store.spend(&principal, 1) {
        Answer::Now(spend) => spend,
        Answer::Later(future) => future.await,
    };
    assert_eq!(spend.unwrap(), Spend::Granted);
}

#[tokio::test]
async fn metered_keys_are_issued_and_shown_with_their_balance() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&format!("sqlite://{}", dir.path().join("tokens.db").display()), None);
    let issued = cli.run(&[
        "--json",
        "issue",
        "--subject",
        "acme",
        "--scope",
        "search",
        "--rate-limit",
        "100/10s",
        "--credits",
        "1000",
        "--refill",
        "1000/30d",
    ]);
    let issued = &issued.json_lines()[0];
    let secret = issued["secret"].as_str().unwrap().to_owned();
    let id = issued["token"]["id"].as_str().unwrap().to_owned();
    assert_eq!(issued["token"]["rate_limit"], json!({"requests": 100, "period_secs": 10}));
    assert_eq!(issued["token"]["credits"]["refill"], json!({"amount": 1000, "every_secs": 30 * 86_400}));
    let plain = cli.run(&["issue", "--subject", "acme", "--credits", "5", "--quiet"]);
    let plain_secret = plain.ok().trim_end().to_owned();

    // The application's view: the limits travel with the key.
    let store = SqlTokenStore::builder().credit_lease(50).open(cli.url()).await.unwrap();
    let TokenState::Active(principal) = state(&store, &secret).await else { panic!("active") };
    assert_eq!(principal.rate_limit(), RateLimit::new(100, Duration::from_secs(10)));
    assert_eq!(
        principal.credits(),
        Some(Credits::new(1000).refilled(1000, Duration::from_secs(30 * 86_400)))
    );

    // Another instance (the application) spends 4 from a lease of 50, still outstanding.
    for _ in 0..4 {
        spend_one(&store, &secret).await;
    }
    let shown = &cli.run(&["--json", "show", &id]).json_lines()[0];
    let balance = &shown["credits"]["balance"];
    assert_eq!(
        (&balance["remaining"], &balance["leased"], &balance["spent"], &balance["allowance"]),
        (&json!(950), &json!(50), &json!(0), &json!(1000)),
        "the lease is neither remaining nor spent: {shown}"
    );
    assert!(balance["next_refill_at"].as_str().unwrap().ends_with('Z'));
    let text = cli.run(&["show", &id]);
    for line in [
        "rate limit:   100 requests per 10s",
        "credits:      1000, refilled to 1000 every 30d",
        "balance:      950 remaining, 50 leased, 0 spent; next refill ",
    ] {
        assert!(text.ok().contains(line), "{line}: {text:?}");
    }
    // The instance gives its lease back: the 46 unspent come back, the 4 are spent.
    store.close().await;
    let shown = &cli.run(&["--json", "show", &id]).json_lines()[0];
    let balance = &shown["credits"]["balance"];
    assert_eq!(
        (&balance["remaining"], &balance["leased"], &balance["spent"]),
        (&json!(996), &json!(0), &json!(4))
    );

    let table = cli.run(&["list", "--subject", "acme"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert!(lines[0].contains(" LIMITS "), "{table:?}");
    assert!(lines.iter().any(|l| l.contains(&id) && l.contains("100/10s, 996 credits left")), "{table:?}");
    assert!(lines.iter().any(|l| !l.contains(&id) && l.contains("5 credits left")), "{table:?}");
    let listed = cli.run(&["--json", "list"]).json_lines();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t["audience"] == json!([])));
    cli.assert_nothing_leaked(&[secret, plain_secret]);
}

#[test]
fn limit_flags_say_what_is_wrong_and_reserved_kinds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.db");
    let cli = Cli::new(&format!("sqlite://{}", file.display()), None);
    let issue = |extra: &[&str]| {
        let mut args = vec!["issue", "--subject", "a"];
        args.extend_from_slice(extra);
        cli.run(&args)
    };
    issue(&["--rate-limit", "100"]).fails(2, "--rate-limit");
    issue(&["--rate-limit", "100"]).fails(2, "REQUESTS/PERIOD, such as 100/10s");
    issue(&["--rate-limit", "0/10s"]).fails(2, "REQUESTS must be a whole number of at least 1");
    issue(&["--rate-limit", "100/10x"]).fails(2, "PERIOD: expected a number and a unit");
    issue(&["--rate-limit", "100/0s"]).fails(2, "PERIOD must be from 1s");
    issue(&["--credits=-1"]).fails(2, "--credits");
    issue(&["--credits", "many"]).fails(2, "--credits");
    issue(&["--refill", "10/1d"]).fails(2, "--credits");
    issue(&["--credits", "10", "--refill", "10/0s"]).fails(2, "--refill");
    issue(&["--credits", "10", "--refill", "0/1d"]).fails(2, "AMOUNT must be a whole number of at least 1");
    assert!(!file.exists(), "nothing opened the database");
    issue(&["--credits", "0"]).fails(2, "--credits 0 without --refill");
    // The OAuth endpoints' kind: minted by them only (introspection trusts its name).
    issue(&["--kind", "oauth_access", "--name", "client-1"]).fails(2, "--kind oauth_access is reserved");
    assert_eq!(cli.run(&["--json", "list"]).json_lines().len(), 0, "nothing issued");
    let starts_empty = issue(&["--credits", "0", "--refill", "100/1d", "--quiet"]);
    assert!(starts_empty.ok().starts_with("tok_"));
    cli.assert_nothing_leaked(&[starts_empty.stdout.trim_end().to_owned()]);
}

/// `issue --dpop-jkt` binds the token to a key: the application reads the binding, `show` and
/// `--json` print the thumbprint, `list` its start; a value of another shape is a usage error.
#[tokio::test]
async fn dpop_jkt_binds_a_token_and_is_shown() {
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&format!("sqlite://{}", dir.path().join("tokens.db").display()), None);
    let issued = &cli.run(&["--json", "issue", "--subject", "ci", "--dpop-jkt", JKT]).json_lines()[0];
    assert_eq!(issued["token"]["dpop_jkt"], JKT);
    let (secret, id) = (issued["secret"].as_str().unwrap(), issued["token"]["id"].as_str().unwrap());
    let plain = cli.run(&["issue", "--subject", "ci", "--quiet"]);

    let store = SqlTokenStore::open(cli.url()).await.unwrap();
    let TokenState::Active(principal) = state(&store, secret).await else { panic!("active") };
    assert_eq!(principal.grant().confirmation(), Some(JKT));
    store.close().await;

    assert!(cli.run(&["show", id]).ok().contains(&format!("bound to key: {JKT}")));
    let table = cli.run(&["list"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert!(lines[0].contains(" KEY "), "{table:?}");
    assert!(lines.iter().any(|l| l.contains(id) && l.contains(" 0ZcOCORZ… ")), "{table:?}");
    let listed = cli.run(&["--json", "list"]).json_lines();
    let keys: Vec<&serde_json::Value> = listed.iter().map(|t| &t["dpop_jkt"]).collect();
    assert_eq!(keys, [&json!(JKT), &serde_json::Value::Null]);

    for bad in ["short", &format!("{JKT}A"), &JKT.replace('-', "+")] {
        cli.run(&["issue", "--subject", "ci", "--dpop-jkt", bad]).fails(2, "43 base64url characters");
    }
    cli.assert_nothing_leaked(&[secret.to_owned(), plain.ok().trim_end().to_owned()]);
}
