//! The compact JWS form of an RFC 9068 access token: signing, and verifying down to the
//! claims (`alg`, `kid`, `typ`, signature, `iss`, `aud`, `exp`, `nbf`).

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_bearer::Principal;

use crate::claims::Claims;
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
    Valid(Principal),
    Expired(Principal),
}

/// The JOSE header: only what verification reads, borrowed from the decoded bytes.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
}

/// Signs `claims` with the set's signing key: `header.payload.signature`.
pub(crate) fn sign(keys: &KeySet, claims: &Value) -> Option<String> {
    let key = keys.signing_key()?;
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

/// The three parts of a compact JWS: `header.payload.signature`.
pub(crate) struct Jws<'t> {
    header: &'t str,
    payload: &'t str,
    /// `header.payload`, what the signature covers.
    signed: &'t str,
    signature: &'t str,
}

/// `token` split into the three parts of a JWS, if it has that shape (exactly two dots): what
/// routes it here rather than to the opaque-token store.
pub(crate) fn split(token: &str) -> Option<Jws<'_>> {
    // Two searches from the ends and one over the middle (all vectorised), rather than a
    // byte-by-byte count: tokens are hundreds of bytes.
    let first = token.find('.')?;
    let last = token.rfind('.')?;
    let (signed, signature) = (token.get(..last)?, token.get(last + 1..)?);
    let (header, payload) = (signed.get(..first)?, signed.get(first + 1..)?);
    if first == last || payload.contains('.') {
        return None;
    }
    Some(Jws { header, payload, signed, signature })
}

/// Decodes base64url `part` into `buffer`: the decoded bytes, or `None` if it is not base64url
/// or does not fit.
fn decode<'b>(part: &str, buffer: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = URL_SAFE_NO_PAD.decode_slice(part, buffer).ok()?;
    buffer.get(..n)
}

/// The principal of `token` if it verifies against `keys` and `expect` at `now`; `None` for
/// any failure (all answered alike: 401), whatever the claims hold: never a panic. The
/// principal's expiry is `exp` plus the leeway, the moment this verifier stops accepting the
/// token (the layer checks it again on its own clock).
pub(crate) fn verify(
    keys: &KeySet,
    token: &Jws<'_>,
    expect: &Expect<'_>,
    now: SystemTime,
) -> Option<Verified> {
    // The header and the signature are small: decoded on the stack, and anything longer than
    // these buffers is not a token of ours.
    let mut header_bytes = [0_u8; 512];
    let header: Header<'_> = serde_json::from_slice(decode(token.header, &mut header_bytes)?).ok()?;
    let typ = header.typ?;
    if !typ.eq_ignore_ascii_case(TYP) && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return None;
    }
    let key = keys.key(header.kid.as_deref()?)?;
    // The key decides the algorithm: a header naming another (`none`, or HS256 over a public
    // key) is refused before any signature is computed.
    if header.alg != key.algorithm().name() {
        return None;
    }
    let mut signature_bytes = [0_u8; 128];
    if !key.verify(token.signed.as_bytes(), decode(token.signature, &mut signature_bytes)?) {
        return None;
    }
    // Claims of the usual size are decoded on the stack too; larger ones on the heap.
    let mut payload_bytes = [0_u8; 1024];
    let heap;
    let payload = match decode(token.payload, &mut payload_bytes) {
        Some(payload) => payload,
        None => {
            heap = URL_SAFE_NO_PAD.decode(token.payload).ok()?;
            &heap
        }
    };
    let claims: Claims<'_> = serde_json::from_slice(payload).ok()?;
    if claims.iss != expect.issuer || !claims.aud.contains(expect.audience) {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let leeway = expect.leeway.as_secs();
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return None;
    }
    // RFC 9068 §2.2: `exp` is required (a missing one fails the parse), and must be a time
    // (`principal` refuses one after the year 9999).
    let principal = claims.principal(expect.audience, leeway)?;
    Some(if claims.exp.saturating_add(leeway) <= now {
        Verified::Expired(principal)
    } else {
        Verified::Valid(principal)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_parts_make_a_jws() {
        let parts = split("aa.bb.cc").map(|j| (j.header, j.payload, j.signed, j.signature));
        assert_eq!(parts, Some(("aa", "bb", "aa.bb", "cc")));
        assert!(split("..").is_some(), "empty parts are for the verifier to refuse");
        for not in ["", "abc", "a.b", "a.b.c.d", "a..b.c", ".", "tok_live_abc"] {
            assert!(split(not).is_none(), "{not}");
        }
    }
}
