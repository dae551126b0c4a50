//! [`parse`]: an RFC 7662 introspection answer as the [`TokenState`] of the token asked
//! about; [`state_of`]: the same for a JWT's claims. Pure, and fuzzed: an answer from the
//! network is untrusted input.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tower_bearer::{Clock, Credits, Principal, RateLimit, Scopes, TokenState};

/// Why an answer is not an introspection answer at all (the store then fails closed).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Not a JSON object.
    NotAnObject,
    /// No boolean `active` member (REQUIRED, RFC 7662 §2.2).
    NoActive,
}

/// What the introspection answer `body` says about the token, at `now`:
///
/// - `active: false` is [`TokenState::Unknown`] (RFC 7662 does not tell unknown, revoked and
///   expired apart, nor does this);
/// - `active: true` is [`TokenState::Active`], unless `exp` has passed ([`TokenState::Expired`]:
///   a server's clock may lag) or `nbf` has not come (`Unknown`);
/// - the principal: `sub` (else `client_id`, else `username`, else empty) as the subject,
///   `scope` (else `scp`; see [`scopes`]), `exp`, `jti` as the token id, `client_id` as the
///   token's name, `aud` (a string or an array), and this workspace's extension members
///   `organization`, `token_kind`, `rate_limit` and `credits` (what its introspection endpoint
///   and signed tokens write: every attribute of a [`Grant`](tower_bearer::Grant)), and `cnf`'s
///   `jkt`, the key the token is bound to (RFC 9449 §6); members of other types than RFC 7662
///   and RFC 7519 give them are ignored (an `exp` or `nbf` that is not a [`numeric_date`] too),
///   as are unknown members. Not `cnf`: a token bound by anything but a `jkt` string is
///   `Unknown` (see [`confirmation`]).
pub(crate) fn parse(body: &[u8], clock: &Clock) -> Result<TokenState, Malformed> {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
        return Err(Malformed::NotAnObject);
    };
    match m.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(TokenState::Unknown),
        _ => return Err(Malformed::NoActive),
    }
    Ok(state_of(&m, clock, Duration::ZERO))
}

/// The state of a token whose claims (or introspection members) are `m`, now by `clock`, allowing
/// `leeway` on `exp` and `nbf`: shared by introspection answers and JWT claims (RFC 7662
/// borrows RFC 7519's names). The principal's expiry is `exp` plus the leeway: the moment
/// this answer stops admitting the token, which the layer checks again on its own clock.
pub(crate) fn state_of(m: &Map<String, Value>, clock: &Clock, leeway: Duration) -> TokenState {
    match principal_of(m, leeway) {
        Some((principal, not_before)) => TokenState::of_verified(principal, not_before, clock, leeway),
        None => TokenState::Unknown,
    }
}

/// The principal the members `m` describe, its expiry `exp` plus `leeway`, and the time `nbf`
/// names; `None` for a token bound by a method this workspace cannot check
/// ([`confirmation`]). What the token is at a given time is [`state_of`]'s to say.
pub(crate) fn principal_of(
    m: &Map<String, Value>,
    leeway: Duration,
) -> Option<(Principal, Option<SystemTime>)> {
    let bound_to = confirmation(m).ok()?;
    let subject = ["sub", "client_id", "username"].iter().find_map(|k| string(m, k)).unwrap_or_default();
    let mut b = Principal::builder(subject);
    if let Some(scopes) = scopes(m) {
        b = b.scopes(scopes);
    }
    if let Some(id) = string(m, "jti") {
        b = b.token_id(id);
    }
    if let Some(client) = string(m, "client_id") {
        b = b.token_name(client);
    }
    if let Some(org) = string(m, "organization") {
        b = b.organization(org);
    }
    if let Some(kind) = string(m, "token_kind") {
        b = b.token_kind(kind);
    }
    if let Some(limit) = rate_limit(m) {
        b = b.rate_limit(limit);
    }
    if let Some(credits) = credits(m) {
        b = b.credits(credits);
    }
    if let Some(jkt) = bound_to {
        b = b.confirmation(jkt);
    }
    match m.get("aud") {
        Some(Value::String(aud)) => b = b.audience([aud.as_str()]),
        Some(Value::Array(auds)) => b = b.audience(auds.iter().filter_map(Value::as_str)),
        _ => {}
    }
    // `exp` plus the leeway; for a date so late that it cannot be added, the date itself
    // (numeric dates end in the year 9999, so this does not happen with leeways of minutes).
    let until = time(m, "exp").map(|exp| exp.checked_add(leeway).unwrap_or(exp));
    if let Some(until) = until {
        b = b.expires_at(until);
    }
    Some((b.build(), time(m, "nbf")))
}

/// The scopes of `scope`, else of `scp`: a space-separated string (RFC 9068 §2.2.3, RFC 7662;
/// Azure AD's `scp`) or an array of strings, one scope each (Okta's `scp`). In an array,
/// elements that are not a scope (RFC 6749 §3.3: not empty, no spaces, no quotes or
/// backslashes) or not a string are left out: never more than the issuer listed. `None` when
/// neither member is a string or an array.
pub(crate) fn scopes(m: &Map<String, Value>) -> Option<Scopes> {
    ["scope", "scp"].iter().find_map(|key| match m.get(*key)? {
        Value::String(list) => Some(Scopes::parse(list)),
        Value::Array(items) => {
            Some(items.iter().filter_map(Value::as_str).filter(|s| Scopes::is_valid(s)).collect())
        }
        _ => None,
    })
}

/// This workspace's `rate_limit` member (`requests`, `period_ms`), if it is one `RateLimit`
/// takes.
fn rate_limit(m: &Map<String, Value>) -> Option<RateLimit> {
    let limit = m.get("rate_limit")?;
    let requests = u32::try_from(limit.get("requests")?.as_u64()?).ok()?;
    RateLimit::new(requests, Duration::from_millis(limit.get("period_ms")?.as_u64()?))
}

/// This workspace's `credits` member (`initial`, and `refill_amount` with `refill_every_s`).
fn credits(m: &Map<String, Value>) -> Option<Credits> {
    let plan = m.get("credits")?;
    let credits = Credits::new(plan.get("initial")?.as_u64()?);
    match (plan.get("refill_amount"), plan.get("refill_every_s")) {
        (None, None) => Some(credits),
        (Some(amount), Some(every)) => {
            Some(credits.refilled(amount.as_u64()?, Duration::from_secs(every.as_u64()?)))
        }
        _ => None,
    }
}

/// The key `cnf` binds the token to (`jkt`, RFC 9449 §6), `None` for a token without `cnf`
/// (or with `cnf: null`): a bearer token. `Err` for a `cnf` without a `jkt` string: the token
/// is bound by a method this workspace cannot check (`x5t#S256`, RFC 8705; a `jwk`), and
/// ignoring the binding, as other ill-typed members are ignored, would let whoever copied the
/// token use it.
fn confirmation(m: &Map<String, Value>) -> Result<Option<&str>, ()> {
    match m.get("cnf") {
        None | Some(Value::Null) => Ok(None),
        Some(cnf) => cnf.get("jkt").and_then(Value::as_str).map(Some).ok_or(()),
    }
}

fn string<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key)?.as_str()
}

/// The latest NumericDate read, 9999-12-31T23:59:59Z: the last second RFC 3339 (and every
/// `SystemTime`) can write; later dates are out of range.
pub(crate) const LATEST: f64 = 253_402_300_799.0;

/// `value` as a NumericDate (seconds since the epoch, RFC 7519 §2, fractions allowed), if it
/// is one from the epoch to [`LATEST`]: anything else (another type, negative, later) is
/// `None`, never a panic.
pub(crate) fn numeric_date(value: &Value) -> Option<SystemTime> {
    let secs = value.as_f64().filter(|s| (0.0..=LATEST).contains(s))?;
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
}

/// The member `key` of `m` as a [`numeric_date`].
fn time(m: &Map<String, Value>, key: &str) -> Option<SystemTime> {
    numeric_date(m.get(key)?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn answers_and_their_states() {
        let now = &Clock::manual(at(1_000));
        assert!(matches!(parse(br#"{"active":false}"#, now), Ok(TokenState::Unknown)));
        let full = br#"{"active":true,"sub":"u","scope":"a b","exp":2000,"jti":"t1","client_id":"c",
            "aud":["x","y"],"organization":"o","extra":{"nested":[1,2]}}"#;
        let Ok(TokenState::Active(p)) = parse(full, now) else { panic!() };
        assert_eq!((p.subject(), p.token_name(), p.organization()), ("u", Some("c"), Some("o")));
        assert_eq!(p.token_id().map(|t| t.as_str()), Some("t1"));
        assert!(p.scopes().grants("a") && p.is_for("y"));
        assert_eq!(p.expires_at(), Some(at(2000)));
        assert!(matches!(parse(br#"{"active":true,"sub":"u","exp":999}"#, now), Ok(TokenState::Expired(_))));
        assert!(matches!(parse(br#"{"active":true,"nbf":1001}"#, now), Ok(TokenState::Unknown)));
        let Ok(TokenState::Active(p)) =
            parse(br#"{"active":true,"client_id":"svc","scope":7,"exp":"soon"}"#, now)
        else {
            panic!()
        };
        assert_eq!((p.subject(), p.expires_at()), ("svc", None), "wrongly typed members are ignored");
    }

    proptest::proptest! {
        /// The fuzz target: any bytes, and any JSON object of the members `parse` reads,
        /// with any values: an answer or an error, never a panic.
        #[test]
        fn never_panics_on_bytes(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse(&body, &Clock::manual(at(1_000)));
        }

        #[test]
        fn never_panics_on_members(
            active in proptest::option::of(proptest::bool::ANY),
            exp in proptest::option::of(proptest::num::f64::ANY),
            text in "\\PC*",
            aud in proptest::collection::vec("\\PC*", 0..3),
        ) {
            let mut m = Map::new();
            if let Some(active) = active {
                m.insert("active".into(), Value::Bool(active));
            }
            if let Some(exp) = exp.and_then(serde_json::Number::from_f64) {
                m.insert("exp".into(), Value::Number(exp.clone()));
                m.insert("nbf".into(), Value::Number(exp));
            }
            for key in ["sub", "scope", "jti", "client_id", "organization"] {
                m.insert(key.into(), Value::String(text.clone()));
            }
            m.insert("aud".into(), aud.into_iter().map(Value::String).collect());
            let _ = parse(Value::Object(m).to_string().as_bytes(), &Clock::manual(at(1_000)));
        }
    }

    #[test]
    fn numeric_dates_from_the_epoch_to_the_year_9999() {
        for (value, secs) in [(json!(0), Some(0.0)), (json!(-0.0), Some(0.0)), (json!(1.5), Some(1.5))] {
            assert_eq!(numeric_date(&value), secs.map(|s| UNIX_EPOCH + Duration::from_secs_f64(s)));
        }
        assert_eq!(numeric_date(&json!(253_402_300_799_u64)), Some(at(253_402_300_799)));
        for value in [
            json!(253_402_300_800_u64),
            json!(u64::MAX),
            json!(1e300),
            json!(-1),
            json!(-1e-9),
            json!("1"),
            json!(null),
            json!([1]),
        ] {
            assert_eq!(numeric_date(&value), None, "{value}");
        }
    }

    #[test]
    fn scopes_as_a_string_or_an_array() {
        let of = |v: Value| scopes(v.as_object().unwrap()).map(|s| s.to_string());
        assert_eq!(of(json!({ "scope": "b a", "scp": ["c"] })), Some("a b".into()));
        assert_eq!(of(json!({ "scp": "b a" })), Some("a b".into()));
        assert_eq!(of(json!({ "scp": ["b", "a", 1, "c d", "", null] })), Some("a b".into()));
        assert_eq!(of(json!({ "scope": 7, "scp": ["a"] })), Some("a".into()));
        assert_eq!(of(json!({ "scope": {}, "scp": false })), None);
    }

    #[test]
    fn cnf_jkt_binds_and_a_binding_that_cannot_be_checked_refuses() {
        let now = &Clock::manual(at(1_000));
        let bound = |cnf: Value| match parse(
            json!({ "active": true, "sub": "u", "cnf": cnf }).to_string().as_bytes(),
            now,
        ) {
            Ok(TokenState::Active(p)) => Some(p.grant().confirmation().map(str::to_owned)),
            Ok(TokenState::Unknown) => None,
            other => panic!("{other:?}"),
        };
        assert_eq!(bound(json!({ "jkt": "k1" })), Some(Some("k1".to_owned())));
        assert_eq!(bound(json!({ "jkt": "k1", "other": 1 })), Some(Some("k1".to_owned())));
        assert_eq!(bound(Value::Null), Some(None), "null: no binding");
        for cannot in [json!({ "x5t#S256": "abc" }), json!({ "jkt": 7 }), json!({}), json!("k1"), json!([])] {
            assert_eq!(bound(cannot.clone()), None, "{cannot}");
        }
        let Ok(TokenState::Active(p)) = parse(br#"{"active":true,"sub":"u"}"#, now) else { panic!() };
        assert_eq!(p.grant().confirmation(), None, "no cnf: a bearer token");
    }

    #[test]
    fn non_answers_are_errors() {
        let now = &Clock::manual(at(0));
        for body in [&b""[..], b"[]", b"{", b"null", b"{\"active\":\"true\"}", b"{}", b"\xff"] {
            assert!(parse(body, now).is_err(), "{body:?}");
        }
    }
}
