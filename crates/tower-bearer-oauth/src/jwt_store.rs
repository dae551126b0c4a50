//! [`JwtStore`]: a [`TokenStore`] for JWT access tokens of an outside issuer, verified in this
//! process with keys from the issuer's JWKS.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use tower_bearer::store::{BoxError, BoxLookup, Lookup, LookupResult};
use tower_bearer::{Clock, PresentedToken, StoreError, TokenState, TokenStore};

use crate::fetch::{FetchError, fetch};
use crate::introspected::{numeric_date, state_of};

/// The largest JWKS (or discovery document) read.
const MAX_DOCUMENT: usize = 256 * 1024;

/// The longest leeway on `exp` and `nbf` accepted (a larger one is cut to it).
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The wait after a failed fetch of the key set before the next attempt; it doubles with each
/// failure in a row, up to [`LONGEST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait between two attempts to fetch the key set of a failing issuer.
const LONGEST_BACKOFF: Duration = Duration::from_secs(60);

/// The `typ` of an RFC 9068 access token (§2.1), and its media-type form (§4).
const ACCESS_TOKEN_TYPS: [&str; 2] = ["at+jwt", "application/at+jwt"];

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

struct Inner<C> {
    client: Client<C, Full<Bytes>>,
    jwks_uri: Uri,
    issuer: String,
    audience: Audience,
    require_exp: bool,
    require_typ: bool,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    refetch_interval: Duration,
    max_key_age: Duration,
    timeout: Duration,
    clock: Clock,
    keys: RwLock<Keys>,
    /// One fetch at a time; the others wait for its keys.
    fetching: tokio::sync::Mutex<()>,
}

/// The audience tokens must name.
#[derive(Clone, Debug)]
enum Audience {
    /// Not set, nor waived: a configuration error.
    Unset,
    /// `aud` must contain it.
    One(String),
    /// Waived: `aud` is not checked.
    Any,
}

/// The same configuration, with a key cache of its own (empty: keys are fetched again): what
/// a setter called on a shared store changes.
impl<C: Clone> Clone for Inner<C> {
    fn clone(&self) -> Self {
        Inner {
            client: self.client.clone(),
            jwks_uri: self.jwks_uri.clone(),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            require_exp: self.require_exp,
            require_typ: self.require_typ,
            algorithms: self.algorithms.clone(),
            leeway: self.leeway,
            refetch_interval: self.refetch_interval,
            max_key_age: self.max_key_age,
            timeout: self.timeout,
            clock: self.clock.clone(),
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// When the keys at hand were fetched.
    fetched_at: Option<SystemTime>,
    /// When the last fetch was attempted, whatever came of it.
    attempted_at: Option<SystemTime>,
    /// The failed attempts since the last that succeeded.
    failures: u32,
}

impl Keys {
    /// Whether the keys at hand are missing or older than `max_age`.
    fn stale(&self, now: SystemTime, max_age: Duration) -> bool {
        self.fetched_at.is_none_or(|at| now.duration_since(at).unwrap_or_default() >= max_age)
    }
}

/// The wait after `failures` failed fetches in a row: none, then one second, doubling, at most
/// [`LONGEST_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    match failures.checked_sub(1) {
        None => Duration::ZERO,
        Some(doublings) => FIRST_BACKOFF.saturating_mul(1_u32 << doublings.min(16)).min(LONGEST_BACKOFF),
    }
}

/// What a store with neither an audience nor [`JwtStore::any_audience`] answers.
const NO_AUDIENCE: &str = "JwtStore: no audience configured; set this resource's with \
    `.audience(..)`, or waive the check with `.any_audience()`";

/// Why [`JwtStore::discover`] could not find the issuer's keys. Names what failed, never a
/// token.
#[derive(Debug)]
pub struct DiscoveryError(String);

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "discovery failed: {}", self.0)
    }
}

impl std::error::Error for DiscoveryError {}

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
        let base = issuer.trim_end_matches('/');
        let mut last = String::from("no document");
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let uri: Uri = format!("{base}{path}")
                .parse()
                .map_err(|_| DiscoveryError("the issuer is not a URL".into()))?;
            match get(&client, &uri, Duration::from_secs(10)).await {
                Ok(body) => {
                    let doc: Value = serde_json::from_slice(&body)
                        .map_err(|_| DiscoveryError(format!("{path} is not JSON")))?;
                    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
                        return Err(DiscoveryError(format!("{path} names another issuer")));
                    }
                    let jwks = doc
                        .get("jwks_uri")
                        .and_then(Value::as_str)
                        .ok_or_else(|| DiscoveryError(format!("{path} has no jwks_uri")))?;
                    let jwks = jwks.parse().map_err(|_| DiscoveryError("jwks_uri is not a URI".into()))?;
                    return Ok(Self::with_client(client, jwks, issuer));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(DiscoveryError(last))
    }
}

impl<C> JwtStore<C> {
    /// A store for tokens `issuer` signs with the keys at `jwks_uri`, fetched through
    /// `client` (one with a TLS connector for `https`).
    pub fn with_client(client: Client<C, Full<Bytes>>, jwks_uri: Uri, issuer: impl Into<String>) -> Self {
        let inner = Inner {
            client,
            jwks_uri,
            issuer: issuer.into(),
            audience: Audience::Unset,
            require_exp: true,
            require_typ: true,
            algorithms: vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
            leeway: Duration::from_secs(30),
            refetch_interval: Duration::from_secs(60),
            max_key_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            clock: Clock::default(),
            keys: RwLock::new(Keys::default()),
            fetching: tokio::sync::Mutex::new(()),
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
        self.inner_mut().audience = Audience::One(audience.into());
        self
    }

    /// Waives the audience check: tokens for any resource (or none) are accepted, as long as
    /// the rest verifies. Only for an issuer whose tokens name no audience, and that signs
    /// tokens for this service alone: otherwise a token issued for another service is
    /// accepted here. Replaces an [`audience`](Self::audience) set before.
    #[must_use]
    pub fn any_audience(mut self) -> Self {
        self.inner_mut().audience = Audience::Any;
        self
    }

    /// Whether tokens must carry `exp` (default `true`, as RFC 9068 §2.2 requires). With
    /// `false`, a token without `exp` is accepted and never expires (it is valid as long as
    /// its signing key is published); an `exp` that is present is still checked.
    #[must_use]
    pub fn require_exp(mut self, require: bool) -> Self {
        self.inner_mut().require_exp = require;
        self
    }

    /// Whether the header's `typ` must be `at+jwt` or `application/at+jwt`, in any case
    /// (default `true`, RFC 9068 §2.1). With `false`, for an issuer that does not set it, any
    /// `typ` (or none) is accepted, so the issuer's ID tokens are told from access tokens by
    /// their audience alone (an ID token's `aud` is the client's id): keep an
    /// [`audience`](Self::audience) then.
    #[must_use]
    pub fn require_typ(mut self, require: bool) -> Self {
        self.inner_mut().require_typ = require;
        self
    }

    /// The algorithms accepted (default RS256, ES256, EdDSA). HMAC algorithms and `none` are
    /// left out whatever is asked: an outside issuer shares no secret with this service.
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        let hmac = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        self.inner_mut().algorithms = algorithms.into_iter().filter(|a| !hmac.contains(a)).collect();
        self
    }

    /// The clock skew allowed on `exp` and `nbf` (default 30 seconds, at most 5 minutes).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.inner_mut().leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// The least time between two fetches of the key set caused by unknown `kid`s (default
    /// 60 seconds), counted from the last attempt, failed or not.
    #[must_use]
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.inner_mut().refetch_interval = interval;
        self
    }

    /// How long a fetched key set is used before it is fetched again (default an hour): the
    /// longest a withdrawn key keeps verifying.
    #[must_use]
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.inner_mut().max_key_age = age;
        self
    }

    /// How long a fetch may take (default 5 seconds; then 503).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner_mut().timeout = timeout;
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
            .field("jwks_uri", &self.inner.jwks_uri)
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("require_exp", &self.inner.require_exp)
            .field("require_typ", &self.inner.require_typ)
            .field("algorithms", &self.inner.algorithms)
            .finish_non_exhaustive()
    }
}

/// GETs `uri`: the body of a 200 answer, within the size limit and `timeout`.
async fn get<C>(client: &Client<C, Full<Bytes>>, uri: &Uri, timeout: Duration) -> Result<Bytes, BoxError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let request = Request::get(uri.clone()).body(Full::new(Bytes::new()))?;
    match fetch(client, request, MAX_DOCUMENT, timeout).await {
        Ok(body) => Ok(body),
        Err(FetchError::Timeout) => Err(format!("{uri} did not answer in time").into()),
        Err(FetchError::Failed(e)) => Err(e),
    }
}

/// What a token's header allows: a `kid`, and an allowed `alg`.
struct Header {
    kid: String,
    alg: Algorithm,
}

/// Whether `typ` is an access token's (RFC 9068 §2.1 and §4; media types are case-insensitive).
fn is_access_token_typ(typ: &str) -> bool {
    ACCESS_TOKEN_TYPS.iter().any(|t| typ.eq_ignore_ascii_case(t))
}

impl<C: Connect + Clone + Send + Sync + 'static> Inner<C> {
    /// The header of `token`, if it names a `kid`, an allowed `alg` and (unless waived) an
    /// access token's `typ`: checked before any key is looked up or fetched.
    fn header(&self, token: &str) -> Option<Header> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let alg = header.alg;
        (self.algorithms.contains(&alg)).then_some(())?;
        if self.require_typ && !header.typ.as_deref().is_some_and(is_access_token_typ) {
            return None;
        }
        Some(Header { kid: header.kid?, alg })
    }

    /// The answer from the keys at hand, if they are fresh enough and know the `kid`.
    fn verify_now(&self, token: &str, header: &Header) -> Option<TokenState> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        if keys.stale(now, self.max_key_age) {
            return None;
        }
        let (key, key_alg) = keys.by_kid.get(&header.kid)?;
        Some(self.verify(token, header.alg, key, *key_alg, now))
    }

    fn verify(
        &self,
        token: &str,
        alg: Algorithm,
        key: &DecodingKey,
        key_alg: Option<Algorithm>,
        now: SystemTime,
    ) -> TokenState {
        if key_alg.is_some_and(|declared| declared != alg) {
            return TokenState::Unknown;
        }
        let mut validation = Validation::new(alg);
        // Times on the store's clock, below; the rest here.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[&self.issuer]);
        match &self.audience {
            Audience::One(audience) => {
                // Required too: `jsonwebtoken` checks `aud` only in tokens that have one.
                validation.set_required_spec_claims(&["iss", "aud"]);
                validation.set_audience(&[audience]);
            }
            Audience::Any => {
                validation.set_required_spec_claims(&["iss"]);
                validation.validate_aud = false;
            }
            // Refused before any verification (`lookup`); never admitted here either.
            Audience::Unset => return TokenState::Unknown,
        }
        match jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &validation) {
            Ok(data) if self.claims_are_valid(&data.claims) => state_of(&data.claims, now, self.leeway),
            _ => TokenState::Unknown,
        }
    }

    /// Whether the registered claims the store reads have the types RFC 7519 §4.1 gives them:
    /// `sub` a string, `aud` a string or an array of strings, `exp` (there unless waived) and
    /// `nbf` NumericDates in range. A token whose claims cannot be read is invalid, never one
    /// without them (an `exp` that cannot be read is not "no expiry", a `sub` that is not a
    /// string does not fall back to `client_id`).
    fn claims_are_valid(&self, claims: &serde_json::Map<String, Value>) -> bool {
        let valid = |key: &str, required: bool, of_type: fn(&Value) -> bool| {
            claims.get(key).map_or(!required, of_type)
        };
        valid("sub", false, Value::is_string)
            && valid("aud", false, |aud| match aud {
                Value::Array(auds) => auds.iter().all(Value::is_string),
                other => other.is_string(),
            })
            && valid("exp", self.require_exp, |exp| numeric_date(exp).is_some())
            && valid("nbf", false, |nbf| numeric_date(nbf).is_some())
    }

    /// Fetches the key set when the keys at hand are stale (missing, or older than the maximum
    /// age), or else when a token named an unknown `kid` and the last attempt is older than
    /// the refetch interval; either way only once the wait after failed attempts has passed.
    /// One fetch at a time: those that waited see its outcome and do not fetch again.
    async fn refresh(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.fetching.lock().await;
        let now = self.clock.now();
        let (stale, wait) = {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            let stale = keys.stale(now, self.max_key_age);
            let backoff = backoff(keys.failures);
            let wait = if stale { backoff } else { self.refetch_interval.max(backoff) };
            let since = keys.attempted_at.map(|at| now.duration_since(at).unwrap_or_default());
            (stale, since.and_then(|since| wait.checked_sub(since)).filter(|left| !left.is_zero()))
        };
        match wait {
            // Too soon to ask again: the keys at hand answer, if they are fresh.
            Some(_) if !stale => return Ok(()),
            Some(left) => {
                return Err(StoreError::unavailable(format!(
                    "the issuer's JWKS could not be fetched; next attempt in {} s",
                    left.as_secs_f64().ceil()
                )));
            }
            None => {}
        }
        let fetched = self.fetch_keys().await;
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.attempted_at = Some(now);
        match fetched {
            Ok(by_kid) => {
                keys.by_kid = by_kid;
                keys.fetched_at = Some(now);
                keys.failures = 0;
                Ok(())
            }
            Err(e) => {
                keys.failures = keys.failures.saturating_add(1);
                Err(e)
            }
        }
    }

    /// The issuer's key set, by `kid` (keys without one, or that cannot verify, left out).
    async fn fetch_keys(&self) -> Result<HashMap<String, (DecodingKey, Option<Algorithm>)>, StoreError> {
        let body = get(&self.client, &self.jwks_uri, self.timeout).await.map_err(StoreError::unavailable)?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|_| StoreError::unavailable("the JWKS is not a key set"))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok());
                Some((kid, (DecodingKey::from_jwk(jwk).ok()?, alg)))
            })
            .collect())
    }

    async fn lookup_later(self: Arc<Self>, token: String, header: Header) -> LookupResult {
        self.refresh().await?;
        Ok(self.verify_now(&token, &header).unwrap_or(TokenState::Unknown))
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> TokenStore for JwtStore<C> {
    type Future = BoxLookup;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<BoxLookup> {
        if let Audience::Unset = self.inner.audience {
            return Lookup::Now(Err(StoreError::unavailable(NO_AUDIENCE)));
        }
        let secret = token.expose_secret();
        let Some(header) = self.inner.header(secret) else {
            return Lookup::Now(Ok(TokenState::Unknown));
        };
        match self.inner.verify_now(secret, &header) {
            Some(state) => Lookup::Now(Ok(state)),
            None => Lookup::Later(Box::pin(self.inner.clone().lookup_later(secret.to_owned(), header))),
        }
    }
}
