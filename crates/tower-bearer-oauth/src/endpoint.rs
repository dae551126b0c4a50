//! [`TokenEndpoint`]: the RFC 6749 §4.4 client-credentials token endpoint as a tower service.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::Full;

use crate::error::BoxError;
#[cfg(feature = "jwt")]
use tower_bearer::store::ReplayCache;
use tower_bearer::{Clock, NewToken, TokenManager};
#[cfg(feature = "jwt")]
use {
    crate::jwt_store::Algorithm,
    crate::private_key_jwt::{MAX_LEEWAY, RemoteKeySets},
    hyper_util::client::legacy::{Client, connect::Connect},
    tower_bearer_jwt::AlgorithmPolicy,
};

use crate::client::ClientRegistry;
use crate::credentials::Endpoint;
use crate::error::{OAuthError, invalid_request, is_param_char, json_response};
use crate::granted::{checked_resource, granted_scopes};
use crate::introspection::IntrospectionEndpoint;
use crate::limiter::FailureLimiter;
use crate::revocation::RevocationEndpoint;
use crate::shared::{ACCESS_TOKEN_KIND, Config, Shared, endpoint_service};

/// The OAuth 2.0 token endpoint for the client-credentials grant (RFC 6749 §4.4): a client
/// trades its id and secret for a short-lived access token, minted into the same
/// [`TokenManager`] store that [`BearerAuthLayer`](tower_bearer::BearerAuthLayer) checks.
///
/// - `POST`, `application/x-www-form-urlencoded`, `grant_type=client_credentials`, optional
///   `scope` (a subset of the client's allowed scopes; all of them when absent).
/// - Client authentication by HTTP Basic (RFC 6749 §2.3.1), *or* `client_id` /
///   `client_secret` in the body, *or* (feature `jwt`, for a client registered with
///   `NewClient::public_keys`) a JWT the client signed with its private key
///   (`private_key_jwt`, RFC 7523: `client_assertion_type=
///   urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_assertion`, with
///   `client_id` optional): exactly one method; two are answered 400 `invalid_request`.
///   An assertion must be signed with one of the client's keys, named by its `kid`, with an
///   allowed algorithm (`TokenEndpointBuilder::client_assertion_algorithms`); its `iss` and
///   `sub` are the client's id; its `aud` names the [`issuer`](TokenEndpointBuilder::issuer)
///   or this endpoint's URL (`TokenEndpointBuilder::token_endpoint_url`; so set one of the
///   two); its `exp` is required, at most `client_assertion_max_lifetime` ahead (5 minutes
///   by default); its `jti` is required and is accepted once (`replay_cache`). A refused
///   assertion is answered 401 `invalid_client`, with the Basic challenge, whatever the
///   reason.
/// - Success: `200 {"access_token":"...","token_type":"bearer","expires_in":3600,"scope":"..."}`.
///   No refresh token (§4.4.3).
/// - Errors (§5.2): JSON `{"error":"...","error_description":"..."}`; 400 for
///   `invalid_request`, `unsupported_grant_type`, `invalid_scope`; `invalid_client` is 401
///   with `WWW-Authenticate: Basic realm="..."` when the client used (or did not attempt) HTTP
///   Basic, 400 when it authenticated in the body. Other methods: 405. Other content types:
///   400. Bodies over the limit: 413, without reading them.
/// - Every answer carries `Cache-Control: no-store` and `Pragma: no-cache`.
/// - Failed authentications are counted per source address (see
///   [`client_address`](TokenEndpointBuilder::client_address)): past `max_failures` within
///   `window` ([`failure_limit`](TokenEndpointBuilder::failure_limit), default 5 per 60 s), a
///   source's failing attempts are answered 429 `{"error":"slow_down",...}` (the error code
///   of RFC 8628 §3.5, an extension to RFC 6749 §5.2) with `Retry-After`. A correct secret
///   (or a valid assertion) is never refused, and nothing is kept per client id, so knowing a client id is no lever
///   to lock that client out. Client secrets carry 256 bits: the limit keeps a misbehaving
///   source's load down, it is not what keeps secrets from being guessed.
///
/// `invalid_grant` never occurs: the client-credentials grant has no grant value to be
/// invalid. A store or registry failure answers 503 `temporarily_unavailable`, as do a client
/// `jwks_uri` that cannot be fetched and a failing replay cache (the assertion is refused, not
/// admitted unchecked).
///
/// [`new`](Self::new) takes the default settings; [`builder`](Self::builder) configures the
/// others. Mount it with axum: `Router::new().route_service("/oauth/token", endpoint)`.
pub struct TokenEndpoint<R, S> {
    shared: Shared<R, S>,
}

impl<R, S> fmt::Debug for TokenEndpoint<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.shared.config;
        f.debug_struct("TokenEndpoint")
            .field("realm", &config.realm)
            .field("max_body", &config.max_body)
            .field("issuer", &config.issuer)
            .finish_non_exhaustive()
    }
}

impl<R: ClientRegistry, S: TokenManager> TokenEndpoint<R, S> {
    /// An endpoint authenticating clients against `registry` and minting tokens into `store`,
    /// with the default settings: [`builder`](Self::builder)`(registry, store).build()`.
    pub fn new(registry: R, store: S) -> Self {
        Self::builder(registry, store).build()
    }

    /// An endpoint over a registry and store shared with the rest of the application (the
    /// same store goes into the [`BearerAuthLayer`](tower_bearer::BearerAuthLayer)), with the
    /// default settings: [`builder_from_shared`](Self::builder_from_shared)`(..).build()`.
    pub fn from_shared(registry: Arc<R>, store: Arc<S>) -> Self {
        Self::builder_from_shared(registry, store).build()
    }

    /// Configures an endpoint authenticating clients against `registry` and minting tokens
    /// into `store`: issuer, resources, realm, body limit, clock, failure limit. See
    /// [`TokenEndpointBuilder`].
    pub fn builder(registry: R, store: S) -> TokenEndpointBuilder<R, S> {
        Self::builder_from_shared(Arc::new(registry), Arc::new(store))
    }

    /// Configures an endpoint over a registry and store shared with the rest of the
    /// application. See [`TokenEndpointBuilder`].
    pub fn builder_from_shared(registry: Arc<R>, store: Arc<S>) -> TokenEndpointBuilder<R, S> {
        TokenEndpointBuilder {
            registry,
            store,
            config: Config::default(),
            #[cfg(feature = "jwt")]
            replay: None,
        }
    }

    /// The RFC 7662 introspection endpoint of the same registry and store, with this
    /// endpoint's configuration and failure count.
    pub fn introspection(&self) -> IntrospectionEndpoint<R, S> {
        IntrospectionEndpoint::new(self.shared.clone())
    }

    /// The RFC 7009 revocation endpoint of the same registry and store, with this endpoint's
    /// configuration and failure count.
    pub fn revocation(&self) -> RevocationEndpoint<R, S> {
        RevocationEndpoint::new(self.shared.clone())
    }
}

/// Configures a [`TokenEndpoint`]; see [`TokenEndpoint::builder`]. The built endpoint, its
/// clones and the [`introspection`](TokenEndpoint::introspection) and
/// [`revocation`](TokenEndpoint::revocation) endpoints made from it share one configuration
/// and one failure count.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer_oauth::{MemoryClientRegistry, TokenEndpoint};
///
/// let token = TokenEndpoint::builder(MemoryClientRegistry::new(), MemoryTokenStore::new())
///     .issuer("https://auth.example.com")
///     .resources(["https://api.example.com"])
///     .failure_limit(10, Duration::from_secs(60))
///     .build();
/// let introspection = token.introspection();
/// ```
#[must_use]
pub struct TokenEndpointBuilder<R, S> {
    registry: Arc<R>,
    store: Arc<S>,
    config: Config,
    /// The replay cache given, if any (else one in memory, on the endpoint's clock).
    #[cfg(feature = "jwt")]
    replay: Option<Arc<dyn ReplayCache>>,
}

impl<R, S> fmt::Debug for TokenEndpointBuilder<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpointBuilder")
            .field("realm", &self.config.realm)
            .field("max_body", &self.config.max_body)
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl<R, S> TokenEndpointBuilder<R, S> {
    /// The authorization server's issuer identifier (an `https` URL, RFC 8414 §2), given as
    /// `iss` in introspection answers.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into().into_boxed_str());
        self
    }

    /// The resources clients may ask tokens for with the `resource` parameter (RFC 8707);
    /// the token's audience is then that resource. Without this call, any absolute URI
    /// without a fragment is accepted. Others are answered 400 `invalid_target`.
    pub fn resources<I, U>(mut self, resources: I) -> Self
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        self.config.resources = resources.into_iter().map(|r| r.into().into_boxed_str()).collect();
        self
    }

    /// The realm of the `Basic` challenge sent with 401 `invalid_client` (default `oauth`).
    ///
    /// # Panics
    ///
    /// If `realm` is empty or holds `"`, `\` or a non-printable character: a start-up
    /// configuration mistake (the realm is a constant of the application), as with
    /// [`BearerAuthLayer::realm`](tower_bearer::BearerAuthLayer::realm).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        assert!(
            !realm.is_empty() && realm.chars().all(is_param_char),
            "tower-bearer: invalid realm {realm:?}"
        );
        self.config.realm = realm.into_boxed_str();
        self
    }

    /// The largest request body accepted (413 above it). Default 16 KiB.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.config.max_body = max;
        self
    }

    /// Reads the time from `clock` (default: the system clock): access token expiry and the
    /// failure window. For tests: give the endpoint, the store and the layer the same
    /// [`Clock::manual`].
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config.clock = clock;
        self
    }

    /// How to tell where a request comes from, for the failure limit: by default the peer
    /// address in the request's extensions (a `std::net::SocketAddr`, as an application
    /// serving hyper inserts it; with axum, `ConnectInfo` is read by the function you give
    /// here). Requests without one share a single count.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use tower_bearer::MemoryTokenStore;
    /// use tower_bearer_oauth::{MemoryClientRegistry, TokenEndpoint};
    ///
    /// let endpoint = TokenEndpoint::builder(MemoryClientRegistry::new(), MemoryTokenStore::new())
    ///     .client_address(|request| request.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
    ///     .build();
    /// ```
    pub fn client_address(
        mut self,
        address: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        self.config.source = Arc::new(address);
        self
    }

    /// Allows `max_failures` failed authentications per source within `window` (default 5
    /// per 60 seconds); further failing attempts from that source get 429 `slow_down` with
    /// `Retry-After` until the window ends. Correct secrets are accepted whatever the count.
    pub fn failure_limit(mut self, max_failures: u32, window: Duration) -> Self {
        self.config.limiter = FailureLimiter::new(max_failures, window);
        self
    }

    /// Issues DPoP-bound tokens (RFC 9449 §5) to clients that send a `DPoP` proof, checked
    /// by `verifier` (with `htm` `POST` and `htu` this endpoint's URL: give the verifier the
    /// [`origin`](tower_bearer_jwt::DpopVerifierBuilder::origin) clients reach it at): the
    /// token is bound to the proof's key and answered with `token_type: "DPoP"`. A request
    /// without a proof still gets a bearer token. An invalid proof is answered 400
    /// `invalid_dpop_proof`; with nonces on, a proof without the current nonce is answered
    /// 400 `use_dpop_nonce` with the nonce in `DPoP-Nonce`, and every token answer carries
    /// the next nonce.
    ///
    /// Give the same verifier (a clone) to the resource's
    /// [`BearerAuthLayer::dpop`](tower_bearer::BearerAuthLayer::dpop): one replay cache for
    /// both.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop(mut self, verifier: tower_bearer_jwt::DpopVerifier) -> Self {
        self.config.dpop = Some(verifier);
        self
    }

    /// This token endpoint's URL, as clients reach it: a client assertion
    /// (`private_key_jwt`) sent here may name it as its audience (`aud`), besides the
    /// [`issuer`](Self::issuer). Without this and without an issuer, no assertion is
    /// accepted here.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn token_endpoint_url(self, url: impl Into<String>) -> Self {
        self.endpoint_url(Endpoint::Token, url.into())
    }

    /// The [`IntrospectionEndpoint`]'s URL, as clients reach it: a client assertion sent
    /// there may name it as its audience, besides the [`issuer`](Self::issuer).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn introspection_endpoint_url(self, url: impl Into<String>) -> Self {
        self.endpoint_url(Endpoint::Introspection, url.into())
    }

    /// The [`RevocationEndpoint`]'s URL, as clients reach it: a client assertion sent there
    /// may name it as its audience, besides the [`issuer`](Self::issuer).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn revocation_endpoint_url(self, url: impl Into<String>) -> Self {
        self.endpoint_url(Endpoint::Revocation, url.into())
    }

    #[cfg(feature = "jwt")]
    fn endpoint_url(mut self, endpoint: Endpoint, url: String) -> Self {
        self.config.assertions.urls[endpoint as usize] = Some(url.into_boxed_str());
        self
    }

    /// The algorithms client assertions may be signed with (default EdDSA, ES256, RS256 and
    /// PS256). HS256 is left out whatever is asked, as `none` always is: a client's keys are
    /// public, and a public key taken for an HMAC secret is the classic algorithm-confusion
    /// forgery.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn client_assertion_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.config.assertions.algorithms = AlgorithmPolicy::only(algorithms).outside_issuer();
        self
    }

    /// How far ahead a client assertion's `exp` may be (default 5 minutes; plus the
    /// [leeway](Self::client_assertion_leeway)): an assertion valid for longer is refused, so
    /// that one that leaks is of use for little time, and the replay cache keeps each `jti`
    /// for little time.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn client_assertion_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.assertions.max_lifetime = lifetime;
        self
    }

    /// The clock skew allowed on a client assertion's `exp`, `nbf` and `iat` (default 30
    /// seconds, at most 5 minutes).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn client_assertion_leeway(mut self, leeway: Duration) -> Self {
        self.config.assertions.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Where the `jti`s of accepted client assertions are kept, each until the assertion
    /// expires, so that none is accepted twice (default: this instance's memory, a
    /// [`MemoryTokenStore`](tower_bearer::MemoryTokenStore)'s replay cache on the endpoint's
    /// [clock](Self::clock)). Instances behind one load balancer share one cache,
    /// or an assertion replayed to another instance is accepted there. A cache that fails
    /// makes assertions answered 503.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_bearer::MemoryTokenStore;
    /// use tower_bearer_oauth::{MemoryClientRegistry, TokenEndpoint};
    ///
    /// // Shared by the endpoints of this instance (a fleet shares a SQL store instead).
    /// let replay = Arc::new(MemoryTokenStore::new());
    /// let token = TokenEndpoint::builder(MemoryClientRegistry::new(), MemoryTokenStore::new())
    ///     .issuer("https://auth.example.com")
    ///     .replay_cache(replay.clone())
    ///     .build();
    /// ```
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> Self {
        self.replay = Some(cache);
        self
    }

    /// The HTTP client that fetches the keys of clients registered with a `jwks_uri`
    /// ([`ClientKeys::jwks_uri`](crate::ClientKeys::jwks_uri)); default: hyper's, for plain
    /// `http` only. For `https`, a client with a TLS connector. Each URL's keys are fetched
    /// when an assertion first needs them, then as [`JwtStore`](crate::JwtStore) fetches an
    /// issuer's (an unknown `kid` at most once a minute, keys older than an hour before use,
    /// 5 seconds a fetch, a backoff while the URL fails).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn jwks_client<C>(mut self, client: Client<C, http_body_util::Full<Bytes>>) -> Self
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        self.config.assertions.remote = RemoteKeySets::new(client);
        self
    }

    /// The endpoint.
    #[must_use]
    pub fn build(self) -> TokenEndpoint<R, S> {
        #[cfg_attr(not(feature = "jwt"), allow(unused_mut))]
        let mut config = self.config;
        #[cfg(feature = "jwt")]
        {
            let clock = config.clock.clone();
            config.assertions.replay = self
                .replay
                .unwrap_or_else(|| Arc::new(tower_bearer::MemoryTokenStore::builder().clock(clock).build()));
        }
        TokenEndpoint { shared: Shared::new(self.registry, self.store, config) }
    }
}

endpoint_service!(TokenEndpoint);

impl<R: ClientRegistry, S: TokenManager> TokenEndpoint<R, S> {
    async fn handle<B>(&self, req: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let (head, form, client) = self.shared.client_request(req, Endpoint::Token).await?;
        match form.get("grant_type") {
            None => return Err(invalid_request("grant_type is required")),
            Some("client_credentials") => {}
            Some(_) => {
                return Err(OAuthError::bad_request(
                    "unsupported_grant_type",
                    "only client_credentials is supported",
                ));
            }
        }
        let scopes = granted_scopes(&client, form.get("scope"), self.shared.store.rules())?;
        let config = &self.shared.config;
        let expires_at =
            config.clock.now().checked_add(client.access_token_ttl).ok_or_else(OAuthError::unavailable)?;
        // Minted for the client: its id as the token's name and kind `oauth_access` is how
        // introspection and revocation know whose token it is.
        let mut new = NewToken::for_subject(client.subject.clone())
            .name(client.client_id.clone())
            .kind(ACCESS_TOKEN_KIND)
            .scopes(scopes.clone())
            .expires_at(expires_at);
        if let Some(resource) = form.get("resource") {
            new = new.audience([checked_resource(config, resource)?]);
        }
        let bound_to = self.proven_key(&head).await?;
        let token_type = if bound_to.is_some() { "DPoP" } else { "bearer" };
        if let Some(jkt) = bound_to {
            new = new.confirmation(jkt);
        }
        let issued = self.shared.store.issue(new).await.map_err(|_| OAuthError::unavailable())?;
        let body = format!(
            r#"{{"access_token":"{}","token_type":"{token_type}","expires_in":{},"scope":"{scopes}"}}"#,
            issued.secret().expose_secret(),
            client.access_token_ttl.as_secs(),
        );
        #[cfg_attr(not(feature = "dpop"), allow(unused_mut))]
        let mut response = json_response(StatusCode::OK, body);
        #[cfg(feature = "dpop")]
        if let Some(nonce) = config.dpop.as_ref().and_then(|v| v.nonce()).and_then(|n| n.parse().ok()) {
            response.headers_mut().insert(crate::error::DPOP_NONCE, nonce);
        }
        Ok(response)
    }

    /// The key the request's DPoP proof proves, if the endpoint takes proofs and the request
    /// sends one.
    #[cfg(feature = "dpop")]
    async fn proven_key(&self, head: &Parts) -> Result<Option<Box<str>>, OAuthError> {
        match &self.shared.config.dpop {
            Some(verifier) => crate::dpop::proven_key(verifier, head).await,
            None => Ok(None),
        }
    }

    /// Without the `dpop` feature, no request is bound.
    #[cfg(not(feature = "dpop"))]
    #[allow(clippy::unused_async)]
    async fn proven_key(&self, _head: &Parts) -> Result<Option<Box<str>>, OAuthError> {
        Ok(None)
    }
}
