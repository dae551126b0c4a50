//! An instance killed with SIGKILL while it holds credits: a child process (this test binary
//! run again, see `tower_bearer_test_support::child`) leases credits on a throwaway
//! PostgreSQL and is killed; the parent measures what its lease became.
#![cfg(feature = "postgres")]

use std::time::{Duration, SystemTime};

use http::StatusCode;
use tower_bearer::{Clock, Credits, NewToken, TokenManager};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::child;
use tower_bearer_test_support::pg::PgCluster;

use crate::credits::spend_one;

/// The child's database and token.
const CHILD_DATABASE: &str = "TOWER_BEARER_TEST_CHILD_DATABASE";
const CHILD_TOKEN: &str = "TOWER_BEARER_TEST_CHILD_TOKEN";

/// Not a test: the child process of the test below, which runs this test binary again with
/// its orders in the environment (run on its own, it has none and returns at once). It
/// leases 10 credits, spends 3, and waits to be killed.
#[tokio::test]
#[ignore = "the child process of a crash test, started by it"]
async fn child_holding_a_credit_lease() {
    let (Ok(url), Ok(token)) = (std::env::var(CHILD_DATABASE), std::env::var(CHILD_TOKEN)) else {
        return;
    };
    let store = SqlTokenStore::builder().credit_lease(10).open(&url).await.unwrap();
    for _ in 0..3 {
        assert_eq!(spend_one(&store, &token).await, StatusCode::OK);
    }
    child::report_and_wait("spent 3").await
}

/// A killed instance's lease stays counted as leased for its term (nobody can tell a dead
/// instance from a busy one sooner), then the next lease of the token reclaims it, as spent:
/// the balance is exact again, and the crash cost the unspent part of one lease.
#[tokio::test]
async fn a_killed_instances_lease_is_reclaimed_after_its_term_as_spent() {
    let Some(cluster) = PgCluster::start() else { return };
    let url = cluster.url();
    let clock = Clock::manual(SystemTime::now());
    let store = SqlTokenStore::builder().clock(clock.clone()).credit_lease(10).open(&url).await.unwrap();
    let issued = store.issue(NewToken::for_subject("ada").credits(Credits::new(100))).await.unwrap();
    let token = issued.secret().expose_secret();

    let env = [(CHILD_DATABASE, url.as_str()), (CHILD_TOKEN, token)];
    let (process, report) = child::start("crashes::child_holding_a_credit_lease", &env);
    assert_eq!(report, "spent 3");
    child::kill_9(process);
    let balance = async || store.get(issued.id()).await.unwrap().unwrap().credits.unwrap();
    let held = balance().await;
    assert_eq!((held.remaining, held.leased), (90, 10), "the dead child's lease, within its term");

    // Past the term (one minute by default; the child's clock is the system's).
    clock.advance(Duration::from_secs(300));
    assert_eq!(spend_one(&store, token).await, StatusCode::OK);
    let after = balance().await;
    assert_eq!((after.remaining, after.leased), (80, 10), "the child's lease left, this one's came");
    assert_eq!(after.spent(), Some(10), "the whole dead lease counts as spent: 3 were, 7 are lost");
    store.close().await;
    let reader = SqlTokenStore::open(&url).await.unwrap();
    let closed = reader.get(issued.id()).await.unwrap().unwrap().credits.unwrap();
    assert_eq!((closed.remaining, closed.leased, closed.spent()), (89, 0, Some(11)), "9 came back on close");
    println!(
        "credits after a crash: a lease of 10, 3 spent by the dead instance, 7 lost, none granted twice"
    );
}
