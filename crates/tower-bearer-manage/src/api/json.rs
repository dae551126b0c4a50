//! What the API shows of tokens and audit events: metadata only, never a secret except the
//! one just issued. Typed, so that the OpenAPI document describes exactly what is sent.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tower_bearer::manage::audit::AuditRecord;
use tower_bearer::{IssuedToken, TokenInfo};
use utoipa::ToSchema;

use super::limits::{CreditsView, RateLimitView};

pub(crate) fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A token's metadata (never its secret).
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenView {
    /// The token's public id.
    id: String,
    name: Option<String>,
    kind: Option<String>,
    subject: String,
    organization: Option<String>,
    scopes: Vec<String>,
    /// A non-secret reminder of the token, such as `tok_live_…a1B2`.
    hint: Option<String>,
    /// Unix seconds.
    created_at: u64,
    /// Unix seconds, to the store's usage interval.
    last_used_at: Option<u64>,
    /// Unix seconds; absent: never expires.
    expires_at: Option<u64>,
    /// Whether it has expired (it is listed until purged).
    expired: bool,
    /// The token that replaced it, during a rotation's grace period.
    replaced_by: Option<String>,
    /// The resources it is meant for (RFC 8707); empty: not restricted.
    audience: Vec<String>,
    /// Its own rate limit (a kind's default, applied by the application, is not shown).
    rate_limit: Option<RateLimitView>,
    /// Its credits plan and balance.
    credits: Option<CreditsView>,
}

impl TokenView {
    pub(crate) fn of(info: &TokenInfo, now: SystemTime) -> Self {
        let p = &info.principal;
        TokenView {
            id: info.id.as_str().to_owned(),
            name: p.token_name().map(str::to_owned),
            kind: p.token_kind().map(str::to_owned),
            subject: p.subject().to_owned(),
            organization: p.organization().map(str::to_owned),
            scopes: p.scopes().iter().map(str::to_owned).collect(),
            hint: info.hint.clone(),
            created_at: unix_secs(info.created_at),
            last_used_at: info.last_used_at.map(unix_secs),
            expires_at: p.expires_at().map(unix_secs),
            expired: info.is_expired_at(now),
            replaced_by: p.replaced_by().map(|id| id.as_str().to_owned()),
            audience: p.grant().audience().map(str::to_owned).collect(),
            rate_limit: p.rate_limit().map(RateLimitView::of),
            credits: p.credits().map(|plan| CreditsView::of(plan, info.credits, now)),
        }
    }
}

/// A token just issued: its metadata and, this once, its secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssuedView {
    #[serde(flatten)]
    metadata: TokenView,
    /// The secret: shown in this response only, never again.
    token: String,
}

impl IssuedView {
    pub(crate) fn of(issued: IssuedToken, now: SystemTime) -> Self {
        let (secret, info) = issued.into_parts();
        IssuedView { metadata: TokenView::of(&info, now), token: secret.expose_secret().to_owned() }
    }
}

/// A page of tokens.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenList {
    pub(crate) tokens: Vec<TokenView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// An audit event.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditView {
    /// The event's position in the log.
    seq: u64,
    /// Unix seconds.
    at: u64,
    /// `token.issued`, `token.rotated`, `token.revoked`, `token.deleted`, `token.purged`,
    /// `token.leaked`, `request.authenticated` or `request.rejected`.
    event: String,
    token_id: Option<String>,
    subject: Option<String>,
    organization: Option<String>,
    method: Option<String>,
    path: Option<String>,
    /// The status of a rejected request.
    status: Option<u16>,
    /// The reason code of a rejection, or a detail of a lifecycle event.
    reason: Option<String>,
}

impl AuditView {
    pub(crate) fn of(record: &AuditRecord) -> Self {
        let e = &record.event;
        AuditView {
            seq: record.seq,
            at: unix_secs(e.at),
            event: e.kind.as_str().to_owned(),
            token_id: e.token_id.as_ref().map(|id| id.as_str().to_owned()),
            subject: e.subject.clone(),
            organization: e.organization.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            reason: e.reason.clone(),
        }
    }
}

/// A page of audit events.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditList {
    pub(crate) events: Vec<AuditView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub(crate) next_cursor: Option<u64>,
}

/// An error: an OAuth-style code and a description naming what is wrong.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: String,
    error_description: String,
}
