//! [`Metering`]: the limit columns of a token row (its rate limit, its credits plan and
//! balance), with the conversions to and from the core's types, shared by both backends.

use std::time::Duration;

use sqlx::query::Query;
use tower_bearer::limit::CreditBalance;
use tower_bearer::{Credits, Grant, RateLimit};

use crate::micros::time;

/// The limit columns, in the order [`Metering::read`] and [`bind`] use.
pub(crate) const METERING_COLUMNS: &str = "rate_limit_requests, rate_limit_period_us, credits_initial, \
     credits_refill_amount, credits_refill_every_us, credits_remaining, credits_leased, credits_period_start, \
     credits_allowance";

/// A token's limit columns. Counts are `i64` (SQL `BIGINT`), durations microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Metering {
    pub(crate) rate_limit_requests: Option<i64>,
    pub(crate) rate_limit_period_us: Option<i64>,
    pub(crate) credits_initial: Option<i64>,
    pub(crate) credits_refill_amount: Option<i64>,
    pub(crate) credits_refill_every_us: Option<i64>,
    /// What no instance holds.
    pub(crate) credits_remaining: Option<i64>,
    /// What instances hold in leases they have not returned (part of it spent).
    pub(crate) credits_leased: i64,
    /// The start of the current refill period, microseconds since the epoch.
    pub(crate) credits_period_start: Option<i64>,
    /// What the current refill period started with (`None` where unknown: see the migration
    /// `credits_allowance`).
    pub(crate) credits_allowance: Option<i64>,
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Metering {
    /// The columns of a token issued at `now` with `grant`: its credits start full.
    pub(crate) fn of(grant: &Grant, now: i64) -> Self {
        let limit = grant.rate_limit();
        let credits = grant.credits();
        let refill = credits.and_then(|c| c.refill());
        Metering {
            rate_limit_requests: limit.map(|l| i64::from(l.requests())),
            rate_limit_period_us: limit.map(|l| us(l.period())),
            credits_initial: credits.map(|c| count(c.initial())),
            credits_refill_amount: refill.map(|(amount, _)| count(amount)),
            credits_refill_every_us: refill.map(|(_, every)| us(every)),
            credits_remaining: credits.map(|c| count(c.initial())),
            credits_leased: 0,
            credits_period_start: credits.map(|_| now),
            credits_allowance: credits.map(|c| count(c.initial())),
        }
    }

    /// The columns of a rotated token's successor: the same limits and balance (none of the
    /// predecessor's leases: what instances hold under its id stays with it).
    pub(crate) fn successor(&self) -> Self {
        Metering { credits_leased: 0, ..self.clone() }
    }

    pub(crate) fn rate_limit(&self) -> Option<RateLimit> {
        let requests = u32::try_from(self.rate_limit_requests?).ok()?;
        RateLimit::new(requests, Duration::from_micros(unsigned(self.rate_limit_period_us?)))
    }

    pub(crate) fn credits(&self) -> Option<Credits> {
        let credits = Credits::new(unsigned(self.credits_initial?));
        Some(match (self.credits_refill_amount, self.credits_refill_every_us) {
            (Some(amount), Some(every)) => {
                credits.refilled(unsigned(amount), Duration::from_micros(unsigned(every)))
            }
            _ => credits,
        })
    }

    /// The balance as stored (a refill not yet written shows at the next spend).
    pub(crate) fn balance(&self) -> Option<CreditBalance> {
        let remaining = unsigned(self.credits_remaining?);
        let next_refill = match (self.credits_period_start, self.credits_refill_every_us) {
            (Some(start), Some(every)) => Some(time(start.saturating_add(every))),
            _ => None,
        };
        let balance = CreditBalance::new(remaining, unsigned(self.credits_leased), next_refill);
        Some(match self.credits_allowance {
            Some(allowance) => balance.with_allowance(unsigned(allowance)),
            None => balance,
        })
    }

    /// Reads the columns of [`METERING_COLUMNS`] from `r`.
    pub(crate) fn read<'r, R>(r: &'r R) -> Result<Self, sqlx::Error>
    where
        R: sqlx::Row,
        &'static str: sqlx::ColumnIndex<R>,
        i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Metering {
            rate_limit_requests: r.try_get("rate_limit_requests")?,
            rate_limit_period_us: r.try_get("rate_limit_period_us")?,
            credits_initial: r.try_get("credits_initial")?,
            credits_refill_amount: r.try_get("credits_refill_amount")?,
            credits_refill_every_us: r.try_get("credits_refill_every_us")?,
            credits_remaining: r.try_get("credits_remaining")?,
            credits_leased: r.try_get("credits_leased")?,
            credits_period_start: r.try_get("credits_period_start")?,
            credits_allowance: r.try_get("credits_allowance")?,
        })
    }
}

/// A lease a credit write takes: who holds it, how many credits, and until when
/// (microseconds) unless renewed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hold<'a> {
    pub(crate) holder: &'a str,
    pub(crate) taken: i64,
    pub(crate) until: i64,
}

/// The credit bookkeeping of one token, as a lease reads and writes it: every write is
/// conditional on the values read (compare and set), so two instances never both take the
/// same credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) remaining: i64,
    pub(crate) leased: i64,
    pub(crate) period_start: i64,
}

impl Account {
    /// Reads `credits_remaining`, `credits_leased` and `credits_period_start` from `r`.
    pub(crate) fn read<'r, R>(r: &'r R) -> Result<Self, sqlx::Error>
    where
        R: sqlx::Row,
        &'static str: sqlx::ColumnIndex<R>,
        i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Account {
            remaining: r.try_get("credits_remaining")?,
            leased: r.try_get("credits_leased")?,
            period_start: r.try_get("credits_period_start")?,
        })
    }

    /// Binds a compare-and-set of the bookkeeping to parameters 2 to 7 of `query` (the token
    /// id is the first): the values to write, then the values read.
    pub(crate) fn bind_swap<'q, DB>(
        query: Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
        read: Account,
        write: Account,
    ) -> Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        DB: sqlx::Database,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query
            .bind(write.remaining)
            .bind(write.leased)
            .bind(write.period_start)
            .bind(read.remaining)
            .bind(read.leased)
            .bind(read.period_start)
    }
}

/// Binds the columns of [`METERING_COLUMNS`], in order, to the next parameters of `query`.
pub(crate) fn bind<'q, DB>(
    query: Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    m: &Metering,
) -> Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(m.rate_limit_requests)
        .bind(m.rate_limit_period_us)
        .bind(m.credits_initial)
        .bind(m.credits_refill_amount)
        .bind(m.credits_refill_every_us)
        .bind(m.credits_remaining)
        .bind(m.credits_leased)
        .bind(m.credits_period_start)
        .bind(m.credits_allowance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_round_trip_through_the_columns() {
        let limit = RateLimit::new(100, Duration::from_secs(10)).unwrap();
        let credits = Credits::new(1_000).refilled(500, Duration::from_secs(86_400));
        let g = Grant::new("s").with_rate_limit(limit).with_credits(credits);
        let m = Metering::of(&g, 7);
        assert_eq!((m.rate_limit(), m.credits()), (Some(limit), Some(credits)));
        let balance = m.balance().unwrap();
        assert_eq!((balance.remaining, balance.leased, balance.spent()), (1_000, 0, Some(0)));
        assert_eq!(Metering::of(&Grant::new("s"), 7), Metering::default());
        assert_eq!(Metering { credits_leased: 5, ..m.clone() }.successor(), m);
    }
}
