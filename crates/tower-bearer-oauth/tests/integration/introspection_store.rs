//! `IntrospectionStore`: a resource server protected by tokens another authorization server
//! issues, asked over real HTTP: this crate's own introspection endpoint, and a hand-written
//! server answering odd but legal answers, slowly, with errors, or with something that is not
//! an answer. Caching, coalescing, and failing closed.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::service_fn;
use tower_bearer::middleware::Outcome;
use tower_bearer::stores::CacheConfig;
use tower_bearer::{AuthError, BearerAuthLayer, MemoryTokenStore, NewToken, TokenManager};
use tower_bearer_oauth::{
    ClientRegistry, IntrospectionStore, MemoryClientRegistry, NewClient, TokenEndpoint,
};
use tower_bearer_test_support::{at_once, outcome, serve, status};

/// The authorization server: this crate's endpoints on a loopback port; returns the
/// introspection URL, the store it issues into, and the resource server's client secret.
async fn authorization_server() -> (String, MemoryTokenStore, String, tokio::task::JoinHandle<()>) {
    let store = MemoryTokenStore::new();
    let clients = MemoryClientRegistry::new();
    let rs = at_once(clients.register(NewClient::new("reports-api").client_id("reports-api"))).unwrap();
    let token = TokenEndpoint::builder(clients, store.clone()).issuer("http://as.test").build();
    let app = axum::Router::new()
        .route_service("/oauth/token", token.clone())
        .route_service("/oauth/introspect", token.introspection());
    let (addr, task) = serve(app).await;
    (format!("http://{addr}/oauth/introspect"), store, rs.client_secret.expose_secret().to_owned(), task)
}

#[tokio::test]
async fn tokens_of_another_tower_bearer_are_accepted_and_revocations_seen() {
    let (url, issuer_store, secret, server) = authorization_server().await;
    let token = at_once(issuer_store.issue(NewToken::for_subject("ada").scopes(["reports:read"]))).unwrap();
    let token = token.secret().expose_secret().to_owned();
    let store = IntrospectionStore::new(&url, "reports-api", &secret).unwrap();
    let layer = BearerAuthLayer::new(store.clone()).require_scopes(["reports:read"]);
    assert_eq!(status(&layer, &token).await, StatusCode::OK);
    assert_eq!(status(&layer, "tok_unknown000000000000000000000000").await, StatusCode::UNAUTHORIZED);
    let id = at_once(issuer_store.list("ada")).unwrap()[0].id.clone();
    at_once(issuer_store.revoke(&id)).unwrap();
    assert_eq!(status(&layer, &token).await, StatusCode::UNAUTHORIZED, "uncached: seen at once");

    // A wrong client secret: the authorization server refuses the store, which fails closed.
    let wrong = BearerAuthLayer::new(IntrospectionStore::new(&url, "reports-api", "cs_wrong").unwrap());
    assert_eq!(status(&wrong, &token).await, StatusCode::SERVICE_UNAVAILABLE);
    server.abort();
}

/// What the hand-written server answers next.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Active, with members nobody registered.
    Extra,
    /// `active: true` with an `exp` in the past.
    ExpiredButActive,
    /// Never answers.
    Hang,
    /// 500.
    Error,
    /// Not JSON.
    Garbage,
    Inactive,
}

struct Odd {
    url: String,
    mode: Arc<Mutex<Mode>>,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

async fn odd_server() -> Odd {
    let mode = Arc::new(Mutex::new(Mode::Extra));
    let calls = Arc::new(AtomicUsize::new(0));
    let (m, c) = (mode.clone(), calls.clone());
    let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
        let (mode, calls) = (*m.lock().unwrap(), c.clone());
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let (status, body) = match mode {
                Mode::Extra => (
                    StatusCode::OK,
                    r#"{"active":true,"sub":"ada","scope":"reports:read","exp":99999999999,"x-vendor":{"a":[1]},"username":"Ada"}"#,
                ),
                Mode::ExpiredButActive => (StatusCode::OK, r#"{"active":true,"sub":"ada","exp":1000}"#),
                Mode::Hang => std::future::pending().await,
                Mode::Error => (StatusCode::INTERNAL_SERVER_ERROR, "oops"),
                Mode::Garbage => (StatusCode::OK, "<html>login</html>"),
                Mode::Inactive => (StatusCode::OK, r#"{"active":false}"#),
            };
            let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
            *res.status_mut() = status;
            Ok::<_, Infallible>(res)
        }
    });
    let (addr, task) = serve(service).await;
    Odd { url: format!("http://{addr}/introspect"), mode, calls, task }
}

#[tokio::test]
async fn odd_but_legal_answers_and_failures() {
    let odd = odd_server().await;
    let store = IntrospectionStore::builder(&odd.url, "rs", "secret")
        .unwrap()
        .timeout(Duration::from_millis(200))
        .build();
    let layer = BearerAuthLayer::new(store);
    let token = "tok_from_elsewhere_0123456789";
    let cases = [
        (Mode::Extra, StatusCode::OK, None),
        (Mode::Inactive, StatusCode::UNAUTHORIZED, Some("unknown_token")),
        (Mode::ExpiredButActive, StatusCode::UNAUTHORIZED, Some("expired_token")),
        (Mode::Error, StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable")),
        (Mode::Garbage, StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable")),
        (Mode::Hang, StatusCode::SERVICE_UNAVAILABLE, Some("store_timeout")),
    ];
    for (mode, expected, reason) in cases {
        *odd.mode.lock().unwrap() = mode;
        let (status, error) = outcome(&layer, token).await;
        assert_eq!((status, error.as_ref().map(AuthError::reason)), (expected, reason), "{mode:?}");
    }
    odd.task.abort();
}

#[tokio::test]
async fn the_token_appears_in_no_error_and_no_event() {
    let odd = odd_server().await;
    *odd.mode.lock().unwrap() = Mode::Error;
    let seen = Arc::new(Mutex::new(String::new()));
    let log = seen.clone();
    let store = IntrospectionStore::new(&odd.url, "rs", "secret-of-the-rs").unwrap();
    let layer = BearerAuthLayer::new(store.clone()).on_event(move |e| {
        if let Outcome::Rejected { store_error: Some(error), .. } = &e.outcome {
            log.lock().unwrap().push_str(&format!("{error} {error:?}"));
        }
    });
    let token = "tok_secret_value_0123456789";
    assert_eq!(status(&layer, token).await, StatusCode::SERVICE_UNAVAILABLE);
    let text = format!("{} {store:?}", seen.lock().unwrap());
    assert!(text.contains("500"), "{text}");
    assert!(!text.contains(token) && !text.contains("secret-of-the-rs"), "{text}");
    odd.task.abort();
}

#[tokio::test]
async fn cached_answers_are_reused_and_concurrent_lookups_coalesced() {
    let odd = odd_server().await;
    let store = IntrospectionStore::new(&odd.url, "rs", "secret").unwrap().cached(
        CacheConfig::default().positive_ttl(Duration::from_secs(60)).negative_ttl(Duration::from_secs(5)),
    );
    let layer = BearerAuthLayer::new(store);
    let token = "tok_cached_0123456789";
    let lookups: Vec<_> = (0..20)
        .map(|_| {
            let layer = layer.clone();
            tokio::spawn(async move { status(&layer, token).await })
        })
        .collect();
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(odd.calls.load(Ordering::SeqCst), 1, "twenty concurrent requests, one call");
    assert_eq!(status(&layer, token).await, StatusCode::OK);
    assert_eq!(odd.calls.load(Ordering::SeqCst), 1, "served from the cache");

    *odd.mode.lock().unwrap() = Mode::Inactive;
    for _ in 0..3 {
        assert_eq!(status(&layer, "tok_other_0123456789").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(odd.calls.load(Ordering::SeqCst), 2, "an inactive answer is cached briefly too");
    odd.task.abort();
}

/// Every attribute of a token's grant goes over introspection whole: this crate's endpoint
/// writes it, an `IntrospectionStore` reads it back (issue 21: kind, rate limit and credits
/// were lost, so a resource server treated such tokens as unmetered).
#[tokio::test]
async fn every_attribute_of_the_grant_round_trips_over_introspection() {
    let (url, issuer_store, secret, server) = authorization_server().await;
    let grant = tower_bearer::Grant::every_attribute_example();
    let token = at_once(issuer_store.issue(NewToken::for_grant(grant.clone()))).unwrap();
    let store = IntrospectionStore::new(&url, "reports-api", &secret).unwrap();
    let tower_bearer::TokenState::Active(read) =
        tower_bearer_test_support::state(&store, token.secret().expose_secret()).await
    else {
        panic!("not active")
    };
    assert_eq!(read.grant(), &grant);
    server.abort();
}
