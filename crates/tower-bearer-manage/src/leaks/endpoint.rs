//! [`LeakedTokenEndpoint`]: the tower service GitHub's secret scanning reports leaked tokens to.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use tower_bearer::{PresentedToken, TokenManager, TokenState};
use tower_service::Service;

use super::keys::ScannerKeys;
use super::report::LeakReport;
use super::response::{Rejection, json_response};
use super::wire::{Feedback, Label, Match};

/// A boxed error, as the backends report them.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The default [`max_body_bytes`](LeakedTokenEndpoint::max_body_bytes): 1 MiB.
const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// The default [`max_matches`](LeakedTokenEndpoint::max_matches).
const DEFAULT_MAX_MATCHES: usize = 1000;

type LeakHook = Arc<dyn Fn(&LeakReport) + Send + Sync>;

/// The endpoint a secret scanner reports leaked tokens to, in the format of
/// [GitHub's secret-scanning partner program][partner]: every token of the store found in
/// public is revoked at once and reported to the application.
///
/// GitHub `POST`s a JSON array of matches,
/// `[{"token":"...","type":"...","url":"...","source":"..."}]`, signed with ECDSA P-256 over
/// the raw body: `Github-Public-Key-Identifier` names the key (one of [`ScannerKeys`]),
/// `Github-Public-Key-Signature` holds the base64 of the DER signature. The endpoint:
///
/// 1. answers 405 (with `Allow: POST`) to other methods, and 415 to a declared content type
///    other than `application/json` (GitHub sends `application/json`; a request without a
///    `Content-Type` is accepted, since the signature is what vouches for the body);
/// 2. answers 401 when the key identifier is not one of the configured keys, or a header is
///    missing, repeated or malformed, before reading the body; then 413 for a body over
///    [`max_body_bytes`](Self::max_body_bytes) (1 MiB by default), and 401 when the
///    signature does not verify over the body's exact bytes. Nothing is parsed or looked up
///    before the signature is checked;
/// 3. answers 400 when the body is not a JSON array of objects with string `token` and
///    `type` (other fields are optional or ignored), and 413 when it holds more than
///    [`max_matches`](Self::max_matches) matches (1000 by default); nothing is looked up
///    then either;
/// 4. looks every match up by digest, one after the other. A token of the store, in any
///    state, is a `true_positive`; anything else a `false_positive`. A live token is revoked
///    ([`TokenManager::revoke`]) before the next match is looked at. Each token found is
///    given to the [`on_leak`](Self::on_leak) hook as a [`LeakReport`];
/// 5. answers 200 with GitHub's feedback array, one element per match in the order received:
///    `[{"token_raw":"...","token_type":"...","label":"true_positive"}]`. `token_raw` echoes
///    the token as GitHub sent it (GitHub has it; its documented alternative, `token_hash`,
///    leaves the digest's encoding unspecified), so the response is sent `no-store`.
///
/// If the store fails, the answer is 503 and no feedback: GitHub retries the report. Tokens
/// revoked before the failure stay revoked (and were reported to the hook); on the retry they
/// are found revoked, `true_positive`, and not revoked again. Errors are JSON,
/// `{"error":"invalid_signature","error_description":"..."}`, and never contain anything from
/// the request. The endpoint logs nothing.
///
/// Mount it with axum's [`Router::route_service`](axum::Router::route_service), outside any
/// bearer-token layer (GitHub authenticates by signature, not by token):
///
/// ```
/// use axum::Router;
/// use axum::body::Body;
/// use base64::Engine as _;
/// use http::{Request, StatusCode};
/// use http_body_util::BodyExt as _;
/// use p256::ecdsa::signature::Signer as _;
/// use p256::pkcs8::{EncodePublicKey as _, LineEnding};
/// use tower::ServiceExt as _;
/// use tower_bearer::{MemoryTokenStore, NewToken, TokenManager};
/// use tower_bearer_manage::{LeakedTokenEndpoint, ScannerKeys};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // In production: ScannerKeys::from_github_json(&document), the document downloaded from
/// // https://api.github.com/meta/public_keys/secret_scanning. Here, a key of our own.
/// let github = p256::ecdsa::SigningKey::from_slice(&[7; 32])?;
/// let pem = github.verifying_key().to_public_key_pem(LineEnding::LF)?;
/// let keys = ScannerKeys::from_pem("4fa2d1c5e3b7", &pem)?;
///
/// let store = MemoryTokenStore::new();
/// let issued = store.issue(NewToken::for_subject("alice")).await?;
/// let leaks = LeakedTokenEndpoint::new(store.clone(), keys)
///     .on_leak(|leak| eprintln!("leaked: {:?} of {} at {:?}", leak.token_id, leak.subject, leak.url));
/// let app = Router::new().route_service("/github/secret-scanning", leaks);
///
/// // What GitHub sends when it finds the token in a public repository.
/// let body = format!(
///     r#"[{{"token":"{}","type":"acme_api_token","url":"https://github.com/o/r/blob/1/a.env","source":"content"}}]"#,
///     issued.secret().expose_secret()
/// );
/// let signature: p256::ecdsa::Signature = github.sign(body.as_bytes());
/// let report = |body: String| {
///     Request::post("/github/secret-scanning")
///         .header("content-type", "application/json")
///         .header("github-public-key-identifier", "4fa2d1c5e3b7")
///         .header("github-public-key-signature", base64::prelude::BASE64_STANDARD.encode(signature.to_der()))
///         .body(Body::from(body))
/// };
///
/// let response = app.clone().oneshot(report(body.clone())?).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// let feedback: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
/// assert_eq!(feedback[0]["label"], "true_positive");
/// assert!(store.list("alice").await?.is_empty()); // revoked
///
/// // One changed byte, and the signature no longer matches.
/// let forged = body.replace("content", "commit");
/// assert_eq!(app.oneshot(report(forged)?).await?.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
///
/// [partner]: https://docs.github.com/en/code-security/secret-scanning/secret-scanning-partnership-program/secret-scanning-partner-program
pub struct LeakedTokenEndpoint<S> {
    store: S,
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    keys: ScannerKeys,
    max_body: usize,
    max_matches: usize,
    on_leak: Option<LeakHook>,
}

impl<S: TokenManager + Clone> LeakedTokenEndpoint<S> {
    /// An endpoint revoking leaked tokens of `store`, for reports signed by one of `keys`.
    pub fn new(store: S, keys: ScannerKeys) -> Self {
        let config =
            Config { keys, max_body: DEFAULT_MAX_BODY, max_matches: DEFAULT_MAX_MATCHES, on_leak: None };
        LeakedTokenEndpoint { store, config: Arc::new(config) }
    }
}

impl<S> LeakedTokenEndpoint<S> {
    /// The largest body accepted, in bytes; larger ones are answered 413 without being read
    /// whole. Default 1 MiB.
    #[must_use]
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.config).max_body = max;
        self
    }

    /// The most matches one report may carry; a report with more is answered 413 and nothing
    /// of it is looked up. Default 1000. Every match costs a store lookup (and a revocation
    /// for live tokens) within GitHub's 30 s request timeout.
    #[must_use]
    pub fn max_matches(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.config).max_matches = max;
        self
    }

    /// Calls `hook` with every token of the store that a report names, once per match, after
    /// the token was revoked (if it was live). For the audit log and for notifying the
    /// token's owner; the hook runs on the request's task, so it should hand slow work off.
    #[must_use]
    pub fn on_leak(mut self, hook: impl Fn(&LeakReport) + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.config).on_leak = Some(Arc::new(hook));
        self
    }

    /// The keys reports are verified against.
    #[must_use]
    pub fn keys(&self) -> &ScannerKeys {
        &self.config.keys
    }
}

impl<S: TokenManager> LeakedTokenEndpoint<S> {
    async fn handle<B>(&self, req: Request<B>) -> Result<Response<Full<Bytes>>, Rejection>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        if req.method() != Method::POST {
            return Err(Rejection::Method);
        }
        if !is_json_or_undeclared(req.headers()) {
            return Err(Rejection::MediaType);
        }
        let signer = self.config.keys.signer(req.headers())?;
        let body = self.read_body(req).await?;
        signer.verify(&body)?;
        let matches: Vec<Match> = serde_json::from_slice(&body)
            .map_err(|_| Rejection::Malformed("the body is not a JSON array of token matches"))?;
        if matches.len() > self.config.max_matches {
            return Err(Rejection::TooLarge("the report holds too many matches"));
        }
        let mut feedback = Vec::with_capacity(matches.len());
        for found in &matches {
            let label = self.triage(found).await?;
            feedback.push(Feedback { token_raw: &found.token, token_type: &found.token_type, label });
        }
        Ok(json_response(StatusCode::OK, &feedback))
    }

    async fn read_body<B>(&self, req: Request<B>) -> Result<Bytes, Rejection>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        const TOO_LARGE: Rejection = Rejection::TooLarge("the body is too large");
        let max = self.config.max_body;
        let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max as u64) {
            return Err(TOO_LARGE);
        }
        match Limited::new(req.into_body(), max).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<LengthLimitError>() => Err(TOO_LARGE),
            Err(_) => Err(Rejection::Malformed("the body could not be read")),
        }
    }

    /// Whether a match is a token of the store; revokes it if it is live, and reports it.
    async fn triage(&self, found: &Match) -> Result<Label, Rejection> {
        let state = self
            .store
            .lookup(&PresentedToken::new(&found.token))
            .await
            .map_err(|_| Rejection::Unavailable)?;
        let (principal, live) = match state {
            TokenState::Active(principal) => (principal, true),
            TokenState::Expired(principal) | TokenState::Revoked(principal) => (principal, false),
            TokenState::Unknown => return Ok(Label::FalsePositive),
            // A state added to the core later is a state of a token the store knows; with no
            // principal to act on, it is only labelled.
            _ => return Ok(Label::TruePositive),
        };
        let revoked = match principal.token_id() {
            Some(id) if live => self.store.revoke(id).await.map_err(|_| Rejection::Unavailable)?,
            _ => false,
        };
        if let Some(hook) = &self.config.on_leak {
            hook(&LeakReport::new(&principal, found.url.as_deref(), found.source.as_deref(), revoked));
        }
        Ok(Label::TruePositive)
    }
}

/// Whether the request declares a JSON body, or no content type at all.
fn is_json_or_undeclared(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else { return true };
    let Ok(value) = value.to_str() else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

impl<S: Clone> Clone for LeakedTokenEndpoint<S> {
    fn clone(&self) -> Self {
        LeakedTokenEndpoint { store: self.store.clone(), config: self.config.clone() }
    }
}

impl<S> fmt::Debug for LeakedTokenEndpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        f.debug_struct("LeakedTokenEndpoint")
            .field("keys", &config.keys)
            .field("max_body", &config.max_body)
            .field("max_matches", &config.max_matches)
            .field("on_leak", &config.on_leak.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for LeakedTokenEndpoint<S>
where
    S: TokenManager + Clone,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    /// Boxed: a report is a body read, a signature check and a store round trip per match;
    /// one allocation is nothing next to them, and reports are rare.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await.unwrap_or_else(Rejection::into_response)) })
    }
}
