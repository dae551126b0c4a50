//! What protecting a service with another server's tokens costs, per request through the
//! layer, in the same run:
//!
//! - `memory`: the token in a `MemoryTokenStore` of this process (the floor);
//! - `introspection_cached`: an `IntrospectionStore` behind its cache, a hit;
//! - `introspection_cold`: the `IntrospectionStore` alone: one RFC 7662 call per request to
//!   this crate's introspection endpoint on a loopback port;
//! - `raw_call`: the same introspection call made directly with hyper's client, no layer: what
//!   `introspection_cold` pays for the network alone.
//!
//! ```text
//! cargo bench --bench introspection
//! ```

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, criterion_group, measurement::WallTime};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_bearer::stores::CacheConfig;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, TokenManager, TokenStore};
use tower_bearer_oauth::{
    ClientRegistry, IntrospectionStore, MemoryClientRegistry, NewClient, TokenEndpoint,
};
use tower_bearer_test_support::{at_once, serve};

const GROUP: &str = "introspection";

type Body = Full<Bytes>;

fn request(token: &str) -> Request<Body> {
    Request::get("/v1/things")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::default())
        .unwrap()
}

fn bench_layer<T: TokenStore>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    layer: BearerAuthLayer<T>,
    token: &str,
) {
    let service = ServiceBuilder::new().layer(layer).service(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::default()))
    }));
    assert_eq!(
        rt.block_on(service.clone().oneshot(request(token))).unwrap().status(),
        StatusCode::OK,
        "{name}"
    );
    group.bench_function(name, |b| {
        b.to_async(rt).iter(|| {
            let service = service.clone();
            let req = request(token);
            async move { service.oneshot(req).await.unwrap() }
        });
    });
}

fn introspection(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = MemoryTokenStore::new();
    let token = at_once(store.issue(NewToken::for_subject("ada").scopes(["reports:read"])))
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned();
    let clients = MemoryClientRegistry::new();
    let rs = at_once(clients.register(NewClient::new("svc-api").client_id("api"))).unwrap();
    let secret = rs.client_secret.expose_secret().to_owned();
    let endpoint = TokenEndpoint::new(clients, store.clone());
    let (addr, _server) = rt.block_on(serve(endpoint.introspection()));
    let url = format!("http://{addr}/");

    let uncached = || IntrospectionStore::new(&url, "api", &secret).unwrap();
    let cached = uncached().cached(CacheConfig::default().positive_ttl(Duration::from_secs(3600)));

    let mut group = c.benchmark_group(GROUP);
    bench_layer(&mut group, &rt, "memory", BearerAuthLayer::new(store), &token);
    bench_layer(&mut group, &rt, "introspection_cached", BearerAuthLayer::new(cached), &token);
    bench_layer(&mut group, &rt, "introspection_cold", BearerAuthLayer::new(uncached()), &token);

    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>();
    let basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("api:{secret}")));
    let body = Bytes::from(format!("token={token}&token_type_hint=access_token"));
    group.bench_function("raw_call", |b| {
        b.to_async(&rt).iter(|| {
            let req = Request::post(url.as_str())
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", basic.as_str())
                .body(Full::new(body.clone()))
                .unwrap();
            let client = client.clone();
            async move {
                let res = client.request(req).await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.into_body().collect().await.unwrap().to_bytes()
            }
        });
    });
    group.finish();
}

criterion_group!(benches, introspection);

/// Criterion's estimate of one benchmark of this run, in ns.
fn estimate_ns(name: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    let path = target.join("criterion").join(GROUP).join(name).join("new").join("estimates.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["slope"]["point_estimate"].as_f64().or_else(|| json["mean"]["point_estimate"].as_f64())
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let names = ["memory", "introspection_cached", "introspection_cold", "raw_call"];
    let ns: Vec<Option<f64>> = names.iter().map(|n| estimate_ns(n)).collect();
    if let [Some(memory), Some(cached), Some(cold), Some(raw)] = ns[..] {
        println!();
        println!("per request (criterion estimates, this run):");
        for (name, ns) in names.iter().zip([memory, cached, cold, raw]) {
            println!("  {name:<22} {ns:>10.0} ns");
        }
        println!("  cached / memory        {:>10.2}x", cached / memory);
        println!("  cold / raw call        {:>10.2}x  (cold - raw: {:.0} ns)", cold / raw, cold - raw);
    }
}
