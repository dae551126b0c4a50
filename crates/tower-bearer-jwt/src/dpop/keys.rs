//! [`ProofKeys`]: the keys of recent DPoP proofs, decoded once per client key. Decoding a key
//! (an Ed25519 point's decompression, a P-256 point's check) costs about a quarter of the
//! signature check itself, and a client signs every proof with the same key.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::jwk::has_private_members;
use crate::key::{KeyError, SigningKey};

/// At most this many keys are kept; past it the cache starts over. Keys go in only once a
/// proof signed with them verified, so filling it takes that many valid proofs.
const MOST_KEYS: usize = 10_000;

/// Decoded proof keys by what decoding reads from a JWK: its RFC 7638 thumbprint (the key's
/// required members, `kty` and `crv` among them) and its `alg`, which may narrow the key to
/// one algorithm.
#[derive(Default)]
pub(super) struct ProofKeys {
    keys: papaya::HashMap<Box<str>, Arc<SigningKey>>,
}

/// A proof's key: decoded now (to be remembered once its proof verifies), or remembered.
pub(super) struct ProofKey {
    pub(super) key: Arc<SigningKey>,
    /// `Some(name)` when decoded now: the name to remember it under.
    new: Option<Box<str>>,
}

impl ProofKeys {
    /// The key of `jwk`, whose thumbprint is `jkt`: remembered, or decoded. A JWK with private
    /// members is refused whether or not its public half is remembered.
    pub(super) fn key(&self, jwk: &Map<String, Value>, jkt: &str) -> Result<ProofKey, KeyError> {
        if has_private_members(jwk) {
            return Err(KeyError::new("a DPoP proof's key must be public"));
        }
        let alg = jwk.get("alg").map(Value::to_string).unwrap_or_default();
        let name = format!("{jkt} {alg}").into_boxed_str();
        if let Some(key) = self.keys.pin().get(&name) {
            return Ok(ProofKey { key: key.clone(), new: None });
        }
        let key = Arc::new(SigningKey::from_proof_jwk(jwk)?);
        Ok(ProofKey { key, new: Some(name) })
    }

    /// Remembers `key`, whose proof verified.
    pub(super) fn verified(&self, key: ProofKey) {
        let Some(name) = key.new else { return };
        let keys = self.keys.pin();
        if keys.len() >= MOST_KEYS {
            keys.clear();
        }
        keys.insert(name, key.key);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jwk() -> Map<String, Value> {
        let key = SigningKey::ed25519_generate("client").unwrap();
        key.public_jwk().unwrap().as_object().unwrap().clone()
    }

    #[test]
    fn a_key_is_remembered_once_its_proof_verified_and_never_widened() {
        let keys = ProofKeys::default();
        let jwk = jwk();
        let jkt = crate::jwk::thumbprint(&jwk).unwrap();
        // Decoded, its proof not verified: not remembered.
        assert!(keys.key(&jwk, &jkt).unwrap().new.is_some());
        assert!(keys.key(&jwk, &jkt).unwrap().new.is_some());
        keys.verified(keys.key(&jwk, &jkt).unwrap());
        assert!(keys.key(&jwk, &jkt).unwrap().new.is_none(), "remembered");
        // The same public half with a private member, or another `alg`: not the remembered key.
        let mut private = jwk.clone();
        private.insert("d".into(), json!("AAAA"));
        assert!(keys.key(&private, &jkt).is_err());
        let mut narrowed = jwk.clone();
        narrowed.insert("alg".into(), json!("ES256"));
        assert!(keys.key(&narrowed, &jkt).is_err());
    }
}
