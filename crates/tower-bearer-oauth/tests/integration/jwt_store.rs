//! `JwtStore`: JWT access tokens of an outside issuer, verified with keys from a JWKS served
//! over real HTTP by a hand-written server whose key set the test changes: rotation (a new
//! `kid` appears, an old one disappears), and one refusal per forgery (tampered, expired,
//! wrong audience, wrong issuer, `alg: none`, HS256 signed with the public key, unknown
//! `kid`), each a 401. And the fetches a failing issuer gets.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::service_fn;
use tower_bearer::{AuthError, BearerAuthLayer, Clock};
use tower_bearer_oauth::JwtStore;
use tower_bearer_test_support::{outcome, serve, status};

const ISSUER: &str = "https://issuer.example.com";
const API: &str = "https://api.example.com";
const K1: &str = include_str!("../fixtures/ed25519-k1.pem");
const K2: &str = include_str!("../fixtures/ed25519-k2.pem");
const K1_PUBLIC_PEM: &str = include_str!("../fixtures/ed25519-k1.pub.pem");
/// The public halves, as JWK `x` (base64url of the 32-byte key).
const K1_X: &str = "I4e_9eQ3m3yDF2whlKuhdksZPQyLACrqIXh9gSK6Reg";
const K2_X: &str = "3jweFCQJbHFguvSIu8dbfrUYmOcexd1Wek2FeV_-VL0";

fn jwk(kid: &str, x: &str) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig" })
}

struct Jwks {
    url: String,
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

async fn jwks_server(keys: Vec<Value>) -> Jwks {
    let set = Arc::new(Mutex::new(json!({ "keys": keys })));
    let fetches = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(Mutex::new(false));
    let (s, f, d) = (set.clone(), fetches.clone(), down.clone());
    let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
        f.fetch_add(1, Ordering::SeqCst);
        let (body, down) = (s.lock().unwrap().to_string(), *d.lock().unwrap());
        async move {
            let mut res = Response::new(Full::new(Bytes::from(body)));
            if down {
                *res.status_mut() = StatusCode::BAD_GATEWAY;
            }
            Ok::<_, Infallible>(res)
        }
    });
    let (addr, task) = serve(service).await;
    Jwks { url: format!("http://{addr}/jwks.json"), set, fetches, down, task }
}

fn now_secs(clock: &Clock) -> u64 {
    clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn claims(clock: &Clock) -> Value {
    let now = now_secs(clock);
    json!({ "iss": ISSUER, "aud": API, "sub": "ada", "scope": "reports:read", "exp": now + 600,
            "iat": now, "jti": "jti-1", "organization": "acme" })
}

fn sign(kid: &str, pem: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()).unwrap()
}

struct Setup {
    jwks: Jwks,
    clock: Clock,
    layer: BearerAuthLayer<JwtStore>,
}

/// The test clock's time, in seconds since the epoch.
const NOW: u64 = 1_800_000_000;

async fn setup() -> Setup {
    setup_with(|store| store.leeway(Duration::ZERO)).await
}

/// A JWKS server with k1, and a layer over a store for it (audience `API`, the given
/// settings) on a manual clock.
async fn setup_with(configure: impl FnOnce(JwtStore) -> JwtStore) -> Setup {
    let jwks = jwks_server(vec![jwk("k1", K1_X)]).await;
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW));
    let store = JwtStore::new(&jwks.url, ISSUER)
        .unwrap()
        .audience(API)
        .refetch_interval(Duration::from_secs(60))
        .max_key_age(Duration::from_secs(3600))
        .clock(clock.clone());
    let layer = BearerAuthLayer::new(configure(store)).clock(clock.clone());
    Setup { jwks, clock, layer }
}

async fn reason(layer: &BearerAuthLayer<JwtStore>, token: &str) -> (StatusCode, Option<&'static str>) {
    let (status, error) = outcome(layer, token).await;
    (status, error.as_ref().map(AuthError::reason))
}

#[tokio::test]
async fn a_valid_token_is_verified_offline_after_one_fetch() {
    let s = setup().await;
    let token = sign("k1", K1, &claims(&s.clock));
    for _ in 0..3 {
        assert_eq!(status(&s.layer, &token).await, StatusCode::OK);
    }
    assert_eq!(s.jwks.fetches.load(Ordering::SeqCst), 1, "keys fetched once, tokens verified here");
    s.jwks.task.abort();
}

#[tokio::test]
async fn every_forgery_is_refused_with_401() {
    let s = setup().await;
    let good = sign("k1", K1, &claims(&s.clock));
    assert_eq!(status(&s.layer, &good).await, StatusCode::OK);

    // Tampered: the payload changed after signing.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut payload = claims(&s.clock);
    payload["scope"] = json!("reports:read admin");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    let tampered = parts.join(".");
    // Expired, wrong audience, wrong issuer.
    let mut expired = claims(&s.clock);
    expired["exp"] = json!(now_secs(&s.clock) - 1);
    let mut other_audience = claims(&s.clock);
    other_audience["aud"] = json!("https://other.example.com");
    let mut other_issuer = claims(&s.clock);
    other_issuer["iss"] = json!("https://evil.example.com");
    // `alg: none`, unsigned.
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none =
        format!("{}.{}.", b64(json!({ "alg": "none", "typ": "JWT", "kid": "k1" })), b64(claims(&s.clock)));
    // Algorithm confusion: HS256 with the public key as the HMAC secret.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(
        &hs,
        &claims(&s.clock),
        &EncodingKey::from_secret(K1_PUBLIC_PEM.as_bytes()).unwrap(),
    )
    .unwrap();
    // Signed by a key the issuer does not publish, under its kid and under an unknown one.
    let wrong_key = sign("k1", K2, &claims(&s.clock));
    let unknown_kid = sign("k9", K2, &claims(&s.clock));

    for (name, token, expected) in [
        ("tampered", tampered, "unknown_token"),
        ("expired", sign("k1", K1, &expired), "expired_token"),
        ("wrong audience", sign("k1", K1, &other_audience), "unknown_token"),
        ("wrong issuer", sign("k1", K1, &other_issuer), "unknown_token"),
        ("alg none", none, "unknown_token"),
        ("HS256 with the public key", confused, "unknown_token"),
        ("another key under the kid", wrong_key, "unknown_token"),
        ("unknown kid", unknown_kid, "unknown_token"),
    ] {
        assert_eq!(reason(&s.layer, &token).await, (StatusCode::UNAUTHORIZED, Some(expected)), "{name}");
    }
    s.jwks.task.abort();
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let s = setup().await;
    assert_eq!(status(&s.layer, &sign("k1", K1, &claims(&s.clock))).await, StatusCode::OK);
    for kid in ["x1", "x2", "x3", "x4"] {
        assert_eq!(status(&s.layer, &sign(kid, K2, &claims(&s.clock))).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(s.jwks.fetches.load(Ordering::SeqCst), 1, "made-up kids within the interval: no fetch");
    s.clock.advance(Duration::from_secs(61));
    assert_eq!(status(&s.layer, &sign("x5", K2, &claims(&s.clock))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(s.jwks.fetches.load(Ordering::SeqCst), 2, "one fetch once the interval passed");
    s.jwks.task.abort();
}

#[tokio::test]
async fn rotation_a_new_kid_appears_then_the_old_one_disappears() {
    let s = setup().await;
    let old = sign("k1", K1, &claims(&s.clock));
    assert_eq!(status(&s.layer, &old).await, StatusCode::OK);
    // The issuer publishes k2 next to k1, then signs with it.
    *s.jwks.set.lock().unwrap() = json!({ "keys": [jwk("k1", K1_X), jwk("k2", K2_X)] });
    s.clock.advance(Duration::from_secs(61));
    let new = sign("k2", K2, &claims(&s.clock));
    assert_eq!(status(&s.layer, &new).await, StatusCode::OK, "the unknown kid made the store refetch");
    assert_eq!(status(&s.layer, &sign("k1", K1, &claims(&s.clock))).await, StatusCode::OK);
    // k1 is withdrawn: once the set is older than its maximum age, k1 stops verifying.
    *s.jwks.set.lock().unwrap() = json!({ "keys": [jwk("k2", K2_X)] });
    s.clock.advance(Duration::from_secs(3600));
    assert_eq!(status(&s.layer, &sign("k1", K1, &claims(&s.clock))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&s.layer, &sign("k2", K2, &claims(&s.clock))).await, StatusCode::OK);
    s.jwks.task.abort();
}

#[tokio::test]
async fn a_jwks_that_cannot_be_fetched_fails_closed() {
    let s = setup().await;
    *s.jwks.down.lock().unwrap() = true;
    assert_eq!(
        reason(&s.layer, &sign("k1", K1, &claims(&s.clock))).await,
        (StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable"))
    );
    *s.jwks.down.lock().unwrap() = false;
    assert_eq!(
        reason(&s.layer, &sign("k1", K1, &claims(&s.clock))).await,
        (StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable")),
        "the next attempt waits a second"
    );
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(status(&s.layer, &sign("k1", K1, &claims(&s.clock))).await, StatusCode::OK);
    s.jwks.task.abort();
}

const OK: (StatusCode, Option<&str>) = (StatusCode::OK, None);
const UNKNOWN: (StatusCode, Option<&str>) = (StatusCode::UNAUTHORIZED, Some("unknown_token"));
const UNAVAILABLE: (StatusCode, Option<&str>) = (StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable"));

/// Tokens under a made-up `kid` each.
fn made_up_kids(clock: &Clock, n: usize) -> Vec<String> {
    (0..n).map(|i| sign(&format!("made-up-{i}"), K2, &claims(clock))).collect()
}

#[tokio::test]
async fn a_failing_issuer_is_asked_once_per_backoff_whatever_the_kids() {
    let s = setup().await;
    *s.jwks.down.lock().unwrap() = true;
    let fetches = || s.jwks.fetches.load(Ordering::SeqCst);
    for token in made_up_kids(&s.clock, 20) {
        assert_eq!(reason(&s.layer, &token).await, UNAVAILABLE, "no keys: fail closed");
    }
    assert_eq!(fetches(), 1, "20 made-up kids, one attempt");
    // Each failure doubles the wait before the next attempt: 1 s, 2 s, 4 s...
    for (wait, attempts) in [(1, 2), (1, 2), (1, 3), (3, 3), (1, 4), (7, 4), (1, 5)] {
        s.clock.advance(Duration::from_secs(wait));
        for token in made_up_kids(&s.clock, 5) {
            assert_eq!(reason(&s.layer, &token).await, UNAVAILABLE);
        }
        assert_eq!(fetches(), attempts, "after {wait} s more");
    }
    // ...up to a minute at most.
    for _ in 0..10 {
        s.clock.advance(Duration::from_secs(3600));
        let _ = reason(&s.layer, &made_up_kids(&s.clock, 1)[0]).await;
    }
    let before = fetches();
    s.clock.advance(Duration::from_secs(59));
    let _ = reason(&s.layer, &made_up_kids(&s.clock, 1)[0]).await;
    assert_eq!(fetches(), before, "within the longest wait");
    s.clock.advance(Duration::from_secs(1));
    let _ = reason(&s.layer, &made_up_kids(&s.clock, 1)[0]).await;
    assert_eq!(fetches(), before + 1, "the longest wait is a minute");
    // Back up: the next attempt succeeds and real tokens verify again.
    *s.jwks.down.lock().unwrap() = false;
    s.clock.advance(Duration::from_secs(60));
    assert_eq!(reason(&s.layer, &sign("k1", K1, &claims(&s.clock))).await, OK);
    s.jwks.task.abort();
}

#[tokio::test]
async fn a_failed_refetch_counts_against_the_interval() {
    let s = setup().await;
    let fetches = || s.jwks.fetches.load(Ordering::SeqCst);
    assert_eq!(reason(&s.layer, &sign("k1", K1, &claims(&s.clock))).await, OK);
    assert_eq!(fetches(), 1);
    *s.jwks.down.lock().unwrap() = true;
    s.clock.advance(Duration::from_secs(61));
    let tokens = made_up_kids(&s.clock, 20);
    assert_eq!(reason(&s.layer, &tokens[0]).await, UNAVAILABLE, "the refetch failed");
    for token in &tokens[1..] {
        assert_eq!(reason(&s.layer, token).await, UNKNOWN, "the keys at hand answer");
    }
    assert_eq!(reason(&s.layer, &sign("k1", K1, &claims(&s.clock))).await, OK, "known keys still verify");
    assert_eq!(fetches(), 2, "20 made-up kids, one refetch");
    s.clock.advance(Duration::from_secs(59));
    assert_eq!(reason(&s.layer, &tokens[1]).await, UNKNOWN);
    assert_eq!(fetches(), 2, "the failed attempt counts against the interval");
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(reason(&s.layer, &tokens[1]).await, UNAVAILABLE);
    assert_eq!(fetches(), 3);
    s.jwks.task.abort();
}

#[tokio::test]
async fn setting_a_cloned_store_configures_that_store_alone() {
    let jwks = jwks_server(vec![jwk("k1", K1_X)]).await;
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW));
    let store = JwtStore::new(&jwks.url, ISSUER).unwrap().audience(API).clock(clock.clone());
    let shared = store.clone();
    // Once panicked ("configure the JwtStore before cloning it").
    let other = store.audience("https://other.example.com").leeway(Duration::ZERO);
    let token = sign("k1", K1, &claims(&clock));
    let layer = |store: JwtStore| BearerAuthLayer::new(store).clock(clock.clone());
    assert_eq!(reason(&layer(other), &token).await, UNKNOWN);
    assert_eq!(reason(&layer(shared), &token).await, OK, "the clone kept its settings");
    jwks.task.abort();
}
