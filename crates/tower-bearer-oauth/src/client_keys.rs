//! [`ClientKeys`]: the public keys a client signs its assertions with, given at registration
//! or published by the client at a URL.

use std::fmt;
use std::sync::Arc;

use http::Uri;
use serde_json::Value;
use tower_bearer_jwt::KeySet;

/// The public keys of a client that authenticates with a private key (`private_key_jwt`,
/// RFC 7523 §2.2): a JWKS given at registration ([`jwks`](Self::jwks)), or the URL where the
/// client publishes its JWKS ([`jwks_uri`](Self::jwks_uri)), fetched by the endpoints when an
/// assertion first needs it and kept, fetched again as [`JwtStore`](crate::JwtStore) fetches
/// an issuer's keys (when an assertion names an unknown `kid`, at most once a minute; before
/// use once an hour old; with a backoff while the URL fails).
///
/// Given to a client with [`NewClient::public_keys`](crate::NewClient::public_keys). Only
/// public keys (Ed25519, P-256, RSA): a JWKS holding a secret or private key is refused, as
/// one that was published would be leaked. `Debug` shows the keys' `kid`s or the URL.
#[derive(Clone)]
pub struct ClientKeys(pub(crate) Source);

/// Where a client's keys are.
#[derive(Clone)]
pub(crate) enum Source {
    /// Given at registration: the document as a registry stores it, and its keys.
    Jwks { document: Arc<str>, keys: Arc<KeySet> },
    /// Published by the client: the URL as given, and parsed.
    Uri { text: Arc<str>, uri: Uri },
}

impl ClientKeys {
    /// The keys of a JWKS document (RFC 7517 §5, `{"keys": [...]}`), each with its `kid`;
    /// members not for signatures, or of kinds no assertion is verified with (other curves),
    /// are skipped.
    ///
    /// ```
    /// use serde_json::json;
    /// use tower_bearer_oauth::ClientKeys;
    ///
    /// let keys = ClientKeys::jwks(&json!({ "keys": [{
    ///     "kty": "OKP", "crv": "Ed25519", "kid": "2026-01",
    ///     "x": "I4e_9eQ3m3yDF2whlKuhdksZPQyLACrqIXh9gSK6Reg",
    /// }] }))?;
    /// assert!(keys.document().is_some() && keys.uri().is_none());
    /// # Ok::<(), tower_bearer_oauth::ClientKeysError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If the document is not a JWKS, has no Ed25519, P-256 or RSA signature key, has a
    /// secret (`oct`) or private (`d`) member, a malformed key, or two keys with one `kid`.
    pub fn jwks(document: &Value) -> Result<Self, ClientKeysError> {
        let keys = KeySet::from_jwks(document).map_err(|e| ClientKeysError::new(e.to_string()))?;
        Ok(ClientKeys(Source::Jwks { document: document.to_string().into(), keys: Arc::new(keys) }))
    }

    /// The keys the client publishes at `uri` (its `jwks_uri`, RFC 7591 §2): an absolute
    /// `http` or `https` URL. Fetching `https` needs a client with a TLS connector:
    /// [`TokenEndpointBuilder::jwks_client`](crate::TokenEndpointBuilder::jwks_client).
    ///
    /// # Errors
    ///
    /// If `uri` is not an absolute `http` or `https` URL.
    pub fn jwks_uri(uri: &str) -> Result<Self, ClientKeysError> {
        let invalid = || ClientKeysError::new("a jwks_uri is an absolute http or https URL".into());
        let parsed: Uri = uri.parse().map_err(|_| invalid())?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.authority().is_none() {
            return Err(invalid());
        }
        Ok(ClientKeys(Source::Uri { text: uri.into(), uri: parsed }))
    }

    /// The JWKS document given at registration (as JSON text), if the keys were given so:
    /// what a registry stores, and reads back with [`jwks`](Self::jwks).
    #[must_use]
    pub fn document(&self) -> Option<&str> {
        match &self.0 {
            Source::Jwks { document, .. } => Some(document),
            Source::Uri { .. } => None,
        }
    }

    /// The URL the client publishes its keys at, if the keys were given so: what a registry
    /// stores, and reads back with [`jwks_uri`](Self::jwks_uri).
    #[must_use]
    pub fn uri(&self) -> Option<&str> {
        match &self.0 {
            Source::Uri { text, .. } => Some(text),
            Source::Jwks { .. } => None,
        }
    }
}

impl fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Jwks { keys, .. } => f.debug_tuple("ClientKeys").field(keys).finish(),
            Source::Uri { text, .. } => f.debug_tuple("ClientKeys").field(text).finish(),
        }
    }
}

/// Why [`ClientKeys::jwks`] or [`ClientKeys::jwks_uri`] refused its input. Never contains
/// key material.
#[derive(Clone, Debug)]
pub struct ClientKeysError(String);

impl ClientKeysError {
    fn new(why: String) -> Self {
        ClientKeysError(why)
    }
}

impl fmt::Display for ClientKeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid client keys: {}", self.0)
    }
}

impl std::error::Error for ClientKeysError {}
