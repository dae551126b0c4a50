//! The compact JWS form of an RFC 9068 access token: signing, and verifying down to the
//! claims (`alg`, `kid`, `typ`, signature, `iss`, `aud`, `exp`, `nbf`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::key_set::KeySet;

/// The `typ` of an RFC 9068 access token (§2.1; `application/at+jwt` is accepted too, §4).
const TYP: &str = "at+jwt";

/// What the claims must say, besides the signature.
pub(crate) struct Expect<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) leeway: Duration,
}

/// A verified token's claims, and whether it has expired.
pub(crate) enum Verified {
    Valid(Map<String, Value>),
    Expired(Map<String, Value>),
}

/// Signs `claims` with the set's signing key: `header.payload.signature`.
pub(crate) fn sign(keys: &KeySet, claims: &Value) -> Option<String> {
    let key = keys.signing_key();
    let header = json!({ "alg": key.algorithm().name(), "typ": TYP, "kid": key.kid() });
    let mut token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Some(token)
}

/// Whether `token` has the shape of a JWS (three base64url parts): what routes it here rather
/// than to the opaque-token store.
pub(crate) fn looks_signed(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

fn object(part: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The claims of `token` if it verifies against `keys` and `expect` at `now`; `None` for any
/// failure (all answered alike: 401).
pub(crate) fn verify(keys: &KeySet, token: &str, expect: &Expect<'_>, now: SystemTime) -> Option<Verified> {
    let (signed, signature) = token.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    let header = object(header)?;
    let typ = header.get("typ")?.as_str()?;
    if !typ.eq_ignore_ascii_case(TYP) && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return None;
    }
    let key = keys.key(header.get("kid")?.as_str()?)?;
    // The key decides the algorithm: a header naming another (`none`, or HS256 over a public
    // key) is refused before any signature is computed.
    if header.get("alg")?.as_str()? != key.algorithm().name() {
        return None;
    }
    if !key.verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).ok()?) {
        return None;
    }
    let claims = object(payload)?;
    if claims.get("iss")?.as_str()? != expect.issuer {
        return None;
    }
    let audience_ok = match claims.get("aud")? {
        Value::String(aud) => aud == expect.audience,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(expect.audience)),
        _ => false,
    };
    if !audience_ok {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let leeway = expect.leeway.as_secs();
    if claims.get("nbf").and_then(Value::as_u64).is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return None;
    }
    // RFC 9068 §2.2: `exp` is required.
    let exp = claims.get("exp")?.as_u64()?;
    Some(if exp.saturating_add(leeway) <= now { Verified::Expired(claims) } else { Verified::Valid(claims) })
}
