//! The handlers of the management API.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use tower_bearer::manage::audit::{AuditKind, AuditQuery};
use tower_bearer::manage::{Page, TokenQuery};
use tower_bearer::{AuthError, NewToken, Principal, TokenId, TokenManager};
use utoipa::{IntoParams, ToSchema};

use super::body::json;
use super::error::ApiError;
use super::json::{AuditList, AuditView, ErrorBody, IssuedView, TokenList, TokenView};
use super::limits::{self, CreditsRequest, RateLimitRequest};
use super::state::Api;

/// The longest grace a rotation grants.
const MAX_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

pub(super) type ApiState<S> = State<Arc<Api<S>>>;

pub(super) fn require(caller: &Principal, scope: &str) -> Result<(), ApiError> {
    if caller.scopes().grants(scope) {
        Ok(())
    } else {
        Err(ApiError::Auth(AuthError::insufficient_scope([scope])))
    }
}

pub(super) fn query_params<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(p)| p).map_err(|e| ApiError::Invalid(e.body_text()))
}

/// A token to issue: every field optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    /// A name its owner knows it by.
    name: Option<String>,
    /// Its kind (`personal`, `ci`, ...).
    kind: Option<String>,
    /// Its scopes: each held by the caller.
    #[serde(default)]
    scopes: Vec<String>,
    /// Unix seconds.
    expires_at: Option<u64>,
    /// Seconds from now.
    expires_in: Option<u64>,
    /// Another subject of the caller's organization (admins only).
    subject: Option<String>,
    /// Its own rate limit: no looser than the caller's (its own, else its kind's default).
    rate_limit: Option<RateLimitRequest>,
    /// Its credits: no more than the caller's, refilled no more nor sooner.
    credits: Option<CreditsRequest>,
    /// The resources it is meant for (RFC 8707 resource indicators); a caller restricted to
    /// an audience must give a subset of its own. Empty or absent: not restricted.
    audience: Option<Vec<String>>,
    /// The key it is bound to (DPoP, RFC 9449): the RFC 7638 SHA-256 thumbprint of the
    /// holder's public key, 43 base64url characters (the parameter of RFC 9449 §10). It is
    /// then accepted only with a DPoP proof signed by that key. A caller bound to a key must
    /// give that key's. Absent: a bearer token.
    #[schema(min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{43}$")]
    dpop_jkt: Option<String>,
}

/// Issues a token; its secret is in this response only.
#[utoipa::path(
    post,
    path = "/tokens",
    tag = "tokens",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Issued; the secret shown once", body = IssuedView),
        (status = 400, description = "A field is wrong, or looser than the caller's own limits (named)", body = ErrorBody),
        (status = 403, description = "A scope the caller lacks (`tokens:write`, or one it asked for)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create<S: TokenManager + Clone>(
    State(api): ApiState<S>,
    caller: Principal,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result: Result<(StatusCode, Json<IssuedView>), ApiError> = async {
        require(&caller, &api.scopes.write)?;
        let request: CreateRequest = json(&headers, body, api.body_limit).await?;
        let now = api.store.clock().now();
        let mut new = NewToken::for_subject(request.subject.as_deref().unwrap_or(caller.subject()))
            .scopes(request.scopes);
        if let Some(org) = caller.organization() {
            new = new.organization(org);
        }
        if let Some(name) = request.name {
            new = new.name(name);
        }
        if let Some(kind) = request.kind {
            if api.store.rules().is_reserved(&kind) {
                return Err(ApiError::Invalid(format!(
                    "invalid `kind`: {kind:?} is reserved for tokens the store's own endpoints mint"
                )));
            }
            new = new.kind(kind);
        }
        if let Some(limit) = &request.rate_limit {
            new = new.rate_limit(limit.limit()?);
        }
        if let Some(credits) = &request.credits {
            new = new.credits(credits.credits()?);
        }
        if let Some(audience) = request.audience.filter(|a| !a.is_empty()) {
            limits::audience(&audience)?;
            new = new.audience(audience);
        }
        if let Some(jkt) = request.dpop_jkt {
            limits::thumbprint(&jkt)?;
            new = new.confirmation(jkt);
        }
        let expires = match (request.expires_at, request.expires_in) {
            (Some(_), Some(_)) => {
                return Err(ApiError::Invalid("give `expires_at` or `expires_in`, not both".into()));
            }
            (Some(at), None) => Some(
                UNIX_EPOCH.checked_add(Duration::from_secs(at)).filter(|at| *at > now).ok_or_else(|| {
                    ApiError::Invalid("invalid `expires_at`: must be a future time, in Unix seconds".into())
                })?,
            ),
            (None, Some(secs)) => Some(
                now.checked_add(Duration::from_secs(secs))
                    .filter(|_| secs > 0)
                    .ok_or_else(|| ApiError::Invalid("invalid `expires_in`: out of range".into()))?,
            ),
            (None, None) => None,
        };
        if let Some(at) = expires {
            new = new.expires_at(at);
        }
        let issued = api
            .store
            .issue_as(&caller, new)
            .await
            .map_err(|e| limits::refused(e, caller.grant(), api.store.rules().default_limits()))?;
        Ok((StatusCode::CREATED, Json(IssuedView::of(issued, now))))
    }
    .await;
    result.into_response()
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Page size, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    /// One subject of the caller's organization (admins).
    subject: Option<String>,
}

/// Lists tokens a page at a time, oldest first: the caller's own, or its organization's
/// with the admin scope.
#[utoipa::path(
    get,
    path = "/tokens",
    tag = "tokens",
    params(ListParams),
    responses(
        (status = 200, description = "A page of tokens", body = TokenList),
        (status = 400, description = "A parameter is wrong (named)", body = ErrorBody),
        (status = 403, description = "`tokens:read` missing", body = ErrorBody),
    ),
    security(("bearer" = []))
)]

pub(crate) async fn list<S: TokenManager + Clone>(
    State(api): ApiState<S>,
    caller: Principal,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let result: Result<Json<TokenList>, ApiError> = async {
        require(&caller, &api.scopes.read)?;
        let params = query_params(params)?;
        let mut query = TokenQuery::new().limit(params.limit.unwrap_or(0));
        if let Some(cursor) = params.cursor {
            query =
                query.after(cursor.parse().map_err(|_| {
                    ApiError::Invalid("invalid `cursor`: not one this API handed out".into())
                })?);
        }
        let page = if !api.store.rules().is_admin(caller.grant())
            && params.subject.as_deref().is_some_and(|s| s != caller.subject())
        {
            // Another subject's tokens: none to show (their existence is not revealed).
            Page::default()
        } else {
            // Admins list their organization, or one subject of it; others themselves.
            query.subject = params.subject;
            api.store.list_page_as(&caller, query).await?
        };
        let now = api.store.clock().now();
        Ok(Json(TokenList {
            tokens: page.items.iter().map(|t| TokenView::of(t, now)).collect(),
            next_cursor: page.next.map(|c| c.to_string()),
        }))
    }
    .await;
    result.into_response()
}

/// One token's metadata.
#[utoipa::path(
    get,
    path = "/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The token", body = TokenView),
        (status = 404, description = "No such token of the caller's tenant", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn show<S: TokenManager + Clone>(
    State(api): ApiState<S>,
    caller: Principal,
    Path(id): Path<String>,
) -> Response {
    let result: Result<Json<TokenView>, ApiError> = async {
        require(&caller, &api.scopes.read)?;
        let info = api.store.get_as(&caller, &TokenId::from(id.as_str())).await?.ok_or(ApiError::NotFound)?;
        Ok(Json(TokenView::of(&info, api.store.clock().now())))
    }
    .await;
    result.into_response()
}

/// Revokes a token: refused from now on.
#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "`tokens:write`, or a scope of the token, missing", body = ErrorBody),
        (status = 404, description = "No such live token of the caller's tenant", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn revoke<S: TokenManager + Clone>(
    State(api): ApiState<S>,
    caller: Principal,
    Path(id): Path<String>,
) -> Response {
    let result: Result<StatusCode, ApiError> = async {
        require(&caller, &api.scopes.write)?;
        match api.store.revoke_as(&caller, &TokenId::from(id.as_str())).await? {
            true => Ok(StatusCode::NO_CONTENT),
            false => Err(ApiError::NotFound),
        }
    }
    .await;
    result.into_response()
}

/// How a rotation ends the old token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    /// How long the old secret keeps working, at most 30 days (default 0: refused at once).
    #[serde(default)]
    grace_secs: u64,
}

/// Replaces a token by a new one (same owner, name, scopes, lifetime); its secret is in this
/// response only.
#[utoipa::path(
    post,
    path = "/tokens/{id}/rotate",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id")),
    request_body(content = RotateRequest, description = "Optional"),
    responses(
        (status = 200, description = "The successor; its secret shown once", body = IssuedView),
        (status = 400, description = "A field is wrong (named)", body = ErrorBody),
        (status = 404, description = "No such live token of the caller's tenant", body = ErrorBody),
    ),
    security(("bearer" = []))
)]

pub(crate) async fn rotate<S: TokenManager + Clone>(
    State(api): ApiState<S>,
    caller: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result: Result<Json<IssuedView>, ApiError> = async {
        require(&caller, &api.scopes.write)?;
        let request: RotateRequest = json(&headers, body, api.body_limit).await?;
        let grace = Duration::from_secs(request.grace_secs);
        if grace > MAX_GRACE {
            return Err(ApiError::Invalid("invalid `grace_secs`: at most 30 days".into()));
        }
        let issued = api.store.rotate_as(&caller, &TokenId::from(id.as_str()), grace).await?;
        Ok(Json(IssuedView::of(issued, api.store.clock().now())))
    }
    .await;
    result.into_response()
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    /// Page size, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    cursor: Option<u64>,
    /// Only events about this token.
    token_id: Option<String>,
    /// Only events of this type (`token.revoked`, `request.rejected`, ...).
    event: Option<String>,
}

/// The audit log of the caller's tenant, a page at a time, oldest first.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of events", body = AuditList),
        (status = 400, description = "A parameter is wrong (named)", body = ErrorBody),
        (status = 403, description = "`audit:read` missing", body = ErrorBody),
    ),
    security(("bearer" = []))
)]

pub(crate) async fn audit<S: TokenManager + Clone>(
    State(api): ApiState<S>,
    caller: Principal,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    let result: Result<Json<AuditList>, ApiError> = async {
        require(&caller, &api.scopes.audit)?;
        let params = query_params(params)?;
        let Some(log) = &api.audit else { return Err(ApiError::NotFound) };
        let mut query = AuditQuery::new().limit(params.limit.unwrap_or(0));
        if let Some(cursor) = params.cursor {
            query = query.after(cursor);
        }
        if let Some(id) = params.token_id {
            query = query.token_id(TokenId::from(id.as_str()));
        }
        if let Some(event) = params.event {
            let kind: AuditKind = event
                .parse()
                .map_err(|_| ApiError::Invalid(format!("invalid `event`: {event:?} is not an event type")))?;
            query = query.kind(kind);
        }
        // A caller reads the events of its own tenant exactly: its organization (admins), else
        // itself.
        let query = query.within(api.store.rules(), caller.grant());
        let page = log.page(query).await.map_err(|_| ApiError::Unavailable)?;
        Ok(Json(AuditList { events: page.items.iter().map(AuditView::of).collect(), next_cursor: page.next }))
    }
    .await;
    result.into_response()
}
