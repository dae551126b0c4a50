//! Claims of signed tokens, from a holder of the signing key (a verify-only set may be another
//! issuer's): any value gets an answer, never a panic (a property test against an oracle);
//! times out of range are refused; the leeway holds through the layer; `cnf.jkt` binds a token
//! to a key.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower_bearer::{
    BearerAuthLayer, Clock, ManageError, MemoryTokenStore, NewToken, TokenManager, TokenState,
};
use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};
use tower_bearer_test_support::claims::{LATEST, claim_value};
use tower_bearer_test_support::{reason, state};

const ISSUER: &str = "https://auth.example.com";
const API: &str = "https://api.example.com";
const K1: &str = include_str!("../fixtures/ed25519-k1.pem");

/// The test clock's time, in seconds since the epoch.
const NOW: u64 = 1_800_000_000;

const OK: (StatusCode, Option<&str>) = (StatusCode::OK, None);
const UNKNOWN: (StatusCode, Option<&str>) = (StatusCode::UNAUTHORIZED, Some("unknown_token"));
const EXPIRED: (StatusCode, Option<&str>) = (StatusCode::UNAUTHORIZED, Some("expired_token"));

fn clock() -> Clock {
    Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW))
}

/// Signed tokens with the default leeway (30 s), and a layer over them, on `clock`.
fn layer(clock: &Clock) -> (SignedTokens<MemoryTokenStore>, BearerAuthLayer<SignedTokens<MemoryTokenStore>>) {
    let keys = KeySet::new(SigningKey::ed25519_pem("k1", K1).unwrap()).unwrap();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let tokens = SignedTokens::new(store, keys, ISSUER, API);
    (tokens.clone(), BearerAuthLayer::new(tokens).clock(clock.clone()))
}

/// `claims` signed with the set's key, as this crate's tokens are (`typ`, `kid`, EdDSA).
fn sign(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("k1".into());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(K1.as_bytes()).unwrap()).unwrap()
}

fn claims() -> Value {
    json!({ "iss": ISSUER, "aud": API, "sub": "ada", "exp": NOW + 600, "jti": "tid_1", "scope": "read" })
}

#[tokio::test]
async fn times_out_of_range_are_refused_never_a_panic() {
    let clock = clock();
    let (_, layer) = layer(&clock);
    assert_eq!(reason(&layer, &sign(&claims())).await, OK);
    for exp in [u64::MAX, i64::MAX as u64, LATEST + 1] {
        let mut claims = claims();
        claims["exp"] = json!(exp);
        // Once panicked: `UNIX_EPOCH + Duration::from_secs(exp)` overflowed.
        assert_eq!(reason(&layer, &sign(&claims)).await, UNKNOWN, "exp {exp}");
    }
    let mut claims = claims();
    claims["exp"] = json!(LATEST);
    assert_eq!(reason(&layer, &sign(&claims)).await, OK, "the last second of the year 9999");
    claims["nbf"] = json!(u64::MAX);
    assert_eq!(reason(&layer, &sign(&claims)).await, UNKNOWN, "not before the end of time");
}

#[tokio::test]
async fn the_default_leeway_admits_a_token_just_past_exp_through_the_layer() {
    let clock = clock();
    let (tokens, layer) = layer(&clock);
    let exp = clock.now() + Duration::from_secs(10);
    let issued = tokens.issue(NewToken::for_subject("ada").expires_at(exp)).await.unwrap();
    let jwt = issued.secret().expose_secret();
    assert_eq!(reason(&layer, jwt).await, OK);
    clock.advance(Duration::from_secs(15));
    assert_eq!(reason(&layer, jwt).await, OK, "5 s past exp, within the 30 s leeway");
    clock.advance(Duration::from_secs(24));
    assert_eq!(reason(&layer, jwt).await, OK);
    clock.advance(Duration::from_secs(1));
    assert_eq!(reason(&layer, jwt).await, EXPIRED, "exp plus the leeway");
}

#[tokio::test]
async fn an_expiry_after_the_year_9999_is_not_issued_nor_recorded() {
    let clock = clock();
    let (tokens, layer) = layer(&clock);
    let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let refused = tokens.issue(NewToken::for_subject("ada").expires_at(at(LATEST + 1))).await;
    assert!(matches!(refused, Err(ManageError::OutOfRange("expires_at"))), "{refused:?}");
    assert!(tokens.list("ada").await.unwrap().is_empty(), "nothing recorded");
    let last = tokens.issue(NewToken::for_subject("ada").expires_at(at(LATEST))).await.unwrap();
    assert_eq!(reason(&layer, last.secret().expose_secret()).await, OK);
}

/// Whether `value` reads as an optional string claim: absent, `null` or a string.
fn optional_string(value: Option<&Value>) -> bool {
    value.is_none_or(|v| v.is_null() || v.is_string())
}

/// What the layer must answer for a token with these claims (iss right), with a leeway of
/// 30 s: this crate reads times as whole seconds (as it writes them).
fn expected(claim: impl Fn(&str) -> Option<Value>) -> (StatusCode, Option<&'static str>) {
    let aud_ok = match claim("aud") {
        Some(Value::String(aud)) => aud == API,
        Some(Value::Array(auds)) => auds.iter().all(Value::is_string) && auds.contains(&json!(API)),
        _ => false,
    };
    let strings_ok = ["sub", "scope", "organization", "token_kind", "token_name", "jti"]
        .iter()
        .all(|key| optional_string(claim(key).as_ref()));
    let Some(exp) = claim("exp").and_then(|exp| exp.as_u64()).filter(|exp| *exp <= LATEST) else {
        return UNKNOWN;
    };
    let nbf_ok = match claim("nbf") {
        None | Some(Value::Null) => true,
        Some(nbf) => nbf.as_u64().is_some_and(|nbf| nbf <= NOW + 30),
    };
    let has_jti = claim("jti").is_some_and(|jti| jti.is_string());
    if !(aud_ok && strings_ok && nbf_ok && has_jti) {
        return UNKNOWN;
    }
    if exp + 30 <= NOW { EXPIRED } else { OK }
}

#[test]
fn any_claim_values_get_an_answer_never_a_panic() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let clock = clock();
    let (_, layer) = layer(&clock);
    let config =
        proptest::test_runner::Config { cases: 512, failure_persistence: None, ..Default::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    // Mostly well-typed where a wrong type refuses the token, so that the times are reached.
    let aud = prop_oneof![3 => Just(Some(json!(API))), 1 => claim_value(NOW, vec![json!(API), json!([API])])];
    let jti =
        prop_oneof![3 => Just(Some(json!("tid_1"))), 1 => claim_value(NOW, vec![json!(API), json!([API])])];
    let text = || prop_oneof![3 => proptest::option::of("\\PC{0,12}".prop_map(Value::String)), 1 => claim_value(NOW, vec![json!(API), json!([API])])];
    let values = (
        (
            claim_value(NOW, vec![json!(API), json!([API])]),
            claim_value(NOW, vec![json!(API), json!([API])]),
            claim_value(NOW, vec![json!(API), json!([API])]),
            text(),
        ),
        (text(), text(), text(), text()),
        (aud, jti),
    );
    runner
        .run(&values, |((exp, nbf, iat, sub), (scope, organization, token_kind, token_name), (aud, jti))| {
            let mut claims = json!({ "iss": ISSUER });
            for (key, value) in [
                ("exp", exp),
                ("nbf", nbf),
                ("iat", iat),
                ("sub", sub),
                ("scope", scope),
                ("organization", organization),
                ("token_kind", token_kind),
                ("token_name", token_name),
                ("aud", aud),
                ("jti", jti),
            ] {
                if let Some(value) = value {
                    claims[key] = value;
                }
            }
            let answer = runtime.block_on(reason(&layer, &sign(&claims)));
            prop_assert_eq!(answer, expected(|key| claims.get(key).cloned()), "claims {}", claims);
            Ok(())
        })
        .unwrap();
}

/// A token with `cnf.jkt` is bound to that key, one without `cnf` is not; a `cnf` by a method
/// this crate cannot check (no `jkt`) is refused rather than read as a bearer token.
#[tokio::test]
async fn cnf_jkt_binds_a_token_and_another_confirmation_method_is_refused() {
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let clock = clock();
    let (tokens, _) = layer(&clock);
    let binding = async |cnf: Option<Value>| {
        let mut claims = claims();
        if let Some(cnf) = cnf {
            claims["cnf"] = cnf;
        }
        match state(&tokens, &sign(&claims)).await {
            TokenState::Active(p) => Some(p.grant().confirmation().map(str::to_owned)),
            _ => None,
        }
    };
    assert_eq!(binding(None).await, Some(None), "no cnf: a bearer token");
    assert_eq!(binding(Some(json!({ "jkt": JKT }))).await, Some(Some(JKT.to_owned())));
    assert_eq!(
        binding(Some(json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }))).await,
        None
    );
    assert_eq!(binding(Some(json!({ "jkt": 7 }))).await, None);
}
