//! [`JwtStore`]: a [`TokenStore`] for JWT access tokens of an outside issuer, verified in this
//! process with keys from the issuer's JWKS.

mod discovery;
mod document;
mod keys;
mod verify;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::Algorithm;

use tower_bearer::store::{BoxLookup, Lookup, LookupResult};
use tower_bearer::{Clock, PresentedToken, StoreError, TokenState, TokenStore};

pub use discovery::DiscoveryError;
use keys::KeyCache;
use verify::{Audience, Checks, Header};

/// The longest leeway on `exp` and `nbf` accepted (a larger one is cut to it).
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// A [`TokenStore`] for JWT access tokens an outside authorization server signs (Keycloak,
/// Auth0, Okta, Ory, another tower-bearer): each token is verified here, with no call per
/// request, against the issuer's public keys, fetched from its JWKS URL (or found by OIDC
/// discovery, [`discover`](Self::discover)).
///
/// - The header's `alg` must be one of the allowed algorithms (RS256, ES256 and EdDSA by
///   default; never `none`, and never an HMAC algorithm: there is no secret shared with an
///   outside issuer, and a public key used as an HMAC secret is the classic
///   algorithm-confusion forgery), and its `kid` must name a key of the set whose own `alg`,
///   if it declares one, is the same.
/// - The header's `typ` must be `at+jwt` (RFC 9068 §2.1; `application/at+jwt` too, in any
///   case), so that the issuer's ID tokens and other JWTs it signs are not taken for access
///   tokens; [`require_typ(false)`](Self::require_typ) for an issuer that does not set it.
/// - Claims: `iss` must be the issuer; `aud` must contain the [`audience`](Self::audience)
///   (required: set one, or waive the check with [`any_audience`](Self::any_audience)); `exp`
///   is required (RFC 9068 §2.2; [`require_exp(false)`](Self::require_exp) to accept tokens
///   without one); `exp` and `nbf` are checked on the store's [`Clock`] with the
///   [`leeway`](Self::leeway) on both. A token whose `exp` has passed is expired (401
///   `invalid_token`, "expired"); anything else wrong is unknown (401), including a claim of
///   another type than RFC 7519 gives it: a `sub` that is not a string, an `aud` that is not
///   a string or an array of strings, an `exp` or `nbf` that is not a NumericDate from 1970
///   to the year 9999 (another type, negative, later). No claim value makes the store panic.
/// - Keys: fetched on the first token, then again when a token names an unknown `kid` (the
///   issuer rotated), at most once per [`refetch_interval`](Self::refetch_interval) whether
///   the last attempt succeeded or not (an attacker making up `kid`s cannot make the store
///   hammer the issuer); a set older than [`max_key_age`](Self::max_key_age) is fetched again
///   before use, so a key the issuer withdrew stops verifying. A fetch that fails answers 503
///   (fail closed) and keeps the previous keys; after a failure the next attempt waits a
///   second, then twice as long after each further failure in a row, up to a minute: without
///   usable keys, the tokens that come meanwhile are answered 503 with no fetch.
///
/// The principal: `sub` as the subject (else `client_id`), `scope` (else `scp`; either a
/// space-separated string or an array of strings), `jti` as the token id, `client_id` as the
/// token's name, `aud`, an `organization` claim, and as its expiry `exp` plus the leeway (when
/// this store stops accepting it).
///
/// ```no_run
/// use tower_bearer::BearerAuthLayer;
/// use tower_bearer_oauth::JwtStore;
///
/// # async fn demo() -> Result<(), tower_bearer_oauth::DiscoveryError> {
/// let store = JwtStore::discover("https://login.example.com/realms/acme")
///     .await?
///     .audience("https://api.example.com");
/// let layer = BearerAuthLayer::new(store).require_scopes(["reports:read"]);
/// # Ok(()) }
/// ```
///
/// Why the audience is a setting that must be made, and not an error at start-up: the store
/// has no build step that could fail (the constructors return it, and the setters chain), so
/// the choice is made explicit instead: [`audience`](Self::audience) or
/// [`any_audience`](Self::any_audience). A store with neither is a configuration error that
/// fails closed: every token is answered 503 (`store_unavailable`), with a store error that
/// says what to set, and the issuer is never asked.
pub struct JwtStore<C = HttpConnector> {
    inner: Arc<Inner<C>>,
}

/// The store's configuration and keys, shared by its clones. A clone of it (what a setter
/// called on a shared store changes) has the same configuration, with a key cache of its own
/// (empty: keys are fetched again, see [`KeyCache`]'s `Clone`).
#[derive(Clone)]
struct Inner<C> {
    /// What a token must be.
    checks: Checks,
    /// The issuer's keys.
    keys: KeyCache<C>,
    clock: Clock,
}

/// What a store with neither an audience nor [`JwtStore::any_audience`] answers.
const NO_AUDIENCE: &str = "JwtStore: no audience configured; set this resource's with \
    `.audience(..)`, or waive the check with `.any_audience()`";

impl JwtStore<HttpConnector> {
    /// A store for tokens `issuer` signs with the keys at `jwks_uri` (plain `http`; see
    /// [`with_client`](Self::with_client) for `https`).
    ///
    /// # Errors
    ///
    /// If `jwks_uri` is not a URI.
    pub fn new(jwks_uri: &str, issuer: impl Into<String>) -> Result<Self, http::uri::InvalidUri> {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Self::with_client(client, jwks_uri.parse()?, issuer))
    }

    /// Finds the JWKS of `issuer` by OIDC discovery (`{issuer}/.well-known/openid-configuration`,
    /// then RFC 8414's `{issuer}/.well-known/oauth-authorization-server`): the store for its
    /// tokens.
    ///
    /// # Errors
    ///
    /// If neither document could be fetched, or has no `jwks_uri`, or names another issuer.
    pub async fn discover(issuer: &str) -> Result<Self, DiscoveryError> {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let jwks = discovery::jwks_uri(&client, issuer).await?;
        Ok(Self::with_client(client, jwks, issuer))
    }
}

impl<C> JwtStore<C> {
    /// A store for tokens `issuer` signs with the keys at `jwks_uri`, fetched through
    /// `client` (one with a TLS connector for `https`).
    pub fn with_client(client: Client<C, Full<Bytes>>, jwks_uri: Uri, issuer: impl Into<String>) -> Self {
        let inner = Inner {
            checks: Checks::new(issuer.into()),
            keys: KeyCache::new(client, jwks_uri),
            clock: Clock::default(),
        };
        JwtStore { inner: Arc::new(inner) }
    }
}

/// The setters. Each returns the store with the setting changed; on a store that was cloned
/// already, the clones keep the settings they had (and the returned store gets a key cache
/// of its own): setting never panics.
impl<C: Clone> JwtStore<C> {
    fn inner_mut(&mut self) -> &mut Inner<C> {
        Arc::make_mut(&mut self.inner)
    }

    /// Accepts only tokens whose `aud` contains `audience` (this resource's identifier). An
    /// audience, or [`any_audience`](Self::any_audience), is required: a store with neither
    /// refuses every token (503).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.inner_mut().checks.audience = Audience::One(audience.into());
        self
    }

    /// Waives the audience check: tokens for any resource (or none) are accepted, as long as
    /// the rest verifies. Only for an issuer whose tokens name no audience, and that signs
    /// tokens for this service alone: otherwise a token issued for another service is
    /// accepted here. Replaces an [`audience`](Self::audience) set before.
    #[must_use]
    pub fn any_audience(mut self) -> Self {
        self.inner_mut().checks.audience = Audience::Any;
        self
    }

    /// Whether tokens must carry `exp` (default `true`, as RFC 9068 §2.2 requires). With
    /// `false`, a token without `exp` is accepted and never expires (it is valid as long as
    /// its signing key is published); an `exp` that is present is still checked.
    #[must_use]
    pub fn require_exp(mut self, require: bool) -> Self {
        self.inner_mut().checks.require_exp = require;
        self
    }

    /// Whether the header's `typ` must be `at+jwt` or `application/at+jwt`, in any case
    /// (default `true`, RFC 9068 §2.1). With `false`, for an issuer that does not set it, any
    /// `typ` (or none) is accepted, so the issuer's ID tokens are told from access tokens by
    /// their audience alone (an ID token's `aud` is the client's id): keep an
    /// [`audience`](Self::audience) then.
    #[must_use]
    pub fn require_typ(mut self, require: bool) -> Self {
        self.inner_mut().checks.require_typ = require;
        self
    }

    /// The algorithms accepted (default RS256, ES256, EdDSA). HMAC algorithms and `none` are
    /// left out whatever is asked: an outside issuer shares no secret with this service.
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        let hmac = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        self.inner_mut().checks.algorithms = algorithms.into_iter().filter(|a| !hmac.contains(a)).collect();
        self
    }

    /// The clock skew allowed on `exp` and `nbf` (default 30 seconds, at most 5 minutes).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.inner_mut().checks.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// The least time between two fetches of the key set caused by unknown `kid`s (default
    /// 60 seconds), counted from the last attempt, failed or not.
    #[must_use]
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.inner_mut().keys.refetch_interval = interval;
        self
    }

    /// How long a fetched key set is used before it is fetched again (default an hour): the
    /// longest a withdrawn key keeps verifying.
    #[must_use]
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.inner_mut().keys.max_key_age = age;
        self
    }

    /// How long a fetch may take (default 5 seconds; then 503).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner_mut().keys.timeout = timeout;
        self
    }

    /// Reads the time from `clock` (default: the system clock): `exp`, `nbf`, key ages.
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.inner_mut().clock = clock;
        self
    }
}

impl<C> Clone for JwtStore<C> {
    fn clone(&self) -> Self {
        JwtStore { inner: self.inner.clone() }
    }
}

impl<C> fmt::Debug for JwtStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtStore")
            .field("jwks_uri", &self.inner.keys.jwks_uri)
            .field("issuer", &self.inner.checks.issuer)
            .field("audience", &self.inner.checks.audience)
            .field("require_exp", &self.inner.checks.require_exp)
            .field("require_typ", &self.inner.checks.require_typ)
            .field("algorithms", &self.inner.checks.algorithms)
            .finish_non_exhaustive()
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> Inner<C> {
    /// The answer from the keys at hand, if they are fresh enough and know the `kid`.
    fn verify_now(&self, token: &str, header: &Header) -> Option<TokenState> {
        self.keys.with_key(&header.kid, &self.clock, |key, key_alg, now| {
            self.checks.verify(token, header.alg, key, key_alg, now)
        })
    }

    async fn lookup_later(self: Arc<Self>, token: String, header: Header) -> LookupResult {
        self.keys.refresh(&self.clock).await?;
        Ok(self.verify_now(&token, &header).unwrap_or(TokenState::Unknown))
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> TokenStore for JwtStore<C> {
    type Future = BoxLookup;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<BoxLookup> {
        if let Audience::Unset = self.inner.checks.audience {
            return Lookup::Now(Err(StoreError::unavailable(NO_AUDIENCE)));
        }
        let secret = token.expose_secret();
        let Some(header) = self.inner.checks.header(secret) else {
            return Lookup::Now(Ok(TokenState::Unknown));
        };
        match self.inner.verify_now(secret, &header) {
            Some(state) => Lookup::Now(Ok(state)),
            None => Lookup::Later(Box::pin(self.inner.clone().lookup_later(secret.to_owned(), header))),
        }
    }
}
