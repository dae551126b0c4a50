//! The claims of a signed token: the one place a token's [`Grant`] becomes claims, and claims
//! become a [`Principal`] again.
//!
//! `iss`, `sub` (the subject; `client_id` too, RFC 9068 §2.2), `aud` (the token's audience, or
//! the store's when it has none), `exp`, `iat`, `jti` (the record's id), `scope`, and this
//! crate's own: `organization`, `token_kind`, `token_name`, `rate_limit` (`requests`,
//! `period_ms`) and `credits` (`initial`, and `refill_amount` with `refill_every_s`). A token
//! bound to a key (DPoP) has `cnf` with its thumbprint, `jkt` (RFC 9449 §6.1, RFC 7800); one
//! without `cnf` is a plain bearer token.

mod read;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower_bearer::{Credits, Grant, Principal, RateLimit, Scopes, TokenInfo};

/// The latest `exp` accepted, 9999-12-31T23:59:59Z (seconds since the epoch): the last second
/// RFC 3339 can write, and far inside what a `SystemTime` holds on every platform. A token
/// whose `exp` is later is refused as out of range, and none is issued.
pub(crate) const LATEST: u64 = 253_402_300_799;

/// `aud`: one resource or several (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(untagged)]
pub(crate) enum Audience<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
}

impl Audience<'_> {
    pub(crate) fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Audience::One(aud) => (Some(aud.as_ref()), &[][..]),
            Audience::Many(auds) => (None, &auds[..]),
        };
        one.into_iter().chain(many.iter().map(AsRef::as_ref))
    }
}

/// `rate_limit`: the token's own rate limit.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct RateLimitClaim {
    requests: u32,
    period_ms: u64,
}

/// `credits`: the token's credits plan.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct CreditsClaim {
    initial: u64,
    refill_amount: Option<u64>,
    refill_every_s: Option<u64>,
}

/// `cnf`: the key the token is bound to (RFC 7800 §3.1). This crate binds only by a JWK
/// thumbprint (`jkt`, RFC 9449 §6.1); other confirmation methods are other members.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct ConfirmationClaim<'a> {
    #[serde(borrow)]
    jkt: Option<Cow<'a, str>>,
}

/// The claims this crate reads (others are ignored), borrowed from the decoded payload: no
/// allocation for a string without escapes.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct Claims<'a> {
    #[serde(borrow)]
    pub(crate) iss: Cow<'a, str>,
    #[serde(borrow)]
    sub: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) aud: Audience<'a>,
    pub(crate) exp: u64,
    pub(crate) nbf: Option<u64>,
    #[serde(borrow)]
    jti: Option<Cow<'a, str>>,
    #[serde(borrow)]
    scope: Option<Cow<'a, str>>,
    #[serde(borrow)]
    organization: Option<Cow<'a, str>>,
    #[serde(borrow)]
    token_kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    token_name: Option<Cow<'a, str>>,
    rate_limit: Option<RateLimitClaim>,
    credits: Option<CreditsClaim>,
    #[serde(borrow)]
    cnf: Option<ConfirmationClaim<'a>>,
}

impl<'a> Claims<'a> {
    /// The claims of a verified token's `payload`: read directly when they are in the form
    /// this crate signs (every token it issued), else by `serde_json`; `None` if neither
    /// finds the claims a token needs.
    pub(crate) fn parse(payload: &'a [u8]) -> Option<Self> {
        read::read(payload).or_else(|| serde_json::from_slice(payload).ok())
    }

    /// The principal the claims describe, for a store whose own audience is `audience` (a
    /// token for just that audience is unrestricted, as it was issued), expiring `leeway`
    /// seconds after `exp` (when a verifier allowing that leeway stops accepting it: the
    /// layer checks the expiry again); `None` for claims no token of ours has (an `exp` after
    /// [`LATEST`], a rate limit out of range, a `cnf` without `jkt`).
    pub(crate) fn principal(&self, audience: &str, leeway: u64) -> Option<Principal> {
        if self.exp > LATEST {
            return None;
        }
        let expires = UNIX_EPOCH.checked_add(Duration::from_secs(self.exp.saturating_add(leeway)))?;
        let mut g = Grant::new(self.sub.as_deref().unwrap_or_default()).with_expires_at(expires);
        if let Some(scope) = &self.scope {
            g = g.with_scopes(Scopes::parse(scope));
        }
        if let Some(org) = &self.organization {
            g = g.with_organization(org.as_ref());
        }
        if let Some(kind) = &self.token_kind {
            g = g.with_kind(kind.as_ref());
        }
        if !matches!(&self.aud, Audience::One(aud) if aud == audience) {
            g = g.with_audience(self.aud.iter());
        }
        if let Some(limit) = &self.rate_limit {
            g = g.with_rate_limit(RateLimit::new(limit.requests, Duration::from_millis(limit.period_ms))?);
        }
        if let Some(c) = &self.credits {
            let credits = Credits::new(c.initial);
            g = g.with_credits(match (c.refill_amount, c.refill_every_s) {
                (Some(amount), Some(every)) => credits.refilled(amount, Duration::from_secs(every)),
                (None, None) => credits,
                _ => return None,
            });
        }
        if let Some(cnf) = &self.cnf {
            // A token bound by a method this crate cannot check is refused, not read as a
            // bearer token: whoever copied it could use it.
            g = g.with_confirmation(cnf.jkt.as_deref()?);
        }
        let mut b = Principal::for_grant(g);
        if let Some(jti) = &self.jti {
            b = b.token_id(jti.as_ref());
        }
        if let Some(name) = &self.token_name {
            b = b.token_name(name.as_ref());
        }
        Some(b.build())
    }
}

/// The claims of the token recorded as `info`, issued by `issuer` for a store whose own
/// audience is `audience`; `None` for a token without an expiry (a signed token cannot be
/// revoked by forgetting it: it must expire).
pub(crate) fn claims_of(info: &TokenInfo, issuer: &str, audience: &str) -> Option<Value> {
    let p = &info.principal;
    let g = p.grant();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("sub".into(), json!(g.subject()));
    let restricted: Vec<&str> = g.audience().collect();
    claims.insert("aud".into(), if restricted.is_empty() { json!(audience) } else { json!(restricted) });
    claims.insert("exp".into(), json!(secs(g.expires_at()?)));
    claims.insert("iat".into(), json!(secs(info.created_at)));
    claims.insert("jti".into(), json!(info.id.as_str()));
    claims.insert("client_id".into(), json!(g.subject()));
    claims.insert("scope".into(), json!(g.scopes().to_string()));
    for (name, value) in
        [("organization", g.organization()), ("token_kind", g.kind()), ("token_name", p.token_name())]
    {
        if let Some(value) = value {
            claims.insert(name.into(), json!(value));
        }
    }
    if let Some(limit) = g.rate_limit() {
        let period_ms = u64::try_from(limit.period().as_millis()).unwrap_or(u64::MAX);
        claims.insert("rate_limit".into(), json!({ "requests": limit.requests(), "period_ms": period_ms }));
    }
    if let Some(credits) = g.credits() {
        let mut c = json!({ "initial": credits.initial() });
        if let Some((amount, every)) = credits.refill() {
            c["refill_amount"] = json!(amount);
            c["refill_every_s"] = json!(every.as_secs());
        }
        claims.insert("credits".into(), c);
    }
    if let Some(jkt) = g.confirmation() {
        claims.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    Some(Value::Object(claims))
}

/// Whole seconds since the epoch (0 before it).
fn secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
