//! The store as a `ReplayCache`: a single-use id is admitted once until it expires, by every
//! instance sharing the database (a replay through another instance is refused), usable again
//! once expired, deleted by `purge_expired`, and refused (an error) when the database is gone;
//! on a SQLite file and on PostgreSQL, on a manual clock.

use std::time::{Duration, SystemTime};

use tower_bearer::store::ReplayCache;
use tower_bearer::{Clock, TokenManager};
use tower_bearer_sqlx::SqlTokenStore;

fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// `first_use` of `id` until `until` on `store`, which must answer.
async fn first(store: &SqlTokenStore, id: u8, until: SystemTime) -> bool {
    store.first_use([id; 32], until).await.unwrap()
}

/// The contract on two stores sharing one database and `clock`; `rows` counts the ids the
/// database holds.
async fn single_use_on_two_instances(
    one: &SqlTokenStore,
    two: &SqlTokenStore,
    clock: &Clock,
    rows: impl AsyncFn() -> i64,
) {
    let until = clock.now() + Duration::from_secs(60);
    assert!(first(one, 1, until).await, "a first use");
    assert!(!first(one, 1, until).await, "a replay on the same instance");
    assert!(!first(two, 1, until).await, "a replay through the other instance");
    assert!(first(two, 2, until).await, "another id");
    assert!(!first(one, 2, until).await);

    clock.advance(Duration::from_secs(59));
    assert!(!first(two, 1, until).await, "still within its lifetime");
    let later = clock.now() + Duration::from_secs(3_600);
    assert!(first(one, 3, later).await);
    clock.advance(Duration::from_secs(1));
    let next = clock.now() + Duration::from_secs(60);
    assert!(first(two, 1, next).await, "expired: usable again");
    assert!(!first(one, 1, next).await, "and then single-use again, for its new lifetime");

    // Of many instances' uses of one id at once, exactly one is the first.
    let fresh = clock.now() + Duration::from_secs(60);
    let uses = (0..16).map(|i| {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        tokio::spawn(async move { store.first_use([9; 32], fresh).await.unwrap() })
    });
    let mut firsts = 0;
    for used in uses.collect::<Vec<_>>() {
        firsts += usize::from(used.await.unwrap());
    }
    assert_eq!(firsts, 1, "one first use among concurrent ones");

    // Ids 1, 2 and 9 expire by `next`; 3 is kept for an hour.
    assert_eq!(rows().await, 4);
    clock.advance(Duration::from_secs(60));
    one.purge_expired().await.unwrap();
    assert_eq!(rows().await, 1, "the expired ids are purged with the expired tokens");
    assert!(!first(two, 3, later).await, "a live id survives the purge");

    two.close().await;
    assert!(two.first_use([4; 32], later).await.is_err(), "no database: an error, never a first use");
    assert!(first(one, 4, later).await, "the failed check recorded nothing");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn single_use_ids_are_shared_by_stores_on_one_sqlite_file() {
    let dir = tower_bearer_test_support::temp_dir();
    let path = dir.path().join("replay.db");
    let clock = Clock::manual(start());
    let one = SqlTokenStore::builder().clock(clock.clone()).open_sqlite(&path).await.unwrap();
    let two = SqlTokenStore::builder().clock(clock.clone()).open_sqlite(&path).await.unwrap();
    let pool = one.sqlite_pool().unwrap().clone();
    let rows = async || {
        sqlx::query_scalar("SELECT count(*) FROM tower_bearer_replay_ids").fetch_one(&pool).await.unwrap()
    };
    single_use_on_two_instances(&one, &two, &clock, rows).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn single_use_ids_are_shared_by_stores_on_one_postgres_database() {
    use super::instances::{builder, cluster};

    let cluster = cluster!();
    let clock = Clock::manual(start());
    let one = builder().clock(clock.clone()).open(&cluster.url()).await.unwrap();
    let two = builder().clock(clock.clone()).open(&cluster.url()).await.unwrap();
    let pool = one.postgres_pool().unwrap().clone();
    let rows = async || {
        sqlx::query_scalar("SELECT count(*) FROM tower_bearer.replay_ids").fetch_one(&pool).await.unwrap()
    };
    single_use_on_two_instances(&one, &two, &clock, rows).await;
}
