//! [`SigningKey`]: a key with its `kid`, that signs tokens, or only verifies them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use hmac::{Hmac, KeyInit as _, Mac};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::DecodePublicKey as _;
use serde_json::{Value, json};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Why a key could not be loaded. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(&'static str);

impl KeyError {
    pub(crate) const fn new(what: &'static str) -> Self {
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
    /// HMAC-SHA-256 (`HS256`), with a secret shared by every verifier: never published, so
    /// only for this workspace's own keys, never an outside issuer's.
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`RS256`, RFC 7518 §3.3): verification only, for the
    /// tokens of outside issuers, with a public key of 2048 to 8192 bits.
    RS256,
    /// RSASSA-PSS with SHA-256 and a 32-byte salt (`PS256`, RFC 7518 §3.5): verification
    /// only, as [`RS256`](Self::RS256).
    PS256,
}

impl Algorithm {
    /// The JOSE name (`alg`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::HS256 => "HS256",
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
        }
    }

    /// The algorithm a JOSE name (`alg`) names, if it is one of these; `None` for any other
    /// (`none` included).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "EdDSA" => Algorithm::EdDSA,
            "ES256" => Algorithm::ES256,
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "PS256" => Algorithm::PS256,
            _ => return None,
        })
    }

    /// Every algorithm, in a fixed order.
    pub(crate) const ALL: [Algorithm; 5] =
        [Algorithm::EdDSA, Algorithm::ES256, Algorithm::HS256, Algorithm::RS256, Algorithm::PS256];
}

pub(crate) enum Material {
    Ed25519Private(Box<ed25519_dalek::SigningKey>),
    Ed25519Public(ed25519_dalek::VerifyingKey),
    Es256Private(Box<p256::ecdsa::SigningKey>),
    Es256Public(p256::ecdsa::VerifyingKey),
    /// The secret already keyed into HMAC's inner and outer states, cloned for each token
    /// rather than keyed again (two SHA-256 blocks, a quarter of an HS256 check); wiped on
    /// drop, as the secret would be.
    Hs256(Box<Hmac<Sha256>>),
    RsaPublic(Box<RsaPublic>),
}

/// An RSA public key, ready for both padding schemes (the verifying keys precompute what each
/// needs once, not per token), and its `n` and `e` as given, for the JWKS.
pub(crate) struct RsaPublic {
    pkcs1: rsa::pkcs1v15::VerifyingKey<rsa::sha2::Sha256>,
    pss: rsa::pss::VerifyingKey<rsa::sha2::Sha256>,
    /// The one algorithm the key is for, when its JWK says; else RS256 and PS256 both.
    only: Option<Algorithm>,
    n: Box<[u8]>,
    e: Box<[u8]>,
}

/// The smallest RSA modulus taken: RFC 7518 §3.3 requires 2048 bits.
const RSA_MIN_BITS: usize = 2048;
/// The largest: past it, a verification costs more than a token is worth.
const RSA_MAX_BITS: usize = 8192;

/// A key and its `kid`: one that signs (a private Ed25519 or P-256 key, an HMAC secret) or
/// only verifies (a public key). `Debug` shows the `kid` and algorithm, never the key.
pub struct SigningKey {
    kid: String,
    material: Material,
}

impl SigningKey {
    pub(crate) fn with(kid: impl Into<String>, material: Material) -> Self {
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

    /// An RSA public key from its modulus `n` and public exponent `e` (big-endian bytes, as a
    /// JWK's `n` and `e` decode to), for verification only: an outside issuer's key. It
    /// verifies RS256 and PS256 signatures.
    ///
    /// # Errors
    ///
    /// If the modulus is under 2048 bits (RFC 7518 §3.3) or over 8192, or the key is not a
    /// valid RSA public key.
    pub fn rsa_public(kid: impl Into<String>, n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        Self::rsa_public_for(kid, n, e, None)
    }

    /// [`rsa_public`](Self::rsa_public), limited to the algorithm `only` when it is given.
    pub(crate) fn rsa_public_for(
        kid: impl Into<String>,
        n: &[u8],
        e: &[u8],
        only: Option<Algorithm>,
    ) -> Result<Self, KeyError> {
        // Leading zero bytes are not part of the number: dropped, so the JWKS shows the
        // minimal form RFC 7518 §6.3.1.1 asks for.
        let trim = |bytes: &[u8]| -> Box<[u8]> {
            let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
            bytes[first..].into()
        };
        let (n, e) = (trim(n), trim(e));
        let key = rsa::PublicKey::new_with_size_limits(
            rsa::BoxedUint::from_be_slice_vartime(&n),
            rsa::BoxedUint::from_be_slice_vartime(&e),
            RSA_MIN_BITS..=RSA_MAX_BITS,
        )
        .map_err(|_| KeyError("not an RSA public key of 2048 to 8192 bits"))?;
        let rsa = RsaPublic {
            pkcs1: rsa::pkcs1v15::VerifyingKey::new(key.clone()),
            pss: rsa::pss::VerifyingKey::new(key),
            only,
            n,
            e,
        };
        Ok(Self::with(kid, Material::RsaPublic(Box::new(rsa))))
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
        let keyed = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| KeyError("not an HMAC key"))?;
        Ok(Self::with(kid, Material::Hs256(Box::new(keyed))))
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

    /// The key's id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm. An RSA key whose JWK did not name one verifies both RS256 and
    /// PS256, and says RS256 here.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match &self.material {
            Material::Ed25519Private(_) | Material::Ed25519Public(_) => Algorithm::EdDSA,
            Material::Es256Private(_) | Material::Es256Public(_) => Algorithm::ES256,
            Material::Hs256(_) => Algorithm::HS256,
            Material::RsaPublic(key) => key.only.unwrap_or(Algorithm::RS256),
        }
    }

    /// Whether the key verifies signatures made with `alg`: its own algorithm, or for an RSA
    /// key of no declared algorithm, either RSA one. Which key a token names never changes
    /// how its signature is checked: the algorithm must fit the key.
    #[must_use]
    pub fn verifies(&self, alg: Algorithm) -> bool {
        match &self.material {
            Material::RsaPublic(key) if key.only.is_none() => {
                matches!(alg, Algorithm::RS256 | Algorithm::PS256)
            }
            _ => self.algorithm() == alg,
        }
    }

    /// Whether the key can sign (not a public key).
    #[must_use]
    pub fn can_sign(&self) -> bool {
        !matches!(
            self.material,
            Material::Ed25519Public(_) | Material::Es256Public(_) | Material::RsaPublic(_)
        )
    }

    /// The signature of `input`, if the key can sign.
    pub(crate) fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        match &self.material {
            Material::Ed25519Private(key) => Some(key.sign(input).to_bytes().to_vec()),
            Material::Es256Private(key) => {
                let signature: p256::ecdsa::Signature = key.sign(input);
                Some(signature.to_bytes().to_vec())
            }
            Material::Ed25519Public(_) | Material::Es256Public(_) | Material::RsaPublic(_) => None,
            Material::Hs256(keyed) => {
                let mut mac = Hmac::clone(keyed);
                mac.update(input);
                Some(mac.finalize().into_bytes().to_vec())
            }
        }
    }

    /// Whether `signature` is this key's, made with `alg`, over `input` (constant time for
    /// HMAC). `alg` must be one the key [`verifies`](Self::verifies); any other is refused.
    pub(crate) fn verify(&self, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
        if !self.verifies(alg) {
            return false;
        }
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
            Material::Hs256(keyed) => {
                let mut mac = Hmac::clone(keyed);
                mac.update(input);
                mac.verify_slice(signature).is_ok()
            }
            Material::RsaPublic(key) => match alg {
                Algorithm::PS256 => rsa::pss::Signature::try_from(signature)
                    .is_ok_and(|sig| key.pss.verify(input, &sig).is_ok()),
                _ => rsa::pkcs1v15::Signature::try_from(signature)
                    .is_ok_and(|sig| key.pkcs1.verify(input, &sig).is_ok()),
            },
        }
    }

    /// The public JWK (RFC 8037 for Ed25519, RFC 7518 §6.2 for P-256, §6.3 for RSA), or `None`
    /// for a secret (HMAC) key.
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
            Material::RsaPublic(key) => {
                let mut jwk = json!({
                    "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&key.n), "e": URL_SAFE_NO_PAD.encode(&key.e),
                    "kid": self.kid, "use": "sig",
                });
                if let Some(alg) = key.only {
                    jwk["alg"] = json!(alg.name());
                }
                Some(jwk)
            }
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

/// `x` and `y` of an uncompressed SEC1 point (`04 || x || y`).
fn uncompressed_xy(point: &[u8]) -> Option<(&[u8], &[u8])> {
    match point {
        [4, rest @ ..] if rest.len() == 64 => Some(rest.split_at(32)),
        _ => None,
    }
}

/// The value of the environment variable `var`, wiped when dropped: it may hold a private key.
fn env(var: &str) -> Result<Zeroizing<String>, KeyError> {
    std::env::var(var)
        .map(Zeroizing::new)
        .map_err(|_| KeyError("the key's environment variable is unset or not UTF-8"))
}
