//! [`Caller`]: the principal a management request is made with, and the request itself, so that
//! the API's refusals reach the layer's event hook (and the audit log) as refusals of it.

use std::ops::Deref;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::response::{IntoResponse, Response};
use http::Method;
use http::request::Parts;
use tower_bearer::{MissingPrincipal, Principal};

use super::error::ApiError;

/// The authenticated caller of a management route, and its request's method and path (as the
/// layer saw them: the path before any nesting).
pub(crate) struct Caller {
    principal: Principal,
    method: Method,
    path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, MissingPrincipal> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |original| &original.0);
        Ok(Caller { principal, method: parts.method.clone(), path: uri.path().to_owned() })
    }
}

impl Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl Caller {
    /// The answer of a handler that came to `result`: a refusal of authorization is answered
    /// by the layer in its format and reported to its event hook as a refusal of this request.
    pub(crate) fn answer<T: IntoResponse>(&self, result: Result<T, ApiError>) -> Response {
        match result {
            Ok(answer) => answer.into_response(),
            Err(ApiError::Auth(error)) => error.refusing(&self.method, &self.path, &self.principal),
            Err(error) => error.into_response(),
        }
    }
}
