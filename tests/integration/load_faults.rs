//! Load and fault tests. Bounded in count and time, loopback only (`127.0.0.1:0`), and every
//! server stops by itself.
//!
//! - Revocation under load: a real hyper server with a `MemoryTokenStore`; two client threads
//!   send requests with a pool of tokens while a third thread rotates tokens (insert a
//!   replacement, revoke the old one) and records the instant each `revoke()` returned. No
//!   request that *started* after its token's revocation returned may be accepted; no 5xx.
//! - Store faults: a failing store is 503; a hung store under `TimeoutTokenStore` is 503 within the
//!   deadline; a store that panics is contained by `tower_http::catch_panic::CatchPanicLayer`
//!   outside the auth layer (500), and the server goes on serving. Without it, the panic
//!   costs that one connection only.
//! - A slow store under a burst: with `ConcurrencyLimitLayer` and `LoadShedLayer` in front,
//!   concurrent lookups never exceed the limit and the excess is shed at once (503) instead of
//!   queueing without bound.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower_bearer_test_support::at_once;

use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use tower_bearer::store::Answer;
use tower_bearer::{
    BearerAuthLayer, CallbackTokenStore, MemoryTokenStore, PresentedToken, Principal, StoreError,
    TokenManager, TokenState, TokenStore,
};
use tower_bearer_test_support::serve;

type Body = Full<Bytes>;

/// Upper bound on every network step: a broken server fails the test instead of hanging it.
const STEP: Duration = Duration::from_secs(10);
const STORE_DOWN_BODY: &str =
    r#"{"error":"temporarily_unavailable","error_description":"authentication is temporarily unavailable"}"#;

/// The inner service: 200 with the principal's subject.
async fn handler<B>(req: Request<B>) -> Result<Response<Body>, Infallible> {
    let subject = req.extensions().get::<Principal>().map_or("NO PRINCIPAL", Principal::subject).to_owned();
    Ok(Response::new(Body::from(subject)))
}

fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(addr: SocketAddr, token: Option<&str>) -> Request<Body> {
    let mut req = Request::get(format!("http://{addr}/resource"));
    if let Some(token) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    req.body(Body::default()).unwrap()
}

/// Sends `req`; the status, challenge and body, or the client's error.
async fn fetch(
    client: &Client<HttpConnector, Body>,
    req: Request<Body>,
) -> Result<(StatusCode, Option<String>, String), String> {
    let res =
        tokio::time::timeout(STEP, client.request(req)).await.expect("bounded").map_err(|e| e.to_string())?;
    let status = res.status();
    let challenge = res.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let body = tokio::time::timeout(STEP, res.into_body().collect()).await.expect("bounded");
    let body = body.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, challenge, String::from_utf8_lossy(&body).into_owned()))
}

// ---------------------------------------------------------------------------------------------
// Revocation under load
// ---------------------------------------------------------------------------------------------

/// Requests per client thread.
const PER_CLIENT: usize = 2_000;
/// Tokens live at any time.
const LIVE: usize = 8;

/// One request's record.
struct Sent {
    token: usize,
    started: Instant,
    finished: Instant,
    status: StatusCode,
    body: String,
}

/// The tokens ever issued (index = token number) and when each one's revocation returned.
#[derive(Default)]
struct Ledger {
    issued: Vec<String>,
    revoked_at: HashMap<usize, Instant>,
}

fn secret(n: usize) -> String {
    format!("rot-{n:05}-{}", "x".repeat(24))
}

#[test]
fn revocation_under_load_never_admits_a_request_started_after_revoke_returned() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = MemoryTokenStore::new();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut ids = std::collections::VecDeque::new();
    for n in 0..LIVE {
        ids.push_back((n, store.insert(&secret(n), Principal::builder(format!("user{n}")).build()).unwrap()));
        ledger.lock().unwrap().issued.push(secret(n));
    }
    let service =
        ServiceBuilder::new().layer(BearerAuthLayer::new(store.clone())).service_fn(handler::<Incoming>);
    let (addr, server) = runtime.block_on(serve(service));

    // The rotator: a replacement in, the oldest token out, recording when `revoke` returned.
    let done = Arc::new(AtomicBool::new(false));
    let rotator = {
        let (store, ledger, done) = (store.clone(), ledger.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rotations = 0usize;
            let deadline = Instant::now() + Duration::from_secs(20);
            while !done.load(Ordering::SeqCst) && rotations < 50_000 && Instant::now() < deadline {
                let n = LIVE + rotations;
                let id = store.insert(&secret(n), Principal::builder(format!("user{n}")).build()).unwrap();
                ledger.lock().unwrap().issued.push(secret(n));
                ids.push_back((n, id));
                let (old, old_id) = ids.pop_front().unwrap();
                assert!(at_once(store.revoke(&old_id)).unwrap());
                let returned = Instant::now();
                ledger.lock().unwrap().revoked_at.insert(old, returned);
                rotations += 1;
                std::thread::sleep(Duration::from_micros(300));
            }
            rotations
        })
    };

    // Two client threads, each with its own runtime and connection pool. Each request uses one
    // of the most recently issued tokens: the live ones and the last few revoked.
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    let client = client();
                    let mut sent = Vec::with_capacity(PER_CLIENT);
                    for i in 0..PER_CLIENT {
                        let (token, secret) = {
                            let ledger = ledger.lock().unwrap();
                            // The live tokens and the last few revoked (fewer at the very start).
                            let recent = (LIVE + 4).min(ledger.issued.len());
                            let n = ledger.issued.len() - 1 - (i * 7 + c * 3) % recent;
                            (n, ledger.issued[n].clone())
                        };
                        let started = Instant::now();
                        let (status, _, body) =
                            fetch(&client, get(addr, Some(&secret))).await.expect("no transport error");
                        sent.push(Sent { token, started, finished: Instant::now(), status, body });
                    }
                    sent
                })
            })
        })
        .collect();
    let sent: Vec<Sent> = clients.into_iter().flat_map(|c| c.join().expect("client thread")).collect();
    done.store(true, Ordering::SeqCst);
    let rotations = rotator.join().expect("rotator thread");
    server.abort();

    let ledger = ledger.lock().unwrap();
    let (mut accepted, mut accepted_racing, mut refused_revoked, mut refused_other, mut server_errors) =
        (0, 0, 0, 0, 0);
    let mut violations = Vec::new();
    for s in &sent {
        let revoked = ledger.revoked_at.get(&s.token);
        match s.status {
            StatusCode::OK => {
                accepted += 1;
                assert_eq!(s.body, format!("user{}", s.token), "the principal is the token's owner");
                match revoked {
                    Some(&at) if s.started > at => {
                        violations.push(format!(
                            "token {} accepted {:?} after revocation",
                            s.token,
                            s.started - at
                        ));
                    }
                    // Started before the revocation returned: either answer is linearizable.
                    Some(&at) if s.finished > at => accepted_racing += 1,
                    Some(_) => {}
                    None => {}
                }
            }
            StatusCode::UNAUTHORIZED if revoked.is_some() => refused_revoked += 1,
            StatusCode::UNAUTHORIZED => refused_other += 1,
            s if s.is_server_error() => server_errors += 1,
            s => panic!("unexpected status {s}"),
        }
    }
    println!(
        "revocation under load: {} requests (2 clients x {PER_CLIENT}), {rotations} rotations; \
         accepted {accepted} (of which {accepted_racing} overlapped their token's revocation), \
         refused as revoked {refused_revoked}, refused otherwise {refused_other}, 5xx {server_errors}, \
         accepted after revocation {}",
        sent.len(),
        violations.len()
    );
    assert_eq!(sent.len(), 2 * PER_CLIENT);
    assert!(violations.is_empty(), "{violations:#?}");
    assert_eq!(server_errors, 0, "no 5xx");
    assert_eq!(refused_other, 0, "every token used was issued; a refusal means it was revoked");
    assert!(rotations >= 100, "the rotator ran alongside the clients: {rotations} rotations");
    assert!(
        accepted >= 500 && refused_revoked >= 500,
        "both outcomes exercised: {accepted} / {refused_revoked}"
    );
}

// ---------------------------------------------------------------------------------------------
// Store faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn failing_store_is_503_and_the_server_keeps_serving() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let store = CallbackTokenStore::new(move |t: PresentedToken<'static>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match t.expose_secret() {
                "good-token" => Ok(TokenState::Active(Principal::builder("good").build())),
                _ => Err(std::io::Error::other("db down")),
            }
        }
    });
    let service = ServiceBuilder::new().layer(BearerAuthLayer::new(store)).service_fn(handler::<Incoming>);
    let (addr, server) = serve(service).await;
    let client = client();
    for _ in 0..3 {
        let (status, challenge, body) = fetch(&client, get(addr, Some("bad-token"))).await.unwrap();
        assert_eq!(
            (status, challenge, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, None, STORE_DOWN_BODY)
        );
        let (status, _, body) = fetch(&client, get(addr, Some("good-token"))).await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "good"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    server.abort();
}

/// On tokio's paused clock (the deadline is a tokio timer): the answer comes exactly at the
/// deadline, whatever else the machine is doing.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn hung_store_under_timeout_store_is_503_within_the_deadline() {
    use tokio::time::Instant;
    use tower_bearer::TimeoutTokenStore;

    const DEADLINE: Duration = Duration::from_millis(200);
    let hung = CallbackTokenStore::new(|_t: PresentedToken<'static>| {
        std::future::pending::<Result<TokenState, Infallible>>()
    });
    let service = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(TimeoutTokenStore::new(hung, DEADLINE)))
        .service_fn(handler::<Body>);
    let fetch = |token: Option<&str>| {
        let mut req = Request::get("/resource");
        if let Some(token) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let res = service.clone().oneshot(req.body(Body::default()).unwrap());
        async move {
            let res = res.await.unwrap();
            let status = res.status();
            let challenge = res.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, challenge, String::from_utf8_lossy(&body).into_owned())
        }
    };
    for _ in 0..3 {
        let started = Instant::now();
        let (status, challenge, body) = fetch(Some("any-token")).await;
        let took = started.elapsed();
        assert_eq!(
            (status, challenge, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, None, STORE_DOWN_BODY)
        );
        assert!(took >= DEADLINE && took < DEADLINE + Duration::from_secs(2), "answered after {took:?}");
    }
    // No token: answered at once, the store never asked.
    let started = Instant::now();
    let (status, ..) = fetch(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() < DEADLINE);
}

/// A store whose lookup panics: `"panic-now"` in the callback itself (inside the layer's
/// `call`), `"panic-later"` in the future it returns (inside the response future).
fn panicking_store() -> impl TokenStore {
    CallbackTokenStore::new(|t: PresentedToken<'static>| {
        assert_ne!(t.expose_secret(), "panic-now", "store bug (deliberate, test)");
        async move {
            match t.expose_secret() {
                "panic-later" => panic!("store bug in the lookup future (deliberate, test)"),
                "good-token" => Ok::<_, Infallible>(TokenState::Active(Principal::builder("good").build())),
                _ => Ok(TokenState::Unknown),
            }
        }
    })
}

/// With `CatchPanicLayer` outside the auth layer, a panicking store is a 500 and the same
/// server, even the same connection, answers the next request.
#[tokio::test]
async fn panicking_store_is_contained_by_catch_panic_as_500() {
    let service = ServiceBuilder::new()
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(BearerAuthLayer::new(panicking_store()))
        .service_fn(handler::<Incoming>);
    let (addr, server) = serve(service).await;
    let client = client();
    for token in ["panic-now", "panic-later", "panic-now", "panic-later"] {
        let (status, challenge, _) =
            fetch(&client, get(addr, Some(token))).await.expect("an answer, not a reset");
        assert_eq!((status, challenge), (StatusCode::INTERNAL_SERVER_ERROR, None), "{token}");
        let (status, _, body) = fetch(&client, get(addr, Some("good-token"))).await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "good"), "after {token}");
    }
    server.abort();
}

/// Without it, the panic unwinds the connection's task: that client gets no answer, and the
/// server still accepts and serves new connections (tokio contains the panic to the task).
#[tokio::test]
async fn without_catch_panic_a_panicking_store_costs_only_its_connection() {
    let service =
        ServiceBuilder::new().layer(BearerAuthLayer::new(panicking_store())).service_fn(handler::<Incoming>);
    let (addr, server) = serve(service).await;
    for token in ["panic-now", "panic-later"] {
        let outcome = fetch(&client(), get(addr, Some(token))).await;
        assert!(outcome.is_err(), "{token}: the connection died without an answer: {outcome:?}");
        let (status, _, body) = fetch(&client(), get(addr, Some("good-token"))).await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "good"), "the server survives {token}");
    }
    server.abort();
}

// ---------------------------------------------------------------------------------------------
// A slow store under a burst
// ---------------------------------------------------------------------------------------------

const LIMIT: usize = 32;

/// A store that takes `LATENCY` per lookup and counts how many lookups run at once.
#[derive(Clone, Default)]
struct SlowStore {
    in_flight: Arc<AtomicUsize>,
    high_water: Arc<AtomicUsize>,
    lookups: Arc<AtomicUsize>,
}

impl TokenStore for SlowStore {
    fn lookup(&self, _token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        let this = self.clone();
        Answer::Later(Box::pin(async move {
            let now = this.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            this.high_water.fetch_max(now, Ordering::SeqCst);
            this.lookups.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(LATENCY).await;
            this.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(TokenState::Active(Principal::builder("slow").build()))
        }))
    }
}

/// `LoadShed`'s overload error as a 503 response; other errors pass.
fn overload_to_503<B: From<Bytes>>(result: Result<Response<B>, BoxError>) -> Result<Response<B>, BoxError> {
    match result {
        Err(e) if e.is::<tower::load_shed::error::Overloaded>() => {
            let mut res = Response::new(B::from(Bytes::from_static(b"overloaded")));
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Ok(res)
        }
        other => other,
    }
}
const WAVES: usize = 4;
const PER_WAVE: usize = 500;
const LATENCY: Duration = Duration::from_millis(50);

/// On tokio's paused clock (the store's latency is a tokio sleep): each wave takes exactly the
/// store's latency, so "faster than queueing" does not depend on the machine's load.
#[tokio::test(start_paused = true)]
async fn slow_store_under_a_burst_stays_bounded_and_sheds_the_excess() {
    use tokio::time::Instant;

    let store = SlowStore::default();
    let (in_flight, high_water, lookups) =
        (store.in_flight.clone(), store.high_water.clone(), store.lookups.clone());
    // Outermost first: overload errors become 503, the shedder refuses at once whatever the
    // limit cannot take, the limit admits at most LIMIT requests into the auth layer.
    let service = ServiceBuilder::new()
        .map_result(overload_to_503)
        .load_shed()
        .concurrency_limit(LIMIT)
        .layer(BearerAuthLayer::new(store))
        .service_fn(handler::<Body>);

    let started = Instant::now();
    let mut tally: HashMap<u16, usize> = HashMap::new();
    let mut per_wave_served = Vec::new();
    for _ in 0..WAVES {
        let tasks: Vec<_> = (0..PER_WAVE)
            .map(|_| {
                let service = service.clone();
                tokio::spawn(async move {
                    let req = Request::get("/")
                        .header(AUTHORIZATION, "Bearer slow-token")
                        .body(Body::default())
                        .unwrap();
                    service.oneshot(req).await.expect("errors are mapped to responses").status().as_u16()
                })
            })
            .collect();
        let mut served = 0;
        for task in tasks {
            let status = tokio::time::timeout(STEP, task).await.expect("bounded").unwrap();
            *tally.entry(status).or_default() += 1;
            served += usize::from(status == 200);
        }
        per_wave_served.push(served);
    }
    let took = started.elapsed();
    let (served, shed) = (tally.get(&200).copied().unwrap_or(0), tally.get(&503).copied().unwrap_or(0));
    println!(
        "slow store burst: {} requests in {WAVES} waves, limit {LIMIT}, store latency {LATENCY:?}: \
         served {served} (per wave {per_wave_served:?}), shed {shed}, lookups {}, \
         concurrent lookups high-water mark {}, {took:?}",
        WAVES * PER_WAVE,
        lookups.load(Ordering::SeqCst),
        high_water.load(Ordering::SeqCst)
    );
    assert_eq!(served + shed, WAVES * PER_WAVE, "only 200 or 503: {tally:?}");
    assert!(high_water.load(Ordering::SeqCst) <= LIMIT, "in-flight lookups never exceed the limit");
    assert_eq!(high_water.load(Ordering::SeqCst), LIMIT, "the limit was reached: the burst was real");
    assert_eq!(lookups.load(Ordering::SeqCst), served, "only admitted requests reach the store");
    assert!(per_wave_served.iter().all(|&s| s >= LIMIT), "every wave is served up to the limit");
    assert!(shed >= WAVES * (PER_WAVE - 4 * LIMIT), "the excess is shed, not queued: {shed}");
    // Queued instead, the 2000 lookups would take 2000 / 32 * 50 ms = 3.1 s at the least.
    let queued = LATENCY * u32::try_from(WAVES * PER_WAVE / LIMIT).unwrap();
    assert!(took < queued, "answered in {took:?}, faster than queueing ({queued:?})");
    assert_eq!(in_flight.load(Ordering::SeqCst), 0);
}
