//! Integration tests of the token stores: `MemoryTokenStore` on its own and under concurrent
//! revocation through the full layer, and `CallbackTokenStore` through the layer.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tower_bearer_test_support::at_once;

use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_bearer::middleware::{Outcome, ResponseBody};
use tower_bearer::store::{Answer, StoreErrorKind};
use tower_bearer::stores::InsertError;
use tower_bearer::{
    AuthError, BearerAuthLayer, CallbackTokenStore, MemoryTokenStore, PresentedToken, Principal, StoreError,
    TokenHash, TokenId, TokenManager, TokenState, TokenStore,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Looks `secret` up in a memory store, which must answer at once (no future).
fn lookup(store: &MemoryTokenStore, secret: &str) -> TokenState {
    answer_now(store, &PresentedToken::new(secret))
}

fn answer_now(store: &MemoryTokenStore, token: &PresentedToken<'_>) -> TokenState {
    match store.lookup(token) {
        Answer::Now(answer) => answer.expect("the memory store never fails"),
        Answer::Later(_) => panic!("the memory store answers at once"),
    }
}

fn active_subject(state: &TokenState) -> Option<&str> {
    match state {
        TokenState::Active(p) => Some(p.subject()),
        _ => None,
    }
}

fn revoked_subject(state: &TokenState) -> Option<&str> {
    match state {
        TokenState::Revoked(p) => Some(p.subject()),
        _ => None,
    }
}

fn user(subject: &str) -> Principal {
    Principal::builder(subject).build()
}

fn request(token: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get("/resource");
    if let Some(token) = token {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Full::default()).expect("valid request")
}

/// An echo service that counts its calls and answers with the principal's subject.
fn counting_echo(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |req: Request<Full<Bytes>>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let subject = req.extensions().get::<Principal>().map(|p| p.subject().to_owned());
        async move {
            let body = subject.unwrap_or_else(|| "NO PRINCIPAL".to_owned());
            Ok::<_, Infallible>(Response::new(Full::from(body)))
        }
    })
}

async fn body_string<B>(response: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.expect("infallible body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8 body")
}

// ---------------------------------------------------------------------------------------------
// MemoryTokenStore
// ---------------------------------------------------------------------------------------------

#[test]
fn memory_insert_then_lookup_is_active_with_the_principal() {
    let store = MemoryTokenStore::new();
    store.insert("alice-key-1", Principal::builder("alice").organization("acme").build()).unwrap();

    match lookup(&store, "alice-key-1") {
        TokenState::Active(p) => {
            assert_eq!(p.subject(), "alice");
            assert_eq!(p.organization(), Some("acme"));
        }
        other => panic!("expected Active, got {other:?}"),
    }
}

#[test]
fn memory_lookup_of_an_unknown_token_is_unknown() {
    let store = MemoryTokenStore::new();
    store.insert("alice-key-1", user("alice")).unwrap();
    assert!(matches!(lookup(&store, "someone-elses-key"), TokenState::Unknown));
    // A near miss (prefix of the stored secret) is unknown too.
    assert!(matches!(lookup(&store, "alice-key-"), TokenState::Unknown));
}

#[test]
fn memory_assigns_a_random_id_when_the_principal_has_none() {
    let store = MemoryTokenStore::new();
    let a = store.insert("key-a", user("a")).unwrap();
    let b = store.insert("key-b", user("b")).unwrap();

    assert_ne!(a, b);
    assert!(a.as_str().starts_with("tid_"), "{a:?}");
    match lookup(&store, "key-a") {
        TokenState::Active(p) => assert_eq!(p.token_id(), Some(&a)),
        other => panic!("expected Active, got {other:?}"),
    }
}

#[test]
fn memory_keeps_the_principals_own_id() {
    let store = MemoryTokenStore::new();
    let id = store.insert("key-a", Principal::builder("a").token_id("tid_mine").build()).unwrap();

    assert_eq!(id, TokenId::from("tid_mine"));
    match lookup(&store, "key-a") {
        TokenState::Active(p) => assert_eq!(p.token_id().map(TokenId::as_str), Some("tid_mine")),
        other => panic!("expected Active, got {other:?}"),
    }
}

#[test]
fn memory_rejects_secrets_no_request_could_present() {
    let store = MemoryTokenStore::new();
    let too_long = "a".repeat(4097);
    for bad in ["", "has space", "tab\there", "quote\"d", "comma,", "=leading", "mid=dle", "é", &too_long] {
        assert_eq!(store.insert(bad, user("u")), Err(InsertError::InvalidToken), "{bad:?}");
    }
    assert!(store.is_empty());
}

#[test]
fn memory_accepts_the_full_b64token_alphabet_and_the_maximum_length() {
    let store = MemoryTokenStore::new();
    store.insert("aZ09-._~+/==", user("alphabet")).unwrap();
    store.insert(&"a".repeat(4096), user("longest")).unwrap();
    assert_eq!(active_subject(&lookup(&store, "aZ09-._~+/==")), Some("alphabet"));
    assert_eq!(active_subject(&lookup(&store, &"a".repeat(4096))), Some("longest"));
}

#[test]
fn memory_duplicate_secret_is_refused_and_the_first_token_still_works() {
    let store = MemoryTokenStore::new();
    let first = store.insert("shared-secret", user("first")).unwrap();

    assert_eq!(store.insert("shared-secret", user("second")), Err(InsertError::DuplicateToken));
    assert_eq!(active_subject(&lookup(&store, "shared-secret")), Some("first"));
    assert_eq!(store.len(), 1);
    assert_eq!(
        at_once(store.get(&first)).unwrap().map(|i| i.principal.subject().to_owned()).as_deref(),
        Some("first")
    );
}

#[test]
fn memory_failed_duplicate_secret_insert_does_not_reserve_its_id() {
    let store = MemoryTokenStore::new();
    store.insert("shared-secret", user("first")).unwrap();
    let second = Principal::builder("second").token_id("tid_second").build();
    assert_eq!(store.insert("shared-secret", second.clone()), Err(InsertError::DuplicateToken));

    // The id of the refused insert must be free again.
    assert_eq!(at_once(store.get(&TokenId::from("tid_second"))).unwrap().map(|i| i.id), None);
    assert_eq!(store.insert("another-secret", second), Ok(TokenId::from("tid_second")));
}

#[test]
fn memory_duplicate_token_id_is_refused() {
    let store = MemoryTokenStore::new();
    store.insert("secret-one", Principal::builder("one").token_id("tid_same").build()).unwrap();

    let err = store.insert("secret-two", Principal::builder("two").token_id("tid_same").build());
    assert_eq!(err, Err(InsertError::DuplicateTokenId(TokenId::from("tid_same"))));
    assert!(matches!(lookup(&store, "secret-two"), TokenState::Unknown));
    assert_eq!(active_subject(&lookup(&store, "secret-one")), Some("one"));
    assert_eq!(store.len(), 1);
}

#[test]
fn memory_revoke_makes_lookup_answer_revoked() {
    let store = MemoryTokenStore::new();
    let id = store.insert("to-revoke", user("bob")).unwrap();

    assert!(at_once(store.revoke(&id)).unwrap());
    assert_eq!(revoked_subject(&lookup(&store, "to-revoke")), Some("bob"));
}

#[test]
fn memory_revoke_is_false_the_second_time_and_for_unknown_ids() {
    let store = MemoryTokenStore::new();
    let id = store.insert("to-revoke", user("bob")).unwrap();

    assert!(at_once(store.revoke(&id)).unwrap());
    assert!(!at_once(store.revoke(&id)).unwrap());
    assert!(!at_once(store.revoke(&TokenId::from("tid_never_issued"))).unwrap());
    assert_eq!(revoked_subject(&lookup(&store, "to-revoke")), Some("bob"));
}

#[test]
fn memory_revoke_leaves_other_tokens_alone() {
    let store = MemoryTokenStore::new();
    let id = store.insert("to-revoke", user("bob")).unwrap();
    store.insert("to-keep", user("carol")).unwrap();

    assert!(at_once(store.revoke(&id)).unwrap());
    assert_eq!(active_subject(&lookup(&store, "to-keep")), Some("carol"));
    assert_eq!(store.len(), 1);
}

#[test]
fn memory_reinserting_a_revoked_secret_makes_it_active_again() {
    let store = MemoryTokenStore::new();
    let old = store.insert("comes-back", user("old")).unwrap();
    assert!(at_once(store.revoke(&old)).unwrap());

    let new = store.insert("comes-back", user("new")).unwrap();
    assert_ne!(old, new);
    assert_eq!(active_subject(&lookup(&store, "comes-back")), Some("new"));
}

#[test]
fn memory_list_returns_metadata_of_live_tokens_only() {
    let store = MemoryTokenStore::new();
    let a = store.insert("list-secret-aaaa", user("a")).unwrap();
    let b = store.insert("list-secret-bbbb", user("b")).unwrap();
    let c = store.insert("list-secret-cccc", user("c")).unwrap();
    assert!(at_once(store.revoke(&c)).unwrap());

    let mut listed: Vec<(TokenId, String)> = ["a", "b", "c"]
        .into_iter()
        .flat_map(|s| at_once(store.list(s)).unwrap())
        .map(|info| (info.id, info.principal.subject().to_owned()))
        .collect();
    listed.sort();
    let mut expected = vec![(a, "a".to_owned()), (b, "b".to_owned())];
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn memory_list_debug_never_contains_a_secret_or_its_digest() {
    let store = MemoryTokenStore::new();
    let secrets = ["sk_live_9f8e7d6c5b4a", "another-very-secret-value"];
    for (i, s) in secrets.iter().enumerate() {
        store.insert(s, Principal::builder(format!("user{i}")).token_name("CI key").build()).unwrap();
    }

    let listed: Vec<_> =
        ["user0", "user1"].into_iter().flat_map(|s| at_once(store.list(s)).unwrap()).collect();
    let debug = format!("{listed:?} {store:?}");
    assert!(debug.contains("user0") && debug.contains("user1"), "metadata is listed: {debug}");
    for s in secrets {
        assert!(!debug.contains(s), "secret leaked: {debug}");
        assert!(!debug.contains(&TokenHash::of(s).to_hex()), "digest leaked: {debug}");
    }
}

#[test]
fn memory_get_returns_metadata_by_id() {
    let store = MemoryTokenStore::new();
    let before = SystemTime::now();
    let id = store.insert("get-me", Principal::builder("dave").token_kind("personal").build()).unwrap();
    let after = SystemTime::now();

    let info = at_once(store.get(&id)).unwrap().expect("stored");
    assert_eq!(info.id, id);
    assert_eq!(info.principal.subject(), "dave");
    assert_eq!(info.principal.token_kind(), Some("personal"));
    assert_eq!(info.principal.token_id(), Some(&id));
    assert!(before <= info.created_at && info.created_at <= after);

    assert!(at_once(store.get(&TokenId::from("tid_unknown"))).unwrap().is_none());
    assert!(at_once(store.revoke(&id)).unwrap());
    assert!(at_once(store.get(&id)).unwrap().is_none(), "a revoked token has no metadata");
}

#[test]
fn memory_len_and_is_empty_count_live_tokens() {
    let store = MemoryTokenStore::new();
    assert!(store.is_empty());
    assert_eq!(store.len(), 0);

    let a = store.insert("count-a", user("a")).unwrap();
    store.insert("count-b", user("b")).unwrap();
    assert!(!store.is_empty());
    assert_eq!(store.len(), 2);

    assert!(at_once(store.revoke(&a)).unwrap());
    assert_eq!(store.len(), 1);
    let _ = store.insert("count-b", user("dup"));
    assert_eq!(store.len(), 1, "a refused insert adds nothing");
}

#[test]
fn memory_insert_hash_stores_by_digest() {
    let store = MemoryTokenStore::new();
    let id = store.insert_hash(TokenHash::of("digest-only-key"), user("eve")).unwrap();

    assert!(id.as_str().starts_with("tid_"));
    assert_eq!(active_subject(&lookup(&store, "digest-only-key")), Some("eve"));
    assert_eq!(store.insert("digest-only-key", user("eve2")), Err(InsertError::DuplicateToken));
    assert_eq!(
        store.insert_hash(TokenHash::of("digest-only-key"), user("eve3")),
        Err(InsertError::DuplicateToken)
    );
}

#[test]
fn memory_clones_share_tokens() {
    let store = MemoryTokenStore::new();
    let admin = store.clone();

    let id = admin.insert("shared-by-clones", user("frank")).unwrap();
    assert_eq!(active_subject(&lookup(&store, "shared-by-clones")), Some("frank"));
    assert_eq!(store.len(), 1);

    assert!(at_once(store.revoke(&id)).unwrap());
    assert_eq!(revoked_subject(&lookup(&admin, "shared-by-clones")), Some("frank"));
    assert!(admin.is_empty());
}

#[tokio::test]
async fn memory_store_through_the_layer_admits_and_rejects() {
    let store = MemoryTokenStore::new();
    let id = store.insert("layer-token", user("grace")).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(store.clone()))
        .service(counting_echo(calls.clone()));

    let ok = svc.clone().oneshot(request(Some("layer-token"))).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(body_string(ok).await, "grace");

    assert!(store.revoke(&id).await.unwrap());
    let revoked = svc.clone().oneshot(request(Some("layer-token"))).await.unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    let challenge = revoked.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");

    assert_eq!(calls.load(Ordering::SeqCst), 1, "the inner service ran only for the accepted request");
}

// ---------------------------------------------------------------------------------------------
// Concurrency: revocation is visible to every request that starts after `revoke` returns
// ---------------------------------------------------------------------------------------------

const RACE_ROUNDS: usize = 12;
const RACE_READERS: usize = 4;
/// Requests each reader sends after it has seen the revocation flag, before stopping.
const RACE_REQUESTS_AFTER: usize = 200;
/// Hard cap on requests per reader per round, so a round is bounded whatever happens.
const RACE_MAX_REQUESTS: usize = 20_000;

#[derive(Default)]
struct ReaderLog {
    ok_before: usize,
    ok_after: usize,
    unauthorized_before: usize,
    unauthorized_after: usize,
    other: Vec<StatusCode>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn race_no_request_starting_after_revoke_is_admitted() {
    let store = MemoryTokenStore::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(store.clone()))
        .service(counting_echo(calls.clone()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut total_ok = 0;

    for round in 0..RACE_ROUNDS {
        let secret = format!("race-token-{round}");
        let id = store.insert(&secret, user(&format!("racer{round}"))).unwrap();
        let revoked = Arc::new(AtomicBool::new(false));
        let ok_seen = Arc::new(AtomicUsize::new(0));

        let readers: Vec<_> = (0..RACE_READERS)
            .map(|_| {
                let (mut svc, secret) = (svc.clone(), secret.clone());
                let (revoked, ok_seen) = (revoked.clone(), ok_seen.clone());
                tokio::spawn(async move {
                    let mut log = ReaderLog::default();
                    let mut sent_after = 0;
                    for _ in 0..RACE_MAX_REQUESTS {
                        // Read the flag before the request is built and sent: if it is set,
                        // this request certainly started after `revoke` returned.
                        let after = revoked.load(Ordering::SeqCst);
                        let response = svc.ready().await.unwrap().call(request(Some(&secret))).await.unwrap();
                        match (response.status(), after) {
                            (StatusCode::OK, false) => {
                                log.ok_before += 1;
                                ok_seen.fetch_add(1, Ordering::SeqCst);
                            }
                            (StatusCode::OK, true) => log.ok_after += 1,
                            (StatusCode::UNAUTHORIZED, false) => log.unauthorized_before += 1,
                            (StatusCode::UNAUTHORIZED, true) => log.unauthorized_after += 1,
                            (other, _) => log.other.push(other),
                        }
                        if after {
                            sent_after += 1;
                            if sent_after == RACE_REQUESTS_AFTER {
                                break;
                            }
                        }
                        tokio::task::yield_now().await;
                    }
                    log
                })
            })
            .collect();

        // Revoke while the readers are in full swing: once every reader has had a few 200s.
        while ok_seen.load(Ordering::SeqCst) < RACE_READERS * 20 {
            assert!(Instant::now() < deadline, "round {round}: readers made no progress");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        assert!(store.revoke(&id).await.unwrap(), "round {round}: the token was stored");
        revoked.store(true, Ordering::SeqCst);

        let mut round_ok_before = 0;
        let mut round_after = 0;
        for reader in readers {
            let log = reader.await.expect("reader task panicked");
            assert_eq!(
                log.ok_after, 0,
                "round {round}: a request that started after revoke() returned got 200"
            );
            assert!(log.other.is_empty(), "round {round}: unexpected statuses {:?}", log.other);
            round_ok_before += log.ok_before;
            round_after += log.unauthorized_after;
            total_ok += log.ok_before;
        }
        assert!(round_ok_before > 0, "round {round}: no 200 before the revocation (vacuous round)");
        assert_eq!(
            round_after,
            RACE_READERS * RACE_REQUESTS_AFTER,
            "round {round}: every reader saw the revocation"
        );
        assert!(matches!(lookup(&store, &secret), TokenState::Revoked(_)));
    }

    assert_eq!(calls.load(Ordering::SeqCst), total_ok, "the inner service ran exactly for the 200s");
}

#[test]
fn race_store_lookup_after_revoke_is_revoked_on_std_threads() {
    const ROUNDS: usize = 20;
    const THREADS: usize = 4;
    const AFTER: usize = 500;
    const MAX: usize = 200_000;

    let store = MemoryTokenStore::new();
    for round in 0..ROUNDS {
        let secret = format!("std-race-{round}");
        let id = store.insert(&secret, user("racer")).unwrap();
        let revoked = AtomicBool::new(false);
        let active_seen = AtomicUsize::new(0);

        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (store, secret, revoked, active_seen) = (&store, &secret, &revoked, &active_seen);
                    scope.spawn(move || {
                        let token = PresentedToken::new(secret);
                        let (mut active_after, mut unknown, mut after) = (0, 0, 0);
                        for _ in 0..MAX {
                            let started_after = revoked.load(Ordering::SeqCst);
                            let state = answer_now(store, &token);
                            match state {
                                TokenState::Active(_) if started_after => active_after += 1,
                                TokenState::Active(_) => {
                                    active_seen.fetch_add(1, Ordering::SeqCst);
                                }
                                TokenState::Revoked(_) => {}
                                _ => unknown += 1,
                            }
                            if started_after {
                                after += 1;
                                if after == AFTER {
                                    break;
                                }
                            }
                        }
                        (active_after, unknown, after)
                    })
                })
                .collect();

            let deadline = Instant::now() + Duration::from_secs(10);
            while active_seen.load(Ordering::SeqCst) < THREADS * 50 {
                assert!(Instant::now() < deadline, "round {round}: readers made no progress");
                std::thread::yield_now();
            }
            assert!(at_once(store.revoke(&id)).unwrap());
            revoked.store(true, Ordering::SeqCst);

            for handle in handles {
                let (active_after, unknown, after) = handle.join().expect("reader thread panicked");
                assert_eq!(active_after, 0, "round {round}: Active after revoke() returned");
                assert_eq!(unknown, 0, "round {round}: a revoked token must never look unknown");
                assert_eq!(after, AFTER, "round {round}: the reader saw the revocation");
            }
        });
    }
}

/// Iterations of the writer-vs-writer races below: each spawns two short-lived threads.
const WRITER_RACE_ITERATIONS: usize = 2_000;

#[test]
fn race_revoke_concurrent_with_insert_never_leaves_an_unrevocable_token() {
    // A revoker that knows the id in advance (ids chosen by the application) keeps calling
    // `revoke` while the token is being inserted. Once `insert` has returned, a `revoke` must
    // succeed: the token may never end up active yet unknown to `revoke` and `get`.
    let mut unrevocable = 0;
    for i in 0..WRITER_RACE_ITERATIONS {
        let store = MemoryTokenStore::new();
        let id = TokenId::from(format!("tid_race_insert_{i}"));
        let inserted = AtomicBool::new(false);
        let revoked = std::thread::scope(|scope| {
            scope.spawn(|| {
                store
                    .insert("insert-vs-revoke", Principal::builder("u").token_id(id.clone()).build())
                    .unwrap();
                inserted.store(true, Ordering::SeqCst);
            });
            let revoker = scope.spawn(|| {
                for _ in 0..10_000_000 {
                    let insert_returned = inserted.load(Ordering::SeqCst);
                    if at_once(store.revoke(&id)).unwrap() {
                        return true;
                    }
                    if insert_returned {
                        return false;
                    }
                }
                false
            });
            revoker.join().expect("revoker panicked")
        });
        if !revoked {
            unrevocable += 1;
            assert!(matches!(lookup(&store, "insert-vs-revoke"), TokenState::Active(_)));
        }
    }
    assert_eq!(unrevocable, 0, "tokens left active that revoke(id) could no longer reach");
}

#[test]
fn race_revoking_the_id_of_a_refused_duplicate_never_revokes_the_original() {
    // `insert` of an already-stored secret under a new id fails with `DuplicateToken`; a
    // concurrent `revoke` of that new id must not touch the token that was there first.
    let mut victims = 0;
    for i in 0..WRITER_RACE_ITERATIONS {
        let store = MemoryTokenStore::new();
        store.insert("victim-secret", Principal::builder("victim").token_id("tid_victim").build()).unwrap();
        let intruder = TokenId::from(format!("tid_intruder_{i}"));
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _ = store.insert(
                    "victim-secret",
                    Principal::builder("intruder").token_id(intruder.clone()).build(),
                );
                done.store(true, Ordering::SeqCst);
            });
            scope.spawn(|| {
                for _ in 0..10_000_000 {
                    if done.load(Ordering::SeqCst) {
                        break;
                    }
                    at_once(store.revoke(&intruder)).unwrap();
                }
            });
        });
        if active_subject(&lookup(&store, "victim-secret")) != Some("victim") {
            victims += 1;
        }
    }
    assert_eq!(victims, 0, "iterations where revoking the refused id revoked the original token");
}

// ---------------------------------------------------------------------------------------------
// CallbackTokenStore
// ---------------------------------------------------------------------------------------------

/// The layer over a callback store, in front of a counting echo service.
fn callback_service<F, Fut, T, E>(
    callback: F,
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<Full<Bytes>>, Response = Response<ResponseBody<Full<Bytes>>>, Error = Infallible> + Clone
where
    F: Fn(PresentedToken<'static>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
    T: Into<TokenState>,
    E: Into<tower::BoxError>,
{
    ServiceBuilder::new()
        .layer(BearerAuthLayer::new(CallbackTokenStore::new(callback)))
        .service(counting_echo(calls))
}

#[tokio::test]
async fn callback_some_principal_is_admitted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = callback_service(
        |token: PresentedToken<'static>| async move {
            let found = (token.expose_secret() == "cb-good").then(|| user("cb-user"));
            Ok::<_, Infallible>(found)
        },
        calls.clone(),
    );

    let response = svc.oneshot(request(Some("cb-good"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_string(response).await, "cb-user");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn callback_none_is_401_invalid_token() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = callback_service(
        |_: PresentedToken<'static>| async { Ok::<Option<Principal>, Infallible>(None) },
        calls.clone(),
    );

    let response = svc.oneshot(request(Some("cb-unknown"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    let body: serde_json::Value = serde_json::from_str(&body_string(response).await).unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "rejected requests never reach the inner service");
}

#[tokio::test]
async fn callback_error_is_503_and_hides_the_error() {
    const DETAIL: &str = "connection to db-primary.internal:5432 refused (password=hunter2)";
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = callback_service(
        |_: PresentedToken<'static>| async { Err::<Option<Principal>, _>(std::io::Error::other(DETAIL)) },
        calls.clone(),
    );

    let response = svc.oneshot(request(Some("cb-any"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "a failing store is not a bad token");
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    let body = body_string(response).await;
    for fragment in [DETAIL, "db-primary", "hunter2", "refused"] {
        assert!(!body.contains(fragment), "store error leaked into the body: {body}");
    }
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "temporarily_unavailable");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn callback_revoked_state_is_401() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = callback_service(
        |_: PresentedToken<'static>| async { Ok::<_, Infallible>(TokenState::Revoked(user("former"))) },
        calls.clone(),
    );

    let response = svc.oneshot(request(Some("cb-revoked"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn callback_receives_the_presented_token_and_its_digest() {
    let seen: Arc<Mutex<Vec<(String, TokenHash)>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = callback_service(
        {
            let seen = seen.clone();
            move |token: PresentedToken<'static>| {
                seen.lock().unwrap().push((token.expose_secret().to_owned(), *token.hash()));
                async { Ok::<_, Infallible>(Some(user("someone"))) }
            }
        },
        calls,
    );

    let sent = "a-Z0.9_~+/token==";
    let response = svc.oneshot(request(Some(sent))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "the callback ran once");
    assert_eq!(seen[0].0, sent);
    assert_eq!(seen[0].1, TokenHash::of(sent));
}

#[tokio::test]
async fn callback_is_not_called_without_a_token() {
    let invoked = Arc::new(AtomicUsize::new(0));
    let svc = callback_service(
        {
            let invoked = invoked.clone();
            move |_: PresentedToken<'static>| {
                invoked.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(Some(user("someone"))) }
            }
        },
        Arc::new(AtomicUsize::new(0)),
    );

    let response = svc.oneshot(request(None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(invoked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn callback_async_latency_is_awaited() {
    const LATENCY: Duration = Duration::from_millis(30);
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = callback_service(
        |token: PresentedToken<'static>| async move {
            tokio::time::sleep(LATENCY).await;
            Ok::<_, Infallible>((token.expose_secret() == "slow-token").then(|| user("patient")))
        },
        calls.clone(),
    );

    let started = Instant::now();
    let response = svc.clone().oneshot(request(Some("slow-token"))).await.unwrap();
    assert!(started.elapsed() >= LATENCY, "the response waited for the callback");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_string(response).await, "patient");

    let unknown = svc.oneshot(request(Some("not-the-slow-token"))).await.unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// What the event hook saw of one rejection.
#[derive(Debug)]
struct SeenRejection {
    status: StatusCode,
    store_error_kind: Option<StoreErrorKind>,
    store_error_source: Option<String>,
}

#[tokio::test]
async fn callback_error_reaches_on_event_as_rejected_with_store_error() {
    const DETAIL: &str = "replica lag exceeded";
    let seen: Arc<Mutex<Vec<SeenRejection>>> = Arc::default();
    let layer = BearerAuthLayer::new(CallbackTokenStore::new(|_: PresentedToken<'static>| async {
        Err::<Option<Principal>, _>(std::io::Error::other(DETAIL))
    }))
    .on_event({
        let seen = seen.clone();
        move |event| {
            if let Outcome::Rejected { error, store_error, .. } = event.outcome {
                seen.lock().unwrap().push(SeenRejection {
                    status: error.status(),
                    store_error_kind: store_error.map(|e| e.kind()),
                    store_error_source: store_error
                        .and_then(std::error::Error::source)
                        .map(ToString::to_string),
                });
                assert!(matches!(error, AuthError::StoreUnavailable(StoreErrorKind::Unavailable)));
            } else {
                panic!("expected a rejection, got {:?}", event.outcome);
            }
        }
    });
    let svc = ServiceBuilder::new().layer(layer).service(counting_echo(Arc::new(AtomicUsize::new(0))));

    let response = svc.oneshot(request(Some("cb-any"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(seen[0].store_error_kind, Some(StoreErrorKind::Unavailable));
    assert_eq!(seen[0].store_error_source.as_deref(), Some(DETAIL), "the operator gets the cause");
}

#[tokio::test]
async fn callback_store_error_keeps_its_kind() {
    let kinds: Arc<Mutex<Vec<Option<StoreErrorKind>>>> = Arc::default();
    let layer = BearerAuthLayer::new(CallbackTokenStore::new(|_: PresentedToken<'static>| async {
        Err::<Option<Principal>, _>(StoreError::timeout())
    }))
    .on_event({
        let kinds = kinds.clone();
        move |event| {
            if let Outcome::Rejected { store_error, .. } = event.outcome {
                kinds.lock().unwrap().push(store_error.map(StoreError::kind));
            }
        }
    });
    let svc = ServiceBuilder::new().layer(layer).service(counting_echo(Arc::new(AtomicUsize::new(0))));

    let response = svc.oneshot(request(Some("cb-any"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(*kinds.lock().unwrap(), [Some(StoreErrorKind::Timeout)]);
}

#[tokio::test]
async fn callback_ok_reaches_on_event_as_authenticated() {
    let subjects: Arc<Mutex<Vec<String>>> = Arc::default();
    let layer = BearerAuthLayer::new(CallbackTokenStore::new(|_: PresentedToken<'static>| async {
        Ok::<_, Infallible>(Some(user("heidi")))
    }))
    .on_event({
        let subjects = subjects.clone();
        move |event| match event.outcome {
            Outcome::Authenticated(p) => subjects.lock().unwrap().push(p.subject().to_owned()),
            other => panic!("expected Authenticated, got {other:?}"),
        }
    });
    let svc = ServiceBuilder::new().layer(layer).service(counting_echo(Arc::new(AtomicUsize::new(0))));

    let response = svc.oneshot(request(Some("cb-good"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(*subjects.lock().unwrap(), ["heidi"]);
}
