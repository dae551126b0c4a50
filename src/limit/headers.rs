//! The headers of a rate-limited answer: `Retry-After` (RFC 9110 §10.2.3) and the IETF
//! `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers).

use std::time::Duration;

#[cfg(feature = "rate-limit")]
use http::HeaderMap;
use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue};

#[cfg(feature = "rate-limit")]
use crate::grant::RateLimit;

#[cfg(feature = "rate-limit")]
/// `RateLimit-Policy`: the shape of the limit, `"<name>";q=<requests>;w=<seconds>`.
pub(crate) static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
#[cfg(feature = "rate-limit")]
/// `RateLimit`: where the client stands, `"<name>";r=<remaining>;t=<seconds>`.
pub(crate) static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Whole seconds, rounded up: a client told to wait 0 s after a refusal would retry at once.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(feature = "rate-limit")]
/// The `RateLimit-Policy` and `RateLimit` fields of `limit` (policy `name`) with `remaining`
/// requests left and the quota whole again in `reset`.
pub(crate) fn rate_limit_fields(name: &str, limit: RateLimit, remaining: u32, reset: Duration) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(3);
    // A window is whole seconds: a sub-second period is shown as one second.
    let window = ceil_secs(limit.period()).max(1);
    let policy = format!("\"{name}\";q={};w={window}", limit.requests());
    let state = format!("\"{name}\";r={remaining};t={}", ceil_secs(reset));
    // Both are ASCII built from a fixed name and numbers.
    if let (Ok(policy), Ok(state)) = (HeaderValue::from_str(&policy), HeaderValue::from_str(&state)) {
        headers.insert(RATELIMIT_POLICY.clone(), policy);
        headers.insert(RATELIMIT.clone(), state);
    }
    headers
}

/// `Retry-After` in whole seconds, at least one.
pub(crate) fn retry_after(wait: Duration) -> (HeaderName, HeaderValue) {
    (RETRY_AFTER, HeaderValue::from(ceil_secs(wait).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "rate-limit")]
    #[test]
    fn fields_in_the_drafts_syntax() {
        let limit = RateLimit::new(100, Duration::from_secs(10)).unwrap();
        let h = rate_limit_fields("token", limit, 7, Duration::from_millis(9_300));
        assert_eq!(h["ratelimit-policy"], "\"token\";q=100;w=10");
        assert_eq!(h["ratelimit"], "\"token\";r=7;t=10");
        let fast = RateLimit::new(5, Duration::from_millis(500)).unwrap();
        assert_eq!(rate_limit_fields("t", fast, 0, Duration::ZERO)["ratelimit-policy"], "\"t\";q=5;w=1");
        assert_eq!(retry_after(Duration::from_millis(1)).1, "1");
        assert_eq!(retry_after(Duration::from_millis(2_001)).1, "3");
    }
}
