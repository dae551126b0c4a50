//! `SqlTokenStore` on SQLite, on a temp file: the lifecycle contract (the same functions the
//! memory store passes), the layer (200/401/403/503), persistence across reopening, no
//! plaintext on disk, coalesced usage tracking, the lookup timeout, atomic rotation, two
//! stores on one file, and a cache in front.
#![cfg(feature = "sqlite")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use tower_bearer::manage::audit::{AuditKind, AuditLog, AuditQuery};
use tower_bearer::store::StoreErrorKind;
use tower_bearer::{
    AuthError, BearerAuthLayer, Clock, MemoryTokenStore, NewToken, TokenFormat, TokenId, TokenManager,
};
use tower_bearer_sqlx::{SqlBackend, SqlTokenStore};
use tower_bearer_test_support::contract::{self, is_unavailable, recorder};
use tower_bearer_test_support::{is_active, is_revoked, outcome, state, status, temp_dir};

fn live() -> TokenFormat {
    TokenFormat::new("tok_live_")
}

/// Everything SQLite wrote: the database and its write-ahead log.
fn files(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        all.extend(std::fs::read(entry.path()).unwrap_or_default());
    }
    all
}

#[tokio::test]
async fn the_lifecycle_trait_drives_the_sqlite_store() {
    let dir = temp_dir();
    // Its log empty for the audit contract: the lifecycle's records have a test of their own.
    let store = SqlTokenStore::builder()
        .audit_lifecycle(false)
        .open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    assert_eq!(store.backend(), SqlBackend::Sqlite);
    contract::manage(&store).await.unwrap();
    let memory = SqlTokenStore::builder().open("sqlite::memory:").await.unwrap();
    contract::manage(&memory).await.unwrap();
    contract::audit_log(&store).await;
    contract::audit_log(&tower_bearer::MemoryTokenStore::new()).await;
}

#[tokio::test]
async fn a_lifetime_counts_from_the_stores_clock() {
    let clock = tower_bearer::Clock::manual(SystemTime::now() - Duration::from_secs(2 * 86_400));
    let store = SqlTokenStore::builder().clock(clock).open("sqlite::memory:").await.unwrap();
    contract::lifetimes_count_from_the_store_clock(&store).await;
}

#[tokio::test]
async fn the_usage_contract_holds_on_sqlite_and_memory() {
    let dir = temp_dir();
    let store = SqlTokenStore::builder()
        .open(&format!("sqlite://{}", dir.path().join("u.db").display()))
        .await
        .unwrap();
    tower_bearer_test_support::usage::usage(&store).await;
    tower_bearer_test_support::usage::usage(&tower_bearer::MemoryTokenStore::new()).await;
}

#[tokio::test]
async fn the_contract_holds_for_memory_as_the_reference() {
    let (events, hook) = recorder();
    let store = MemoryTokenStore::builder().format(live()).on_lifecycle_event(hook).build();
    contract::semantics(store, &live(), &events, async || Vec::new()).await;
}

#[tokio::test]
async fn the_contract_holds_for_sqlite() {
    let dir = temp_dir();
    let (events, hook) = recorder();
    let store = SqlTokenStore::builder()
        .format(live())
        .on_lifecycle_event(hook)
        .open_sqlite(dir.path().join("t.db"))
        .await
        .unwrap();
    let path = dir.path().to_owned();
    contract::semantics(store, &live(), &events, async || files(&path)).await;
}

#[tokio::test]
async fn tokens_persist_across_reopening_and_only_digests_are_stored() {
    let dir = temp_dir();
    let db = dir.path().join("tokens.db");
    let (secret, revoked_secret, id) = {
        let store = SqlTokenStore::builder().format(live()).open_sqlite(&db).await.unwrap();
        let kept = store
            .issue(
                NewToken::for_subject("alice")
                    .name("kept")
                    .scopes(["read"])
                    .expires_in(Duration::from_secs(3600)),
            )
            .await
            .unwrap();
        let gone = store.issue(NewToken::for_subject("alice").name("gone")).await.unwrap();
        assert!(store.revoke(gone.id()).await.unwrap());
        store.close().await;
        (
            kept.secret().expose_secret().to_owned(),
            gone.secret().expose_secret().to_owned(),
            kept.id().clone(),
        )
    };
    let on_disk = files(dir.path());
    assert!(!on_disk.is_empty());
    assert!(
        !contract::contains(&on_disk, secret.as_bytes())
            && !contract::contains(&on_disk, revoked_secret.as_bytes())
    );
    assert!(
        contract::contains(&on_disk, tower_bearer::TokenHash::of(&secret).as_bytes()),
        "the digest is what is kept"
    );

    // A new process: same file, migrations already applied.
    let store = SqlTokenStore::builder().format(live()).open_sqlite(&db).await.unwrap();
    let layer = BearerAuthLayer::new(store.clone()).token_formats([live()]).require_scopes(["read"]);
    assert_eq!(status(&layer, &secret).await, StatusCode::OK);
    assert!(is_revoked(&state(&store, &revoked_secret).await), "a revocation survives too");
    let info = store.get(&id).await.unwrap().unwrap();
    assert_eq!(info.principal.token_name(), Some("kept"));
    assert!(info.principal.expires_at().is_some());
    assert_eq!(store.list("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_layer_answers_200_401_403_and_503() {
    let dir = temp_dir();
    let store = SqlTokenStore::builder().format(live()).open_sqlite(dir.path().join("t.db")).await.unwrap();
    let reader = store.issue(NewToken::for_subject("alice").scopes(["read"])).await.unwrap();
    let reader = reader.secret().expose_secret().to_owned();
    let layer = BearerAuthLayer::new(store.clone()).token_formats([live()]).require_scopes(["read"]);
    let admin_only = BearerAuthLayer::new(store.clone()).require_scopes(["admin"]);

    assert_eq!(status(&layer, &reader).await, StatusCode::OK);
    assert_eq!(status(&layer, live().generate().expose_secret()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&admin_only, &reader).await, StatusCode::FORBIDDEN);

    // The database goes away: fail closed.
    store.close().await;
    let down = outcome(&layer, &reader).await;
    assert!(is_unavailable(&down), "{down:?}");
}

#[tokio::test]
async fn a_slow_lookup_times_out_with_503() {
    let dir = temp_dir();
    let store = SqlTokenStore::builder().open_sqlite(dir.path().join("t.db")).await.unwrap();
    let token = store.issue(NewToken::for_subject("alice")).await.unwrap();
    // One connection, held by the test: the lookup waits for it and the deadline passes first.
    // (A zero deadline is not enough: SQLite may answer before the timer is first polled.)
    let hasty = SqlTokenStore::builder()
        .max_connections(1)
        .lookup_timeout(Duration::from_millis(50))
        .open_sqlite(dir.path().join("t.db"))
        .await
        .unwrap();
    let _held = hasty.sqlite_pool().unwrap().acquire().await.unwrap();
    let layer = BearerAuthLayer::new(hasty.clone());
    assert_eq!(
        outcome(&layer, token.secret().expose_secret()).await,
        (StatusCode::SERVICE_UNAVAILABLE, Some(AuthError::StoreUnavailable(StoreErrorKind::Timeout)))
    );
    assert_eq!(status(&BearerAuthLayer::new(store), token.secret().expose_secret()).await, StatusCode::OK);
}

/// Polls until `check` holds, for at most five seconds.
async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..500 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn usage_is_written_in_the_background_at_most_once_per_interval() {
    let dir = temp_dir();
    let clock = Clock::manual(SystemTime::now());
    let store = SqlTokenStore::builder()
        .usage_interval(Duration::from_millis(400))
        .clock(clock.clone())
        .open_sqlite(dir.path().join("t.db"))
        .await
        .unwrap();
    let token = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let secret = token.secret().expose_secret();
    let layer = BearerAuthLayer::new(store.clone());
    assert_eq!(store.get(token.id()).await.unwrap().unwrap().last_used_at, None);

    let before = clock.now();
    assert_eq!(status(&layer, secret).await, StatusCode::OK);
    let last_used = async || store.get(token.id()).await.unwrap().unwrap().last_used_at;
    assert!(eventually(async || last_used().await.is_some()).await, "the first use is recorded");
    let first = last_used().await.unwrap();
    assert!(first >= before - Duration::from_millis(1));

    // Within the interval: no write.
    for _ in 0..20 {
        assert_eq!(status(&layer, secret).await, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(last_used().await, Some(first), "coalesced within the interval");

    // After it (on the store's clock): one more.
    clock.advance(Duration::from_millis(400));
    assert_eq!(status(&layer, secret).await, StatusCode::OK);
    assert!(eventually(async || last_used().await > Some(first)).await, "recorded again after the interval");

    // Another instance (a second store on the file) learns of the recent use from the row
    // and does not write it again.
    let second = SqlTokenStore::builder()
        .usage_interval(Duration::from_secs(3600))
        .clock(clock.clone())
        .open_sqlite(dir.path().join("t.db"))
        .await
        .unwrap();
    let recorded = last_used().await;
    assert_eq!(status(&BearerAuthLayer::new(second), secret).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(last_used().await, recorded);
}

/// Readers hammer the old token while it is rotated: once `rotate` returned, no request is
/// accepted with it and the new one works; before, the old one never failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_atomic_under_concurrent_lookups() {
    let dir = temp_dir();
    let store = SqlTokenStore::builder().open_sqlite(dir.path().join("t.db")).await.unwrap();
    let old = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let old_secret = Arc::new(old.secret().expose_secret().to_owned());
    let rotated = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    // Lookups each reader made before the rotation began: the rotation waits for some, and each
    // reader keeps reading until it has made some after, however the threads are scheduled.
    let before_rotation = Arc::new(AtomicUsize::new(0));
    const EACH_SIDE: usize = 20;
    const READERS: usize = 4;

    let mut readers = Vec::new();
    for _ in 0..READERS {
        let (store, secret, rotated, started, before_rotation) =
            (store.clone(), old_secret.clone(), rotated.clone(), started.clone(), before_rotation.clone());
        readers.push(tokio::spawn(async move {
            let mut after = 0;
            for _ in 0..100_000 {
                let (not_started, done) = (!started.load(Ordering::SeqCst), rotated.load(Ordering::SeqCst));
                let accepted = is_active(&state(&store, &secret).await);
                if done {
                    assert!(!accepted, "the old token worked after rotate() returned");
                    after += 1;
                    if after == EACH_SIDE {
                        break;
                    }
                }
                if not_started && !started.load(Ordering::SeqCst) {
                    assert!(accepted, "the old token failed before rotate() began");
                    before_rotation.fetch_add(1, Ordering::SeqCst);
                }
            }
            after
        }));
    }
    for _ in 0..100_000 {
        if before_rotation.load(Ordering::SeqCst) >= READERS * EACH_SIDE {
            break;
        }
        tokio::task::yield_now().await;
    }
    started.store(true, Ordering::SeqCst);
    let new = store.rotate(old.id(), Duration::ZERO).await.unwrap();
    rotated.store(true, Ordering::SeqCst);
    assert!(is_active(&state(&store, new.secret().expose_secret()).await));
    let mut checked_after = 0;
    for r in readers {
        checked_after += r.await.unwrap();
    }
    assert_eq!(checked_after, READERS * EACH_SIDE, "every reader looked the old token up after the rotation");
    assert_eq!(store.list("alice").await.unwrap().len(), 1, "exactly one live token");
}

#[tokio::test]
async fn two_stores_on_one_file_see_each_others_revocations() {
    let dir = temp_dir();
    let a = SqlTokenStore::builder().open_sqlite(dir.path().join("shared.db")).await.unwrap();
    let b = SqlTokenStore::builder().open_sqlite(dir.path().join("shared.db")).await.unwrap();
    let token = a.issue(NewToken::for_subject("alice")).await.unwrap();
    let layer_b = BearerAuthLayer::new(b.clone());
    assert_eq!(status(&layer_b, token.secret().expose_secret()).await, StatusCode::OK);
    assert!(a.revoke(token.id()).await.unwrap());
    assert_eq!(status(&layer_b, token.secret().expose_secret()).await, StatusCode::UNAUTHORIZED);
}

mod cached {
    use super::*;
    use tower_bearer::{CachedTokenStore, stores::CacheConfig};

    #[tokio::test]
    async fn the_contract_holds_through_a_cache() {
        let dir = temp_dir();
        let (events, hook) = recorder();
        let store = SqlTokenStore::builder()
            .format(live())
            .on_lifecycle_event(hook)
            .open_sqlite(dir.path().join("t.db"))
            .await
            .unwrap();
        // A long TTL: only invalidation can make the contract's revocations visible.
        let cached = CachedTokenStore::with_config(
            store,
            CacheConfig::default().positive_ttl(Duration::from_secs(3600)),
        );
        let path = dir.path().to_owned();
        contract::semantics(cached.clone(), &live(), &events, async || files(&path)).await;
        contract::manage(&cached).await.unwrap();
    }

    /// Another process (here another store on the file) revokes, deletes and rotates tokens
    /// this process's cache holds for an hour: the cache drops them at its next poll of the
    /// file's change feed, and goes on serving the others from memory.
    #[tokio::test]
    async fn a_cache_drops_what_another_process_on_the_file_revokes() {
        let dir = temp_dir();
        let path = dir.path().join("shared.db");
        let open = || {
            SqlTokenStore::builder()
                .revocation_poll_interval(Duration::from_millis(20))
                .open_sqlite(path.clone())
        };
        let (here, elsewhere) = (open().await.unwrap(), open().await.unwrap());
        let cached = here.clone().cached(CacheConfig::default().positive_ttl(Duration::from_secs(3600)));
        let pushes = here.revocation_pushes();
        assert_eq!(pushes.len(), 1, "the cache subscribed");
        assert!(pushes[0].wait_until_subscribed(Duration::from_secs(5)).await);
        assert!(cached.is_caching_active_tokens());

        let layer = BearerAuthLayer::new(cached.clone());
        let mut tokens = Vec::new();
        for _ in 0..4 {
            tokens.push(elsewhere.issue(NewToken::for_subject("alice")).await.unwrap());
        }
        for token in &tokens {
            assert_eq!(status(&layer, token.secret().expose_secret()).await, StatusCode::OK);
        }
        assert_eq!(cached.entry_count(), 4, "each answer cached");

        assert!(elsewhere.revoke(tokens[0].id()).await.unwrap());
        assert!(elsewhere.delete(tokens[1].id()).await.unwrap());
        let successor = elsewhere.rotate(tokens[2].id(), Duration::ZERO).await.unwrap();
        let refused = async || {
            let mut all = true;
            for token in &tokens[..3] {
                all &= status(&layer, token.secret().expose_secret()).await == StatusCode::UNAUTHORIZED;
            }
            all
        };
        assert!(eventually(refused).await, "the revoked, deleted and rotated tokens are refused");
        assert!(cached.is_caching_active_tokens(), "the push is still trusted");
        assert_eq!(status(&layer, tokens[3].secret().expose_secret()).await, StatusCode::OK);
        assert_eq!(status(&layer, successor.secret().expose_secret()).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn cached_hits_survive_the_database_going_away_and_revocations_through_it_do_not() {
        let dir = temp_dir();
        let store = SqlTokenStore::builder()
            // One poll of the change feed, at the start: none in flight when the file closes.
            .revocation_poll_interval(Duration::from_secs(3600))
            .open_sqlite(dir.path().join("t.db"))
            .await
            .unwrap();
        let cached = store.clone().cached(CacheConfig::default().positive_ttl(Duration::from_secs(3600)));
        assert!(store.revocation_pushes()[0].wait_until_subscribed(Duration::from_secs(5)).await);
        let token = cached.issue(NewToken::for_subject("alice")).await.unwrap();
        let layer = BearerAuthLayer::new(cached.clone());
        assert_eq!(status(&layer, token.secret().expose_secret()).await, StatusCode::OK);
        assert!(cached.revoke(token.id()).await.unwrap());
        assert_eq!(status(&layer, token.secret().expose_secret()).await, StatusCode::UNAUTHORIZED);

        let other = cached.issue(NewToken::for_subject("alice")).await.unwrap();
        assert_eq!(status(&layer, other.secret().expose_secret()).await, StatusCode::OK);
        store.close().await;
        assert_eq!(
            status(&layer, other.secret().expose_secret()).await,
            StatusCode::OK,
            "served from the cache"
        );
        let down = outcome(&layer, live().generate().expose_secret()).await;
        assert!(is_unavailable(&down), "a miss needs the database: {down:?}");
    }
}

/// The kinds and token ids of the whole audit log, in order.
async fn audit_trail(store: &SqlTokenStore) -> Vec<(AuditKind, Option<TokenId>)> {
    let page = store.audit_page(&AuditQuery::new().limit(1000)).await.unwrap();
    page.items.into_iter().map(|r| (r.event.kind, r.event.token_id)).collect()
}

/// Each change to a token writes its audit event in its own transaction: the event is in the
/// log when the call returns (no writer, no batch), and a change whose event cannot be written
/// is not made.
#[tokio::test]
async fn lifecycle_changes_are_audited_in_the_transaction_that_makes_them() {
    let dir = temp_dir();
    let clock = Clock::manual(SystemTime::now());
    let store = SqlTokenStore::builder()
        .format(live())
        .clock(clock.clone())
        .open_sqlite(dir.path().join("t.db"))
        .await
        .unwrap();
    let kept = store.issue(NewToken::for_subject("alice").name("kept")).await.unwrap();
    let rotated = store.issue(NewToken::for_subject("alice").name("rotated")).await.unwrap();
    let deleted = store.issue(NewToken::for_subject("alice").name("deleted")).await.unwrap();
    let expiring = NewToken::for_subject("alice").expires_at(clock.now() + Duration::from_secs(60));
    let expiring = store.issue(expiring).await.unwrap();
    let successor = store.rotate(rotated.id(), Duration::ZERO).await.unwrap();
    assert!(store.revoke(successor.id()).await.unwrap());
    assert!(store.delete(deleted.id()).await.unwrap());
    clock.advance(Duration::from_secs(61));
    assert_eq!(store.purge_expired().await.unwrap(), 1);
    let id = |t: &tower_bearer::IssuedToken| Some(t.id().clone());
    assert_eq!(
        audit_trail(&store).await,
        [
            (AuditKind::Issued, id(&kept)),
            (AuditKind::Issued, id(&rotated)),
            (AuditKind::Issued, id(&deleted)),
            (AuditKind::Issued, id(&expiring)),
            (AuditKind::Rotated, id(&rotated)),
            (AuditKind::Issued, id(&successor)),
            (AuditKind::Revoked, id(&successor)),
            (AuditKind::Deleted, id(&deleted)),
            (AuditKind::Purged, id(&expiring)),
        ]
    );

    // A log that refuses the event: the change rolls back with it.
    let pool = store.sqlite_pool().unwrap();
    sqlx::query("CREATE TRIGGER refuse_audit BEFORE INSERT ON tower_bearer_audit BEGIN SELECT RAISE(ABORT, 'no'); END")
        .execute(pool)
        .await
        .unwrap();
    assert!(store.revoke(kept.id()).await.is_err());
    assert!(store.issue(NewToken::for_subject("bob")).await.is_err());
    assert!(store.rotate(kept.id(), Duration::ZERO).await.is_err());
    assert!(store.get(kept.id()).await.unwrap().is_some(), "not revoked, not rotated");
    assert!(store.list("bob").await.unwrap().is_empty(), "not issued");
    assert!(is_active(&state(&store, kept.secret().expose_secret()).await));
    sqlx::query("DROP TRIGGER refuse_audit").execute(pool).await.unwrap();
    assert!(store.revoke(kept.id()).await.unwrap());
    assert_eq!(audit_trail(&store).await.last(), Some(&(AuditKind::Revoked, id(&kept))));

    // Turned off (the log is elsewhere): nothing is written.
    let quiet = SqlTokenStore::builder().audit_lifecycle(false).open("sqlite::memory:").await.unwrap();
    let token = quiet.issue(NewToken::for_subject("alice")).await.unwrap();
    assert!(quiet.revoke(token.id()).await.unwrap());
    assert!(audit_trail(&quiet).await.is_empty());
}
