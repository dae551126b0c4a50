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
use crate::credentials::ClientCredentials;
use crate::error::{OAuthError, invalid_request};
use crate::form::Form;
use crate::limiter::FailureLimiter;

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
    /// Realm `oauth`, 16 KiB bodies, 5 failures per 60 s, the peer address, the system clock.
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
    /// Reads a client's request (POST, form-encoded, within the size limit, read whole) and
    /// authenticates the client (RFC 6749 §2.3.1, either method, exactly one).
    pub(crate) async fn client_request<B>(
        &self,
        req: Request<B>,
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
        let credentials = ClientCredentials::from_request(&parts.headers, &form)?;
        let client = self.authenticate(&credentials, (self.config.source)(&parts)).await?;
        Ok((parts, form, client))
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
