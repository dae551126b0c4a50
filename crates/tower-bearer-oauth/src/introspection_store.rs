//! [`IntrospectionStore`]: a [`TokenStore`] for tokens issued elsewhere, asking the issuer's
//! RFC 7662 introspection endpoint.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Request, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;

use tower_bearer::store::Answer;
use tower_bearer::stores::CacheConfig;
use tower_bearer::{CachedTokenStore, Clock, PresentedToken, StoreError, TokenState, TokenStore};

use crate::fetch::{FetchError, fetch};
use crate::form::percent_encode;
use crate::introspected::parse;

/// The largest introspection answer read (a larger one is an error: fail closed).
const MAX_ANSWER: usize = 64 * 1024;

/// A [`TokenStore`] that asks an RFC 7662 introspection endpoint about each token: a service
/// protected by tokens another authorization server issues (Keycloak, Auth0, Okta, Ory,
/// another tower-bearer's [`IntrospectionEndpoint`](crate::IntrospectionEndpoint)), opaque
/// tokens included.
///
/// The store authenticates as a client of that server (HTTP Basic, RFC 6749 §2.3.1), sends the
/// token in the body of a `POST` (never in a URL, never in a log or an error), and reads the
/// answer strictly: `active: false` is unknown, an `exp` in the
/// past is expired whatever `active` says. A timeout, an error status, a body over 64 KiB or an
/// answer that is not one fail closed: the layer answers 503.
///
/// Put a cache in front ([`cached`](Self::cached)): active answers are then served for at most
/// the configured TTL and never past the token's `exp`, inactive ones briefly, and concurrent
/// requests with one token make one call. The HTTP client is hyper-util's pooled client (part of
/// the hyper project tower services run on, with no other runtime); for `https`, build one with
/// a TLS connector (hyper-rustls, hyper-tls) and pass it to [`with_client`](Self::with_client)
/// (or [`builder_with_client`](Self::builder_with_client)).
///
/// ```no_run
/// use std::time::Duration;
/// use tower_bearer::BearerAuthLayer;
/// use tower_bearer::stores::CacheConfig;
/// use tower_bearer_oauth::IntrospectionStore;
///
/// # fn main() -> Result<(), http::uri::InvalidUri> {
/// let store = IntrospectionStore::builder("http://auth.internal/oauth/introspect", "reports-api", "cs_...")?
///     .timeout(Duration::from_secs(2))
///     .build()
///     .cached(CacheConfig::default().positive_ttl(Duration::from_secs(60)));
/// let layer = BearerAuthLayer::new(store);
/// # Ok(()) }
/// ```
pub struct IntrospectionStore<C = HttpConnector> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    client: Client<C, Full<Bytes>>,
    endpoint: Uri,
    /// `Basic ...`, marked sensitive.
    authorization: HeaderValue,
    timeout: Duration,
    clock: Clock,
}

impl IntrospectionStore<HttpConnector> {
    /// A store asking `endpoint` (plain `http`), authenticating as `client_id` /
    /// `client_secret`, with the default settings (a 5-second timeout, the system clock):
    /// [`builder`](Self::builder)`(..)?.build()`.
    ///
    /// # Errors
    ///
    /// If `endpoint` is not a URI.
    pub fn new(endpoint: &str, client_id: &str, client_secret: &str) -> Result<Self, http::uri::InvalidUri> {
        Ok(Self::builder(endpoint, client_id, client_secret)?.build())
    }

    /// Configures a store asking `endpoint` (plain `http`), authenticating as `client_id` /
    /// `client_secret`: timeout, clock. See [`IntrospectionStoreBuilder`].
    ///
    /// # Errors
    ///
    /// If `endpoint` is not a URI.
    pub fn builder(
        endpoint: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<IntrospectionStoreBuilder<HttpConnector>, http::uri::InvalidUri> {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Self::builder_with_client(client, endpoint.parse()?, client_id, client_secret))
    }
}

impl<C> IntrospectionStore<C> {
    /// A store asking `endpoint` through `client` (one with a TLS connector for `https`), with
    /// the default settings: [`builder_with_client`](Self::builder_with_client)`(..).build()`.
    pub fn with_client(
        client: Client<C, Full<Bytes>>,
        endpoint: Uri,
        client_id: &str,
        client_secret: &str,
    ) -> Self {
        Self::builder_with_client(client, endpoint, client_id, client_secret).build()
    }

    /// Configures a store asking `endpoint` through `client` (one with a TLS connector for
    /// `https`). See [`IntrospectionStoreBuilder`].
    pub fn builder_with_client(
        client: Client<C, Full<Bytes>>,
        endpoint: Uri,
        client_id: &str,
        client_secret: &str,
    ) -> IntrospectionStoreBuilder<C> {
        // RFC 6749 §2.3.1: id and secret form-encoded, then Base64.
        let pair = format!("{}:{}", percent_encode(client_id), percent_encode(client_secret));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        let mut authorization = HeaderValue::from_str(&format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        authorization.set_sensitive(true);
        let inner = Inner {
            client,
            endpoint,
            authorization,
            timeout: Duration::from_secs(5),
            clock: Clock::default(),
        };
        IntrospectionStoreBuilder { inner }
    }

    /// This store behind a [`CachedTokenStore`] configured by `config`.
    pub fn cached(self, config: CacheConfig) -> CachedTokenStore<Self>
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        CachedTokenStore::with_config(self, config)
    }
}

/// Configures an [`IntrospectionStore`]; see [`IntrospectionStore::builder`]. The built store's
/// clones share its HTTP client and connection pool.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_bearer::BearerAuthLayer;
/// use tower_bearer_oauth::IntrospectionStore;
///
/// # fn main() -> Result<(), http::uri::InvalidUri> {
/// let store = IntrospectionStore::builder("http://auth.internal/oauth/introspect", "reports-api", "cs_...")?
///     .timeout(Duration::from_secs(2))
///     .build();
/// let layer = BearerAuthLayer::new(store);
/// # Ok(()) }
/// ```
#[must_use]
pub struct IntrospectionStoreBuilder<C = HttpConnector> {
    inner: Inner<C>,
}

impl<C> IntrospectionStoreBuilder<C> {
    /// How long a call may take before the lookup fails (503). Default 5 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner.timeout = timeout;
        self
    }

    /// Reads the time from `clock` (default: the system clock), for `exp` and `nbf`.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.inner.clock = clock;
        self
    }

    /// The store.
    #[must_use]
    pub fn build(self) -> IntrospectionStore<C> {
        IntrospectionStore { inner: Arc::new(self.inner) }
    }
}

impl<C> fmt::Debug for IntrospectionStoreBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionStoreBuilder")
            .field("endpoint", &self.inner.endpoint)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl<C> Clone for IntrospectionStore<C> {
    fn clone(&self) -> Self {
        IntrospectionStore { inner: self.inner.clone() }
    }
}

impl<C> fmt::Debug for IntrospectionStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionStore")
            .field("endpoint", &self.inner.endpoint)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> Inner<C> {
    async fn introspect(self: Arc<Self>, token: String) -> Result<TokenState, StoreError> {
        let body = format!("token={}&token_type_hint=access_token", percent_encode(&token));
        let request = Request::post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(AUTHORIZATION, self.authorization.clone())
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| StoreError::unavailable("the introspection request could not be built"))?;
        let answer = match fetch(&self.client, request, MAX_ANSWER, self.timeout).await {
            Ok(answer) => answer,
            Err(FetchError::Timeout) => return Err(StoreError::timeout()),
            Err(FetchError::Failed(e)) => return Err(StoreError::unavailable(e)),
        };
        parse(&answer, &self.clock)
            .map_err(|e| StoreError::unavailable(format!("the introspection answer is not one: {e:?}")))
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> TokenStore for IntrospectionStore<C> {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        Answer::Later(Box::pin(self.inner.clone().introspect(token.expose_secret().to_owned())))
    }
}
