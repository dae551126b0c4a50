//! Signed tokens end to end: issued through `TokenManager`, admitted by the layer without a
//! store round trip, verified by an independent JWT implementation from the published JWKS,
//! revoked at once; and one 401 per forgery.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore, NewToken, TokenManager};
use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};
use tower_bearer_test_support::{reason, status};

const ISSUER: &str = "https://auth.example.com";
const API: &str = "https://api.example.com";
const K1: &str = include_str!("../fixtures/ed25519-k1.pem");
const K2: &str = include_str!("../fixtures/ed25519-k2.pem");
const K1_PUBLIC_PEM: &str = include_str!("../fixtures/ed25519-k1.pub.pem");

fn clock() -> Clock {
    Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

fn tokens(clock: &Clock, keys: KeySet, issuer: &str, audience: &str) -> SignedTokens<MemoryTokenStore> {
    SignedTokens::builder(MemoryTokenStore::builder().clock(clock.clone()).build(), keys, issuer, audience)
        .leeway(Duration::ZERO)
        .build()
}

fn k1() -> KeySet {
    KeySet::new(SigningKey::ed25519_pem("k1", K1).unwrap()).unwrap()
}

#[tokio::test]
async fn issued_through_the_manager_admitted_by_the_layer_and_verified_elsewhere() {
    let clock = clock();
    let signed = tokens(&clock, k1(), ISSUER, API);
    let new = NewToken::for_subject("ada")
        .organization("acme")
        .kind("personal")
        .name("laptop")
        .scopes(["reports:read"]);
    let issued = signed.issue(new.expires_at(clock.now() + Duration::from_secs(600))).await.unwrap();
    let jwt = issued.secret().expose_secret().to_owned();
    assert_eq!(signed.list("ada").await.unwrap().len(), 1, "recorded, listed like any token");

    let layer = BearerAuthLayer::new(signed.clone()).clock(clock.clone()).require_scopes(["reports:read"]);
    let app = tower_bearer_test_support::app(layer.clone());
    let res = app.oneshot(tower_bearer_test_support::get(Some(&jwt))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "ada");

    // An independent JWT implementation, from the published JWKS alone.
    let jwks = signed.jwks().oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(jwks.headers()["content-type"], "application/jwk-set+json");
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_slice(&jwks.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(set.keys.len(), 1);
    let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).unwrap();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!((header.typ.as_deref(), header.kid.as_deref()), (Some("at+jwt"), Some("k1")));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[API]);
    validation.validate_exp = false; // the test's clock is in 2027
    let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &validation).unwrap().claims;
    assert_eq!(claims["sub"], "ada");
    assert_eq!(claims["jti"], issued.id().as_str());
    assert_eq!(
        (&claims["organization"], &claims["token_kind"], &claims["scope"]),
        (&json!("acme"), &json!("personal"), &json!("reports:read"))
    );
    assert_eq!(claims["exp"], 1_800_000_600);
}

#[tokio::test]
async fn a_revoked_signed_token_is_refused_at_once_and_opaque_keys_still_pass() {
    let clock = clock();
    let signed = tokens(&clock, k1(), ISSUER, API);
    let issued = signed.issue(NewToken::for_subject("ada")).await.unwrap();
    let jwt = issued.secret().expose_secret().to_owned();
    // An API key in the store underneath, through the same layer.
    let key = signed.store().issue(NewToken::for_subject("svc")).await.unwrap();
    let layer = BearerAuthLayer::new(signed.clone()).clock(clock.clone());
    assert_eq!(status(&layer, &jwt).await, StatusCode::OK);
    assert_eq!(status(&layer, key.secret().expose_secret()).await, StatusCode::OK);
    assert!(signed.revoke(issued.id()).await.unwrap());
    assert_eq!(reason(&layer, &jwt).await, (StatusCode::UNAUTHORIZED, Some("revoked_token")));
    assert!(signed.list("ada").await.unwrap().is_empty());
    assert_eq!(status(&layer, key.secret().expose_secret()).await, StatusCode::OK);
}

#[tokio::test]
async fn a_rotation_keeps_the_old_token_for_its_grace_only() {
    let clock = clock();
    let signed = tokens(&clock, k1(), ISSUER, API);
    let old = signed
        .issue(NewToken::for_subject("ada").expires_at(clock.now() + Duration::from_secs(3600)))
        .await
        .unwrap();
    let new = signed.rotate(old.id(), Duration::from_secs(60)).await.unwrap();
    let layer = BearerAuthLayer::new(signed.clone()).clock(clock.clone());
    assert_eq!(status(&layer, new.secret().expose_secret()).await, StatusCode::OK);
    assert_eq!(status(&layer, old.secret().expose_secret()).await, StatusCode::OK, "grace");
    clock.advance(Duration::from_secs(60));
    assert_eq!(status(&layer, old.secret().expose_secret()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&layer, new.secret().expose_secret()).await, StatusCode::OK);
}

#[tokio::test]
async fn every_forgery_is_refused_with_401() {
    let clock = clock();
    let signed = tokens(&clock, k1(), ISSUER, API);
    let layer = BearerAuthLayer::new(signed.clone()).clock(clock.clone());
    let good = signed
        .issue(NewToken::for_subject("ada").scopes(["read"]))
        .await
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned();
    assert_eq!(status(&layer, &good).await, StatusCode::OK);

    let parts: Vec<&str> = good.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = json!("read admin");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);

    let expiring =
        signed.issue(NewToken::for_subject("ada").expires_in(Duration::from_secs(10))).await.unwrap();
    let other_audience = tokens(&clock, k1(), ISSUER, "https://other.example.com");
    let other_issuer = tokens(&clock, k1(), "https://evil.example.com", API);
    let wrong_aud = other_audience.issue(NewToken::for_subject("ada")).await.unwrap();
    let wrong_iss = other_issuer.issue(NewToken::for_subject("ada")).await.unwrap();
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(json!({ "alg": "none", "typ": "at+jwt", "kid": "k1" })), parts[1]);
    // HS256 keyed with the public key: the classic algorithm confusion.
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some("k1".into());
    hs.typ = Some("at+jwt".into());
    let confused = jsonwebtoken::encode(
        &hs,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(K1_PUBLIC_PEM.as_bytes()).unwrap(),
    )
    .unwrap();
    let stranger =
        tokens(&clock, KeySet::new(SigningKey::ed25519_pem("k9", K2).unwrap()).unwrap(), ISSUER, API);
    let unknown_kid = stranger.issue(NewToken::for_subject("ada")).await.unwrap();
    let impostor =
        tokens(&clock, KeySet::new(SigningKey::ed25519_pem("k1", K2).unwrap()).unwrap(), ISSUER, API);
    let wrong_key = impostor.issue(NewToken::for_subject("ada")).await.unwrap();
    clock.advance(Duration::from_secs(10));

    for (name, token, expected) in [
        ("tampered", tampered, "unknown_token"),
        ("expired", expiring.secret().expose_secret().to_owned(), "expired_token"),
        ("wrong audience", wrong_aud.secret().expose_secret().to_owned(), "unknown_token"),
        ("wrong issuer", wrong_iss.secret().expose_secret().to_owned(), "unknown_token"),
        ("alg none", none, "unknown_token"),
        ("HS256 with the public key", confused, "unknown_token"),
        ("unknown kid", unknown_kid.secret().expose_secret().to_owned(), "unknown_token"),
        ("another key under the kid", wrong_key.secret().expose_secret().to_owned(), "unknown_token"),
    ] {
        assert_eq!(reason(&layer, &token).await, (StatusCode::UNAUTHORIZED, Some(expected)), "{name}");
    }
}

#[tokio::test]
async fn key_rotation_publishes_first_and_keeps_verifying_old_tokens() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    // Before: k1 signs, k2 is published.
    let k2_public = {
        let jwk =
            KeySet::new(SigningKey::ed25519_pem("k2", K2).unwrap()).unwrap().jwks()["keys"][0]["x"].clone();
        let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(jwk.as_str().unwrap()).unwrap().try_into().unwrap();
        SigningKey::ed25519_public("k2", &bytes).unwrap()
    };
    let before = SignedTokens::new(store.clone(), k1().verify_with(k2_public), ISSUER, API);
    let kids: Vec<Value> = before
        .jwks()
        .oneshot(http::Request::new(()))
        .await
        .map(|r| r.into_body())
        .map(|_| Value::Null)
        .into_iter()
        .collect();
    assert_eq!(kids.len(), 1);
    let old = before.issue(NewToken::for_subject("ada")).await.unwrap();
    // After: k2 signs, k1 still verifies.
    let after_keys = KeySet::new(SigningKey::ed25519_pem("k2", K2).unwrap())
        .unwrap()
        .verify_with(SigningKey::ed25519_pem("k1", K1).unwrap());
    let published: Vec<String> = after_keys.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(published, ["k1", "k2"]);
    let after = SignedTokens::new(store, after_keys, ISSUER, API);
    let new = after.issue(NewToken::for_subject("ada")).await.unwrap();
    let layer = BearerAuthLayer::new(after).clock(clock.clone());
    assert_eq!(status(&layer, old.secret().expose_secret()).await, StatusCode::OK);
    assert_eq!(status(&layer, new.secret().expose_secret()).await, StatusCode::OK);
}

#[test]
fn keys_never_show_their_material() {
    let key = SigningKey::ed25519_pem("k1", K1).unwrap();
    let mut shown = format!("{key:?}");
    shown.push_str(&format!(" {:?}", KeySet::new(key).unwrap()));
    assert!(shown.contains("k1") && !shown.contains("MC4CAQ"), "{shown}");
    let secret = SigningKey::hs256("h", b"0123456789abcdef0123456789abcdef").unwrap();
    assert!(!format!("{secret:?}").contains("0123456789"));
    assert!(
        KeySet::new(secret).unwrap().jwks()["keys"].as_array().unwrap().is_empty(),
        "secrets are never published"
    );
    assert!(SigningKey::hs256("short", b"too short").is_err());
    let _ = UNIX_EPOCH;
}

/// Every attribute of a grant survives signing and verification, with each algorithm (issue
/// 21: a signed token carried neither its rate limit nor its credits).
#[tokio::test]
async fn every_attribute_of_the_grant_round_trips_through_the_claims() {
    let clock = clock();
    let grant = tower_bearer::Grant::every_attribute_example();
    let keys = [
        SigningKey::ed25519_pem("ed", K1).unwrap(),
        SigningKey::es256_pem("es", include_str!("../fixtures/es256-k1.pem")).unwrap(),
        SigningKey::hs256("hs", b"0123456789abcdef0123456789abcdef").unwrap(),
    ];
    for key in keys {
        let algorithm = key.algorithm().name();
        let signed = tokens(&clock, KeySet::new(key).unwrap(), ISSUER, API);
        let issued = signed.issue(NewToken::for_grant(grant.clone()).name("every")).await.unwrap();
        let claims = payload(issued.secret().expose_secret());
        assert_eq!(claims["rate_limit"], json!({ "requests": 120, "period_ms": 60_000 }), "{algorithm}");
        assert_eq!(
            claims["credits"],
            json!({ "initial": 5_000, "refill_amount": 1_000, "refill_every_s": 86_400 }),
            "{algorithm}"
        );
        assert_eq!(claims["cnf"], json!({ "jkt": grant.confirmation() }), "{algorithm}");
        let tower_bearer::TokenState::Active(principal) =
            tower_bearer_test_support::state(&signed, issued.secret().expose_secret()).await
        else {
            panic!("{algorithm}: not admitted")
        };
        assert_eq!(principal.grant(), &grant, "{algorithm}");
        assert_eq!(principal.token_name(), Some("every"), "{algorithm}");
    }
}

/// A token for the store's own audience alone reads back unrestricted, as it was issued: the
/// claim `aud` is the store's audience either way.
#[tokio::test]
async fn an_unrestricted_grant_reads_back_unrestricted() {
    let clock = clock();
    let signed = tokens(&clock, k1(), ISSUER, API);
    let new = NewToken::for_subject("ada").expires_at(clock.now() + Duration::from_secs(60));
    let issued = signed.issue(new).await.unwrap();
    assert_eq!(payload(issued.secret().expose_secret())["aud"], json!(API));
    assert_eq!(payload(issued.secret().expose_secret()).get("cnf"), None, "not bound to a key");
    let tower_bearer::TokenState::Active(principal) =
        tower_bearer_test_support::state(&signed, issued.secret().expose_secret()).await
    else {
        panic!("not admitted")
    };
    assert_eq!(principal.audience().len(), 0);
}

/// The claims of a compact JWS, decoded without verification.
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A signed token's own rate limit is enforced like an opaque token's (issue 21, finding 3:
/// signed tokens were treated as unmetered).
#[tokio::test]
async fn a_signed_tokens_rate_limit_is_enforced() {
    let clock = clock();
    let signed = tokens(&clock, k1(), ISSUER, API);
    let limit = tower_bearer::RateLimit::per_minute(1).unwrap();
    let new =
        NewToken::for_subject("ada").rate_limit(limit).expires_at(clock.now() + Duration::from_secs(600));
    let jwt = signed.issue(new).await.unwrap().secret().expose_secret().to_owned();
    let layer = BearerAuthLayer::new(signed.clone())
        .clock(clock.clone())
        .rate_limit(tower_bearer::RateLimitLayer::new().clock(clock.clone()));
    assert_eq!(status(&layer, &jwt).await, StatusCode::OK);
    assert_eq!(status(&layer, &jwt).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_lifetime_counts_from_the_stores_clock() {
    let clock = Clock::manual(SystemTime::now() - Duration::from_secs(2 * 86_400));
    let tokens = tokens(&clock, k1(), ISSUER, API);
    tower_bearer_test_support::contract::lifetimes_count_from_the_store_clock(&tokens).await;
}
