//! Limits as operators type them (`--rate-limit 100/10s`, `--refill 1000/30d`), and as the
//! output shows them (`100/10s`, `1000/30d`: the same syntax).

use std::time::Duration;

use tower_bearer::RateLimit;

use crate::duration::parse_duration;

/// The longest refill period: a century, as for rate limits.
const MAX_PERIOD: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `text` as `<count>/<period>`: a whole number of at least 1, then a duration (`10s`, `30d`,
/// `1d12h`) or a bare unit (`s` for `1s`). `what` names the count in messages.
fn per_period(text: &str, what: &str, example: &str) -> Result<(u64, Duration), String> {
    let Some((count, period)) = text.split_once('/') else {
        return Err(format!("expected {what}/PERIOD, such as {example}"));
    };
    let count = match count.parse::<u64>() {
        Ok(n) if n >= 1 => n,
        _ => return Err(format!("{what} must be a whole number of at least 1, such as {example}")),
    };
    let period = match period {
        "s" | "m" | "h" | "d" => parse_duration(&format!("1{period}")),
        other => parse_duration(other),
    }
    .map_err(|e| format!("PERIOD: {e}"))?;
    if period.is_zero() || period > MAX_PERIOD {
        return Err("PERIOD must be from 1s to 36500d (a century)".to_owned());
    }
    Ok((count, period))
}

/// `--rate-limit`: `REQUESTS/PERIOD`.
pub(crate) fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    let (requests, period) = per_period(text, "REQUESTS", "100/10s, 5000/1h or 10/s")?;
    let requests = u32::try_from(requests).map_err(|_| format!("REQUESTS must be at most {}", u32::MAX))?;
    RateLimit::new(requests, period).ok_or_else(|| "more than one request per nanosecond".to_owned())
}

/// `--refill`: `AMOUNT/PERIOD`.
pub(crate) fn parse_refill(text: &str) -> Result<(u64, Duration), String> {
    per_period(text, "AMOUNT", "1000/30d")
}

/// A duration in the largest unit that divides it (`30d`, `1h`, `90s`); a fraction of a
/// second (a limit set in code) in seconds with decimals.
pub(crate) fn duration_text(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{}s", d.as_secs_f64());
    }
    let secs = d.as_secs();
    match [(86_400, 'd'), (3600, 'h'), (60, 'm')]
        .into_iter()
        .find(|(unit, _)| secs >= *unit && secs.is_multiple_of(*unit))
    {
        Some((unit, name)) => format!("{}{name}", secs / unit),
        None => format!("{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_as_typed_and_print_the_same() {
        let limit = parse_rate_limit("100/10s").unwrap();
        assert_eq!((limit.requests(), limit.period()), (100, Duration::from_secs(10)));
        assert_eq!(parse_rate_limit("10/s").unwrap().period(), Duration::from_secs(1));
        assert_eq!(parse_rate_limit("5000/1h").unwrap().period(), Duration::from_secs(3600));
        assert_eq!(parse_refill("1000/30d"), Ok((1000, Duration::from_secs(30 * 86_400))));
        for bad in ["100", "0/10s", "-1/10s", "x/10s", "100/", "100/0s", "100/10x", "100/36501d", "/10s"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
            assert!(parse_refill(bad).is_err(), "{bad}");
        }
        assert!(parse_rate_limit("4294967296/1h").unwrap_err().contains("at most 4294967295"));
        assert!(parse_rate_limit("2000000000/1s").is_err(), "under a nanosecond each");
        for (secs, text) in
            [(10, "10s"), (60, "1m"), (90, "90s"), (3600, "1h"), (2_592_000, "30d"), (0, "0s")]
        {
            assert_eq!(duration_text(Duration::from_secs(secs)), text);
        }
        assert_eq!(duration_text(Duration::from_millis(500)), "0.5s");
    }
}
