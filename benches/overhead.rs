//! Per-request cost of the layer, side by side with what a user could pick instead.
//!
//! Every group compares, in the same run and on the same request:
//!
//! - `passthrough`: the bare `service_fn`, no authentication at all (the baseline);
//! - `tower_http`: tower-http's `ValidateRequestHeaderLayer::bearer` (one plaintext token,
//!   compared with `==`; deprecated upstream, but it is what many users reach for);
//! - `floor`: a minimal hand-rolled hashed check written below: parse, SHA-256 (`sha2`), one
//!   probe of a `HashMap` keyed by digest with an identity hasher, a word-wise constant-time
//!   compare, an `Arc` principal into the extensions, prebuilt rejections. The unavoidable work;
//!   the floor any hashed-token layer stands on;
//! - `memory`: `tower-bearer` with `MemoryTokenStore` at 1 k, 100 k and 1 M tokens;
//! - `callback`: `tower-bearer` with `CallbackTokenStore`, the callback answering from a
//!   `HashMap` (its future is ready at once and polled to completion).
//!
//! Groups: `valid_hot` (the same token every time), `valid_random` (a random known token per
//! iteration from a pre-generated list, so the map probe and the principal miss the caches at
//! 100 k and 1 M; its passthrough picks from the same list so both pay the same list miss),
//! `unknown`, `missing`, `malformed` (breaks the RFC 6750 grammar), `bad_format` (a layer with
//! a `TokenFormat`, and a token whose checksum is wrong) and `insufficient_scope`. Extra
//! variants: `memory_expiring` (principals with an expiry), `memory_formatted` (the format
//! check on the valid path), `memory_require_scopes` (a `RequireScopesLayer` behind the layer: what
//! any check behind it pays), `memory_rate_limited` (a `RateLimitLayer` behind it, with a limit
//! never reached; `_advertised` adds the `RateLimit` fields to every response; `_in_line`, the
//! same limit run by the auth layer itself), `memory_metered_store` and `memory_credits`
//! (principals carrying credits, without and with a `CreditsLayer` spending them;
//! `_in_line`, spent by the auth layer), `memory_boxed_lookup` (the store answering through a boxed future,
//! as an `async-trait` store would), `memory_audited` (every outcome recorded for
//! `tower-bearer-manage`'s `AuditWriter`; `memory_event_hook`, the same layer with a hook that
//! does nothing; `memory_outcome_hook`, an `on_outcome` hook that does nothing;
//! `memory_usage_counted`, every outcome counted by its `UsageCounter`) and,
//! with `--features cache`, `cached_callback` (the callback store behind `CachedTokenStore`, a
//! cache hit).
//!
//! Every figure includes building the `http::Request` (and dropping the response). The services
//! here complete without waiting, so each iteration polls the response future once with a
//! no-op waker: no runtime in the measurement.
//!
//! ```text
//! cargo bench --bench overhead                    # every group, ~3 minutes, then a summary table
//! cargo bench --bench overhead -- valid_hot       # one group (criterion filter)
//! ```
//!
//! The summary printed at the end reads this run's criterion estimates and gives each median as
//! added nanoseconds and a ratio against the same group's passthrough.
//!
//! The clock is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on
//! a shared machine (CI, a laptop compiling in the background) wall time also counts the time
//! the thread waited for a core, which moves medians by 2x from run to run. On an idle machine
//! the two agree. `OVERHEAD_CLOCK=wall` measures wall time instead.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use pin_project_lite::pin_project;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use tower::{Service, ServiceBuilder, service_fn};
use tower_bearer::middleware::ResponseBody;
use tower_bearer::store::Answer;
use tower_bearer::{
    BearerAuthLayer, CallbackTokenStore, Credits, CreditsLayer, MemoryTokenStore, PresentedToken, Principal,
    RateLimit, RateLimitLayer, RequireScopesLayer, Scopes, StoreError, TokenFormat, TokenHash, TokenState,
    TokenStore,
};

mod common;
use common::{Line, Rng, line};

type Body = Full<Bytes>;

// ---------------------------------------------------------------------------------------------
// Tokens and requests
// ---------------------------------------------------------------------------------------------

/// Builds the request of every iteration: `GET /v1/me`, with the `Authorization` value if any.
/// The value is copied into the request (as any header received from a client is).
fn request(authorization: Option<&[u8]>) -> Request<Body> {
    let mut builder = Request::get("/v1/me");
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder.body(Body::default()).expect("valid request")
}

/// Drives one request through `service`, which must complete without waiting.
fn call<S, B>(service: &mut S, req: Request<Body>) -> u16
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut fut = pin!(service.call(req));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(res) => res.expect("bench services do not fail").status().as_u16(),
        Poll::Pending => panic!("bench services must not wait"),
    }
}

// ---------------------------------------------------------------------------------------------
// The floor: a minimal hand-rolled hashed check
// ---------------------------------------------------------------------------------------------

/// The floor's principal, shared by `Arc` as a real one would be.
#[allow(dead_code, reason = "a realistic principal, read by nobody in the bench")]
struct FloorPrincipal {
    subject: Box<str>,
    scopes: Vec<Box<str>>,
}

/// A SHA-256 digest as map key: equality is a word-wise constant-time compare, hashing passes
/// the first eight bytes through.
#[derive(Clone, Copy)]
struct Digest([u8; 32]);

impl Digest {
    fn words(&self) -> [u64; 4] {
        let w = |i: usize| u64::from_ne_bytes(self.0[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        [w(0), w(1), w(2), w(3)]
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.words(), other.words());
        (a[0].ct_eq(&b[0]) & a[1].ct_eq(&b[1]) & a[2].ct_eq(&b[2]) & a[3].ct_eq(&b[3])).into()
    }
}

impl Eq for Digest {}

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.words()[0]);
    }
}

/// An identity hasher: the key is already a uniformly distributed digest.
#[derive(Default)]
struct FirstWord(u64);

impl Hasher for FirstWord {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type FloorMap = HashMap<Digest, Arc<FloorPrincipal>, BuildHasherDefault<FirstWord>>;

/// The floor as a tower service.
#[derive(Clone)]
struct Floor<S> {
    inner: S,
    map: Arc<FloorMap>,
    required_scope: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum FloorReject {
    Missing,
    Invalid,
    Forbidden,
}

/// A prebuilt rejection: status, static challenge and JSON body (the same headers the layer sends).
fn floor_reject(kind: FloorReject) -> Response<Body> {
    let (status, challenge, body): (_, _, &'static [u8]) = match kind {
        FloorReject::Missing => (StatusCode::UNAUTHORIZED, "Bearer", br#"{"error":"unauthorized"}"#),
        FloorReject::Invalid => {
            (StatusCode::UNAUTHORIZED, r#"Bearer error="invalid_token""#, br#"{"error":"invalid_token"}"#)
        }
        FloorReject::Forbidden => (
            StatusCode::FORBIDDEN,
            r#"Bearer error="insufficient_scope""#,
            br#"{"error":"insufficient_scope"}"#,
        ),
    };
    let mut response = Response::new(Body::from(Bytes::from_static(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        b += 1;
    }
    table
};

pin_project! {
    #[project = FloorFutureProj]
    enum FloorFuture<F> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<Body>> },
    }
}

impl<F: Future<Output = Result<Response<Body>, Infallible>>> Future for FloorFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            FloorFutureProj::Inner { future } => future.poll(cx),
            FloorFutureProj::Rejected { response } => Poll::Ready(Ok(response.take().expect("polled once"))),
        }
    }
}

impl<S> Service<Request<Body>> for Floor<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = FloorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let reject = |kind| FloorFuture::Rejected { response: Some(floor_reject(kind)) };
        let Some(value) = req.headers().get(AUTHORIZATION) else {
            return reject(FloorReject::Missing);
        };
        let value = value.as_bytes();
        if value.len() < 8 || !value[..7].eq_ignore_ascii_case(b"bearer ") {
            return reject(FloorReject::Missing);
        }
        let token = &value[7..];
        if token.len() > 4096 || !token.iter().all(|&b| B64TOKEN[usize::from(b)]) {
            return reject(FloorReject::Invalid);
        }
        let digest = Digest(Sha256::digest(token).into());
        let Some(principal) = self.map.get(&digest) else {
            return reject(FloorReject::Invalid);
        };
        if let Some(scope) = self.required_scope
            && !principal.scopes.iter().any(|s| &**s == scope)
        {
            return reject(FloorReject::Forbidden);
        }
        let principal = principal.clone();
        req.extensions_mut().insert(principal);
        FloorFuture::Inner { future: self.inner.call(req) }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture: the token list and every store, built once
// ---------------------------------------------------------------------------------------------

const KNOWN_SEED: u64 = 1;
const UNKNOWN_SEED: u64 = 2;
const SCOPES: [&str; 2] = ["invoices:read", "profile"];
const MISSING_SCOPE: &str = "admin";
/// `b64token` allows no comma: a malformed token, rejected before hashing.
const MALFORMED: &[u8] = b"Bearer tok_4e7fd977dcc571294409f,1cd7b289f90b2298a585a7caf8";

struct Size {
    label: &'static str,
    n: usize,
    memory: MemoryTokenStore,
    floor: Arc<FloorMap>,
}

struct Fixture {
    /// Known tokens; the stores of size `n` hold the first `n`.
    lines: Vec<Line>,
    /// Well-formed tokens no store holds.
    unknown: Vec<Line>,
    sizes: Vec<Size>,
    /// Principals of the first 1 k tokens, for the callback's map.
    callback_map: Arc<HashMap<TokenHash, Principal>>,
    /// A 1 k store whose principals expire (in a day): the cost of the expiry check.
    expiring: MemoryTokenStore,
    /// A 1 k store whose principals carry credits (more than a run spends): the cost of the
    /// `CreditsLayer` against the same store without it.
    metered: MemoryTokenStore,
    /// `Authorization` values of a token of `FORMAT` stored in the 1 k store, and of one whose
    /// checksum is wrong.
    formatted: Vec<u8>,
    bad_format: Vec<u8>,
}

/// A limit no run reaches (a burst of a billion): the rate limiter's cost without refusals.
const UNREACHABLE_LIMIT: RateLimit = match RateLimit::new(1_000_000_000, Duration::from_secs(1)) {
    Some(limit) => limit,
    None => panic!("a billion per second is a limit"),
};

/// The token format of the `bad_format` group and of `memory_formatted`.
const FORMAT_PREFIX: &str = "tok_";

fn principal(i: usize, scopes: &Scopes, expires_at: Option<SystemTime>) -> Principal {
    let mut builder =
        Principal::builder(format!("user_{i:06}")).token_id(format!("tid_{i:024x}")).scopes(scopes.clone());
    if let Some(at) = expires_at {
        builder = builder.expires_at(at);
    }
    builder.build()
}

impl Fixture {
    fn build(full: bool) -> Fixture {
        let started = Instant::now();
        // In `cargo test --benches` (a debug build, one iteration each) the big sizes are scaled
        // down: their names stay, their figures mean nothing there anyway.
        let sizes: [(&'static str, usize); 3] = if full {
            [("1k", 1_000), ("100k", 100_000), ("1M", 1_000_000)]
        } else {
            [("1k", 1_000), ("100k", 2_000), ("1M", 4_000)]
        };
        let max = sizes.iter().map(|s| s.1).max().expect("sizes");
        let lines: Vec<Line> = (0..max as u64).map(|i| line(KNOWN_SEED, i)).collect();
        let scopes = Scopes::from(SCOPES);
        let floor_scopes = || SCOPES.iter().map(|s| Box::<str>::from(*s)).collect::<Vec<_>>();

        let sizes: Vec<Size> = sizes
            .iter()
            .map(|&(label, n)| {
                let memory = MemoryTokenStore::new();
                let mut floor = FloorMap::with_capacity_and_hasher(n, BuildHasherDefault::default());
                for (i, l) in lines[..n].iter().enumerate() {
                    memory.insert(l.secret(), principal(i, &scopes, None)).expect("insert");
                    let digest = Digest(Sha256::digest(l.secret()).into());
                    let p = FloorPrincipal { subject: format!("user_{i:06}").into(), scopes: floor_scopes() };
                    floor.insert(digest, Arc::new(p));
                }
                Size { label, n, memory, floor: Arc::new(floor) }
            })
            .collect();

        let callback_map = Arc::new(
            lines[..1_000]
                .iter()
                .enumerate()
                .map(|(i, l)| (TokenHash::of(l.secret()), principal(i, &scopes, None)))
                .collect(),
        );
        let expiring = MemoryTokenStore::new();
        let tomorrow = SystemTime::now() + Duration::from_secs(86_400);
        let metered = MemoryTokenStore::new();
        for (i, l) in lines[..1_000].iter().enumerate() {
            expiring.insert(l.secret(), principal(i, &scopes, Some(tomorrow))).expect("insert");
            let with_credits =
                principal(i, &scopes, None).to_builder().credits(Credits::new(u64::MAX)).build();
            metered.insert(l.secret(), with_credits).expect("insert");
        }
        // A token of the format, stored in the 1 k store; the same with a checksum digit changed.
        let secret = TokenFormat::new(FORMAT_PREFIX).generate();
        let secret = secret.expose_secret();
        sizes[0].memory.insert(secret, principal(1_000_000, &scopes, None)).expect("insert");
        let formatted = format!("Bearer {secret}").into_bytes();
        let mut bad_format = formatted.clone();
        let last = bad_format.last_mut().expect("non-empty");
        *last = if *last == b'0' { b'1' } else { b'0' };
        eprintln!("fixture built in {:.1} s", started.elapsed().as_secs_f64());
        let unknown = (0..1024).map(|i| line(UNKNOWN_SEED, i)).collect();
        Fixture { lines, unknown, sizes, callback_map, expiring, metered, formatted, bad_format }
    }

    fn hot(&self) -> &[u8] {
        self.lines[0].value()
    }
}

// ---------------------------------------------------------------------------------------------
// The services under test
// ---------------------------------------------------------------------------------------------

type Passthrough = tower::util::ServiceFn<fn(Request<Body>) -> Ready<Result<Response<Body>, Infallible>>>;

/// An audit writer draining every 10 ms on a one-thread runtime kept for the whole run.
/// A runtime thread of its own for the writers' tasks, out of the measured thread.
fn background() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime")
    })
}

fn usage_counter() -> tower_bearer_manage::UsageCounter {
    let _entered = background().enter();
    tower_bearer_manage::UsageCounter::builder(MemoryTokenStore::new())
        .flush_interval(Duration::from_millis(10))
        .build()
}

fn audit_writer() -> tower_bearer_manage::AuditWriter {
    let _entered = background().enter();
    tower_bearer_manage::AuditWriter::builder()
        .flush_interval(Duration::from_millis(10))
        .spawn(MemoryTokenStore::builder().audit_capacity(1000).build())
}

fn ok_fn(_req: Request<Body>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(Response::new(Body::default())))
}

/// The inner service of every variant: a passthrough that answers at once.
fn passthrough() -> Passthrough {
    service_fn(ok_fn as fn(_) -> _)
}

#[allow(deprecated, reason = "tower-http's bearer check is what we compare against")]
fn tower_http(token: &str) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
    ServiceBuilder::new()
        .layer(tower_http::validate_request::ValidateRequestHeaderLayer::bearer(token))
        .service(passthrough())
}

fn floor(map: &Arc<FloorMap>, required_scope: Option<&'static str>) -> Floor<Passthrough> {
    Floor { inner: passthrough(), map: map.clone(), required_scope }
}

fn memory(
    store: &MemoryTokenStore,
    required_scope: Option<&str>,
) -> impl Service<Request<Body>, Response = Response<ResponseBody<Body>>, Error = Infallible> + use<> {
    let mut layer = BearerAuthLayer::new(store.clone());
    if let Some(scope) = required_scope {
        layer = layer.require_scopes([scope]);
    }
    ServiceBuilder::new().layer(layer).service(passthrough())
}

/// The memory store behind a layer that accepts only tokens of `FORMAT_PREFIX`'s format
/// (prefix, length, alphabet and CRC32 checksum checked before hashing).
fn memory_formatted(
    store: &MemoryTokenStore,
) -> impl Service<Request<Body>, Response = Response<ResponseBody<Body>>, Error = Infallible> + use<> {
    let layer = BearerAuthLayer::new(store.clone()).token_formats([TokenFormat::new(FORMAT_PREFIX)]);
    ServiceBuilder::new().layer(layer).service(passthrough())
}

/// The callback store behind the caching wrapper (feature `cache`): a cache hit answers at once.
#[cfg(feature = "cache")]
fn cached_callback(
    map: &Arc<HashMap<TokenHash, Principal>>,
) -> impl Service<Request<Body>, Response = Response<ResponseBody<Body>>, Error = Infallible> + use<> {
    let map = map.clone();
    let store = CallbackTokenStore::new(move |token: PresentedToken<'static>| {
        ready(Ok::<_, Infallible>(map.get(token.hash()).cloned()))
    });
    let layer = BearerAuthLayer::new(tower_bearer::CachedTokenStore::new(store));
    ServiceBuilder::new().layer(layer).service(passthrough())
}

fn callback(
    map: &Arc<HashMap<TokenHash, Principal>>,
    required_scope: Option<&str>,
) -> impl Service<Request<Body>, Response = Response<ResponseBody<Body>>, Error = Infallible> + use<> {
    let map = map.clone();
    let store = CallbackTokenStore::new(move |token: PresentedToken<'static>| {
        ready(Ok::<_, Infallible>(map.get(token.hash()).cloned()))
    });
    let mut layer = BearerAuthLayer::new(store);
    if let Some(scope) = required_scope {
        layer = layer.require_scopes([scope]);
    }
    ServiceBuilder::new().layer(layer).service(passthrough())
}

/// The memory store answering later through a boxed future: what an `async-trait`-style store
/// method (and no synchronous answer) would add.
struct Boxed(MemoryTokenStore);

impl TokenStore for Boxed {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        let store = self.0.clone();
        let token = token.clone().into_owned();
        Answer::Later(Box::pin(async move { store.lookup(&token).await }))
    }
}

// ---------------------------------------------------------------------------------------------
// The clock: this thread's CPU time
// ---------------------------------------------------------------------------------------------

/// Criterion measurement reading this thread's CPU time (or, with `OVERHEAD_CLOCK=wall` or
/// where there is no such clock, wall time).
struct Clock {
    cpu: bool,
    epoch: Instant,
}

impl Clock {
    fn from_env() -> Clock {
        let cpu = cfg!(unix) && std::env::var("OVERHEAD_CLOCK").map_or(true, |v| v != "wall");
        Clock { cpu, epoch: Instant::now() }
    }

    fn now(&self) -> Duration {
        if self.cpu { thread_cpu_time() } else { self.epoch.elapsed() }
    }
}

#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable `timespec`; the clock id is a constant the platform
    // defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    unreachable!("Clock::from_env measures wall time where there is no thread CPU clock")
}

impl Measurement for Clock {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        self.now()
    }

    fn end(&self, started: Duration) -> Duration {
        self.now().saturating_sub(started)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

/// Formats nanoseconds as criterion's wall-time formatter does.
struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, _typical: f64, throughput: &Throughput, values: &mut [f64]) -> &'static str {
        // Per second, from nanoseconds per iteration.
        let per = match throughput {
            Throughput::Bytes(n)
            | Throughput::BytesDecimal(n)
            | Throughput::Elements(n)
            | Throughput::Bits(n) => *n as f64,
            Throughput::ElementsAndBytes { elements, .. } => *elements as f64,
        };
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "/s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

/// Where a group's variants go: criterion (the default), or the interleaved runner.
enum Sink<'c, 'f> {
    Criterion(BenchmarkGroup<'c, Clock>),
    Interleaved { group: &'static str, variants: Vec<Variant<'f>>, results: &'c mut Vec<Row> },
}

/// One variant for the interleaved runner: its name and one iteration.
struct Variant<'f> {
    function: String,
    param: String,
    iteration: Box<dyn FnMut() -> u16 + 'f>,
}

/// The interleaved runner's result for one variant.
struct Row {
    group: &'static str,
    function: String,
    param: String,
    median: f64,
    p10: f64,
    /// Median over rounds of (this variant - the group's passthrough), each pair measured
    /// back to back.
    added: Option<f64>,
    ratio: Option<f64>,
    /// For a variant of the memory store's layer (`memory_*`): the median of paired
    /// differences with the plain `memory` variant, and that over the plain variant's median
    /// (what a feature adds to the layer's own path).
    over_memory: Option<(f64, f64)>,
}

impl<'c, 'f> Sink<'c, 'f> {
    fn new(c: &'c mut Criterion<Clock>, results: Option<&'c mut Vec<Row>>, group: &'static str) -> Self {
        match results {
            None => Sink::Criterion(c.benchmark_group(group)),
            Some(results) => Sink::Interleaved { group, variants: Vec::new(), results },
        }
    }

    fn add(&mut self, (function, param): (&str, &str), mut iteration: impl FnMut() -> u16 + 'f) {
        match self {
            Sink::Criterion(group) => {
                group.bench_function(BenchmarkId::new(function, param), |b| b.iter(&mut iteration));
            }
            Sink::Interleaved { variants, .. } => variants.push(Variant {
                function: function.to_owned(),
                param: param.to_owned(),
                iteration: Box::new(iteration),
            }),
        }
    }

    fn finish(self) {
        match self {
            Sink::Criterion(group) => group.finish(),
            Sink::Interleaved { group, mut variants, results } => interleave(group, &mut variants, results),
        }
    }
}

/// Runs every variant of a group in turn, in bursts of about 0.3 ms, for `OVERHEAD_ROUNDS`
/// rounds (default 300), timing each burst on the thread's CPU clock. Variants that are
/// compared run within milliseconds of each other, so a machine whose load drifts (other
/// builds, other benchmarks) shifts them alike; the median of paired differences cancels it.
fn interleave(group: &'static str, variants: &mut [Variant<'_>], results: &mut Vec<Row>) {
    let clock = Clock::from_env();
    let rounds: usize = std::env::var("OVERHEAD_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(300);
    // Calibrate a burst per variant.
    let bursts: Vec<usize> = variants
        .iter_mut()
        .map(|v| {
            let started = clock.now();
            for _ in 0..2_000 {
                black_box((v.iteration)());
            }
            let per = (clock.now() - started).as_nanos() as f64 / 2_000.0;
            ((300_000.0 / per.max(1.0)) as usize).clamp(100, 100_000)
        })
        .collect();
    let n = variants.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (k + round) % n;
            let started = clock.now();
            for _ in 0..bursts[i] {
                black_box((variants[i].iteration)());
            }
            times[i].push((clock.now() - started).as_nanos() as f64 / bursts[i] as f64);
        }
    }
    let quantile = |v: &[f64], q: f64| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    let base = |param: &str| {
        variants.iter().position(|v| v.function == "passthrough" && (v.param == param || v.param == "-"))
    };
    let memory = |param: &str| variants.iter().position(|v| v.function == "memory" && v.param == param);
    // The median of the back-to-back differences between variants `i` and `base`.
    let paired = |i: usize, base: usize| {
        let diffs: Vec<f64> = times[i].iter().zip(&times[base]).map(|(x, y)| x - y).collect();
        quantile(&diffs, 0.5)
    };
    for (i, v) in variants.iter().enumerate() {
        let b = base(&v.param);
        let over_memory = memory(&v.param).filter(|_| v.function.starts_with("memory_")).map(|m| {
            let added = paired(i, m);
            (added, added / quantile(&times[m], 0.5))
        });
        let added = b.map(|b| paired(i, b));
        let ratio = b.map(|b| quantile(&times[i], 0.5) / quantile(&times[b], 0.5));
        let row = Row {
            group,
            function: v.function.clone(),
            param: v.param.clone(),
            median: quantile(&times[i], 0.5),
            p10: quantile(&times[i], 0.1),
            added,
            ratio,
            over_memory,
        };
        eprintln!(
            "{group}/{}/{}: median {:.0} ns, p10 {:.0} ns, {}",
            row.function,
            row.param,
            row.median,
            row.p10,
            row.added.map_or(String::new(), |a| format!("{a:+.0} ns over passthrough")),
        );
        results.push(row);
    }
}

/// Adds `service` on one fixed request, after checking it answers `expect`.
fn fixed<'f, S, B>(
    sink: &mut Sink<'_, 'f>,
    id: (&str, &str),
    mut service: S,
    authorization: Option<&'f [u8]>,
    expect: u16,
) where
    S: Service<Request<Body>, Response = Response<B>> + 'f,
    S::Error: std::fmt::Debug,
{
    assert_eq!(call(&mut service, request(authorization)), expect, "{}/{}", id.0, id.1);
    sink.add(id, move || call(&mut service, black_box(request(authorization))));
}

/// Adds `service` on a random one of `lines` (known tokens) per iteration.
fn random<'f, S, B>(sink: &mut Sink<'_, 'f>, id: (&str, &str), mut service: S, lines: &'f [Line], expect: u16)
where
    S: Service<Request<Body>, Response = Response<B>> + 'f,
    S::Error: std::fmt::Debug,
{
    let mut rng = Rng(0x853c_49e6_748f_ea9b);
    for _ in 0..64 {
        let l = &lines[rng.below(lines.len())];
        assert_eq!(call(&mut service, request(Some(l.value()))), expect, "{}/{}", id.0, id.1);
    }
    sink.add(id, move || {
        let l = &lines[rng.below(lines.len())];
        call(&mut service, black_box(request(Some(l.value()))))
    });
}

fn id<'a>(function: &'a str, parameter: &'a str) -> (&'a str, &'a str) {
    (function, parameter)
}

fn valid_hot(c: &mut Criterion<Clock>, r: Option<&mut Vec<Row>>, fx: &Fixture) {
    let hot = Some(fx.hot());
    let secret = fx.lines[0].secret();
    let mut g = Sink::new(c, r, "valid_hot");
    fixed(&mut g, id("passthrough", "-"), passthrough(), hot, 200);
    fixed(&mut g, id("tower_http", "-"), tower_http(secret), hot, 200);
    for s in &fx.sizes {
        fixed(&mut g, id("floor", s.label), floor(&s.floor, None), hot, 200);
    }
    for s in &fx.sizes {
        fixed(&mut g, id("memory", s.label), memory(&s.memory, None), hot, 200);
    }
    fixed(&mut g, id("memory_expiring", "1k"), memory(&fx.expiring, None), hot, 200);
    // Limits behind the layer: each against the `memory` variant on the same store.
    let limited = |advertise| {
        let limits = RateLimitLayer::new().default_limit(UNREACHABLE_LIMIT).advertise(advertise);
        let auth = BearerAuthLayer::new(fx.sizes[0].memory.clone());
        ServiceBuilder::new().layer(auth).layer(limits).service(passthrough())
    };
    // The structure every check behind the layer pays (a service, its future, a body wrapper),
    // with the cheapest check there is: the baseline of the two below.
    let guarded = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(fx.sizes[0].memory.clone()))
        .layer(RequireScopesLayer::any([SCOPES[0]]))
        .service(passthrough());
    fixed(&mut g, id("memory_require_scopes", "1k"), guarded, hot, 200);
    fixed(&mut g, id("memory_rate_limited", "1k"), limited(false), hot, 200);
    fixed(&mut g, id("memory_rate_limited_advertised", "1k"), limited(true), hot, 200);
    let in_line = BearerAuthLayer::new(fx.sizes[0].memory.clone())
        .rate_limit(RateLimitLayer::new().default_limit(UNREACHABLE_LIMIT));
    fixed(
        &mut g,
        id("memory_rate_limited_in_line", "1k"),
        ServiceBuilder::new().layer(in_line).service(passthrough()),
        hot,
        200,
    );
    fixed(&mut g, id("memory_metered_store", "1k"), memory(&fx.metered, None), hot, 200);
    let credits = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(fx.metered.clone()))
        .layer(CreditsLayer::new(fx.metered.clone()))
        .service(passthrough());
    fixed(&mut g, id("memory_credits", "1k"), credits, hot, 200);
    let in_line =
        BearerAuthLayer::new(fx.metered.clone()).spend_credits(CreditsLayer::new(fx.metered.clone()));
    fixed(
        &mut g,
        id("memory_credits_in_line", "1k"),
        ServiceBuilder::new().layer(in_line).service(passthrough()),
        hot,
        200,
    );
    let boxed = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(Boxed(fx.sizes[0].memory.clone())))
        .service(passthrough());
    fixed(&mut g, id("memory_boxed_lookup", "1k"), boxed, hot, 200);
    // The audit log (issue #12): the same layer with every outcome recorded through an
    // `AuditWriter`, whose task writes to a memory ring on a runtime thread of its own.
    let audited = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(fx.sizes[0].memory.clone()).on_event(audit_writer().request_hook()))
        .service(passthrough());
    fixed(&mut g, id("memory_audited", "1k"), audited, hot, 200);
    // What any event hook costs the layer: the audit writer's share is the difference.
    let hooked = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(fx.sizes[0].memory.clone()).on_event(|event| {
            black_box(event);
        }))
        .service(passthrough());
    fixed(&mut g, id("memory_event_hook", "1k"), hooked, hot, 200);
    // What an outcome hook costs: the counting form, which keeps no method or path.
    let outcome_hooked = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(fx.sizes[0].memory.clone()).on_outcome(|outcome, principal| {
            black_box((outcome, principal));
        }))
        .service(passthrough());
    fixed(&mut g, id("memory_outcome_hook", "1k"), outcome_hooked, hot, 200);
    // Usage analytics (issue 26): the same layer with every outcome counted by
    // `tower-bearer-manage`'s `UsageCounter` (its task flushing to a memory log).
    let counted = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(fx.sizes[0].memory.clone()).on_outcome(usage_counter().outcome_hook()))
        .service(passthrough());
    fixed(&mut g, id("memory_usage_counted", "1k"), counted, hot, 200);
    fixed(
        &mut g,
        id("memory_formatted", "1k"),
        memory_formatted(&fx.sizes[0].memory),
        Some(&fx.formatted),
        200,
    );
    fixed(&mut g, id("callback", "1k"), callback(&fx.callback_map, None), hot, 200);
    #[cfg(feature = "cache")]
    fixed(&mut g, id("cached_callback", "1k"), cached_callback(&fx.callback_map), hot, 200);
    g.finish();
}

fn valid_random(c: &mut Criterion<Clock>, r: Option<&mut Vec<Row>>, fx: &Fixture) {
    let mut g = Sink::new(c, r, "valid_random");
    for s in &fx.sizes {
        random(&mut g, id("passthrough", s.label), passthrough(), &fx.lines[..s.n], 200);
    }
    for s in &fx.sizes {
        random(&mut g, id("floor", s.label), floor(&s.floor, None), &fx.lines[..s.n], 200);
    }
    for s in &fx.sizes {
        random(&mut g, id("memory", s.label), memory(&s.memory, None), &fx.lines[..s.n], 200);
    }
    random(&mut g, id("callback", "1k"), callback(&fx.callback_map, None), &fx.lines[..1_000], 200);
    g.finish();
}

fn unknown(c: &mut Criterion<Clock>, r: Option<&mut Vec<Row>>, fx: &Fixture) {
    // A random one of 1024 well-formed unknown tokens per iteration: a miss costs what the
    // probe sequence of its digest costs, so one fixed token could be lucky or unlucky.
    let unknown = &fx.unknown[..];
    let (small, large) = (&fx.sizes[0], &fx.sizes[2]);
    let mut g = Sink::new(c, r, "unknown");
    random(&mut g, id("passthrough", "-"), passthrough(), unknown, 200);
    random(&mut g, id("tower_http", "-"), tower_http(fx.lines[0].secret()), unknown, 401);
    random(&mut g, id("floor", small.label), floor(&small.floor, None), unknown, 401);
    random(&mut g, id("floor", large.label), floor(&large.floor, None), unknown, 401);
    random(&mut g, id("memory", small.label), memory(&small.memory, None), unknown, 401);
    random(&mut g, id("memory", large.label), memory(&large.memory, None), unknown, 401);
    random(&mut g, id("callback", "1k"), callback(&fx.callback_map, None), unknown, 401);
    g.finish();
}

fn missing(c: &mut Criterion<Clock>, r: Option<&mut Vec<Row>>, fx: &Fixture) {
    let small = &fx.sizes[0];
    let mut g = Sink::new(c, r, "missing");
    fixed(&mut g, id("passthrough", "-"), passthrough(), None, 200);
    fixed(&mut g, id("tower_http", "-"), tower_http(fx.lines[0].secret()), None, 401);
    fixed(&mut g, id("floor", small.label), floor(&small.floor, None), None, 401);
    fixed(&mut g, id("memory", small.label), memory(&small.memory, None), None, 401);
    fixed(&mut g, id("callback", "1k"), callback(&fx.callback_map, None), None, 401);
    g.finish();
}

fn malformed(c: &mut Criterion<Clock>, r: Option<&mut Vec<Row>>, fx: &Fixture) {
    let small = &fx.sizes[0];
    let bad = Some(MALFORMED);
    let mut g = Sink::new(c, r, "malformed");
    fixed(&mut g, id("passthrough", "-"), passthrough(), bad, 200);
    fixed(&mut g, id("tower_http", "-"), tower_http(fx.lines[0].secret()), bad, 401);
    fixed(&mut g, id("floor", small.label), floor(&small.floor, None), bad, 401);
    fixed(&mut g, id("memory", small.label), memory(&small.memory, None), bad, 401);
    fixed(&mut g, id("callback", "1k"), callback(&fx.callback_map, None), bad, 401);
    g.finish();
}

fn bad_format(c: &mut Criterion<Clock>, r: Option<&mut Vec<Row>>, fx: &Fixture) {
    let small = &fx.sizes[0];
    let bad = Some(&fx.bad_format[..]);
    let mut g = Sink::new(c, r, "bad_format");
    fixed(&mut g, id("passthrough", "-"), passthrough(), bad, 200);
    fixed(&mut g, id("tower_http", "-"), tower_http(fx.lines[0].secret()), bad, 401);
    // The floor has no format check: it hashes the token and misses.
    fixed(&mut g, id("floor", small.label), floor(&small.floor, None), bad, 401);
    fixed(&mut g, id("memory_formatted", small.label), memory_formatted(&small.memory), bad, 401);
    g.finish();
}

fn insufficient_scope(c: &mut Criterion<Clock>, r: Option<&mut Vec<Row>>, fx: &Fixture) {
    let small = &fx.sizes[0];
    let hot = Some(fx.hot());
    let mut g = Sink::new(c, r, "insufficient_scope");
    fixed(&mut g, id("passthrough", "-"), passthrough(), hot, 200);
    fixed(&mut g, id("floor", small.label), floor(&small.floor, Some(MISSING_SCOPE)), hot, 403);
    fixed(&mut g, id("memory", small.label), memory(&small.memory, Some(MISSING_SCOPE)), hot, 403);
    fixed(&mut g, id("callback", "1k"), callback(&fx.callback_map, Some(MISSING_SCOPE)), hot, 403);
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

const GROUPS: [&str; 7] =
    ["valid_hot", "valid_random", "unknown", "missing", "malformed", "bad_format", "insufficient_scope"];

/// Where criterion writes its estimates, by its own rule: `CRITERION_HOME`, `CARGO_TARGET_DIR`,
/// the target directory when run by cargo (this binary is `<target>/release/deps/overhead-*`),
/// else `./target`.
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(home.into());
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(target).join("criterion"));
    }
    if std::env::var_os("CARGO").is_some() {
        let exe = std::env::current_exe().ok()?;
        return Some(exe.parent()?.parent()?.parent()?.join("criterion"));
    }
    Some(PathBuf::from("target/criterion"))
}

/// Median of one benchmark, in ns, if this run measured it.
fn median(dir: &std::path::Path, since: SystemTime) -> Option<f64> {
    let file = dir.join("new").join("estimates.json");
    if std::fs::metadata(&file).and_then(|m| m.modified()).ok()? < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// One markdown table of this run: median, added ns and ratio against the group's passthrough
/// (for `valid_random`, the passthrough of the same list size).
fn summary(since: SystemTime) {
    let Some(root) = criterion_dir() else { return };
    let mut rows = Vec::new();
    for group in GROUPS {
        let Ok(functions) = std::fs::read_dir(root.join(group)) else { continue };
        let mut functions: Vec<_> = functions.filter_map(Result::ok).map(|e| e.file_name()).collect();
        functions.sort();
        let mut measured = Vec::new();
        for function in functions.iter().filter_map(|f| f.to_str()) {
            let Ok(params) = std::fs::read_dir(root.join(group).join(function)) else { continue };
            for param in params.filter_map(Result::ok) {
                let param = param.file_name().to_string_lossy().into_owned();
                if let Some(ns) = median(&root.join(group).join(function).join(&param), since) {
                    measured.push((function.to_owned(), param, ns));
                }
            }
        }
        let order = |f: &str| {
            [
                "passthrough",
                "tower_http",
                "floor",
                "memory",
                "memory_expiring",
                "memory_boxed_lookup",
                "callback",
            ]
            .iter()
            .position(|x| *x == f)
            .unwrap_or(99)
        };
        let size = |p: &str| match p {
            "1k" => 1,
            "100k" => 2,
            "1M" => 3,
            _ => 0,
        };
        measured.sort_by_key(|(f, p, _)| (order(f), size(p)));
        let base_of = |param: &str| {
            let wanted = if group == "valid_random" { param } else { "-" };
            measured.iter().find(|(f, p, _)| f == "passthrough" && p == wanted).map(|m| m.2)
        };
        for (function, param, ns) in &measured {
            let base = base_of(param);
            rows.push(format!(
                "| {group} | {function} | {param} | {ns:.0} | {} | {} |",
                base.map_or("".into(), |b| format!("{:+.0}", ns - b)),
                base.map_or("".into(), |b| format!("{:.2}", ns / b)),
            ));
        }
    }
    if rows.is_empty() {
        return;
    }
    println!("\nSummary (criterion medians of this run; + and ratio against the group's passthrough):\n");
    println!("| group | variant | store | ns | +ns | ratio |");
    println!("|---|---|---|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
}

/// With the `metrics` feature and `OVERHEAD_RECORDER=prometheus`, Prometheus's recorder is
/// installed (as `examples/metrics.rs` does), so each count pays its map lookup; without, the
/// facade's no-op.
fn install_recorder() {
    #[cfg(feature = "metrics")]
    if std::env::var("OVERHEAD_RECORDER").is_ok_and(|r| r == "prometheus") {
        // The handle only renders; the recorder stays installed for the whole run.
        let _handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("no recorder installed yet");
        eprintln!("recorder: Prometheus");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) criterion runs each
    // bench once as a test, on a small fixture.
    let full = args.iter().any(|a| a == "--bench");
    let interleaved = std::env::var("OVERHEAD_MODE").is_ok_and(|m| m == "interleaved");
    let since = SystemTime::now();
    let fixture = Fixture::build(full);
    install_recorder();
    let clock = Clock::from_env();
    eprintln!("clock: {}", if clock.cpu { "thread CPU time" } else { "wall time" });
    // Short defaults keep the whole run to a few minutes; criterion's own flags
    // (`--measurement-time`, `--sample-size`, ...) still override them.
    let mut c = Criterion::default()
        .with_measurement(clock)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .without_plots()
        .nresamples(20_000);
    let mut results = interleaved.then(Vec::new);
    // In interleaved mode, arguments that are not flags select groups by name.
    let filters: Vec<&str> =
        args.iter().skip(1).filter(|a| !a.starts_with('-')).map(String::as_str).collect();
    if !interleaved {
        c = c.configure_from_args();
    }
    let groups: [(&str, GroupFn); 7] = [
        ("valid_hot", valid_hot),
        ("valid_random", valid_random),
        ("unknown", unknown),
        ("missing", missing),
        ("malformed", malformed),
        ("bad_format", bad_format),
        ("insufficient_scope", insufficient_scope),
    ];
    for (name, group) in groups {
        if interleaved && !filters.is_empty() && !filters.iter().any(|f| name.contains(f)) {
            continue;
        }
        group(&mut c, results.as_mut(), &fixture);
    }
    match results {
        Some(rows) => print_interleaved(&rows),
        None => {
            c.final_summary();
            if full {
                summary(since);
            }
        }
    }
}

type GroupFn = fn(&mut Criterion<Clock>, Option<&mut Vec<Row>>, &Fixture);

fn print_interleaved(rows: &[Row]) {
    println!(
        "\nInterleaved: medians over rounds of bursts, thread CPU time; +ns is the median of \
         back-to-back differences with the group's passthrough; over memory, the same with the \
         plain memory layer (and as a share of its median):\n"
    );
    println!("| group | variant | store | ns | p10 ns | +ns | ratio | over memory |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {} |",
            r.group,
            r.function,
            r.param,
            r.median,
            r.p10,
            r.added.map_or(String::new(), |a| format!("{a:+.0}")),
            r.ratio.map_or(String::new(), |x| format!("{x:.2}")),
            r.over_memory.map_or(String::new(), |(a, share)| format!("{a:+.0} ns ({:+.1} %)", share * 100.0)),
        );
    }
}
