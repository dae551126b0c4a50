//! What a DPoP-bound request (RFC 9449) costs through the layer, in one run: each round times a
//! batch of about a millisecond of each of
//!
//! - `raw`: the proof's signature check alone (Ed25519 `verify_strict` of its signing input,
//!   with the public key decoded once);
//! - `passthrough`: the request to the bare service;
//! - `bearer`: the request through `BearerAuthLayer` (DPoP on, `MemoryTokenStore`) with a
//!   token bound to no key, as a bearer token;
//! - `dpop`: the same request with a token bound to the client's key, `Authorization: DPoP`
//!   and a fresh proof (made before the round: every proof's `jti` is used once);
//!
//! alternating their order each round, and prints the median over rounds of what DPoP adds to
//! the bearer request, (dpop − bearer) / raw, and of (dpop − passthrough) / raw.
//!
//! ```text
//! cargo bench -p tower-bearer-jwt --bench dpop
//! ```

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Service, ServiceBuilder, service_fn};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, TokenManager};
use tower_bearer_jwt::{DpopVerifier, SigningKey};

type Body = Full<Bytes>;

const URL: &str = "http://api.example.com/v1/things";
const ROUNDS: usize = 200;

fn ok(_: Request<Body>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(Response::new(Body::default())))
}

/// Polls a future that the memory store and an in-memory replay cache make ready at once.
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the bench's services answer at once"),
    }
}

fn request(authorization: &str, proof: Option<&str>) -> Request<Body> {
    let mut req = Request::get(URL).header("host", "api.example.com").header("authorization", authorization);
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    req.body(Body::default()).unwrap()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` runs benches once as tests: nothing to check here.
    }
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let key = SigningKey::ed25519_generate("client").unwrap();
    let store = MemoryTokenStore::new();
    let (bound, unbound) = rt.block_on(async {
        let bound =
            store.issue(NewToken::for_subject("ada").confirmation(key.thumbprint().unwrap())).await.unwrap();
        let unbound = store.issue(NewToken::for_subject("bob")).await.unwrap();
        (bound.secret().expose_secret().to_owned(), unbound.secret().expose_secret().to_owned())
    });
    let mut layered = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(store).dpop(DpopVerifier::new()))
        .service(service_fn(ok));
    let mut bare = service_fn(ok);
    let (dpop, bearer) = (format!("DPoP {bound}"), format!("Bearer {unbound}"));

    // The raw check, on a proof like the requests'.
    let sample = key.dpop_proof("GET", URL, Some(&bound), None).unwrap();
    let (input, signature) = sample.rsplit_once('.').unwrap();
    let signature =
        ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    let public = {
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split('.').next().unwrap()).unwrap())
                .unwrap();
        let x = URL_SAFE_NO_PAD.decode(header["jwk"]["x"].as_str().unwrap()).unwrap();
        ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap()
    };
    let raw = || public.verify_strict(black_box(input.as_bytes()), &signature).is_ok();
    assert!(raw());
    let proof = key.dpop_proof("GET", URL, Some(&bound), None).unwrap();
    assert_eq!(now(layered.call(request(&dpop, Some(&proof)))).unwrap().status(), 200);
    assert_eq!(now(layered.call(request(&bearer, None))).unwrap().status(), 200);

    let start = Instant::now();
    black_box(raw());
    let n = (1_000_000 / start.elapsed().as_nanos().max(1)).clamp(1, 100) as usize;
    let mut added = Vec::with_capacity(ROUNDS);
    let mut whole = Vec::with_capacity(ROUNDS);
    let mut per = [const { Vec::new() }; 4];
    for round in 0..ROUNDS {
        let proofs: Vec<String> =
            (0..n).map(|_| key.dpop_proof("GET", URL, Some(&bound), None).unwrap()).collect();
        let mut ns = [0.0; 4];
        for i in 0..4 {
            let what = (round + i) % 4;
            let start = Instant::now();
            match what {
                0 => (0..n).for_each(|_| assert!(raw())),
                1 => (0..n).for_each(|_| {
                    black_box(now(bare.call(request(&bearer, None))).unwrap().status());
                }),
                2 => (0..n).for_each(|_| {
                    black_box(now(layered.call(request(&bearer, None))).unwrap().status());
                }),
                _ => proofs.iter().for_each(|proof| {
                    assert_eq!(now(layered.call(request(&dpop, Some(proof)))).unwrap().status(), 200);
                }),
            }
            ns[what] = start.elapsed().as_nanos() as f64 / n as f64;
        }
        let [raw_ns, pass, bearer_ns, dpop_ns] = ns;
        added.push((dpop_ns - bearer_ns) / raw_ns);
        whole.push((dpop_ns - pass) / raw_ns);
        for (all, ns) in per.iter_mut().zip(ns) {
            all.push(ns);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [raw_ns, pass, bearer_ns, dpop_ns] = per.map(median);
    println!("dpop ({ROUNDS} rounds x {n} requests, medians):");
    println!("  raw Ed25519 verify_strict   {raw_ns:>9.0} ns");
    println!("  passthrough                 {pass:>9.0} ns");
    println!("  bearer through the layer    {bearer_ns:>9.0} ns");
    println!("  DPoP through the layer      {dpop_ns:>9.0} ns");
    println!("  (dpop - bearer) / raw       {:>9.3}x  (target <= 1.3)", median(added));
    println!("  (dpop - passthrough) / raw  {:>9.3}x", median(whole));
}
