//! [`ClientAuth`]: how a client authenticates: its id and secret, from HTTP Basic or the body
//! (RFC 6749 §2.3.1), or a signed assertion in the body (RFC 7521 §4.2); exactly one.

use base64::Engine as _;
use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::{OAuthError, invalid_request};
use crate::form::{Form, decode_value};

/// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client authenticates. Never `Debug`: it holds a secret or an assertion.
pub(crate) enum ClientAuth {
    Secret(ClientCredentials),
    Assertion(ClientAssertion),
}

/// The client's id and secret, and whether they came by HTTP Basic.
pub(crate) struct ClientCredentials {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) via_basic: bool,
}

/// A JWT the client signed (`client_assertion`), and the `client_id` sent with it, if any.
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) struct ClientAssertion {
    pub(crate) client_id: Option<String>,
    pub(crate) jwt: String,
}

impl ClientAuth {
    pub(crate) fn from_request(headers: &HeaderMap, form: &Form) -> Result<Self, OAuthError> {
        let assertion = form.get("client_assertion_type").is_some() || form.get("client_assertion").is_some();
        let in_body = form.get("client_id").is_some() || form.get("client_secret").is_some();
        let header = headers.get(AUTHORIZATION);
        let one_method_only = || invalid_request("use exactly one client authentication method");
        if assertion {
            // RFC 6749 §2.3: one method per request; `client_id` alone is no method.
            if header.is_some() || form.get("client_secret").is_some() {
                return Err(one_method_only());
            }
            return match (form.get("client_assertion_type"), form.get("client_assertion")) {
                (Some(JWT_BEARER), Some(jwt)) => Ok(ClientAuth::Assertion(ClientAssertion {
                    client_id: form.get("client_id").map(str::to_owned),
                    jwt: jwt.to_owned(),
                })),
                _ => Err(OAuthError::invalid_client(true)),
            };
        }
        match (header, in_body) {
            (Some(_), true) => Err(one_method_only()),
            (Some(value), false) => ClientCredentials::from_basic(value.as_bytes())
                .map(ClientAuth::Secret)
                .ok_or(OAuthError::invalid_client(true)),
            (None, true) => match (form.get("client_id"), form.get("client_secret")) {
                (Some(id), Some(secret)) => Ok(ClientAuth::Secret(ClientCredentials {
                    id: id.to_owned(),
                    secret: secret.to_owned(),
                    via_basic: false,
                })),
                _ => Err(OAuthError::invalid_client(false)),
            },
            // No authentication at all: 401 with the Basic challenge says how to authenticate.
            (None, false) => Err(OAuthError::invalid_client(true)),
        }
    }

    /// Whether a failed authentication is answered 401 with the Basic challenge (HTTP Basic,
    /// and assertions), rather than 400 (a secret in the body, RFC 6749 §5.2).
    pub(crate) fn challenged(&self) -> bool {
        match self {
            ClientAuth::Secret(credentials) => credentials.via_basic,
            ClientAuth::Assertion(_) => true,
        }
    }
}

impl ClientCredentials {
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

/// Which endpoint a request is for: a client assertion may name that endpoint's URL as its
/// audience (feature `jwt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token = 0,
    Introspection = 1,
    Revocation = 2,
}
