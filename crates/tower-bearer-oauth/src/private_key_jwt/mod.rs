//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, RFC 7521 §4.2): a client
//! registered with public keys ([`ClientKeys`]) sends a JWT it signed
//! (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
//! `client_assertion=<JWS>`); [`authenticate`] is the one place it is checked, for the token,
//! introspection and revocation endpoints alike.

mod remote;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tower_bearer::Clock;
use tower_bearer::store::ReplayCache;
use tower_bearer_jwt::{Algorithm, AlgorithmPolicy, Jws};

use crate::client::ClientRecord;
use crate::client_keys::Source;
use crate::credentials::Endpoint;
use crate::introspected::numeric_date;

pub(crate) use remote::RemoteKeySets;

/// The algorithms assertions may be signed with unless configured otherwise: every asymmetric
/// one the workspace's verifier knows. Never HS256: the client's keys are public.
pub(crate) const DEFAULT_ALGORITHMS: [Algorithm; 4] =
    [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256, Algorithm::PS256];

/// How far ahead an assertion's `exp` may be, unless configured otherwise.
pub(crate) const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The clock skew allowed on `exp`, `nbf` and `iat`, unless configured otherwise.
pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The largest leeway accepted (a larger one is cut to it).
pub(crate) const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// The context of the identifiers this crate gives the replay cache, so that no other user of
/// a shared cache (a DPoP proof's `jti`, say) makes the same one.
const REPLAY_CONTEXT: &[u8] = b"tower-bearer-oauth private_key_jwt client assertion jti\0";

/// The settings of assertion checks (the setters of
/// [`TokenEndpointBuilder`](crate::TokenEndpointBuilder) document each).
pub(crate) struct Assertions {
    /// Never HS256 ([`AlgorithmPolicy::outside_issuer`]).
    pub(crate) algorithms: AlgorithmPolicy,
    pub(crate) max_lifetime: Duration,
    pub(crate) leeway: Duration,
    pub(crate) replay: Arc<dyn ReplayCache>,
    /// The keys of clients that publish theirs at a URL.
    pub(crate) remote: RemoteKeySets,
    /// Each endpoint's URL, by [`Endpoint`]: an audience its assertions may name.
    pub(crate) urls: [Option<Box<str>>; 3],
}

/// Why an assertion did not authenticate its client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// It is not a valid assertion of the client's (401 `invalid_client`).
    Invalid,
    /// It could not be checked: the client's keys could not be fetched, or the replay cache
    /// failed (503; refused, never admitted unchecked).
    Unavailable,
}

/// Whether `assertion` authenticates `client` at `endpoint` (RFC 7523 §3):
///
/// - its header names an allowed algorithm (checked before any key is fetched);
/// - its signature is that of the client's key its `kid` names, or, without a `kid`, of the
///   client's one key for that algorithm;
/// - `iss` and `sub` are the client's id;
/// - `aud` (a string, or an array of strings) contains the endpoint's URL or the issuer;
/// - `exp` is there, has not passed, and is at most the maximum lifetime ahead; `nbf` and
///   `iat`, if there, are not in the future (each with the leeway);
/// - `jti` is there, and is used for the first time (kept until `exp` plus the leeway, when
///   the assertion could no longer be accepted anyway).
pub(crate) async fn authenticate(
    settings: &Assertions,
    issuer: Option<&str>,
    clock: &Clock,
    client: &ClientRecord,
    assertion: &str,
    endpoint: Endpoint,
) -> Result<(), Refused> {
    let keys = client.keys.as_ref().ok_or(Refused::Invalid)?;
    let jws = Jws::split(assertion).ok_or(Refused::Invalid)?;
    let header = jws.header().map_err(|_| Refused::Invalid)?;
    if !header.alg.is_some_and(|alg| settings.algorithms.allows(alg)) {
        return Err(Refused::Invalid);
    }
    let verified = match &keys.0 {
        Source::Jwks { keys, .. } => jws.verify_with(keys, &settings.algorithms),
        Source::Uri { text, uri } => settings
            .remote
            .verify(text, uri, clock, &jws, &settings.algorithms)
            .await
            .map_err(|_| Refused::Unavailable)?,
    }
    .map_err(|_| Refused::Invalid)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(verified.payload()).map_err(|_| Refused::Invalid)?;
    let audiences = [issuer, settings.urls[endpoint as usize].as_deref()];
    let limits = Limits { leeway: settings.leeway, max_lifetime: settings.max_lifetime };
    let (jti, until) = checked_claims(&claims, &client.client_id, &audiences, clock.now(), limits)
        .ok_or(Refused::Invalid)?;
    match settings.replay.first_use(replay_id(&client.client_id, jti), until).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Refused::Invalid),
        Err(_) => Err(Refused::Unavailable),
    }
}

/// The time limits on an assertion's claims.
#[derive(Clone, Copy)]
struct Limits {
    leeway: Duration,
    max_lifetime: Duration,
}

/// The `jti` of `claims`, and until when it must not be accepted again, if the claims make an
/// assertion `client_id` authenticates with at `now` for one of `audiences` (see
/// [`authenticate`]). Any claim of another type than RFC 7519 gives it refuses the assertion.
fn checked_claims<'c>(
    claims: &'c Map<String, Value>,
    client_id: &str,
    audiences: &[Option<&str>],
    now: SystemTime,
    limits: Limits,
) -> Option<(&'c str, SystemTime)> {
    let is_client = |name: &str| claims.get(name).and_then(Value::as_str) == Some(client_id);
    if !is_client("iss") || !is_client("sub") {
        return None;
    }
    let for_us = |aud: &Value| aud.as_str().is_some_and(|aud| audiences.contains(&Some(aud)));
    let addressed = match claims.get("aud")? {
        aud @ Value::String(_) => for_us(aud),
        Value::Array(auds) => auds.iter().all(Value::is_string) && auds.iter().any(for_us),
        _ => false,
    };
    if !addressed {
        return None;
    }
    let exp = numeric_date(claims.get("exp")?)?;
    let until = exp.checked_add(limits.leeway)?;
    if until <= now {
        return None;
    }
    // An assertion valid for longer than the limit is refused, whatever its `iat`: a client
    // cannot stretch it. (A limit too large to add is no limit.)
    if let Some(latest) = now.checked_add(limits.max_lifetime).and_then(|t| t.checked_add(limits.leeway))
        && exp > latest
    {
        return None;
    }
    let soonest = now.checked_add(limits.leeway)?;
    for name in ["nbf", "iat"] {
        if let Some(value) = claims.get(name)
            && numeric_date(value)? > soonest
        {
            return None;
        }
    }
    let jti = claims.get("jti")?.as_str().filter(|jti| !jti.is_empty())?;
    Some((jti, until))
}

/// The replay cache's identifier of `client_id`'s assertion `jti`: SHA-256 of this crate's
/// context, the client id (its length first, so that no other id and `jti` make the same
/// input) and the `jti`.
fn replay_id(client_id: &str, jti: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(REPLAY_CONTEXT);
    digest.update((client_id.len() as u64).to_be_bytes());
    digest.update(client_id.as_bytes());
    digest.update(jti.as_bytes());
    digest.finalize().into()
}

/// The `sub` of `assertion`, read without verifying it: which client to look up when the
/// request has no `client_id` (RFC 7523 §3: `sub` is the client's id). The assertion is then
/// verified with that client's keys, and `sub` checked again.
pub(crate) fn unverified_subject(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&decoded).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_800_000_000;
    const ISSUER: &str = "https://auth.example.com";
    const LIMITS: Limits = Limits { leeway: Duration::from_secs(30), max_lifetime: Duration::from_secs(300) };

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn claims() -> Value {
        json!({ "iss": "c1", "sub": "c1", "aud": ISSUER, "exp": NOW + 60, "iat": NOW, "jti": "j1" })
    }

    fn check(claims: &Value) -> Option<(String, SystemTime)> {
        let claims = claims.as_object().unwrap();
        checked_claims(claims, "c1", &[Some(ISSUER), Some("https://auth.example.com/token")], now(), LIMITS)
            .map(|(jti, until)| (jti.to_owned(), until))
    }

    fn with(name: &str, value: Value) -> Value {
        let mut claims = claims();
        claims[name] = value;
        claims
    }

    fn without(name: &str) -> Value {
        let mut claims = claims();
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    #[test]
    fn a_valid_assertion_is_kept_until_its_exp_and_the_leeway() {
        assert_eq!(check(&claims()), Some(("j1".into(), now() + Duration::from_secs(90))));
        for aud in [json!("https://auth.example.com/token"), json!(["x", ISSUER])] {
            assert!(check(&with("aud", aud.clone())).is_some(), "{aud}");
        }
        assert!(check(&with("exp", json!(NOW - 10))).is_some(), "within the leeway");
        assert!(check(&with("nbf", json!(NOW + 10))).is_some(), "within the leeway");
        assert!(check(&with("exp", json!(NOW + 330))).is_some(), "the longest lifetime and the leeway");
    }

    #[test]
    fn each_rule_refuses_on_its_own() {
        let refused = [
            with("iss", json!("c2")),
            with("sub", json!("c2")),
            with("iss", json!(["c1"])),
            with("aud", json!("https://elsewhere.example.com")),
            with("aud", json!([ISSUER, 7])),
            with("aud", json!({})),
            without("aud"),
            without("exp"),
            with("exp", json!(NOW - 31)),
            with("exp", json!(NOW + 331)),
            with("exp", json!("soon")),
            with("exp", json!(-1)),
            with("exp", json!(1e300)),
            with("nbf", json!(NOW + 31)),
            with("iat", json!(NOW + 31)),
            with("iat", json!("now")),
            without("jti"),
            with("jti", json!("")),
            with("jti", json!(7)),
        ];
        for claims in refused {
            assert_eq!(check(&claims), None, "{claims}");
        }
    }

    #[test]
    fn no_limit_overflows() {
        let claims = claims();
        let claims = claims.as_object().unwrap();
        let huge = Limits { leeway: Duration::MAX, max_lifetime: Duration::MAX };
        let _ = checked_claims(claims, "c1", &[Some(ISSUER)], now(), huge);
        let _ = checked_claims(claims, "c1", &[Some(ISSUER)], SystemTime::UNIX_EPOCH, LIMITS);
    }

    #[test]
    fn replay_ids_tell_clients_and_jtis_apart() {
        assert_ne!(replay_id("ab", "c"), replay_id("a", "bc"));
        assert_ne!(replay_id("a", "b"), replay_id("b", "a"));
        assert_eq!(replay_id("a", "b"), replay_id("a", "b"));
    }

    #[test]
    fn the_subject_is_read_from_anything_without_a_panic() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"c1"}"#);
        assert_eq!(unverified_subject(&format!("e30.{payload}.sig")).as_deref(), Some("c1"));
        for garbage in ["", ".", "..", "a.b.c", "e30.e30.", "e30.W10.x", "e30.%%%.x", "e30.eyJzdWIiOjF9.x"] {
            assert_eq!(unverified_subject(garbage), None, "{garbage}");
        }
    }
}
