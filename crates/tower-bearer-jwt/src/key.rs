//! [`SigningKey`]: a key with its `kid`, that signs tokens, or only verifies them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

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
    /// HMAC-SHA-256 (`HS256`), with a secret shared by every verifier: never published.
    HS256,
}

impl Algorithm {
    /// The JOSE name (`alg`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
        }
    }
}

enum Material {
    Ed25519Private(Box<ed25519_dalek::SigningKey>),
    Ed25519Public(ed25519_dalek::VerifyingKey),
    Hs256(Box<[u8]>),
}

/// A key and its `kid`: one that signs (a private Ed25519 key, an HMAC secret) or only
/// verifies (a public Ed25519 key). `Debug` shows the `kid` and algorithm, never the key.
pub struct SigningKey {
    kid: String,
    material: Material,
}

impl SigningKey {
    /// An Ed25519 private key from PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
    ///
    /// # Errors
    ///
    /// If `pem` is not one.
    pub fn ed25519_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|_| KeyError("not an Ed25519 PKCS#8 PEM key"))?;
        Ok(SigningKey { kid: kid.into(), material: Material::Ed25519Private(Box::new(key)) })
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
        Ok(SigningKey { kid: kid.into(), material: Material::Ed25519Public(key) })
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
        Ok(SigningKey { kid: kid.into(), material: Material::Hs256(secret.into()) })
    }

    /// The key named `kid` from the environment variable `var`: a PKCS#8 PEM Ed25519 key.
    ///
    /// # Errors
    ///
    /// If the variable is unset or not such a key; the error names the variable, never its
    /// value.
    pub fn ed25519_from_env(kid: impl Into<String>, var: &str) -> Result<Self, KeyError> {
        let pem = std::env::var(var)
            .map_err(|_| KeyError("the key's environment variable is unset or not UTF-8"))?;
        Self::ed25519_pem(kid, &pem)
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
            Material::Hs256(_) => Algorithm::HS256,
        }
    }

    /// Whether the key can sign (not a public key).
    #[must_use]
    pub fn can_sign(&self) -> bool {
        !matches!(self.material, Material::Ed25519Public(_))
    }

    /// The signature of `input`, if the key can sign.
    pub(crate) fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        match &self.material {
            Material::Ed25519Private(key) => Some(key.sign(input).to_bytes().to_vec()),
            Material::Ed25519Public(_) => None,
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
        match &self.material {
            Material::Ed25519Private(key) => ed25519(&key.verifying_key()),
            Material::Ed25519Public(key) => ed25519(key),
            Material::Hs256(secret) => Hmac::<Sha256>::new_from_slice(secret)
                .map(|mut mac| {
                    mac.update(input);
                    mac.verify_slice(signature).is_ok()
                })
                .unwrap_or(false),
        }
    }

    /// The public JWK (RFC 8037 for Ed25519), or `None` for a secret (HMAC) key.
    pub(crate) fn public_jwk(&self) -> Option<Value> {
        let public = match &self.material {
            Material::Ed25519Private(key) => key.verifying_key(),
            Material::Ed25519Public(key) => *key,
            Material::Hs256(_) => return None,
        };
        Some(json!({
            "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public.as_bytes()),
            "kid": self.kid, "alg": "EdDSA", "use": "sig",
        }))
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
