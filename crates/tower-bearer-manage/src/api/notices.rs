//! `GET /notices`: the lifecycle notices of the caller's tenant, tokens expiring within a
//! window and tokens reported leaked within it, under the tenant rules of the tokens.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tower_bearer::manage::TokenQuery;
use tower_bearer::manage::audit::{AuditKind, AuditQuery};
use tower_bearer::{AuthError, Principal, TokenManager};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::json::{AuditView, ErrorBody, TokenView};
use super::state::Api;
use crate::notices::expiring;

/// The default window: a week.
const DEFAULT_WITHIN: u64 = 7 * 86_400;
/// The longest window: a year.
const MAX_WITHIN: u64 = 366 * 86_400;
/// Audit pages of leak reports read at most per request (of 1000 events each).
const MAX_LEAK_PAGES: usize = 10;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoticeParams {
    /// The window in seconds (default 604800, a week; at most a year): tokens expiring within
    /// it from now, leaks reported within it before now.
    within: Option<u64>,
}

/// The notices of a window.
#[derive(Serialize, ToSchema)]
pub(crate) struct NoticeList {
    /// Live tokens expiring within the window, oldest first.
    expiring: Vec<TokenView>,
    /// `token.leaked` events of the window, oldest first; empty without an audit log.
    leaked: Vec<AuditView>,
}

/// Tokens expiring soon and tokens reported leaked, of the caller's tenant (its organization
/// with the admin scope, else its own tokens).
#[utoipa::path(
    get,
    path = "/notices",
    tag = "tokens",
    params(NoticeParams),
    responses(
        (status = 200, description = "The notices of the window", body = NoticeList),
        (status = 400, description = "A parameter is wrong (named)", body = ErrorBody),
        (status = 403, description = "The read scope missing", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn notices<S: TokenManager + Clone>(
    State(api): State<Arc<Api<S>>>,
    caller: Principal,
    params: Result<Query<NoticeParams>, QueryRejection>,
) -> Response {
    let result: Result<Json<NoticeList>, ApiError> = async {
        if !caller.scopes().grants(&api.scopes.read) {
            return Err(ApiError::Auth(AuthError::insufficient_scope([api.scopes.read.as_str()])));
        }
        let Query(params) = params.map_err(|e| ApiError::Invalid(e.body_text()))?;
        let within = params.within.unwrap_or(DEFAULT_WITHIN);
        if within > MAX_WITHIN {
            return Err(ApiError::Invalid(format!("invalid `within`: at most {MAX_WITHIN} seconds")));
        }
        let window = Duration::from_secs(within);
        let rules = api.store.rules();
        let query = TokenQuery::new().within(rules, caller.grant());
        let now = api.store.clock().now();
        let expiring = expiring(&api.store, query, window).await?;
        let mut leaked = Vec::new();
        if let Some(log) = &api.audit {
            let since = now.checked_sub(window).unwrap_or(std::time::UNIX_EPOCH);
            let mut query =
                AuditQuery::new().kind(AuditKind::Leaked).limit(1000).within(rules, caller.grant());
            for _ in 0..MAX_LEAK_PAGES {
                let page = log.page(query.clone()).await.map_err(|_| ApiError::Unavailable)?;
                leaked.extend(page.items.iter().filter(|r| r.event.at >= since).map(AuditView::of));
                match page.next {
                    Some(next) => query = query.after(next),
                    None => break,
                }
            }
        }
        Ok(Json(NoticeList {
            expiring: expiring.iter().map(|notice| TokenView::of(&notice.token, now)).collect(),
            leaked,
        }))
    }
    .await;
    result.into_response()
}
