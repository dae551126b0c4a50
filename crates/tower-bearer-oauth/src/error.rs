//! [`OAuthError`]: an RFC 6749 §5.2 error answer.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// The header a server's DPoP nonce travels in (RFC 9449 §8): with `use_dpop_nonce`, and
/// with every token answer when nonces are on.
pub(crate) const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

/// A boxed error, as clients, stores and bodies report them.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) description: &'static str,
    pub(crate) basic_challenge: bool,
    pub(crate) retry_after: Option<Duration>,
    /// The nonce a DPoP proof must carry (`use_dpop_nonce`, RFC 9449 §8), sent in `DPoP-Nonce`.
    pub(crate) dpop_nonce: Option<Box<str>>,
}

pub(crate) fn invalid_request(description: &'static str) -> OAuthError {
    OAuthError::bad_request("invalid_request", description)
}

impl OAuthError {
    pub(crate) fn new(status: StatusCode, code: &'static str, description: &'static str) -> Self {
        OAuthError { status, code, description, basic_challenge: false, retry_after: None, dpop_nonce: None }
    }

    pub(crate) fn bad_request(code: &'static str, description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    pub(crate) fn invalid_client(via_basic: bool) -> Self {
        let status = if via_basic { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
        OAuthError {
            basic_challenge: via_basic,
            ..Self::new(status, "invalid_client", "Client authentication failed")
        }
    }

    pub(crate) fn too_many_attempts(retry_after: Duration) -> Self {
        OAuthError {
            retry_after: Some(retry_after),
            // RFC 8628 §3.5's code, registered in the OAuth Extensions Error Registry.
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many failed client authentications; retry later",
            )
        }
    }

    pub(crate) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable",
        )
    }

    pub(crate) fn into_response(self, realm: &str) -> Response<Full<Bytes>> {
        let description: String = self.description.chars().filter(|&c| is_param_char(c)).collect();
        let body = format!(r#"{{"error":"{}","error_description":"{description}"}}"#, self.code);
        let mut response = json_response(self.status, body);
        let headers = response.headers_mut();
        if self.basic_challenge
            && let Ok(challenge) =
                HeaderValue::try_from(format!("Basic realm=\"{realm}\", charset=\"UTF-8\""))
        {
            headers.insert(http::header::WWW_AUTHENTICATE, challenge);
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        if let Some(after) = self.retry_after {
            // Round up: retrying a second early would only be refused again.
            let secs = after.as_secs().saturating_add(u64::from(after.subsec_nanos() > 0));
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(nonce) = self.dpop_nonce.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
            headers.insert(DPOP_NONCE, nonce);
        }
        response
    }
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Whether `c` may appear in an auth-param value or an `error_description`: RFC 6749 §5.2's
/// `%x20-21 / %x23-5B / %x5D-7E` (printable ASCII without `"` and `\`).
pub(crate) fn is_param_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_rounded_up_without_overflow() {
        for (wait, header) in [
            (Duration::from_millis(1500), "2"),
            (Duration::from_secs(3), "3"),
            // `Duration::MAX` has a fraction of a second: rounding it up once overflowed.
            (Duration::MAX, "18446744073709551615"),
        ] {
            let response = OAuthError::too_many_attempts(wait).into_response("r");
            assert_eq!(response.headers()[RETRY_AFTER], header, "{wait:?}");
        }
    }
}
