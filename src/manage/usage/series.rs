//! [`UsageSeries`]: a read's counts laid out for a chart, every bucket present;
//! [`OutcomeCounts`]: how many requests had each outcome.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::count::{Granularity, UsageCount};
use super::log::UsageQuery;
use super::outcome::UsageOutcome;
use crate::token::id::TokenId;

/// How many requests had each [`UsageOutcome`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts([u64; UsageOutcome::ALL.len()]);

impl OutcomeCounts {
    fn slot(outcome: UsageOutcome) -> usize {
        UsageOutcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0)
    }

    /// The requests that had `outcome`.
    #[must_use]
    pub fn get(&self, outcome: UsageOutcome) -> u64 {
        self.0[Self::slot(outcome)]
    }

    /// Adds `n` requests that had `outcome`.
    pub fn add(&mut self, outcome: UsageOutcome, n: u64) {
        let slot = &mut self.0[Self::slot(outcome)];
        *slot = slot.saturating_add(n);
    }

    /// Every request, whatever its outcome.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// The requests refused, for whatever reason (every outcome but
    /// [`Admitted`](UsageOutcome::Admitted)).
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.total() - self.get(UsageOutcome::Admitted)
    }

    /// Each outcome and its count, in the order of [`UsageOutcome::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (UsageOutcome, u64)> + '_ {
        UsageOutcome::ALL.into_iter().zip(self.0.iter().copied())
    }

    fn merge(&mut self, other: &OutcomeCounts) {
        for (outcome, n) in other.iter() {
            self.add(outcome, n);
        }
    }
}

/// The counts of one [`UsageQuery`]'s range, one entry per bucket from its first to its end,
/// buckets with no requests included (zero), so that a chart or a table needs no logic for
/// gaps.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_bearer::manage::usage::{Granularity, UsageCount, UsageOutcome, UsageQuery, UsageSeries};
///
/// let day = |n: u64| UNIX_EPOCH + Duration::from_secs(86_400 * n);
/// let query = UsageQuery::new(Granularity::Day, day(10), day(13));
/// let count = UsageCount {
///     token_id: Some("tid_1".into()), organization: None, subject: Some("ada".into()),
///     outcome: UsageOutcome::Admitted, granularity: Granularity::Day, bucket: day(11), count: 7,
/// };
/// let series = UsageSeries::of(&query, [&count]).expect("3 buckets is within the bound");
/// let admitted: Vec<u64> = series.buckets().iter().map(|(_, c)| c.get(UsageOutcome::Admitted)).collect();
/// assert_eq!(admitted, [0, 7, 0]);
/// assert_eq!(series.totals().total(), 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSeries {
    granularity: Granularity,
    buckets: Vec<(SystemTime, OutcomeCounts)>,
}

impl UsageSeries {
    /// The most buckets a series holds: a query spanning more has no series (a year of
    /// hours, not a year of minutes).
    pub const MAX_BUCKETS: usize = 10_000;

    /// A series of zeros over `query`'s range; `None` if it spans more than
    /// [`MAX_BUCKETS`](Self::MAX_BUCKETS).
    #[must_use]
    pub fn empty(query: &UsageQuery) -> Option<Self> {
        let secs = |at: SystemTime| at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let width = query.granularity.width().as_secs();
        let (from, to) = (secs(query.from), secs(query.to));
        let n = to.saturating_sub(from).div_ceil(width);
        if n > Self::MAX_BUCKETS as u64 {
            return None;
        }
        let buckets = (0..n)
            .map(|i| (UNIX_EPOCH + Duration::from_secs(from + i * width), OutcomeCounts::default()))
            .collect();
        Some(UsageSeries { granularity: query.granularity, buckets })
    }

    /// The series of `counts` (every token's added together) over `query`'s range; `None` as
    /// for [`empty`](Self::empty).
    #[must_use]
    pub fn of<'a>(query: &UsageQuery, counts: impl IntoIterator<Item = &'a UsageCount>) -> Option<Self> {
        let mut series = Self::empty(query)?;
        for count in counts {
            series.add(count);
        }
        Some(series)
    }

    /// One series per token (unknown tokens under `None`), in token id order, over `query`'s
    /// range; `None` as for [`empty`](Self::empty).
    #[must_use]
    pub fn by_token<'a>(
        query: &UsageQuery,
        counts: impl IntoIterator<Item = &'a UsageCount>,
    ) -> Option<BTreeMap<Option<TokenId>, UsageSeries>> {
        let empty = Self::empty(query)?;
        let mut tokens: BTreeMap<Option<TokenId>, UsageSeries> = BTreeMap::new();
        for count in counts {
            tokens.entry(count.token_id.clone()).or_insert_with(|| empty.clone()).add(count);
        }
        Some(tokens)
    }

    /// Adds `count` to its bucket; a count of another granularity or outside the range is
    /// not this series' and is left out.
    pub fn add(&mut self, count: &UsageCount) {
        if count.granularity != self.granularity {
            return;
        }
        let bucket = self.granularity.bucket(count.bucket);
        if let Ok(i) = self.buckets.binary_search_by(|(start, _)| start.cmp(&bucket)) {
            self.buckets[i].1.add(count.outcome, count.count);
        }
    }

    /// The buckets' width.
    #[must_use]
    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// Every bucket's start and counts, oldest first.
    #[must_use]
    pub fn buckets(&self) -> &[(SystemTime, OutcomeCounts)] {
        &self.buckets
    }

    /// The counts of the whole range.
    #[must_use]
    pub fn totals(&self) -> OutcomeCounts {
        let mut totals = OutcomeCounts::default();
        for (_, counts) in &self.buckets {
            totals.merge(counts);
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(n: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(3_600 * n)
    }

    fn count(token: &str, outcome: UsageOutcome, at: SystemTime, n: u64) -> UsageCount {
        UsageCount {
            token_id: Some(token.into()),
            organization: None,
            subject: None,
            outcome,
            granularity: Granularity::Hour,
            bucket: at,
            count: n,
        }
    }

    #[test]
    fn every_bucket_is_there_and_counts_land_in_theirs() {
        let query = UsageQuery::new(Granularity::Hour, hour(5) + Duration::from_secs(90), hour(9));
        let counts = [
            count("a", UsageOutcome::Admitted, hour(5), 2),
            count("b", UsageOutcome::Admitted, hour(5), 3),
            count("a", UsageOutcome::RateLimited, hour(8), 4),
            count("a", UsageOutcome::Admitted, hour(9), 100), // past the end
        ];
        let series = UsageSeries::of(&query, &counts).unwrap();
        let starts: Vec<_> = series.buckets().iter().map(|(at, _)| *at).collect();
        assert_eq!(starts, [hour(5), hour(6), hour(7), hour(8)]);
        assert_eq!(series.buckets()[0].1.get(UsageOutcome::Admitted), 5);
        assert_eq!(series.buckets()[3].1.refused(), 4);
        assert_eq!(series.totals().total(), 9);
        let by_token = UsageSeries::by_token(&query, &counts).unwrap();
        assert_eq!(by_token[&Some("a".into())].totals().total(), 6);
        assert_eq!(by_token[&Some("b".into())].totals().get(UsageOutcome::Admitted), 3);
    }

    #[test]
    fn a_range_too_long_has_no_series_and_a_reversed_one_is_empty() {
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        assert!(UsageSeries::empty(&UsageQuery::new(Granularity::Minute, UNIX_EPOCH, far)).is_none());
        let reversed = UsageQuery::new(Granularity::Day, hour(100), hour(1));
        assert!(UsageSeries::empty(&reversed).unwrap().buckets().is_empty());
    }
}
