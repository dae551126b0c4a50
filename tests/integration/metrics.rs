//! What the layer and the stores record through the `metrics` facade, read with a local
//! `DebuggingRecorder` (no global recorder: each test sees only its own thread's records).
#![cfg(feature = "metrics")]

use std::future::{Future, IntoFuture};

use axum::Router;
use axum::routing::get as route;
use http::StatusCode;
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::ServiceExt;
use tower_bearer::store::Answer;
use tower_bearer::{
    AuthError, BearerAuthLayer, MemoryTokenStore, PresentedToken, Principal, RequireScopesLayer, StoreError,
    TokenState, TokenStore,
};
use tower_bearer_test_support::{app, get};

/// What `run` recorded, as (name, labels, value) in a stable order.
type Records = Vec<(String, Vec<(String, String)>, DebugValue)>;

/// Runs `test` on a current-thread runtime with a local recorder, and returns what it recorded.
fn recorded<F: Future<Output = ()>>(test: impl FnOnce() -> F) -> Records {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(test());
    });
    let mut records: Records = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, _)| {
            let key = key.key();
            let labels = key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            (key.name().to_owned(), labels, value)
        })
        .collect();
    records.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    records
}

/// The counters named `name`, as (labels joined, count).
fn counters(records: &Records, name: &str) -> Vec<(String, u64)> {
    records
        .iter()
        .filter(|(n, ..)| n == name)
        .filter_map(|(_, labels, value)| match value {
            DebugValue::Counter(n) => {
                Some((labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","), *n))
            }
            _ => None,
        })
        .collect()
}

fn store_with(tokens: &[(&str, &str)]) -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    for (secret, scopes) in tokens {
        let principal = Principal::builder("rita").scopes(tower_bearer::Scopes::parse(scopes)).build();
        store.insert(secret, principal).unwrap();
    }
    store
}

#[test]
fn every_decided_request_is_counted_once_by_outcome() {
    let records = recorded(|| async {
        let store = store_with(&[("reader-key-0001", "things:read"), ("nobody-key-0001", "")]);
        let api = Router::new()
            .route(
                "/v1/things",
                route(|| async { "ok" }).route_layer(RequireScopesLayer::all(["things:read"])),
            )
            .route("/v1/refused", route(|| async { Err::<(), _>(AuthError::Denied) }))
            .route_layer(BearerAuthLayer::new(store));
        let call = |path: &'static str, token: Option<&'static str>| {
            let api = api.clone();
            async move {
                let mut req = http::Request::get(path);
                if let Some(token) = token {
                    req = req.header("authorization", format!("Bearer {token}"));
                }
                api.oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap().status()
            }
        };
        assert_eq!(call("/v1/things", Some("reader-key-0001")).await, StatusCode::OK);
        assert_eq!(call("/v1/things", Some("reader-key-0001")).await, StatusCode::OK);
        assert_eq!(call("/v1/things", Some("nobody-key-0001")).await, StatusCode::FORBIDDEN);
        assert_eq!(call("/v1/things", Some("no-such-key-0001")).await, StatusCode::UNAUTHORIZED);
        // Refused by the handler behind the layer: counted as that refusal, not as admitted.
        assert_eq!(call("/v1/refused", Some("reader-key-0001")).await, StatusCode::FORBIDDEN);
        // No token at all: nothing to count (as usage analytics count it).
        assert_eq!(call("/v1/things", None).await, StatusCode::UNAUTHORIZED);
    });
    assert_eq!(
        counters(&records, "tower_bearer_requests_total"),
        [
            ("outcome=admitted".to_owned(), 2),
            ("outcome=denied".to_owned(), 1),
            ("outcome=insufficient_scope".to_owned(), 1),
            ("outcome=unknown".to_owned(), 1),
        ]
    );
}

#[test]
fn token_ids_label_the_counter_only_when_asked_for_and_never_for_unknown_tokens() {
    let store = MemoryTokenStore::new();
    let issued = tower_bearer_test_support::at_once(tower_bearer::TokenManager::issue(
        &store,
        tower_bearer::NewToken::for_subject("rita"),
    ))
    .unwrap();
    let secret = issued.secret().expose_secret().to_owned();
    let id = issued.info().id.as_str().to_owned();
    let plain = recorded(|| {
        let (store, secret) = (store.clone(), secret.clone());
        async move {
            app(BearerAuthLayer::new(store)).oneshot(get(Some(&secret))).await.unwrap();
        }
    });
    assert_eq!(counters(&plain, "tower_bearer_requests_total"), [("outcome=admitted".to_owned(), 1)]);

    let labelled = recorded(|| async move {
        let layer = BearerAuthLayer::new(store).metric_token_ids(true);
        app(layer.clone()).oneshot(get(Some(&secret))).await.unwrap();
        app(layer).oneshot(get(Some("no-such-key-0001"))).await.unwrap();
    });
    assert_eq!(
        counters(&labelled, "tower_bearer_requests_total"),
        [(format!("outcome=admitted,token_id={id}"), 1), ("outcome=unknown".to_owned(), 1)]
    );
}

/// Answers later, from a memory store: the lookups the layer times.
struct Later(MemoryTokenStore);

impl TokenStore for Later {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        let answer = self.0.lookup(token);
        Answer::later(answer.into_future())
    }
}

#[test]
fn only_lookups_answered_later_are_timed() {
    let records = recorded(|| async {
        let store = store_with(&[("reader-key-0001", "")]);
        app(BearerAuthLayer::new(store.clone())).oneshot(get(Some("reader-key-0001"))).await.unwrap();
        let later = BearerAuthLayer::new(Later(store));
        app(later.clone()).oneshot(get(Some("reader-key-0001"))).await.unwrap();
        app(later).oneshot(get(Some("no-such-key-0001"))).await.unwrap();
    });
    let timed: Vec<usize> = records
        .iter()
        .filter(|(name, ..)| name == "tower_bearer_store_lookup_duration_seconds")
        .filter_map(|(.., value)| match value {
            DebugValue::Histogram(samples) => Some(samples.len()),
            _ => None,
        })
        .collect();
    assert_eq!(timed, [2]);
}

#[cfg(feature = "cache")]
#[test]
fn the_cache_counts_hits_and_misses() {
    use tower_bearer::CachedTokenStore;
    let records = recorded(|| async {
        let cached = CachedTokenStore::new(store_with(&[("reader-key-0001", "")]));
        for _ in 0..3 {
            cached.lookup(&PresentedToken::new("reader-key-0001")).await.unwrap();
        }
        cached.lookup(&PresentedToken::new("no-such-key-0001")).await.unwrap();
    });
    assert_eq!(counters(&records, "tower_bearer_cache_hits_total"), [(String::new(), 2)]);
    assert_eq!(counters(&records, "tower_bearer_cache_misses_total"), [(String::new(), 2)]);
}

#[cfg(feature = "tokio")]
#[test]
fn the_circuit_breaker_gauge_follows_its_state() {
    use tower_bearer::CircuitBreakerTokenStore;
    let records = recorded(|| async {
        let breaker =
            CircuitBreakerTokenStore::new(MemoryTokenStore::new(), 3, std::time::Duration::from_secs(3600));
        breaker.trip();
        assert!(breaker.is_open());
    });
    let gauge: Vec<f64> = records
        .iter()
        .filter(|(name, ..)| name == "tower_bearer_circuit_breaker_open")
        .filter_map(|(.., value)| match value {
            DebugValue::Gauge(v) => Some(v.into_inner()),
            _ => None,
        })
        .collect();
    assert_eq!(gauge, [1.0]);
}
