//! [`TokenEndpoint`]: the RFC 6749 §4.4 client-credentials token endpoint as a tower service.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use tower_service::Service;

use tower_bearer::store::BoxError;
use tower_bearer::{Clock, NewToken, Scopes, TokenHash, TokenManager};

use crate::client::{ClientRecord, ClientRegistry};
use crate::credentials::ClientCredentials;
use crate::error::{OAuthError, invalid_request, is_param_char, json_response};
use crate::form::Form;
use crate::limiter::FailureLimiter;

/// Where a request comes from, for the failure limiter.
type SourceOf = Arc<dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync>;

/// The OAuth 2.0 token endpoint for the client-credentials grant (RFC 6749 §4.4): a client
/// trades its id and secret for a short-lived access token, minted into the same
/// [`TokenManager`] store that [`BearerAuthLayer`](tower_bearer::BearerAuthLayer) checks.
///
/// - `POST`, `application/x-www-form-urlencoded`, `grant_type=client_credentials`, optional
///   `scope` (a subset of the client's allowed scopes; all of them when absent).
/// - Client authentication by HTTP Basic (RFC 6749 §2.3.1) *or* `client_id` /
///   `client_secret` in the body, exactly one of the two.
/// - Success: `200 {"access_token":"...","token_type":"bearer","expires_in":3600,"scope":"..."}`.
///   No refresh token (§4.4.3).
/// - Errors (§5.2): JSON `{"error":"...","error_description":"..."}`; 400 for
///   `invalid_request`, `unsupported_grant_type`, `invalid_scope`; `invalid_client` is 401
///   with `WWW-Authenticate: Basic realm="..."` when the client used (or did not attempt) HTTP
///   Basic, 400 when it authenticated in the body. Other methods: 405. Other content types:
///   400. Bodies over the limit: 413, without reading them.
/// - Every answer carries `Cache-Control: no-store` and `Pragma: no-cache`.
/// - Failed authentications are counted per source address (see
///   [`client_address`](Self::client_address)): past `max_failures` within `window` (default
///   5 per 60 s), a source's failing attempts are answered 429
///   `{"error":"slow_down",...}` (the error code of RFC 8628 §3.5, an extension to RFC 6749
///   §5.2) with `Retry-After`. A correct secret is never refused, and nothing is kept per
///   client id, so knowing a client id is no lever to lock that client out. Client secrets
///   carry 256 bits: the limit keeps a misbehaving source's load down, it is not what keeps
///   secrets from being guessed.
///
/// `invalid_grant` never occurs: the client-credentials grant has no grant value to be
/// invalid. A store or registry failure answers 503 `temporarily_unavailable`.
///
/// Mount it with axum: `Router::new().route_service("/oauth/token", endpoint)`.
pub struct TokenEndpoint<R, S> {
    registry: Arc<R>,
    store: Arc<S>,
    config: Arc<Config>,
}

struct Config {
    realm: Box<str>,
    max_body: usize,
    limiter: FailureLimiter,
    source: SourceOf,
    clock: Clock,
}

impl<R, S> Clone for TokenEndpoint<R, S> {
    fn clone(&self) -> Self {
        TokenEndpoint {
            registry: self.registry.clone(),
            store: self.store.clone(),
            config: self.config.clone(),
        }
    }
}

impl<R, S> fmt::Debug for TokenEndpoint<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("realm", &self.config.realm)
            .field("max_body", &self.config.max_body)
            .finish_non_exhaustive()
    }
}

impl<R: ClientRegistry, S: TokenManager> TokenEndpoint<R, S> {
    /// An endpoint authenticating clients against `registry` and minting tokens into `store`.
    pub fn new(registry: R, store: S) -> Self {
        Self::from_shared(Arc::new(registry), Arc::new(store))
    }

    /// An endpoint over a registry and store shared with the rest of the application (the
    /// same store goes into the [`BearerAuthLayer`](tower_bearer::BearerAuthLayer)).
    pub fn from_shared(registry: Arc<R>, store: Arc<S>) -> Self {
        let config = Config {
            realm: "oauth".into(),
            max_body: 16 * 1024,
            limiter: FailureLimiter::new(5, Duration::from_secs(60)),
            source: Arc::new(|parts: &Parts| parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)),
            clock: Clock::default(),
        };
        TokenEndpoint { registry, store, config: Arc::new(config) }
    }
}

impl<R, S> TokenEndpoint<R, S> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::get_mut(&mut self.config).expect("configure the TokenEndpoint before cloning it")
    }

    /// The realm of the `Basic` challenge sent with 401 `invalid_client`.
    ///
    /// # Panics
    ///
    /// If `realm` is empty or holds `"`, `\` or a non-printable character; or if the endpoint
    /// was cloned already (configure it first).
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        assert!(
            !realm.is_empty() && realm.chars().all(is_param_char),
            "tower-bearer: invalid realm {realm:?}"
        );
        self.config_mut().realm = realm.into_boxed_str();
        self
    }

    /// The largest request body accepted (413 above it). Default 16 KiB.
    ///
    /// # Panics
    ///
    /// If the endpoint was cloned already.
    #[must_use]
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.config_mut().max_body = max;
        self
    }

    /// Reads the time from `clock` (default: the system clock): access token expiry and the
    /// failure window. For tests: give the endpoint, the store and the layer the same
    /// [`Clock::manual`].
    ///
    /// # Panics
    ///
    /// If the endpoint was cloned already.
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config_mut().clock = clock;
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
    /// let endpoint = TokenEndpoint::new(MemoryClientRegistry::new(), MemoryTokenStore::new())
    ///     .client_address(|request| request.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
    /// ```
    ///
    /// # Panics
    ///
    /// If the endpoint was cloned already.
    #[must_use]
    pub fn client_address(
        mut self,
        address: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().source = Arc::new(address);
        self
    }

    /// Allows `max_failures` failed authentications per source within `window`; further failing
    /// attempts from that source get 429 `slow_down` with `Retry-After` until the window ends.
    /// Correct secrets are accepted whatever the count.
    ///
    /// # Panics
    ///
    /// If the endpoint was cloned already.
    #[must_use]
    pub fn failure_limit(mut self, max_failures: u32, window: Duration) -> Self {
        self.config_mut().limiter = FailureLimiter::new(max_failures, window);
        self
    }
}

impl<R, S, B> Service<Request<B>> for TokenEndpoint<R, S>
where
    R: ClientRegistry,
    S: TokenManager,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(
            async move { Ok(this.handle(req).await.unwrap_or_else(|e| e.into_response(&this.config.realm))) },
        )
    }
}

impl<R: ClientRegistry, S: TokenManager> TokenEndpoint<R, S> {
    async fn handle<B>(&self, req: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        if req.method() != Method::POST {
            return Err(OAuthError::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "use POST"));
        }
        if !is_form(req.headers()) {
            return Err(invalid_request("the body must be application/x-www-form-urlencoded"));
        }
        let too_large =
            || OAuthError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "the body is too large");
        let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.config.max_body as u64) {
            return Err(too_large());
        }
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, self.config.max_body).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Err(_) => return Err(invalid_request("the body could not be read")),
        };
        let form = Form::parse(&body)?;

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
        let credentials = ClientCredentials::from_request(&parts.headers, &form)?;
        let client = self.authenticate(&credentials, (self.config.source)(&parts)).await?;
        let scopes = granted_scopes(&client, form.get("scope"))?;

        let new = NewToken::for_subject(client.subject.clone())
            .name(client.client_id.clone())
            .kind("oauth_access")
            .scopes(scopes.clone())
            .expires_at(
                self.config
                    .clock
                    .now()
                    .checked_add(client.access_token_ttl)
                    .ok_or_else(OAuthError::unavailable)?,
            );
        let issued = self.store.issue(new).await.map_err(|_| OAuthError::unavailable())?;
        let body = format!(
            r#"{{"access_token":"{}","token_type":"bearer","expires_in":{},"scope":"{scopes}"}}"#,
            issued.secret().expose_secret(),
            client.access_token_ttl.as_secs(),
        );
        Ok(json_response(StatusCode::OK, body))
    }

    async fn authenticate(
        &self,
        credentials: &ClientCredentials,
        source: Option<IpAddr>,
    ) -> Result<ClientRecord, OAuthError> {
        let now = self.config.clock.now();
        let record = self.registry.find(&credentials.id).await.map_err(|_| OAuthError::unavailable())?;
        match record {
            // Never refused, whatever the source's count.
            Some(record) if record.verify(&credentials.secret, now) => Ok(record),
            found => {
                if found.is_none() {
                    // Spend the same hashing work as a known client, so timing does not
                    // tell which client ids exist.
                    let _ = DUMMY_CLIENT.with(|c| c.verify(&credentials.secret, now));
                }
                match self.config.limiter.failed(source, now) {
                    Some(retry_after) => Err(OAuthError::too_many_attempts(retry_after)),
                    None => Err(OAuthError::invalid_client(credentials.via_basic)),
                }
            }
        }
    }
}

thread_local! {
    static DUMMY_CLIENT: ClientRecord = ClientRecord {
        client_id: String::new(),
        subject: String::new(),
        allowed_scopes: Scopes::none(),
        access_token_ttl: Duration::ZERO,
        secrets: vec![(TokenHash::from_bytes([0; 32]), None)],
    };
}

fn granted_scopes(client: &ClientRecord, requested: Option<&str>) -> Result<Scopes, OAuthError> {
    let Some(requested) = requested.filter(|s| !s.is_empty()) else {
        return Ok(client.allowed_scopes.clone());
    };
    let invalid = |description| OAuthError::bad_request("invalid_scope", description);
    if requested.split(' ').any(|s| !s.is_empty() && !Scopes::is_valid(s)) || requested.contains("  ") {
        return Err(invalid("the scope parameter is malformed"));
    }
    let scopes = Scopes::parse(requested);
    if scopes.is_empty() {
        return Err(invalid("the scope parameter is malformed"));
    }
    if !client.allowed_scopes.grants_all(&scopes) {
        return Err(invalid("the requested scope exceeds what the client may ask for"));
    }
    Ok(scopes)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}
