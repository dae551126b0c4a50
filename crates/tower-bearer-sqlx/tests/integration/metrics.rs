//! What the SQL store records through the `metrics` facade, read with a local
//! `DebuggingRecorder` on a current-thread runtime (no global recorder).
#![cfg(all(feature = "metrics", feature = "sqlite"))]

use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower_bearer::{Clock, Credits, NewToken, TokenManager};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::temp_dir;

use crate::credits::spend_one;

#[test]
fn giving_leases_back_records_the_leases_held() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = temp_dir();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store =
                SqlTokenStore::builder().credit_lease(10).open_sqlite(dir.path().join("m.db")).await.unwrap();
            let issued = store.issue(NewToken::for_subject("ada").credits(Credits::new(100))).await.unwrap();
            assert_eq!(spend_one(&store, issued.secret().expose_secret()).await, StatusCode::OK);
            store.release_credits().await.unwrap();
        });
    });
    assert_eq!(leases_held(&snapshotter), Some(0.0));
}

/// The gauge's value, if it was recorded.
fn leases_held(snapshotter: &Snapshotter) -> Option<f64> {
    let held = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, .., value)| {
        (key.key().name() == "tower_bearer_credit_leases_held").then_some(value)
    });
    held.map(|value| match value {
        DebugValue::Gauge(held) => held.into_inner(),
        other => panic!("the leases held are a gauge, not {other:?}"),
    })
}

/// What the idle-lease sweep (every eighth of the lease term, in real time) records next.
/// The debugging recorder's snapshot resets a gauge to 0 as it reads it, so the test sets a
/// sentinel the sweep overwrites; on a current-thread runtime nothing runs between the read
/// and the sentinel's reset.
async fn next_sweep(snapshotter: &Snapshotter) -> f64 {
    const NOT_YET: f64 = -1.0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        metrics::gauge!("tower_bearer_credit_leases_held").set(NOT_YET);
        tokio::time::sleep(Duration::from_millis(20)).await;
        match leases_held(snapshotter) {
            Some(held) if held != NOT_YET => return held,
            _ => assert!(Instant::now() < deadline, "no sweep in 10 s"),
        }
    }
}

#[test]
fn the_idle_sweep_records_a_lease_in_use_as_held_and_an_idle_one_given_back() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = temp_dir();
    // The store's clock decides what is idle; it moves only when the test says so.
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = SqlTokenStore::builder()
                .credit_lease(10)
                .credit_lease_term(Duration::from_secs(1))
                .clock(clock.clone())
                .open_sqlite(dir.path().join("held.db"))
                .await
                .unwrap();
            let issued = store.issue(NewToken::for_subject("ada").credits(Credits::new(100))).await.unwrap();
            assert_eq!(spend_one(&store, issued.secret().expose_secret()).await, StatusCode::OK);
            // Just used (the store's clock stands still): every sweep keeps the lease, held.
            assert_eq!(next_sweep(&snapshotter).await, 1.0);
            assert_eq!(next_sweep(&snapshotter).await, 1.0);
            let leased = store.get(issued.id()).await.unwrap().unwrap().credits.unwrap().leased;
            assert_eq!(leased, 10, "the lease is still held");
            // Unused for longer than an eighth of the term: given back, none held.
            assert!(clock.advance(Duration::from_millis(500)));
            assert_eq!(next_sweep(&snapshotter).await, 0.0);
            let credits = store.get(issued.id()).await.unwrap().unwrap().credits.unwrap();
            assert_eq!((credits.remaining, credits.leased), (99, 0), "the unspent 9 came back");
        });
    });
}
