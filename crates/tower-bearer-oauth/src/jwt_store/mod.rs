//! [`JwtStore`]: a [`TokenStore`] for JWT access tokens of an outside issuer, verified in this
//! process with keys from the issuer's JWKS.

mod discovery;
mod document;
pub(crate) mod keys;
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
use tower_bearer_jwt::{AlgorithmPolicy, ClaimsMemo, Jws};

use tower_bearer::store::Answer;
use tower_bearer::{Clock, PresentedToken, StoreError, TokenState, TokenStore};

pub use discovery::DiscoveryError;
use keys::KeyCache;
/// The algorithms of [`JwtStoreBuilder::algorithms`]: tower-bearer-jwt's.
pub use tower_bearer_jwt::Algorithm;
use verify::{Audience, Checks};

/// The longest leeway on `exp` and `nbf` accepted (a larger one is cut to it).
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// A [`TokenStore`] for JWT access tokens an outside authorization server signs (Keycloak,
/// Auth0, Okta, Ory, another tower-bearer): each token is verified here, with no call per
/// request, against the issuer's public keys, fetched from its JWKS URL (or found by OIDC
/// discovery, [`discover`](Self::discover)). Configured by a [`JwtStoreBuilder`].
///
/// - The header's `alg` must be one of the allowed algorithms (RS256, ES256 and EdDSA by
///   default, PS256 on request; never `none`, and never HS256: there is no secret shared with an
///   outside issuer, and a public key used as an HMAC secret is the classic
///   algorithm-confusion forgery), and its `kid` must name a key of the set whose own `alg`,
///   if it declares one, is the same. A token without a `kid` (RFC 7515 makes it optional)
///   is verified by the set's one key for its `alg`, and refused if the set has several; a
///   published key without a `kid` is named by its RFC 7638 thumbprint.
/// - The header's `typ` must be `at+jwt` (RFC 9068 §2.1; `application/at+jwt` too, in any
///   case), so that the issuer's ID tokens and other JWTs it signs are not taken for access
///   tokens; [`require_typ(false)`](JwtStoreBuilder::require_typ) for an issuer that does
///   not set it.
/// - Claims: `iss` must be the issuer; `aud` must contain the
///   [`audience`](JwtStoreBuilder::audience) (required: set one, or waive the check with
///   [`any_audience`](JwtStoreBuilder::any_audience)); `exp` is required (RFC 9068 §2.2;
///   [`require_exp(false)`](JwtStoreBuilder::require_exp) to accept tokens without one);
///   `exp` and `nbf` are checked on the store's [`Clock`] with the
///   [`leeway`](JwtStoreBuilder::leeway) on both. A token whose `exp` has passed is expired
///   (401 `invalid_token`, "expired"); anything else wrong is unknown (401), including a
///   claim of another type than RFC 7519 gives it: a `sub` that is not a string, an `aud`
///   that is not a string or an array of strings, an `exp` or `nbf` that is not a NumericDate
///   from 1970 to the year 9999 (another type, negative, later). No claim value makes the
///   store panic.
/// - Keys: fetched on the first token, then again when a token names an unknown `kid` (the
///   issuer rotated), at most once per
///   [`refetch_interval`](JwtStoreBuilder::refetch_interval) whether the last attempt
///   succeeded or not (an attacker making up `kid`s cannot make the store hammer the issuer);
///   a set older than [`max_key_age`](JwtStoreBuilder::max_key_age) is fetched again before
///   use, so a key the issuer withdrew stops verifying. A fetch that fails answers 503 (fail
///   closed) and keeps the previous keys; after a failure the next attempt waits a second,
///   then twice as long after each further failure in a row, up to a minute: without usable
///   keys, the tokens that come meanwhile are answered 503 with no fetch. The store's clones
///   share its keys, its fetches and their backoff.
///
/// The principal: `sub` as the subject (else `client_id`), `scope` (else `scp`; either a
/// space-separated string or an array of strings), `jti` as the token id, `client_id` as the
/// token's name, `aud`, an `organization` claim, the key the token is bound to (`cnf.jkt`,
/// RFC 9449 §6.1; a token bound by another method, such as `cnf.x5t#S256`, is refused), and as
/// its expiry `exp` plus the leeway (when this store stops accepting it).
///
/// ```no_run
/// use tower_bearer::BearerAuthLayer;
/// use tower_bearer_oauth::JwtStore;
///
/// # async fn demo() -> Result<(), tower_bearer_oauth::DiscoveryError> {
/// let store = JwtStore::discover("https://login.example.com/realms/acme")
///     .await?
///     .audience("https://api.example.com")
///     .build();
/// let layer = BearerAuthLayer::new(store).require_scopes(["reports:read"]);
/// # Ok(()) }
/// ```
///
/// The audience has no default: the builder is told [`audience`](JwtStoreBuilder::audience)
/// or [`any_audience`](JwtStoreBuilder::any_audience). A store built with neither is a
/// configuration error that fails closed: every token is answered 503 (`store_unavailable`),
/// with a store error that says what to set, and the issuer is never asked.
pub struct JwtStore<C = HttpConnector> {
    inner: Arc<Inner<C>>,
}

/// The store's configuration and keys, shared by its clones.
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
    /// Configures a store for tokens `issuer` signs with the keys at `jwks_uri` (plain
    /// `http`; see [`builder_with_client`](Self::builder_with_client) for `https`). See
    /// [`JwtStoreBuilder`]: the audience must be decided there.
    ///
    /// # Errors
    ///
    /// If `jwks_uri` is not a URI.
    pub fn builder(
        jwks_uri: &str,
        issuer: impl Into<String>,
    ) -> Result<JwtStoreBuilder<HttpConnector>, http::uri::InvalidUri> {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Self::builder_with_client(client, jwks_uri.parse()?, issuer))
    }

    /// Finds the JWKS of `issuer` by OIDC discovery (`{issuer}/.well-known/openid-configuration`,
    /// then RFC 8414's `{issuer}/.well-known/oauth-authorization-server`): the builder of the
    /// store for its tokens, as [`builder`](Self::builder) with the JWKS URL found.
    ///
    /// # Errors
    ///
    /// If neither document could be fetched, or has no `jwks_uri`, or names another issuer.
    pub async fn discover(issuer: &str) -> Result<JwtStoreBuilder<HttpConnector>, DiscoveryError> {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let jwks = discovery::jwks_uri(&client, issuer).await?;
        Ok(Self::builder_with_client(client, jwks, issuer))
    }
}

impl<C> JwtStore<C> {
    /// Configures a store for tokens `issuer` signs with the keys at `jwks_uri`, fetched
    /// through `client` (one with a TLS connector for `https`). See [`JwtStoreBuilder`].
    pub fn builder_with_client(
        client: Client<C, Full<Bytes>>,
        jwks_uri: Uri,
        issuer: impl Into<String>,
    ) -> JwtStoreBuilder<C> {
        JwtStoreBuilder {
            checks: Checks::new(issuer.into()),
            keys: KeyCache::new(client, jwks_uri, ClaimsMemo::DEFAULT_CAPACITY),
            clock: Clock::default(),
        }
    }
}

/// Configures a [`JwtStore`]; see [`JwtStore::builder`], [`JwtStore::builder_with_client`]
/// and [`JwtStore::discover`]. The audience must be decided:
/// [`audience`](Self::audience) or [`any_audience`](Self::any_audience).
///
/// ```no_run
/// use std::time::Duration;
/// use tower_bearer::BearerAuthLayer;
/// use tower_bearer_oauth::JwtStore;
///
/// # fn main() -> Result<(), http::uri::InvalidUri> {
/// let store = JwtStore::builder("http://auth.internal/jwks.json", "http://auth.internal")?
///     .audience("https://api.example.com")
///     .leeway(Duration::from_secs(10))
///     .max_key_age(Duration::from_secs(15 * 60))
///     .build();
/// let layer = BearerAuthLayer::new(store).require_scopes(["reports:read"]);
/// # Ok(()) }
/// ```
#[must_use]
pub struct JwtStoreBuilder<C = HttpConnector> {
    checks: Checks,
    /// Nothing fetched yet: the source and its limits.
    keys: KeyCache<C>,
    clock: Clock,
}

impl<C> JwtStoreBuilder<C> {
    /// Accepts only tokens whose `aud` contains `audience` (this resource's identifier). An
    /// audience, or [`any_audience`](Self::any_audience), is required: a store with neither
    /// refuses every token (503).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.checks.audience = Audience::One(audience.into());
        self
    }

    /// Waives the audience check: tokens for any resource (or none) are accepted, as long as
    /// the rest verifies. Only for an issuer whose tokens name no audience, and that signs
    /// tokens for this service alone: otherwise a token issued for another service is
    /// accepted here. Replaces an [`audience`](Self::audience) set before.
    pub fn any_audience(mut self) -> Self {
        self.checks.audience = Audience::Any;
        self
    }

    /// Whether tokens must carry `exp` (default `true`, as RFC 9068 §2.2 requires). With
    /// `false`, a token without `exp` is accepted and never expires (it is valid as long as
    /// its signing key is published); an `exp` that is present is still checked.
    pub fn require_exp(mut self, require: bool) -> Self {
        self.checks.require_exp = require;
        self
    }

    /// Whether the header's `typ` must be `at+jwt` or `application/at+jwt`, in any case
    /// (default `true`, RFC 9068 §2.1). With `false`, for an issuer that does not set it, any
    /// `typ` (or none) is accepted, so the issuer's ID tokens are told from access tokens by
    /// their audience alone (an ID token's `aud` is the client's id): keep an
    /// [`audience`](Self::audience) then.
    pub fn require_typ(mut self, require: bool) -> Self {
        self.checks.require_typ = require;
        self
    }

    /// The algorithms accepted (default RS256, ES256, EdDSA; PS256 can be added). HS256 is
    /// left out whatever is asked, as `none` always is: an outside issuer shares no secret
    /// with this service.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.checks.algorithms = AlgorithmPolicy::only(algorithms).outside_issuer();
        self
    }

    /// The clock skew allowed on `exp` and `nbf` (default 30 seconds, at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.checks.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// The least time between two fetches of the key set caused by unknown `kid`s (default
    /// 60 seconds), counted from the last attempt, failed or not.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.keys.refetch_interval = interval;
        self
    }

    /// How long a fetched key set is used before it is fetched again (default an hour): the
    /// longest a withdrawn key keeps verifying.
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.keys.max_key_age = age;
        self
    }

    /// How long a fetch may take (default 5 seconds; then 503).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.keys.timeout = timeout;
        self
    }

    /// How many tokens the store remembers (default [`ClaimsMemo::DEFAULT_CAPACITY`], about
    /// 2 MB; 0 turns the memory off). A token presented again while its key set is in use is
    /// not verified again, nor its claims read: with RS256 this saves tens of microseconds a
    /// request. Only tokens that verified are remembered, each by the SHA-256 digest of its
    /// signature and the bytes it covers (no signature is kept, so no token either); `exp` and
    /// `nbf` are checked on every request; a key set
    /// fetched again that differs from the last starts an empty memory, so a withdrawn key's
    /// tokens are refused as soon as the new set is in use. See [`ClaimsMemo`].
    pub fn claims_memo(mut self, capacity: usize) -> Self {
        self.keys.memo_capacity = capacity;
        self
    }

    /// Reads the time from `clock` (default: the system clock): `exp`, `nbf`, key ages.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The store. Nothing is fetched until the first token.
    #[must_use]
    pub fn build(self) -> JwtStore<C> {
        JwtStore { inner: Arc::new(Inner { checks: self.checks, keys: self.keys, clock: self.clock }) }
    }
}

impl<C> fmt::Debug for JwtStoreBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_fields(f.debug_struct("JwtStoreBuilder"), &self.checks, &self.keys)
    }
}

/// The settings both `Debug`s show.
fn debug_fields<C>(mut f: fmt::DebugStruct<'_, '_>, checks: &Checks, keys: &KeyCache<C>) -> fmt::Result {
    f.field("jwks_uri", &keys.jwks_uri)
        .field("issuer", &checks.issuer)
        .field("audience", &checks.audience)
        .field("require_exp", &checks.require_exp)
        .field("require_typ", &checks.require_typ)
        .field("algorithms", &checks.algorithms)
        .finish_non_exhaustive()
}

impl<C> Clone for JwtStore<C> {
    fn clone(&self) -> Self {
        JwtStore { inner: self.inner.clone() }
    }
}

impl<C> fmt::Debug for JwtStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_fields(f.debug_struct("JwtStore"), &self.inner.checks, &self.inner.keys)
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> Inner<C> {
    /// The answer from the keys at hand, if they are fresh enough and know the `kid`.
    fn verify_now(&self, token: &Jws<'_>) -> Option<TokenState> {
        self.keys.with_keys(&self.clock, |keys, memo| self.checks.verify(token, keys, memo, &self.clock))
    }

    async fn lookup_later(self: Arc<Self>, token: String) -> Result<TokenState, StoreError> {
        self.keys.refresh(&self.clock).await?;
        let state = Jws::split(&token).and_then(|token| self.verify_now(&token));
        Ok(state.unwrap_or(TokenState::Unknown))
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> TokenStore for JwtStore<C> {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        if let Audience::Unset = self.inner.checks.audience {
            return Answer::Now(Err(StoreError::unavailable(NO_AUDIENCE)));
        }
        let inner = &self.inner;
        let Some(jws) = Jws::split_bytes(token.expose_secret_bytes()) else {
            return Answer::Now(Ok(TokenState::Unknown));
        };
        // The memo first (one digest of the signature), then the header, then the signature.
        match inner.verify_now(&jws) {
            Some(state) => Answer::Now(Ok(state)),
            // The keys at hand are stale, or have no key for the token. The header is checked
            // before any key is fetched: a token this store would refuse anyway never makes it
            // ask the issuer.
            None if !inner.checks.header_admits(&jws) => Answer::Now(Ok(TokenState::Unknown)),
            None => Answer::Later(Box::pin(inner.clone().lookup_later(token.expose_secret().to_owned()))),
        }
    }
}
