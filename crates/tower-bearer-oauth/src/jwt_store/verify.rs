//! [`Checks`]: what a token must be for a [`JwtStore`](super::JwtStore) to accept it, given
//! the issuer's keys: its header (`alg`, `typ`, `kid`) and signature, checked by
//! tower-bearer-jwt's [`Jws`], and its claims (`iss`, `aud`, `exp`, `nbf`, `sub`), here.

use std::time::Duration;

use serde_json::{Map, Value};
use tower_bearer::{Clock, TokenState};
use tower_bearer_jwt::{Algorithm, AlgorithmPolicy, ClaimsMemo, Jws, JwsError, KeySet, VerifiedToken};

use crate::introspected::{numeric_date, principal_of};

/// The `typ` of an RFC 9068 access token (§2.1), and its media-type form (§4).
const ACCESS_TOKEN_TYPS: [&str; 2] = ["at+jwt", "application/at+jwt"];

/// The audience tokens must name.
#[derive(Clone, Debug)]
pub(super) enum Audience {
    /// Not set, nor waived: a configuration error.
    Unset,
    /// `aud` must contain it.
    One(String),
    /// Waived: `aud` is not checked.
    Any,
}

/// The settings of a store that say what a token must be (the setters of
/// [`JwtStoreBuilder`](super::JwtStoreBuilder) document each).
pub(super) struct Checks {
    pub(super) issuer: String,
    pub(super) audience: Audience,
    pub(super) require_exp: bool,
    pub(super) require_typ: bool,
    /// Never HS256 ([`AlgorithmPolicy::outside_issuer`]).
    pub(super) algorithms: AlgorithmPolicy,
    pub(super) leeway: Duration,
}

/// No key of the set has the token's `kid` (or, without one, is for its `alg`).
struct UnknownKey;

/// Whether `typ` is an access token's (RFC 9068 §2.1 and §4; media types are case-insensitive).
fn is_access_token_typ(typ: &str) -> bool {
    ACCESS_TOKEN_TYPS.iter().any(|t| typ.eq_ignore_ascii_case(t))
}

impl Checks {
    /// The defaults, for tokens `issuer` signs: no audience yet, `exp` and `typ` required,
    /// RS256, ES256 and EdDSA, 30 seconds of leeway.
    pub(super) fn new(issuer: String) -> Self {
        Checks {
            issuer,
            audience: Audience::Unset,
            require_exp: true,
            require_typ: true,
            algorithms: AlgorithmPolicy::only([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]),
            leeway: Duration::from_secs(30),
        }
    }

    /// Whether the header of `token` names an allowed `alg` and (unless waived) an access
    /// token's `typ`: checked before any key is looked up or fetched.
    pub(super) fn header_admits(&self, token: &Jws<'_>) -> bool {
        self.admitted_header(token).is_some()
    }

    fn admitted_header(&self, token: &Jws<'_>) -> Option<()> {
        let header = token.header().ok()?;
        header.alg.filter(|&alg| self.algorithms.allows(alg))?;
        if self.require_typ && !header.typ.as_deref().is_some_and(is_access_token_typ) {
            return None;
        }
        Some(())
    }

    /// The state of `token` now by `clock`, verified with the issuer's `keys` unless `memo` holds
    /// it (it verified before under these keys, header included); `None` if its header is
    /// admitted but no key has its `kid`, or, without one, none is for its `alg` (the keys may
    /// be out of date).
    pub(super) fn verify(
        &self,
        token: &Jws<'_>,
        keys: &KeySet,
        memo: &ClaimsMemo,
        clock: &Clock,
    ) -> Option<TokenState> {
        let mut unknown_key = false;
        let verified = memo.verify(token, clock, || {
            // The header first (`read` does not check `typ`): a token it refuses costs no
            // signature check.
            if !self.header_admits(token) {
                return None;
            }
            match self.read(token, keys) {
                Ok(verified) => verified,
                Err(UnknownKey) => {
                    unknown_key = true;
                    None
                }
            }
        });
        match verified {
            Some(verified) => Some(verified.state(clock, self.leeway)),
            None if unknown_key => None,
            None => Some(TokenState::Unknown),
        }
    }

    /// What `token` means if it verifies with `keys` (signature, `iss`, `aud`, the types of
    /// the registered claims): the same for every presentation of these bytes under these
    /// keys and settings. `Ok(None)` for a token that does not verify.
    fn read(&self, token: &Jws<'_>, keys: &KeySet) -> Result<Option<VerifiedToken>, UnknownKey> {
        let verified = match token.verify_with(keys, &self.algorithms) {
            Ok(verified) => verified,
            Err(JwsError::UnknownKey) => return Err(UnknownKey),
            Err(_) => return Ok(None),
        };
        let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(verified.payload()) else {
            return Ok(None);
        };
        let for_us = match &self.audience {
            Audience::One(audience) => match claims.get("aud") {
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience)),
                _ => false,
            },
            Audience::Any => true,
            // Refused before any verification (`lookup`); never admitted here either.
            Audience::Unset => false,
        };
        let from_issuer = claims.get("iss").and_then(Value::as_str) == Some(self.issuer.as_str());
        if !(for_us && from_issuer && self.claims_are_valid(&claims)) {
            return Ok(None);
        }
        Ok(principal_of(&claims, self.leeway).map(|(principal, nbf)| VerifiedToken::new(principal, nbf)))
    }

    /// Whether the registered claims the store reads have the types RFC 7519 §4.1 gives them:
    /// `sub` a string, `aud` a string or an array of strings, `exp` (there unless waived) and
    /// `nbf` NumericDates in range. A token whose claims cannot be read is invalid, never one
    /// without them (an `exp` that cannot be read is not "no expiry", a `sub` that is not a
    /// string does not fall back to `client_id`).
    fn claims_are_valid(&self, claims: &Map<String, Value>) -> bool {
        let valid = |key: &str, required: bool, of_type: fn(&Value) -> bool| {
            claims.get(key).map_or(!required, of_type)
        };
        valid("sub", false, Value::is_string)
            && valid("aud", false, |aud| match aud {
                Value::Array(auds) => auds.iter().all(Value::is_string),
                other => other.is_string(),
            })
            && valid("exp", self.require_exp, |exp| numeric_date(exp).is_some())
            && valid("nbf", false, |nbf| numeric_date(nbf).is_some())
    }
}
