//! `usage`: per key, the outcome totals over the last days and a one-line sparkline of its
//! admitted requests per bucket, read from any [`UsageLog`].

use std::time::{Duration, SystemTime};

use serde::Serialize;
use tower_bearer::TokenId;
use tower_bearer::manage::usage::{OutcomeCounts, UsageLog, UsageOutcome, UsageQuery, UsageSeries};

use crate::cli::UsageArgs;
use crate::escape::printable;
use crate::failure::Failure;
use crate::output::Printer;
use crate::timestamp::rfc3339;

/// The sparkline's levels, lowest first: the lowest is a bucket without admitted requests.
const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The range `args` asks for at `now`: the last `days` days up to the end of the current
/// bucket, at their granularity.
pub(crate) fn query(args: &UsageArgs, now: SystemTime) -> UsageQuery {
    let granularity = args.granularity;
    let to = granularity.bucket(now) + granularity.width();
    let from = to
        .checked_sub(Duration::from_secs(args.days.saturating_mul(86_400)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let query = UsageQuery::new(granularity, from, to);
    match &args.token {
        Some(id) => query.token_id(TokenId::from(id.as_str())),
        None => query,
    }
}

/// Each key's series over `query`'s range (the key asked for, with zeros if it had no
/// requests), unknown tokens first.
pub(crate) async fn read(
    log: &impl UsageLog,
    query: &UsageQuery,
) -> Result<Vec<(Option<TokenId>, UsageSeries)>, Failure> {
    let too_long = || {
        Failure::Usage(format!(
            "more than {} buckets: use fewer --days or a coarser --granularity",
            UsageSeries::MAX_BUCKETS
        ))
    };
    let empty = UsageSeries::empty(query).ok_or_else(too_long)?;
    let counts = log.usage(query).await.map_err(Failure::database)?;
    let mut keys = UsageSeries::by_token(query, &counts).ok_or_else(too_long)?;
    if let Some(id) = &query.token_id {
        keys.entry(Some(id.clone())).or_insert(empty);
    }
    Ok(keys.into_iter().collect())
}

/// Prints `usage`'s answer: a table, or one JSON object per key.
pub(crate) async fn usage(
    log: &impl UsageLog,
    args: &UsageArgs,
    out: &mut Printer,
    now: SystemTime,
) -> Result<(), Failure> {
    let query = query(args, now);
    let keys = read(log, &query).await?;
    if out.is_json() {
        for (id, series) in &keys {
            out.json(&KeyJson::of(id.as_ref(), series))?;
        }
    } else if keys.is_empty() {
        out.note(&format!("no requests counted in the last {} days", args.days));
    } else {
        for line in table(&keys) {
            out.line(&line)?;
        }
    }
    Ok(())
}

/// `values` as one character each, scaled to the highest: `▁` for none, `█` for the highest.
pub(crate) fn sparkline(values: impl IntoIterator<Item = u64> + Clone) -> String {
    let max = values.clone().into_iter().max().unwrap_or(0);
    values
        .into_iter()
        .map(|n| {
            if n == 0 || max == 0 {
                LEVELS[0]
            } else {
                // 1 to 7: any request at all rises above the empty level.
                let level = (u128::from(n) * 7).div_ceil(u128::from(max));
                LEVELS[usize::try_from(level).unwrap_or(7).clamp(1, 7)]
            }
        })
        .collect()
}

/// What refused a key's requests, most first: `rate_limited 3, expired 1`, or `-`.
fn refusals(totals: &OutcomeCounts) -> String {
    let mut refused: Vec<(UsageOutcome, u64)> =
        totals.iter().filter(|(o, n)| *o != UsageOutcome::Admitted && *n > 0).collect();
    refused.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    if refused.is_empty() {
        return "-".to_owned();
    }
    refused.iter().map(|(o, n)| format!("{o} {n}")).collect::<Vec<_>>().join(", ")
}

/// The table: one line per key, a header first.
pub(crate) fn table(keys: &[(Option<TokenId>, UsageSeries)]) -> Vec<String> {
    let per = keys.first().map_or("bucket", |(_, s)| s.granularity().as_str());
    let rows: Vec<[String; 5]> = keys
        .iter()
        .map(|(id, series)| {
            let totals = series.totals();
            [
                id.as_ref().map_or_else(|| "(unknown)".to_owned(), |id| printable(id.as_str()).into_owned()),
                totals.total().to_string(),
                totals.get(UsageOutcome::Admitted).to_string(),
                refusals(&totals),
                sparkline(series.buckets().iter().map(|(_, c)| c.get(UsageOutcome::Admitted))),
            ]
        })
        .collect();
    let header = [
        "TOKEN".to_owned(),
        "REQUESTS".into(),
        "ADMITTED".into(),
        "REFUSED".into(),
        format!("ADMITTED PER {}", per.to_uppercase()),
    ];
    let width =
        |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2), width(3)];
    std::iter::once(&header)
        .chain(&rows)
        .map(|r| {
            format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:<w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )
        })
        .collect()
}

/// One key's usage, as `--json` prints it.
#[derive(Serialize)]
struct KeyJson {
    token_id: Option<String>,
    granularity: &'static str,
    totals: OutcomesJson,
    buckets: Vec<BucketJson>,
}

#[derive(Serialize)]
struct BucketJson {
    start: String,
    counts: OutcomesJson,
}

/// Every outcome's count, by its name.
#[derive(Serialize)]
#[serde(transparent)]
struct OutcomesJson(std::collections::BTreeMap<&'static str, u64>);

impl OutcomesJson {
    fn of(counts: &OutcomeCounts) -> Self {
        OutcomesJson(counts.iter().map(|(o, n)| (o.as_str(), n)).collect())
    }
}

impl KeyJson {
    fn of(id: Option<&TokenId>, series: &UsageSeries) -> Self {
        KeyJson {
            token_id: id.map(|id| id.as_str().to_owned()),
            granularity: series.granularity().as_str(),
            totals: OutcomesJson::of(&series.totals()),
            buckets: series
                .buckets()
                .iter()
                .map(|(start, counts)| BucketJson {
                    start: rfc3339(*start),
                    counts: OutcomesJson::of(counts),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tower_bearer::MemoryTokenStore;
    use tower_bearer::manage::usage::{Granularity, UsageCount};

    use super::*;

    const DAY: u64 = 86_400;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn count(token: Option<&str>, outcome: UsageOutcome, days_ago: u64, n: u64) -> UsageCount {
        UsageCount {
            token_id: token.map(TokenId::from),
            organization: None,
            subject: None,
            outcome,
            granularity: Granularity::Day,
            bucket: Granularity::Day.bucket(now()) - Duration::from_secs(DAY * days_ago),
            count: n,
        }
    }

    fn args(token: Option<&str>, days: u64) -> UsageArgs {
        UsageArgs { token: token.map(str::to_owned), days, granularity: Granularity::Day }
    }

    #[test]
    fn the_sparkline_rises_with_the_counts_and_shows_none_as_the_floor() {
        assert_eq!(sparkline([0, 1, 2, 3, 4, 5, 6, 7]), "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline([0, 0, 0]), "▁▁▁");
        assert_eq!(sparkline([1, 1_000_000]), "▂█", "a single request still shows");
        assert_eq!(sparkline([u64::MAX, u64::MAX / 2]), "█▅");
        assert_eq!(sparkline(Vec::<u64>::new()), "");
    }

    #[tokio::test]
    async fn each_key_gets_its_totals_and_the_shape_of_its_admitted_requests() {
        let log = MemoryTokenStore::new();
        log.add_usage(vec![
            count(Some("tid_a"), UsageOutcome::Admitted, 4, 2),
            count(Some("tid_a"), UsageOutcome::Admitted, 2, 8),
            count(Some("tid_a"), UsageOutcome::Admitted, 0, 4),
            count(Some("tid_a"), UsageOutcome::RateLimited, 2, 3),
            count(Some("tid_a"), UsageOutcome::Expired, 1, 1),
            count(Some("tid_b"), UsageOutcome::Admitted, 1, 1),
            count(None, UsageOutcome::Unknown, 3, 6),
            count(Some("tid_a"), UsageOutcome::Admitted, 9, 50), // before the 5 days
        ])
        .await
        .unwrap();
        let keys = read(&log, &query(&args(None, 5), now())).await.unwrap();
        let lines = table(&keys);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].starts_with("TOKEN") && lines[0].ends_with("ADMITTED PER DAY"), "{}", lines[0]);
        assert!(lines[1].starts_with("(unknown)") && lines[1].contains("unknown 6"), "{}", lines[1]);
        assert!(lines[1].ends_with("▁▁▁▁▁"), "{}", lines[1]);
        let a: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(a[..3], ["tid_a", "18", "14"]);
        assert_eq!(lines[2].split_whitespace().last(), Some("▃▁█▁▅"), "{}", lines[2]);
        assert!(lines[2].contains("rate_limited 3, expired 1"), "{}", lines[2]);
        assert!(lines[3].ends_with("▁▁▁█▁"), "{}", lines[3]);
    }

    #[tokio::test]
    async fn a_key_asked_for_is_shown_even_without_requests() {
        let keys = read(&MemoryTokenStore::new(), &query(&args(Some("tid_q"), 3), now())).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(table(&keys)[1].split_whitespace().collect::<Vec<_>>(), ["tid_q", "0", "0", "-", "▁▁▁"]);
        let json = serde_json::to_value(KeyJson::of(keys[0].0.as_ref(), &keys[0].1)).unwrap();
        assert_eq!(json["token_id"], "tid_q");
        assert_eq!(json["buckets"].as_array().unwrap().len(), 3);
        assert_eq!(json["buckets"][2]["counts"]["admitted"], 0);
    }

    #[tokio::test]
    async fn too_many_buckets_is_a_usage_error() {
        let args = UsageArgs { token: None, days: 30, granularity: Granularity::Minute };
        let failure = read(&MemoryTokenStore::new(), &query(&args, now())).await.unwrap_err();
        assert!(matches!(failure, Failure::Usage(_)));
        let args = UsageArgs { token: None, days: u64::MAX, granularity: Granularity::Day };
        assert!(matches!(read(&MemoryTokenStore::new(), &query(&args, now())).await, Err(Failure::Usage(_))));
    }
}
