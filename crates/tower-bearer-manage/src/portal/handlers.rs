//! The portal's routes: the list with the create form, creating (then showing the secret
//! once), revoking after a confirmation, and a token's usage.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode, Uri};
use tower_bearer::manage::usage::{Granularity, UsageQuery, UsageSeries};
use tower_bearer::manage::{PageCursor, TokenQuery};
use tower_bearer::{NewToken, TokenId, TokenInfo, TokenManager};

use super::csrf;
use super::date;
use super::form::{CreateInput, FieldErrors};
use super::paths::Paths;
use super::respond::{PortalError, html, see_other};
use super::state::{CurrentUser, Portal, Shown};
use super::user::PortalUser;
use super::views::{self, ConfirmRevoke, CreateForm, ListPage, UsagePage};

/// Tokens per page of the list.
const PAGE: usize = 50;
/// The expiry the create form suggests, when the host allows it.
const SUGGESTED_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// How many days a usage page shows, today's included.
const USAGE_DAYS: u32 = 30;
/// How long the list says that a token was revoked.
const NOTICE_FOR: Duration = Duration::from_secs(60);
/// The form that creates tokens (what its CSRF tokens are for).
const CREATE: &str = "create";

type PortalState<S> = State<Arc<Portal<S>>>;

/// The form that revokes `id`.
fn revoke_action(id: &TokenId) -> String {
    format!("revoke {}", id.as_str())
}

/// `GET /`: the list (`?after=` a page cursor; `?revoked=` the id just revoked) and the form.
pub(crate) async fn list<S: TokenManager>(
    State(portal): PortalState<S>,
    CurrentUser(user): CurrentUser,
    paths: Paths,
    RawQuery(query): RawQuery,
) -> Result<Response, PortalError> {
    let mut after = None;
    let mut revoked = None;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match &*key {
            "after" => after = value.parse::<PageCursor>().ok(),
            "revoked" => revoked = portal.revoked.take(&TokenId::from(&*value), &user, portal.now()),
            _ => {}
        }
    }
    let now = portal.now();
    let suggested =
        now.checked_add(portal.rules.max_lifetime.unwrap_or(SUGGESTED_LIFETIME).min(SUGGESTED_LIFETIME));
    let input =
        CreateInput { expires: suggested.map(date::day).unwrap_or_default(), ..CreateInput::default() };
    let page = ListOf { user: &user, paths: &paths, after, revoked: revoked.as_ref() };
    list_page(&portal, page, &input, &FieldErrors::default(), StatusCode::OK).await
}

/// What the list shows besides the form.
struct ListOf<'a> {
    user: &'a PortalUser,
    paths: &'a Paths,
    after: Option<PageCursor>,
    revoked: Option<&'a TokenInfo>,
}

async fn list_page<S: TokenManager>(
    portal: &Portal<S>,
    of: ListOf<'_>,
    input: &CreateInput,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<Response, PortalError> {
    let user = of.user;
    // Exactly the user's tenant: a user without an organization sees only tokens without one.
    let mut query =
        TokenQuery::new().subject(user.subject.clone()).tenant(user.organization.as_deref()).limit(PAGE);
    if let Some(after) = of.after {
        query = query.after(after);
    }
    let page = portal.store.list_page(&query).await?;
    let next_page = page.next.as_ref().map(|cursor| of.paths.list_after(cursor));
    let tokens: Vec<_> = page.items.into_iter().filter(|t| portal.manages(user, t)).collect();
    let now = portal.now();
    let list_path = of.paths.list();
    let csrf = portal.csrf_token(user, CREATE);
    let view = ListPage {
        title: &portal.title,
        user,
        paths: of.paths,
        tokens: &tokens,
        next_page,
        revoked: of.revoked,
        usage: portal.usage.is_some(),
        now,
        form: CreateForm { action: &list_path, rules: &portal.rules, input, errors, csrf: &csrf, now },
    };
    Ok(html(status, views::list(&view)))
}

/// `POST /`: creates a token and sends the browser to see its secret once; or shows the form
/// again with what is wrong (422).
pub(crate) async fn create<S: TokenManager>(
    State(portal): PortalState<S>,
    CurrentUser(user): CurrentUser,
    paths: Paths,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PortalError> {
    let input = CreateInput::parse(&body);
    portal.check_post(&uri, &headers, &input.csrf, &user, CREATE)?;
    let now = portal.now();
    let valid = match input.validate(&portal.rules, now) {
        Ok(valid) => valid,
        Err(errors) => {
            let page = ListOf { user: &user, paths: &paths, after: None, revoked: None };
            return list_page(&portal, page, &input, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let mut new = NewToken::for_subject(user.subject.clone())
        .name(valid.name)
        .kind(portal.kind.clone())
        .scopes(valid.scopes);
    if let Some(organization) = &user.organization {
        new = new.organization(organization.clone());
    }
    if let Some(at) = valid.expires_at {
        new = new.expires_at(at);
    }
    if let Some(limit) = valid.rate_limit {
        new = new.rate_limit(limit);
    }
    if let Some(credits) = valid.credits {
        new = new.credits(credits);
    }
    let (secret, info) = portal.store.issue(new).await?.into_parts();
    let id = info.id.clone();
    let until = now.checked_add(portal.show_secret_for).unwrap_or(now);
    portal.secrets.put(id.clone(), &user, Shown { secret, info }, until, now);
    Ok(see_other(&paths.created(&id)))
}

/// `GET /created/{id}`: the new token's secret, to its owner, once, within the time set.
pub(crate) async fn created<S: TokenManager>(
    State(portal): PortalState<S>,
    CurrentUser(user): CurrentUser,
    paths: Paths,
    Path(id): Path<String>,
) -> Response {
    let now = portal.now();
    match portal.secrets.take(&TokenId::from(id), &user, now) {
        Some(shown) => {
            html(StatusCode::OK, views::created(&user, &shown.info, &shown.secret, &paths.list(), now))
        }
        None => html(StatusCode::NOT_FOUND, views::secret_gone(&user, &paths.list())),
    }
}

/// `GET /{id}/revoke`: asks to confirm.
pub(crate) async fn confirm_revoke<S: TokenManager>(
    State(portal): PortalState<S>,
    CurrentUser(user): CurrentUser,
    paths: Paths,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    let id = TokenId::from(id);
    let info = portal.managed(&user, &id).await?;
    let csrf = portal.csrf_token(&user, &revoke_action(&id));
    let view = ConfirmRevoke {
        user: &user,
        info: &info,
        action: &paths.revoke(&id),
        list: &paths.list(),
        csrf: &csrf,
        now: portal.now(),
    };
    Ok(html(StatusCode::OK, views::confirm_revoke(&view)))
}

/// `POST /{id}/revoke`: revokes the user's token and goes back to the list, which says so.
pub(crate) async fn revoke<S: TokenManager>(
    State(portal): PortalState<S>,
    CurrentUser(user): CurrentUser,
    paths: Paths,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PortalError> {
    let id = TokenId::from(id);
    let token =
        form_urlencoded::parse(&body).find(|(k, _)| k == csrf::FIELD).map(|(_, v)| v).unwrap_or_default();
    portal.check_post(&uri, &headers, &token, &user, &revoke_action(&id))?;
    let info = portal.managed(&user, &id).await?;
    if !portal.store.revoke(&id).await? {
        return Err(PortalError::NotFound);
    }
    let now = portal.now();
    portal.revoked.put(id.clone(), &user, info, now.checked_add(NOTICE_FOR).unwrap_or(now), now);
    Ok(see_other(&paths.list_after_revoking(&id)))
}

/// `GET /{id}/usage`: the user's token's last 30 days, per day.
pub(crate) async fn usage<S: TokenManager>(
    State(portal): PortalState<S>,
    CurrentUser(user): CurrentUser,
    paths: Paths,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    let id = TokenId::from(id);
    let Some(log) = &portal.usage else { return Err(PortalError::NotFound) };
    let info = portal.managed(&user, &id).await?;
    let day = Granularity::Day;
    let to = day.bucket(portal.now()) + day.width();
    let from = to.checked_sub(day.width() * USAGE_DAYS).unwrap_or(std::time::UNIX_EPOCH);
    let query = UsageQuery::new(day, from, to).token_id(id);
    let counts = log.counts(query.clone()).await.map_err(|_| PortalError::Unavailable)?;
    let series = UsageSeries::of(&query, &counts).ok_or(PortalError::Unavailable)?;
    let view = UsagePage { user: &user, info: &info, series: &series, list: &paths.list() };
    Ok(html(StatusCode::OK, views::usage(&view)))
}
