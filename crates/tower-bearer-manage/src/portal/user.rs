//! [`PortalUser`]: whose tokens the portal shows, and the two ways a host tells it (a closure
//! over the request, or one of its own axum extractors).

use std::future::{Future, ready};
use std::marker::PhantomData;
use std::pin::Pin;

use axum::extract::FromRequestParts;
use http::request::Parts;
use tower_bearer::Principal;

/// The host application's signed-in user, as the portal sees them: the tokens it lists,
/// creates and revokes are this subject's (in this organization, if any).
///
/// ```
/// use tower_bearer_manage::PortalUser;
///
/// let ada = PortalUser::new("user_42", "Ada Lovelace").organization("acme");
/// assert_eq!(ada.subject, "user_42");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortalUser {
    /// The subject the tokens belong to (as in [`NewToken::for_subject`](tower_bearer::NewToken::for_subject)).
    pub subject: String,
    /// The user's organization or tenant, if the host has them: tokens are created in it,
    /// and only its tokens are listed.
    pub organization: Option<String>,
    /// The name the page shows ("Signed in as …").
    pub display_name: String,
}

impl PortalUser {
    /// A user with no organization.
    #[must_use]
    pub fn new(subject: impl Into<String>, display_name: impl Into<String>) -> Self {
        PortalUser { subject: subject.into(), organization: None, display_name: display_name.into() }
    }

    /// In `organization`.
    #[must_use]
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// Whether a token of `principal` is this user's: same subject, same organization (both
    /// without one, or the same).
    pub(crate) fn owns(&self, principal: &Principal) -> bool {
        principal.subject() == self.subject && principal.organization() == self.organization.as_deref()
    }

    /// Whether `other` is the same user (the display name aside).
    pub(crate) fn is(&self, other: &PortalUser) -> bool {
        self.subject == other.subject && self.organization == other.organization
    }
}

pub(crate) type UserFuture<'a> = Pin<Box<dyn Future<Output = Option<PortalUser>> + Send + 'a>>;

/// Where the portal learns who is signed in.
pub(crate) trait UserSource: Send + Sync + 'static {
    fn user<'a>(&'a self, parts: &'a mut Parts) -> UserFuture<'a>;
}

/// A closure over the request (reading, say, what the host's session middleware put in its
/// extensions).
pub(crate) struct UserFn<F>(pub(crate) F);

impl<F> UserSource for UserFn<F>
where
    F: Fn(&Parts) -> Option<PortalUser> + Send + Sync + 'static,
{
    fn user<'a>(&'a self, parts: &'a mut Parts) -> UserFuture<'a> {
        Box::pin(ready((self.0)(parts)))
    }
}

/// One of the host's axum extractors; its rejection means nobody is signed in.
pub(crate) struct UserExtractor<E>(PhantomData<fn() -> E>);

impl<E> UserExtractor<E> {
    pub(crate) fn new() -> Self {
        UserExtractor(PhantomData)
    }
}

impl<E> UserSource for UserExtractor<E>
where
    E: FromRequestParts<()> + Into<PortalUser> + 'static,
{
    fn user<'a>(&'a self, parts: &'a mut Parts) -> UserFuture<'a> {
        Box::pin(async move { E::from_request_parts(parts, &()).await.ok().map(Into::into) })
    }
}
