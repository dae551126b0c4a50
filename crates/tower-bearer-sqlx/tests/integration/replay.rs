//! The store as a `ReplayCache`: a single-use id is admitted once until it expires, by every
//! instance sharing the database (a replay through another instance is refused), usable again
//! once expired, deleted by `purge_expired` and by each instance's own purge, and refused (an
//! error) when the database is gone; on a SQLite file and on PostgreSQL, on a manual clock.

use std::time::{Duration, Instant, SystemTime};

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

/// An instance that checks ids deletes the expired ones itself, every purge interval, and
/// keeps the live ones. `store` purges every 20 ms of real time; expiry is on `clock`.
async fn expired_ids_are_purged_by_the_instance(
    store: &SqlTokenStore,
    clock: &Clock,
    rows: impl AsyncFn() -> i64,
) {
    let soon = clock.now() + Duration::from_secs(60);
    for id in 0..20 {
        assert!(first(store, id, soon).await);
    }
    let later = clock.now() + Duration::from_secs(3_600);
    assert!(first(store, 200, later).await);
    assert_eq!(rows().await, 21, "nothing expired, nothing purged");
    clock.advance(Duration::from_secs(61));
    // Waits for the purge (in real time, up to 10 s): not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows().await != 1 {
        assert!(Instant::now() < deadline, "the expired ids are still there: {}", rows().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!first(store, 200, later).await, "the live id was kept");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_instance_purges_the_expired_ids_of_a_sqlite_file() {
    let dir = tower_bearer_test_support::temp_dir();
    let clock = Clock::manual(start());
    let store = SqlTokenStore::builder()
        .clock(clock.clone())
        .replay_purge_interval(Duration::from_millis(20))
        .open_sqlite(dir.path().join("purge.db"))
        .await
        .unwrap();
    let pool = store.sqlite_pool().unwrap().clone();
    let rows = async || {
        sqlx::query_scalar("SELECT count(*) FROM tower_bearer_replay_ids").fetch_one(&pool).await.unwrap()
    };
    expired_ids_are_purged_by_the_instance(&store, &clock, rows).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn an_instance_purges_the_expired_ids_of_a_postgres_database() {
    use super::instances::{builder, cluster};

    let cluster = cluster!();
    let clock = Clock::manual(start());
    let store = builder()
        .clock(clock.clone())
        .replay_purge_interval(Duration::from_millis(20))
        .open(&cluster.url())
        .await
        .unwrap();
    let pool = store.postgres_pool().unwrap().clone();
    let rows = async || {
        sqlx::query_scalar("SELECT count(*) FROM tower_bearer.replay_ids").fetch_one(&pool).await.unwrap()
    };
    expired_ids_are_purged_by_the_instance(&store, &clock, rows).await;
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
