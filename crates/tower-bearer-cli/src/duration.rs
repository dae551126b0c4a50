//! Durations as operators type them: `30d`, `12h`, `90m`, `3600s`, or several at once (`1d12h`).

use std::time::Duration;

const UNITS: &str = "expected a number and a unit (s, m, h or d), such as 90m, 12h, 30d or 1d12h";

/// Parses `text` as one or more `<number><unit>` parts, units `s`, `m`, `h` and `d`.
///
/// # Errors
///
/// A message saying what is expected, for anything else (a bare number, an unknown unit, a
/// sign, spaces) or a total past what a [`Duration`] holds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err(UNITS.to_owned());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(UNITS.to_owned());
        }
        let (number, after) = rest.split_at(digits);
        let mut chars = after.chars();
        let seconds_per: u64 = match chars.next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            None => return Err(format!("{UNITS}; add a unit: {text}s")),
            Some(_) => return Err(UNITS.to_owned()),
        };
        let too_long = || "too long".to_owned();
        let count: u64 = number.parse().map_err(|_| too_long())?;
        total = count.checked_mul(seconds_per).and_then(|s| total.checked_add(s)).ok_or_else(too_long)?;
        rest = chars.as_str();
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_typed() {
        for (text, secs) in [
            ("3600s", 3600),
            ("90m", 5400),
            ("12h", 43_200),
            ("30d", 2_592_000),
            ("1d12h", 129_600),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        for bad in ["", "30", "5x", "-1h", "1h ", " 1h", "h", "1.5h", "1hh", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration(&format!("{}d", u64::MAX / 86_400 + 1)).is_err());
    }
}
