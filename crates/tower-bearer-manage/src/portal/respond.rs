//! Every answer of the portal: pages with their status, the redirect after a POST, the pages
//! that refuse ([`PortalError`]), and the headers that go on all of them.

use axum::response::{IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderValue, StatusCode};
use maud::Markup;
use tower_bearer::ManageError;

use super::assets;
use super::views;

/// A page.
pub(crate) fn html(status: StatusCode, page: Markup) -> Response {
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], page.into_string()).into_response()
}

/// 303 to `location` (after a POST, so that a reload does not post again).
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::try_from(location) {
        Ok(location) => (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response(),
        Err(_) => PortalError::NotFound.into_response(),
    }
}

/// The headers of every response: never cached (a page may hold a secret, and every form a
/// CSRF token), never framed, only the page's own style and script run.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(CONTENT_SECURITY_POLICY, assets::CONTENT_SECURITY_POLICY.clone());
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// Why the portal does not do what was asked, as a short page.
#[derive(Debug)]
pub(crate) enum PortalError {
    /// 403: the host says nobody is signed in (and names no sign-in page to send them to).
    SignIn,
    /// 403: a POST without a valid CSRF token, or from another site.
    Forgery,
    /// 404: no such token, or not the user's.
    NotFound,
    /// 503: the store failed.
    Unavailable,
}

impl From<ManageError> for PortalError {
    fn from(_: ManageError) -> Self {
        PortalError::Unavailable
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let (status, heading, text) = match self {
            PortalError::SignIn => (
                StatusCode::FORBIDDEN,
                "Sign in to manage your tokens",
                "This page shows the access tokens of the signed-in user. Sign in, then come back.",
            ),
            PortalError::Forgery => (
                StatusCode::FORBIDDEN,
                "The form has expired",
                "The form was not sent from this site, or it was open too long. Go back, reload the page and try again.",
            ),
            PortalError::NotFound => (
                StatusCode::NOT_FOUND,
                "No such token",
                "This token does not exist, was revoked already, or is not yours.",
            ),
            PortalError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Tokens are unavailable",
                "The tokens cannot be reached just now. Try again in a moment.",
            ),
        };
        html(status, views::message(heading, text, None))
    }
}
