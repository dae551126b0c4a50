//! The management API's own errors (bad requests, unknown tokens), as JSON in the OAuth shape
//! the layer uses by default; refusals of authorization are the layer's `AuthError`s.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;
use tower_bearer::{AuthError, ManageError};

/// An answer other than success.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400 `invalid_request`, naming what is wrong.
    Invalid(String),
    /// 404: no such token, or not the caller's to see (its existence is not revealed).
    NotFound,
    /// 413: the body is over the limit.
    TooLarge(usize),
    /// 415: the body is not JSON.
    NotJson,
    /// 403 (or 401), answered by the layer in its own format.
    Auth(AuthError),
    /// 503: the store failed (fail closed).
    Unavailable,
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::NotFound(_) | ManageError::OtherTenant => ApiError::NotFound,
            ManageError::ScopeNotHeld(scope) => ApiError::Auth(AuthError::insufficient_scope([scope])),
            ManageError::Superseded | ManageError::ManagerExpired => ApiError::Auth(AuthError::Denied),
            ManageError::OutlivesIssuer
            | ManageError::LooserLimits(_)
            | ManageError::OutOfRange(_)
            | ManageError::ReservedKind(_) => ApiError::Invalid(e.to_string()),
            _ => ApiError::Unavailable,
        }
    }
}

fn body(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Invalid(what) => body(StatusCode::BAD_REQUEST, "invalid_request", &what),
            ApiError::NotFound => body(StatusCode::NOT_FOUND, "not_found", "no such token"),
            ApiError::TooLarge(limit) => body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                &format!("the body is over {limit} bytes"),
            ),
            ApiError::NotJson => body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the body must be JSON (Content-Type: application/json)",
            ),
            ApiError::Auth(e) => e.into_response(),
            ApiError::Unavailable => body(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the token store is unavailable",
            ),
        }
    }
}
