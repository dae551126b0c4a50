//! [`Form`]: an `application/x-www-form-urlencoded` request body, decoded by the url crate's
//! `form_urlencoded` (the decoder every crate of the workspace uses), with the OAuth rules on
//! top: no parameter twice, an empty one as if omitted.

use std::collections::HashMap;

use crate::error::{OAuthError, invalid_request};

/// The decoded body parameters, each at most once (RFC 6749 §3.2).
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            // "Parameters sent without a value MUST be treated as if they were omitted."
            if value.is_empty() {
                continue;
            }
            if params.insert(name.into_owned(), value.into_owned()).is_some() {
                return Err(invalid_request("a parameter is repeated"));
            }
        }
        Ok(Form(params))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// One form-encoded value on its own (a client id or secret of HTTP Basic, RFC 6749 §2.3.1):
/// `+` is a space, `%XX` a byte, as [`Form::parse`] decodes a body's values.
pub(crate) fn decode_value(value: &str) -> String {
    // What `form_urlencoded` does to each name and value, on a value that is not in a body.
    percent_encoding::percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned()
}

#[cfg(feature = "client")]
/// Encodes `s` for `application/x-www-form-urlencoded` (a body's value, or a client id or
/// secret for HTTP Basic, RFC 6749 §2.3.1).
pub(crate) fn percent_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
