//! [`ScannerKeys`]: the public keys a secret scanner signs its reports with.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;

use super::response::Rejection;

/// The header naming the key a report was signed with.
const KEY_IDENTIFIER: &str = "github-public-key-identifier";
/// The header holding the report's signature: base64 of an ASN.1 DER ECDSA signature.
const KEY_SIGNATURE: &str = "github-public-key-signature";

/// The ECDSA P-256 public keys a secret scanner signs its reports with, each under its key
/// identifier: what [`LeakedTokenEndpoint`](crate::LeakedTokenEndpoint) verifies reports
/// against.
///
/// GitHub publishes its keys at `https://api.github.com/meta/public_keys/secret_scanning`;
/// load that document (at deployment, or from a job of the application's) and give it to
/// [`from_github_json`](Self::from_github_json), or configure keys one by one from their PEM
/// with [`from_pem`](Self::from_pem) and [`with_pem`](Self::with_pem). Nothing here fetches
/// anything. Every key given is accepted, current or not (GitHub's document marks one
/// `is_current` and keeps the previous ones listed while they may still have signed reports
/// in flight).
///
/// ```
/// use tower_bearer_manage::ScannerKeys;
///
/// let document = r#"{"public_keys":[{
///     "key_identifier":"4fa2d1c5e3b7",
///     "key":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE75a3BhEv4x9ZzFncb5pHCC1YNi3M\nKJRZkxKb5zi0vq0TNWfawIHj8Ssg63hWyNOIt/Q1aFnGcYxMofyjQVY0vQ==\n-----END PUBLIC KEY-----\n",
///     "is_current":true}]}"#;
/// let keys = ScannerKeys::from_github_json(document)?;
/// assert_eq!(keys.identifiers().collect::<Vec<_>>(), ["4fa2d1c5e3b7"]);
/// # Ok::<_, tower_bearer_manage::ScannerKeyError>(())
/// ```
#[derive(Clone)]
pub struct ScannerKeys {
    keys: Vec<(Box<str>, VerifyingKey)>,
}

/// Why [`ScannerKeys`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScannerKeyError {
    /// The document is not JSON of the shape
    /// `{"public_keys":[{"key_identifier":"...","key":"-----BEGIN PUBLIC KEY-----..."}]}`.
    Document,
    /// The document lists no key: an endpoint with none would reject every report.
    NoKeys,
    /// The key with this identifier is not a PEM-encoded P-256 public key
    /// (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo).
    Key {
        /// The key's identifier.
        identifier: String,
    },
    /// Two keys have this identifier.
    DuplicateIdentifier {
        /// The identifier.
        identifier: String,
    },
}

impl fmt::Display for ScannerKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScannerKeyError::Document => f.write_str("not a secret-scanning public keys document"),
            ScannerKeyError::NoKeys => f.write_str("the public keys document lists no key"),
            ScannerKeyError::Key { identifier } => {
                write!(f, "key {identifier:?} is not a PEM-encoded P-256 public key")
            }
            ScannerKeyError::DuplicateIdentifier { identifier } => {
                write!(f, "two keys have the identifier {identifier:?}")
            }
        }
    }
}

impl std::error::Error for ScannerKeyError {}

/// GitHub's document, as far as it is read (`is_current` is not: every listed key is
/// accepted).
#[derive(Deserialize)]
struct Document {
    public_keys: Vec<DocumentKey>,
}

#[derive(Deserialize)]
struct DocumentKey {
    key_identifier: String,
    key: String,
}

impl ScannerKeys {
    /// One key: its identifier (the value of the `Github-Public-Key-Identifier` header on the
    /// reports it signs) and its PEM (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Errors
    ///
    /// [`ScannerKeyError::Key`] if `pem` is not a P-256 public key.
    pub fn from_pem(identifier: impl Into<String>, pem: &str) -> Result<Self, ScannerKeyError> {
        ScannerKeys { keys: Vec::new() }.with_pem(identifier, pem)
    }

    /// These keys and one more.
    ///
    /// # Errors
    ///
    /// [`ScannerKeyError::Key`] if `pem` is not a P-256 public key,
    /// [`ScannerKeyError::DuplicateIdentifier`] if a key has this identifier already.
    pub fn with_pem(mut self, identifier: impl Into<String>, pem: &str) -> Result<Self, ScannerKeyError> {
        let identifier = identifier.into();
        if self.get(&identifier).is_some() {
            return Err(ScannerKeyError::DuplicateIdentifier { identifier });
        }
        let Ok(key) = VerifyingKey::from_public_key_pem(pem) else {
            return Err(ScannerKeyError::Key { identifier });
        };
        self.keys.push((identifier.into_boxed_str(), key));
        Ok(self)
    }

    /// The keys of GitHub's public-keys document, as served by
    /// `https://api.github.com/meta/public_keys/secret_scanning`:
    /// `{"public_keys":[{"key_identifier":"...","key":"-----BEGIN PUBLIC KEY-----...","is_current":true}]}`.
    ///
    /// # Errors
    ///
    /// [`ScannerKeyError::Document`] for another shape, [`ScannerKeyError::NoKeys`] for an
    /// empty list, or an error of [`with_pem`](Self::with_pem) for one of the keys.
    pub fn from_github_json(json: &str) -> Result<Self, ScannerKeyError> {
        let document: Document = serde_json::from_str(json).map_err(|_| ScannerKeyError::Document)?;
        if document.public_keys.is_empty() {
            return Err(ScannerKeyError::NoKeys);
        }
        document
            .public_keys
            .into_iter()
            .try_fold(ScannerKeys { keys: Vec::new() }, |keys, k| keys.with_pem(k.key_identifier, &k.key))
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys (never, for keys built by this type's constructors).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The identifiers of the keys, in the order they were given.
    pub fn identifiers(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(identifier, _)| &**identifier)
    }

    fn get(&self, identifier: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(id, _)| **id == *identifier).map(|(_, key)| key)
    }

    /// The key and signature a request's headers name, checked before the body is read: a
    /// request naming no key of ours, or carrying no well-formed signature, is rejected
    /// without reading anything more.
    pub(super) fn signer(&self, headers: &HeaderMap) -> Result<ReportSigner<'_>, Rejection> {
        let identifier = single_header(headers, KEY_IDENTIFIER)
            .ok_or(Rejection::Signature("the Github-Public-Key-Identifier header is missing"))?;
        let key = self.get(identifier).ok_or(Rejection::Signature("the signing key is not known"))?;
        let signature = single_header(headers, KEY_SIGNATURE)
            .ok_or(Rejection::Signature("the Github-Public-Key-Signature header is missing"))?;
        let signature = STANDARD
            .decode(signature)
            .ok()
            .and_then(|der| Signature::from_der(&der).ok())
            .ok_or(Rejection::Signature("the signature is not base64 of a DER ECDSA signature"))?;
        Ok(ReportSigner { key, signature })
    }
}

/// The one value of a header, as text; `None` when it is absent, repeated or not visible
/// ASCII.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().map(str::trim)
}

/// The key a report names and the signature it carries, before the body is read.
pub(super) struct ReportSigner<'k> {
    key: &'k VerifyingKey,
    signature: Signature,
}

impl ReportSigner<'_> {
    /// Checks the signature over the raw body, exactly as received.
    pub(super) fn verify(&self, body: &[u8]) -> Result<(), Rejection> {
        // p256 accepts both encodings of `s` (high and low): GitHub's signer does not
        // normalise, so either can arrive.
        self.key
            .verify(body, &self.signature)
            .map_err(|_| Rejection::Signature("the signature does not match the body"))
    }
}

/// The identifiers only: the keys are public, but their PEM says nothing useful in a log.
impl fmt::Debug for ScannerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScannerKeys").field("identifiers", &self.identifiers().collect::<Vec<_>>()).finish()
    }
}
