//! Rate limits and credits behind the auth layer: limits from the token's own metadata, or
//! defaults per kind; 429 in the layer's format with `Retry-After` and the `RateLimit` fields;
//! limits shared by subject or organization; credits exact under concurrency, refilled on a
//! schedule, moved by a rotation. Time moves on a manual clock, never by sleeping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::handler::Handler;
use axum::routing::{get, post};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};
use tower_bearer::limit::{CreditLedger, LimitBy, Spend};
use tower_bearer::middleware::Outcome;
use tower_bearer::store::Answer;
use tower_bearer::{
    BearerAuthLayer, Clock, Credits, CreditsLayer, ErrorFormat, MemoryTokenStore, NewToken, Principal,
    RateLimit, RateLimitLayer, StoreError, TokenManager,
};
use tower_bearer_test_support::{at_once, serve};

fn clock() -> Clock {
    Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

fn per(requests: u32, secs: u64) -> RateLimit {
    RateLimit::new(requests, Duration::from_secs(secs)).unwrap()
}

/// A router answering the principal's subject, behind `auth` then `limits`.
fn limited(store: &MemoryTokenStore, clock: &Clock, limits: RateLimitLayer) -> Router {
    Router::new().route("/v1/things", get(|p: Principal| async move { p.subject().to_owned() })).layer(
        ServiceBuilder::new()
            .layer(
                BearerAuthLayer::new(store.clone())
                    .clock(clock.clone())
                    .error_format(ErrorFormat::ErrorMessage),
            )
            .layer(limits.clock(clock.clone())),
    )
}

async fn send(app: &Router, method: Method, path: &str, token: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap(),
    )
}

async fn get_things(app: &Router, token: &str) -> (StatusCode, HeaderMap, String) {
    send(app, Method::GET, "/v1/things", token).await
}

fn issue(store: &MemoryTokenStore, new: NewToken) -> String {
    at_once(store.issue(new)).unwrap().secret().expose_secret().to_owned()
}

#[tokio::test]
async fn a_tokens_own_limit_is_enforced_with_retry_after_and_ratelimit_fields() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let token = issue(&store, NewToken::for_subject("ada").rate_limit(per(2, 10)));
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let auth = BearerAuthLayer::new(store.clone())
        .clock(clock.clone())
        .error_format(ErrorFormat::ErrorMessage)
        .on_event(move |e| {
            let reason = match &e.outcome {
                Outcome::Rejected { error, .. } => error.reason(),
                _ => "ok",
            };
            seen.lock().unwrap().push(reason.to_owned());
        });
    let app = Router::new()
        .route("/v1/things", get(|p: Principal| async move { p.subject().to_owned() }))
        .layer(ServiceBuilder::new().layer(auth).layer(RateLimitLayer::new().clock(clock.clone())));

    assert_eq!(get_things(&app, &token).await.0, StatusCode::OK);
    assert_eq!(get_things(&app, &token).await.0, StatusCode::OK);
    let (status, headers, body) = get_things(&app, &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(headers["ratelimit-policy"], "\"token\";q=2;w=10");
    assert_eq!(headers["ratelimit"], "\"token\";r=0;t=5");
    assert!(headers.get("www-authenticate").is_none(), "the credentials are fine");
    // In the auth layer's configured format, and seen by its event hook.
    assert_eq!(body, r#"{"error":"rate_limited","message":"too many requests for this token, retry later"}"#);
    assert_eq!(events.lock().unwrap().last().map(String::as_str), Some("rate_limited"));

    clock.advance(Duration::from_secs(5));
    assert_eq!(get_things(&app, &token).await.0, StatusCode::OK);
    assert_eq!(get_things(&app, &token).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn defaults_per_kind_then_for_all_and_none_means_unlimited() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let trial = issue(&store, NewToken::for_subject("t").kind("trial"));
    let plain = issue(&store, NewToken::for_subject("p"));
    let own = issue(&store, NewToken::for_subject("o").kind("trial").rate_limit(per(3, 60)));
    let layer = RateLimitLayer::new().default_for_kind("trial", per(1, 60)).default_limit(per(2, 60));
    let app = limited(&store, &clock, layer);
    let admitted = |token: &'static str| async {
        let mut n = 0;
        while get_things(&app, token).await.0 == StatusCode::OK {
            n += 1;
        }
        n
    };
    let (trial, plain, own): (&'static str, &'static str, &'static str) =
        (trial.leak(), plain.leak(), own.leak());
    assert_eq!((admitted(trial).await, admitted(plain).await, admitted(own).await), (1, 2, 3));

    let unlimited_app = limited(&store, &clock, RateLimitLayer::new());
    for _ in 0..50 {
        assert_eq!(get_things(&unlimited_app, plain).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn limits_shared_by_subject_or_organization() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let a1 = issue(&store, NewToken::for_subject("ada").organization("acme"));
    let a2 = issue(&store, NewToken::for_subject("ada").organization("acme"));
    let b = issue(&store, NewToken::for_subject("bob").organization("acme"));
    let by_subject =
        limited(&store, &clock, RateLimitLayer::new().shared_by(LimitBy::Subject).default_limit(per(2, 60)));
    assert_eq!(get_things(&by_subject, &a1).await.0, StatusCode::OK);
    assert_eq!(get_things(&by_subject, &a2).await.0, StatusCode::OK);
    let (status, headers, _) = get_things(&by_subject, &a1).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["ratelimit-policy"], "\"subject\";q=2;w=60");
    assert_eq!(get_things(&by_subject, &b).await.0, StatusCode::OK, "another subject counts apart");

    let by_org = limited(
        &store,
        &clock,
        RateLimitLayer::new().shared_by(LimitBy::Organization).default_limit(per(2, 60)),
    );
    assert_eq!(get_things(&by_org, &a1).await.0, StatusCode::OK);
    assert_eq!(get_things(&by_org, &b).await.0, StatusCode::OK);
    assert_eq!(get_things(&by_org, &a2).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn advertised_fields_on_admitted_responses() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let token = issue(&store, NewToken::for_subject("ada").rate_limit(per(10, 10)));
    let app = limited(&store, &clock, RateLimitLayer::new().advertise(true));
    let (status, headers, body) = get_things(&app, &token).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ada"));
    assert_eq!(headers["ratelimit-policy"], "\"token\";q=10;w=10");
    assert_eq!(headers["ratelimit"], "\"token\";r=9;t=1");
    let quiet = limited(&store, &clock, RateLimitLayer::new());
    assert!(get_things(&quiet, &token).await.1.get("ratelimit").is_none());
}

#[tokio::test]
async fn without_the_auth_layer_the_limit_layers_answer_500() {
    for app in [
        Router::new().route("/v1/things", get(|| async { "open" })).layer(RateLimitLayer::new()),
        Router::new()
            .route("/v1/things", get(|| async { "open" }))
            .layer(CreditsLayer::new(MemoryTokenStore::new())),
    ] {
        let (status, _, body) = get_things(&app, "whatever-token").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("is BearerAuthLayer installed"), "{body}");
    }
}

#[tokio::test]
async fn grpc_requests_over_their_limit_get_resource_exhausted() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let token = issue(&store, NewToken::for_subject("ada").rate_limit(per(1, 60)));
    let app = limited(&store, &clock, RateLimitLayer::new());
    let grpc = |token: &str| {
        Request::get("/v1/things")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/grpc")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    assert_eq!(app.clone().oneshot(grpc(&token)).await.unwrap().status(), StatusCode::OK);
    let res = app.oneshot(grpc(&token)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a gRPC answer is HTTP 200");
    assert_eq!(res.headers()["grpc-status"], "8");
    assert_eq!(res.headers()["retry-after"], "60");
}

/// A store on a manual clock, the router behind auth and credits (`GET /v1/things` costs one,
/// `POST /v1/reports` costs five and nothing else).
fn metered(store: &MemoryTokenStore, clock: &Clock) -> Router {
    let auth = BearerAuthLayer::new(store.clone()).clock(clock.clone());
    Router::new()
        .route("/v1/things", get(|| async { "things" }).route_layer(CreditsLayer::new(store.clone())))
        .route("/v1/reports", post((|| async { "report" }).layer(CreditsLayer::new(store.clone()).cost(5))))
        .layer(auth)
}

#[tokio::test]
async fn credits_are_spent_per_route_cost_refused_at_zero_and_refilled() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let plan = Credits::new(7).refilled(7, Duration::from_secs(3_600));
    let issued = at_once(store.issue(NewToken::for_subject("ada").credits(plan))).unwrap();
    let token = issued.secret().expose_secret().to_owned();
    assert_eq!(issued.info().credits.map(|c| c.remaining), Some(7));
    let app = metered(&store, &clock);

    assert_eq!(send(&app, Method::POST, "/v1/reports", &token).await.0, StatusCode::OK);
    assert_eq!(get_things(&app, &token).await.0, StatusCode::OK);
    // 1 left: a report (5) is refused and spends nothing; a listing (1) still goes through.
    let (status, headers, body) = send(&app, Method::POST, "/v1/reports", &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "3600");
    assert_eq!(body, r#"{"error":"credits_exhausted","error_description":"the token has no credits left"}"#);
    assert_eq!(get_things(&app, &token).await.0, StatusCode::OK);
    assert_eq!(get_things(&app, &token).await.0, StatusCode::TOO_MANY_REQUESTS);

    let balance = at_once(store.get(issued.id())).unwrap().unwrap().credits.unwrap();
    assert_eq!((balance.remaining, balance.leased), (0, 0));
    assert_eq!(balance.next_refill_at, Some(clock.now() + Duration::from_secs(3_600)));

    clock.advance(Duration::from_secs(3_600));
    assert_eq!(send(&app, Method::POST, "/v1/reports", &token).await.0, StatusCode::OK);
    assert_eq!(at_once(store.get(issued.id())).unwrap().unwrap().credits.unwrap().remaining, 2);

    let unmetered = issue(&store, NewToken::for_subject("bob"));
    for _ in 0..20 {
        assert_eq!(get_things(&app, &unmetered).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_rotation_moves_the_balance_and_the_old_token_spends_from_it() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let old = at_once(store.issue(NewToken::for_subject("ada").credits(Credits::new(4)))).unwrap();
    let app = metered(&store, &clock);
    let old_token = old.secret().expose_secret().to_owned();
    assert_eq!(get_things(&app, &old_token).await.0, StatusCode::OK);
    let new = at_once(store.rotate(old.id(), Duration::from_secs(60))).unwrap();
    assert_eq!(new.info().credits.map(|c| c.remaining), Some(3), "the balance moved, not reset");
    let new_token = new.secret().expose_secret().to_owned();
    assert_eq!(get_things(&app, &old_token).await.0, StatusCode::OK, "grace period");
    assert_eq!(get_things(&app, &new_token).await.0, StatusCode::OK);
    assert_eq!(get_things(&app, &old_token).await.0, StatusCode::OK);
    for token in [&old_token, &new_token] {
        assert_eq!(get_things(&app, token).await.0, StatusCode::TOO_MANY_REQUESTS, "4 in all");
    }
}

#[tokio::test]
async fn concurrent_requests_over_real_http_never_spend_more_than_the_credits() {
    let store = MemoryTokenStore::new();
    let token = issue(&store, NewToken::for_subject("ada").credits(Credits::new(50)));
    let app = metered(&store, &Clock::system());
    let (addr, server) = serve(app).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let tasks: Vec<_> = (0..120)
        .map(|_| {
            let (client, token) = (client.clone(), token.clone());
            tokio::spawn(async move {
                let req = Request::get(format!("http://{addr}/v1/things"))
                    .header("authorization", format!("Bearer {token}"))
                    .body(http_body_util::Empty::new())
                    .unwrap();
                client.request(req).await.unwrap().status()
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::OK => ok += 1,
            status => assert_eq!(status, StatusCode::TOO_MANY_REQUESTS),
        }
    }
    assert_eq!(ok, 50);
    server.abort();
}

/// The limits run in line by the auth layer: the same answers as the layers behind it.
#[tokio::test]
async fn in_line_limits_answer_as_the_layers_do() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let token = issue(&store, NewToken::for_subject("ada").rate_limit(per(2, 10)).credits(Credits::new(3)));
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let auth = BearerAuthLayer::new(store.clone())
        .clock(clock.clone())
        .rate_limit(RateLimitLayer::new().clock(clock.clone()).advertise(true))
        .spend_credits(CreditsLayer::new(store.clone()))
        .on_event(move |e| {
            let what = match &e.outcome {
                Outcome::Rejected { error, .. } => error.reason(),
                _ => "authenticated",
            };
            seen.lock().unwrap().push(what);
        });
    let app = Router::new()
        .route("/v1/things", get(|p: Principal| async move { p.subject().to_owned() }))
        .layer(auth);

    let (status, headers, body) = get_things(&app, &token).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ada"));
    assert_eq!(headers["ratelimit"], "\"token\";r=1;t=5");
    assert_eq!(get_things(&app, &token).await.0, StatusCode::OK);
    let (status, headers, body) = get_things(&app, &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(
        body,
        r#"{"error":"rate_limited","error_description":"too many requests for this token, retry later"}"#
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(get_things(&app, &token).await.0, StatusCode::OK, "the third credit");
    let (status, _, body) = get_things(&app, &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("credits_exhausted"), "{body}");
    assert_eq!(
        *events.lock().unwrap(),
        ["authenticated", "authenticated", "rate_limited", "authenticated", "credits_exhausted"]
    );
}

/// A ledger that answers every spend later (as a database-backed one does), spending from a
/// a memory store's ledger; or failing, when `fail` is set.
#[derive(Clone)]
struct Deferred {
    credits: MemoryTokenStore,
    fail: bool,
}

impl CreditLedger for Deferred {
    fn spend(&self, principal: &Principal, cost: u64) -> Answer<Result<Spend, StoreError>> {
        let answer = match (self.fail, self.credits.spend(principal, cost)) {
            (true, _) => Err(StoreError::unavailable("ledger down")),
            (false, Answer::Now(answer)) => answer,
            (false, Answer::Later(_)) => unreachable!("memory credits answer at once"),
        };
        Answer::Later(Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        }))
    }
}

#[tokio::test]
async fn in_line_credits_answered_later_hold_the_request_then_decide() {
    let store = MemoryTokenStore::new();
    let token = issue(&store, NewToken::for_subject("ada").credits(Credits::new(1)));
    let ledger = Deferred { credits: MemoryTokenStore::new(), fail: false };
    let app = |ledger: Deferred| {
        Router::new()
            .route("/v1/things", get(|p: Principal| async move { p.subject().to_owned() }))
            .layer(BearerAuthLayer::new(store.clone()).spend_credits(CreditsLayer::new(ledger)))
    };
    let ok = app(ledger.clone());
    assert_eq!(get_things(&ok, &token).await.2, "ada");
    assert_eq!(get_things(&ok, &token).await.0, StatusCode::TOO_MANY_REQUESTS);
    let down = app(Deferred { fail: true, ..ledger });
    let (status, _, body) = get_things(&down, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "credits fail closed: {body}");
    // Behind the layer, the same ledger the same way.
    let behind = Router::new().route("/v1/things", get(|| async { "ok" })).layer(
        ServiceBuilder::new()
            .layer(BearerAuthLayer::new(store.clone()))
            .layer(CreditsLayer::new(Deferred { credits: MemoryTokenStore::new(), fail: true })),
    );
    assert_eq!(get_things(&behind, &token).await.0, StatusCode::SERVICE_UNAVAILABLE);
}
