//! What the cache saves: one authenticated request through the layer, answered by
//!
//! - `memory`: the in-memory store (the floor: no I/O at all);
//! - `sqlite_uncached`: the SQLite store directly (one indexed query per request);
//! - `sqlite_cached`: the SQLite store behind `CachedTokenStore` (a hit: `Answer::Now`);
//! - `sqlite_cached_unknown`: an unknown token, answered by the negative cache.
//!
//! All in the same run, then the ratios from criterion's estimates.
//!
//! ```text
//! cargo bench --bench cache --features sqlite,cache
//! ```

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, criterion_group, measurement::WallTime};
use http::{Request, Response};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_bearer::stores::CacheConfig;
use tower_bearer::{BearerAuthLayer, CachedTokenStore, MemoryTokenStore, NewToken, TokenManager, TokenStore};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::at_once;

const GROUP: &str = "cache";

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
    expect: http::StatusCode,
) {
    let service = ServiceBuilder::new().layer(layer).service(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::default()))
    }));
    // Check once what is being measured.
    assert_eq!(rt.block_on(service.clone().oneshot(request(token))).unwrap().status(), expect, "{name}");
    group.bench_function(name, |b| {
        b.to_async(rt).iter(|| {
            let service = service.clone();
            let req = request(token);
            async move { service.oneshot(req).await.unwrap() }
        });
    });
}

fn layer_lookups(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir =
        tempfile::Builder::new().prefix("tower-bearer-bench-").tempdir_in(std::env::temp_dir()).unwrap();
    let (sqlite, secret) = rt.block_on(async {
        let store = SqlTokenStore::builder().open_sqlite(dir.path().join("bench.db")).await.unwrap();
        // Realistic company for the one being looked up.
        for i in 0..1000 {
            let _other = store.issue(NewToken::for_subject(format!("user_{i}"))).await.unwrap();
        }
        let issued = store.issue(NewToken::for_subject("alice").scopes(["read"])).await.unwrap();
        (store, issued.secret().expose_secret().to_owned())
    });
    let memory = MemoryTokenStore::new();
    for i in 0..1000 {
        let _other = at_once(memory.issue(NewToken::for_subject(format!("user_{i}")))).unwrap();
    }
    let memory_secret = at_once(memory.issue(NewToken::for_subject("alice").scopes(["read"])))
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned();
    let cached = CachedTokenStore::with_config(
        sqlite.clone(),
        CacheConfig::default().positive_ttl(Duration::from_secs(3600)),
    );
    let ok = http::StatusCode::OK;

    let mut group = c.benchmark_group(GROUP);
    bench_layer(&mut group, &rt, "memory", BearerAuthLayer::new(memory), &memory_secret, ok);
    bench_layer(&mut group, &rt, "sqlite_uncached", BearerAuthLayer::new(sqlite), &secret, ok);
    bench_layer(&mut group, &rt, "sqlite_cached", BearerAuthLayer::new(cached.clone()), &secret, ok);
    let unknown = "tok_bench_unknown_token_for_the_negative_cache";
    bench_layer(
        &mut group,
        &rt,
        "sqlite_cached_unknown",
        BearerAuthLayer::new(cached),
        unknown,
        http::StatusCode::UNAUTHORIZED,
    );
    group.finish();
}

criterion_group!(benches, layer_lookups);

/// Criterion's estimate of one benchmark of this run (the slope, as it prints), in ns.
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
    let names = ["memory", "sqlite_uncached", "sqlite_cached", "sqlite_cached_unknown"];
    let means: Vec<Option<f64>> = names.iter().map(|n| estimate_ns(n)).collect();
    if let [Some(memory), Some(uncached), Some(cached), Some(unknown)] = means[..] {
        println!();
        println!("per request through the layer (criterion estimates, this run):");
        for (name, ns) in names.iter().zip([memory, uncached, cached, unknown]) {
            println!("  {name:<22} {:>10.0} ns", ns);
        }
        println!("  uncached / cached       {:>10.1}x", uncached / cached);
        println!("  cached / memory         {:>10.2}x", cached / memory);
        println!("  uncached / memory       {:>10.1}x", uncached / memory);
    }
}
