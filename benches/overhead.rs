//! Per-request cost of the layer against a passthrough service and tower-http's bearer check,
//! and of a boxed (`async-trait`-style) lookup future against the crate's unboxed one.
//!
//! Every figure includes building the `http::Request`. The services here complete without
//! waiting, so each iteration polls the response future once with a no-op waker: no runtime
//! in the measurement.
//!
//! ```text
//! cargo bench --bench overhead
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use tower::{Service, ServiceBuilder, service_fn};
use tower_bearer::{
    BearerAuthLayer, BoxLookup, Lookup, MemoryTokenStore, PresentedToken, Principal, Scopes, TokenStore,
};

const TOKEN: &str = "tok_live_4e7fd977dcc571294409f91cd7b289f90b2298a585a7caf8";

type Body = Full<Bytes>;

fn request(authorization: Option<&'static str>) -> Request<Body> {
    let mut builder = Request::get("/v1/me");
    if let Some(value) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    builder.body(Body::default()).unwrap()
}

/// Drives one request through `service`, which must complete without waiting.
fn call<S>(service: &mut S, req: Request<Body>) -> u16
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut fut = pin!(service.call(req));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(res) => res.unwrap().status().as_u16(),
        Poll::Pending => panic!("bench services must not wait"),
    }
}

async fn ok(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::default()))
}

fn memory_store() -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    store.insert(TOKEN, Principal::builder("user_42").scopes(Scopes::parse("read")).build()).unwrap();
    for i in 0..1000 {
        store
            .insert(&format!("tok_live_filler_{i:08}"), Principal::builder(format!("user_{i}")).build())
            .unwrap();
    }
    store
}

/// The same memory store answering later through a boxed future: the cost an `async-trait`
/// method (and no synchronous answer) would add.
struct Boxed(MemoryTokenStore);

impl TokenStore for Boxed {
    type Future = BoxLookup;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<BoxLookup> {
        let store = self.0.clone();
        let token = token.clone().into_owned();
        Lookup::Later(Box::pin(async move { store.lookup(&token).await }))
    }
}

fn overhead(c: &mut Criterion) {
    let valid = Some("Bearer tok_live_4e7fd977dcc571294409f91cd7b289f90b2298a585a7caf8");
    let unknown = Some("Bearer tok_live_00000000000000000000000000000000000000000000000");
    let mut group = c.benchmark_group("overhead");

    let mut passthrough = service_fn(ok);
    group.bench_function("passthrough", |b| b.iter(|| call(&mut passthrough, black_box(request(valid)))));

    #[allow(deprecated)]
    let mut tower_http = ServiceBuilder::new()
        .layer(tower_http::validate_request::ValidateRequestHeaderLayer::bearer(TOKEN))
        .service_fn(ok);
    group.bench_function("tower_http_bearer/valid", |b| {
        b.iter(|| call(&mut tower_http, black_box(request(valid))))
    });

    let mut layer = ServiceBuilder::new().layer(BearerAuthLayer::new(memory_store())).service_fn(ok);
    group.bench_function("tower_bearer/valid", |b| b.iter(|| call(&mut layer, black_box(request(valid)))));
    group
        .bench_function("tower_bearer/unknown", |b| b.iter(|| call(&mut layer, black_box(request(unknown)))));
    group.bench_function("tower_bearer/missing", |b| b.iter(|| call(&mut layer, black_box(request(None)))));

    let mut scoped = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(memory_store()).require_scopes(["write"]))
        .service_fn(ok);
    group.bench_function("tower_bearer/insufficient_scope", |b| {
        b.iter(|| call(&mut scoped, black_box(request(valid))))
    });

    let mut boxed = ServiceBuilder::new().layer(BearerAuthLayer::new(Boxed(memory_store()))).service_fn(ok);
    group.bench_function("tower_bearer_boxed_lookup/valid", |b| {
        b.iter(|| call(&mut boxed, black_box(request(valid))))
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
