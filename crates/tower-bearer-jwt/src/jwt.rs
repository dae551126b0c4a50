//! The compact JWS form of an RFC 9068 access token: signing, and verifying down to the
//! claims (`typ`, `iss`, `aud`, `exp`, `nbf`) on top of [`Jws`], which checks `alg`, `kid`
//! and the signature.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tower_bearer::{Clock, TokenState};

use crate::claims::Claims;
use crate::header::{TYP, header_segment};
use crate::jws::{AlgorithmPolicy, Jws};
use crate::key_set::KeySet;
use crate::memo::{ClaimsMemo, VerifiedToken};

/// What the claims must say, besides the signature.
pub(crate) struct Expect<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) leeway: Duration,
}

/// Signs `claims` with the set's signing key: `header.payload.signature`.
pub(crate) fn sign(keys: &KeySet, claims: &Value) -> Option<String> {
    let key = keys.signing_key()?;
    let mut token = format!(
        "{}.{}",
        header_segment(key.algorithm(), key.kid()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Some(token)
}

/// The state of `token` now, by `clock`: active or expired if it verifies
/// against `keys` and `expect`, unknown for any failure (all answered alike: 401), whatever the
/// claims hold: never a panic. The principal's expiry is `exp` plus the leeway, the moment this
/// verifier stops accepting the token (the layer checks it again on its own clock). A token `memo` holds,
/// the same bytes that verified before under the same fixed keys, is not verified and read
/// again; the times are checked every time.
pub(crate) fn verify(
    keys: &KeySet,
    token: &Jws<'_>,
    expect: &Expect<'_>,
    memo: &ClaimsMemo,
    clock: &Clock,
) -> TokenState {
    match memo.verify(token, clock, || read_verified(keys, token, expect)) {
        Some(verified) => verified.state(clock, expect.leeway),
        None => TokenState::Unknown,
    }
}

/// What `token` means if it verifies: header, signature and `typ` checked, the payload decoded
/// and read, `iss` and `aud` checked, the principal built. The same for every request with
/// these bytes.
fn read_verified(keys: &KeySet, token: &Jws<'_>, expect: &Expect<'_>) -> Option<VerifiedToken> {
    // The key decides the algorithm: a header naming another (`none`, or HS256 over a public
    // key) is refused before any signature is computed.
    let verified = token.verify_with(keys, &AlgorithmPolicy::ALL).ok()?;
    let typ = verified.typ()?;
    // RFC 9068 §4: `application/at+jwt` is accepted too.
    if !typ.eq_ignore_ascii_case(TYP) && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return None;
    }
    let claims = Claims::parse(verified.payload())?;
    if claims.iss != expect.issuer || !claims.aud.contains(expect.audience) {
        return None;
    }
    // RFC 9068 §2.2: `exp` is required (a missing one fails the parse), and must be a time
    // (`principal` refuses one after the year 9999).
    let principal = claims.principal(expect.audience, expect.leeway.as_secs())?;
    let not_before = match claims.nbf {
        Some(nbf) => Some(UNIX_EPOCH.checked_add(Duration::from_secs(nbf))?),
        None => None,
    };
    Some(VerifiedToken::new(principal, not_before))
}
