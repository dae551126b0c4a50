//! The usage routes: one token's counts over time, and its organization's for admins.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tower_bearer::manage::usage::{Granularity, OutcomeCounts, UsageCount, UsageQuery, UsageSeries};
use tower_bearer::{AuthError, Principal, TokenId, TokenManager};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::handlers::{ApiState, query_params, require};
use super::json::{ErrorBody, unix_secs};
use super::state::Api;

/// How many buckets a read spans when `from` is not given.
const DEFAULT_BUCKETS: u32 = 30;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageParams {
    /// Unix seconds, rounded down to its bucket's start (default: 30 buckets before `to`).
    from: Option<u64>,
    /// Unix seconds, exclusive (default: the end of the current bucket).
    to: Option<u64>,
    /// `minute`, `hour` or `day` (default `day`). At most 10000 buckets in all.
    granularity: Option<String>,
}

impl UsageParams {
    /// The query these parameters ask for, at `now`.
    fn query(&self, now: SystemTime) -> Result<UsageQuery, ApiError> {
        let granularity = match self.granularity.as_deref() {
            None => Granularity::Day,
            Some(name) => Granularity::from_name(name).ok_or_else(|| {
                ApiError::Invalid(format!("invalid `granularity`: {name:?} is not `minute`, `hour` or `day`"))
            })?,
        };
        let at = |secs: u64, name: &str| {
            UNIX_EPOCH
                .checked_add(Duration::from_secs(secs))
                .ok_or_else(|| ApiError::Invalid(format!("invalid `{name}`: out of range")))
        };
        let to = match self.to {
            Some(secs) => at(secs, "to")?,
            None => granularity.bucket(now) + granularity.width(),
        };
        let from = match self.from {
            Some(secs) => at(secs, "from")?,
            None => to.checked_sub(granularity.width() * DEFAULT_BUCKETS).unwrap_or(UNIX_EPOCH),
        };
        if from >= to {
            return Err(ApiError::Invalid("invalid range: `from` must be before `to`".into()));
        }
        Ok(UsageQuery::new(granularity, from, to))
    }
}

/// Requests per outcome: `admitted`, `expired`, `revoked`, `unknown`, `insufficient_scope`,
/// `denied`, `rate_limited`, `no_credits`, `store_failure`, each present (zero included).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"admitted": 12, "expired": 0, "revoked": 0, "unknown": 0, "insufficient_scope": 1, "denied": 0, "rate_limited": 3, "no_credits": 0, "store_failure": 0}))]
#[schema(value_type = BTreeMap<String, u64>)]
#[serde(transparent)]
pub(crate) struct OutcomesView(BTreeMap<&'static str, u64>);

impl OutcomesView {
    fn of(counts: &OutcomeCounts) -> Self {
        OutcomesView(counts.iter().map(|(outcome, n)| (outcome.as_str(), n)).collect())
    }
}

/// One bucket of a series.
#[derive(Serialize, ToSchema)]
pub(crate) struct BucketView {
    /// Unix seconds: the bucket's start.
    start: u64,
    /// Its requests, per outcome.
    counts: OutcomesView,
    /// Its requests, whatever their outcome.
    total: u64,
}

/// A series over the range asked for: every bucket, oldest first, zero-filled.
#[derive(Serialize, ToSchema)]
pub(crate) struct SeriesView {
    /// `minute`, `hour` or `day`.
    granularity: &'static str,
    /// Unix seconds: the first bucket's start.
    from: u64,
    /// Unix seconds, exclusive.
    to: u64,
    /// The whole range's requests, per outcome.
    totals: OutcomesView,
    buckets: Vec<BucketView>,
}

impl SeriesView {
    fn of(query: &UsageQuery, series: &UsageSeries) -> Self {
        SeriesView {
            granularity: series.granularity().as_str(),
            from: unix_secs(query.from),
            to: unix_secs(query.to),
            totals: OutcomesView::of(&series.totals()),
            buckets: series
                .buckets()
                .iter()
                .map(|(start, counts)| BucketView {
                    start: unix_secs(*start),
                    counts: OutcomesView::of(counts),
                    total: counts.total(),
                })
                .collect(),
        }
    }
}

/// One token's usage.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenUsage {
    /// The token's id.
    token_id: String,
    #[serde(flatten)]
    series: SeriesView,
}

/// One token's totals in a summary.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenTotals {
    /// The token's id; `null` for requests with a token the store did not know.
    token_id: Option<String>,
    /// Its requests over the range, per outcome.
    totals: OutcomesView,
    /// Its requests over the range, whatever their outcome.
    total: u64,
}

/// The organization's usage: per bucket (every token's added up) and per token.
#[derive(Serialize, ToSchema)]
pub(crate) struct UsageSummary {
    #[serde(flatten)]
    series: SeriesView,
    /// Each token that had requests in the range, by token id.
    tokens: Vec<TokenTotals>,
}

/// The counts of `query` that `caller` may see, and their series over its whole range.
async fn read<S: TokenManager>(
    api: &Api<S>,
    query: &UsageQuery,
    caller: &Principal,
) -> Result<(UsageSeries, Vec<UsageCount>), ApiError> {
    let Some(log) = &api.usage else { return Err(ApiError::NotFound) };
    let mut series = UsageSeries::empty(query).ok_or_else(|| {
        ApiError::Invalid(format!(
            "invalid range: more than {} buckets; choose a coarser `granularity` or a shorter range",
            UsageSeries::MAX_BUCKETS
        ))
    })?;
    let within = query.clone().within(api.store.rules(), caller.grant());
    let counts = log.counts(within).await.map_err(|_| ApiError::Unavailable)?;
    for count in &counts {
        series.add(count);
    }
    Ok((series, counts))
}

/// One token's requests over time, per outcome, every bucket of the range present.
#[utoipa::path(
    get,
    path = "/tokens/{id}/usage",
    tag = "usage",
    params(("id" = String, Path, description = "The token's id"), UsageParams),
    responses(
        (status = 200, description = "The token's usage", body = TokenUsage),
        (status = 400, description = "A parameter is wrong, or the range too long (named)", body = ErrorBody),
        (status = 403, description = "`tokens:read` missing", body = ErrorBody),
        (status = 404, description = "No such token of the caller's tenant", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn token_usage<S: TokenManager + Clone>(
    State(api): ApiState<S>,
    caller: Principal,
    Path(id): Path<String>,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Response {
    let result: Result<Json<TokenUsage>, ApiError> = async {
        require(&caller, &api.scopes.read)?;
        let params = query_params(params)?;
        let id = TokenId::from(id.as_str());
        // The token's usage is shown to whoever may see the token, and is 404 as it is.
        api.store.get_as(&caller, &id).await?.ok_or(ApiError::NotFound)?;
        let query = params.query(api.store.clock().now())?.token_id(id.clone());
        let (series, _) = read(&api, &query, &caller).await?;
        Ok(Json(TokenUsage { token_id: id.as_str().to_owned(), series: SeriesView::of(&query, &series) }))
    }
    .await;
    result.into_response()
}

/// The usage of the caller's organization (admins): per bucket, every token added up, and
/// per token over the range.
#[utoipa::path(
    get,
    path = "/usage",
    tag = "usage",
    params(UsageParams),
    responses(
        (status = 200, description = "The organization's usage", body = UsageSummary),
        (status = 400, description = "A parameter is wrong, or the range too long (named)", body = ErrorBody),
        (status = 403, description = "`tokens:read` or the admin scope missing", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn summary<S: TokenManager + Clone>(
    State(api): ApiState<S>,
    caller: Principal,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Response {
    let result: Result<Json<UsageSummary>, ApiError> = async {
        require(&caller, &api.scopes.read)?;
        let rules = api.store.rules();
        if !rules.is_admin(caller.grant()) {
            return Err(ApiError::Auth(AuthError::insufficient_scope([rules.admin_scope()])));
        }
        let params = query_params(params)?;
        let query = params.query(api.store.clock().now())?;
        let (series, counts) = read(&api, &query, &caller).await?;
        let mut tokens: BTreeMap<Option<&TokenId>, OutcomeCounts> = BTreeMap::new();
        for count in &counts {
            tokens.entry(count.token_id.as_ref()).or_default().add(count.outcome, count.count);
        }
        let tokens = tokens
            .into_iter()
            .map(|(id, totals)| TokenTotals {
                token_id: id.map(|id| id.as_str().to_owned()),
                totals: OutcomesView::of(&totals),
                total: totals.total(),
            })
            .collect();
        Ok(Json(UsageSummary { series: SeriesView::of(&query, &series), tokens }))
    }
    .await;
    result.into_response()
}
