//! [`DpopVerifier`]: DPoP proofs (RFC 9449) checked, for the auth layer (as its
//! [`ProofVerifier`]) and for a token endpoint that binds the tokens it issues; and proofs
//! made, for clients ([`SigningKey::dpop_proof`](crate::SigningKey::dpop_proof)).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _};
use http::HeaderName;
use http::request::Parts;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use tower_bearer::Clock;
use tower_bearer::middleware::{InvalidProof, ProofVerifier};
use tower_bearer::store::{Answer, ReplayCache};
use tower_bearer::{AuthError, MemoryTokenStore, StoreError};

mod htu;
mod keys;
mod nonces;
mod prove;

use htu::{normalize_authority, normalize_path, split_url};
use keys::ProofKeys;
use nonces::Nonces;

use crate::jwk::thumbprint;
use crate::jws::{AlgorithmPolicy, Jws};
use crate::key::{Algorithm, KeyError};

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub(crate) const TYP: &str = "dpop+jwt";

/// The longest `jti` taken: a proof is a few hundred bytes, and the identifier is only hashed.
const JTI_MAX: usize = 256;

/// Checks DPoP proofs (RFC 9449 §4.3): `typ` `dpop+jwt`; an asymmetric `alg` of its
/// [`AlgorithmPolicy`] (EdDSA and ES256 by default); a public `jwk` in the header, which the
/// signature must verify with; `htm` and `htu` the request's method and URI (normalized as
/// RFC 3986 §6.2.2–6.2.3 say, query and fragment ignored); `iat` within
/// [`max_age`](DpopVerifierBuilder::max_age) of the server's clock; `jti` never seen before
/// for that key within that time (a [`ReplayCache`]); `ath` the hash of the access token
/// presented; and, if configured, the server's nonce. Answers the RFC 7638 thumbprint of the
/// proof's key, which the layer compares with the token's
/// [`confirmation`](tower_bearer::Grant::confirmation).
///
/// Clones share one replay cache: build one verifier and hand clones to every layer and
/// endpoint of the instance (a fleet passes a shared cache, `tower-bearer-sqlx`'s store).
///
/// ```
/// use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
/// use tower_bearer_jwt::DpopVerifier;
///
/// let dpop = DpopVerifier::builder().origin("https://api.example.com").build()?;
/// let layer = BearerAuthLayer::new(MemoryTokenStore::new()).require_dpop(dpop);
/// # Ok::<(), tower_bearer_jwt::KeyError>(())
/// ```
#[derive(Clone)]
pub struct DpopVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    algorithms: AlgorithmPolicy,
    /// `algorithms`, space-separated, for the challenge and metadata.
    algs: Box<str>,
    max_age: Duration,
    leeway: Duration,
    origin: Option<Origin>,
    /// Where proofs' identifiers are remembered: a memory store's (answered at once) by default.
    replay: Arc<dyn ReplayCache>,
    nonces: Option<Nonces>,
    clock: Clock,
    keys: ProofKeys,
}

/// The scheme and authority the server is reached at, normalized.
struct Origin {
    scheme: String,
    authority: String,
}

/// Builds a [`DpopVerifier`].
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer_jwt::{Algorithm, AlgorithmPolicy, DpopVerifier};
///
/// let dpop = DpopVerifier::builder()
///     .algorithms(AlgorithmPolicy::only([Algorithm::EdDSA, Algorithm::ES256, Algorithm::PS256]))
///     .max_age(Duration::from_secs(30))
///     .origin("https://api.example.com")
///     .nonces(b"a secret of at least thirty-two bytes!", Duration::from_secs(300))
///     .replay_cache(MemoryTokenStore::builder().replay_capacity(100_000).build())
///     .build()?;
/// # Ok::<(), tower_bearer_jwt::KeyError>(())
/// ```
#[must_use]
pub struct DpopVerifierBuilder {
    algorithms: AlgorithmPolicy,
    max_age: Duration,
    leeway: Duration,
    origin: Option<String>,
    replay: Option<Arc<dyn ReplayCache>>,
    nonces: Option<(Vec<u8>, Duration)>,
    clock: Clock,
}

impl DpopVerifier {
    /// A verifier with the defaults: EdDSA and ES256, proofs up to 60 s old (5 s of clock
    /// skew), the request's own scheme and authority, `jti`s remembered in this instance's
    /// memory (a [`MemoryTokenStore`]'s replay cache), no nonces.
    #[must_use]
    pub fn new() -> Self {
        DpopVerifier::builder().build().unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }

    /// A builder, starting from the defaults of [`new`](Self::new).
    pub fn builder() -> DpopVerifierBuilder {
        DpopVerifierBuilder {
            algorithms: AlgorithmPolicy::only([Algorithm::EdDSA, Algorithm::ES256]),
            max_age: Duration::from_secs(60),
            leeway: Duration::from_secs(5),
            origin: None,
            replay: None,
            nonces: None,
            clock: Clock::system(),
        }
    }

    /// The algorithms accepted, space-separated: what RFC 8414 metadata advertises as
    /// `dpop_signing_alg_values_supported`.
    #[must_use]
    pub fn algorithms(&self) -> &str {
        &self.inner.algs
    }

    /// The nonce to hand out now (in a `DPoP-Nonce` header), if nonces are on.
    #[must_use]
    pub fn nonce(&self) -> Option<String> {
        let nonces = self.inner.nonces.as_ref()?;
        Some(nonces.at(self.inner.clock.now()))
    }

    /// Checks the proof of the request `head` (RFC 9449 §4.3: the value of its one `DPoP`
    /// header), which presents `access_token` (`None` at a token endpoint, where no token is
    /// presented yet and `ath` must be absent): the thumbprint of the proof's key, or why not
    /// ([`AuthError::InvalidProof`], [`InvalidProof::Missing`] for a request without a `DPoP`
    /// header; [`AuthError::UseDpopNonce`]; or [`AuthError::StoreUnavailable`] when a shared
    /// replay cache cannot answer).
    pub fn check(&self, head: &Parts, access_token: Option<&str>) -> Answer<Result<Box<str>, AuthError>> {
        let proof = match proof_of(head) {
            Ok(proof) => proof,
            Err(error) => return Answer::Now(Err(AuthError::InvalidProof(error))),
        };
        let now = self.inner.clock.now();
        let (jkt, replay_id, until) = match self.inner.checked(head, proof, access_token, now) {
            Ok(checked) => checked,
            Err(error) => return Answer::Now(Err(error)),
        };
        match self.inner.replay.first_use(replay_id, until) {
            Answer::Now(seen) => Answer::Now(first_use(seen, jkt)),
            Answer::Later(seen) => Answer::later(async move { first_use(seen.await, jkt) }),
        }
    }
}

impl Default for DpopVerifier {
    fn default() -> Self {
        Self::new()
    }
}

/// The request's proof: the value of its one `DPoP` header (RFC 9449 §4.3, the first check).
fn proof_of(head: &Parts) -> Result<&str, InvalidProof> {
    let mut proofs = head.headers.get_all(DPOP).iter();
    match (proofs.next(), proofs.next()) {
        (None, _) => Err(InvalidProof::Missing),
        (Some(_), Some(_)) => Err(InvalidProof::Repeated),
        (Some(proof), None) => proof.to_str().map_err(|_| InvalidProof::Malformed),
    }
}

/// The `DPoP` request header (RFC 9449 §4.1).
const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The answer once the replay cache said whether the proof's `jti` is new.
fn first_use(seen: Result<bool, StoreError>, jkt: Box<str>) -> Result<Box<str>, AuthError> {
    match seen {
        Ok(true) => Ok(jkt),
        Ok(false) => Err(AuthError::InvalidProof(InvalidProof::Replayed)),
        Err(error) => Err(AuthError::StoreUnavailable(error.kind())),
    }
}

impl ProofVerifier for DpopVerifier {
    fn algorithms(&self) -> &str {
        &self.inner.algs
    }

    fn verify(&self, head: &Parts, access_token: &str) -> Answer<Result<Box<str>, AuthError>> {
        self.check(head, Some(access_token))
    }
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("algorithms", &self.inner.algs)
            .field("max_age", &self.inner.max_age)
            .field("origin", &self.inner.origin.as_ref().map(|o| format!("{}://{}", o.scheme, o.authority)))
            .field("nonces", &self.inner.nonces.is_some())
            .finish_non_exhaustive()
    }
}

impl DpopVerifierBuilder {
    /// The algorithms accepted; HS256 never is (a proof's key is public).
    pub fn algorithms(mut self, algorithms: AlgorithmPolicy) -> Self {
        self.algorithms = algorithms.outside_issuer();
        self
    }

    /// How old a proof may be (its `iat`), 60 s by default.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far the client's clock may run ahead of the server's, 5 s by default.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The scheme and authority clients reach the server at (`https://api.example.com`),
    /// which `htu` must name. Without it, `htu` must name the request's authority (its
    /// `Host`), under the request's scheme if the request says it (HTTP/2), else `http` or
    /// `https`: a server behind a TLS-terminating proxy cannot tell which the client used.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Where proofs' `jti`s are remembered; this instance's memory by default (a
    /// [`MemoryTokenStore`]'s replay cache). A fleet of instances behind one address shares
    /// one (`tower-bearer-sqlx`'s store), or a proof replayed to another instance is not seen.
    pub fn replay_cache(mut self, cache: impl ReplayCache) -> Self {
        self.replay = Some(Arc::new(cache));
        self
    }

    /// Requires the server's nonce in every proof (RFC 9449 §8): nonces are made from
    /// `secret` (at least 32 bytes; the same on every instance) and a time step of
    /// `lifetime`, and one of the current or the previous step is accepted. A proof without
    /// one, or with another, is answered 401 `use_dpop_nonce` with the nonce to use.
    pub fn nonces(mut self, secret: &[u8], lifetime: Duration) -> Self {
        self.nonces = Some((secret.to_vec(), lifetime));
        self
    }

    /// Reads the time from `clock` (a manual one in tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The verifier.
    ///
    /// # Errors
    ///
    /// If no algorithm is allowed, the origin is not an `http` or `https` URL without a
    /// path, or the nonce secret is shorter than 32 bytes or its lifetime under a second.
    pub fn build(self) -> Result<DpopVerifier, KeyError> {
        let algs: Vec<&str> = self.algorithms.algorithms().map(Algorithm::name).collect();
        if algs.is_empty() {
            return Err(KeyError::new("a DPoP verifier needs at least one asymmetric algorithm"));
        }
        let origin = self
            .origin
            .map(|origin| {
                let (scheme, authority, path) =
                    split_url(&origin).ok_or(KeyError::new("the DPoP origin must be an http(s) URL"))?;
                if path != "/" {
                    return Err(KeyError::new("the DPoP origin must have no path"));
                }
                Ok(Origin { scheme, authority })
            })
            .transpose()?;
        let nonces = self
            .nonces
            .map(|(secret, lifetime)| {
                if secret.len() < 32 || lifetime < Duration::from_secs(1) {
                    return Err(KeyError::new(
                        "a DPoP nonce secret has 32 bytes or more, and a lifetime of 1 s or more",
                    ));
                }
                let key = Hmac::<Sha256>::new_from_slice(&secret)
                    .map_err(|_| KeyError::new("the DPoP nonce secret is not an HMAC key"))?;
                Ok(Nonces { key, lifetime })
            })
            .transpose()?;
        let replay = self
            .replay
            .unwrap_or_else(|| Arc::new(MemoryTokenStore::builder().clock(self.clock.clone()).build()));
        Ok(DpopVerifier {
            inner: Arc::new(Inner {
                algorithms: self.algorithms,
                algs: algs.join(" ").into_boxed_str(),
                max_age: self.max_age,
                leeway: self.leeway,
                origin,
                replay,
                nonces,
                clock: self.clock,
                keys: ProofKeys::default(),
            }),
        })
    }
}

impl fmt::Debug for DpopVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifierBuilder")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("origin", &self.origin)
            .field("nonces", &self.nonces.is_some())
            .finish_non_exhaustive()
    }
}

fn invalid(check: InvalidProof) -> AuthError {
    AuthError::InvalidProof(check)
}

impl Inner {
    /// Every check but the replay: the thumbprint of the proof's key, the identifier to
    /// remember and until when.
    fn checked(
        &self,
        head: &Parts,
        proof: &str,
        access_token: Option<&str>,
        now: SystemTime,
    ) -> Result<(Box<str>, [u8; 32], SystemTime), AuthError> {
        let jws = Jws::split(proof).ok_or(invalid(InvalidProof::Malformed))?;
        let header: Map<String, Value> = jws.header_as().map_err(|_| invalid(InvalidProof::Malformed))?;
        let typ = header.get("typ").and_then(Value::as_str).ok_or(invalid(InvalidProof::Malformed))?;
        if !typ.eq_ignore_ascii_case(TYP) {
            return Err(invalid(InvalidProof::Type));
        }
        let alg = header.get("alg").and_then(Value::as_str).ok_or(invalid(InvalidProof::Malformed))?;
        let alg = Algorithm::from_name(alg)
            .filter(|&alg| self.algorithms.allows(alg))
            .ok_or(invalid(InvalidProof::Algorithm))?;
        if header.contains_key("crit") {
            return Err(invalid(InvalidProof::Malformed));
        }
        let jwk = header.get("jwk").and_then(Value::as_object).ok_or(invalid(InvalidProof::Key))?;
        let jkt = thumbprint(jwk).ok_or(invalid(InvalidProof::Key))?;
        let key = self.keys.key(jwk, &jkt).map_err(|_| invalid(InvalidProof::Key))?;
        if !key.key.verifies(alg) {
            return Err(invalid(InvalidProof::Algorithm));
        }
        let payload = jws.verify_with_key(&key.key, alg).map_err(|_| invalid(InvalidProof::Signature))?;
        self.keys.verified(key);
        let claims: Map<String, Value> =
            serde_json::from_slice(&payload).map_err(|_| invalid(InvalidProof::Malformed))?;
        let claim = |name: &str| claims.get(name).and_then(Value::as_str);
        let jti = claim("jti").filter(|j| !j.is_empty() && j.len() <= JTI_MAX);
        let (Some(jti), Some(htm), Some(htu)) = (jti, claim("htm"), claim("htu")) else {
            return Err(invalid(InvalidProof::Malformed));
        };
        let iat = claims.get("iat").and_then(Value::as_f64).ok_or(invalid(InvalidProof::Malformed))?;
        if htm != head.method.as_str() {
            return Err(invalid(InvalidProof::Method));
        }
        if !self.is_request_uri(htu, head) {
            return Err(invalid(InvalidProof::Uri));
        }
        if let Some(nonces) = &self.nonces
            && !claim("nonce").is_some_and(|nonce| nonces.accepts(nonce, now))
        {
            return Err(AuthError::UseDpopNonce(nonces.at(now).into_boxed_str()));
        }
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        if !iat.is_finite()
            || iat > now_secs + self.leeway.as_secs_f64()
            || iat < now_secs - self.max_age.as_secs_f64()
        {
            return Err(invalid(InvalidProof::IssuedAt));
        }
        match (access_token, claim("ath")) {
            (None, None) => {}
            (Some(token), Some(ath)) if ath == URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())) => {}
            _ => return Err(invalid(InvalidProof::TokenHash)),
        }
        // RFC 9449 §11.1: a `jti` is unique per key; the key is part of the identifier.
        let replay_id: [u8; 32] = Sha256::new()
            .chain_update(b"dpop-jti\0")
            .chain_update(&jkt)
            .chain_update(b"\0")
            .chain_update(jti)
            .finalize()
            .into();
        // Kept as long as the proof could be taken: until `iat` leaves the window.
        let until = UNIX_EPOCH + Duration::from_secs_f64(iat.max(0.0)) + self.max_age + self.leeway;
        Ok((jkt.into_boxed_str(), replay_id, until))
    }

    /// Whether `htu` names the request's URI, both normalized, query and fragment ignored.
    fn is_request_uri(&self, htu: &str, head: &Parts) -> bool {
        let Some((scheme, authority, path)) = split_url(htu) else {
            return false;
        };
        if path != normalize_path(head.uri.path()) {
            return false;
        }
        if let Some(origin) = &self.origin {
            return scheme == origin.scheme && authority == origin.authority;
        }
        let request_authority = head
            .uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| head.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()));
        let Some(request_authority) = request_authority else {
            return false;
        };
        let scheme_matches = head.uri.scheme_str().is_none_or(|s| s.eq_ignore_ascii_case(&scheme));
        scheme_matches && authority == normalize_authority(&scheme, request_authority)
    }
}
