//! The OpenAPI 3.1 document of the management API, generated from the handlers' and types'
//! annotations (`utoipa`), then fitted to one mounting: where, which scope names, with or
//! without the audit route.

use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::{Modify, OpenApi};

use super::json::{
    AuditList, AuditView, BalanceView, CreditsView, ErrorBody, IssuedView, RateLimitView, RefillView,
    TokenList, TokenView,
};
use super::limits::{CreditsRequest, RateLimitRequest, RefillRequest};
use super::state::ApiScopes;
use super::{handlers, notices, usage};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Token management",
        description = "Issue, list, rotate and revoke API tokens, and read the audit log (tower-bearer-manage)."
    ),
    paths(handlers::create, handlers::list, handlers::show, handlers::revoke, handlers::rotate, handlers::audit, usage::token_usage, usage::summary, notices::notices),
    components(schemas(
        TokenView,
        IssuedView,
        TokenList,
        AuditView,
        AuditList,
        ErrorBody,
        handlers::CreateRequest,
        handlers::RotateRequest,
        RateLimitRequest,
        CreditsRequest,
        RefillRequest,
        RateLimitView,
        CreditsView,
        RefillView,
        BalanceView,
        usage::OutcomesView,
        usage::BucketView,
        usage::SeriesView,
        usage::TokenUsage,
        usage::TokenTotals,
        usage::UsageSummary,
        notices::NoticeList
    )),
    modifiers(&BearerScheme),
    tags((name = "tokens", description = "The caller's tokens, or its organization's with the admin scope"),
         (name = "audit", description = "What happened to the tenant's tokens and requests"),
         (name = "usage", description = "How many requests each token made, and how each was answered, over time"))
)]
struct Document;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document for the API mounted at `base` (a URL or a path such as `/v1`).
pub(crate) fn document(base: &str, scopes: &ApiScopes, admin_scope: &str, audit: bool, usage: bool) -> Value {
    let mut openapi = Document::openapi();
    openapi.servers = Some(vec![Server::new(base)]);
    if !audit {
        openapi.paths.paths.remove("/audit");
    }
    if !usage {
        openapi.paths.paths.remove("/tokens/{id}/usage");
        openapi.paths.paths.remove("/usage");
    }
    openapi.info.description = Some(format!(
        "Issue, list, rotate and revoke API tokens{}{}. Scopes: `{}` to read tokens, `{}` to issue, \
         rotate and revoke them{}; `{}` extends a caller to its whole organization. A caller never \
         sees another tenant's token (404).",
        if audit { ", and read the audit log" } else { "" },
        if usage { ", and see how each token is used" } else { "" },
        scopes.read,
        scopes.write,
        if audit { format!(", `{}` to read the audit log", scopes.audit) } else { String::new() },
        admin_scope,
    ));
    serde_json::to_value(&openapi).unwrap_or(Value::Null)
}
