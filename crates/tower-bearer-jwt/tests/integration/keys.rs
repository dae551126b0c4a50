//! Keys: ES256 end to end (issued, admitted, verified elsewhere from the JWKS, and the other
//! way round), JWS-form signatures only, JWK loading, verify-only sets from a published JWKS,
//! and no key material in `Debug` or errors.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use http_body_util::BodyExt;
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_bearer::{
    BearerAuthLayer, Clock, MemoryTokenStore, NewToken, TokenManager, TokenState, TokenStore,
};
use tower_bearer_jwt::{Algorithm, KeySet, SignedTokens, SigningKey};
use tower_bearer_test_support::reason;

const ISSUER: &str = "https://auth.example.com";
const API: &str = "https://api.example.com";
const ED1: &str = include_str!("../fixtures/ed25519-k1.pem");
const ES1: &str = include_str!("../fixtures/es256-k1.pem");
const ES1_PUBLIC_PEM: &str = include_str!("../fixtures/es256-k1.pub.pem");
const ES2_SEC1: &str = include_str!("../fixtures/es256-k2.sec1.pem");
const P384: &str = include_str!("../fixtures/ec-p384.pem");
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn clock() -> Clock {
    Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

fn tokens(clock: &Clock, keys: KeySet) -> SignedTokens<MemoryTokenStore> {
    SignedTokens::builder(MemoryTokenStore::builder().clock(clock.clone()).build(), keys, ISSUER, API)
        .leeway(Duration::ZERO)
        .build()
}

fn ed(kid: &str) -> SigningKey {
    SigningKey::ed25519_pem(kid, ED1).unwrap()
}

fn es(kid: &str) -> SigningKey {
    SigningKey::es256_pem(kid, ES1).unwrap()
}

async fn issue(tokens: &SignedTokens<MemoryTokenStore>) -> String {
    tokens
        .issue(NewToken::for_subject("ada").scopes(["read"]))
        .await
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned()
}

const ADMITTED: (StatusCode, Option<&str>) = (StatusCode::OK, None);
const REFUSED: (StatusCode, Option<&str>) = (StatusCode::UNAUTHORIZED, Some("unknown_token"));

/// `token` with its signature part replaced by `signature`.
fn resigned(token: &str, signature: &[u8]) -> String {
    let (signed, _) = token.rsplit_once('.').unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn signature(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(token.rsplit_once('.').unwrap().1).unwrap()
}

/// The ASN.1 DER form of a 64-byte `r || s` ECDSA signature (what OpenSSL and X.509 use).
fn der(rs: &[u8]) -> Vec<u8> {
    let integer = |bytes: &[u8]| {
        let mut n: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
        if n.first().is_some_and(|&b| b & 0x80 != 0) {
            n.insert(0, 0);
        }
        [vec![0x02, u8::try_from(n.len()).unwrap()], n].concat()
    };
    let body = [integer(&rs[..32]), integer(&rs[32..])].concat();
    [vec![0x30, u8::try_from(body.len()).unwrap()], body].concat()
}

/// Asserts that `text` shows none of the JWK's base64url members (`d`, `k`, `x`, `y`).
fn shows_no_material(text: &str, jwk: &Value) {
    for member in ["d", "k", "x", "y"] {
        if let Some(value) = jwk.get(member).and_then(Value::as_str).filter(|v| v.len() >= 8) {
            assert!(!text.contains(value), "{text:?} shows `{member}`");
            assert!(!text.contains(&value[..8]), "{text:?} shows part of `{member}`");
        }
    }
}

/// A (truncated) RSA public JWK: a modulus far under the 2048 bits RFC 7518 requires.
fn rsa() -> Value {
    json!({ "kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bO", "e": "AQAB", "kid": "r" })
}

/// The private JWK of the ES256 fixture.
fn es_private_jwk(kid: &str) -> Value {
    let mut jwk = KeySet::new(es(kid)).unwrap().jwks()["keys"][0].clone();
    let d = p256::SecretKey::from_pkcs8_pem(ES1).unwrap().to_bytes();
    jwk["d"] = json!(URL_SAFE_NO_PAD.encode(d));
    jwk
}

/// The private JWK of the Ed25519 fixture.
fn ed_private_jwk(kid: &str) -> Value {
    let mut jwk = KeySet::new(ed(kid)).unwrap().jwks()["keys"][0].clone();
    let d = ed25519_dalek::SigningKey::from_pkcs8_pem(ED1).unwrap().to_bytes();
    jwk["d"] = json!(URL_SAFE_NO_PAD.encode(d));
    jwk
}

#[tokio::test]
async fn es256_tokens_are_admitted_and_verify_elsewhere_from_the_jwks_and_back() {
    let clock = clock();
    let signed = tokens(&clock, KeySet::new(es("e1")).unwrap());
    let issued = signed
        .issue(NewToken::for_subject("ada").organization("acme").scopes(["reports:read"]))
        .await
        .unwrap();
    let jwt = issued.secret().expose_secret().to_owned();
    assert_eq!(signature(&jwt).len(), 64, "JWS `r || s`, not DER");

    let layer = BearerAuthLayer::new(signed.clone()).clock(clock.clone()).require_scopes(["reports:read"]);
    assert_eq!(reason(&layer, &jwt).await, ADMITTED);
    let layer = BearerAuthLayer::new(signed.clone()).clock(clock.clone());
    let presented = tower_bearer::PresentedToken::new(&jwt);
    let TokenState::Active(principal) = signed.lookup(&presented).await.unwrap() else {
        panic!("an ES256 token is active");
    };
    assert_eq!((principal.subject(), principal.organization()), ("ada", Some("acme")));

    // The published JWKS, read by an independent implementation.
    let response = signed.jwks().oneshot(http::Request::new(())).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let published: Value = serde_json::from_slice(&body).unwrap();
    let jwk = &published["keys"][0];
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"], &jwk["use"], &jwk["kid"]),
        (&json!("EC"), &json!("P-256"), &json!("ES256"), &json!("sig"), &json!("e1"))
    );
    assert_eq!((jwk["x"].as_str().unwrap().len(), jwk["y"].as_str().unwrap().len()), (43, 43));
    assert!(jwk.get("d").is_none());
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&body).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[API]);
    validation.validate_exp = false; // the test's clock is in 2027
    let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &validation).unwrap().claims;
    assert_eq!((&claims["sub"], &claims["jti"]), (&json!("ada"), &json!(issued.id().as_str())));
    // The fixture's SPKI PEM is the published key.
    let from_pem = jsonwebtoken::DecodingKey::from_ec_pem(ES1_PUBLIC_PEM.as_bytes()).unwrap();
    jsonwebtoken::decode::<Value>(&jwt, &from_pem, &validation).unwrap();

    // And the other way round: ES256 signed elsewhere, admitted here.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("e1".into());
    header.typ = Some("at+jwt".into());
    let exp = 1_800_000_600;
    let foreign = jsonwebtoken::encode(
        &header,
        &json!({ "iss": ISSUER, "aud": API, "sub": "bob", "exp": exp, "jti": "t-1", "scope": "read" }),
        &jsonwebtoken::EncodingKey::from_ec_pem(ES1.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(reason(&layer, &foreign).await, ADMITTED);
}

#[tokio::test]
async fn es256_signatures_in_der_or_of_the_wrong_length_are_refused() {
    let clock = clock();
    let signed = tokens(&clock, KeySet::new(es("e1")).unwrap());
    let layer = BearerAuthLayer::new(signed.clone()).clock(clock.clone());
    let jwt = issue(&signed).await;
    assert_eq!(reason(&layer, &jwt).await, ADMITTED);
    let rs = signature(&jwt);
    let der = der(&rs);
    // The same signature, really: only its encoding differs.
    assert_eq!(
        p256::ecdsa::Signature::from_der(&der).unwrap(),
        p256::ecdsa::Signature::from_slice(&rs).unwrap()
    );
    let mut flipped = rs.clone();
    flipped[63] ^= 1;
    for (name, bytes) in [
        ("DER", der.clone()),
        ("truncated to 63 bytes", rs[..63].to_vec()),
        ("r alone", rs[..32].to_vec()),
        ("one byte more", [&rs[..], &[0]].concat()),
        ("empty", Vec::new()),
        ("zero r and s", vec![0; 64]),
        ("r and s beyond the order", vec![0xff; 64]),
        ("one bit flipped", flipped),
    ] {
        assert_eq!(reason(&layer, &resigned(&jwt, &bytes)).await, REFUSED, "{name}");
    }
    let (signed_part, _) = jwt.rsplit_once('.').unwrap();
    assert_eq!(reason(&layer, &format!("{signed_part}.not+base64url")).await, REFUSED, "not base64url");
}

#[tokio::test]
async fn an_algorithm_other_than_the_keys_own_is_refused() {
    let clock = clock();
    // The same `kid` on an Ed25519 key for the verifier, a P-256 key for the forger, and the
    // other way round.
    let ed_verifier = tokens(&clock, KeySet::new(ed("k1")).unwrap());
    let es_verifier = tokens(&clock, KeySet::new(es("k1")).unwrap());
    let es_token = issue(&es_verifier).await;
    let ed_token = issue(&ed_verifier).await;
    let ed_layer = BearerAuthLayer::new(ed_verifier).clock(clock.clone());
    let es_layer = BearerAuthLayer::new(es_verifier).clock(clock.clone());
    assert_eq!(reason(&ed_layer, &ed_token).await, ADMITTED);
    assert_eq!(reason(&es_layer, &es_token).await, ADMITTED);
    assert_eq!(reason(&ed_layer, &es_token).await, REFUSED, "ES256 header over an Ed25519 key");
    assert_eq!(reason(&es_layer, &ed_token).await, REFUSED, "EdDSA header over a P-256 key");

    // A header that lies: `ES256` over the Ed25519 token's own signature.
    let (_, rest) = ed_token.split_once('.').unwrap();
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" }).to_string());
    assert_eq!(reason(&ed_layer, &format!("{header}.{rest}")).await, REFUSED, "relabelled");
}

#[tokio::test]
async fn private_jwks_round_trip_through_signing_and_the_published_jwk() {
    let clock = clock();
    for (jwk, algorithm) in
        [(es_private_jwk("e1"), Algorithm::ES256), (ed_private_jwk("d1"), Algorithm::EdDSA)]
    {
        let key = SigningKey::from_jwk(&jwk).unwrap();
        assert_eq!(
            (key.kid(), key.algorithm(), key.can_sign()),
            (jwk["kid"].as_str().unwrap(), algorithm, true)
        );
        let issuer_keys = KeySet::new(key).unwrap();
        // The public JWK published for it is the private one without `d`.
        let public = issuer_keys.jwks()["keys"][0].clone();
        let mut expected = jwk.clone();
        expected.as_object_mut().unwrap().remove("d");
        assert_eq!(public, expected);

        let issuer = tokens(&clock, issuer_keys);
        let jwt = issue(&issuer).await;
        let verifier_key = SigningKey::from_jwk(&public).unwrap();
        assert!(!verifier_key.can_sign());
        let verifier = tokens(&clock, KeySet::verify_only([verifier_key]).unwrap());
        let layer = BearerAuthLayer::new(verifier).clock(clock.clone());
        assert_eq!(reason(&layer, &jwt).await, ADMITTED, "{algorithm:?}");
    }

    // An HMAC secret as a JWK: only with `alg: HS256`, never published.
    let k = URL_SAFE_NO_PAD.encode(SECRET);
    let hs = SigningKey::from_jwk(&json!({ "kty": "oct", "alg": "HS256", "k": k, "kid": "h1" })).unwrap();
    assert_eq!((hs.kid(), hs.algorithm()), ("h1", Algorithm::HS256));
    let issuer_keys = KeySet::new(hs).unwrap();
    assert_eq!(issuer_keys.jwks(), json!({ "keys": [] }));
    let jwt = issue(&tokens(&clock, issuer_keys)).await;
    let verifier = tokens(&clock, KeySet::new(SigningKey::hs256("h1", SECRET).unwrap()).unwrap());
    assert_eq!(reason(&BearerAuthLayer::new(verifier).clock(clock.clone()), &jwt).await, ADMITTED);
}

#[test]
fn from_jwk_refuses_other_keys_and_shows_no_material() {
    let es = es_private_jwk("e1");
    let ed = ed_private_jwk("d1");
    let other_ed = {
        let mut jwk = ed_private_jwk("d1");
        jwk["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
        jwk
    };
    let with = |base: &Value, changes: Value| {
        let mut jwk = base.clone();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                jwk.as_object_mut().unwrap().remove(name);
            } else {
                jwk[name] = value.clone();
            }
        }
        jwk
    };
    let k = URL_SAFE_NO_PAD.encode(SECRET);
    let cases = [
        ("not an object", json!("a key")),
        ("an array", json!([es])),
        ("no kty", with(&es, json!({ "kty": null }))),
        ("kty not a string", with(&es, json!({ "kty": 2 }))),
        ("RSA of 288 bits", rsa()),
        ("P-384", with(&es, json!({ "crv": "P-384" }))),
        ("secp256k1", with(&es, json!({ "crv": "secp256k1", "alg": "ES256K" }))),
        ("X25519", with(&ed, json!({ "crv": "X25519" }))),
        ("no crv", with(&es, json!({ "crv": null }))),
        ("EC with alg EdDSA", with(&es, json!({ "alg": "EdDSA" }))),
        ("EC with alg HS256", with(&es, json!({ "alg": "HS256" }))),
        ("OKP with alg ES256", with(&ed, json!({ "alg": "ES256" }))),
        ("alg not a string", with(&es, json!({ "alg": ["ES256"] }))),
        ("no kid", with(&es, json!({ "kid": null }))),
        ("empty kid", with(&es, json!({ "kid": "" }))),
        ("kid not a string", with(&es, json!({ "kid": 1 }))),
        ("use enc", with(&es, json!({ "use": "enc" }))),
        ("key_ops for encryption", with(&es, json!({ "key_ops": ["encrypt"] }))),
        ("Ed25519 d of another key", other_ed),
        ("P-256 d of another key", with(&es, json!({ "d": URL_SAFE_NO_PAD.encode([7u8; 32]) }))),
        ("P-256 d of zero", with(&es, json!({ "d": URL_SAFE_NO_PAD.encode([0u8; 32]) }))),
        ("P-256 d padded", with(&es, json!({ "d": format!("{}=", es["d"].as_str().unwrap()) }))),
        ("P-256 d short", with(&es, json!({ "d": &es["d"].as_str().unwrap()[..40] }))),
        ("P-256 x not on the curve", with(&es, json!({ "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "d": null }))),
        ("P-256 no y", with(&es, json!({ "y": null }))),
        ("Ed25519 x of 31 bytes", with(&ed, json!({ "x": URL_SAFE_NO_PAD.encode([9u8; 31]), "d": null }))),
        ("oct without alg", json!({ "kty": "oct", "k": k, "kid": "h" })),
        ("oct for HS512", json!({ "kty": "oct", "alg": "HS512", "k": k, "kid": "h" })),
        (
            "oct too short",
            json!({ "kty": "oct", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(b"short secret"), "kid": "h" }),
        ),
        ("oct without kid", json!({ "kty": "oct", "alg": "HS256", "k": k })),
    ];
    for (name, jwk) in cases {
        let error = SigningKey::from_jwk(&jwk).expect_err(name);
        shows_no_material(&format!("{error} {error:?}"), &jwk);
        shows_no_material(&format!("{error} {error:?}"), &es);
        shows_no_material(&format!("{error} {error:?}"), &ed);
        assert!(!format!("{error}").contains(&k), "{name}");
    }
}

#[tokio::test]
async fn a_verify_only_set_from_the_jwks_verifies_every_key_and_cannot_sign() {
    let clock = clock();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    // One issuer, rotating from Ed25519 to P-256: both keys published.
    let ed_issuer =
        SignedTokens::new(store.clone(), KeySet::new(ed("k1")).unwrap().verify_with(es("k2")), ISSUER, API);
    let es_issuer =
        SignedTokens::new(store, KeySet::new(es("k2")).unwrap().verify_with(ed("k1")), ISSUER, API);
    let published = KeySet::new(ed("k1")).unwrap().verify_with(es("k2")).jwks();
    assert_eq!(published["keys"].as_array().unwrap().len(), 2);
    let ed_jwt = issue(&ed_issuer).await;
    let es_jwt = issue(&es_issuer).await;

    let keys = KeySet::from_jwks(&published).unwrap();
    assert!(keys.signing_key().is_none());
    assert_eq!(keys.jwks(), published, "what was read is what is published again");
    assert!(format!("{keys:?}").contains("k2"));
    let verifier = tokens(&clock, keys);
    let layer = BearerAuthLayer::new(verifier.clone()).clock(clock.clone());
    assert_eq!(reason(&layer, &ed_jwt).await, ADMITTED, "Ed25519");
    assert_eq!(reason(&layer, &es_jwt).await, ADMITTED, "ES256");

    // Issuing through a set with no signing key is an error, not a panic.
    assert!(verifier.issue(NewToken::for_subject("ada")).await.is_err());

    // Private keys given to a verify-only set only verify.
    let keys = KeySet::verify_only([es("k2"), ed("k1")]).unwrap();
    assert!(keys.signing_key().is_none());
    assert!(tokens(&clock, keys).issue(NewToken::for_subject("ada")).await.is_err());
    assert!(KeySet::verify_only([]).is_err(), "no key");
    assert!(KeySet::verify_only([es("k"), ed("k")]).is_err(), "one kid, two keys");
}

#[test]
fn from_jwks_refuses_secrets_private_keys_and_junk_and_shows_no_material() {
    let ed_public = KeySet::new(ed("k1")).unwrap().jwks()["keys"][0].clone();
    let es_public = KeySet::new(es("k2")).unwrap().jwks()["keys"][0].clone();
    let oct = json!({ "kty": "oct", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(SECRET), "kid": "h" });
    let rsa = rsa();
    let mut rs512 = rsa.clone();
    rs512["alg"] = json!("RS512");
    let mut p384 = es_public.clone();
    p384["crv"] = json!("P-384");
    p384["kid"] = json!("p");
    let mut encryption = es_public.clone();
    encryption["use"] = json!("enc");
    encryption["kid"] = json!("enc");
    // Without a `kid`, a key is named by its thumbprint, which needs its members.
    let mut no_kid_nor_x = es_public.clone();
    no_kid_nor_x.as_object_mut().unwrap().remove("kid");
    no_kid_nor_x.as_object_mut().unwrap().remove("x");
    let mut empty_kid = es_public.clone();
    empty_kid["kid"] = json!("");
    let mut off_curve = es_public.clone();
    off_curve["y"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
    let mut twin = ed_public.clone();
    twin["kid"] = json!("k2");

    for (name, jwks) in [
        ("an oct key beside a good one", json!({ "keys": [ed_public, oct] })),
        ("oct without alg", json!({ "keys": [ed_public, { "kty": "oct", "k": oct["k"], "kid": "h" }] })),
        ("a private Ed25519 key", json!({ "keys": [ed_private_jwk("k1")] })),
        ("a private P-256 key", json!({ "keys": [ed_public, es_private_jwk("k2")] })),
        ("null", Value::Null),
        ("a string", json!("keys")),
        ("an array", json!([ed_public])),
        ("no keys", json!({})),
        ("keys not an array", json!({ "keys": ed_public })),
        ("a member not an object", json!({ "keys": [ed_public, "k2"] })),
        ("empty", json!({ "keys": [] })),
        ("only a P-384 key", json!({ "keys": [p384] })),
        ("only a short RSA key and an encryption key", json!({ "keys": [rsa, encryption] })),
        ("a key without kid nor x", json!({ "keys": [ed_public, no_kid_nor_x] })),
        ("an empty kid", json!({ "keys": [ed_public, empty_kid] })),
        ("a point off the curve", json!({ "keys": [ed_public, off_curve] })),
        ("two keys under one kid", json!({ "keys": [es_public, twin] })),
    ] {
        let error = KeySet::from_jwks(&jwks).expect_err(name);
        let shown = format!("{error} {error:?}");
        for jwk in [&oct, &ed_private_jwk("k1"), &es_private_jwk("k2")] {
            shows_no_material(&shown, jwk);
        }
    }

    // Skipped, not refused: keys of other kinds or uses beside a usable one.
    let keys = KeySet::from_jwks(&json!({ "keys": [rs512, p384, encryption, es_public] })).unwrap();
    assert_eq!(keys.jwks(), json!({ "keys": [es_public] }));
}

#[test]
fn es256_keys_load_from_every_form_and_never_show_material() {
    let pkcs8 = es("e1");
    let sec1 = SigningKey::es256_pem("e2", ES2_SEC1).unwrap();
    let spki = SigningKey::es256_public_pem("e1", ES1_PUBLIC_PEM).unwrap();
    assert_eq!(
        (pkcs8.algorithm(), sec1.algorithm(), spki.algorithm()),
        (Algorithm::ES256, Algorithm::ES256, Algorithm::ES256)
    );
    assert_eq!(Algorithm::ES256.name(), "ES256");
    assert!(pkcs8.can_sign() && sec1.can_sign() && !spki.can_sign());
    let published = KeySet::new(es("e1")).unwrap().jwks()["keys"][0].clone();
    assert_eq!(KeySet::verify_only([spki]).unwrap().jwks()["keys"][0], published, "SPKI PEM is the same key");

    // SEC1 points, uncompressed and compressed.
    let point = p256::SecretKey::from_pkcs8_pem(ES1).unwrap().public_key();
    for compress in [false, true] {
        let bytes = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&point, compress);
        let key = SigningKey::es256_public("e1", bytes.as_ref()).unwrap();
        assert_eq!(KeySet::verify_only([key]).unwrap().jwks()["keys"][0], published);
    }
    assert!(SigningKey::es256_public("e", &[4; 65]).is_err(), "not on the curve");
    assert!(SigningKey::es256_public("e", &[]).is_err());

    // Other curves and kinds are refused.
    assert!(SigningKey::es256_pem("e", P384).is_err(), "P-384");
    assert!(SigningKey::es256_pem("e", ED1).is_err(), "Ed25519");
    assert!(SigningKey::ed25519_pem("e", ES1).is_err(), "P-256 as Ed25519");
    assert!(SigningKey::es256_public_pem("e", ES1).is_err(), "a private key as a public one");
    assert!(SigningKey::es256_pem("e", "").is_err());

    // From the environment: the error says nothing of the value.
    assert!(SigningKey::es256_from_env("e", "TOWER_BEARER_JWT_TEST_NEVER_SET").is_err());
    if let Ok(path) = std::env::var("PATH") {
        let error = SigningKey::es256_from_env("e", "PATH").unwrap_err().to_string();
        assert!(path.len() < 8 || !error.contains(&path), "{error}");
    }

    // Debug shows the kid and the algorithm, never the key.
    let d = URL_SAFE_NO_PAD.encode(p256::SecretKey::from_pkcs8_pem(ES1).unwrap().to_bytes());
    let body: String = ES1.lines().filter(|l| !l.starts_with("-----")).collect();
    let sec1_body: String = ES2_SEC1.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut shown = format!("{pkcs8:?} {sec1:?}");
    shown.push_str(&format!(" {:?}", KeySet::new(es("e3")).unwrap().verify_with(sec1)));
    assert!(shown.contains("e1") && shown.contains("ES256"), "{shown}");
    for material in [&d[..], &body[..], &sec1_body[..], &body[body.len() - 24..], &sec1_body[20..44]] {
        assert!(!shown.contains(material), "{shown}");
    }
    let from_jwk = SigningKey::from_jwk(&es_private_jwk("e4")).unwrap();
    shows_no_material(&format!("{from_jwk:?}"), &es_private_jwk("e4"));
}
