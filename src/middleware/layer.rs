//! [`BearerAuthLayer`]: the configuration builder and `tower_layer::Layer`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use http::request::Parts;
use tower_layer::Layer;

use super::credentials::Schemes;
use super::format::ErrorFormat;
use super::grpc::GrpcAnswers;
use super::policy::{Config, Policy};
use super::proof::{Dpop, ProofVerifier};
use super::require::{checked, checked_any};
use super::responder::is_param_char;
use super::service::BearerAuth;
use crate::clock::Clock;
use crate::manage::usage::UsageOutcome;
use crate::outcome::event::AuthEvent;
use crate::principal::Principal;
use crate::scope::ScopeRequirement;
use crate::store::lookup::TokenStore;
use crate::token::format::TokenFormat;

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
    config: Config,
    /// Built from `config` by the first [`Layer::layer`] call and shared by every service and
    /// every clone of this layer (axum clones a layer into each route, and may apply it per
    /// request); a builder call starts a new one for the layer it returns.
    policy: Arc<OnceLock<Arc<Policy>>>,
}

impl<T: TokenStore> BearerAuthLayer<T> {
    /// A layer checking tokens against `store`, with no realm, no scope requirement and the
    /// [`ErrorFormat::OAuth`] body.
    pub fn new(store: T) -> Self {
        Self::from_shared_store(Arc::new(store))
    }

    /// A layer over a store already shared with other parts of the application.
    pub fn from_shared_store(store: Arc<T>) -> Self {
        BearerAuthLayer { store, config: Config::default(), policy: Arc::default() }
    }
}

impl<T> BearerAuthLayer<T> {
    /// The configuration, to change: the policy built from the old one is dropped.
    pub(crate) fn config_mut(&mut self) -> &mut Config {
        self.policy = Arc::default();
        &mut self.config
    }

    fn policy(&self) -> Arc<Policy> {
        self.policy.get_or_init(|| Policy::new(self.config.clone())).clone()
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
        self.config_mut().realm = Some(realm.into_boxed_str());
        self
    }

    /// Names the URL of this resource's metadata document (RFC 9728, served by
    /// `tower-bearer-oauth`'s `ProtectedResourceMetadata`) in every challenge:
    /// `WWW-Authenticate: Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`,
    /// so that a client (an MCP client, say) finds the authorization server to get a token
    /// from (RFC 9728 §5.1).
    ///
    /// # Panics
    ///
    /// If `url` is empty or holds a character outside RFC 6749 §5.2's set (printable ASCII
    /// without `"` and `\`), as for [`realm`](Self::realm).
    #[must_use]
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        assert!(
            !url.is_empty() && url.chars().all(is_param_char),
            "tower-bearer: the resource metadata URL must be printable ASCII without '\"' or '\\'"
        );
        self.config_mut().resource_metadata = Some(url.into_boxed_str());
        self
    }

    /// Accepts only tokens meant for `resource` (listed in their audience,
    /// [`Principal::audience`](crate::Principal::audience); RFC 8707): any other token, and a
    /// token restricted to no resource, is answered 401 `invalid_token` ("the access token is
    /// not meant for this resource"; reason `wrong_audience`). Without it, the audience is
    /// not checked.
    #[must_use]
    pub fn audience(mut self, resource: impl Into<String>) -> Self {
        self.config_mut().audience = Some(resource.into().into_boxed_str());
        self
    }

    /// Takes DPoP-bound tokens (RFC 9449) besides bearer tokens: `Authorization: DPoP <token>`
    /// with a `DPoP` proof header, checked by `verifier` (`tower-bearer-jwt`'s
    /// `DpopVerifier`). A token bound to a key ([`Grant::confirmation`](crate::Grant::confirmation))
    /// is taken only with a proof of that key; a token bound to none only as a bearer token.
    /// Every challenge gains `DPoP algs="..."`, and the proof's errors are answered 401
    /// `invalid_dpop_proof` or `use_dpop_nonce` (with `DPoP-Nonce`).
    ///
    /// Without it, the layer refuses every key-bound token (401 `invalid_token`): it could
    /// not check the proof that makes one usable.
    #[must_use]
    pub fn dpop(self, verifier: impl ProofVerifier) -> Self {
        self.with_dpop(Arc::new(verifier), false)
    }

    /// As [`dpop`](Self::dpop), and refuses bearer tokens: a token presented as one is
    /// answered 401 `invalid_token` (reason `dpop_required`), and challenges are `DPoP` ones
    /// only.
    #[must_use]
    pub fn require_dpop(self, verifier: impl ProofVerifier) -> Self {
        self.with_dpop(Arc::new(verifier), true)
    }

    fn with_dpop(mut self, verifier: Arc<dyn ProofVerifier>, required: bool) -> Self {
        let config = self.config_mut();
        config.dpop = Some(Dpop { verifier, required });
        // Bearer credentials are still read when DPoP is required, to answer them with
        // `dpop_required` rather than as if no token had been sent.
        config.sources.schemes = Schemes { bearer: true, dpop: true };
        self
    }

    /// Sets the JSON body format of rejections.
    #[must_use]
    pub fn error_format(mut self, format: ErrorFormat) -> Self {
        self.config_mut().format = format;
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
        self.config_mut().requirement = Some(ScopeRequirement::All(checked(scopes)));
        self
    }

    /// Requires at least one of `scopes` (403 `insufficient_scope` otherwise). Replaces any
    /// earlier requirement.
    ///
    /// # Panics
    ///
    /// As [`require_scopes`](Self::require_scopes), and if `scopes` is empty: "at least one of
    /// nothing" would let every token through, which is never what was meant.
    #[must_use]
    pub fn require_any_scope<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config_mut().requirement = Some(ScopeRequirement::Any(checked_any(scopes)));
        self
    }

    /// Lets CORS preflight requests (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) through without a token. Off by default; other
    /// `OPTIONS` requests still need a token.
    ///
    /// The inner service must answer preflights itself, without doing the route's work: put a
    /// CORS layer (tower-http's `CorsLayer`) *inside* this one, or better *outside* it, where
    /// it answers preflights before they reach this layer and this setting is not needed.
    /// Whatever the inner service does with an `OPTIONS` request, it does for anyone.
    #[must_use]
    pub fn allow_cors_preflight(mut self, allow: bool) -> Self {
        self.config_mut().allow_cors_preflight = allow;
        self
    }

    /// When rejections are answered the way gRPC clients understand: HTTP 200, `grpc-status`,
    /// `grpc-message` and the challenge in headers, no body (see [`GrpcAnswers`]). By default
    /// ([`GrpcAnswers::ByContentType`]) for gRPC requests only, so one layer serves a router
    /// that mixes REST routes and tonic services.
    pub fn grpc_answers(mut self, when: GrpcAnswers) -> Self {
        self.config_mut().grpc = when;
        self
    }

    /// Rejects tokens longer than `max` bytes (401 `invalid_token`) before hashing them.
    /// Default 4096 ([`PresentedToken::DEFAULT_MAX_LEN`](crate::PresentedToken::DEFAULT_MAX_LEN)).
    #[must_use]
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.config_mut().sources.max_len = max;
        self
    }

    /// Accepts only tokens of one of `formats` (live and test prefixes, say); replaces any
    /// earlier list. A token of no accepted format is answered 401 `invalid_token` before it
    /// is hashed or the store is asked, so typos and fabricated tokens cost nothing.
    ///
    /// Without this call (or with an empty list) any well-formed bearer token goes to the
    /// store: static keys and tokens minted by other systems keep working.
    #[must_use]
    pub fn token_formats(mut self, formats: impl IntoIterator<Item = TokenFormat>) -> Self {
        self.config_mut().sources.formats = formats.into_iter().collect();
        self
    }

    /// Also accepts the token in the query parameter `name` (RFC 6750 §2.3 uses
    /// `access_token`). Off by default: URLs end up in logs, browser history and `Referer`
    /// headers. A token sent in two places is 400 `invalid_request`.
    #[must_use]
    pub fn token_from_query(mut self, name: impl Into<String>) -> Self {
        self.config_mut().sources.query_param = Some(name.into().into_boxed_str());
        self
    }

    /// Also accepts the token in the cookie `name`. Off by default; a cookie-carried token
    /// needs CSRF protection the layer does not provide.
    #[must_use]
    pub fn token_from_cookie(mut self, name: impl Into<String>) -> Self {
        self.config_mut().sources.cookie = Some(name.into().into_boxed_str());
        self
    }

    /// Calls `hook` with one [`AuthEvent`] per request the layer handles, with its outcome:
    /// refused by the layer (at once), or admitted, reported once the request is answered, as
    /// [`Authenticated`](crate::middleware::Outcome::Authenticated) or as the refusal of the
    /// check behind the layer that refused it ([`RequireScopesLayer`](crate::RequireScopesLayer), the
    /// limit layers, a handler's [`AuthError`](crate::AuthError)). A request abandoned before
    /// its answer is reported authenticated. Keep the hook fast: it runs on the request path.
    #[must_use]
    pub fn on_event(mut self, hook: impl Fn(&AuthEvent<'_>) + Send + Sync + 'static) -> Self {
        self.config_mut().events.set_hook(Arc::new(hook));
        self
    }

    /// Calls `hook` with each request's [`UsageOutcome`] and principal (`None` for a token the
    /// store did not know), once per request as [`on_event`](Self::on_event) reports it:
    /// admitted, or refused by the layer or by a check behind it. Requests without a token, or
    /// not well-formed, are not reported ([`UsageOutcome::of`]). This is the hook for
    /// counting (`tower-bearer-manage`'s `UsageCounter`): without method and path to keep, an
    /// admitted request holds only its principal until its answer, which costs less on the
    /// request path than an event hook. Both hooks can be set. Keep it fast.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use tower_bearer::manage::usage::UsageOutcome;
    /// use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
    ///
    /// let admitted = Arc::new(AtomicU64::new(0));
    /// let count = admitted.clone();
    /// let layer = BearerAuthLayer::new(MemoryTokenStore::new()).on_outcome(move |outcome, _principal| {
    ///     if outcome == UsageOutcome::Admitted {
    ///         count.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn on_outcome(
        mut self,
        hook: impl Fn(UsageOutcome, Option<&Principal>) + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().events.set_outcome_hook(Arc::new(hook));
        self
    }

    /// Whether `tower_bearer_requests_total` is labelled by `token_id` as well as by `outcome`
    /// (default `false`). On, the counter has one series per token that made a request: a
    /// monitoring system pays for every one, so turn it on only for a bounded set of tokens
    /// (a few service keys), never for keys your users create. Unknown tokens never get a
    /// `token_id` label: what was presented is never recorded.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn metric_token_ids(mut self, on: bool) -> Self {
        self.config_mut().events.set_metric_token_ids(on);
        self
    }

    /// Whether rejection responses carry the [`AuthError`](crate::AuthError) in their
    /// extensions, for outer layers to read (default `false`). On, every rejected request pays
    /// three allocations and their frees (as much as the rest of a rejection, see BENCHMARKS.md): the
    /// [`on_event`](Self::on_event) hook sees every outcome without that cost.
    #[must_use]
    pub fn rejection_extension(mut self, attach: bool) -> Self {
        self.config_mut().error_extension = attach;
        self
    }

    /// Refuses a request whose principal `allow` does not accept, with 403
    /// `insufficient_scope` ([`AuthError::Denied`](crate::AuthError::Denied)): for checks that
    /// need only the principal and the request head, such as an organization in the path.
    /// Runs after the expiry and scope checks; replaces any earlier predicate.
    ///
    /// ```
    /// use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
    ///
    /// // `/orgs/<org>/...` only for tokens of that organization.
    /// let layer = BearerAuthLayer::new(MemoryTokenStore::new()).require(|principal, request| {
    ///     let org = request.uri.path().strip_prefix("/orgs/").and_then(|rest| rest.split('/').next());
    ///     org.is_some_and(|org| principal.organization() == Some(org))
    /// });
    /// ```
    #[must_use]
    pub fn require(mut self, allow: impl Fn(&Principal, &Parts) -> bool + Send + Sync + 'static) -> Self {
        self.config_mut().predicate = Some(Arc::new(allow));
        self
    }

    /// Reads the time from `clock` for the expiry check (default: the system clock). For
    /// tests: give the layer and the store the same [`Clock::manual`].
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config_mut().clock = clock;
        self
    }

    /// The token store.
    #[must_use]
    pub fn store(&self) -> &Arc<T> {
        &self.store
    }
}

impl<T> Clone for BearerAuthLayer<T> {
    fn clone(&self) -> Self {
        BearerAuthLayer {
            store: self.store.clone(),
            config: self.config.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<T> fmt::Debug for BearerAuthLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<S, T> Layer<S> for BearerAuthLayer<T> {
    type Service = BearerAuth<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth::new(inner, self.store.clone(), self.policy())
    }
}
