//! Refusals behind the layer: an [`AuthError`] returned by a handler, or a check's
//! ([`Guard`](super::Guard)), answered by [`BearerAuth`](super::BearerAuth) in its own format
//! and realm.

#[cfg(feature = "axum")]
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};

#[cfg(feature = "axum")]
use super::grpc::GrpcAnswers;
#[cfg(feature = "axum")]
use super::responder::Responder;
use crate::outcome::error::AuthError;

/// Marks a response as a rejection for the enclosing [`BearerAuth`](super::BearerAuth) to
/// answer in its configuration. Private: only this crate's responses carry it.
#[derive(Clone, Debug)]
pub(crate) struct HandlerRejection {
    pub(crate) error: AuthError,
    /// The refused request's gRPC content type, where the refusing code saw the request and it
    /// was a gRPC request: answered in kind.
    pub(crate) grpc_type: Option<HeaderValue>,
    /// Headers the refusal carries whatever its format (`Retry-After`, `RateLimit`, ...).
    pub(crate) headers: HeaderMap,
}

/// The response for `error` in the default format (OAuth body, no realm), marked so that the
/// layer around the handler answers it in its own: a correct answer whether or not a layer is
/// there to re-answer it. (Unlike a check's refusal, a handler may answer with one on a route
/// the layer does not cover; the default answer is clones from a prebuilt table, formatting
/// nothing but a handler's own scope list.)
#[cfg(feature = "axum")]
fn handler_rejection<B: From<Bytes>>(error: AuthError) -> Response<B> {
    static DEFAULT: OnceLock<Responder> = OnceLock::new();
    let responder = DEFAULT.get_or_init(Responder::default);
    let mut response = responder.answer(GrpcAnswers::default(), None, error.clone(), false);
    response.extensions_mut().insert(HandlerRejection { error, grpc_type: None, headers: HeaderMap::new() });
    response
}

/// A check's refusal, for the layer around it to answer: only the status and the mark, nothing
/// rendered. A check refuses only a request that has a principal, which only the layer puts
/// there, so the layer is always there to answer it, once, in its own format.
pub(crate) fn check_rejection(
    error: AuthError,
    grpc_type: Option<HeaderValue>,
    headers: HeaderMap,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = error.status();
    response.extensions_mut().insert(HandlerRejection { error, grpc_type, headers });
    response
}

/// A handler refuses the request: the [`BearerAuthLayer`](crate::BearerAuthLayer) around it
/// answers with its own format, realm and challenge (a handler on a route the layer does not
/// cover answers in the default OAuth format, without a realm). The layer's event hook hears
/// of the request once, as refused with this error.
///
/// ```
/// use axum::extract::Path;
/// use tower_bearer::{AuthError, Principal};
///
/// async fn invoices(principal: Principal, Path(org): Path<String>) -> Result<String, AuthError> {
///     if principal.organization() != Some(org.as_str()) {
///         // 403 insufficient_scope, in the layer's format
///         return Err(AuthError::Denied);
///     }
///     if !principal.scopes().grants("invoices:read") {
///         return Err(AuthError::insufficient_scope(["invoices:read"]));
///     }
///     Ok(format!("invoices of {org}"))
/// }
/// ```
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl axum_core::response::IntoResponse for AuthError {
    fn into_response(self) -> axum_core::response::Response {
        handler_rejection(self)
    }
}
