//! [`Jws`]: the one place a compact JWS (RFC 7515) is parsed and its signature checked, for
//! this crate's own tokens and for those of outside issuers alike; what the payload means is
//! left to the caller.

use std::borrow::Cow;
use std::fmt;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::base64url;
use crate::header::TYP;
use crate::key::{Algorithm, SigningKey};
use crate::key_set::KeySet;

/// The algorithms a verifier accepts in a token's `alg`, checked before any key is looked up,
/// so that a header cannot choose how its own signature is checked. On top of it, the key a
/// token names must be for that algorithm ([`SigningKey::verifies`](crate::SigningKey::verifies)).
///
/// ```
/// use tower_bearer_jwt::{Algorithm, AlgorithmPolicy};
///
/// let outside = AlgorithmPolicy::OUTSIDE_ISSUER;
/// assert!(outside.allows(Algorithm::RS256) && !outside.allows(Algorithm::HS256));
/// let only = AlgorithmPolicy::only([Algorithm::EdDSA, Algorithm::HS256]);
/// assert!(only.allows(Algorithm::HS256) && !only.allows(Algorithm::ES256));
/// assert!(!only.outside_issuer().allows(Algorithm::HS256));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlgorithmPolicy {
    /// One bit per [`Algorithm`], by [`bit`].
    allowed: u8,
}

/// The bit of `alg` in an [`AlgorithmPolicy`].
const fn bit(alg: Algorithm) -> u8 {
    match alg {
        Algorithm::EdDSA => 1,
        Algorithm::ES256 => 2,
        Algorithm::HS256 => 4,
        Algorithm::RS256 => 8,
        Algorithm::PS256 => 16,
    }
}

impl AlgorithmPolicy {
    /// Every algorithm this crate verifies, HS256 included: for this workspace's own keys,
    /// where the key set holds only keys it trusts with each.
    pub const ALL: Self = AlgorithmPolicy {
        allowed: bit(Algorithm::EdDSA)
            | bit(Algorithm::ES256)
            | bit(Algorithm::HS256)
            | bit(Algorithm::RS256)
            | bit(Algorithm::PS256),
    };

    /// RS256, PS256, ES256 and EdDSA: for an outside issuer. Never HS256: no secret is
    /// shared with an outside issuer, and a public key taken for an HMAC secret is the
    /// classic algorithm-confusion forgery.
    pub const OUTSIDE_ISSUER: Self = AlgorithmPolicy { allowed: Self::ALL.allowed & !bit(Algorithm::HS256) };

    /// Exactly `algorithms`.
    #[must_use]
    pub fn only(algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        AlgorithmPolicy { allowed: algorithms.into_iter().fold(0, |bits, alg| bits | bit(alg)) }
    }

    /// This policy without HS256, whatever it allowed: what an outside issuer's tokens are
    /// checked under.
    #[must_use]
    pub fn outside_issuer(self) -> Self {
        AlgorithmPolicy { allowed: self.allowed & !bit(Algorithm::HS256) }
    }

    /// Whether tokens signed with `alg` are accepted.
    #[must_use]
    pub fn allows(self, alg: Algorithm) -> bool {
        self.allowed & bit(alg) != 0
    }

    /// The algorithms accepted, in a fixed order.
    pub fn algorithms(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL.into_iter().filter(move |&alg| self.allows(alg))
    }
}

impl fmt::Debug for AlgorithmPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.algorithms()).finish()
    }
}

/// Why a token did not verify. Never contains the token or key material; callers answering
/// a request should not tell the client which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsError {
    /// Not a compact JWS: not three base64url parts, or a header that is not a JSON object
    /// with a string `alg`.
    Malformed,
    /// The header's `alg` is not one the policy allows (`none` never is).
    AlgorithmNotAllowed,
    /// The header has `crit`: extensions this verifier does not understand (RFC 7515 §4.1.11).
    CriticalHeader,
    /// The header names no `kid`, and the set has several keys for its `alg`.
    MissingKid,
    /// No key of the set has the header's `kid` (without a `kid`: none is for its `alg`).
    UnknownKey,
    /// The key the header names is not for the header's `alg`.
    KeyAlgorithmMismatch,
    /// The signature is not the key's over the token.
    BadSignature,
}

impl fmt::Display for JwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwsError::Malformed => "not a compact JWS",
            JwsError::AlgorithmNotAllowed => "the token's `alg` is not allowed",
            JwsError::CriticalHeader => "the token's header has `crit` extensions",
            JwsError::MissingKid => "the token's header names no `kid`, and several keys could verify it",
            JwsError::UnknownKey => "no key has the token's `kid`, or is for its `alg`",
            JwsError::KeyAlgorithmMismatch => "the token's key is not for its `alg`",
            JwsError::BadSignature => "the token's signature does not verify",
        })
    }
}

impl std::error::Error for JwsError {}

/// A compact JWS (`header.payload.signature`) split into its parts, nothing decoded or checked
/// yet: [`split`](Self::split), then [`verify_with`](Self::verify_with); or both at once with
/// [`Jws::verify`].
///
/// ```
/// use tower_bearer_jwt::{AlgorithmPolicy, Jws, JwsError, KeySet, SigningKey};
///
/// let keys = KeySet::verify_only([SigningKey::ed25519_public("k1", &[0x11; 32])?])?;
/// let refused = Jws::verify("eyJhbGciOiJub25lIn0.e30.", &keys, &AlgorithmPolicy::OUTSIDE_ISSUER);
/// assert_eq!(refused.err(), Some(JwsError::AlgorithmNotAllowed)); // {"alg":"none"}
/// # Ok::<(), tower_bearer_jwt::KeyError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Jws<'t> {
    // Bytes: a token taken from a request is checked ASCII by the layer, and needs no UTF-8
    // check of its few hundred bytes to be split and verified.
    header: &'t [u8],
    payload: &'t [u8],
    /// `header.payload`, what the signature covers.
    signed: &'t [u8],
    signature: &'t [u8],
}

/// The JOSE header: only what verification reads, borrowed from the decoded bytes. Other
/// members (`jku`, `x5u`, `jwk`...) are ignored: keys come from the key set, never the token.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    /// Whether `crit` is there at all, whatever its value (`null` included).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// What a header says, read but not yet verified: for checks a verifier makes before it
/// looks for the key (an `alg` it refuses, a `typ` it does not take).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedHeader {
    /// `alg`; `None` when it names no algorithm of this crate (`none` included).
    pub alg: Option<Algorithm>,
    /// `kid`.
    pub kid: Option<String>,
    /// `typ`.
    pub typ: Option<String>,
}

/// The longest header decoded (on the stack); a longer one is not a token anyone here signs.
const HEADER_MAX: usize = 512;
/// Signatures of Ed25519, P-256 and HMAC (64 bytes at most) are decoded on the stack; RSA
/// ones, whose check costs a thousand times an allocation, on the heap.
const SIGNATURE_INLINE: usize = 64;

impl fmt::Debug for Jws<'_> {
    // The signature is what makes the rest a credential: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jws")
            .field("header", &String::from_utf8_lossy(self.header))
            .field("payload", &String::from_utf8_lossy(self.payload))
            .finish_non_exhaustive()
    }
}

impl<'t> Jws<'t> {
    /// `header.payload`, the part the signature covers.
    pub(crate) fn signed(&self) -> &'t [u8] {
        self.signed
    }

    /// The signature segment, still encoded.
    pub(crate) fn signature(&self) -> &'t [u8] {
        self.signature
    }

    /// `token` split into the three parts of a JWS, if it has that shape (exactly two dots).
    #[must_use]
    pub fn split(token: &'t str) -> Option<Self> {
        Self::split_bytes(token.as_bytes())
    }

    /// [`split`](Self::split) for a token held as bytes (a
    /// [`PresentedToken`](tower_bearer::PresentedToken)'s, say): no UTF-8 check first, since
    /// anything but base64url in a part fails its decoding anyway.
    #[must_use]
    pub fn split_bytes(token: &'t [u8]) -> Option<Self> {
        // Two searches from the ends and one over the middle, with `memchr`'s SIMD searches
        // (the standard library's take a word at a time, twice as long on a token's few
        // hundred bytes).
        let first = memchr::memchr(b'.', token)?;
        let last = memchr::memrchr(b'.', token)?;
        let (signed, signature) = (token.get(..last)?, token.get(last + 1..)?);
        let (header, payload) = (signed.get(..first)?, signed.get(first + 1..)?);
        if first == last || memchr::memchr(b'.', payload).is_some() {
            return None;
        }
        Some(Jws { header, payload, signed, signature })
    }

    /// Splits and verifies `token` with the keys of `keys` under `policy`: see
    /// [`verify_with`](Self::verify_with).
    ///
    /// # Errors
    ///
    /// As [`verify_with`](Self::verify_with); [`JwsError::Malformed`] if `token` is not of
    /// the JWS shape.
    pub fn verify(token: &'t str, keys: &KeySet, policy: &AlgorithmPolicy) -> Result<VerifiedJws, JwsError> {
        Jws::split(token).ok_or(JwsError::Malformed)?.verify_with(keys, policy)
    }

    /// The header, decoded but not verified.
    ///
    /// # Errors
    ///
    /// [`JwsError::Malformed`] if it is not base64url of a JSON object with a string `alg`.
    pub fn header(&self) -> Result<UnverifiedHeader, JwsError> {
        let mut buffer = [0_u8; HEADER_MAX];
        let header = parse_header(self.header, &mut buffer)?;
        Ok(UnverifiedHeader {
            alg: Algorithm::from_name(&header.alg),
            kid: header.kid.map(Cow::into_owned),
            typ: header.typ.map(Cow::into_owned),
        })
    }

    /// Verifies the token: the header is decoded once (the header this crate writes is
    /// recognised as it is, without decoding); its `alg` must be allowed by `policy`
    /// (checked before any key is looked up); `crit` is refused; its `kid` names the key of
    /// `keys` (without a `kid`: the one key of `keys` for that `alg`), which must be for that
    /// `alg`; then the signature is checked. The payload is
    /// decoded only once the signature holds.
    ///
    /// Claims are not read: the caller deserializes [`VerifiedJws::payload`] into its own
    /// type and checks them (`iss`, `aud`, `exp`...).
    ///
    /// # Errors
    ///
    /// The first check that failed, in the order above. Never a panic, whatever the input.
    pub fn verify_with(&self, keys: &KeySet, policy: &AlgorithmPolicy) -> Result<VerifiedJws, JwsError> {
        let (alg, key, typ) = self.checked_header(keys, policy)?;
        let payload = self.verify_with_key(key, alg)?;
        Ok(VerifiedJws { alg, typ, payload })
    }

    /// The signature, checked with `key` for `alg` (chosen by the caller from a header it read
    /// itself, a DPoP proof's embedded key), and then the payload, decoded.
    pub(crate) fn verify_with_key(&self, key: &SigningKey, alg: Algorithm) -> Result<Vec<u8>, JwsError> {
        let mut signature_bytes = [0_u8; SIGNATURE_INLINE];
        let heap;
        let signature = match base64url::decode_into(self.signature, &mut signature_bytes) {
            Some(signature) => signature,
            None => {
                heap = base64url::decode(self.signature).ok_or(JwsError::Malformed)?;
                &heap
            }
        };
        if !key.verify(alg, self.signed, signature) {
            return Err(JwsError::BadSignature);
        }
        base64url::decode(self.payload).ok_or(JwsError::Malformed)
    }

    /// The header, decoded as a JSON object of the caller's type.
    pub(crate) fn header_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, JwsError> {
        let bytes = base64url::decode(self.header).ok_or(JwsError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| JwsError::Malformed)
    }

    /// The header's checks, in [`verify_with`](Self::verify_with)'s order: the algorithm, the
    /// key it names, and `typ`.
    fn checked_header<'k>(
        &self,
        keys: &'k KeySet,
        policy: &AlgorithmPolicy,
    ) -> Result<(Algorithm, &'k SigningKey, Option<Cow<'static, str>>), JwsError> {
        // The header this crate writes is the same bytes for every token of a key: found as
        // it is, it says what decoding and parsing it would (its `alg`, its key's `kid`, `typ`,
        // no `crit`), and the checks that remain are the policy's. Any other header, however
        // valid, is read in full below.
        if let Some((alg, key)) = keys.by_header(self.header) {
            if !policy.allows(alg) {
                return Err(JwsError::AlgorithmNotAllowed);
            }
            return Ok((alg, key, Some(Cow::Borrowed(TYP))));
        }
        let mut header_bytes = [0_u8; HEADER_MAX];
        let header = parse_header(self.header, &mut header_bytes)?;
        let alg = Algorithm::from_name(&header.alg)
            .filter(|&alg| policy.allows(alg))
            .ok_or(JwsError::AlgorithmNotAllowed)?;
        if header.crit {
            return Err(JwsError::CriticalHeader);
        }
        let key = match header.kid.as_deref() {
            Some(kid) => keys.key(kid).ok_or(JwsError::UnknownKey)?,
            // RFC 7515 makes `kid` optional: a signer with one key often leaves it out. Only the
            // set's one key for `alg` is tried; with several, the token must say which (trying
            // each would let one token cost many checks).
            None => {
                let mut candidates = keys.keys_for(alg);
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => key,
                    (None, _) => return Err(JwsError::UnknownKey),
                    (Some(_), Some(_)) => return Err(JwsError::MissingKid),
                }
            }
        };
        if !key.verifies(alg) {
            return Err(JwsError::KeyAlgorithmMismatch);
        }
        Ok((alg, key, header.typ.map(|typ| Cow::Owned(typ.into_owned()))))
    }
}

fn parse_header<'b>(part: &[u8], buffer: &'b mut [u8]) -> Result<Header<'b>, JwsError> {
    let bytes = base64url::decode_into(part, buffer).ok_or(JwsError::Malformed)?;
    serde_json::from_slice(bytes).map_err(|_| JwsError::Malformed)
}

/// A token whose signature verified: its algorithm, `typ` and payload, for the caller to
/// check its claims. `Debug` shows the algorithm and `typ`, not the payload.
#[derive(Clone)]
pub struct VerifiedJws {
    alg: Algorithm,
    /// Borrowed for this crate's own header, the usual case: no allocation per token.
    typ: Option<Cow<'static, str>>,
    payload: Vec<u8>,
}

impl VerifiedJws {
    /// The algorithm the token was signed with.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header's `typ`, if any.
    #[must_use]
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The payload (for a JWT, the claims' JSON), decoded from base64url.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

impl fmt::Debug for VerifiedJws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedJws").field("alg", &self.alg).field("typ", &self.typ).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_parts_make_a_jws() {
        let parts = Jws::split("aa.bb.cc").map(|j| (j.header, j.payload, j.signed, j.signature));
        assert_eq!(parts, Some((&b"aa"[..], &b"bb"[..], &b"aa.bb"[..], &b"cc"[..])));
        assert!(Jws::split("..").is_some(), "empty parts are for the verifier to refuse");
        let not_utf8 = Jws::split_bytes(b"\xff.e30.c2ln").expect("split as bytes");
        assert_eq!(not_utf8.header(), Err(JwsError::Malformed), "and refused by the decoding");
        for not in ["", "abc", "a.b", "a.b.c.d", "a..b.c", ".", "tok_live_abc"] {
            assert!(Jws::split(not).is_none(), "{not}");
        }
    }

    #[test]
    fn debug_never_shows_the_signature() {
        let jws = Jws::split("eyJhbGciOiJIUzI1NiJ9.e30.c2VjcmV0LXNpZ25hdHVyZQ").unwrap();
        let shown = format!("{jws:?}");
        assert!(shown.contains("eyJhbGciOiJIUzI1NiJ9") && !shown.contains("c2VjcmV0"), "{shown}");
    }

    #[test]
    fn policies() {
        assert_eq!(AlgorithmPolicy::ALL.algorithms().count(), Algorithm::ALL.len());
        assert!(!AlgorithmPolicy::OUTSIDE_ISSUER.allows(Algorithm::HS256));
        assert_eq!(AlgorithmPolicy::ALL.outside_issuer(), AlgorithmPolicy::OUTSIDE_ISSUER);
        assert_eq!(format!("{:?}", AlgorithmPolicy::only([Algorithm::PS256])), "[PS256]");
    }

    /// The header this crate writes, recognised without parsing, must say what parsing it
    /// would: the same answers through both paths, the policy still applied, and any other
    /// spelling of the same header still verified in full.
    #[test]
    fn its_own_header_is_recognised_as_parsing_would_read_it() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use serde_json::Value;

        use crate::header::header_segment;

        let kid = r#"k"1\é"#;
        let segment = header_segment(Algorithm::HS256, kid);
        let parsed =
            Jws { header: segment.as_bytes(), payload: b"", signed: b"", signature: b"" }.header().unwrap();
        assert_eq!(
            parsed,
            UnverifiedHeader { alg: Some(Algorithm::HS256), kid: Some(kid.into()), typ: Some(TYP.into()) }
        );

        let keys = KeySet::new(SigningKey::hs256(kid, &[7; 32]).unwrap()).unwrap();
        let signed = |header: &str| {
            let input = format!("{header}.e30");
            let signature = keys.signing_key().unwrap().sign(input.as_bytes()).unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        };
        let own = signed(&segment);
        let respelled = signed(
            &URL_SAFE_NO_PAD
                .encode(format!(r#"{{"typ":"{TYP}", "kid":{}, "alg":"HS256"}}"#, Value::from(kid))),
        );
        assert!(keys.by_header(segment.as_bytes()).is_some());
        for token in [&own, &respelled] {
            let verified = Jws::verify(token, &keys, &AlgorithmPolicy::ALL).unwrap();
            assert_eq!(
                (verified.alg(), verified.typ(), verified.payload()),
                (Algorithm::HS256, Some(TYP), &b"{}"[..])
            );
            let refused = Jws::verify(token, &keys, &AlgorithmPolicy::OUTSIDE_ISSUER);
            assert_eq!(refused.err(), Some(JwsError::AlgorithmNotAllowed));
        }
        let tampered = format!("{}x", own);
        assert_eq!(Jws::verify(&tampered, &keys, &AlgorithmPolicy::ALL).err(), Some(JwsError::BadSignature));
        let other = KeySet::new(SigningKey::hs256("other", &[7; 32]).unwrap()).unwrap();
        assert_eq!(Jws::verify(&own, &other, &AlgorithmPolicy::ALL).err(), Some(JwsError::UnknownKey));
    }
}
