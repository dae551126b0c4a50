//! Handler-side rejections: an [`AuthError`] answered by a handler (or by
//! [`RequireScopes`](crate::RequireScopes)) behind the layer, then answered again by
//! [`BearerAuth`](super::BearerAuth) in its own format and realm.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response};

use super::error::AuthError;
use super::grpc::GrpcAnswers;
use super::responder::Responder;
use crate::principal::Principal;

/// Marks a response as a rejection for the enclosing [`BearerAuth`](super::BearerAuth) to
/// answer in its configuration. Private: only this crate's responses carry it.
#[derive(Clone, Debug)]
pub(crate) struct HandlerRejection {
    pub(crate) error: AuthError,
    /// The refused request, where the refusing code knew it ([`RequireScopes`](crate::RequireScopes)
    /// does): the layer then reports the refusal to its event hook too, in place of the
    /// request's admission.
    pub(crate) origin: Option<Origin>,
    /// Headers the refusal carries whatever its format (`Retry-After`, `RateLimit`, ...).
    pub(crate) headers: HeaderMap,
}

/// Who was refused, and for what.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) method: Method,
    pub(crate) path: Box<str>,
    pub(crate) principal: Principal,
    /// The request's gRPC content type, if it was a gRPC request: answered in kind.
    pub(crate) grpc_type: Option<HeaderValue>,
}

impl HandlerRejection {
    /// The response in the default format, still marked (no layer could answer it).
    pub(crate) fn into_response<B: From<Bytes>>(self) -> Response<B> {
        handler_rejection_with(self.error, self.origin, self.headers)
    }
}

/// The response for `error` in the default format (OAuth body, no realm), marked so that the
/// layer around the handler answers it in its own: a correct answer whether or not a layer is
/// there to re-answer it.
pub(crate) fn handler_rejection<B: From<Bytes>>(error: AuthError, origin: Option<Origin>) -> Response<B> {
    handler_rejection_with(error, origin, HeaderMap::new())
}

/// [`handler_rejection`] with `headers` that every answer to it carries.
pub(crate) fn handler_rejection_with<B: From<Bytes>>(
    error: AuthError,
    origin: Option<Origin>,
    headers: HeaderMap,
) -> Response<B> {
    static DEFAULT: OnceLock<Responder> = OnceLock::new();
    let grpc_type = origin.as_ref().and_then(|origin| origin.grpc_type.as_ref());
    let responder = DEFAULT.get_or_init(Responder::default);
    let mut response = responder.answer(GrpcAnswers::default(), grpc_type, error.clone(), false);
    response.headers_mut().extend(headers.clone());
    response.extensions_mut().insert(HandlerRejection { error, origin, headers });
    response
}

/// A handler refuses the request: the [`BearerAuthLayer`](crate::BearerAuthLayer) around it
/// answers with its own format, realm and challenge (a handler on a route the layer does not
/// cover answers in the default OAuth format, without a realm). The layer's event hook saw the
/// request authenticated, and does not hear of this refusal (it cannot tell which request it
/// refuses): answer with [`AuthError::refusing`] to have it reported, in place of the
/// authentication.
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
        handler_rejection(self, None)
    }
}

#[cfg(feature = "axum")]
impl AuthError {
    /// The answer refusing the request `method` `path` of `principal` (as the layer admitted
    /// it): the same answer as returning the error from the handler, and also reported to the
    /// layer's event hook as a refusal of that request, with its reason, naming the admission
    /// it takes the place of (so an audit log of the hook records the request once, refused).
    ///
    /// ```
    /// use axum::extract::OriginalUri;
    /// use axum::response::{IntoResponse, Response};
    /// use http::Method;
    /// use tower_bearer::{AuthError, Principal};
    ///
    /// async fn delete_invoice(principal: Principal, method: Method, OriginalUri(uri): OriginalUri) -> Response {
    ///     if !principal.scopes().grants("invoices:write") {
    ///         return AuthError::insufficient_scope(["invoices:write"]).refusing(&method, uri.path(), &principal);
    ///     }
    ///     "deleted".into_response()
    /// }
    /// ```
    pub fn refusing(
        self,
        method: &Method,
        path: &str,
        principal: &Principal,
    ) -> axum_core::response::Response {
        let origin = Origin {
            method: method.clone(),
            path: path.into(),
            principal: principal.clone(),
            grpc_type: None,
        };
        handler_rejection(self, Some(origin))
    }
}
