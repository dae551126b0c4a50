//! [`Jws`] against an independent implementation: tokens `jsonwebtoken` signs with RS256,
//! PS256, ES256 and EdDSA keys verify, tampered ones do not, and no header chooses how its own
//! signature is checked (`none`, HS256 over a public key, an `alg` the key is not for, `crit`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower_bearer_jwt::{Algorithm, AlgorithmPolicy, Jws, JwsError, KeySet, SigningKey};

const RSA1: &str = include_str!("../fixtures/rsa-k1.pem");
const RSA1_PUBLIC_PEM: &str = include_str!("../fixtures/rsa-k1.pub.pem");
const RSA1_JWK: &str = include_str!("../fixtures/rsa-k1.pub.jwk.json");
const ED1: &str = include_str!("../fixtures/ed25519-k1.pem");
const ES1: &str = include_str!("../fixtures/es256-k1.pem");

fn rsa_jwk(kid: &str, alg: Option<&str>) -> Value {
    let mut jwk: Value = serde_json::from_str(RSA1_JWK).unwrap();
    jwk["kid"] = json!(kid);
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

/// The outside issuer's published keys: the RSA key under `r1` (both RSA algorithms), again
/// under `ps` (PS256 only), and the Ed25519 and P-256 fixtures' public halves.
fn outside_keys() -> KeySet {
    let ed = KeySet::new(SigningKey::ed25519_pem("d1", ED1).unwrap()).unwrap().jwks()["keys"][0].clone();
    let es = KeySet::new(SigningKey::es256_pem("e1", ES1).unwrap()).unwrap().jwks()["keys"][0].clone();
    KeySet::from_jwks(&json!({ "keys": [rsa_jwk("r1", None), rsa_jwk("ps", Some("PS256")), ed, es] }))
        .unwrap()
}

fn claims() -> Value {
    json!({ "iss": "https://issuer.example.com", "sub": "ada", "aud": "api", "exp": 4_000_000_000_u64 })
}

fn sign(alg: jsonwebtoken::Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

fn oracle_tokens() -> Vec<(Algorithm, String)> {
    let rsa = EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap();
    vec![
        (Algorithm::RS256, sign(jsonwebtoken::Algorithm::RS256, "r1", &rsa)),
        (Algorithm::PS256, sign(jsonwebtoken::Algorithm::PS256, "r1", &rsa)),
        (Algorithm::PS256, sign(jsonwebtoken::Algorithm::PS256, "ps", &rsa)),
        (
            Algorithm::EdDSA,
            sign(jsonwebtoken::Algorithm::EdDSA, "d1", &EncodingKey::from_ed_pem(ED1.as_bytes()).unwrap()),
        ),
        (
            Algorithm::ES256,
            sign(jsonwebtoken::Algorithm::ES256, "e1", &EncodingKey::from_ec_pem(ES1.as_bytes()).unwrap()),
        ),
    ]
}

/// `token` with its part `index` (0 header, 1 payload, 2 signature) replaced by `part`.
fn with_part(token: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

#[test]
fn tokens_signed_by_jsonwebtoken_verify_and_give_their_payload() {
    let keys = outside_keys();
    for (alg, token) in oracle_tokens() {
        let verified = Jws::verify(&token, &keys, &AlgorithmPolicy::OUTSIDE_ISSUER)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(verified.alg(), alg);
        assert_eq!(verified.typ(), Some("at+jwt"));
        assert_eq!(serde_json::from_slice::<Value>(verified.payload()).unwrap(), claims(), "{alg:?}");
        let header = Jws::split(&token).unwrap().header().unwrap();
        assert_eq!(header.alg, Some(alg));
    }
}

#[test]
fn tampered_tokens_do_not_verify() {
    let keys = outside_keys();
    let mut other_claims = claims();
    other_claims["sub"] = json!("eve");
    let other_payload = URL_SAFE_NO_PAD.encode(other_claims.to_string());
    for (alg, token) in oracle_tokens() {
        let verify = |token: &str| Jws::verify(token, &keys, &AlgorithmPolicy::OUTSIDE_ISSUER).err();
        assert_eq!(verify(&with_part(&token, 1, &other_payload)), Some(JwsError::BadSignature), "{alg:?}");
        // One bit of the signature flipped (its first character, which carries whole bits).
        let signature = token.rsplit('.').next().unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[0] ^= 1;
        let flipped = with_part(&token, 2, &URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(verify(&flipped), Some(JwsError::BadSignature), "{alg:?}");
        assert_eq!(verify(&with_part(&token, 2, "")), Some(JwsError::BadSignature), "{alg:?}");
        assert_eq!(verify(&with_part(&token, 2, "!!")), Some(JwsError::Malformed), "{alg:?}");
    }
}

fn header(value: Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn no_header_chooses_how_its_signature_is_checked() {
    let keys = outside_keys();
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    let outside = |token: &str| Jws::verify(token, &keys, &AlgorithmPolicy::OUTSIDE_ISSUER).err();

    // `none`, unsigned.
    let none = format!("{}.{payload}.", header(json!({ "alg": "none", "kid": "r1" })));
    assert_eq!(outside(&none), Some(JwsError::AlgorithmNotAllowed));
    assert_eq!(Jws::verify(&none, &keys, &AlgorithmPolicy::ALL).err(), Some(JwsError::AlgorithmNotAllowed));

    // HS256 with the RSA key's public forms as the HMAC secret, signed by jsonwebtoken.
    for secret in [RSA1_PUBLIC_PEM.as_bytes(), RSA1_JWK.as_bytes()] {
        let mut hs = Header::new(jsonwebtoken::Algorithm::HS256);
        hs.kid = Some("r1".to_owned());
        let confused =
            jsonwebtoken::encode(&hs, &claims(), &EncodingKey::from_secret(secret).unwrap()).unwrap();
        assert_eq!(outside(&confused), Some(JwsError::AlgorithmNotAllowed));
        // Even a policy that allows HS256 does not check it with an RSA key.
        assert_eq!(
            Jws::verify(&confused, &keys, &AlgorithmPolicy::ALL).err(),
            Some(JwsError::KeyAlgorithmMismatch)
        );
    }

    // An allowed algorithm the named key is not for: RS256 under the PS256-only key, EdDSA
    // under an RSA key; and an algorithm the policy leaves out.
    let rsa = EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap();
    let rs_under_ps = sign(jsonwebtoken::Algorithm::RS256, "ps", &rsa);
    assert_eq!(outside(&rs_under_ps), Some(JwsError::KeyAlgorithmMismatch));
    let ed = sign(jsonwebtoken::Algorithm::EdDSA, "r1", &EncodingKey::from_ed_pem(ED1.as_bytes()).unwrap());
    assert_eq!(outside(&ed), Some(JwsError::KeyAlgorithmMismatch));
    let rs = sign(jsonwebtoken::Algorithm::RS256, "r1", &rsa);
    let only_ed = AlgorithmPolicy::only([Algorithm::EdDSA]);
    assert_eq!(Jws::verify(&rs, &keys, &only_ed).err(), Some(JwsError::AlgorithmNotAllowed));
    // Other RSA algorithms are not this crate's.
    let rs384 = sign(jsonwebtoken::Algorithm::RS384, "r1", &rsa);
    assert_eq!(outside(&rs384), Some(JwsError::AlgorithmNotAllowed));

    // `crit`, whatever it holds; a missing or unknown `kid`.
    let signature = rs.rsplit('.').next().unwrap();
    for crit in [json!(["exp"]), json!([]), Value::Null] {
        let token =
            format!("{}.{payload}.{signature}", header(json!({ "alg": "RS256", "kid": "r1", "crit": crit })));
        assert_eq!(outside(&token), Some(JwsError::CriticalHeader), "{crit}");
    }
    // Without a `kid`, PS256 could be either RSA key's: the token must say which.
    let no_kid = format!("{}.{payload}.{signature}", header(json!({ "alg": "PS256" })));
    assert_eq!(outside(&no_kid), Some(JwsError::MissingKid));
    let unknown = format!("{}.{payload}.{signature}", header(json!({ "alg": "RS256", "kid": "r9" })));
    assert_eq!(outside(&unknown), Some(JwsError::UnknownKey));
    for malformed in ["", "a.b", "a.b.c.d", "!.e30.", "e30.e30.", "W10.e30."] {
        assert_eq!(outside(malformed), Some(JwsError::Malformed), "{malformed}");
    }
}

/// `jsonwebtoken`'s token of `alg` without a `kid` (RFC 7515 makes it optional).
fn sign_without_kid(alg: jsonwebtoken::Algorithm, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

#[test]
fn a_token_without_a_kid_is_verified_by_the_one_key_for_its_algorithm() {
    let keys = outside_keys();
    let verify = |token: &str| Jws::verify(token, &keys, &AlgorithmPolicy::ALL).map(|v| v.alg());
    let rsa = EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap();
    let ed = EncodingKey::from_ed_pem(ED1.as_bytes()).unwrap();
    let es = EncodingKey::from_ec_pem(ES1.as_bytes()).unwrap();
    // One key of the set for each of these algorithms.
    assert_eq!(verify(&sign_without_kid(jsonwebtoken::Algorithm::EdDSA, &ed)), Ok(Algorithm::EdDSA));
    assert_eq!(verify(&sign_without_kid(jsonwebtoken::Algorithm::ES256, &es)), Ok(Algorithm::ES256));
    assert_eq!(verify(&sign_without_kid(jsonwebtoken::Algorithm::RS256, &rsa)), Ok(Algorithm::RS256));
    // Two keys verify PS256 (`r1` and `ps`): refused without a try, even though both would do.
    let ps = sign_without_kid(jsonwebtoken::Algorithm::PS256, &rsa);
    assert_eq!(verify(&ps), Err(JwsError::MissingKid));
    // Signed by another key than the one of its algorithm: a bad signature, no other key tried.
    let other_ed = KeySet::new(SigningKey::ed25519_generate("x").unwrap()).unwrap();
    let forged =
        Jws::verify(&sign_without_kid(jsonwebtoken::Algorithm::EdDSA, &ed), &other_ed, &AlgorithmPolicy::ALL);
    assert_eq!(forged.err(), Some(JwsError::BadSignature));
    // No key for the algorithm at all: unknown (a verifier of an outside issuer fetches again).
    let only_rsa = KeySet::from_jwks(&json!({ "keys": [rsa_jwk("r1", None)] })).unwrap();
    let ed_token = sign_without_kid(jsonwebtoken::Algorithm::EdDSA, &ed);
    assert_eq!(Jws::verify(&ed_token, &only_rsa, &AlgorithmPolicy::ALL).err(), Some(JwsError::UnknownKey));
}

#[test]
fn a_published_key_without_a_kid_is_named_by_its_thumbprint() {
    let mut jwk = KeySet::new(SigningKey::ed25519_pem("d1", ED1).unwrap()).unwrap().jwks()["keys"][0].clone();
    jwk.as_object_mut().unwrap().remove("kid");
    let keys = KeySet::from_jwks(&json!({ "keys": [jwk.clone()] })).unwrap();
    let thumbprint = SigningKey::ed25519_pem("d1", ED1).unwrap().thumbprint().unwrap();
    assert_eq!(keys.jwks()["keys"][0]["kid"], json!(thumbprint));
    assert!(
        KeySet::from_jwks_lenient(&json!({ "keys": [jwk] })).unwrap().jwks()["keys"][0]["kid"]
            == json!(thumbprint)
    );
    let ed = EncodingKey::from_ed_pem(ED1.as_bytes()).unwrap();
    for token in [
        sign_without_kid(jsonwebtoken::Algorithm::EdDSA, &ed),
        sign(jsonwebtoken::Algorithm::EdDSA, &thumbprint, &ed),
    ] {
        assert_eq!(Jws::verify(&token, &keys, &AlgorithmPolicy::ALL).map(|v| v.alg()), Ok(Algorithm::EdDSA));
    }
}

#[test]
fn rsa_keys_load_from_jwks_and_show_in_them() {
    let keys = KeySet::from_jwks(&json!({ "keys": [rsa_jwk("ps", Some("PS256"))] })).unwrap();
    assert_eq!(keys.jwks(), json!({ "keys": [rsa_jwk("ps", Some("PS256"))] }));
    let key = SigningKey::from_jwk(&rsa_jwk("r1", None)).unwrap();
    assert!(!key.can_sign());
    assert!(
        key.verifies(Algorithm::RS256) && key.verifies(Algorithm::PS256) && !key.verifies(Algorithm::HS256)
    );
    // Another RSA algorithm is skipped in a JWKS, refused alone; a private RSA JWK is refused.
    let rs512 = rsa_jwk("r5", Some("RS512"));
    assert!(SigningKey::from_jwk(&rs512).is_err());
    assert!(KeySet::from_jwks(&json!({ "keys": [rs512, rsa_jwk("r1", None)] })).is_ok());
    let mut private = rsa_jwk("r1", None);
    private["d"] = json!("AQAB");
    assert!(SigningKey::from_jwk(&private).is_err());
    // A 1024-bit modulus is under RFC 7518's 2048.
    let n = URL_SAFE_NO_PAD.decode(rsa_jwk("r1", None)["n"].as_str().unwrap()).unwrap();
    assert!(SigningKey::rsa_public("short", &n[..128], &[1, 0, 1]).is_err());
    assert!(SigningKey::rsa_public("r1", &n, &[1, 0, 1]).is_ok());
}

#[test]
fn a_lenient_set_skips_what_it_cannot_use() {
    let oct = json!({ "kty": "oct", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode([7; 32]), "kid": "h" });
    let keys = KeySet::from_jwks_lenient(&json!({ "keys": [
        oct, "junk", { "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "small" },
        rsa_jwk("twice", None), rsa_jwk("twice", Some("RS256")), rsa_jwk("r1", None),
    ] }))
    .unwrap();
    assert_eq!(keys.jwks(), json!({ "keys": [rsa_jwk("r1", None)] }));
    assert!(KeySet::from_jwks_lenient(&json!({ "keys": [] })).unwrap().is_empty());
    assert!(KeySet::from_jwks_lenient(&json!([])).is_err());
}

proptest! {
    #[test]
    fn any_input_gets_an_answer_never_a_panic(token in "[A-Za-z0-9_.-]{0,300}", alg in "[A-Za-z0-9]{0,6}") {
        let keys = outside_keys();
        let _ = Jws::verify(&token, &keys, &AlgorithmPolicy::ALL);
        let forged = format!("{}.{}.{}", header(json!({ "alg": alg, "kid": "r1" })), token, token);
        prop_assert!(Jws::verify(&forged, &keys, &AlgorithmPolicy::ALL).is_err());
    }
}
