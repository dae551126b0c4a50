//! [`KeySet`]: the key that signs, and every key that verifies, each by `kid`.

use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::header::header_segment;
use crate::key::{Algorithm, KeyError, SigningKey};

/// The keys by `kid`. A fast hasher: the map is small and never grows from what a client
/// sends (a `kid` only probes it), so there is no flooding to resist.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The keys of an issuer: one signing key, and the keys tokens are verified with (the
/// signing key among them), each by its `kid`; or, for a service that only verifies another
/// issuer's tokens, keys that verify and none that signs ([`verify_only`](Self::verify_only),
/// [`from_jwks`](Self::from_jwks)).
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
/// assert_eq!(keys.signing_key().map(SigningKey::kid), Some("2026-12"));
/// ```
pub struct KeySet {
    /// `None` for a verify-only set.
    signing: Option<String>,
    keys: HashMap<String, Arc<SigningKey>>,
    /// The header this crate writes ([`header_segment`]), still encoded, for each key and
    /// each algorithm it verifies: a token carrying one of these needs no header decoding or
    /// JSON parsing to tell its `alg` and key (shared with `keys`, so one probe finds it).
    /// Derived from `keys`, rebuilt when they change.
    headers: HashMap<Box<[u8]>, (Algorithm, Arc<SigningKey>)>,
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
        Ok(Self::with(Some(kid.clone()), HashMap::from_iter([(kid, signing)])))
    }

    /// A set that only verifies, with `keys`: tokens issued elsewhere. Keys that could sign
    /// (private keys, HMAC secrets) only verify here; issuing through
    /// [`SignedTokens`](crate::SignedTokens) with this set fails.
    ///
    /// ```
    /// use tower_bearer_jwt::{KeySet, SigningKey};
    ///
    /// let keys = KeySet::verify_only([SigningKey::ed25519_public("k1", &[0x11; 32])?])?;
    /// assert!(keys.signing_key().is_none());
    /// # Ok::<(), tower_bearer_jwt::KeyError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If `keys` is empty, or two of them have the same `kid` (a token naming it could not be
    /// told which).
    pub fn verify_only(keys: impl IntoIterator<Item = SigningKey>) -> Result<Self, KeyError> {
        let mut by_kid = HashMap::default();
        for key in keys {
            match by_kid.entry(key.kid().to_owned()) {
                Entry::Occupied(_) => return Err(KeyError::new("two keys of the set have the same `kid`")),
                Entry::Vacant(slot) => {
                    slot.insert(key);
                }
            }
        }
        if by_kid.is_empty() {
            return Err(KeyError::new("a key set needs at least one key"));
        }
        Ok(Self::with(None, by_kid))
    }

    /// A verify-only set from a published JWKS document (RFC 7517 §5, `{"keys": [...]}`):
    /// another issuer's `/.well-known/jwks.json`, or this crate's own
    /// [`jwks`](Self::jwks).
    ///
    /// Ed25519 (`OKP`), P-256 (`EC`) and RSA public keys are taken, each with its `kid` (one
    /// without is named by its RFC 7638 thumbprint);
    /// members not for signatures (`use` other than `sig`, `key_ops` without `verify`) or of
    /// other kinds (other curves, an `alg` of another algorithm) are skipped. A member that would be taken
    /// but is malformed (not a point of the curve) is an error rather than skipped:
    /// a verifier that quietly lost a key would refuse that key's tokens with nothing to say
    /// why.
    ///
    /// ```
    /// use serde_json::json;
    /// use tower_bearer_jwt::KeySet;
    ///
    /// // Fetched from the issuer's `/.well-known/jwks.json`.
    /// let published = json!({ "keys": [
    ///     { "kty": "OKP", "crv": "Ed25519", "x": "I4e_9eQ3m3yDF2whlKuhdksZPQyLACrqIXh9gSK6Reg",
    ///       "kid": "k1", "alg": "EdDSA", "use": "sig" },
    ///     { "kty": "EC", "crv": "P-384", "x": "…", "y": "…", "kid": "p1" },
    /// ] });
    /// let keys = KeySet::from_jwks(&published)?; // the P-384 key is skipped
    /// assert!(keys.signing_key().is_none());
    /// # Ok::<(), tower_bearer_jwt::KeyError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If the document is not a JWKS, has no usable key, holds a secret (`oct`) or private
    /// (`d`) key (published, so leaked: never taken), or a malformed key as above. The error
    /// never contains key material.
    pub fn from_jwks(jwks: &Value) -> Result<Self, KeyError> {
        let members = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::new("a JWKS is an object with a `keys` array"))?;
        let mut keys = Vec::new();
        for jwk in members {
            keys.extend(SigningKey::from_published_jwk(jwk)?);
        }
        if keys.is_empty() {
            return Err(KeyError::new("the JWKS has no Ed25519, P-256 or RSA signature key"));
        }
        Self::verify_only(keys)
    }

    /// A verify-only set from a published JWKS that never fails on what it finds: every
    /// member [`from_jwks`](Self::from_jwks) would take is taken, and anything else is skipped
    /// (secret or private members included: never used), as are all the members of a `kid`
    /// that appears twice (a token naming it could not be told which). The set may be empty,
    /// and then verifies nothing.
    ///
    /// For a verifier of an outside issuer that must keep accepting the tokens of its good
    /// keys whatever else the issuer publishes; [`from_jwks`](Self::from_jwks) is for a
    /// document the service's own operator controls, where a mistake should be heard.
    ///
    /// # Errors
    ///
    /// If the document is not an object with a `keys` array.
    pub fn from_jwks_lenient(jwks: &Value) -> Result<Self, KeyError> {
        let members = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::new("a JWKS is an object with a `keys` array"))?;
        let mut keys: HashMap<String, Option<SigningKey>> = HashMap::default();
        for key in members.iter().filter_map(|jwk| SigningKey::from_published_jwk(jwk).ok().flatten()) {
            match keys.entry(key.kid().to_owned()) {
                Entry::Occupied(mut twice) => {
                    twice.insert(None);
                }
                Entry::Vacant(slot) => {
                    slot.insert(Some(key));
                }
            }
        }
        let keys = keys.into_iter().filter_map(|(kid, key)| Some((kid, key?))).collect();
        Ok(Self::with(None, keys))
    }

    /// The set of `keys`, with its index of headers.
    fn with(signing: Option<String>, keys: HashMap<String, SigningKey>) -> Self {
        let keys = keys.into_iter().map(|(kid, key)| (kid, Arc::new(key))).collect();
        let mut set = KeySet { signing, keys, headers: HashMap::default() };
        set.index_headers();
        set
    }

    /// Rebuilds [`headers`](Self::headers) from the keys.
    fn index_headers(&mut self) {
        self.headers = self
            .keys
            .values()
            .flat_map(|key| {
                Algorithm::ALL
                    .into_iter()
                    .filter(|&alg| key.verifies(alg))
                    .map(|alg| (header_segment(alg, key.kid()).into_bytes().into(), (alg, key.clone())))
            })
            .collect();
    }

    /// Whether the set has no key (only a [`from_jwks_lenient`](Self::from_jwks_lenient) one
    /// can be empty).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Also verifies with `key` (a key about to sign, or one that signed until recently). A
    /// key with the signing key's `kid` is ignored.
    #[must_use]
    pub fn verify_with(mut self, key: SigningKey) -> Self {
        if self.signing.as_deref() != Some(key.kid()) {
            self.keys.insert(key.kid().to_owned(), Arc::new(key));
            self.index_headers();
        }
        self
    }

    /// The key that signs; `None` for a verify-only set.
    #[must_use]
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.keys.get(self.signing.as_deref()?).map(AsRef::as_ref)
    }

    /// The key named `kid`.
    pub(crate) fn key(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.get(kid).map(AsRef::as_ref)
    }

    /// The keys of the set that verify `alg`.
    pub(crate) fn keys_for(&self, alg: Algorithm) -> impl Iterator<Item = &SigningKey> {
        self.keys.values().map(AsRef::as_ref).filter(move |key| key.verifies(alg))
    }

    /// The algorithm and key of `header`, the encoded header segment of a token, if it is
    /// exactly the one this crate writes for a key of the set ([`header_segment`]).
    pub(crate) fn by_header(&self, header: &[u8]) -> Option<(Algorithm, &SigningKey)> {
        self.headers.get(header).map(|(alg, key)| (*alg, key.as_ref()))
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
