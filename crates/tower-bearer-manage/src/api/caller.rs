//! [`Caller`]: the principal a management request is made with; the API's refusals are
//! answered by the layer, in its format, as the request's outcome.

use std::ops::Deref;

use axum::extract::FromRequestParts;
use http::request::Parts;
use tower_bearer::{MissingPrincipal, Principal};

/// The authenticated caller of a management route.
pub(crate) struct Caller {
    principal: Principal,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, MissingPrincipal> {
        Ok(Caller { principal: Principal::from_request_parts(parts, state).await? })
    }
}

impl Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}
