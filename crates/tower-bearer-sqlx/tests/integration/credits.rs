//! Limits on the SQL store: rate limits, credits and the audience persist with the token; credits are
//! spent through the `CreditsLayer` from leases, exact on one instance and never over-granted
//! by two instances racing on one PostgreSQL; unused leases come back on `close`; database
//! writes come once per lease, counted by a trigger on the table.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_bearer::{BearerAuthLayer, Clock, Credits, CreditsLayer, NewToken, RateLimit, TokenManager};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::{get, is_active, state, temp_dir};

/// The status of one request with `token` through `auth` then credits of `store`.
pub(crate) async fn spend_one(store: &SqlTokenStore, token: &str) -> StatusCode {
    let service = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(store.clone()))
        .layer(CreditsLayer::new(store.clone()))
        .service(service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
    service.oneshot(get(Some(token))).await.unwrap().status()
}

async fn balance(store: &SqlTokenStore, id: &tower_bearer::TokenId) -> (u64, u64) {
    let credits = store.get(id).await.unwrap().unwrap().credits.unwrap();
    (credits.remaining, credits.leased)
}

/// The credits of the current period that are gone for good (neither remaining nor leased).
async fn spent(store: &SqlTokenStore, id: &tower_bearer::TokenId) -> Option<u64> {
    store.get(id).await.unwrap().unwrap().credits.unwrap().spent()
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn limits_persist_and_credits_are_exact_on_sqlite_with_leases_returned_on_close() {
    let dir = temp_dir();
    let path = dir.path().join("limits.db");
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let clock = Clock::manual(start);
    let open = || SqlTokenStore::builder().clock(clock.clone()).credit_lease(4).open_sqlite(&path);
    let store = open().await.unwrap();
    let limit = RateLimit::new(100, Duration::from_secs(10)).unwrap();
    let plan = Credits::new(10).refilled(6, Duration::from_secs(3_600));
    let new =
        NewToken::for_subject("ada").rate_limit(limit).credits(plan).audience(["https://api.example.com"]);
    let issued = store.issue(new).await.unwrap();
    let token = issued.secret().expose_secret().to_owned();
    assert_eq!(issued.info().credits.map(|c| c.remaining), Some(10));

    let statuses: Vec<StatusCode> = futures_in_order(&store, &token, 12).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 10);
    assert!(statuses[10..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS));
    // Leases of 4, 4, then the 2 left: all spent, none left in the database, all counted leased.
    assert_eq!(balance(&store, issued.id()).await, (0, 10));
    assert_eq!(spent(&store, issued.id()).await, Some(0), "leased, not yet accounted as spent");
    store.close().await;

    // Reopened: the limits came back with the token, and the spent leases left the count.
    let store = open().await.unwrap();
    let tower_bearer::TokenState::Active(p) = state(&store, &token).await else { panic!("active") };
    assert_eq!((p.rate_limit(), p.credits()), (Some(limit), Some(plan)));
    assert_eq!(p.audience().collect::<Vec<_>>(), ["https://api.example.com"]);
    assert_eq!(balance(&store, issued.id()).await, (0, 0), "close accounted the spent leases");
    assert_eq!(spent(&store, issued.id()).await, Some(10));
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(spend_one(&store, &token).await, StatusCode::OK, "refilled");
    assert_eq!(balance(&store, issued.id()).await, (2, 4));
    assert_eq!(spent(&store, issued.id()).await, Some(0), "of the refill's 6: 2 remaining, 4 leased");
    store.close().await;
    let store = open().await.unwrap();
    assert_eq!(balance(&store, issued.id()).await, (5, 0), "3 unspent came back on close, 1 spent");
    assert_eq!(spent(&store, issued.id()).await, Some(1));
    assert!(is_active(&state(&store, &token).await));
}

async fn futures_in_order(store: &SqlTokenStore, token: &str, n: usize) -> Vec<StatusCode> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(spend_one(store, token).await);
    }
    out
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_rotation_moves_the_balance_on_sqlite() {
    let dir = temp_dir();
    let store = SqlTokenStore::builder().credit_lease(1).open_sqlite(dir.path().join("r.db")).await.unwrap();
    let old = store.issue(NewToken::for_subject("ada").credits(Credits::new(3))).await.unwrap();
    let old_token = old.secret().expose_secret().to_owned();
    assert_eq!(spend_one(&store, &old_token).await, StatusCode::OK);
    let new = store.rotate(old.id(), Duration::from_secs(60)).await.unwrap();
    assert_eq!(new.info().credits.map(|c| c.remaining), Some(2));
    let new_token = new.secret().expose_secret().to_owned();
    assert_eq!(spend_one(&store, &old_token).await, StatusCode::OK, "grace: spends the successor's");
    assert_eq!(spend_one(&store, &new_token).await, StatusCode::OK);
    assert_eq!(spend_one(&store, &new_token).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(spend_one(&store, &old_token).await, StatusCode::TOO_MANY_REQUESTS);
}

/// A counter of updates to the credit columns, kept by the database itself.
async fn count_credit_writes(pool: &sqlx::PgPool) {
    for statement in [
        "CREATE TABLE public.credit_writes (n BIGINT NOT NULL)",
        "INSERT INTO public.credit_writes VALUES (0)",
        "CREATE FUNCTION public.count_credit_write() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN UPDATE public.credit_writes SET n = n + 1; RETURN NEW; END $$",
        "CREATE TRIGGER count_credit_writes AFTER UPDATE OF credits_remaining, credits_leased \
         ON tower_bearer.tokens FOR EACH ROW EXECUTE FUNCTION public.count_credit_write()",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
}

async fn credit_writes(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT n FROM public.credit_writes").fetch_one(pool).await.unwrap()
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_racing_on_postgres_never_grant_more_than_the_credits() {
    let Some(cluster) = PgCluster::start() else { return };
    const TOTAL: u64 = 1_000;
    const LEASE: u64 = 25;
    let a = SqlTokenStore::builder().credit_lease(LEASE).open(&cluster.url()).await.unwrap();
    let b = SqlTokenStore::builder().credit_lease(LEASE).open(&cluster.url()).await.unwrap();
    count_credit_writes(a.postgres_pool().unwrap()).await;
    let issued = a.issue(NewToken::for_subject("ada").credits(Credits::new(TOTAL))).await.unwrap();
    let token: Arc<str> = issued.secret().expose_secret().into();

    let granted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for store in [&a, &b] {
        for _ in 0..8 {
            let (store, token, granted) = (store.clone(), token.clone(), granted.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..100 {
                    match spend_one(&store, &token).await {
                        StatusCode::OK => granted.fetch_add(1, Ordering::Relaxed),
                        status => {
                            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                            0
                        }
                    };
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let granted = granted.load(Ordering::Relaxed) as u64;
    assert!(granted <= TOTAL, "{granted} granted out of {TOTAL}");
    assert!(granted > TOTAL - 2 * LEASE, "{granted}: at most a lease per instance left unspent");

    // Shutdown gives back what each instance did not spend: the books balance exactly.
    let writes = credit_writes(a.postgres_pool().unwrap()).await;
    a.release_credits().await.unwrap();
    let probe = SqlTokenStore::builder().credit_lease(LEASE).open(&cluster.url()).await.unwrap();
    b.close().await;
    let (remaining, leased) = balance(&probe, issued.id()).await;
    assert_eq!(leased, 0, "both instances gave back their leases");
    assert_eq!(remaining + granted, TOTAL, "remaining {remaining}, granted {granted}");
    // One write per lease (the last ones may be smaller), none per request.
    assert!(writes <= (TOTAL / LEASE + 2) as i64, "{writes} writes for {granted} requests");
    a.close().await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn ten_thousand_requests_write_once_per_lease_on_postgres() {
    let Some(cluster) = PgCluster::start() else { return };
    const LEASE: u64 = 100;
    let store = SqlTokenStore::builder().credit_lease(LEASE).open(&cluster.url()).await.unwrap();
    count_credit_writes(store.postgres_pool().unwrap()).await;
    let issued = store.issue(NewToken::for_subject("ada").credits(Credits::new(1_000_000))).await.unwrap();
    let token = issued.secret().expose_secret().to_owned();
    let before = credit_writes(store.postgres_pool().unwrap()).await;
    for _ in 0..10_000 {
        assert_eq!(spend_one(&store, &token).await, StatusCode::OK);
    }
    let writes = credit_writes(store.postgres_pool().unwrap()).await - before;
    assert_eq!(writes, 10_000 / LEASE as i64, "one write per lease of {LEASE}");
    assert_eq!(balance(&store, issued.id()).await, (1_000_000 - 10_000, 10_000));
    store.release_credits().await.unwrap();
    assert_eq!(balance(&store, issued.id()).await, (1_000_000 - 10_000, 0));
}

/// The auth layer spending credits in line: a lookup answered later, then a lease.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn in_line_credits_on_sqlite() {
    let dir = temp_dir();
    let store = SqlTokenStore::builder().credit_lease(2).open_sqlite(dir.path().join("i.db")).await.unwrap();
    let issued = store.issue(NewToken::for_subject("ada").credits(Credits::new(3))).await.unwrap();
    let token = issued.secret().expose_secret().to_owned();
    let service = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(store.clone()).spend_credits(CreditsLayer::new(store.clone())))
        .service(service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(service.clone().oneshot(get(Some(&token))).await.unwrap().status());
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    assert_eq!(balance(&store, issued.id()).await, (0, 3));
}
