//! JWKs (RFC 7517) into [`SigningKey`]s: the members each kind of key needs, checked, and
//! the kinds this crate does not take told apart from malformed keys.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::base64url;
use crate::key::{Algorithm, KeyError, Material, SigningKey};

impl SigningKey {
    /// A key from its JWK (RFC 7517), `kid` included (required):
    ///
    /// - `{"kty":"OKP","crv":"Ed25519","x":…}` (RFC 8037), private with `d`;
    /// - `{"kty":"EC","crv":"P-256","x":…,"y":…}` (RFC 7518 §6.2), private with `d`;
    /// - `{"kty":"oct","alg":"HS256","k":…}`: a shared secret, only when `alg` says HS256, so
    ///   that a secret meant for another algorithm is never taken for an HMAC key;
    /// - `{"kty":"RSA","n":…,"e":…}` (RFC 7518 §6.3): a public key of 2048 to 8192 bits, for
    ///   RS256 and PS256, or the one its `alg` names (verification only).
    ///
    /// `alg`, `use` and `key_ops`, when present, must allow this key's signatures. For a
    /// private key, `x` (and `y`) must be its own public key.
    ///
    /// # Errors
    ///
    /// For any other key (other curves, an RSA private key, an `alg` of another algorithm)
    /// or a malformed one; the error never contains key material.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let jwk = jwk.as_object().ok_or(KeyError::new("a JWK is a JSON object"))?;
        // A private key limited to `verify` still makes a key that verifies.
        if !usable(jwk, &["sign", "verify"])? {
            return Err(KeyError::new("the JWK's `use` or `key_ops` is not for signatures"));
        }
        match kind(jwk)? {
            Kind::Ed25519 => ed25519_jwk(kid(jwk)?, jwk),
            Kind::P256 => p256_jwk(kid(jwk)?, jwk),
            Kind::Hs256 => {
                let secret = bytes(jwk, "k", "an HS256 JWK's `k` must be base64url")?;
                Self::hs256(kid(jwk)?, &secret)
            }
            Kind::Rsa(only) => rsa_jwk(kid(jwk)?, jwk, only),
            Kind::Unsupported(why) => Err(KeyError::new(why)),
        }
    }

    /// The key a JWKS member describes, for verification only: `None` for a member that is
    /// not an Ed25519, P-256 or RSA signature key (other curves, `use: "enc"`), skipped. A
    /// member without a `kid` (RFC 7517 makes it optional) is named by its RFC 7638
    /// thumbprint, so that the set holds it: a token without a `kid` is verified by the one
    /// key of the set for its algorithm.
    ///
    /// A secret (`oct`) or private (`d`) member is an error rather than skipped: a published
    /// secret is a leaked one, and the set's owner must hear about it.
    pub(crate) fn from_published_jwk(jwk: &Value) -> Result<Option<Self>, KeyError> {
        let jwk = jwk.as_object().ok_or(KeyError::new("a JWKS member is not a JSON object"))?;
        if jwk.get("kty").and_then(Value::as_str) == Some("oct") {
            return Err(KeyError::new("a JWKS never holds secret (`oct`) keys: this one is published"));
        }
        if jwk.contains_key("d") {
            return Err(KeyError::new("a JWKS never holds private keys: this one is published"));
        }
        if !usable(jwk, &["verify"])? {
            return Ok(None);
        }
        let kid = || match jwk.get("kid") {
            None => {
                thumbprint(jwk).ok_or(KeyError::new("a JWK without a `kid` lacks the members of its key"))
            }
            Some(_) => kid(jwk),
        };
        match kind(jwk)? {
            Kind::Ed25519 => ed25519_jwk(kid()?, jwk).map(Some),
            Kind::P256 => p256_jwk(kid()?, jwk).map(Some),
            Kind::Rsa(only) => rsa_jwk(kid()?, jwk, only).map(Some),
            Kind::Hs256 | Kind::Unsupported(_) => Ok(None),
        }
    }

    /// The key a DPoP proof's header carries (RFC 9449 §4.3): a public Ed25519, P-256 or RSA
    /// key, `kid` optional. Private members, secrets and other kinds are refused.
    pub(crate) fn from_proof_jwk(jwk: &Map<String, Value>) -> Result<Self, KeyError> {
        if has_private_members(jwk) {
            return Err(KeyError::new("a DPoP proof's key must be public"));
        }
        const KID: &str = "dpop";
        match kind(jwk)? {
            Kind::Ed25519 => ed25519_jwk(KID.into(), jwk),
            Kind::P256 => p256_jwk(KID.into(), jwk),
            Kind::Rsa(only) => rsa_jwk(KID.into(), jwk, only),
            Kind::Hs256 | Kind::Unsupported(_) => Err(KeyError::new("not a public signature key")),
        }
    }
}

/// Whether `jwk` has any private member of RFC 7518 (`d`, and RSA's primes and exponents, or
/// a secret `k`): a client that sends one in a proof has leaked its key, and the proof proves
/// nothing.
pub(crate) fn has_private_members(jwk: &Map<String, Value>) -> bool {
    ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].iter().any(|m| jwk.contains_key(*m))
}

/// The RFC 7638 SHA-256 thumbprint (base64url) of a public JWK: the SHA-256 of its required
/// members (by `kty`), in lexicographic order, as JSON without whitespace. `None` for a JWK
/// without them.
pub(crate) fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let required: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in required.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        // Names and values as JSON strings: `serde_json` escapes as RFC 8259 requires, and
        // base64url and the names need no escaping anyway.
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())))
}

/// The key kinds a JWK can describe, as far as this crate is concerned.
enum Kind {
    Ed25519,
    P256,
    Hs256,
    /// An RSA key, for the one algorithm given, or both RSA ones.
    Rsa(Option<Algorithm>),
    /// Well-formed, but not a key this crate uses: why.
    Unsupported(&'static str),
}

/// What kind of key `jwk` is, from `kty`, `crv` and `alg`.
fn kind(jwk: &Map<String, Value>) -> Result<Kind, KeyError> {
    let member = |name: &str, malformed: &'static str| match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(KeyError::new(malformed)),
    };
    let kty = member("kty", "a JWK's `kty` is a string")?.ok_or(KeyError::new("a JWK needs a `kty`"))?;
    let crv = member("crv", "a JWK's `crv` is a string")?;
    let alg = member("alg", "a JWK's `alg` is a string")?;
    Ok(match (kty, crv) {
        ("OKP", Some("Ed25519")) => match alg {
            // "Ed25519" is the fully specified name of RFC 9864 for the same signatures.
            None | Some("EdDSA" | "Ed25519") => Kind::Ed25519,
            Some(_) => Kind::Unsupported("the JWK's `alg` is not EdDSA, for an Ed25519 key"),
        },
        ("EC", Some("P-256")) => match alg {
            None | Some("ES256") => Kind::P256,
            Some(_) => Kind::Unsupported("the JWK's `alg` is not ES256, for a P-256 key"),
        },
        // The bytes of `k` say nothing of what they are for: only an explicit HS256 makes them
        // an HMAC key.
        ("oct", _) => match alg {
            Some("HS256") => Kind::Hs256,
            _ => Kind::Unsupported("a secret (`oct`) JWK is taken only with `alg: HS256`"),
        },
        ("OKP", _) => Kind::Unsupported("of the OKP curves, only Ed25519 is supported"),
        ("EC", _) => Kind::Unsupported("of the EC curves, only P-256 is supported"),
        ("RSA", _) => match alg {
            None => Kind::Rsa(None),
            Some("RS256") => Kind::Rsa(Some(Algorithm::RS256)),
            Some("PS256") => Kind::Rsa(Some(Algorithm::PS256)),
            Some(_) => Kind::Unsupported("the JWK's `alg` is not RS256 or PS256, for an RSA key"),
        },
        _ => Kind::Unsupported("the JWK's `kty` is not supported"),
    })
}

/// Whether `use` and `key_ops` (RFC 7517 §4.2, §4.3), when present, allow one of `ops`.
fn usable(jwk: &Map<String, Value>, ops: &[&str]) -> Result<bool, KeyError> {
    let use_ok = match jwk.get("use") {
        None => true,
        Some(Value::String(use_)) => use_ == "sig",
        Some(_) => return Err(KeyError::new("a JWK's `use` is a string")),
    };
    let ops_ok = match jwk.get("key_ops") {
        None => true,
        Some(Value::Array(listed)) => listed.iter().filter_map(Value::as_str).any(|op| ops.contains(&op)),
        Some(_) => return Err(KeyError::new("a JWK's `key_ops` is an array")),
    };
    Ok(use_ok && ops_ok)
}

fn kid(jwk: &Map<String, Value>) -> Result<String, KeyError> {
    match jwk.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok(kid.clone()),
        _ => Err(KeyError::new("a JWK needs a non-empty `kid`")),
    }
}

/// The base64url member `name`, wiped when dropped: it may be a private key or a secret.
fn bytes(
    jwk: &Map<String, Value>,
    name: &str,
    malformed: &'static str,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let text = jwk.get(name).and_then(Value::as_str).ok_or(KeyError::new(malformed))?;
    base64url::decode(text.as_bytes()).map(Zeroizing::new).ok_or(KeyError::new(malformed))
}

/// The member `name` of exactly 32 bytes: RFC 7518 §6.2.1.2 and RFC 8037 §2 require the full
/// length, so a shorter value is a malformed key rather than one to pad.
fn bytes32(
    jwk: &Map<String, Value>,
    name: &str,
    malformed: &'static str,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let bytes = bytes(jwk, name, malformed)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map(Zeroizing::new).map_err(|_| KeyError::new(malformed))
}

fn ed25519_jwk(kid: String, jwk: &Map<String, Value>) -> Result<SigningKey, KeyError> {
    let x = bytes32(jwk, "x", "an Ed25519 JWK's `x` must be 32 bytes of base64url")?;
    if !jwk.contains_key("d") {
        return SigningKey::ed25519_public(kid, &x);
    }
    let d = bytes32(jwk, "d", "an Ed25519 JWK's `d` must be 32 bytes of base64url")?;
    let key = ed25519_dalek::SigningKey::from_bytes(&d);
    if key.verifying_key().as_bytes() != &*x {
        return Err(KeyError::new("the Ed25519 JWK's `x` is not the public key of its `d`"));
    }
    Ok(SigningKey::with(kid, Material::Ed25519Private(Box::new(key))))
}

fn p256_jwk(kid: String, jwk: &Map<String, Value>) -> Result<SigningKey, KeyError> {
    let x = bytes32(jwk, "x", "a P-256 JWK's `x` must be 32 bytes of base64url")?;
    let y = bytes32(jwk, "y", "a P-256 JWK's `y` must be 32 bytes of base64url")?;
    let public = p256::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4][..], &x[..], &y[..]].concat())
        .map_err(|_| KeyError::new("the P-256 JWK's `x` and `y` are not a point of the curve"))?;
    if !jwk.contains_key("d") {
        return Ok(SigningKey::with(kid, Material::Es256Public(public)));
    }
    let d = bytes32(jwk, "d", "a P-256 JWK's `d` must be 32 bytes of base64url")?;
    let key = p256::ecdsa::SigningKey::from_slice(&d[..])
        .map_err(|_| KeyError::new("the P-256 JWK's `d` is not a private key"))?;
    if key.verifying_key() != &public {
        return Err(KeyError::new("the P-256 JWK's `x` and `y` are not the public key of its `d`"));
    }
    Ok(SigningKey::with(kid, Material::Es256Private(Box::new(key))))
}

fn rsa_jwk(kid: String, jwk: &Map<String, Value>, only: Option<Algorithm>) -> Result<SigningKey, KeyError> {
    // The private members (`d`, the primes) are never read: an RSA key here only verifies.
    if jwk.contains_key("d") {
        return Err(KeyError::new("RSA keys are taken for verification only: this JWK is private"));
    }
    let n = bytes(jwk, "n", "an RSA JWK's `n` must be base64url")?;
    let e = bytes(jwk, "e", "an RSA JWK's `e` must be base64url")?;
    SigningKey::rsa_public_for(kid, &n, &e, only)
}
