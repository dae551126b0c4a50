//! A token's limits as a create request asks for them: the rate limit, the credits plan, the
//! audience and the key it is bound to (checked field by field, each error naming its field),
//! and the answer when the store finds them looser than the caller's own. How the token views show them is the
//! `json` module's.

use std::time::Duration;

use serde::Deserialize;
use tower_bearer::grant::DefaultLimits;
use tower_bearer::{Credits, Grant, ManageError, RateLimit};
use utoipa::ToSchema;

use super::error::ApiError;

/// The longest rate-limit or refill period accepted: a century, as [`RateLimit`] allows.
const MAX_PERIOD_SECS: u64 = 100 * 365 * 24 * 3600;
/// The longest resource indicator accepted in `audience`.
const MAX_RESOURCE: usize = 2048;

fn invalid(field: &str, what: &str) -> ApiError {
    ApiError::Invalid(format!("invalid `{field}`: {what}"))
}

/// A period in whole seconds, from 1 s to a century.
fn period(field: &str, secs: u64) -> Result<Duration, ApiError> {
    if (1..=MAX_PERIOD_SECS).contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(invalid(field, &format!("must be from 1 to {MAX_PERIOD_SECS} seconds (a century)")))
    }
}

/// A rate limit to give a new token: at most `requests` per `period_secs`, replenished
/// evenly (a burst of `requests`, then one more every `period_secs / requests`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitRequest {
    /// Requests per period, at least 1 (also the largest burst).
    #[schema(minimum = 1)]
    requests: u32,
    /// The period, in seconds: 1 to 3153600000 (a century).
    #[schema(minimum = 1, maximum = 3_153_600_000_u64)]
    period_secs: u64,
}

impl RateLimitRequest {
    /// The limit, or a 400 naming the field at fault.
    pub(crate) fn limit(&self) -> Result<RateLimit, ApiError> {
        if self.requests == 0 {
            return Err(invalid("rate_limit.requests", "must be at least 1"));
        }
        let period = period("rate_limit.period_secs", self.period_secs)?;
        RateLimit::new(self.requests, period)
            .ok_or_else(|| invalid("rate_limit", "more than one request per nanosecond"))
    }
}

/// Credits to give a new token: `initial` uses, optionally set back to `refill.amount` every
/// `refill.every_secs` (counted from the token's creation; unused credits do not carry over).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreditsRequest {
    /// The uses the token starts with (0 only with a `refill`).
    initial: u64,
    /// The refill, if the credits come back.
    refill: Option<RefillRequest>,
}

/// A refill of credits.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefillRequest {
    /// The balance each refill sets, at least 1.
    #[schema(minimum = 1)]
    amount: u64,
    /// The refill period, in seconds: 1 to 3153600000 (a century).
    #[schema(minimum = 1, maximum = 3_153_600_000_u64)]
    every_secs: u64,
}

impl CreditsRequest {
    /// The credits plan, or a 400 naming the field at fault.
    pub(crate) fn credits(&self) -> Result<Credits, ApiError> {
        let credits = Credits::new(self.initial);
        match &self.refill {
            Some(refill) => {
                if refill.amount == 0 {
                    return Err(invalid("credits.refill.amount", "must be at least 1"));
                }
                let every = period("credits.refill.every_secs", refill.every_secs)?;
                Ok(credits.refilled(refill.amount, every))
            }
            None if self.initial == 0 => {
                Err(invalid("credits.initial", "must be at least 1 (0 only with a `refill`)"))
            }
            None => Ok(credits),
        }
    }
}

/// Checks the resources a new token is restricted to (RFC 8707 resource indicators).
pub(crate) fn audience(resources: &[String]) -> Result<(), ApiError> {
    for (i, resource) in resources.iter().enumerate() {
        if resource.is_empty()
            || resource.len() > MAX_RESOURCE
            || resource.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                &format!("audience[{i}]"),
                &format!("a resource is 1 to {MAX_RESOURCE} bytes without spaces or control characters"),
            ));
        }
    }
    Ok(())
}

/// Checks the key a new token is bound to (`dpop_jkt`): an RFC 7638 SHA-256 thumbprint is
/// 43 base64url characters without padding. Anything else could never match a proof's key,
/// and would make a token nobody can use.
pub(crate) fn thumbprint(jkt: &str) -> Result<(), ApiError> {
    let digit = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    if jkt.len() == 43 && jkt.bytes().all(digit) {
        Ok(())
    } else {
        Err(invalid(
            "dpop_jkt",
            "must be the RFC 7638 SHA-256 thumbprint of a JWK: 43 base64url characters (A-Z, a-z, 0-9, \
             `-`, `_`), no padding",
        ))
    }
}

/// The answer to a refusal of the store: which field is looser than the caller's own, and what
/// the caller's own is, for a refusal of limits; as usual otherwise.
pub(crate) fn refused(error: ManageError, caller: &Grant, defaults: &DefaultLimits) -> ApiError {
    let ManageError::LooserLimits(field) = error else { return error.into() };
    let own = match field {
        "rate_limit" => defaults.effective(caller).map_or_else(
            || "no limit".to_owned(),
            |l| format!("at most {} requests per {}", l.requests(), seconds_text(l.period())),
        ),
        "credits" => caller.credits().map_or_else(
            || "unlimited".to_owned(),
            |c| match c.refill() {
                Some((amount, every)) => {
                    format!(
                        "at most {} credits, refilled to at most {amount} every {}",
                        c.initial(),
                        seconds_text(every)
                    )
                }
                None => format!("at most {} credits, never refilled", c.initial()),
            },
        ),
        "audience" => format!("a subset of {:?}", caller.audience().collect::<Vec<_>>()),
        "confirmation" => {
            // The store names the grant's attribute; the body names it as RFC 9449 does.
            let own = caller.confirmation().unwrap_or_default();
            let what = format!("looser than the caller's own (bound to the key {own}); give that thumbprint");
            return invalid("dpop_jkt", &what);
        }
        _ => return error.into(),
    };
    invalid(field, &format!("looser than the caller's own ({own}); give one within it"))
}

fn seconds_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 { format!("{} s", d.as_secs()) } else { format!("{} s", d.as_secs_f64()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    fn message(result: Result<(), ApiError>) -> String {
        match result {
            Err(ApiError::Invalid(what)) => what,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_thumbprint_is_43_base64url_characters() {
        assert!(thumbprint(JKT).is_ok());
        assert!(thumbprint(&"_-09azAZ".repeat(6)[..43]).is_ok());
        for bad in
            ["", "short", &JKT[..42], &format!("{JKT}A"), &format!("{}=", &JKT[..42]), &JKT.replace('-', "+")]
        {
            assert!(
                message(thumbprint(bad)).starts_with("invalid `dpop_jkt`: must be the RFC 7638"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_refused_binding_names_the_bodys_field_and_the_callers_key() {
        let caller = Grant::new("ada").with_confirmation(JKT);
        let refused = refused(ManageError::LooserLimits("confirmation"), &caller, &DefaultLimits::none());
        let what = message(Err(refused));
        assert!(what.starts_with("invalid `dpop_jkt`: looser than the caller's own"), "{what}");
        assert!(what.contains(JKT), "{what}");
    }
}
