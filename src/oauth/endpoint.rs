//! [`TokenEndpoint`]: the RFC 6749 §4.4 client-credentials token endpoint as a tower service.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use tower_service::Service;

use crate::credentials::percent_decode;
use crate::lifecycle::{NewToken, TokenLifecycle};
use crate::oauth::client::{ClientRecord, ClientRegistry};
use crate::response::is_param_char;
use crate::scope::{Scopes, is_scope_token};
use crate::store::BoxError;

/// Default limit on the size of a token request body.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024;

/// The OAuth 2.0 token endpoint for the client-credentials grant (RFC 6749 §4.4): a client
/// trades its id and secret for a short-lived access token, minted into the same
/// [`TokenLifecycle`] store that [`BearerAuthLayer`](crate::BearerAuthLayer) checks.
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
/// - Brute force: after `max_failures` failed authentications of one client id within
///   `window`, that id is answered 429 with `Retry-After` until the window ends, whatever
///   secret it presents (default 5 per 60 s).
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

impl<R: ClientRegistry, S: TokenLifecycle> TokenEndpoint<R, S> {
    /// An endpoint authenticating clients against `registry` and minting tokens into `store`.
    pub fn new(registry: R, store: S) -> Self {
        Self::from_shared(Arc::new(registry), Arc::new(store))
    }

    /// An endpoint over a registry and store shared with the rest of the application (the
    /// same store goes into the [`BearerAuthLayer`](crate::BearerAuthLayer)).
    pub fn from_shared(registry: Arc<R>, store: Arc<S>) -> Self {
        let config = Config {
            realm: "oauth".into(),
            max_body: DEFAULT_MAX_BODY,
            limiter: FailureLimiter::new(5, Duration::from_secs(60)),
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

    /// The largest request body accepted (413 above it). Default [`DEFAULT_MAX_BODY`].
    ///
    /// # Panics
    ///
    /// If the endpoint was cloned already.
    #[must_use]
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.config_mut().max_body = max;
        self
    }

    /// Allows `max_failures` failed authentications per client id within `window`; further
    /// attempts get 429 with `Retry-After` until the window ends.
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
    S: TokenLifecycle,
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

impl<R: ClientRegistry, S: TokenLifecycle> TokenEndpoint<R, S> {
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
        let client = self.authenticate(&credentials).await?;
        let scopes = granted_scopes(&client, form.get("scope"))?;

        let new = NewToken::for_subject(client.subject.clone())
            .name(client.client_id.clone())
            .kind("oauth_access")
            .scopes(scopes.clone())
            .expires_in(client.access_token_ttl);
        let issued = self.store.issue(new).await.map_err(|_| OAuthError::unavailable())?;
        let body = format!(
            r#"{{"access_token":"{}","token_type":"bearer","expires_in":{},"scope":"{scopes}"}}"#,
            issued.secret().expose_secret(),
            client.access_token_ttl.as_secs(),
        );
        Ok(json_response(StatusCode::OK, body))
    }

    async fn authenticate(&self, credentials: &ClientCredentials) -> Result<ClientRecord, OAuthError> {
        let limiter = &self.config.limiter;
        let invalid_client = || OAuthError::invalid_client(credentials.via_basic);
        if let Some(retry_after) = limiter.locked(&credentials.id) {
            return Err(OAuthError::too_many_attempts(retry_after));
        }
        let record = self.registry.find(&credentials.id).await.map_err(|_| OAuthError::unavailable())?;
        let now = SystemTime::now();
        match record {
            Some(record) if record.verify(&credentials.secret, now) => {
                limiter.succeeded(&credentials.id);
                Ok(record)
            }
            found => {
                if found.is_none() {
                    // Spend the same hashing work as a known client, so timing does not
                    // tell which client ids exist.
                    let _ = DUMMY_CLIENT.with(|c| c.verify(&credentials.secret, now));
                }
                limiter.failed(&credentials.id);
                Err(invalid_client())
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
        secrets: vec![(crate::token::TokenHash::from_bytes([0; 32]), None)],
    };
}

fn granted_scopes(client: &ClientRecord, requested: Option<&str>) -> Result<Scopes, OAuthError> {
    let Some(requested) = requested.filter(|s| !s.is_empty()) else {
        return Ok(client.allowed_scopes.clone());
    };
    let invalid = |description| OAuthError::bad_request("invalid_scope", description);
    if requested.split(' ').any(|s| !s.is_empty() && !is_scope_token(s)) || requested.contains("  ") {
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

/// The decoded body parameters, each at most once (RFC 6749 §3.2).
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let text = std::str::from_utf8(body).map_err(|_| invalid_request("the body is not UTF-8"))?;
        let mut params = HashMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name).ok_or_else(|| invalid_request("the body is not form-encoded"))?;
            let value =
                percent_decode(value).ok_or_else(|| invalid_request("the body is not form-encoded"))?;
            // "Parameters sent without a value MUST be treated as if they were omitted."
            if value.is_empty() {
                continue;
            }
            if params.insert(name, value).is_some() {
                return Err(invalid_request("a parameter is repeated"));
            }
        }
        Ok(Form(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// The client's id and secret, and whether they came by HTTP Basic.
struct ClientCredentials {
    id: String,
    secret: String,
    via_basic: bool,
}

impl ClientCredentials {
    fn from_request(headers: &HeaderMap, form: &Form) -> Result<Self, OAuthError> {
        let in_body = form.get("client_id").is_some() || form.get("client_secret").is_some();
        let header = headers.get(AUTHORIZATION);
        match (header, in_body) {
            (Some(_), true) => Err(invalid_request("use exactly one client authentication method")),
            (Some(value), false) => {
                Self::from_basic(value.as_bytes()).ok_or(OAuthError::invalid_client(true))
            }
            (None, true) => match (form.get("client_id"), form.get("client_secret")) {
                (Some(id), Some(secret)) => {
                    Ok(ClientCredentials { id: id.to_owned(), secret: secret.to_owned(), via_basic: false })
                }
                _ => Err(OAuthError::invalid_client(false)),
            },
            // No authentication at all: 401 with the Basic challenge says how to authenticate.
            (None, false) => Err(OAuthError::invalid_client(true)),
        }
    }

    /// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
    fn from_basic(value: &[u8]) -> Option<Self> {
        let value = std::str::from_utf8(value).ok()?;
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(encoded.trim_start_matches(' ')).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let (id, secret) = (percent_decode(id)?, percent_decode(secret)?);
        (!id.is_empty()).then_some(ClientCredentials { id, secret, via_basic: true })
    }
}

/// Failed authentications per client id, to stop secret guessing.
struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Failure records kept before expired ones are swept, bounding memory under a flood of
/// made-up client ids.
const MAX_TRACKED_CLIENTS: usize = 10_000;

impl FailureLimiter {
    fn new(max_failures: u32, window: Duration) -> Self {
        FailureLimiter { max_failures, window, failures: Mutex::new(HashMap::new()) }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long `id` must still wait, if it is locked out.
    fn locked(&self, id: &str) -> Option<Duration> {
        let (count, since) = *self.table().get(id)?;
        let elapsed = since.elapsed();
        (count >= self.max_failures && elapsed < self.window).then(|| self.window - elapsed)
    }

    fn failed(&self, id: &str) {
        let mut table = self.table();
        if table.len() >= MAX_TRACKED_CLIENTS {
            let window = self.window;
            table.retain(|_, (_, since)| since.elapsed() < window);
        }
        let key = id.chars().take(256).collect::<String>();
        let entry = table.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    fn succeeded(&self, id: &str) {
        self.table().remove(id);
    }
}

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: &'static str,
    basic_challenge: bool,
    retry_after: Option<Duration>,
}

fn invalid_request(description: &'static str) -> OAuthError {
    OAuthError::bad_request("invalid_request", description)
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: &'static str) -> Self {
        OAuthError { status, code, description, basic_challenge: false, retry_after: None }
    }

    fn bad_request(code: &'static str, description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    fn invalid_client(via_basic: bool) -> Self {
        let status = if via_basic { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
        OAuthError {
            basic_challenge: via_basic,
            ..Self::new(status, "invalid_client", "Client authentication failed")
        }
    }

    fn too_many_attempts(retry_after: Duration) -> Self {
        OAuthError {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many failed client authentications; retry later",
            )
        }
    }

    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable",
        )
    }

    fn into_response(self, realm: &str) -> Response<Full<Bytes>> {
        let description: String = self.description.chars().filter(|&c| is_param_char(c)).collect();
        let body = format!(r#"{{"error":"{}","error_description":"{description}"}}"#, self.code);
        let mut response = json_response(self.status, body);
        let headers = response.headers_mut();
        if self.basic_challenge
            && let Ok(challenge) =
                HeaderValue::try_from(format!("Basic realm=\"{realm}\", charset=\"UTF-8\""))
        {
            headers.insert(http::header::WWW_AUTHENTICATE, challenge);
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        if let Some(after) = self.retry_after {
            // Round up: retrying a second early would only be refused again.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
