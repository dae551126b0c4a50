//! `SqlTokenStore` on a real PostgreSQL server that each test starts for itself (initdb in a
//! temp dir, a free 127.0.0.1 port; see `support/pg.rs`): the lifecycle contract, the layer
//! (200/401/403/503 and recovery without restart), the lookup timeout, and the cross-instance
//! revocation push: two instances, a database restart, a killed listener connection and a
//! frozen server. Without PostgreSQL installed these tests say so and pass, unless `CI` is set:
//! then they fail.
#![cfg(feature = "postgres")]

use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;
use tower_bearer::store::{Answer, StoreErrorKind};
use tower_bearer::{
    AuthError, BearerAuthLayer, IssuedToken, NewToken, PresentedToken, TokenManager, TokenState, TokenStore,
};
use tower_bearer::{CachedTokenStore, CircuitBreakerTokenStore, stores::CacheConfig};
use tower_bearer_sqlx::{SqlBackend, SqlTokenStore};
use tower_bearer_test_support::contract::{self, is_unavailable, recorder};
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::{is_active, is_revoked, is_unknown, outcome, state, status};

use super::instances::{Instance, builder, cluster, live, until};

/// The rows of a schema's token table as text: everything the store persisted.
async fn dump(store: &SqlTokenStore, schema: &str) -> Vec<u8> {
    let sql = format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{schema}\".tokens t");
    let text: String = sqlx::query_scalar(&sql).fetch_one(store.postgres_pool().unwrap()).await.unwrap();
    text.into_bytes()
}

/// Whether `cache` answers `secret` from memory, as active.
fn cached_active<S: TokenStore>(cache: &S, secret: &str) -> bool {
    matches!(cache.lookup(&PresentedToken::new(secret)), Answer::Now(Ok(TokenState::Active(_))))
}

/// Revokes through `by` and measures how long `on` keeps accepting the token.
async fn revocation_delay(by: &Instance, on: &Instance, token: &IssuedToken) -> Duration {
    assert_eq!(on.status(token).await, StatusCode::OK);
    assert!(cached_active(&on.cache, token.secret().expose_secret()), "cached on the other instance");
    assert!(by.cache.revoke(token.id()).await.unwrap());
    until(Duration::from_secs(5), async || on.status(token).await == StatusCode::UNAUTHORIZED)
        .await
        .expect("the other instance rejects the revoked token")
}

fn summary(delays: &mut [Duration]) -> String {
    delays.sort();
    format!(
        "min {:?}, median {:?}, max {:?} over {} revocations",
        delays[0],
        delays[delays.len() / 2],
        delays[delays.len() - 1],
        delays.len()
    )
}

/// Two instances append to the log; the first's transaction takes a lower `seq` but commits
/// after the second's. A reader following the log by position (as `tower-bearer audit
/// --follow` and the management API's cursors do) must not step past the first's row.
#[tokio::test]
async fn following_the_audit_log_misses_no_row_committed_out_of_order() {
    use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery};
    let cluster = cluster!();
    let store = builder().schema("follow").open(&cluster.url()).await.unwrap();
    let pool = store.postgres_pool().unwrap();
    let kinds = async |after: u64| -> Vec<(u64, String)> {
        let page = store.audit_page(&AuditQuery::new().after(after)).await.unwrap();
        page.items.iter().map(|r| (r.seq, r.event.kind.as_str().to_owned())).collect()
    };
    store.append(vec![AuditEvent::new(AuditKind::Issued, SystemTime::now())]).await.unwrap();
    let read = kinds(0).await;
    assert_eq!(read.len(), 1);
    let last = read[0].0;

    // The slow instance: its row is numbered, not yet committed.
    let mut slow = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO follow.audit (at_us, kind) VALUES (0, 'token.revoked')")
        .execute(&mut *slow)
        .await
        .unwrap();
    // The quick one commits a later-numbered row.
    store.append(vec![AuditEvent::new(AuditKind::Deleted, SystemTime::now())]).await.unwrap();
    assert_eq!(kinds(last).await, [], "nothing shown past a row that may still commit");

    slow.commit().await.unwrap();
    let rest: Vec<String> = kinds(last).await.into_iter().map(|(_, kind)| kind).collect();
    assert_eq!(rest, ["token.revoked", "token.deleted"], "both, in order, for the follower");
}

/// A server that takes TLS connections only, as managed services do: the store opens with
/// `sslmode=require` and its connections are encrypted; without TLS it is refused.
#[cfg(feature = "tls")]
#[tokio::test]
async fn the_store_opens_over_tls_when_the_server_requires_it() {
    let Some(cluster) = PgCluster::start_tls() else { return };
    let store = builder().open(&format!("{}?sslmode=require", cluster.url())).await.unwrap();
    let issued = store.issue(NewToken::for_subject("ada")).await.unwrap();
    assert!(is_active(&state(&store, issued.secret().expose_secret()).await));
    let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.postgres_pool().unwrap())
        .await
        .unwrap();
    assert!(encrypted);
    let plain = builder().open(&format!("{}?sslmode=disable", cluster.url())).await;
    assert!(plain.is_err(), "the server takes no connection without TLS");
}

#[tokio::test]
async fn the_usage_contract_holds_on_postgres() {
    let cluster = cluster!();
    let store = builder().open(&cluster.url()).await.unwrap();
    tower_bearer_test_support::usage::usage(&store).await;
}

#[tokio::test]
async fn the_lifecycle_contract_holds_on_postgres() {
    let cluster = cluster!();
    // Its log empty for the audit contract: the lifecycle's records have a test of their own.
    let store = builder().audit_lifecycle(false).open(&cluster.url()).await.unwrap();
    assert_eq!(store.backend(), SqlBackend::Postgres);
    contract::manage(&store).await.unwrap();
    contract::audit_log(&store).await;

    let (events, hook) = recorder();
    let plain = builder().schema("contract").on_lifecycle_event(hook).open(&cluster.url()).await.unwrap();
    contract::semantics(plain.clone(), &live(), &events, async || dump(&plain, "contract").await).await;

    // Through a cache subscribed to the notifications.
    let (events, hook) = recorder();
    let store = builder().schema("cached").on_lifecycle_event(hook).open(&cluster.url()).await.unwrap();
    let cached = store.clone().cached(CacheConfig::default().positive_ttl(Duration::from_secs(3600)));
    contract::semantics(cached.clone(), &live(), &events, async || dump(&store, "cached").await).await;
    contract::manage(&cached).await.unwrap();

    // The store keeps to its schemas: nothing in `public`, migrations included.
    let pool = plain.postgres_pool().unwrap();
    let public: i64 =
        sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(public, 0);
    let migrated: i64 =
        sqlx::query_scalar("SELECT count(*) FROM contract._sqlx_migrations").fetch_one(pool).await.unwrap();
    let migrations =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
    assert_eq!(migrated, migrations as i64, "every one of the store's migrations, in its own schema");
}

#[tokio::test]
async fn tokens_persist_across_reconnecting_and_concurrent_openings_migrate_once() {
    let cluster = cluster!();
    let url = cluster.url();
    // Four instances start at once against an empty database.
    let opened = futures_join((0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { builder().open(&url).await })
    }))
    .await;
    let stores: Vec<SqlTokenStore> = opened.into_iter().map(Result::unwrap).collect();
    let issued = stores[0]
        .issue(
            NewToken::for_subject("alice").scopes(["read", "a:b", "x/y"]).expires_in(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    for store in &stores {
        store.close().await;
    }
    let again = builder().open(&url).await.unwrap();
    let TokenState::Active(p) = state(&again, issued.secret().expose_secret()).await else { panic!("lost") };
    assert_eq!(p.scopes(), issued.info().principal.scopes());
    assert_eq!(p.expires_at(), issued.info().principal.expires_at());
    let info = again.get(issued.id()).await.unwrap().unwrap();
    assert_eq!((info.created_at, info.hint.clone()), (issued.info().created_at, issued.info().hint.clone()));
    assert!(issued.info().created_at <= SystemTime::now());
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn the_layer_fails_closed_while_the_database_is_down_and_recovers_without_restart() {
    let mut cluster = cluster!();
    let store = builder().lookup_timeout(Duration::from_secs(1)).open(&cluster.url()).await.unwrap();
    let reader = store.issue(NewToken::for_subject("alice").scopes(["read"])).await.unwrap();
    let reader = reader.secret().expose_secret().to_owned();
    let layer = BearerAuthLayer::new(store.clone()).token_formats([live()]).require_scopes(["read"]);
    let admin = BearerAuthLayer::new(store.clone()).require_scopes(["admin"]);
    assert_eq!(status(&layer, &reader).await, StatusCode::OK);
    assert_eq!(status(&layer, live().generate().expose_secret()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&admin, &reader).await, StatusCode::FORBIDDEN);

    cluster.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let down = outcome(&layer, &reader).await;
        assert!(is_unavailable(&down), "{down:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "answered within the lookup timeout");
    }
    assert!(store.issue(NewToken::for_subject("alice")).await.is_err(), "lifecycle calls fail too");

    cluster.restart();
    let recovered =
        until(PgCluster::PATIENCE, async || status(&layer, &reader).await == StatusCode::OK).await;
    assert!(recovered.is_some(), "the same store serves again once the database is back");
    assert_eq!(status(&admin, &reader).await, StatusCode::FORBIDDEN);
    let _issued = store.issue(NewToken::for_subject("alice")).await.unwrap();
}

#[tokio::test]
async fn a_circuit_breaker_answers_at_once_while_the_database_is_down_and_closes_once_it_is_back() {
    let mut cluster = cluster!();
    let store = builder().lookup_timeout(Duration::from_secs(1)).open(&cluster.url()).await.unwrap();
    let reader = store.issue(NewToken::for_subject("alice").scopes(["read"])).await.unwrap();
    let reader = reader.secret().expose_secret().to_owned();
    let breaker = CircuitBreakerTokenStore::new(store.clone(), 2, Duration::from_millis(200));
    let layer = BearerAuthLayer::new(breaker.clone());
    assert_eq!(status(&layer, &reader).await, StatusCode::OK);

    cluster.stop();
    // Two lookups find out, each within the lookup timeout...
    for _ in 0..2 {
        let down = outcome(&layer, &reader).await;
        assert!(is_unavailable(&down), "{down:?}");
    }
    assert!(breaker.is_open());
    // ...and from then on every request is answered at once: the breaker's answer is ready
    // (`Answer::Now`), no lookup of the database is waited for. (Shown by the answer's form,
    // not by timing it: a stopped server refuses connections fast too.)
    for _ in 0..50 {
        let down = outcome(&layer, &reader).await;
        assert!(is_unavailable(&down), "{down:?}");
        let answered = breaker.lookup(&PresentedToken::new(reader.as_str()));
        assert!(matches!(answered, Answer::Now(Err(_))), "answered without waiting");
    }

    cluster.restart();
    let closed_at = Instant::now();
    let recovered =
        until(PgCluster::PATIENCE, async || status(&layer, &reader).await == StatusCode::OK).await;
    assert!(recovered.is_some(), "the probe closes the breaker once the database answers");
    eprintln!("circuit closed {:?} after the restart returned", closed_at.elapsed());
    assert!(!breaker.is_open());
}

#[tokio::test]
async fn a_hung_database_times_out_with_503() {
    let cluster = cluster!();
    let store = builder().lookup_timeout(Duration::from_millis(300)).open(&cluster.url()).await.unwrap();
    let token = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let layer = BearerAuthLayer::new(store.clone());
    assert_eq!(status(&layer, token.secret().expose_secret()).await, StatusCode::OK);

    // Another session locks the table: lookups queue behind it.
    let mut locker = store.postgres_pool().unwrap().begin().await.unwrap();
    sqlx::query("LOCK TABLE tower_bearer.tokens IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        outcome(&layer, token.secret().expose_secret()).await,
        (StatusCode::SERVICE_UNAVAILABLE, Some(AuthError::StoreUnavailable(StoreErrorKind::Timeout)))
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2), "{waited:?}");
    locker.rollback().await.unwrap();
    let back = until(PgCluster::PATIENCE, async || {
        status(&layer, token.secret().expose_secret()).await == StatusCode::OK
    });
    assert!(back.await.is_some());
}

/// Two instances, two caches, one database: a token revoked through A is rejected by B as soon
/// as the notification arrives, although B cached it for an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_seen_by_another_within_the_bound() {
    let cluster = cluster!();
    let a = Instance::start(&cluster, Duration::from_secs(5)).await;
    let b = Instance::start(&cluster, Duration::from_secs(5)).await;
    // The control: the same cache without the push keeps serving its stale entry. Built on a
    // thread with no runtime, where the store can start no push for it.
    let store = builder().open(&cluster.url()).await.unwrap();
    let config = CacheConfig::default().positive_ttl(Duration::from_secs(3600));
    let unsubscribed =
        std::thread::spawn(move || CachedTokenStore::with_config(store, config)).join().unwrap();

    let mut delays = Vec::new();
    for i in 0..15 {
        let token = a.cache.issue(NewToken::for_subject("alice").name(format!("t{i}"))).await.unwrap();
        if i == 0 {
            assert!(is_active(&state(&unsubscribed, token.secret().expose_secret()).await));
        }
        delays.push(revocation_delay(&a, &b, &token).await);
        assert!(is_revoked(&state(&b.cache, token.secret().expose_secret()).await));
        if i == 0 {
            assert!(
                cached_active(&unsubscribed, token.secret().expose_secret()),
                "without the push, only the TTL would end it"
            );
        }
    }
    let report = summary(&mut delays);
    println!("cross-instance revocation delay (A revokes, B rejects): {report}");
    assert!(delays.last().unwrap() < &Duration::from_secs(1), "{report}");

    // Rotation (with and without grace) and deletion reach B the same way.
    let rotated = a.cache.issue(NewToken::for_subject("alice")).await.unwrap();
    let graced = a.cache.issue(NewToken::for_subject("alice")).await.unwrap();
    let deleted = a.cache.issue(NewToken::for_subject("alice")).await.unwrap();
    for t in [&rotated, &graced, &deleted] {
        assert_eq!(b.status(t).await, StatusCode::OK);
    }
    let new = a.cache.rotate(rotated.id(), Duration::ZERO).await.unwrap();
    let _ = a.cache.rotate(graced.id(), Duration::from_millis(300)).await.unwrap();
    assert!(a.cache.delete(deleted.id()).await.unwrap());
    let seen = until(Duration::from_secs(5), async || {
        b.status(&rotated).await == StatusCode::UNAUTHORIZED
            && b.status(&deleted).await == StatusCode::UNAUTHORIZED
            && !cached_active(&b.cache, graced.secret().expose_secret())
    });
    assert!(seen.await.is_some());
    assert_eq!(b.status(&new).await, StatusCode::OK);
    assert!(is_unknown(&state(&b.cache, deleted.secret().expose_secret()).await));
    // The graced token's shortened expiry reached B: it works until then, not an hour.
    let expired = until(Duration::from_secs(5), async || b.status(&graced).await == StatusCode::UNAUTHORIZED);
    assert!(expired.await.is_some());
    assert_eq!(a.listener.status().losses, 0);
}

/// The database restarts under two instances: the listeners notice, the caches stop trusting
/// themselves, and a revocation made right after the restart (before B has re-subscribed) is
/// honoured, as is one made after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_reconnect_after_a_database_restart_and_miss_no_revocation() {
    let mut cluster = cluster!();
    let a = Instance::start(&cluster, Duration::from_secs(5)).await;
    let b = Instance::start(&cluster, Duration::from_secs(5)).await;
    let mut tokens = Vec::new();
    for i in 0..3 {
        let t = a.cache.issue(NewToken::for_subject("alice").name(format!("t{i}"))).await.unwrap();
        assert_eq!(b.status(&t).await, StatusCode::OK);
        assert!(cached_active(&b.cache, t.secret().expose_secret()));
        tokens.push(t);
    }
    let [t1, t2, t3] = &tokens[..] else { unreachable!() };

    cluster.stop();
    let lost = b.listener.wait_for(PgCluster::PATIENCE, |s| s.losses >= 1 && !s.subscribed).await;
    assert!(lost.is_some(), "B's listener noticed the restart");
    assert!(!b.cache.is_caching_active_tokens());
    assert!(!cached_active(&b.cache, t3.secret().expose_secret()), "B's cache was cleared");
    assert_eq!(b.status(t3).await, StatusCode::SERVICE_UNAVAILABLE, "no cache to hide the outage");

    cluster.restart();
    // Revoke as soon as the database takes it, racing B's reconnection.
    let revoked = until(PgCluster::PATIENCE, async || a.cache.revoke(t1.id()).await.is_ok()).await;
    assert!(revoked.is_some());
    let mut answers = Vec::new();
    until(PgCluster::PATIENCE, async || {
        let s = b.status(t1).await;
        answers.push(s);
        s == StatusCode::UNAUTHORIZED
    })
    .await
    .expect("B rejects the token revoked during its reconnection");
    assert!(!answers.contains(&StatusCode::OK), "B accepted a revoked token: {answers:?}");

    let back = b.listener.wait_for(PgCluster::PATIENCE, |s| s.subscribed && s.subscriptions >= 2).await;
    assert!(back.is_some(), "B's listener re-subscribed: {:?}", b.listener.status());
    assert_eq!(b.status_when_up(t2).await, StatusCode::OK);
    // An answer is not cached when an invalidation overlaps its lookup (here, t1's revocation
    // notification may still be arriving): ask until one is.
    let resumed = until(PgCluster::PATIENCE, async || {
        b.status(t2).await == StatusCode::OK && cached_active(&b.cache, t2.secret().expose_secret())
    })
    .await;
    assert!(resumed.is_some(), "caching resumed");
    let delay = revocation_delay(&a, &b, t2).await;
    println!("revocation delay after the restart: {delay:?}");
    assert!(delay < Duration::from_secs(1));
    assert_eq!(b.status_when_up(t3).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_connection_is_replaced() {
    let cluster = cluster!();
    let a = Instance::start(&cluster, Duration::from_secs(5)).await;
    let b = Instance::start(&cluster, Duration::from_secs(5)).await;
    let token = a.cache.issue(NewToken::for_subject("alice")).await.unwrap();
    assert_eq!(b.status(&token).await, StatusCode::OK);

    let killer = builder().open(&cluster.url()).await.unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'",
    )
    .fetch_one(killer.postgres_pool().unwrap())
    .await
    .unwrap();
    assert_eq!(killed, 2, "both instances' listeners");
    let back = b.listener.wait_for(PgCluster::PATIENCE, |s| s.losses >= 1 && s.subscribed).await;
    assert!(back.is_some(), "{:?}", b.listener.status());
    let delay = revocation_delay(&a, &b, &token).await;
    assert!(delay < Duration::from_secs(1), "{delay:?}");
}

/// A server that stops answering without closing anything (as behind a dead network path) is
/// caught by the heartbeat within its interval and timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_database_is_detected_by_the_heartbeat() {
    let mut cluster = cluster!();
    let heartbeat = Duration::from_millis(200);
    let b = Instance::start(&cluster, heartbeat).await;
    let token = b.cache.issue(NewToken::for_subject("alice")).await.unwrap();
    assert_eq!(b.status(&token).await, StatusCode::OK);
    assert!(cached_active(&b.cache, token.secret().expose_secret()));

    cluster.freeze();
    let started = Instant::now();
    let lost = b.listener.wait_for(PgCluster::PATIENCE, |s| s.losses >= 1).await;
    let detected = started.elapsed();
    let cleared =
        !b.cache.is_caching_active_tokens() && !cached_active(&b.cache, token.secret().expose_secret());
    cluster.thaw();
    assert!(lost.is_some());
    assert!(cleared, "the cache was cleared when the loss was detected");
    println!("silent failure detected after {detected:?} (heartbeat {heartbeat:?} + {heartbeat:?})");
    assert!(detected < heartbeat * 2 + Duration::from_secs(1), "{detected:?}");

    let back = b.listener.wait_for(PgCluster::PATIENCE, |s| s.subscribed && s.subscriptions >= 2).await;
    assert!(back.is_some(), "{:?}", b.listener.status());
    assert_eq!(b.status_when_up(&token).await, StatusCode::OK);
}
