//! [`UsageLog`]: where usage counts are added up; [`UsageQuery`]: which counts a read sums.

use std::future::Future;
use std::time::SystemTime;

use super::count::{Granularity, UsageCount};
use crate::grant::{Grant, MintRules};
use crate::manage::query::{TenantFilter, narrow};
use crate::store::error::StoreError;
use crate::token::id::TokenId;

/// Which usage counts a read returns: the buckets of one [`Granularity`] from `from`
/// (inclusive) to `to` (exclusive), filtered (all must match), each bucket, token and outcome
/// summed over every instance that added to it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsageQuery {
    /// The buckets' width.
    pub granularity: Granularity,
    /// The first bucket (rounded down to its start).
    pub from: SystemTime,
    /// The end, exclusive.
    pub to: SystemTime,
    /// Only this token's counts.
    pub token_id: Option<TokenId>,
    /// Only the counts of this subject's tokens.
    pub subject: Option<String>,
    /// Only the counts of this tenant's tokens (counts of unknown tokens belong to no tenant:
    /// only [`TenantFilter::Any`] returns them).
    pub organization: TenantFilter,
}

impl UsageQuery {
    /// Every count of `granularity` from `from` to `to`.
    #[must_use]
    pub fn new(granularity: Granularity, from: SystemTime, to: SystemTime) -> Self {
        UsageQuery {
            granularity,
            from: granularity.bucket(from),
            to,
            token_id: None,
            subject: None,
            organization: TenantFilter::Any,
        }
    }

    /// Only token `id`'s counts.
    #[must_use]
    pub fn token_id(mut self, id: TokenId) -> Self {
        self.token_id = Some(id);
        self
    }

    /// Only the counts of `subject`'s tokens.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Only the counts of `organization`'s tokens.
    #[must_use]
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = TenantFilter::Organization(organization.into());
        self
    }

    /// This query narrowed to what `actor` may see under `rules`, as for tokens and the audit
    /// log: its own tenant exactly, and its own subject's tokens unless it holds the admin
    /// scope. Unknown tokens' counts are then never returned.
    #[must_use]
    pub fn within(mut self, rules: &MintRules, actor: &Grant) -> Self {
        narrow(rules.visibility(actor), &mut self.organization, &mut self.subject);
        self
    }

    /// Whether `count` is one this query returns (its granularity, range and filters).
    #[must_use]
    pub fn admits(&self, count: &UsageCount) -> bool {
        let tenant_ok = match (&self.organization, &count.token_id) {
            (TenantFilter::Any, _) => true,
            (_, None) => false,
            (filter, Some(_)) => filter.admits(count.organization.as_deref()),
        };
        count.granularity == self.granularity
            && count.bucket >= self.from
            && count.bucket < self.to
            && tenant_ok
            && self.token_id.as_ref().is_none_or(|id| count.token_id.as_ref() == Some(id))
            && self.subject.as_deref().is_none_or(|s| count.subject.as_deref() == Some(s))
    }
}

/// Where usage counts are added up: the [`MemoryTokenStore`](crate::MemoryTokenStore), or a table
/// of counters in the SQL store's database that every instance adds to. Counts reach it in
/// batches, off the request path (`tower-bearer-manage`'s usage counter).
pub trait UsageLog: Send + Sync + 'static {
    /// Adds `counts` to the counters of their token, outcome and bucket (creating those that
    /// do not exist): counts from several instances add up. All or none are added.
    fn add_usage(&self, counts: Vec<UsageCount>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The counts `query` selects, one per bucket, token and outcome, ordered by bucket, then
    /// token id (unknown tokens first), then outcome.
    fn usage(&self, query: &UsageQuery) -> impl Future<Output = Result<Vec<UsageCount>, StoreError>> + Send;

    /// Drops the counts of `granularity` whose bucket started before `before` (retention, per
    /// granularity). Returns how many counters were dropped.
    fn purge_usage(
        &self,
        granularity: Granularity,
        before: SystemTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
