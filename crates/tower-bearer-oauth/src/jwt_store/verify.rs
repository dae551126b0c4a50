//! [`Checks`]: what a token must be for a [`JwtStore`](super::JwtStore) to accept it, given a
//! key: its header (`alg`, `typ`, `kid`), its signature, and its claims (`iss`, `aud`, `exp`,
//! `nbf`, `sub`).

use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use tower_bearer::TokenState;

use crate::introspected::{numeric_date, state_of};

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
    pub(super) algorithms: Vec<Algorithm>,
    pub(super) leeway: Duration,
}

/// What a token's header allows: a `kid`, and an allowed `alg`.
pub(super) struct Header {
    pub(super) kid: String,
    pub(super) alg: Algorithm,
}

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
            algorithms: vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
            leeway: Duration::from_secs(30),
        }
    }

    /// The header of `token`, if it names a `kid`, an allowed `alg` and (unless waived) an
    /// access token's `typ`: checked before any key is looked up or fetched.
    pub(super) fn header(&self, token: &str) -> Option<Header> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let alg = header.alg;
        (self.algorithms.contains(&alg)).then_some(())?;
        if self.require_typ && !header.typ.as_deref().is_some_and(is_access_token_typ) {
            return None;
        }
        Some(Header { kid: header.kid?, alg })
    }

    /// The state of `token`, signed with `alg`, verified with `key` (whose own `alg`, if it
    /// declares one, is `key_alg`) at `now`.
    pub(super) fn verify(
        &self,
        token: &str,
        alg: Algorithm,
        key: &DecodingKey,
        key_alg: Option<Algorithm>,
        now: SystemTime,
    ) -> TokenState {
        if key_alg.is_some_and(|declared| declared != alg) {
            return TokenState::Unknown;
        }
        let mut validation = Validation::new(alg);
        // Times on the store's clock, below; the rest here.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[&self.issuer]);
        match &self.audience {
            Audience::One(audience) => {
                // Required too: `jsonwebtoken` checks `aud` only in tokens that have one.
                validation.set_required_spec_claims(&["iss", "aud"]);
                validation.set_audience(&[audience]);
            }
            Audience::Any => {
                validation.set_required_spec_claims(&["iss"]);
                validation.validate_aud = false;
            }
            // Refused before any verification (`lookup`); never admitted here either.
            Audience::Unset => return TokenState::Unknown,
        }
        match jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &validation) {
            Ok(data) if self.claims_are_valid(&data.claims) => state_of(&data.claims, now, self.leeway),
            _ => TokenState::Unknown,
        }
    }

    /// Whether the registered claims the store reads have the types RFC 7519 §4.1 gives them:
    /// `sub` a string, `aud` a string or an array of strings, `exp` (there unless waived) and
    /// `nbf` NumericDates in range. A token whose claims cannot be read is invalid, never one
    /// without them (an `exp` that cannot be read is not "no expiry", a `sub` that is not a
    /// string does not fall back to `client_id`).
    fn claims_are_valid(&self, claims: &serde_json::Map<String, Value>) -> bool {
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
