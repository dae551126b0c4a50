//! [`Form`]: an `application/x-www-form-urlencoded` token request body, decoded strictly.

use std::collections::HashMap;

use crate::error::{OAuthError, invalid_request};

/// The decoded body parameters, each at most once (RFC 6749 §3.2).
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let text = std::str::from_utf8(body).map_err(|_| invalid_request("the body is not UTF-8"))?;
        let mut params = HashMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name).ok_or_else(|| invalid_request("the body is not form-encoded"))?;
            let value =
                percent_decode(value).ok_or_else(|| invalid_request("the body is not form-encoded"))?;
            // "Parameters sent without a value MUST be treated as if they were omitted."
            if value.is_empty() {
                continue;
            }
            if params.insert(name, value).is_some() {
                return Err(invalid_request("a parameter is repeated"));
            }
        }
        Ok(Form(params))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Decodes `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte). `None` if an
/// escape is broken or the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                // `from_str_radix` alone would accept a sign ("%+f").
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(feature = "client")]
/// Encodes `s` for `application/x-www-form-urlencoded`: unreserved characters as they are,
/// every other byte as `%XX` (a space too, which is always safe).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
