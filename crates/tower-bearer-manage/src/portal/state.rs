//! [`Portal`]: what the pages share (the store, the host's settings, the secrets waiting to be
//! shown), and [`CurrentUser`], the signed-in user as the host says.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::header::LOCATION;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use tower_bearer::{TokenId, TokenInfo, TokenManager, TokenSecret};

use super::csrf::{self, CsrfKey};
use super::form::CreateRules;
use super::once::OneTime;
use super::respond::PortalError;
use super::user::{PortalUser, UserSource};
use crate::usage_source::UsageSource;

/// A new token's secret, until its owner's first look.
pub(crate) struct Shown {
    pub(crate) secret: TokenSecret,
    pub(crate) info: TokenInfo,
}

pub(crate) struct Portal<S> {
    pub(crate) store: S,
    pub(crate) user: Box<dyn UserSource>,
    pub(crate) csrf: CsrfKey,
    pub(crate) rules: CreateRules,
    pub(crate) show_secret_for: Duration,
    pub(crate) kind: String,
    pub(crate) title: String,
    /// Where a visitor nobody is signed in as is sent, if the host says.
    pub(crate) sign_in: Option<HeaderValue>,
    pub(crate) secrets: OneTime<Shown>,
    /// Tokens just revoked, for the list to say so once.
    pub(crate) revoked: OneTime<TokenInfo>,
    /// Where the usage pages read from, if the host serves them.
    pub(crate) usage: Option<Arc<dyn UsageSource>>,
}

impl<S: TokenManager> Portal<S> {
    pub(crate) fn now(&self) -> SystemTime {
        self.store.clock().now()
    }

    /// Whether `user` manages `info` here: their own, and of the portal's kind.
    pub(crate) fn manages(&self, user: &PortalUser, info: &TokenInfo) -> bool {
        user.owns(&info.principal) && info.principal.token_kind() == Some(self.kind.as_str())
    }

    /// `id`, if `user` manages it here; else 404, as an unknown token.
    pub(crate) async fn managed(&self, user: &PortalUser, id: &TokenId) -> Result<TokenInfo, PortalError> {
        match self.store.get(id).await? {
            Some(info) if self.manages(user, &info) => Ok(info),
            _ => Err(PortalError::NotFound),
        }
    }

    /// Checks a POST of the form `action`: from this site, with a CSRF token made for it.
    pub(crate) fn check_post(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        token: &str,
        user: &PortalUser,
        action: &str,
    ) -> Result<(), PortalError> {
        if csrf::same_origin(headers, uri) && self.csrf.verify(token, user, action, self.now()) {
            Ok(())
        } else {
            Err(PortalError::Forgery)
        }
    }

    /// A CSRF token for `user` to post the form `action` with.
    pub(crate) fn csrf_token(&self, user: &PortalUser, action: &str) -> String {
        self.csrf.token(user, action, self.now())
    }
}

/// The signed-in user; when the host says there is none, a redirect to its sign-in page or a
/// page asking to sign in.
pub(crate) struct CurrentUser(pub(crate) PortalUser);

impl<S: TokenManager> FromRequestParts<Arc<Portal<S>>> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<Portal<S>>) -> Result<Self, Response> {
        match portal.user.user(parts).await {
            Some(user) => Ok(CurrentUser(user)),
            None => Err(match &portal.sign_in {
                Some(location) => (StatusCode::SEE_OTHER, [(LOCATION, location.clone())]).into_response(),
                None => PortalError::SignIn.into_response(),
            }),
        }
    }
}
