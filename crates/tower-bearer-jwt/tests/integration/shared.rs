//! Signed tokens over a shared SQL store: the deny list outlives the process (a restart on a
//! SQLite file refuses what was revoked before it), and the store pushes it to every instance
//! with nothing wired by the application: polled on a shared SQLite file, through `LISTEN/NOTIFY`
//! on PostgreSQL, as fast as an opaque revocation reaches a cache. Before the push connects,
//! while it is down, and when it cannot start, each token is checked against its record.

use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;
use tower_bearer::{
    BearerAuthLayer, CachedTokenStore, Clock, IssuedToken, NewToken, TokenManager, TokenState,
};
use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};
use tower_bearer_sqlx::{RevocationListener, SqlTokenStore};
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::{is_active, is_revoked, state, status};

const ISSUER: &str = "https://auth.example.com";
const API: &str = "https://api.example.com";
const K1: &str = include_str!("../fixtures/ed25519-k1.pem");

fn keys() -> KeySet {
    KeySet::new(SigningKey::ed25519_pem("k1", K1).unwrap()).unwrap()
}

fn secret(token: &IssuedToken) -> &str {
    token.secret().expose_secret()
}

#[tokio::test]
async fn revocations_survive_a_restart_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let open = async || {
        let store = SqlTokenStore::builder().clock(clock.clone()).open_sqlite(&path).await.unwrap();
        SignedTokens::builder(store, keys(), ISSUER, API).leeway(Duration::ZERO).build()
    };
    let first = open().await;
    let day = clock.now() + Duration::from_secs(86_400);
    let issue = async |name: &str| {
        first.issue(NewToken::for_subject("ada").name(name).expires_at(day)).await.unwrap()
    };
    let (revoked, deleted, rotated, live) =
        (issue("r").await, issue("d").await, issue("o").await, issue("l").await);
    assert!(first.revoke(revoked.id()).await.unwrap());
    assert!(first.delete(deleted.id()).await.unwrap());
    let successor = first.rotate(rotated.id(), Duration::from_secs(60)).await.unwrap();
    first.store().close().await;
    drop(first);

    let second = open().await;
    assert!(is_revoked(&state(&second, secret(&revoked)).await), "revoked before the restart");
    assert!(is_revoked(&state(&second, secret(&deleted)).await), "deleted before the restart");
    let TokenState::Active(graced) = state(&second, secret(&rotated)).await else {
        panic!("in its grace period, the rotated token is active");
    };
    assert_eq!(graced.replaced_by(), Some(successor.id()));
    assert!(is_active(&state(&second, secret(&live)).await));
    assert!(is_active(&state(&second, secret(&successor)).await));
    clock.advance(Duration::from_secs(61));
    assert!(is_revoked(&state(&second, secret(&rotated)).await), "after its grace");

    // Kept until each token's own expiry, then purged with it.
    assert_eq!(second.store().revocations().await.unwrap().len(), 3);
    clock.advance(Duration::from_secs(86_400));
    second.purge_expired().await.unwrap();
    assert!(second.store().revocations().await.unwrap().is_empty());
}

#[tokio::test]
async fn processes_sharing_a_sqlite_file_see_each_others_revocations_within_the_poll_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let open = async || {
        let store = SqlTokenStore::builder()
            .revocation_poll_interval(Duration::from_millis(20))
            .open_sqlite(&path)
            .await
            .unwrap();
        // Nothing wired: the store starts polling for the verifier's deny list.
        let tokens = SignedTokens::new(store.clone(), keys(), ISSUER, API);
        let [listener] = <[RevocationListener; 1]>::try_from(store.revocation_pushes()).unwrap();
        assert!(listener.wait_until_subscribed(Duration::from_secs(5)).await);
        (tokens, listener)
    };
    let ((a, _a), (b, b_listener)) = (open().await, open().await);
    let layer = BearerAuthLayer::new(b.clone());
    let token = a.issue(NewToken::for_subject("ada")).await.unwrap();
    assert_eq!(status(&layer, secret(&token)).await, StatusCode::OK);
    assert!(a.revoke(token.id()).await.unwrap());
    let start = Instant::now();
    while status(&layer, secret(&token)).await != StatusCode::UNAUTHORIZED {
        assert!(start.elapsed() < Duration::from_secs(5), "the other process refuses the token");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!("revocation reaching another process on one SQLite file: {:?}", start.elapsed());
    // A cache over the same store gets a push of its own: the file's change feed.
    let _cache = CachedTokenStore::new(b.store().clone());
    assert_eq!(b.store().revocation_pushes().len(), 2, "the deny list's and the cache's");
    assert_eq!(b_listener.status().losses, 0);
}

#[tokio::test]
async fn a_verifier_built_outside_a_runtime_reads_each_record_and_misses_no_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let a =
        SignedTokens::new(SqlTokenStore::builder().open_sqlite(&path).await.unwrap(), keys(), ISSUER, API);
    let store = SqlTokenStore::builder().open_sqlite(&path).await.unwrap();
    // Built on a thread with no runtime: the store can start no push, so the verifier trusts
    // no deny list and asks the database about every signed token.
    let b = std::thread::spawn({
        let store = store.clone();
        move || SignedTokens::new(store, keys(), ISSUER, API)
    })
    .join()
    .unwrap();
    assert!(store.revocation_pushes().is_empty());
    let layer = BearerAuthLayer::new(b);
    let token = a.issue(NewToken::for_subject("ada")).await.unwrap();
    assert_eq!(status(&layer, secret(&token)).await, StatusCode::OK);
    assert!(a.revoke(token.id()).await.unwrap());
    assert_eq!(status(&layer, secret(&token)).await, StatusCode::UNAUTHORIZED, "refused at once");
}

macro_rules! cluster {
    () => {
        match PgCluster::start() {
            Some(cluster) => cluster,
            None => return,
        }
    };
}

/// One API instance: a cache for opaque keys and signed tokens over it, each subscribed to the
/// store's revocations.
struct Instance {
    cache: CachedTokenStore<SqlTokenStore>,
    signed: SignedTokens<CachedTokenStore<SqlTokenStore>>,
    listeners: [RevocationListener; 2],
    layer: BearerAuthLayer<SignedTokens<CachedTokenStore<SqlTokenStore>>>,
}

impl Instance {
    async fn start(cluster: &PgCluster) -> Self {
        let store = SqlTokenStore::open(&cluster.url()).await.unwrap();
        let cache = CachedTokenStore::new(store.clone());
        // The cache and the verifier's deny list (through the cache) subscribe to the store as
        // they are built, and it starts a push for each, in that order.
        let signed = SignedTokens::new(cache.clone(), keys(), ISSUER, API);
        let listeners = <[RevocationListener; 2]>::try_from(store.revocation_pushes()).unwrap();
        for listener in &listeners {
            assert!(listener.wait_until_subscribed(PgCluster::PATIENCE).await);
        }
        let layer = BearerAuthLayer::new(signed.clone());
        Instance { cache, signed, listeners, layer }
    }

    async fn status(&self, token: &IssuedToken) -> StatusCode {
        status(&self.layer, secret(token)).await
    }
}

/// How long after `revoke` returns on one instance the other keeps accepting the token.
async fn delay(on: &Instance, token: &IssuedToken, revoke: impl Future<Output = bool>) -> Duration {
    assert_eq!(on.status(token).await, StatusCode::OK);
    assert!(revoke.await);
    let start = Instant::now();
    while on.status(token).await != StatusCode::UNAUTHORIZED {
        assert!(start.elapsed() < Duration::from_secs(5), "the other instance refuses the token");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    start.elapsed()
}

fn median(delays: &mut [Duration]) -> Duration {
    delays.sort();
    delays[delays.len() / 2]
}

#[tokio::test]
async fn a_signed_revocation_reaches_another_instance_as_fast_as_an_opaque_one() {
    let cluster = cluster!();
    let (a, b) = (Instance::start(&cluster).await, Instance::start(&cluster).await);
    let (mut opaque, mut signed) = (Vec::new(), Vec::new());
    // Interleaved, so both kinds see the same machine.
    for _ in 0..15 {
        let key = a.cache.issue(NewToken::for_subject("ada")).await.unwrap();
        opaque.push(delay(&b, &key, async { a.cache.revoke(key.id()).await.unwrap() }).await);
        let jwt = a.signed.issue(NewToken::for_subject("ada")).await.unwrap();
        signed.push(delay(&b, &jwt, async { a.signed.revoke(jwt.id()).await.unwrap() }).await);
    }
    let (opaque, signed) = (median(&mut opaque), median(&mut signed));
    println!(
        "revocation reaching a second instance, median of 15: opaque key {opaque:?}, signed token {signed:?}"
    );
    assert!(signed < Duration::from_secs(1) && opaque < Duration::from_secs(1));

    // Rotation and deletion reach B the same way.
    let rotated = a.signed.issue(NewToken::for_subject("ada")).await.unwrap();
    let deleted = a.signed.issue(NewToken::for_subject("ada")).await.unwrap();
    assert_eq!(b.status(&rotated).await, StatusCode::OK);
    let successor = a.signed.rotate(rotated.id(), Duration::ZERO).await.unwrap();
    delay(&b, &deleted, async { a.signed.delete(deleted.id()).await.unwrap() }).await;
    assert_eq!(b.status(&rotated).await, StatusCode::UNAUTHORIZED);
    assert_eq!(b.status(&successor).await, StatusCode::OK);

    // A third instance starting now is replayed the deny list before trusting it.
    let c = Instance::start(&cluster).await;
    assert_eq!(c.status(&rotated).await, StatusCode::UNAUTHORIZED);
    assert_eq!(c.status(&deleted).await, StatusCode::UNAUTHORIZED);
    assert_eq!(c.status(&successor).await, StatusCode::OK);
    assert_eq!(b.listeners[1].status().losses, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_push_is_down_signed_tokens_are_checked_against_their_record() {
    let cluster = cluster!();
    let (a, b) = (Instance::start(&cluster).await, Instance::start(&cluster).await);
    let tokens: Vec<IssuedToken> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(a.signed.issue(NewToken::for_subject("ada")).await.unwrap());
        }
        v
    };
    for t in &tokens {
        assert_eq!(b.status(t).await, StatusCode::OK);
    }
    // Kill every listener connection; once B has noticed, a revocation is refused at once:
    // by the record while B is down, by the replayed list once it is back.
    let killer = SqlTokenStore::open(&cluster.url()).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")
        .execute(killer.postgres_pool().unwrap())
        .await
        .unwrap();
    let noticed = b.listeners[1].wait_for(PgCluster::PATIENCE, |s| s.losses >= 1).await;
    assert!(noticed.is_some(), "{:?}", b.listeners[1].status());
    assert!(a.signed.revoke(tokens[0].id()).await.unwrap());
    assert_eq!(b.status(&tokens[0]).await, StatusCode::UNAUTHORIZED, "refused at once, pushed or not");
    let back = b.listeners[1].wait_for(PgCluster::PATIENCE, |s| s.subscribed).await;
    assert!(back.is_some(), "{:?}", b.listeners[1].status());
    delay(&b, &tokens[1], async { a.signed.revoke(tokens[1].id()).await.unwrap() }).await;
    assert_eq!(b.status(&tokens[0]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(b.status(&tokens[2]).await, StatusCode::OK);

    // With the database gone and the push lost, B fails closed rather than trust its list.
    drop(cluster);
    let lost = b.listeners[1].wait_for(PgCluster::PATIENCE, |s| !s.subscribed).await;
    assert!(lost.is_some());
    assert_eq!(b.status(&tokens[2]).await, StatusCode::SERVICE_UNAVAILABLE);
}
