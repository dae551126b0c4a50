//! Calendar days and times in UTC: what the create form's expiry date means (the start of that
//! day, 00:00 UTC), and how the pages show times.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{Date, Month, OffsetDateTime};

/// The start (00:00 UTC) of the day written `YYYY-MM-DD`, as an `<input type=date>` sends it;
/// `None` for anything else, or a day that does not exist.
pub(crate) fn parse_day(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year: i32 = text[..4].parse().ok()?;
    let month = Month::try_from(text[5..7].parse::<u8>().ok()?).ok()?;
    let day = Date::from_calendar_date(year, month, text[8..].parse().ok()?).ok()?;
    Some(SystemTime::from(day.midnight().assume_utc()))
}

/// `at` as a UTC date and time, when it is within the years 1970 to 9999.
fn utc(at: SystemTime) -> Option<OffsetDateTime> {
    let secs = at.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let at = OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
    (at.year() <= 9999).then_some(at)
}

/// The UTC day of `at`, `YYYY-MM-DD` (what `<input type=date>` and `<time datetime>` take).
pub(crate) fn day(at: SystemTime) -> String {
    match utc(at) {
        Some(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        None => "9999-12-31".to_owned(),
    }
}

/// `at` for people and machines: (`2026-11-02 09:30 UTC`, `2026-11-02T09:30:00Z`).
pub(crate) fn minute(at: SystemTime) -> (String, String) {
    match utc(at) {
        Some(t) => {
            let day = day(at);
            let (h, m, s) = (t.hour(), t.minute(), t.second());
            (format!("{day} {h:02}:{m:02} UTC"), format!("{day}T{h:02}:{m:02}:{s:02}Z"))
        }
        None => ("never (far future)".to_owned(), "9999-12-31T23:59:59Z".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn days_are_the_start_of_the_day_in_utc() {
        let at = parse_day("2027-01-31").unwrap();
        assert_eq!(at.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_801_353_600);
        assert_eq!(day(at + Duration::from_secs(86_399)), "2027-01-31");
        assert_eq!(minute(at + Duration::from_secs(9 * 3600 + 30 * 60)).0, "2027-01-31 09:30 UTC");
        assert_eq!(minute(at).1, "2027-01-31T00:00:00Z");
        assert!(parse_day("2028-02-29").is_some());
    }

    #[test]
    fn only_real_days_in_iso_form_parse() {
        for bad in [
            "",
            "2027-1-31",
            "2027-02-30",
            "2027-13-01",
            "27-01-31",
            "2027/01/31",
            "+2027-01-3",
            "2027-01-31 ",
        ] {
            assert_eq!(parse_day(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn times_past_year_9999_show_as_far_future() {
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(minute(far).0, "never (far future)");
        assert_eq!(day(far), "9999-12-31");
    }
}
