//! `JwtStore`: JWT access tokens of an outside issuer, verified with keys from a JWKS served
//! over real HTTP by a hand-written server whose key set the test changes: rotation (a new
//! `kid` appears, an old one disappears), and one refusal per forgery (tampered, expired,
//! wrong audience, wrong issuer, `alg: none`, HS256 signed with the public key, unknown
//! `kid`), each a 401. What RFC 9068 requires (`exp`, `typ`, the audience) by default, and
//! the opt-outs; the leeway on both ends, `scp` in either form, the fetches a failing issuer
//! gets, and any claim values (a property test): an answer, never a panic.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower_bearer::{AuthError, BearerAuthLayer, Clock};
use tower_bearer_oauth::{JwtStore, JwtStoreBuilder};
use tower_bearer_test_support::claims::{LATEST, claim_value};
use tower_bearer_test_support::{outcome, status};

use crate::jwks::{JwksServer as Jwks, K1, K1_X, K2, K2_X, jwk, jwks_server, sign, sign_typ};

const ISSUER: &str = "https://issuer.example.com";
const API: &str = "https://api.example.com";
const K1_PUBLIC_PEM: &str = include_str!("../fixtures/ed25519-k1.pub.pem");

fn now_secs(clock: &Clock) -> u64 {
    clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn claims(clock: &Clock) -> Value {
    let now = now_secs(clock);
    json!({ "iss": ISSUER, "aud": API, "sub": "ada", "scope": "reports:read", "exp": now + 600,
            "iat": now, "jti": "jti-1", "organization": "acme" })
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
async fn setup_with(configure: impl FnOnce(JwtStoreBuilder) -> JwtStoreBuilder) -> Setup {
    let jwks = jwks_server(vec![jwk("k1", K1_X)]).await;
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW));
    let store = JwtStore::builder(&jwks.url, ISSUER)
        .unwrap()
        .audience(API)
        .refetch_interval(Duration::from_secs(60))
        .max_key_age(Duration::from_secs(3600))
        .clock(clock.clone());
    let layer = BearerAuthLayer::new(configure(store).build()).clock(clock.clone());
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

/// RFC 7515 makes `kid` optional: an issuer with one key may leave it out of its tokens.
#[tokio::test]
async fn a_token_without_a_kid_is_checked_with_the_issuers_one_key() {
    let no_kid = |pem: &str, claims: &Value| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()).unwrap()
    };
    let s = setup().await;
    assert_eq!(status(&s.layer, &no_kid(K1, &claims(&s.clock))).await, StatusCode::OK);
    let forged = no_kid(K2, &claims(&s.clock));
    assert_eq!(reason(&s.layer, &forged).await, (StatusCode::UNAUTHORIZED, Some("unknown_token")));
    s.jwks.task.abort();

    // Two keys for EdDSA: the token must say which; neither is tried.
    let jwks = jwks_server(vec![jwk("k1", K1_X), jwk("k2", K2_X)]).await;
    let store = JwtStore::builder(&jwks.url, ISSUER).unwrap().audience(API).clock(s.clock.clone()).build();
    let layer = BearerAuthLayer::new(store).clock(s.clock.clone());
    let ambiguous = no_kid(K1, &claims(&s.clock));
    assert_eq!(reason(&layer, &ambiguous).await, (StatusCode::UNAUTHORIZED, Some("unknown_token")));
    assert_eq!(status(&layer, &sign("k1", K1, &claims(&s.clock))).await, StatusCode::OK);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1, "no fetch for a token that names no key");
    jwks.task.abort();
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
const EXPIRED: (StatusCode, Option<&str>) = (StatusCode::UNAUTHORIZED, Some("expired_token"));
const UNAVAILABLE: (StatusCode, Option<&str>) = (StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable"));

/// `claims` with `key` set to `value`, or removed for `None`.
fn with(mut claims: Value, key: &str, value: Option<Value>) -> Value {
    match value {
        Some(value) => claims[key] = value,
        None => drop(claims.as_object_mut().unwrap().remove(key)),
    }
    claims
}

#[tokio::test]
async fn a_token_without_exp_is_refused_unless_waived() {
    let s = setup().await;
    let no_exp = sign("k1", K1, &with(claims(&s.clock), "exp", None));
    assert_eq!(reason(&s.layer, &no_exp).await, UNKNOWN, "RFC 9068 §2.2: exp is required");
    s.jwks.task.abort();

    let waived = setup_with(|store| store.require_exp(false)).await;
    let no_exp = sign("k1", K1, &with(claims(&waived.clock), "exp", None));
    assert_eq!(reason(&waived.layer, &no_exp).await, OK, "waived: a token without exp never expires");
    let late = sign("k1", K1, &with(claims(&waived.clock), "exp", Some(json!(NOW - 3600))));
    assert_eq!(reason(&waived.layer, &late).await, EXPIRED, "an exp present is still checked");
    waived.jwks.task.abort();
}

#[tokio::test]
async fn the_default_leeway_applies_to_exp_and_nbf() {
    // The default leeway: 30 seconds.
    let s = setup_with(|store| store).await;
    let at = |key: &str, secs: u64| sign("k1", K1, &with(claims(&s.clock), key, Some(json!(secs))));
    assert_eq!(reason(&s.layer, &at("exp", NOW - 5)).await, OK, "5 s past exp, within the leeway");
    assert_eq!(reason(&s.layer, &at("exp", NOW - 29)).await, OK);
    assert_eq!(reason(&s.layer, &at("exp", NOW - 30)).await, EXPIRED, "the leeway has passed");
    assert_eq!(reason(&s.layer, &at("nbf", NOW + 5)).await, OK, "5 s before nbf, within the leeway");
    assert_eq!(reason(&s.layer, &at("nbf", NOW + 31)).await, UNKNOWN);
    // The same token, as the store's clock moves: admitted until exp plus the leeway.
    let token = at("exp", NOW + 10);
    s.clock.advance(Duration::from_secs(39));
    assert_eq!(reason(&s.layer, &token).await, OK);
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(reason(&s.layer, &token).await, EXPIRED);
    s.jwks.task.abort();
}

#[tokio::test]
async fn scp_and_scope_are_read_as_a_string_or_an_array() {
    let s = setup().await;
    let layer = s.layer.clone().require_scopes(["reports:read"]);
    let scoped = |key: &str, value: Value| {
        let claims = with(with(claims(&s.clock), "scope", None), key, Some(value));
        sign("k1", K1, &claims)
    };
    for (key, value) in [
        ("scp", json!("reports:read reports:write")),      // Azure AD
        ("scp", json!(["reports:read", "reports:write"])), // Okta
        ("scope", json!("reports:write reports:read")),    // RFC 9068
        ("scope", json!(["reports:read"])),
    ] {
        assert_eq!(status(&layer, &scoped(key, value.clone())).await, StatusCode::OK, "{key}: {value}");
    }
    for (key, value) in [
        ("scp", json!("reports:write")),
        ("scp", json!(["reports:write", 7, null])),
        ("scp", json!(["reports:read reports:write"])), // one element is one scope, not a list
        ("scp", json!(7)),
        ("scope", json!({ "reports:read": true })),
    ] {
        assert_eq!(
            status(&layer, &scoped(key, value.clone())).await,
            StatusCode::FORBIDDEN,
            "{key}: {value}"
        );
    }
    s.jwks.task.abort();
}

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
async fn out_of_range_times_and_mistyped_claims_are_refused() {
    let s = setup().await;
    for (key, value) in [
        ("exp", json!(u64::MAX)),
        ("exp", json!(1e300)),
        ("exp", json!(253_402_300_800_u64)), // the year 10000
        ("exp", json!(-1)),
        ("exp", json!("1900000000")),
        ("exp", json!(null)),
        ("exp", json!([NOW + 600])),
        ("nbf", json!(u64::MAX)),
        ("nbf", json!(1e300)),
        ("nbf", json!(-1)),
        ("nbf", json!("0")),
        ("nbf", json!(true)),
        ("sub", json!(7)), // not "no subject", and no fallback to `client_id`
        ("sub", json!(["ada"])),
        ("aud", json!([API, 7])),
    ] {
        let claims = with(with(claims(&s.clock), "client_id", Some(json!("svc"))), key, Some(value.clone()));
        assert_eq!(reason(&s.layer, &sign("k1", K1, &claims)).await, UNKNOWN, "{key}: {value}");
    }
    for (key, value) in [
        ("exp", json!(253_402_300_799_u64)), // the last second of the year 9999
        ("exp", json!(NOW as f64 + 0.5)),
        ("nbf", json!(0)),
        ("nbf", json!(NOW as f64 - 0.5)),
        ("iat", json!(u64::MAX)),
        ("iat", json!(-1e300)),
        ("iat", json!("yesterday")),
    ] {
        let token = sign("k1", K1, &with(claims(&s.clock), key, Some(value.clone())));
        assert_eq!(reason(&s.layer, &token).await, OK, "{key}: {value}");
    }
    s.jwks.task.abort();
}

#[tokio::test]
async fn id_tokens_and_other_typs_are_refused_unless_waived() {
    let s = setup().await;
    let typed = |typ: Option<&str>| sign_typ("k1", K1, typ, &claims(&s.clock));
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"] {
        assert_eq!(reason(&s.layer, &typed(Some(typ))).await, OK, "{typ}");
    }
    for typ in [Some("JWT"), None, Some("id_token+jwt"), Some("at+jwt "), Some("application/jwt")] {
        assert_eq!(reason(&s.layer, &typed(typ)).await, UNKNOWN, "{typ:?}");
    }
    s.jwks.task.abort();

    let waived = setup_with(|store| store.require_typ(false)).await;
    for typ in [Some("JWT"), None, Some("at+jwt")] {
        let token = sign_typ("k1", K1, typ, &claims(&waived.clock));
        assert_eq!(reason(&waived.layer, &token).await, OK, "{typ:?}");
    }
    waived.jwks.task.abort();
}

#[tokio::test]
async fn the_audience_is_required_unless_waived() {
    let jwks = jwks_server(vec![jwk("k1", K1_X)]).await;
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW));
    let layer = |store: JwtStoreBuilder| {
        BearerAuthLayer::new(store.clock(clock.clone()).build()).clock(clock.clone())
    };
    let token = sign("k1", K1, &claims(&clock));

    // Neither an audience nor the waiver: every token is refused, as a configuration error.
    let unset = layer(JwtStore::builder(&jwks.url, ISSUER).unwrap());
    let (code, error) = outcome(&unset, &token).await;
    assert_eq!((code, error.as_ref().map(AuthError::reason)), UNAVAILABLE);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 0, "refused before any fetch");

    // Waived: any audience, or none.
    let any = layer(JwtStore::builder(&jwks.url, ISSUER).unwrap().any_audience());
    assert_eq!(reason(&any, &token).await, OK);
    let elsewhere = sign("k1", K1, &with(claims(&clock), "aud", Some(json!("https://other.example.com"))));
    assert_eq!(reason(&any, &elsewhere).await, OK);
    assert_eq!(reason(&any, &sign("k1", K1, &with(claims(&clock), "aud", None))).await, OK);

    // Set: the token must name it.
    let ours = layer(JwtStore::builder(&jwks.url, ISSUER).unwrap().audience(API));
    assert_eq!(reason(&ours, &token).await, OK);
    assert_eq!(
        reason(&ours, &sign("k1", K1, &with(claims(&clock), "aud", Some(json!([API, "x"]))))).await,
        OK
    );
    assert_eq!(reason(&ours, &elsewhere).await, UNKNOWN);
    assert_eq!(reason(&ours, &sign("k1", K1, &with(claims(&clock), "aud", None))).await, UNKNOWN);
    jwks.task.abort();
}

/// Values for `aud`: this resource's, in the forms RFC 7519 allows and others.
fn audience_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => Just(Some(json!(API))),
        1 => prop::sample::select(vec![
            json!([API]),
            json!(["x", API]),
            json!("x"),
            json!(["x"]),
            json!([]),
            json!([API, 1]),
            json!([[API]]),
            json!({ "aud": API }),
            json!(7),
            Value::Null,
        ])
        .prop_map(Some),
        1 => Just(None),
    ]
}

/// Whether `aud` names this resource: a string, or an array of strings with it among them.
fn is_for_us(aud: &Value) -> bool {
    match aud {
        Value::String(aud) => aud == API,
        Value::Array(auds) => auds.iter().all(Value::is_string) && auds.contains(&json!(API)),
        _ => false,
    }
}

/// A NumericDate (RFC 7519 §2) the store accepts: a number from the epoch to the year 9999.
fn date(value: &Value) -> Option<f64> {
    value.as_f64().filter(|secs| (0.0..=LATEST as f64).contains(secs))
}

/// What the layer must answer for a token with these claims, with a leeway of 30 s.
fn expected(
    exp: Option<&Value>,
    nbf: Option<&Value>,
    sub: Option<&Value>,
    aud: Option<&Value>,
) -> (StatusCode, Option<&'static str>) {
    let now = NOW as f64;
    if sub.is_some_and(|sub| !sub.is_string()) || !aud.is_some_and(is_for_us) {
        return UNKNOWN;
    }
    // `exp` is required; either, when present, must be a date.
    let Some(exp) = exp.and_then(date) else { return UNKNOWN };
    match nbf.map(date) {
        Some(None) => return UNKNOWN,
        Some(Some(nbf)) if nbf > now + 30.0 => return UNKNOWN,
        _ => {}
    }
    if exp + 30.0 <= now { EXPIRED } else { OK }
}

#[test]
fn any_claim_values_get_an_answer_never_a_panic() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The default leeway (30 s); the keys fetched once, then every lookup is answered at once.
    let s = runtime.block_on(setup_with(|store| store));
    assert_eq!(runtime.block_on(reason(&s.layer, &sign("k1", K1, &claims(&s.clock)))), OK);
    let config =
        proptest::test_runner::Config { cases: 512, failure_persistence: None, ..Default::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    // `sub` mostly a string: another type refuses the token before its times are read.
    let sub = prop_oneof![3 => Just(Some(json!("ada"))), 1 => claim_value(NOW, Vec::new())];
    let values = (
        (claim_value(NOW, Vec::new()), claim_value(NOW, Vec::new()), claim_value(NOW, Vec::new())),
        (claim_value(NOW, Vec::new()), claim_value(NOW, Vec::new()), sub, claim_value(NOW, Vec::new())),
        audience_value(),
    );
    runner
        .run(&values, |((exp, nbf, iat), (scope, scp, sub, jti), aud)| {
            let mut claims = json!({ "iss": ISSUER });
            for (key, value) in [
                ("exp", &exp),
                ("nbf", &nbf),
                ("iat", &iat),
                ("scope", &scope),
                ("scp", &scp),
                ("sub", &sub),
                ("jti", &jti),
                ("aud", &aud),
            ] {
                if let Some(value) = value {
                    claims[key] = value.clone();
                }
            }
            let token = sign("k1", K1, &claims);
            let expected = expected(exp.as_ref(), nbf.as_ref(), sub.as_ref(), aud.as_ref());
            // The second time, a token that verified is answered from the store's memo.
            for _ in 0..2 {
                let answer = runtime.block_on(reason(&s.layer, &token));
                prop_assert_eq!(answer, expected, "claims {}", claims);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(s.jwks.fetches.load(Ordering::SeqCst), 1);
    s.jwks.task.abort();
}

#[tokio::test]
async fn the_clones_of_a_store_share_its_keys() {
    let jwks = jwks_server(vec![jwk("k1", K1_X)]).await;
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW));
    let store = JwtStore::builder(&jwks.url, ISSUER).unwrap().audience(API).clock(clock.clone()).build();
    let token = sign("k1", K1, &claims(&clock));
    let layer = |store: JwtStore| BearerAuthLayer::new(store).clock(clock.clone());
    let (first, second) = (layer(store.clone()), layer(store));
    assert_eq!(reason(&first, &token).await, OK);
    assert_eq!(reason(&second, &token).await, OK);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1, "one key cache for both");
    jwks.task.abort();
}

/// An outside issuer's token bound to a key (`cnf.jkt`, RFC 9449 §6.1) reads as bound, one
/// without `cnf` as a bearer token; a binding by another method (mTLS, RFC 8705) is refused,
/// never read as none.
#[tokio::test]
async fn cnf_jkt_of_an_outside_token_binds_its_grant() {
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let jwks = jwks_server(vec![jwk("k1", K1_X)]).await;
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW));
    let store = JwtStore::builder(&jwks.url, ISSUER).unwrap().audience(API).clock(clock.clone()).build();
    let binding = async |cnf: Option<Value>| {
        let token = sign("k1", K1, &with(claims(&clock), "cnf", cnf));
        match tower_bearer_test_support::state(&store, &token).await {
            tower_bearer::TokenState::Active(p) => Some(p.grant().confirmation().map(str::to_owned)),
            _ => None,
        }
    };
    assert_eq!(binding(Some(json!({ "jkt": JKT }))).await, Some(Some(JKT.to_owned())));
    assert_eq!(binding(None).await, Some(None), "no cnf: a bearer token");
    let mtls = json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" });
    assert_eq!(binding(Some(mtls)).await, None, "bound by a method not checked here: refused");
    jwks.task.abort();
}

const RSA1: &str = include_str!("../fixtures/rsa-k1.pem");
const RSA1_JWK: &str = include_str!("../fixtures/rsa-k1.pub.jwk.json");

/// RS256 and PS256 tokens (signed by jsonwebtoken) verify with an RSA key of the JWKS once
/// the store allows them; PS256 is off by default; HS256 stays off even when asked for.
#[tokio::test]
async fn rsa_tokens_verify_and_hmac_is_never_allowed() {
    let rsa_jwk: Value = serde_json::from_str(RSA1_JWK).unwrap();
    let rsa = EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap();
    let signed = |alg: Algorithm, claims: &Value| {
        let mut header = Header::new(alg);
        header.kid = Some("r1".into());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &rsa).unwrap()
    };
    let jwks = jwks_server(vec![rsa_jwk.clone(), jwk("k1", K1_X)]).await;
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW));
    let layer = |algorithms: Option<Vec<tower_bearer_oauth::Algorithm>>| {
        let mut store = JwtStore::builder(&jwks.url, ISSUER).unwrap().audience(API).clock(clock.clone());
        if let Some(algorithms) = algorithms {
            store = store.algorithms(algorithms);
        }
        BearerAuthLayer::new(store.build()).clock(clock.clone())
    };
    let (rs256, ps256) =
        (signed(Algorithm::RS256, &claims(&clock)), signed(Algorithm::PS256, &claims(&clock)));
    let by_default = layer(None);
    assert_eq!(status(&by_default, &rs256).await, StatusCode::OK);
    assert_eq!(status(&by_default, &ps256).await, StatusCode::UNAUTHORIZED, "PS256 is not a default");
    use tower_bearer_oauth::Algorithm as Alg;
    let with_ps = layer(Some(vec![Alg::PS256, Alg::EdDSA]));
    assert_eq!(status(&with_ps, &ps256).await, StatusCode::OK);
    assert_eq!(status(&with_ps, &rs256).await, StatusCode::UNAUTHORIZED, "RS256 left out");
    assert_eq!(status(&with_ps, &sign("k1", K1, &claims(&clock))).await, StatusCode::OK);
    let mut expired = claims(&clock);
    expired["exp"] = json!(NOW - 3600);
    assert_eq!(
        reason(&by_default, &signed(Algorithm::RS256, &expired)).await,
        (StatusCode::UNAUTHORIZED, Some("expired_token"))
    );

    // HS256 asked for, with the RSA key's JWK as the secret: still refused.
    let only_hmac = layer(Some(vec![Alg::HS256, Alg::RS256]));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("r1".into());
    hs.typ = Some("at+jwt".into());
    let confused =
        jsonwebtoken::encode(&hs, &claims(&clock), &EncodingKey::from_secret(RSA1_JWK.as_bytes()).unwrap())
            .unwrap();
    assert_eq!(status(&only_hmac, &confused).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&only_hmac, &rs256).await, StatusCode::OK);
    jwks.task.abort();
}
