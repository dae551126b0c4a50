//! What the SQL store records through the `metrics` facade, read with a local
//! `DebuggingRecorder` on a current-thread runtime (no global recorder).
#![cfg(all(feature = "metrics", feature = "sqlite"))]

use http::StatusCode;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower_bearer::{Credits, NewToken, TokenManager};
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
    let held: Vec<DebugValue> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "tower_bearer_credit_leases_held")
        .map(|(.., value)| value)
        .collect();
    assert_eq!(held, [DebugValue::Gauge(0.0.into())]);
}
