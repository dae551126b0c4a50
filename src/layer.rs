//! [`BearerAuthLayer`]: the configuration builder and `tower_layer::Layer`.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::credentials::TokenSources;
use crate::event::{AuthEvent, EventSink};
use crate::header::DEFAULT_MAX_TOKEN_LEN;
use crate::response::{ErrorFormat, Responder, is_param_char};
use crate::scope::{ScopeRequirement, Scopes, is_scope_token};
use crate::service::{BearerAuth, Policy};
use crate::store::TokenStore;
use crate::token::TokenFormat;

/// Requires `Authorization: Bearer <token>` on every request, checked against a
/// [`TokenStore`].
///
/// Accepted requests reach the inner service with the [`Principal`](crate::Principal) in their
/// extensions; every other request is answered by the layer (see
/// [`AuthError`](crate::AuthError) for which status each case gets).
///
/// The layer is its own builder. Cloning it is cheap and clones share the store.
///
/// ```
/// use tower_bearer::{BearerAuthLayer, ErrorFormat, MemoryTokenStore};
///
/// let layer = BearerAuthLayer::new(MemoryTokenStore::new())
///     .realm("billing")
///     .require_scopes(["invoices:read"])
///     .error_format(ErrorFormat::Message)
///     .allow_cors_preflight(true);
/// ```
pub struct BearerAuthLayer<T> {
    store: Arc<T>,
    policy: Arc<Policy>,
}

impl<T: TokenStore> BearerAuthLayer<T> {
    /// A layer checking tokens against `store`, with no realm, no scope requirement and the
    /// [`ErrorFormat::OAuth`] body.
    pub fn new(store: T) -> Self {
        Self::from_shared_store(Arc::new(store))
    }

    /// A layer over a store already shared with other parts of the application.
    pub fn from_shared_store(store: Arc<T>) -> Self {
        let policy = Policy {
            responder: Responder::default(),
            requirement: None,
            allow_cors_preflight: false,
            sources: TokenSources {
                max_len: DEFAULT_MAX_TOKEN_LEN,
                query_param: None,
                cookie: None,
                formats: Vec::new(),
            },
            events: EventSink::default(),
            error_extension: false,
        };
        BearerAuthLayer { store, policy: Arc::new(policy) }
    }
}

impl<T> BearerAuthLayer<T> {
    fn policy_mut(&mut self) -> &mut Policy {
        Arc::make_mut(&mut self.policy)
    }

    /// The responder prebuilds the scope rejection, so it follows realm, format and
    /// requirement.
    fn rebuild_responder(&mut self, realm: Option<Box<str>>, format: ErrorFormat) {
        let policy = self.policy_mut();
        policy.responder = Responder::new(realm, format, policy.requirement.as_ref());
    }

    fn set_requirement(&mut self, requirement: ScopeRequirement) {
        self.policy_mut().requirement = Some(requirement);
        let (realm, format) =
            (self.policy.responder.realm().map(Into::into), self.policy.responder.format().clone());
        self.rebuild_responder(realm, format);
    }

    /// Sets the `realm` of the `WWW-Authenticate` challenge.
    ///
    /// # Panics
    ///
    /// If `realm` is empty or holds a character outside RFC 6749 §5.2's set (printable ASCII
    /// without `"` and `\`): such a realm would need escaping that clients handle poorly.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        assert!(
            !realm.is_empty() && realm.chars().all(is_param_char),
            "tower-bearer: the realm must be printable ASCII without '\"' or '\\'"
        );
        let format = self.policy.responder.format().clone();
        self.rebuild_responder(Some(realm.into_boxed_str()), format);
        self
    }

    /// Sets the JSON body format of rejections.
    #[must_use]
    pub fn error_format(mut self, format: ErrorFormat) -> Self {
        let realm = self.policy.responder.realm().map(Into::into);
        self.rebuild_responder(realm, format);
        self
    }

    /// Requires every one of `scopes` (403 `insufficient_scope` otherwise). Replaces any
    /// earlier requirement.
    ///
    /// # Panics
    ///
    /// If a scope is not an RFC 6749 §3.3 `scope-token` (empty, or with a space, `"` or `\`).
    #[must_use]
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_requirement(ScopeRequirement::All(checked_scopes(scopes)));
        self
    }

    /// Requires at least one of `scopes` (403 `insufficient_scope` otherwise). Replaces any
    /// earlier requirement.
    ///
    /// # Panics
    ///
    /// As [`require_scopes`](Self::require_scopes).
    #[must_use]
    pub fn require_any_scope<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_requirement(ScopeRequirement::Any(checked_scopes(scopes)));
        self
    }

    /// Lets CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`) through
    /// without a token, so a CORS layer inside this one can answer them. Off by default.
    /// Other `OPTIONS` requests still need a token.
    #[must_use]
    pub fn allow_cors_preflight(mut self, allow: bool) -> Self {
        self.policy_mut().allow_cors_preflight = allow;
        self
    }

    /// Rejects tokens longer than `max` bytes (401 `invalid_token`) before hashing them.
    /// Default [`DEFAULT_MAX_TOKEN_LEN`].
    #[must_use]
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.policy_mut().sources.max_len = max;
        self
    }

    /// Accepts only tokens of `format` (call again to accept several formats, e.g. live and
    /// test prefixes). A token of no accepted format is answered 401 `invalid_token` before
    /// it is hashed or the store is asked, so typos and fabricated tokens cost nothing.
    ///
    /// Without this call any well-formed bearer token goes to the store: static keys and
    /// tokens minted by other systems keep working.
    #[must_use]
    pub fn token_format(mut self, format: TokenFormat) -> Self {
        self.policy_mut().sources.formats.push(format);
        self
    }

    /// Also accepts the token in the query parameter `name` (RFC 6750 §2.3 uses
    /// `access_token`). Off by default: URLs end up in logs, browser history and `Referer`
    /// headers. A token sent in two places is 400 `invalid_request`.
    #[must_use]
    pub fn token_from_query(mut self, name: impl Into<String>) -> Self {
        self.policy_mut().sources.query_param = Some(name.into().into_boxed_str());
        self
    }

    /// Also accepts the token in the cookie `name`. Off by default; a cookie-carried token
    /// needs CSRF protection the layer does not provide.
    #[must_use]
    pub fn token_from_cookie(mut self, name: impl Into<String>) -> Self {
        self.policy_mut().sources.cookie = Some(name.into().into_boxed_str());
        self
    }

    /// Calls `hook` with one [`AuthEvent`] per request the layer handles, accepted or not.
    /// Keep it fast: it runs on the request path.
    #[must_use]
    pub fn on_event(mut self, hook: impl Fn(&AuthEvent<'_>) + Send + Sync + 'static) -> Self {
        self.policy_mut().events.set_hook(Arc::new(hook));
        self
    }

    /// Whether rejection responses carry the [`AuthError`](crate::AuthError) in their
    /// extensions, for outer layers to read (default `false`). On, every rejected request pays
    /// three allocations and their frees (~40–60 ns, as much as the rest of a rejection): the
    /// [`on_event`](Self::on_event) hook sees every outcome without that cost.
    #[must_use]
    pub fn rejection_extension(mut self, attach: bool) -> Self {
        self.policy_mut().error_extension = attach;
        self
    }

    /// The token store.
    #[must_use]
    pub fn store(&self) -> &Arc<T> {
        &self.store
    }
}

fn checked_scopes<I, S>(scopes: I) -> Scopes
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let scopes: Scopes = scopes.into_iter().collect();
    if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
        panic!("tower-bearer: {bad:?} is not a valid OAuth scope (RFC 6749 §3.3)");
    }
    scopes
}

impl<T> Clone for BearerAuthLayer<T> {
    fn clone(&self) -> Self {
        BearerAuthLayer { store: self.store.clone(), policy: self.policy.clone() }
    }
}

impl<T> fmt::Debug for BearerAuthLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl<S, T> Layer<S> for BearerAuthLayer<T> {
    type Service = BearerAuth<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth::new(inner, self.store.clone(), self.policy.clone())
    }
}
