//! Axum extractor for [`Principal`] (feature `axum`).

use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::principal::Principal;

/// Takes the [`Principal`] that [`BearerAuthLayer`](crate::BearerAuthLayer) put into the
/// request. On a route the layer does not cover, extraction fails with [`MissingPrincipal`]
/// (500, naming the missing layer) instead of panicking. Use `Option<Principal>` on routes
/// where authentication is optional.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or(MissingPrincipal)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

/// Rejection of the [`Principal`] extractor: the request did not pass through
/// [`BearerAuthLayer`](crate::BearerAuthLayer), which is a server misconfiguration, so the
/// answer is 500 with a message saying exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct MissingPrincipal;

impl MissingPrincipal {
    /// The response body.
    pub const MESSAGE: &'static str = "tower-bearer: no authenticated Principal in the request extensions; \
         is BearerAuthLayer installed on this route (Router::layer or Router::route_layer)?";
}

impl fmt::Display for MissingPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::MESSAGE)
    }
}

impl std::error::Error for MissingPrincipal {}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, Self::MESSAGE).into_response()
    }
}
