//! [`SigningKey`]: a key with its `kid`, that signs tokens, or only verifies them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::DecodePublicKey as _;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Why a key could not be loaded. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(&'static str);

impl KeyError {
    pub(crate) fn new(what: &'static str) -> Self {
        KeyError(what)
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for KeyError {}

/// The algorithms this crate signs and verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 (`EdDSA`): the default.
    EdDSA,
    /// ECDSA on P-256 with SHA-256 (`ES256`), for verifiers without Ed25519; signatures are
    /// the 64-byte `r || s` of RFC 7518 §3.4.
    ES256,
    /// HMAC-SHA-256 (`HS256`), with a secret shared by every verifier: never published.
    HS256,
}

impl Algorithm {
    /// The JOSE name (`alg`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::HS256 => "HS256",
        }
    }
}

enum Material {
    Ed25519Private(Box<ed25519_dalek::SigningKey>),
    Ed25519Public(ed25519_dalek::VerifyingKey),
    Es256Private(Box<p256::ecdsa::SigningKey>),
    Es256Public(p256::ecdsa::VerifyingKey),
    Hs256(Zeroizing<Box<[u8]>>),
}

/// A key and its `kid`: one that signs (a private Ed25519 or P-256 key, an HMAC secret) or
/// only verifies (a public key). `Debug` shows the `kid` and algorithm, never the key.
pub struct SigningKey {
    kid: String,
    material: Material,
}

impl SigningKey {
    fn with(kid: impl Into<String>, material: Material) -> Self {
        SigningKey { kid: kid.into(), material }
    }

    /// An Ed25519 private key from PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
    ///
    /// # Errors
    ///
    /// If `pem` is not one.
    pub fn ed25519_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|_| KeyError("not an Ed25519 PKCS#8 PEM key"))?;
        Ok(Self::with(kid, Material::Ed25519Private(Box::new(key))))
    }

    /// A new Ed25519 private key from the operating system's random number generator, for a
    /// process that signs for as long as it runs (verifiers take its public half from the
    /// JWKS). A key that must outlive the process is made with `openssl genpkey -algorithm
    /// ed25519` and loaded with [`ed25519_pem`](Self::ed25519_pem).
    ///
    /// # Errors
    ///
    /// If the operating system has no random numbers to give.
    pub fn ed25519_generate(kid: impl Into<String>) -> Result<Self, KeyError> {
        let mut seed = zeroize::Zeroizing::new([0_u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|_| KeyError("the system random number generator failed"))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        Ok(Self::with(kid, Material::Ed25519Private(Box::new(key))))
    }

    /// An Ed25519 public key (32 bytes), for verification only: a retired signing key, or
    /// another service's.
    ///
    /// # Errors
    ///
    /// If the bytes are not a valid public key.
    pub fn ed25519_public(kid: impl Into<String>, key: &[u8; 32]) -> Result<Self, KeyError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(key)
            .map_err(|_| KeyError("not an Ed25519 public key"))?;
        Ok(Self::with(kid, Material::Ed25519Public(key)))
    }

    /// A P-256 private key for ES256, from PEM: PKCS#8 (`-----BEGIN PRIVATE KEY-----`, from
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`) or SEC1
    /// (`-----BEGIN EC PRIVATE KEY-----`, from `openssl ecparam -name prime256v1 -genkey`).
    ///
    /// Signatures are deterministic (RFC 6979): signing needs no random numbers.
    ///
    /// # Errors
    ///
    /// If `pem` is neither, or holds a key on another curve.
    pub fn es256_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .or_else(|_| p256::SecretKey::from_sec1_pem(pem).map(p256::ecdsa::SigningKey::from))
            .map_err(|_| KeyError("not a P-256 private key in PKCS#8 or SEC1 PEM"))?;
        Ok(Self::with(kid, Material::Es256Private(Box::new(key))))
    }

    /// A P-256 public key for ES256, as a SEC1 point (65 bytes `04 || x || y`, or the 33-byte
    /// compressed form), for verification only.
    ///
    /// # Errors
    ///
    /// If the bytes are not a point of the curve.
    pub fn es256_public(kid: impl Into<String>, sec1: &[u8]) -> Result<Self, KeyError> {
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
            .map_err(|_| KeyError("not a P-256 public key (SEC1 point)"))?;
        Ok(Self::with(kid, Material::Es256Public(key)))
    }

    /// A P-256 public key for ES256 from SPKI PEM (`-----BEGIN PUBLIC KEY-----`, from
    /// `openssl pkey -pubout`), for verification only.
    ///
    /// # Errors
    ///
    /// If `pem` is not one, or holds a key on another curve.
    pub fn es256_public_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .map_err(|_| KeyError("not a P-256 public key in SPKI PEM"))?;
        Ok(Self::with(kid, Material::Es256Public(key)))
    }

    /// An HMAC-SHA-256 secret (at least 32 bytes).
    ///
    /// # Errors
    ///
    /// If the secret is shorter than 32 bytes.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError("an HS256 secret has at least 32 bytes"));
        }
        Ok(Self::with(kid, Material::Hs256(Zeroizing::new(secret.into()))))
    }

    /// The key named `kid` from the environment variable `var`: a PKCS#8 PEM Ed25519 key.
    ///
    /// # Errors
    ///
    /// If the variable is unset or not such a key; the error names the variable, never its
    /// value.
    pub fn ed25519_from_env(kid: impl Into<String>, var: &str) -> Result<Self, KeyError> {
        Self::ed25519_pem(kid, &env(var)?)
    }

    /// The key named `kid` from the environment variable `var`: a P-256 private key in PKCS#8
    /// or SEC1 PEM, as [`es256_pem`](Self::es256_pem) reads it.
    ///
    /// # Errors
    ///
    /// If the variable is unset or not such a key; the error never contains its value.
    pub fn es256_from_env(kid: impl Into<String>, var: &str) -> Result<Self, KeyError> {
        Self::es256_pem(kid, &env(var)?)
    }

    /// A key from its JWK (RFC 7517), `kid` included (required):
    ///
    /// - `{"kty":"OKP","crv":"Ed25519","x":…}` (RFC 8037), private with `d`;
    /// - `{"kty":"EC","crv":"P-256","x":…,"y":…}` (RFC 7518 §6.2), private with `d`;
    /// - `{"kty":"oct","alg":"HS256","k":…}`: a shared secret, only when `alg` says HS256, so
    ///   that a secret meant for another algorithm is never taken for an HMAC key.
    ///
    /// `alg`, `use` and `key_ops`, when present, must allow this key's signatures. For a
    /// private key, `x` (and `y`) must be its own public key.
    ///
    /// # Errors
    ///
    /// For any other key (RSA, other curves, an `alg` of another algorithm) or a malformed
    /// one; the error never contains key material.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let jwk = jwk.as_object().ok_or(KeyError("a JWK is a JSON object"))?;
        // A private key limited to `verify` still makes a key that verifies.
        if !usable(jwk, &["sign", "verify"])? {
            return Err(KeyError("the JWK's `use` or `key_ops` is not for signatures"));
        }
        match kind(jwk)? {
            Kind::Ed25519 => ed25519_jwk(kid(jwk)?, jwk),
            Kind::P256 => p256_jwk(kid(jwk)?, jwk),
            Kind::Hs256 => {
                let secret = bytes(jwk, "k", "an HS256 JWK's `k` must be base64url")?;
                Self::hs256(kid(jwk)?, &secret)
            }
            Kind::Unsupported(why) => Err(KeyError(why)),
        }
    }

    /// The key a JWKS member describes, for verification only: `None` for a member that is
    /// not an Ed25519 or P-256 signature key (RSA, other curves, `use: "enc"`), skipped.
    ///
    /// A secret (`oct`) or private (`d`) member is an error rather than skipped: a published
    /// secret is a leaked one, and the set's owner must hear about it.
    pub(crate) fn from_published_jwk(jwk: &Value) -> Result<Option<Self>, KeyError> {
        let jwk = jwk.as_object().ok_or(KeyError("a JWKS member is not a JSON object"))?;
        if jwk.get("kty").and_then(Value::as_str) == Some("oct") {
            return Err(KeyError("a JWKS never holds secret (`oct`) keys: this one is published"));
        }
        if jwk.contains_key("d") {
            return Err(KeyError("a JWKS never holds private keys: this one is published"));
        }
        if !usable(jwk, &["verify"])? {
            return Ok(None);
        }
        match kind(jwk)? {
            Kind::Ed25519 => ed25519_jwk(kid(jwk)?, jwk).map(Some),
            Kind::P256 => p256_jwk(kid(jwk)?, jwk).map(Some),
            Kind::Hs256 | Kind::Unsupported(_) => Ok(None),
        }
    }

    /// The key's id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            Material::Ed25519Private(_) | Material::Ed25519Public(_) => Algorithm::EdDSA,
            Material::Es256Private(_) | Material::Es256Public(_) => Algorithm::ES256,
            Material::Hs256(_) => Algorithm::HS256,
        }
    }

    /// Whether the key can sign (not a public key).
    #[must_use]
    pub fn can_sign(&self) -> bool {
        !matches!(self.material, Material::Ed25519Public(_) | Material::Es256Public(_))
    }

    /// The signature of `input`, if the key can sign.
    pub(crate) fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        match &self.material {
            Material::Ed25519Private(key) => Some(key.sign(input).to_bytes().to_vec()),
            Material::Es256Private(key) => {
                let signature: p256::ecdsa::Signature = key.sign(input);
                Some(signature.to_bytes().to_vec())
            }
            Material::Ed25519Public(_) | Material::Es256Public(_) => None,
            Material::Hs256(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
                mac.update(input);
                Some(mac.finalize().into_bytes().to_vec())
            }
        }
    }

    /// Whether `signature` is this key's over `input` (constant time for HMAC).
    pub(crate) fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        let ed25519 = |key: &ed25519_dalek::VerifyingKey| {
            <[u8; 64]>::try_from(signature).is_ok_and(|sig| {
                key.verify_strict(input, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok()
            })
        };
        // JWS carries the fixed-size `r || s` (RFC 7518 §3.4): anything but 64 bytes, DER
        // included, is refused here, as are `r` or `s` out of range.
        let es256 = |key: &p256::ecdsa::VerifyingKey| {
            p256::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| key.verify(input, &sig).is_ok())
        };
        match &self.material {
            Material::Ed25519Private(key) => ed25519(&key.verifying_key()),
            Material::Ed25519Public(key) => ed25519(key),
            Material::Es256Private(key) => es256(key.verifying_key()),
            Material::Es256Public(key) => es256(key),
            Material::Hs256(secret) => Hmac::<Sha256>::new_from_slice(secret)
                .map(|mut mac| {
                    mac.update(input);
                    mac.verify_slice(signature).is_ok()
                })
                .unwrap_or(false),
        }
    }

    /// The public JWK (RFC 8037 for Ed25519, RFC 7518 §6.2 for P-256), or `None` for a secret
    /// (HMAC) key.
    pub(crate) fn public_jwk(&self) -> Option<Value> {
        let ed25519 = |key: &ed25519_dalek::VerifyingKey| {
            json!({
                "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
                "kid": self.kid, "alg": "EdDSA", "use": "sig",
            })
        };
        let p256 = |key: &p256::ecdsa::VerifyingKey| {
            let point = key.to_sec1_point(false);
            let (x, y) = uncompressed_xy(point.as_ref())?;
            Some(json!({
                "kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                "kid": self.kid, "alg": "ES256", "use": "sig",
            }))
        };
        match &self.material {
            Material::Ed25519Private(key) => Some(ed25519(&key.verifying_key())),
            Material::Ed25519Public(key) => Some(ed25519(key)),
            Material::Es256Private(key) => p256(key.verifying_key()),
            Material::Es256Public(key) => p256(key),
            Material::Hs256(_) => None,
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm())
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

/// The value of the environment variable `var`, wiped when dropped: it may hold a private key.
fn env(var: &str) -> Result<Zeroizing<String>, KeyError> {
    std::env::var(var)
        .map(Zeroizing::new)
        .map_err(|_| KeyError("the key's environment variable is unset or not UTF-8"))
}

/// The key kinds a JWK can describe, as far as this crate is concerned.
enum Kind {
    Ed25519,
    P256,
    Hs256,
    /// Well-formed, but not a key this crate uses: why.
    Unsupported(&'static str),
}

/// What kind of key `jwk` is, from `kty`, `crv` and `alg`.
fn kind(jwk: &Map<String, Value>) -> Result<Kind, KeyError> {
    let member = |name: &str, malformed: &'static str| match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(KeyError(malformed)),
    };
    let kty = member("kty", "a JWK's `kty` is a string")?.ok_or(KeyError("a JWK needs a `kty`"))?;
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
        ("RSA", _) => Kind::Unsupported("RSA keys are not supported"),
        _ => Kind::Unsupported("the JWK's `kty` is not supported"),
    })
}

/// Whether `use` and `key_ops` (RFC 7517 §4.2, §4.3), when present, allow one of `ops`.
fn usable(jwk: &Map<String, Value>, ops: &[&str]) -> Result<bool, KeyError> {
    let use_ok = match jwk.get("use") {
        None => true,
        Some(Value::String(use_)) => use_ == "sig",
        Some(_) => return Err(KeyError("a JWK's `use` is a string")),
    };
    let ops_ok = match jwk.get("key_ops") {
        None => true,
        Some(Value::Array(listed)) => listed.iter().filter_map(Value::as_str).any(|op| ops.contains(&op)),
        Some(_) => return Err(KeyError("a JWK's `key_ops` is an array")),
    };
    Ok(use_ok && ops_ok)
}

fn kid(jwk: &Map<String, Value>) -> Result<String, KeyError> {
    match jwk.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok(kid.clone()),
        _ => Err(KeyError("a JWK needs a non-empty `kid`")),
    }
}

/// The base64url member `name`, wiped when dropped: it may be a private key or a secret.
fn bytes(
    jwk: &Map<String, Value>,
    name: &str,
    malformed: &'static str,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let text = jwk.get(name).and_then(Value::as_str).ok_or(KeyError(malformed))?;
    URL_SAFE_NO_PAD.decode(text).map(Zeroizing::new).map_err(|_| KeyError(malformed))
}

/// The member `name` of exactly 32 bytes: RFC 7518 §6.2.1.2 and RFC 8037 §2 require the full
/// length, so a shorter value is a malformed key rather than one to pad.
fn bytes32(
    jwk: &Map<String, Value>,
    name: &str,
    malformed: &'static str,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let bytes = bytes(jwk, name, malformed)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map(Zeroizing::new).map_err(|_| KeyError(malformed))
}

fn ed25519_jwk(kid: String, jwk: &Map<String, Value>) -> Result<SigningKey, KeyError> {
    let x = bytes32(jwk, "x", "an Ed25519 JWK's `x` must be 32 bytes of base64url")?;
    if !jwk.contains_key("d") {
        return SigningKey::ed25519_public(kid, &x);
    }
    let d = bytes32(jwk, "d", "an Ed25519 JWK's `d` must be 32 bytes of base64url")?;
    let key = ed25519_dalek::SigningKey::from_bytes(&d);
    if key.verifying_key().as_bytes() != &*x {
        return Err(KeyError("the Ed25519 JWK's `x` is not the public key of its `d`"));
    }
    Ok(SigningKey::with(kid, Material::Ed25519Private(Box::new(key))))
}

fn p256_jwk(kid: String, jwk: &Map<String, Value>) -> Result<SigningKey, KeyError> {
    let x = bytes32(jwk, "x", "a P-256 JWK's `x` must be 32 bytes of base64url")?;
    let y = bytes32(jwk, "y", "a P-256 JWK's `y` must be 32 bytes of base64url")?;
    let public = p256::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4][..], &x[..], &y[..]].concat())
        .map_err(|_| KeyError("the P-256 JWK's `x` and `y` are not a point of the curve"))?;
    if !jwk.contains_key("d") {
        return Ok(SigningKey::with(kid, Material::Es256Public(public)));
    }
    let d = bytes32(jwk, "d", "a P-256 JWK's `d` must be 32 bytes of base64url")?;
    let key = p256::ecdsa::SigningKey::from_slice(&d[..])
        .map_err(|_| KeyError("the P-256 JWK's `d` is not a private key"))?;
    if key.verifying_key() != &public {
        return Err(KeyError("the P-256 JWK's `x` and `y` are not the public key of its `d`"));
    }
    Ok(SigningKey::with(kid, Material::Es256Private(Box::new(key))))
}

/// `x` and `y` of an uncompressed SEC1 point (`04 || x || y`).
fn uncompressed_xy(point: &[u8]) -> Option<(&[u8], &[u8])> {
    match point {
        [4, rest @ ..] if rest.len() == 64 => Some(rest.split_at(32)),
        _ => None,
    }
}
