//! [`LimitBy`], whose requests count together, and [`Limits`], a rate-limit layer's
//! configuration and counts.

use std::sync::Arc;

use http::HeaderMap;

use super::buckets::{Buckets, Decision};
use super::headers::{rate_limit_fields, retry_after};
use crate::grant::{DefaultLimits, RateLimit};
use crate::principal::Principal;

/// What a rate limit decides for one request.
pub(crate) enum Verdict {
    /// Go on, adding these headers to the response (when advertising).
    Pass(Option<Box<HeaderMap>>),
    /// Refuse with 429 and these headers.
    Refuse(HeaderMap),
}

/// Whose requests count together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitBy {
    /// Each token on its own (by token id; by subject for a principal without one). The
    /// default.
    #[default]
    Token,
    /// Every token of one subject together: a customer's keys share one limit.
    Subject,
    /// Every token of one organization together (by subject for a principal without one).
    Organization,
}

impl LimitBy {
    /// The policy name in the `RateLimit` fields.
    fn policy(self) -> &'static str {
        match self {
            LimitBy::Token => "token",
            LimitBy::Subject => "subject",
            LimitBy::Organization => "organization",
        }
    }

    fn key(self, principal: &Principal) -> &str {
        match self {
            LimitBy::Token => principal.token_id().map_or(principal.subject(), |id| id.as_str()),
            LimitBy::Subject => principal.subject(),
            LimitBy::Organization => principal.organization().unwrap_or(principal.subject()),
        }
    }
}

/// The layer's configuration and counts, shared by every service it makes.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) by: LimitBy,
    pub(crate) defaults: DefaultLimits,
    pub(crate) advertise: bool,
    pub(crate) buckets: Arc<Buckets>,
}

impl Limits {
    /// The limit of `principal`'s requests, if they are limited.
    pub(crate) fn limit_for(&self, principal: &Principal) -> Option<RateLimit> {
        self.defaults.effective(principal.grant())
    }

    /// Counts a request of `principal` and decides it.
    pub(crate) fn decide(&self, principal: &Principal) -> Verdict {
        let Some(limit) = self.limit_for(principal) else { return Verdict::Pass(None) };
        match self.buckets.check(self.by.key(principal), limit, self.advertise) {
            Decision::Admitted { remaining, reset } => Verdict::Pass(
                self.advertise
                    .then(|| Box::new(rate_limit_fields(self.by.policy(), limit, remaining, reset))),
            ),
            Decision::Refused { retry_after: wait } => {
                let mut headers = rate_limit_fields(self.by.policy(), limit, 0, wait);
                let (name, value) = retry_after(wait);
                headers.insert(name, value);
                Verdict::Refuse(headers)
            }
        }
    }
}
