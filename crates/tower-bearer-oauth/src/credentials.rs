//! [`ClientCredentials`]: the client's id and secret, from HTTP Basic or the body.

use base64::Engine as _;
use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::{OAuthError, invalid_request};
use crate::form::{Form, decode_value};

/// The client's id and secret, and whether they came by HTTP Basic.
pub(crate) struct ClientCredentials {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) via_basic: bool,
}

impl ClientCredentials {
    pub(crate) fn from_request(headers: &HeaderMap, form: &Form) -> Result<Self, OAuthError> {
        let in_body = form.get("client_id").is_some() || form.get("client_secret").is_some();
        let header = headers.get(AUTHORIZATION);
        match (header, in_body) {
            (Some(_), true) => Err(invalid_request("use exactly one client authentication method")),
            (Some(value), false) => {
                Self::from_basic(value.as_bytes()).ok_or(OAuthError::invalid_client(true))
            }
            (None, true) => match (form.get("client_id"), form.get("client_secret")) {
                (Some(id), Some(secret)) => {
                    Ok(ClientCredentials { id: id.to_owned(), secret: secret.to_owned(), via_basic: false })
                }
                _ => Err(OAuthError::invalid_client(false)),
            },
            // No authentication at all: 401 with the Basic challenge says how to authenticate.
            (None, false) => Err(OAuthError::invalid_client(true)),
        }
    }

    /// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
    pub(crate) fn from_basic(value: &[u8]) -> Option<Self> {
        let value = std::str::from_utf8(value).ok()?;
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(encoded.trim_start_matches(' ')).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let (id, secret) = (decode_value(id), decode_value(secret));
        (!id.is_empty()).then_some(ClientCredentials { id, secret, via_basic: true })
    }
}
