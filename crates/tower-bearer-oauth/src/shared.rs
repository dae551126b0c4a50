//! [`Shared`]: what the token, introspection and revocation endpoints share: the client
//! registry, the token store, one configuration (one failure count), and the reading and
//! authentication of a client's request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::error::BoxError;
use tower_bearer::{Clock, Scopes, TokenHash};

use crate::client::{ClientRecord, ClientRegistry};
use crate::credentials::{ClientAssertion, ClientAuth, ClientCredentials, Endpoint};
use crate::error::{OAuthError, invalid_request};
use crate::form::Form;
use crate::limiter::FailureLimiter;
#[cfg(feature = "jwt")]
use crate::private_key_jwt::{self, Assertions, Refused};

/// The kind of the tokens the token endpoint mints; with the client id as the token's name,
/// how introspection and revocation know whose token it is.
pub(crate) const ACCESS_TOKEN_KIND: &str = "oauth_access";

/// Where a request comes from, for the failure limiter.
pub(crate) type SourceOf = Arc<dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync>;

/// The endpoints' configuration, set through [`TokenEndpointBuilder`](crate::TokenEndpointBuilder)
/// and fixed once built.
pub(crate) struct Config {
    pub(crate) realm: Box<str>,
    pub(crate) max_body: usize,
    pub(crate) limiter: FailureLimiter,
    pub(crate) source: SourceOf,
    pub(crate) clock: Clock,
    /// The `iss` of introspection answers.
    pub(crate) issuer: Option<Box<str>>,
    /// The resources a client may ask tokens for (RFC 8707); empty: any absolute URI.
    pub(crate) resources: Vec<Box<str>>,
    /// DPoP proofs taken at the token endpoint (RFC 9449 §5), if any.
    #[cfg(feature = "dpop")]
    pub(crate) dpop: Option<tower_bearer_jwt::DpopVerifier>,
    /// How client assertions are checked (`private_key_jwt`).
    #[cfg(feature = "jwt")]
    pub(crate) assertions: Assertions,
}

pub(crate) struct Shared<R, S> {
    pub(crate) registry: Arc<R>,
    pub(crate) store: Arc<S>,
    pub(crate) config: Arc<Config>,
}

impl<R, S> Clone for Shared<R, S> {
    fn clone(&self) -> Self {
        Shared { registry: self.registry.clone(), store: self.store.clone(), config: self.config.clone() }
    }
}

impl Default for Config {
    /// Realm `oauth`, 16 KiB bodies, 5 failures per 60 s, the peer address, the system clock;
    /// client assertions of the asymmetric algorithms, 5 minutes long at most, 30 seconds of
    /// leeway, a replay cache in memory, keys fetched over plain `http`.
    fn default() -> Self {
        Config {
            realm: "oauth".into(),
            max_body: 16 * 1024,
            limiter: FailureLimiter::new(5, Duration::from_secs(60)),
            source: Arc::new(|parts: &Parts| parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)),
            clock: Clock::default(),
            issuer: None,
            resources: Vec::new(),
            #[cfg(feature = "dpop")]
            dpop: None,
            #[cfg(feature = "jwt")]
            assertions: Assertions {
                algorithms: tower_bearer_jwt::AlgorithmPolicy::only(private_key_jwt::DEFAULT_ALGORITHMS),
                max_lifetime: private_key_jwt::DEFAULT_MAX_LIFETIME,
                leeway: private_key_jwt::DEFAULT_LEEWAY,
                replay: Arc::new(tower_bearer::MemoryTokenStore::new()),
                remote: private_key_jwt::RemoteKeySets::new(
                    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                        .build_http(),
                ),
                urls: [None, None, None],
            },
        }
    }
}

impl<R, S> Shared<R, S> {
    pub(crate) fn new(registry: Arc<R>, store: Arc<S>, config: Config) -> Self {
        Shared { registry, store, config: Arc::new(config) }
    }

    /// The response for an endpoint's outcome.
    pub(crate) fn respond(
        &self,
        outcome: Result<Response<Full<Bytes>>, OAuthError>,
    ) -> Response<Full<Bytes>> {
        outcome.unwrap_or_else(|e| e.into_response(&self.config.realm))
    }
}

impl<R: ClientRegistry, S> Shared<R, S> {
    /// Reads a client's request to `endpoint` (POST, form-encoded, within the size limit, read
    /// whole) and authenticates the client (exactly one method: a secret by HTTP Basic or in
    /// the body, RFC 6749 §2.3.1, or an assertion, RFC 7523).
    pub(crate) async fn client_request<B>(
        &self,
        req: Request<B>,
        endpoint: Endpoint,
    ) -> Result<(Parts, Form, ClientRecord), OAuthError>
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
        let auth = ClientAuth::from_request(&parts.headers, &form)?;
        let client = self.authenticate(&auth, endpoint, (self.config.source)(&parts)).await?;
        Ok((parts, form, client))
    }

    /// The client `auth` authenticates; a failure is counted against `source`.
    async fn authenticate(
        &self,
        auth: &ClientAuth,
        endpoint: Endpoint,
        source: Option<IpAddr>,
    ) -> Result<ClientRecord, OAuthError> {
        let authenticated = match auth {
            ClientAuth::Secret(credentials) => self.by_secret(credentials).await?,
            ClientAuth::Assertion(assertion) => self.by_assertion(assertion, endpoint).await?,
        };
        match authenticated {
            // Never refused, whatever the source's count.
            Some(record) => Ok(record),
            None => match self.config.limiter.failed(source, self.config.clock.now()) {
                Some(retry_after) => Err(OAuthError::too_many_attempts(retry_after)),
                None => Err(OAuthError::invalid_client(auth.challenged())),
            },
        }
    }

    /// The client whose secret `credentials` hold, if any.
    async fn by_secret(&self, credentials: &ClientCredentials) -> Result<Option<ClientRecord>, OAuthError> {
        let now = self.config.clock.now();
        let record = self.registry.find(&credentials.id).await.map_err(|_| OAuthError::unavailable())?;
        match record {
            Some(record) if record.verify(&credentials.secret, now) => Ok(Some(record)),
            found => {
                if found.is_none_or(|record| record.secrets.is_empty()) {
                    // Spend the same hashing work as a client with a secret, so timing does
                    // not tell which client ids exist, or which have no secret.
                    let _ = DUMMY_CLIENT.with(|c| c.verify(&credentials.secret, now));
                }
                Ok(None)
            }
        }
    }

    /// The client `assertion` authenticates at `endpoint`, if any: the one its `client_id`
    /// names, else its `sub`, checked by [`private_key_jwt::authenticate`].
    #[cfg(feature = "jwt")]
    async fn by_assertion(
        &self,
        assertion: &ClientAssertion,
        endpoint: Endpoint,
    ) -> Result<Option<ClientRecord>, OAuthError> {
        let id = assertion.client_id.clone().or_else(|| private_key_jwt::unverified_subject(&assertion.jwt));
        let Some(id) = id else { return Ok(None) };
        let Some(record) = self.registry.find(&id).await.map_err(|_| OAuthError::unavailable())? else {
            return Ok(None);
        };
        match private_key_jwt::authenticate(
            &self.config.assertions,
            self.config.issuer.as_deref(),
            &self.config.clock,
            &record,
            &assertion.jwt,
            endpoint,
        )
        .await
        {
            Ok(()) => Ok(Some(record)),
            Err(Refused::Invalid) => Ok(None),
            Err(Refused::Unavailable) => Err(OAuthError::unavailable()),
        }
    }

    /// Without feature `jwt`, no assertion authenticates a client.
    #[cfg(not(feature = "jwt"))]
    #[allow(clippy::unused_async)]
    async fn by_assertion(
        &self,
        _assertion: &ClientAssertion,
        _endpoint: Endpoint,
    ) -> Result<Option<ClientRecord>, OAuthError> {
        Ok(None)
    }
}

thread_local! {
    static DUMMY_CLIENT: ClientRecord = ClientRecord::new(
        String::new(),
        String::new(),
        Scopes::none(),
        Duration::ZERO,
        vec![(TokenHash::from_bytes([0; 32]), None)],
    );
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Implements `Clone` and `Service` for an endpoint holding `shared: Shared<R, S>` and an
/// inherent `async fn handle(&self, Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>`:
/// the three endpoints answer alike (boxed future, never an error, an `OAuthError` as its
/// RFC 6749 §5.2 response).
macro_rules! endpoint_service {
    ($endpoint:ident) => {
        impl<R, S> Clone for $endpoint<R, S> {
            fn clone(&self) -> Self {
                $endpoint { shared: self.shared.clone() }
            }
        }

        impl<R, S, B> tower_service::Service<http::Request<B>> for $endpoint<R, S>
        where
            R: $crate::client::ClientRegistry,
            S: tower_bearer::TokenManager,
            B: http_body::Body + Send + 'static,
            B::Data: Send,
            B::Error: Into<crate::error::BoxError>,
        {
            type Response = http::Response<http_body_util::Full<bytes::Bytes>>;
            type Error = std::convert::Infallible;
            type Future = std::pin::Pin<
                Box<
                    dyn std::future::Future<Output = Result<Self::Response, std::convert::Infallible>> + Send,
                >,
            >;

            fn poll_ready(
                &mut self,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), std::convert::Infallible>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: http::Request<B>) -> Self::Future {
                let this = self.clone();
                Box::pin(async move { Ok(this.shared.respond(this.handle(req).await)) })
            }
        }
    };
}
pub(crate) use endpoint_service;
