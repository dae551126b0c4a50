//! What the API shows of tokens (their limits and credits balance too) and audit events:
//! metadata only, never a secret except the one just issued. Typed, so that the OpenAPI
//! document describes exactly what is sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use tower_bearer::limit::CreditBalance;
use tower_bearer::manage::audit::AuditRecord;
use tower_bearer::{Credits, IssuedToken, RateLimit, TokenInfo};
use utoipa::ToSchema;

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
    /// The RFC 7638 thumbprint of the key it is bound to (DPoP, RFC 9449): accepted only with
    /// a proof of that key. Absent: a bearer token.
    dpop_jkt: Option<String>,
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
            dpop_jkt: p.grant().confirmation().map(str::to_owned),
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

/// A duration in seconds: a whole number when it is one, else with a fraction (a limit set
/// in code may have a period such as 0.5 s).
#[derive(Clone, Copy)]
pub(crate) struct Seconds(Duration);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.subsec_nanos() == 0 {
            s.serialize_u64(self.0.as_secs())
        } else {
            s.serialize_f64(self.0.as_secs_f64())
        }
    }
}

/// A token's rate limit.
#[derive(Serialize, ToSchema)]
pub(crate) struct RateLimitView {
    /// Requests per period (also the largest burst).
    requests: u32,
    /// The period, in seconds (whole for limits set through this API).
    #[schema(value_type = f64)]
    period_secs: Seconds,
}

impl RateLimitView {
    pub(crate) fn of(limit: RateLimit) -> Self {
        RateLimitView { requests: limit.requests(), period_secs: Seconds(limit.period()) }
    }
}

/// A token's credits: its plan and what is left of them.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreditsView {
    /// The uses the token started with.
    initial: u64,
    /// The refill, if the credits come back.
    refill: Option<RefillView>,
    /// What is left this period, where the store reports it.
    balance: Option<BalanceView>,
}

/// A refill of credits.
#[derive(Serialize, ToSchema)]
pub(crate) struct RefillView {
    /// The balance each refill sets.
    amount: u64,
    /// The refill period, in seconds.
    #[schema(value_type = f64)]
    every_secs: Seconds,
}

/// What is left of a token's credits in the current period, in three figures that add up to
/// its `allowance`. Requests have used at most `spent + leased` credits this period.
#[derive(Serialize, ToSchema)]
pub(crate) struct BalanceView {
    /// Credits nobody holds: what requests can still spend this period.
    remaining: u64,
    /// Credits instances of a shared store hold in leases they have not accounted for yet
    /// (always 0 on a memory store): neither available to other instances nor known to be
    /// spent; the unspent part comes back when the instance gives its lease back.
    leased: u64,
    /// Credits of this period gone for good (`allowance - remaining - leased`): used by
    /// requests, or in a lease of a rotated predecessor that cannot come back. Absent when the
    /// store does not know the allowance.
    spent: Option<u64>,
    /// What the current period started with: the initial credits, or the refill amount after
    /// a refill.
    allowance: Option<u64>,
    /// Unix seconds: when the next refill sets the balance back to the refill amount.
    next_refill_at: Option<u64>,
}

impl CreditsView {
    /// `plan` with `balance` as of `now` (a refill due since the store last wrote it counts).
    pub(crate) fn of(plan: Credits, balance: Option<CreditBalance>, now: SystemTime) -> Self {
        CreditsView {
            initial: plan.initial(),
            refill: plan.refill().map(|(amount, every)| RefillView { amount, every_secs: Seconds(every) }),
            balance: balance.map(|b| {
                let b = b.as_of(plan, now);
                BalanceView {
                    remaining: b.remaining,
                    leased: b.leased,
                    spent: b.spent(),
                    allowance: b.allowance,
                    next_refill_at: b.next_refill_at.map(unix_secs),
                }
            }),
        }
    }
}
