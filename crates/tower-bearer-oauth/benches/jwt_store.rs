//! What `JwtStore` spends on an outside issuer's RS256 access token, against the signature
//! check alone, in one run:
//!
//! - `rs256_raw`: the RSA PKCS#1 v1.5 check of the token's signature over its signing input
//!   (the `rsa` crate directly, the key parsed once);
//! - `jwt_store_rs256`: `JwtStore` answering a lookup of a token it has seen (its claims memo
//!   holds it), as every request of a client after its first;
//! - `jwt_store_rs256_memo_off`: the same store with `claims_memo(0)`: what every request
//!   cost before the memo, and what a token costs the first time it is seen (less its digest).
//!
//! The keys are fetched once, over HTTP from a local JWKS server, before the rows run; every
//! lookup measured is answered at once.
//!
//! ```text
//! cargo bench -p tower-bearer-oauth --features jwt --bench jwt_store
//! ```

use std::future::IntoFuture as _;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::Criterion;
use http::Response;
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::signature::Verifier as _;
use serde_json::{Value, json};
use tower::service_fn;
use tower_bearer::store::Answer;
use tower_bearer::{PresentedToken, TokenState, TokenStore};
use tower_bearer_oauth::JwtStore;

const ISSUER: &str = "https://issuer.example.com";
const API: &str = "https://api.example.com";
const RSA1: &str = include_str!("../tests/fixtures/rsa-k1.pem");
const RSA1_JWK: &str = include_str!("../tests/fixtures/rsa-k1.pub.jwk.json");

/// Whether `store` answers the lookup of `token` at once, with an active token.
fn active(store: &JwtStore, token: &str) -> bool {
    match store.lookup(&PresentedToken::new(black_box(token))) {
        Answer::Now(Ok(TokenState::Active(_))) => true,
        Answer::Now(_) => false,
        Answer::Later(later) => {
            let mut later = pin!(later.into_future());
            matches!(
                later.as_mut().poll(&mut Context::from_waker(Waker::noop())),
                Poll::Ready(Ok(TokenState::Active(_)))
            )
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let jwk: Value = serde_json::from_str(RSA1_JWK).unwrap();
    let jwks = json!({ "keys": [jwk] }).to_string();
    let (addr, _server) = runtime.block_on(tower_bearer_test_support::serve(service_fn(move |_req| {
        let body = Bytes::from(jwks.clone());
        async move { Ok::<_, std::convert::Infallible>(Response::new(Full::new(body))) }
    })));
    let url = format!("http://{addr}/jwks.json");
    let store =
        |memo: usize| JwtStore::builder(&url, ISSUER).unwrap().audience(API).claims_memo(memo).build();
    let (remembering, forgetting) = (store(4_096), store(0));

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({ "iss": ISSUER, "aud": API, "sub": "client-7", "scope": "reports:read reports:write",
        "iat": now, "exp": now + 3_600, "jti": "b3a4f0c2-5d1e-4f7a-9c3b-2e8d6a1f0b9c",
        "client_id": "client-7" });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(jwk["kid"].as_str().unwrap().to_owned());
    header.typ = Some("at+jwt".into());
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap()).unwrap();
    // The first lookups fetch the keys (and fill the memo).
    for store in [&remembering, &forgetting] {
        let state = runtime.block_on(store.lookup(&PresentedToken::new(&token)).into_future()).unwrap();
        assert!(matches!(state, TokenState::Active(_)));
    }

    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature =
        rsa::pkcs1v15::Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice()).unwrap();
    let part = |name: &str| {
        rsa::BoxedUint::from_be_slice_vartime(&URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap())
    };
    let public = rsa::PublicKey::new(part("n"), part("e")).unwrap();
    let pkcs1 = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(public);
    assert!(pkcs1.verify(input.as_bytes(), &signature).is_ok());
    assert!(active(&remembering, &token) && active(&forgetting, &token));

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("jwt_store");
    group.bench_function("rs256_raw", |b| {
        b.iter(|| pkcs1.verify(black_box(input.as_bytes()), &signature).is_ok())
    });
    group.bench_function("jwt_store_rs256", |b| b.iter(|| active(&remembering, &token)));
    group.bench_function("jwt_store_rs256_memo_off", |b| b.iter(|| active(&forgetting, &token)));
    group.finish();
    criterion.final_summary();
}
