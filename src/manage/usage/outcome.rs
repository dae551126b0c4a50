//! [`UsageOutcome`]: what usage analytics count a request as, defined once from the layer's
//! outcome.

use std::fmt;

use crate::outcome::error::{AuthError, InvalidToken, Throttle};
use crate::outcome::event::{AuthEvent, Outcome};

/// How the layer answered one request, as usage analytics count it: a few kinds an operator
/// asks about ("which keys were refused this week, and why?"), not every reason
/// ([`AuthError::reason`] has those).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum UsageOutcome {
    /// Admitted, and not refused behind the layer.
    Admitted,
    /// The token had expired.
    Expired,
    /// The token was revoked (counted for that token).
    Revoked,
    /// The store did not know the token, or it was malformed: counted without a token, and
    /// without what was presented.
    Unknown,
    /// A required scope was missing.
    InsufficientScope,
    /// A check of the request refused it (a predicate, a handler, the audience, a key
    /// binding).
    Denied,
    /// Over its rate limit.
    RateLimited,
    /// Out of credits.
    NoCredits,
    /// The store failed or timed out (503).
    StoreFailure,
}

impl UsageOutcome {
    /// Every outcome, in a fixed order (the order of columns in a report).
    pub const ALL: [UsageOutcome; 9] = [
        UsageOutcome::Admitted,
        UsageOutcome::Expired,
        UsageOutcome::Revoked,
        UsageOutcome::Unknown,
        UsageOutcome::InsufficientScope,
        UsageOutcome::Denied,
        UsageOutcome::RateLimited,
        UsageOutcome::NoCredits,
        UsageOutcome::StoreFailure,
    ];

    /// The outcome of `event`; `None` for a request that presented no token at all (nothing
    /// to count it against) or a malformed request.
    #[must_use]
    pub fn of(event: &AuthEvent<'_>) -> Option<Self> {
        match event.outcome {
            Outcome::Authenticated(_) => Some(UsageOutcome::Admitted),
            Outcome::Rejected { error, .. } => Self::of_refusal(error),
        }
    }

    /// The outcome of a request refused with `error`; `None` as for [`of`](Self::of).
    pub(crate) fn of_refusal(error: &AuthError) -> Option<Self> {
        Some(match error {
            AuthError::MissingCredentials | AuthError::InvalidRequest(_) => return None,
            AuthError::InvalidToken(InvalidToken::Expired) => UsageOutcome::Expired,
            AuthError::InvalidToken(InvalidToken::Revoked) => UsageOutcome::Revoked,
            AuthError::InvalidToken(
                InvalidToken::Unknown | InvalidToken::Malformed(_) | InvalidToken::BadFormat,
            ) => UsageOutcome::Unknown,
            AuthError::InsufficientScope(_) => UsageOutcome::InsufficientScope,
            AuthError::Throttled(Throttle::RateLimited) => UsageOutcome::RateLimited,
            AuthError::Throttled(Throttle::NoCredits) => UsageOutcome::NoCredits,
            AuthError::StoreUnavailable(_) => UsageOutcome::StoreFailure,
            // The rest refuse a token the store vouched for, for something about this request:
            // the audience, a predicate, a handler, a key binding or its proof.
            _ => UsageOutcome::Denied,
        })
    }

    /// The stable name: `admitted`, `expired`, `revoked`, `unknown`, `insufficient_scope`,
    /// `denied`, `rate_limited`, `no_credits`, `store_failure` (the column of the SQL table,
    /// the key of the management API's answers).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            UsageOutcome::Admitted => "admitted",
            UsageOutcome::Expired => "expired",
            UsageOutcome::Revoked => "revoked",
            UsageOutcome::Unknown => "unknown",
            UsageOutcome::InsufficientScope => "insufficient_scope",
            UsageOutcome::Denied => "denied",
            UsageOutcome::RateLimited => "rate_limited",
            UsageOutcome::NoCredits => "no_credits",
            UsageOutcome::StoreFailure => "store_failure",
        }
    }

    /// The outcome named `name` ([`as_str`](Self::as_str)).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

impl fmt::Display for UsageOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for outcome in UsageOutcome::ALL {
            assert_eq!(UsageOutcome::from_name(outcome.as_str()), Some(outcome));
        }
        assert_eq!(UsageOutcome::from_name("other"), None);
    }
}
