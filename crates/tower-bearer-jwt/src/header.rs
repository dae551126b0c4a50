//! The JOSE header this crate writes on the tokens it signs: the same bytes for every token of
//! a key, so that a verifier holding the key can recognise it without decoding or parsing it
//! ([`KeySet`](crate::KeySet) indexes it per key).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::key::Algorithm;

/// The `typ` of the tokens this crate signs: an RFC 9068 access token (§2.1).
pub(crate) const TYP: &str = "at+jwt";

/// The encoded header segment of the tokens this crate signs with `alg` and the key `kid`:
/// `{"alg":…,"kid":…,"typ":"at+jwt"}`, members in that order, no spaces. Both signing and the
/// key set's recognition of its own headers take it from here, so they cannot drift.
pub(crate) fn header_segment(alg: Algorithm, kid: &str) -> String {
    let json = format!(r#"{{"alg":"{}","kid":{},"typ":"{TYP}"}}"#, alg.name(), Value::from(kid));
    URL_SAFE_NO_PAD.encode(json)
}
