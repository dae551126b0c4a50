//! The token lifecycle through the full layer: issue, show once, list, format check before
//! the store, expiry and purge, revoke, rotate (atomic and with grace), delete, usage
//! tracking, issuing through a principal, and the audit events of each.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tower_bearer_test_support::{app, at_once, get, outcome, status};

use http::StatusCode;
use tower::ServiceExt;
use tower_bearer::manage::LifecycleEvent;
use tower_bearer::middleware::{InvalidToken, Outcome};
use tower_bearer::store::Answer;
use tower_bearer::{
    AuthError, BearerAuthLayer, Clock, ManageError, MemoryTokenStore, NewToken, PresentedToken, Principal,
    Scopes, StoreError, TokenFormat, TokenManager, TokenState, TokenStore,
};

async fn rejection<T: TokenStore>(layer: &BearerAuthLayer<T>, token: &str) -> Option<AuthError> {
    outcome(layer, token).await.1
}

fn live_format() -> TokenFormat {
    TokenFormat::new("tok_live_")
}

fn store_with_events() -> (MemoryTokenStore, Arc<Mutex<Vec<LifecycleEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let store = MemoryTokenStore::builder()
        .format(live_format())
        .on_lifecycle_event(move |e| sink.lock().unwrap().push(e.clone()))
        .build();
    (store, events)
}

#[tokio::test]
async fn issued_secret_is_shown_once_and_the_list_has_metadata_only() {
    let (store, events) = store_with_events();
    let issued =
        store.issue(NewToken::for_subject("alice").name("laptop").scopes(["read", "write"])).await.unwrap();
    let secret = issued.secret().expose_secret().to_owned();

    assert!(secret.starts_with("tok_live_"));
    assert_eq!(live_format().check(&secret), Ok(()));
    let info = issued.info();
    assert_eq!(info.principal.token_name(), Some("laptop"));
    assert_eq!(info.principal.scopes(), &Scopes::parse("read write"));
    assert_eq!(info.hint.as_deref(), Some(format!("tok_live_…{}", &secret[secret.len() - 4..]).as_str()));
    assert!(info.created_at <= SystemTime::now());
    assert_eq!(info.last_used_at, None);
    assert!(!format!("{issued:?}").contains(&secret), "IssuedToken's Debug must redact the secret");

    let listed = store.list("alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, *issued.id());
    let dump = format!("{listed:?} {store:?} {:?}", events.lock().unwrap());
    assert!(!dump.contains(&secret));
    assert!(!dump.contains(&tower_bearer::TokenHash::of(&secret).to_hex()), "digests stay inside the store");
    assert!(matches!(&events.lock().unwrap()[..], [LifecycleEvent::Issued(i)] if i.id == *issued.id()));

    let layer = BearerAuthLayer::new(store).token_formats([live_format()]);
    assert_eq!(status(&layer, &secret).await, StatusCode::OK);
}

#[tokio::test]
async fn an_owner_has_many_named_tokens_and_lists_only_their_own() {
    let store = MemoryTokenStore::new();
    for name in ["ci", "laptop", "backup"] {
        let _ = store.issue(NewToken::for_subject("alice").name(name)).await.unwrap();
    }
    let _ = store.issue(NewToken::for_subject("bob").name("ci")).await.unwrap();
    let mut names: Vec<String> = store
        .list("alice")
        .await
        .unwrap()
        .iter()
        .map(|i| i.principal.token_name().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["backup", "ci", "laptop"]);
    assert_eq!(store.list("bob").await.unwrap().len(), 1);
    assert!(store.list("carol").await.unwrap().is_empty());
    assert_eq!(store.len(), 4);
}

/// Counts lookups, answering from a memory store: proves which requests reach the store.
#[derive(Clone)]
struct Counting {
    inner: MemoryTokenStore,
    lookups: Arc<AtomicUsize>,
}

impl TokenStore for Counting {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup(token)
    }
}

#[tokio::test]
async fn the_format_check_rejects_bad_tokens_before_the_store() {
    let memory = MemoryTokenStore::builder().format(live_format()).build();
    let good =
        memory.issue(NewToken::for_subject("alice")).await.unwrap().secret().expose_secret().to_owned();
    let lookups = Arc::new(AtomicUsize::new(0));
    let layer = BearerAuthLayer::new(Counting { inner: memory, lookups: lookups.clone() })
        .token_formats([live_format(), TokenFormat::new("tok_test_")]);

    let mut typo = good.clone().into_bytes();
    let i = 20;
    typo[i] = if typo[i] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let fabricated = format!("tok_live_{}", "a".repeat(49));
    let wrong_prefix = good.replacen("tok_live_", "tok_prod_", 1);
    for bad in
        [typo.as_str(), &fabricated, &wrong_prefix, "static-key-of-another-format", &good[..good.len() - 1]]
    {
        let res = app(layer.clone().rejection_extension(true)).oneshot(get(Some(bad))).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer error="invalid_token", error_description="the access token is malformed""#
        );
        assert_eq!(
            res.extensions().get::<AuthError>(),
            Some(&AuthError::InvalidToken(InvalidToken::BadFormat))
        );
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 0, "no bad-format token may reach the store");

    // Well-formed tokens do reach it: the live one (200) and an unknown test-format one (401).
    assert_eq!(status(&layer, &good).await, StatusCode::OK);
    let unknown_test_token = TokenFormat::new("tok_test_").generate();
    assert_eq!(status(&layer, unknown_test_token.expose_secret()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn layers_without_a_format_accept_static_keys() {
    let store = MemoryTokenStore::builder().format(live_format()).build();
    store.insert("a-static-key-from-the-environment", Principal::builder("ops").build()).unwrap();
    assert_eq!(
        status(&BearerAuthLayer::new(store.clone()), "a-static-key-from-the-environment").await,
        StatusCode::OK
    );
    let strict = BearerAuthLayer::new(store).token_formats([live_format()]);
    assert_eq!(status(&strict, "a-static-key-from-the-environment").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_tokens_are_refused_as_expired_and_purged() {
    let (store, events) = store_with_events();
    let past = SystemTime::now() - Duration::from_secs(1);
    let expired = store.issue(NewToken::for_subject("alice").expires_at(past)).await.unwrap();
    let live =
        store.issue(NewToken::for_subject("alice").expires_in(Duration::from_secs(3600))).await.unwrap();
    let forever = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let layer = BearerAuthLayer::new(store.clone());

    let res = app(layer.clone()).oneshot(get(Some(expired.secret().expose_secret()))).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the access token expired""#
    );
    assert_eq!(status(&layer, live.secret().expose_secret()).await, StatusCode::OK);
    assert_eq!(status(&layer, forever.secret().expose_secret()).await, StatusCode::OK);

    assert_eq!(store.purge_expired().await.unwrap(), 1);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    assert!(store.get(expired.id()).await.unwrap().is_none());
    assert_eq!(store.len(), 2);
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(LifecycleEvent::ExpiredPurged(infos)) if infos.len() == 1 && infos[0].id == *expired.id()
    ));
    // Purged means forgotten: the token is now unknown.
    assert_eq!(
        rejection(&layer, expired.secret().expose_secret()).await,
        Some(AuthError::InvalidToken(InvalidToken::Unknown))
    );
}

#[tokio::test]
async fn revoke_takes_effect_at_once_and_is_audited() {
    let (store, events) = store_with_events();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let sink = outcomes.clone();
    let layer = BearerAuthLayer::new(store.clone()).on_event(move |e| {
        let reason = match e.outcome {
            Outcome::Authenticated(_) => "ok".to_owned(),
            Outcome::Rejected { error, .. } => format!("{error}"),
            _ => "other".to_owned(),
        };
        let id = e.principal().and_then(|p| p.token_id()).map(|id| id.to_string());
        sink.lock().unwrap().push((reason, id, e.method.to_string(), e.path.to_owned()));
    });
    let issued = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let secret = issued.secret().expose_secret();

    assert_eq!(status(&layer, secret).await, StatusCode::OK);
    assert!(store.revoke(issued.id()).await.unwrap());
    assert!(!store.revoke(issued.id()).await.unwrap(), "a second revoke finds nothing live");
    assert_eq!(status(&layer, secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(rejection(&layer, secret).await, Some(AuthError::InvalidToken(InvalidToken::Revoked)));

    let id = Some(issued.id().to_string());
    let seen = outcomes.lock().unwrap().clone();
    assert_eq!(seen[0], ("ok".into(), id.clone(), "GET".into(), "/v1/things".into()));
    assert_eq!(seen[1], ("invalid token: revoked token".into(), id, "GET".into(), "/v1/things".into()));
    assert!(
        matches!(events.lock().unwrap().last(), Some(LifecycleEvent::Revoked(i)) if i.id == *issued.id())
    );
}

#[tokio::test]
async fn rotation_replaces_the_token_at_once() {
    let (store, events) = store_with_events();
    let old = store
        .issue(
            NewToken::for_subject("alice")
                .organization("acme")
                .name("deploy")
                .kind("service")
                .scopes(["deploy"])
                .expires_in(Duration::from_secs(90 * 24 * 3600)),
        )
        .await
        .unwrap();
    let layer = BearerAuthLayer::new(store.clone()).require_scopes(["deploy"]);
    assert_eq!(status(&layer, old.secret().expose_secret()).await, StatusCode::OK);

    let new = store.rotate(old.id(), Duration::ZERO).await.unwrap();
    assert_ne!(new.id(), old.id());
    assert_ne!(new.secret().expose_secret(), old.secret().expose_secret());
    let (o, n) = (&old.info().principal, &new.info().principal);
    assert_eq!(
        (n.subject(), n.organization(), n.token_name(), n.token_kind()),
        ("alice", Some("acme"), Some("deploy"), Some("service"))
    );
    assert_eq!((o.subject(), o.scopes()), (n.subject(), n.scopes()));
    // The same lifetime length, counted from the rotation.
    let lifetime = n.expires_at().unwrap().duration_since(new.info().created_at).unwrap();
    assert!(lifetime.abs_diff(Duration::from_secs(90 * 24 * 3600)) < Duration::from_secs(5), "{lifetime:?}");

    assert_eq!(
        rejection(&layer, old.secret().expose_secret()).await,
        Some(AuthError::InvalidToken(InvalidToken::Revoked))
    );
    assert_eq!(status(&layer, new.secret().expose_secret()).await, StatusCode::OK);
    assert_eq!(store.list("alice").await.unwrap().len(), 1);
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(LifecycleEvent::Rotated { old: o, new: n, grace }) if o == old.id() && n.id == *new.id() && grace.is_zero()
    ));
    assert!(matches!(store.rotate(old.id(), Duration::ZERO).await, Err(ManageError::NotFound(_))));
}

#[tokio::test]
async fn rotation_with_grace_keeps_the_old_token_for_the_grace_only() {
    let clock = Clock::manual(SystemTime::now());
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let old = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let layer = BearerAuthLayer::new(store.clone()).clock(clock.clone());
    let new = store.rotate(old.id(), Duration::from_millis(300)).await.unwrap();
    assert_eq!(status(&layer, old.secret().expose_secret()).await, StatusCode::OK);
    assert_eq!(status(&layer, new.secret().expose_secret()).await, StatusCode::OK);
    clock.advance(Duration::from_millis(299));
    assert_eq!(status(&layer, old.secret().expose_secret()).await, StatusCode::OK, "within the grace");
    clock.advance(Duration::from_millis(101));
    assert_eq!(
        rejection(&layer, old.secret().expose_secret()).await,
        Some(AuthError::InvalidToken(InvalidToken::Expired))
    );
    assert_eq!(status(&layer, new.secret().expose_secret()).await, StatusCode::OK);
}

/// Readers hammer the old token while another thread rotates it: every request that starts
/// after `rotate` returned must be refused, every one that ended before it began accepted,
/// and the new token works for every request after `rotate` returned.
#[test]
fn rotation_leaves_no_instant_with_two_or_zero_working_tokens() {
    for _round in 0..20 {
        let store = MemoryTokenStore::new();
        let old = at_once(store.issue(NewToken::for_subject("alice"))).unwrap();
        let old_secret = old.secret().expose_secret().to_owned();
        let started = Arc::new(AtomicBool::new(false));
        let rotated = Arc::new(AtomicBool::new(false));
        let new_secret = Arc::new(Mutex::new(None::<String>));

        std::thread::scope(|s| {
            for _ in 0..2 {
                let (store, started, rotated, new_secret, old_secret) =
                    (&store, &started, &rotated, &new_secret, &old_secret);
                s.spawn(move || {
                    for _ in 0..2000 {
                        let (before_start, after_rotation) =
                            (!started.load(Ordering::SeqCst), rotated.load(Ordering::SeqCst));
                        let state = lookup_now(store, old_secret);
                        let accepted = matches!(state, TokenState::Active(_));
                        if after_rotation {
                            assert!(!accepted, "the old token worked after rotate() returned");
                            let new = new_secret.lock().unwrap().clone().unwrap();
                            assert!(matches!(lookup_now(store, &new), TokenState::Active(_)));
                        }
                        if before_start && !started.load(Ordering::SeqCst) {
                            assert!(accepted, "the old token failed before rotate() began");
                        }
                    }
                });
            }
            s.spawn(|| {
                std::thread::sleep(Duration::from_micros(200));
                started.store(true, Ordering::SeqCst);
                let new = at_once(store.rotate(old.id(), Duration::ZERO)).unwrap();
                *new_secret.lock().unwrap() = Some(new.secret().expose_secret().to_owned());
                rotated.store(true, Ordering::SeqCst);
            });
        });
    }
}

fn lookup_now(store: &MemoryTokenStore, secret: &str) -> TokenState {
    match store.lookup(&PresentedToken::new(secret)) {
        Answer::Now(answer) => answer.unwrap(),
        Answer::Later(_) => unreachable!("the memory store answers at once"),
    }
}

#[tokio::test]
async fn delete_forgets_the_token_without_a_trace() {
    let (store, events) = store_with_events();
    let issued = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let layer = BearerAuthLayer::new(store.clone());
    assert!(store.delete(issued.id()).await.unwrap());
    assert!(!store.delete(issued.id()).await.unwrap());
    assert_eq!(
        rejection(&layer, issued.secret().expose_secret()).await,
        Some(AuthError::InvalidToken(InvalidToken::Unknown))
    );
    assert!(
        matches!(events.lock().unwrap().last(), Some(LifecycleEvent::Deleted(i)) if i.id == *issued.id())
    );
}

/// More than a timer tick of the coarse clock usage is stamped with (1 ms at `HZ=1000`, 10 ms
/// at `HZ=100`), with room for a late tick on a busy machine.
const TICK: Duration = Duration::from_millis(50);

#[tokio::test]
async fn last_used_is_recorded_once_per_interval() {
    let store = MemoryTokenStore::builder().usage_interval(Duration::from_secs(3600)).build();
    let issued = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let layer = BearerAuthLayer::new(store.clone());
    assert_eq!(store.get(issued.id()).await.unwrap().unwrap().last_used_at, None);

    let before = SystemTime::now();
    assert_eq!(status(&layer, issued.secret().expose_secret()).await, StatusCode::OK);
    let first = store.get(issued.id()).await.unwrap().unwrap().last_used_at.expect("recorded on first use");
    // Usage is stamped with the coarse clock: up to a timer tick (1-10 ms) behind.
    assert!(first + TICK >= before, "{first:?} vs {before:?}");
    std::thread::sleep(Duration::from_millis(5));
    for _ in 0..10 {
        assert_eq!(status(&layer, issued.secret().expose_secret()).await, StatusCode::OK);
    }
    assert_eq!(
        store.get(issued.id()).await.unwrap().unwrap().last_used_at,
        Some(first),
        "coalesced within the interval"
    );
    assert_eq!(store.list("alice").await.unwrap()[0].last_used_at, Some(first), "readable in the list");

    // An explicit record moves it forward, never back.
    let later = first + Duration::from_secs(10);
    store.record_usage(issued.id(), later).await.unwrap();
    store.record_usage(issued.id(), first - Duration::from_secs(10)).await.unwrap();
    let recorded = store.get(issued.id()).await.unwrap().unwrap().last_used_at.unwrap();
    assert!(recorded.duration_since(later).unwrap() < Duration::from_millis(1));

    // With no interval every use is recorded.
    let eager = MemoryTokenStore::builder().usage_interval(Duration::ZERO).build();
    let token = eager.issue(NewToken::for_subject("bob")).await.unwrap();
    let eager_layer = BearerAuthLayer::new(eager.clone());
    assert_eq!(status(&eager_layer, token.secret().expose_secret()).await, StatusCode::OK);
    let a = eager.get(token.id()).await.unwrap().unwrap().last_used_at.unwrap();
    std::thread::sleep(TICK);
    assert_eq!(status(&eager_layer, token.secret().expose_secret()).await, StatusCode::OK);
    assert!(eager.get(token.id()).await.unwrap().unwrap().last_used_at.unwrap() > a);
}

/// Only presentations the store vouches for are uses: an expired token presented stays
/// "never used"; a valid token refused for a missing scope was used (security review #11,
/// finding 7).
#[tokio::test]
async fn refused_presentations_of_expired_tokens_are_not_uses() {
    let clock = Clock::manual(SystemTime::now());
    let store = MemoryTokenStore::builder().clock(clock.clone()).usage_interval(Duration::ZERO).build();
    let layer = BearerAuthLayer::new(store.clone()).clock(clock.clone()).require_scopes(["write"]);
    let expiring = store
        .issue(
            NewToken::for_subject("alice")
                .scopes(["write"])
                .expires_at(clock.now() + Duration::from_secs(60)),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(61));
    assert_eq!(status(&layer, expiring.secret().expose_secret()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        store.get(expiring.id()).await.unwrap().unwrap().last_used_at,
        None,
        "an expired token was not used"
    );

    let reader = store.issue(NewToken::for_subject("alice").scopes(["read"])).await.unwrap();
    assert_eq!(status(&layer, reader.secret().expose_secret()).await, StatusCode::FORBIDDEN);
    assert!(store.get(reader.id()).await.unwrap().unwrap().last_used_at.is_some(), "a valid token was used");
}

#[tokio::test]
async fn a_token_cannot_mint_scopes_it_does_not_hold() {
    let store = MemoryTokenStore::new();
    let admin = store.issue(NewToken::for_subject("alice").scopes(["*"])).await.unwrap();
    let reader = store.issue(NewToken::for_subject("alice").scopes(["tokens:read"])).await.unwrap();
    let (admin_p, reader_p) = (&admin.info().principal, &reader.info().principal);

    let scoped =
        store.issue_as(admin_p, NewToken::for_subject("alice").scopes(["invoices:read"])).await.unwrap();
    assert_eq!(scoped.info().principal.scopes(), &Scopes::parse("invoices:read"));
    assert!(matches!(
        store.issue_as(reader_p, NewToken::for_subject("alice").scopes(["tokens:write"])).await,
        Err(ManageError::ScopeNotHeld(s)) if s == "tokens:write"
    ));
    assert!(matches!(
        store.issue_as(reader_p, NewToken::for_subject("alice").scopes(["*"])).await,
        Err(ManageError::ScopeNotHeld(s)) if s == "*"
    ));
    assert_eq!(store.list("alice").await.unwrap().len(), 3, "refused tokens are not stored");
}

#[tokio::test]
async fn the_lifecycle_trait_drives_the_memory_store() {
    tower_bearer_test_support::contract::manage(&MemoryTokenStore::new()).await.unwrap();
}

#[tokio::test]
async fn a_lifetime_counts_from_the_memory_stores_clock_and_its_caches() {
    use tower_bearer_test_support::contract::lifetimes_count_from_the_store_clock;
    let clock = tower_bearer::Clock::manual(SystemTime::now() - Duration::from_secs(2 * 86_400));
    let store = MemoryTokenStore::builder().clock(clock).build();
    lifetimes_count_from_the_store_clock(&store).await;
    #[cfg(feature = "cache")]
    lifetimes_count_from_the_store_clock(&tower_bearer::CachedTokenStore::new(store)).await;
}
