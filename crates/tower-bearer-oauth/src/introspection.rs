//! [`IntrospectionEndpoint`]: RFC 7662 token introspection as a tower service.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value, json};

use crate::error::BoxError;
use tower_bearer::{PresentedToken, Principal, TokenManager, TokenState, TokenStore};

use crate::client::ClientRegistry;
use crate::credentials::Endpoint;
use crate::error::{OAuthError, invalid_request, json_response};
use crate::shared::{ACCESS_TOKEN_KIND, Shared, endpoint_service};

/// The OAuth 2.0 token introspection endpoint (RFC 7662): a protected resource (itself a
/// registered client, authenticated as at the token endpoint) asks whether a token is active
/// and what it grants. Made from a [`TokenEndpoint`](crate::TokenEndpoint) with
/// [`introspection`](crate::TokenEndpoint::introspection), sharing its registry, store,
/// configuration and failure count.
///
/// - `POST`, form-encoded, `token=...`; `token_type_hint` is accepted and ignored (one kind
///   of token).
/// - An active token: `200 {"active":true,"scope":"...","client_id":"...","sub":"...",
///   "token_type":"Bearer","exp":...,"iat":...,"jti":"<token id>","iss":"...","aud":...,
///   "organization":"...","cnf":{"jkt":"..."}}`, each member present when the token has it
///   (`client_id` for tokens the token endpoint minted; `iss` when
///   [`issuer`](crate::TokenEndpointBuilder::issuer) is set; `aud` a string for one resource,
///   an array for several; `organization` is this crate's extension member; `cnf` for a token
///   bound to a key, whose `token_type` is then `DPoP`, RFC 9449 §6.2 and §5).
/// - Anything else, unknown, revoked, expired or malformed alike: `200 {"active":false}`.
/// - Client authentication failures, methods, content types and sizes are answered as at the
///   token endpoint; a failing store answers 503 `temporarily_unavailable`.
pub struct IntrospectionEndpoint<R, S> {
    shared: Shared<R, S>,
}

impl<R, S> IntrospectionEndpoint<R, S> {
    pub(crate) fn new(shared: Shared<R, S>) -> Self {
        IntrospectionEndpoint { shared }
    }
}

impl<R, S> fmt::Debug for IntrospectionEndpoint<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionEndpoint")
            .field("issuer", &self.shared.config.issuer)
            .finish_non_exhaustive()
    }
}

endpoint_service!(IntrospectionEndpoint);

impl<R: ClientRegistry, S: TokenManager> IntrospectionEndpoint<R, S> {
    async fn handle<B>(&self, req: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let (_, form, _client) = self.shared.client_request(req, Endpoint::Introspection).await?;
        let token = form.get("token").ok_or_else(|| invalid_request("token is required"))?;
        let answer = match self.active(token).await? {
            Some(answer) => answer,
            None => json!({ "active": false }),
        };
        Ok(json_response(StatusCode::OK, answer.to_string()))
    }

    /// The answer for an active token, `None` for any other.
    async fn active(&self, token: &str) -> Result<Option<Value>, OAuthError> {
        let Ok(presented) = PresentedToken::parse(token) else {
            return Ok(None);
        };
        let state = self.shared.store.lookup(&presented).await;
        let principal = match state.map_err(|_| OAuthError::unavailable())? {
            TokenState::Active(principal) if !principal.is_expired_at(self.shared.config.clock.now()) => {
                principal
            }
            _ => return Ok(None),
        };
        let issued_at = match principal.token_id() {
            Some(id) => {
                self.shared.store.get(id).await.map_err(|_| OAuthError::unavailable())?.map(|i| i.created_at)
            }
            None => None,
        };
        Ok(Some(describe(&principal, issued_at, self.shared.config.issuer.as_deref())))
    }
}

/// RFC 7662 §2.2's members for an active token.
fn describe(p: &Principal, issued_at: Option<SystemTime>, issuer: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("active".into(), Value::Bool(true));
    if !p.scopes().is_empty() {
        m.insert("scope".into(), Value::String(p.scopes().to_string()));
    }
    if p.token_kind() == Some(ACCESS_TOKEN_KIND)
        && let Some(client) = p.token_name()
    {
        m.insert("client_id".into(), Value::String(client.to_owned()));
    }
    m.insert("sub".into(), Value::String(p.subject().to_owned()));
    // A bound token is of the type its holder presents it as (RFC 9449 §5): a resource server
    // that reads only `token_type` still learns a bare `Authorization: Bearer` will not do.
    let token_type = if p.grant().confirmation().is_some() { "DPoP" } else { "Bearer" };
    m.insert("token_type".into(), Value::String(token_type.into()));
    if let Some(exp) = p.expires_at().and_then(unix_seconds) {
        m.insert("exp".into(), exp.into());
    }
    if let Some(iat) = issued_at.and_then(unix_seconds) {
        m.insert("iat".into(), iat.into());
    }
    if let Some(id) = p.token_id() {
        m.insert("jti".into(), Value::String(id.as_str().to_owned()));
    }
    if let Some(iss) = issuer {
        m.insert("iss".into(), Value::String(iss.to_owned()));
    }
    let audience: Vec<&str> = p.audience().collect();
    match audience.as_slice() {
        [] => {}
        [one] => {
            m.insert("aud".into(), Value::String((*one).to_owned()));
        }
        many => {
            m.insert("aud".into(), many.iter().map(|a| Value::String((*a).to_owned())).collect());
        }
    }
    if let Some(org) = p.organization() {
        m.insert("organization".into(), Value::String(org.to_owned()));
    }
    if let Some(kind) = p.token_kind() {
        m.insert("token_kind".into(), Value::String(kind.to_owned()));
    }
    if let Some(limit) = p.rate_limit() {
        let period_ms = u64::try_from(limit.period().as_millis()).unwrap_or(u64::MAX);
        m.insert("rate_limit".into(), json!({ "requests": limit.requests(), "period_ms": period_ms }));
    }
    if let Some(credits) = p.credits() {
        let mut plan = json!({ "initial": credits.initial() });
        if let Some((amount, every)) = credits.refill() {
            plan["refill_amount"] = json!(amount);
            plan["refill_every_s"] = json!(every.as_secs());
        }
        m.insert("credits".into(), plan);
    }
    if let Some(jkt) = p.grant().confirmation() {
        m.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    Value::Object(m)
}

/// Seconds since the Unix epoch (RFC 7519 NumericDate), for times after it.
fn unix_seconds(at: SystemTime) -> Option<u64> {
    at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}
