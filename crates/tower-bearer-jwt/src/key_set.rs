//! [`KeySet`]: the key that signs, and every key that verifies, each by `kid`.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Value, json};

use crate::key::{KeyError, SigningKey};

/// The keys of an issuer: one signing key, and the keys tokens are verified with (the
/// signing key among them), each by its `kid`.
///
/// Rotation without downtime: publish the new key first (`verify_with(new)`, so that every
/// verifier has it in the JWKS), then make it the signing key and keep the old one to verify
/// until the last token it signed has expired (`KeySet::new(new).verify_with(old)`), then drop
/// it.
///
/// ```
/// use tower_bearer_jwt::{KeySet, SigningKey};
///
/// let key = SigningKey::hs256("2026-12", &[7; 32]).unwrap();
/// let keys = KeySet::new(key).unwrap();
/// assert_eq!(keys.signing_key().kid(), "2026-12");
/// ```
pub struct KeySet {
    signing: String,
    keys: HashMap<String, SigningKey>,
}

impl KeySet {
    /// A set that signs with `signing`.
    ///
    /// # Errors
    ///
    /// If `signing` cannot sign (a public key).
    pub fn new(signing: SigningKey) -> Result<Self, KeyError> {
        if !signing.can_sign() {
            return Err(KeyError::new("the signing key of a key set must be able to sign"));
        }
        let kid = signing.kid().to_owned();
        Ok(KeySet { signing: kid.clone(), keys: HashMap::from([(kid, signing)]) })
    }

    /// Also verifies with `key` (a key about to sign, or one that signed until recently). A
    /// key with the signing key's `kid` is ignored.
    #[must_use]
    pub fn verify_with(mut self, key: SigningKey) -> Self {
        if key.kid() != self.signing {
            self.keys.insert(key.kid().to_owned(), key);
        }
        self
    }

    /// The key that signs.
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        // `new` put it there and nothing removes it.
        &self.keys[&self.signing]
    }

    /// The key named `kid`.
    pub(crate) fn key(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.get(kid)
    }

    /// The JWKS document (RFC 7517): every public key; HMAC secrets are never in it.
    #[must_use]
    pub fn jwks(&self) -> Value {
        let mut keys: Vec<(&String, Value)> =
            self.keys.iter().filter_map(|(kid, key)| Some((kid, key.public_jwk()?))).collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        json!({ "keys": keys.into_iter().map(|(_, jwk)| jwk).collect::<Vec<_>>() })
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeySet").field("signing", &self.signing).field("kids", &kids).finish()
    }
}
