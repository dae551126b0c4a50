//! What verifying a signed token through the layer costs beyond the cryptography, in one run:
//!
//! - `raw_ed25519` / `raw_hs256`: the signature check alone, on the same bytes as the token's
//!   (for HMAC, from the key's state computed once, as the verifier keeps it);
//! - `layer_ed25519` / `layer_hs256`: one request through `BearerAuthLayer` over
//!   `SignedTokens`, minus `passthrough_ed25519` / `passthrough` (the same request to the bare
//!   service): a token the claims memo holds, as every request of a client after its first;
//! - `layer_ed25519_memo_off` / `layer_hs256_memo_off`: the same with the memo off, what a
//!   token costs the first time it is seen (less its digest);
//! - `layer_hs256_denied_100k`: `layer_hs256` with 100 000 other tokens on the deny list;
//! - `jsonwebtoken_hs256`: for scale, `jsonwebtoken::decode` of the same token (signature and
//!   claims only, no layer);
//! - `{alg}_raw` / `{alg}_jws` / `{alg}_token` for EdDSA, ES256, HS256, RS256 and PS256 (the one
//!   JWT stack, issue 23): the signature primitive alone on the token's signing input, then
//!   `Jws::verify` (header, `alg` policy, `kid`, signature, payload decoded), then that plus
//!   the claims of a typical access token deserialized and checked (`iss`, `aud`, `exp`,
//!   `nbf`): what a verifier of self-contained tokens spends, with no layer or principal;
//!   each algorithm's are also run interleaved ([`interleaved_ratios`]), with the claims check
//!   alone beside them.
//!
//! With `--bench`, the HS256 ratios also run interleaved: `SignedTokens` answering a lookup
//! ([`store_ratios`]) and a request through the layer ([`layer_ratios`]), each against the raw
//! HMAC in the same rounds.
//!
//! Then, because the deny list's cost (tens of nanoseconds) is below what separate criterion
//! runs on a shared machine can resolve, an interleaved comparison of the same token through
//! two layers, one with an empty deny list and one with 100 000 entries: batches of requests
//! alternate between them, and the median of the per-round differences is reported.
//!
//! ```text
//! cargo bench -p tower-bearer-jwt --bench verify
//! ```

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::Criterion;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use hmac::{Hmac, KeyInit as _, Mac};
use http::{Request, Response};
use http_body_util::Full;
use sha2::Sha256;
use tower::{Service, ServiceBuilder, service_fn};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, TokenManager};
use tower_bearer_jwt::{AlgorithmPolicy, Jws, KeySet, SignedTokens, SigningKey};

const GROUP: &str = "verify";
const K1: &str = include_str!("../tests/fixtures/ed25519-k1.pem");
const SECRET: &[u8] = b"a benchmark secret of 32 bytes!!";
const ES1: &str = include_str!("../tests/fixtures/es256-k1.pem");
const RSA1: &str = include_str!("../tests/fixtures/rsa-k1.pem");
const RSA1_JWK: &str = include_str!("../tests/fixtures/rsa-k1.pub.jwk.json");

/// The claims a verifier of someone's access tokens reads and checks.
#[derive(serde::Deserialize)]
struct AccessClaims<'a> {
    #[serde(borrow)]
    iss: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    aud: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    sub: std::borrow::Cow<'a, str>,
    exp: u64,
    nbf: Option<u64>,
    #[serde(borrow)]
    scope: Option<std::borrow::Cow<'a, str>>,
}

/// `Jws::verify`, then the claims checked: whether `jwt` is a valid access token now.
fn verify_token(jwt: &str, keys: &KeySet) -> bool {
    Jws::verify(jwt, keys, &AlgorithmPolicy::ALL).is_ok_and(|verified| claims_hold(verified.payload()))
}

/// Whether the claims `payload` holds are those of a valid access token now: the caller's
/// share of [`verify_token`], after the JWS.
fn claims_hold(payload: &[u8]) -> bool {
    let Ok(claims) = serde_json::from_slice::<AccessClaims<'_>>(payload) else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    claims.iss == "https://auth.example.com"
        && claims.aud == "https://api.example.com"
        && claims.exp > now
        && claims.nbf.is_none_or(|nbf| nbf <= now)
        && !claims.sub.is_empty()
        && claims.scope.is_some()
}

/// `{name}_raw` (the primitive `raw` on the token's signing input and decoded signature),
/// `{name}_jws` and `{name}_token`.
fn bench_alg(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    keys: &KeySet,
    jwt: &str,
    raw: impl Fn(&[u8], &[u8]) -> bool,
) {
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    assert!(raw(input.as_bytes(), &signature), "{name}");
    assert!(Jws::verify(jwt, keys, &AlgorithmPolicy::ALL).is_ok(), "{name}");
    assert!(verify_token(jwt, keys), "{name}");
    c.bench_function(format!("{name}_raw"), |b| b.iter(|| raw(black_box(input.as_bytes()), &signature)));
    c.bench_function(format!("{name}_jws"), |b| {
        b.iter(|| Jws::verify(black_box(jwt), keys, &AlgorithmPolicy::ALL).is_ok())
    });
    c.bench_function(format!("{name}_token"), |b| b.iter(|| verify_token(black_box(jwt), keys)));
    if std::env::args().any(|a| a == "--bench") {
        let payload = Jws::verify(jwt, keys, &AlgorithmPolicy::ALL).unwrap().payload().to_vec();
        interleaved_ratios(name, |what| match what {
            0 => raw(black_box(input.as_bytes()), &signature),
            1 => Jws::verify(black_box(jwt), keys, &AlgorithmPolicy::ALL).is_ok(),
            2 => verify_token(black_box(jwt), keys),
            _ => claims_hold(black_box(&payload)),
        });
    }
}

/// Runs `run(0)` (the baseline) to `run(N - 1)` in batches of about a millisecond each,
/// alternating (the order turning each round), 300 rounds, so that the machine's load falls on
/// all alike: the batch size and, for each of `run(1)` to `run(N - 1)`, the median over rounds
/// of its time / the baseline's. `M` is `N - 1`.
fn interleaved<const N: usize, const M: usize>(run: impl Fn(u8) -> bool) -> (u32, [f64; M]) {
    let (n, rounds) = interleaved_times::<N>(run);
    let ratios: [Vec<f64>; M] = std::array::from_fn(|i| rounds.iter().map(|ns| ns[i + 1] / ns[0]).collect());
    (n, ratios.map(median))
}

/// The batches of [`interleaved`]: the batch size, and each round's time of each batch.
fn interleaved_times<const N: usize>(run: impl Fn(u8) -> bool) -> (u32, Vec<[f64; N]>) {
    let start = std::time::Instant::now();
    assert!(run(0));
    let n = (1_000_000 / start.elapsed().as_nanos().max(1)).clamp(1, 5_000) as u32;
    let time = |what: u8| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            black_box(run(what));
        }
        start.elapsed().as_nanos() as f64
    };
    let rounds = (0..300)
        .map(|round| {
            let mut ns = [0.0; N];
            for i in 0..N {
                let what = (round + i) % N;
                ns[what] = time(what as u8);
            }
            ns
        })
        .collect();
    (n, rounds)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The raw check, `Jws::verify`, the token check, and the claims check alone (on the decoded
/// payload, no JWS) of one algorithm in batches of about a millisecond, alternating (the order
/// turning each round), so that the machine's load falls on all four alike; the median over
/// rounds of each / raw. The last shows what of the token's cost is the caller's own claims
/// type, not the JWS: token / raw is about jws / raw plus claims / raw.
fn interleaved_ratios(name: &str, run: impl Fn(u8) -> bool) {
    let (n, [jws, token, claims]) = interleaved::<4, 3>(run);
    println!(
        "\n  {name} interleaved (300 rounds x {n}): jws / raw {jws:.3}x, token / raw {token:.3}x, claims alone / raw {claims:.3}x"
    );
}

/// This crate's own check of its HS256 tokens, `SignedTokens` answering a lookup (no layer):
/// the signature every time, then the claims from the memo for a token it has seen (`warm`),
/// or decoded and read for one it does not hold (`cold`: 4 096 tokens in turn while the memo
/// is full of others). Batches of about a millisecond of the raw HMAC and each, alternating, 300 rounds;
/// the median of the per-round ratios to the raw check.
fn store_ratios(keyed: &Hmac<Sha256>) {
    use std::future::IntoFuture as _;

    use tower_bearer::{PresentedToken, TokenState, TokenStore};
    let (tokens, jwt) = signed(KeySet::new(SigningKey::hs256("h1", SECRET).unwrap()).unwrap());
    let issue = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                let new = NewToken::for_subject(format!("user{i}")).scopes(["reports:read"]);
                now(tokens.issue(new)).unwrap().secret().expose_secret().to_owned()
            })
            .collect()
    };
    let (held, many) = (issue(4096), issue(4096));
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let raw = || {
        let mut mac = keyed.clone();
        mac.update(black_box(input.as_bytes()));
        mac.verify_slice(&signature).is_ok()
    };
    let lookup = |jwt: &str| {
        matches!(
            now(tokens.lookup(&PresentedToken::new(black_box(jwt))).into_future()),
            Ok(TokenState::Active(_))
        )
    };
    // The memo full (the one token and 4 095 others), so that none of `many` gets in.
    assert!(raw() && lookup(&jwt) && held[1..].iter().all(|jwt| lookup(jwt)));
    assert!(many.iter().all(|jwt| lookup(jwt)));
    let next = std::cell::Cell::new(0);
    let run = |what: u8| match what {
        0 => raw(),
        1 => lookup(&jwt),
        _ => {
            let i = next.get();
            next.set((i + 1) % many.len());
            lookup(&many[i])
        }
    };
    let (n, [warm, cold]) = interleaved::<3, 2>(run);
    println!(
        "\n  hs256 SignedTokens lookup, interleaved (300 rounds x {n}): memo warm / raw {warm:.3}x, a token the memo does not hold / raw {cold:.3}x"
    );
}

/// What the layer adds to a request with an HS256 token, against the raw HMAC: batches of the
/// raw check, the same request to the bare service, and through the layer (the memo holding
/// the token, then a layer whose memo is off), alternating, 300 rounds; the median of the
/// per-round (layer - bare) / raw. The bare service gets the very request the layer gets (the
/// same header, as long), so that building the request cancels out.
fn layer_ratios(keyed: &Hmac<Sha256>) {
    use std::cell::RefCell;

    let hs256 = || KeySet::new(SigningKey::hs256("h1", SECRET).unwrap()).unwrap();
    let (warm_tokens, jwt) = signed(hs256());
    let (cold_tokens, cold_jwt) = signed_with_memo(hs256(), Some(0));
    assert_eq!(jwt.len(), cold_jwt.len());
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    // Not boxed (as `layered` would): a boxed future per request would be counted as the layer's.
    let layer = |tokens| ServiceBuilder::new().layer(BearerAuthLayer::new(tokens)).service(service_fn(ok));
    let services = RefCell::new((layer(warm_tokens), layer(cold_tokens), service_fn(ok)));
    let run = |what: u8| {
        let (warm, cold, bare) = &mut *services.borrow_mut();
        match what {
            0 => {
                let mut mac = keyed.clone();
                mac.update(black_box(input.as_bytes()));
                mac.verify_slice(&signature).is_ok()
            }
            1 => now(bare.call(black_box(request(&jwt)))).unwrap().status() == 200,
            2 => now(warm.call(black_box(request(&jwt)))).unwrap().status() == 200,
            _ => now(cold.call(black_box(request(&cold_jwt)))).unwrap().status() == 200,
        }
    };
    assert!((1..4).all(run));
    let (n, rounds) = interleaved_times::<4>(run);
    let added = |layer: usize| median(rounds.iter().map(|ns| (ns[layer] - ns[1]) / ns[0]).collect());
    println!(
        "\n  hs256 through the layer, interleaved (300 rounds x {n}): (layer - bare) / raw {:.3}x, memo off {:.3}x",
        added(2),
        added(3)
    );
}

/// The typical access token of `keys`, as `SignedTokens` issues it.
fn issued(keys: KeySet) -> String {
    signed(keys).1
}

/// The same claims signed by jsonwebtoken with the RSA fixture under `r1`.
fn rsa_token(alg: jsonwebtoken::Algorithm, like: &str) -> String {
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(like.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some("r1".to_owned());
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap())
        .unwrap()
}

/// Each algorithm: the primitive, the JWS, the token.
fn per_algorithm(c: &mut Criterion) {
    use p256::ecdsa::signature::Verifier as _;
    let mut group = c.benchmark_group(GROUP);

    let ed = KeySet::new(SigningKey::ed25519_pem("k1", K1).unwrap()).unwrap();
    let ed_public = ed25519_dalek::SigningKey::from_pkcs8_pem(K1).unwrap().verifying_key();
    bench_alg(
        &mut group,
        "eddsa",
        &ed,
        &issued(KeySet::new(SigningKey::ed25519_pem("k1", K1).unwrap()).unwrap()),
        |input, signature| {
            let signature = ed25519_dalek::Signature::from_bytes(signature.try_into().unwrap());
            ed_public.verify_strict(input, &signature).is_ok()
        },
    );

    let es = KeySet::new(SigningKey::es256_pem("e1", ES1).unwrap()).unwrap();
    let es_public = *p256::ecdsa::SigningKey::from_pkcs8_pem(ES1).unwrap().verifying_key();
    bench_alg(
        &mut group,
        "es256",
        &es,
        &issued(KeySet::new(SigningKey::es256_pem("e1", ES1).unwrap()).unwrap()),
        |input, signature| {
            let signature = p256::ecdsa::Signature::from_slice(signature).unwrap();
            es_public.verify(input, &signature).is_ok()
        },
    );

    let hs = KeySet::new(SigningKey::hs256("h1", SECRET).unwrap()).unwrap();
    let hs_jwt = issued(KeySet::new(SigningKey::hs256("h1", SECRET).unwrap()).unwrap());
    // The key's HMAC state is computed once, as the key set keeps it: the raw check is the
    // fastest honest use of the primitive, so that the ratios measure only what the JWS adds.
    let keyed = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    bench_alg(&mut group, "hs256", &hs, &hs_jwt, |input, signature| {
        let mut mac = keyed.clone();
        mac.update(input);
        mac.verify_slice(signature).is_ok()
    });

    if std::env::args().any(|a| a == "--bench") {
        store_ratios(&keyed);
        layer_ratios(&keyed);
    }

    let jwk: serde_json::Value = serde_json::from_str(RSA1_JWK).unwrap();
    let rsa_keys = KeySet::from_jwks(&serde_json::json!({ "keys": [jwk] })).unwrap();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let public = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(&n),
        rsa::BoxedUint::from_be_slice_vartime(&e),
    )
    .unwrap();
    let pkcs1 = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(public.clone());
    bench_alg(
        &mut group,
        "rs256",
        &rsa_keys,
        &rsa_token(jsonwebtoken::Algorithm::RS256, &hs_jwt),
        |input, signature| {
            pkcs1.verify(input, &rsa::pkcs1v15::Signature::try_from(signature).unwrap()).is_ok()
        },
    );
    // Before issue 23, outside issuers' RS256 tokens went through jsonwebtoken (JwtStore's
    // stack): the same token, signature and claims, for comparison.
    let rs_jwt = rsa_token(jsonwebtoken::Algorithm::RS256, &hs_jwt);
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&["https://auth.example.com"]);
    validation.set_audience(&["https://api.example.com"]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(&rs_jwt, &key, &validation).is_ok());
    group.bench_function("jsonwebtoken_rs256", |b| {
        b.iter(|| jsonwebtoken::decode::<serde_json::Value>(black_box(&rs_jwt), &key, &validation).is_ok())
    });
    let pss = rsa::pss::VerifyingKey::<rsa::sha2::Sha256>::new(public);
    bench_alg(
        &mut group,
        "ps256",
        &rsa_keys,
        &rsa_token(jsonwebtoken::Algorithm::PS256, &hs_jwt),
        |input, signature| pss.verify(input, &rsa::pss::Signature::try_from(signature).unwrap()).is_ok(),
    );
    group.finish();
}

type Body = Full<Bytes>;

fn ok(_req: Request<Body>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(Response::new(Body::default())))
}

/// Polls a future that completes without waiting.
fn now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the bench's services complete at once"),
    }
}

fn request(token: &str) -> Request<Body> {
    Request::get("/v1/things")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::default())
        .unwrap()
}

fn signed(keys: KeySet) -> (SignedTokens<MemoryTokenStore>, String) {
    signed_with_memo(keys, None)
}

/// [`signed`], with a claims memo of `capacity` tokens (0: off; `None`: the default).
fn signed_with_memo(keys: KeySet, capacity: Option<usize>) -> (SignedTokens<MemoryTokenStore>, String) {
    let mut builder = SignedTokens::builder(
        MemoryTokenStore::new(),
        keys,
        "https://auth.example.com",
        "https://api.example.com",
    )
    .default_lifetime(Duration::from_secs(3600));
    if let Some(capacity) = capacity {
        builder = builder.claims_memo(capacity);
    }
    let tokens = builder.build();
    let jwt = now(tokens.issue(NewToken::for_subject("ada").organization("acme").scopes(["reports:read"])))
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned();
    (tokens, jwt)
}

type Layered = tower::util::BoxService<
    Request<Body>,
    Response<tower_bearer::middleware::ResponseBody<Body>>,
    Infallible,
>;

fn layered(tokens: SignedTokens<MemoryTokenStore>) -> Layered {
    tower::util::BoxService::new(
        ServiceBuilder::new().layer(BearerAuthLayer::new(tokens)).service(service_fn(ok)),
    )
}

/// Nanoseconds per request of `service` over a batch of `n`.
fn batch(service: &mut Layered, jwt: &str, n: u32) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..n {
        black_box(now(service.call(black_box(request(jwt)))).unwrap().status());
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn bench_layer(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    tokens: SignedTokens<MemoryTokenStore>,
    jwt: &str,
) {
    let mut service = ServiceBuilder::new().layer(BearerAuthLayer::new(tokens)).service(service_fn(ok));
    assert_eq!(now(service.call(request(jwt))).unwrap().status(), 200, "{name}");
    c.bench_function(name, |b| b.iter(|| now(service.call(black_box(request(jwt)))).unwrap().status()));
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    let (ed_tokens, ed_jwt) = signed(KeySet::new(SigningKey::ed25519_pem("k1", K1).unwrap()).unwrap());
    let (hs_tokens, hs_jwt) = signed(KeySet::new(SigningKey::hs256("h1", SECRET).unwrap()).unwrap());
    // The very requests the layers get (a header as long), so that building them cancels out.
    let mut bare = service_fn(ok);
    group.bench_function("passthrough", |b| {
        b.iter(|| now(bare.call(black_box(request(&hs_jwt)))).unwrap().status())
    });
    group.bench_function("passthrough_ed25519", |b| {
        b.iter(|| now(bare.call(black_box(request(&ed_jwt)))).unwrap().status())
    });

    // Ed25519.
    let (input, signature) = ed_jwt.rsplit_once('.').unwrap();
    let signature: [u8; 64] = URL_SAFE_NO_PAD.decode(signature).unwrap().try_into().unwrap();
    let signature = ed25519_dalek::Signature::from_bytes(&signature);
    let public = ed25519_dalek::SigningKey::from_pkcs8_pem(K1).unwrap().verifying_key();
    group.bench_function("raw_ed25519", |b| {
        b.iter(|| public.verify_strict(black_box(input.as_bytes()), &signature).is_ok())
    });
    bench_layer(&mut group, "layer_ed25519", ed_tokens.clone(), &ed_jwt);
    let (cold_tokens, cold_jwt) =
        signed_with_memo(KeySet::new(SigningKey::ed25519_pem("k1", K1).unwrap()).unwrap(), Some(0));
    bench_layer(&mut group, "layer_ed25519_memo_off", cold_tokens, &cold_jwt);

    // HS256.
    let (input, signature) = hs_jwt.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let keyed = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    group.bench_function("raw_hs256", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(input.as_bytes()));
            mac.verify_slice(&signature).is_ok()
        })
    });
    bench_layer(&mut group, "layer_hs256", hs_tokens.clone(), &hs_jwt);
    let (cold_tokens, cold_jwt) =
        signed_with_memo(KeySet::new(SigningKey::hs256("h1", SECRET).unwrap()).unwrap(), Some(0));
    bench_layer(&mut group, "layer_hs256_memo_off", cold_tokens, &cold_jwt);
    // For scale: what an application verifying by hand with jsonwebtoken spends on the same
    // token (signature, `iss`, `aud`, `exp`, claims into a map), before any of its own work.
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["https://auth.example.com"]);
    validation.set_audience(&["https://api.example.com"]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(&hs_jwt, &key, &validation).is_ok());
    group.bench_function("jsonwebtoken_hs256", |b| {
        b.iter(|| jsonwebtoken::decode::<serde_json::Value>(black_box(&hs_jwt), &key, &validation).is_ok())
    });

    // The deny list at 100 000 denied tokens (on HS256, the cheaper path: less noise).
    // Deleted rather than revoked, so the store underneath keeps no record of them: what is
    // measured is the deny list, not a bigger store.
    let (empty_tokens, empty_jwt) = signed(KeySet::new(SigningKey::hs256("h1", SECRET).unwrap()).unwrap());
    for _ in 0..100_000 {
        let other = now(hs_tokens.issue(NewToken::for_subject("bulk"))).unwrap();
        now(hs_tokens.delete(other.id())).unwrap();
    }
    bench_layer(&mut group, "layer_hs256_denied_100k", hs_tokens.clone(), &hs_jwt);
    group.finish();

    if std::env::args().any(|a| a == "--bench") {
        // Same key, same claims shape: the two tokens differ only in `jti`.
        let (mut empty, mut full) = (layered(empty_tokens), layered(hs_tokens));
        assert_eq!(now(empty.call(request(&empty_jwt))).unwrap().status(), 200);
        assert_eq!(now(full.call(request(&hs_jwt))).unwrap().status(), 200);
        let mut differences = Vec::new();
        let mut baseline = 0.0;
        for _ in 0..3 {
            let (d, b) = interleaved_deny_cost_pair(&mut empty, &mut full, &empty_jwt, &hs_jwt, 300);
            differences.push(d);
            baseline = b;
        }
        println!(
            "\n  deny list at 100k, interleaved (3 runs of 300 rounds x 2000 requests): {} ns over {baseline:.0} ns",
            differences.iter().map(|d| format!("{d:+.0}")).collect::<Vec<_>>().join(" / ")
        );
    }
}

/// [`interleaved_deny_cost`] with each layer's own token.
fn interleaved_deny_cost_pair(
    empty: &mut Layered,
    full: &mut Layered,
    empty_jwt: &str,
    full_jwt: &str,
    rounds: usize,
) -> (f64, f64) {
    let mut differences = Vec::with_capacity(rounds);
    let mut baseline = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let first_empty = round % 2 == 0;
        let mut a = 0.0;
        let mut b = 0.0;
        for empty_now in [first_empty, !first_empty] {
            if empty_now {
                a = batch(empty, empty_jwt, 2_000);
            } else {
                b = batch(full, full_jwt, 2_000);
            }
        }
        differences.push(b - a);
        baseline.push(a);
    }
    differences.sort_by(f64::total_cmp);
    baseline.sort_by(f64::total_cmp);
    (differences[rounds / 2], baseline[rounds / 2])
}

fn estimate_ns(name: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"), PathBuf::from);
    let path = target.join("criterion").join(GROUP).join(name).join("new").join("estimates.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["slope"]["point_estimate"].as_f64().or_else(|| json["mean"]["point_estimate"].as_f64())
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    verify(&mut c);
    per_algorithm(&mut c);
    c.final_summary();
    let names = [
        "passthrough",
        "passthrough_ed25519",
        "raw_ed25519",
        "layer_ed25519",
        "raw_hs256",
        "layer_hs256",
        "layer_hs256_denied_100k",
        "jsonwebtoken_hs256",
    ];
    let ns: Vec<Option<f64>> = names.iter().map(|n| estimate_ns(n)).collect();
    if let [
        Some(pass),
        Some(pass_ed),
        Some(raw_ed),
        Some(ed),
        Some(raw_hs),
        Some(hs),
        Some(denied),
        Some(jwt_crate),
    ] = ns[..]
    {
        println!();
        for (name, ns) in names.iter().zip(&ns) {
            println!("  {name:<28} {:>9.0} ns", ns.unwrap_or_default());
        }
        println!("  (layer - passthrough) / raw, Ed25519  {:.2}x", (ed - pass_ed) / raw_ed);
        println!("  (layer - passthrough) / raw, HS256    {:.2}x", (hs - pass) / raw_hs);
        println!("  deny list at 100k                     {:+.0} ns", denied - hs);
        println!("  (layer - passthrough) / jsonwebtoken, HS256  {:.2}x", (hs - pass) / jwt_crate);
    }
    for (alg, pass) in [("ed25519", "passthrough_ed25519"), ("hs256", "passthrough")] {
        if let [Some(pass), Some(raw), Some(off)] =
            [pass, &format!("raw_{alg}"), &format!("layer_{alg}_memo_off")].map(estimate_ns)
        {
            println!("  (layer - passthrough) / raw, {alg}, memo off  {:.2}x", (off - pass) / raw);
        }
    }
    println!();
    for alg in ["eddsa", "es256", "hs256", "rs256", "ps256"] {
        let [Some(raw), Some(jws), Some(token)] =
            ["raw", "jws", "token"].map(|what| estimate_ns(&format!("{alg}_{what}")))
        else {
            continue;
        };
        println!(
            "  {alg:<6} raw {raw:>9.0} ns  jws {jws:>9.0} ns ({:.3}x)  token {token:>9.0} ns ({:.3}x)",
            jws / raw,
            token / raw
        );
    }
    if let (Some(raw), Some(jwt_crate)) = (estimate_ns("rs256_raw"), estimate_ns("jsonwebtoken_rs256")) {
        println!("  rs256  jsonwebtoken::decode {jwt_crate:>9.0} ns ({:.3}x)", jwt_crate / raw);
    }
}
