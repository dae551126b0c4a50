//! [`ErrorFormat`]: the JSON body of rejections, as data.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;

use crate::outcome::error::AuthError;

/// The JSON body of rejection responses. Status and `WWW-Authenticate` do not depend on it.
///
/// Each built-in format reproduces, byte for byte, the error bodies some real API providers
/// send, so an application moving onto this crate keeps its documented responses.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ErrorFormat {
    /// `{"error":"invalid_token","error_description":"the access token is invalid"}`: the
    /// RFC 6750 error code and description (`"unauthorized"` when credentials are missing,
    /// `"temporarily_unavailable"` when the store failed, `"rate_limited"` or
    /// `"credits_exhausted"` for a 429). The default.
    #[default]
    OAuth,
    /// `{"status":401,"message":"Unauthorized","timestamp":1713200000000}`: status, its
    /// reason phrase and the time in milliseconds since the Unix epoch.
    StatusMessageTimestamp,
    /// `{"message":"Unauthenticated."}` (Laravel style); 403 is
    /// `{"message":"This action is unauthorized."}`, 400 `{"message":"Bad request."}`,
    /// 503 `{"message":"Service unavailable."}`, 429 `{"message":"Too Many Attempts."}`.
    Message,
    /// `{"error":"unauthorized","message":"Invalid or missing API key"}`; 403 is
    /// `{"error":"forbidden","message":"Insufficient scope"}`, 400
    /// `{"error":"bad_request","message":"Malformed Authorization header"}`, 503
    /// `{"error":"service_unavailable","message":"Authentication is temporarily unavailable"}`,
    /// 429 `{"error":"rate_limited","message":"too many requests for this token, retry later"}`
    /// (or `credits_exhausted`).
    ErrorMessage,
    /// A body built by the application; see [`ErrorFormat::custom`].
    Custom(Arc<dyn Fn(&AuthError) -> String + Send + Sync>),
}

impl ErrorFormat {
    /// A body built by `f` from the rejection. It is sent as `application/json`.
    ///
    /// ```
    /// use tower_bearer::ErrorFormat;
    /// let format = ErrorFormat::custom(|e| format!(r#"{{"code":{}}}"#, e.status().as_u16()));
    /// ```
    pub fn custom(f: impl Fn(&AuthError) -> String + Send + Sync + 'static) -> Self {
        ErrorFormat::Custom(Arc::new(f))
    }

    /// The body for `error`.
    #[must_use]
    pub fn body(&self, error: &AuthError) -> String {
        let status = error.status();
        match self {
            ErrorFormat::OAuth => {
                let code = match error {
                    AuthError::MissingCredentials => "unauthorized",
                    AuthError::StoreUnavailable(_) => "temporarily_unavailable",
                    AuthError::Throttled(_) => error.reason(),
                    _ => error.error_code().unwrap_or("unauthorized"),
                };
                format!(r#"{{"error":"{code}","error_description":"{}"}}"#, error.description())
            }
            ErrorFormat::StatusMessageTimestamp => {
                let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
                let reason = status.canonical_reason().unwrap_or("Error");
                format!(r#"{{"status":{},"message":"{reason}","timestamp":{millis}}}"#, status.as_u16())
            }
            ErrorFormat::Message => {
                let message = match status {
                    StatusCode::UNAUTHORIZED => "Unauthenticated.",
                    StatusCode::FORBIDDEN => "This action is unauthorized.",
                    StatusCode::BAD_REQUEST => "Bad request.",
                    StatusCode::TOO_MANY_REQUESTS => "Too Many Attempts.",
                    _ => "Service unavailable.",
                };
                format!(r#"{{"message":"{message}"}}"#)
            }
            ErrorFormat::ErrorMessage => {
                let (code, message) = match status {
                    StatusCode::UNAUTHORIZED => ("unauthorized", "Invalid or missing API key"),
                    StatusCode::FORBIDDEN => ("forbidden", "Insufficient scope"),
                    StatusCode::BAD_REQUEST => ("bad_request", "Malformed Authorization header"),
                    StatusCode::TOO_MANY_REQUESTS => (error.reason(), error.description()),
                    _ => ("service_unavailable", "Authentication is temporarily unavailable"),
                };
                format!(r#"{{"error":"{code}","message":"{message}"}}"#)
            }
            ErrorFormat::Custom(f) => f(error),
        }
    }

    /// Whether the body for a given error is always the same (so it can be built once).
    pub(crate) fn is_fixed(&self) -> bool {
        !matches!(self, ErrorFormat::StatusMessageTimestamp | ErrorFormat::Custom(_))
    }
}

impl fmt::Debug for ErrorFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorFormat::OAuth => "OAuth",
            ErrorFormat::StatusMessageTimestamp => "StatusMessageTimestamp",
            ErrorFormat::Message => "Message",
            ErrorFormat::ErrorMessage => "ErrorMessage",
            ErrorFormat::Custom(_) => "Custom(..)",
        })
    }
}
