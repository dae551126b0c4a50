//! The create form: what the host lets users choose ([`ScopeChoice`]s, the longest lifetime,
//! the loosest rate limit and credits), what a submission says ([`CreateInput`]) and what is
//! wrong with it ([`FieldErrors`]).

use std::time::{Duration, SystemTime};

use tower_bearer::{Credits, RateLimit};

use super::csrf;
use super::date;

/// The longest token name, in characters.
pub(crate) const MAX_NAME: usize = 80;

/// A scope users may give their tokens, with the words the page shows for it.
#[derive(Clone, Debug)]
pub(crate) struct ScopeChoice {
    pub(crate) scope: String,
    pub(crate) label: String,
}

/// What the host allows.
#[derive(Clone, Debug)]
pub(crate) struct CreateRules {
    pub(crate) scopes: Vec<ScopeChoice>,
    /// Tokens must expire within this; `None`: they may also never expire.
    pub(crate) max_lifetime: Option<Duration>,
    /// Every token gets a rate limit, at most this: users choose the requests per its period.
    pub(crate) max_rate_limit: Option<RateLimit>,
    /// Every token gets credits, at most these: users choose how many (refilled as these are).
    pub(crate) max_credits: Option<Credits>,
}

impl CreateRules {
    /// The most credits a user may choose: the refill amount of credits that are refilled
    /// (the token starts with as many, or the host's initial credits if fewer), else the
    /// initial credits; `None` without credits, or when there is nothing to choose (0).
    pub(crate) fn credits_cap(&self) -> Option<u64> {
        let max = self.max_credits?;
        Some(max.refill().map_or(max.initial(), |(amount, _)| amount)).filter(|cap| *cap > 0)
    }
}

/// A submission of the create form, as typed (to show it again with the errors). No `Debug`:
/// `csrf` is a live anti-forgery token.
#[derive(Clone, Default)]
pub(crate) struct CreateInput {
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires: String,
    /// Requests per the rate limit's period; empty: the most allowed.
    pub(crate) rate_limit: String,
    /// Credits; empty: the most allowed.
    pub(crate) credits: String,
    pub(crate) csrf: String,
}

/// What is wrong with each field, in words for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldErrors {
    pub(crate) name: Option<String>,
    pub(crate) scopes: Option<String>,
    pub(crate) expires: Option<String>,
    pub(crate) rate_limit: Option<String>,
    pub(crate) credits: Option<String>,
}

impl FieldErrors {
    pub(crate) fn is_empty(&self) -> bool {
        *self == FieldErrors::default()
    }
}

/// A submission that passed: the token to issue.
#[derive(Debug)]
pub(crate) struct ValidToken {
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) credits: Option<Credits>,
}

/// A whole number from 1 to `max` typed in a field; empty: `max`.
fn count_up_to(text: &str, max: u64, error: &mut Option<String>) -> u64 {
    let text = text.trim();
    if text.is_empty() {
        return max;
    }
    match text.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => n,
        _ => {
            *error = Some(format!("Enter a whole number from 1 to {max}, or leave it empty for {max}."));
            max
        }
    }
}

impl CreateInput {
    /// Reads a form body (`application/x-www-form-urlencoded`; `scope` repeated).
    pub(crate) fn parse(body: &[u8]) -> Self {
        let mut input = CreateInput::default();
        for (key, value) in form_urlencoded::parse(body) {
            match &*key {
                "name" => input.name = value.into_owned(),
                "scope" => input.scopes.push(value.into_owned()),
                "expires" => input.expires = value.into_owned(),
                "rate_limit" => input.rate_limit = value.into_owned(),
                "credits" => input.credits = value.into_owned(),
                csrf::FIELD => input.csrf = value.into_owned(),
                _ => {}
            }
        }
        input
    }

    /// Checks the submission against the host's rules at `now`.
    pub(crate) fn validate(&self, rules: &CreateRules, now: SystemTime) -> Result<ValidToken, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.name.trim();
        if name.is_empty() {
            errors.name = Some("Enter a name for the token.".into());
        } else if name.chars().count() > MAX_NAME {
            errors.name = Some(format!("Use at most {MAX_NAME} characters."));
        } else if name.chars().any(char::is_control) {
            errors.name = Some("Use letters, digits, spaces and punctuation only.".into());
        }

        let mut scopes: Vec<String> = Vec::new();
        for scope in &self.scopes {
            if !rules.scopes.iter().any(|c| c.scope == *scope) {
                errors.scopes = Some("Choose permissions from the list.".into());
            } else if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        if scopes.is_empty() && !rules.scopes.is_empty() && errors.scopes.is_none() {
            errors.scopes = Some("Choose at least one permission.".into());
        }

        let latest = rules.max_lifetime.and_then(|max| now.checked_add(max));
        let expires_at = match self.expires.trim() {
            "" if rules.max_lifetime.is_some() => {
                errors.expires = Some("Choose an expiry date.".into());
                None
            }
            "" => None,
            text => match date::parse_day(text) {
                None => {
                    errors.expires = Some("Enter a date as YYYY-MM-DD, for example 2031-01-31.".into());
                    None
                }
                Some(at) if at <= now => {
                    errors.expires = Some("Choose a date after today.".into());
                    None
                }
                Some(at) if latest.is_some_and(|latest| at > latest) => {
                    let latest = date::day(latest.unwrap_or(at));
                    errors.expires = Some(format!("Choose a date no later than {latest}."));
                    None
                }
                Some(at) => Some(at),
            },
        };

        let rate_limit = rules.max_rate_limit.map(|max| {
            let requests = count_up_to(&self.rate_limit, u64::from(max.requests()), &mut errors.rate_limit);
            // At most the host's requests in the host's period: always a valid limit (else the
            // host's own, never none).
            u32::try_from(requests).ok().and_then(|n| RateLimit::new(n, max.period())).unwrap_or(max)
        });
        let credits = rules.max_credits.map(|max| match rules.credits_cap() {
            Some(cap) if !self.credits.trim().is_empty() => {
                let n = count_up_to(&self.credits, cap, &mut errors.credits);
                match max.refill() {
                    Some((_, every)) => Credits::new(n.min(max.initial())).refilled(n, every),
                    None => Credits::new(n),
                }
            }
            _ => max,
        });

        if errors.is_empty() {
            Ok(ValidToken { name: name.to_owned(), scopes, expires_at, rate_limit, credits })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn rules(max_lifetime: Option<Duration>) -> CreateRules {
        let choice = |s: &str| ScopeChoice { scope: s.into(), label: s.into() };
        CreateRules {
            scopes: vec![choice("reports:read"), choice("reports:write")],
            max_lifetime,
            max_rate_limit: None,
            max_credits: None,
        }
    }

    /// 2027-01-31 12:00 UTC.
    fn noon() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_801_353_600 + 12 * 3600)
    }

    #[test]
    fn a_good_submission_parses_with_repeated_scopes() {
        let input = CreateInput::parse(
            b"name=+Laptop+%26+CLI+&scope=reports%3Aread&scope=reports:write&scope=reports:read&expires=2027-02-01&csrf=t",
        );
        assert_eq!(input.csrf, "t");
        let valid = input.validate(&rules(None), noon()).unwrap();
        assert_eq!(valid.name, "Laptop & CLI");
        assert_eq!(valid.scopes, ["reports:read", "reports:write"]);
        assert_eq!(valid.expires_at, Some(noon() + DAY / 2));
        let no_expiry =
            CreateInput::parse(b"name=a&scope=reports:read&expires=").validate(&rules(None), noon());
        assert_eq!(no_expiry.unwrap().expires_at, None);
    }

    #[test]
    fn limits_are_chosen_within_the_hosts() {
        let per_minute = RateLimit::new(100, Duration::from_secs(60)).unwrap();
        let monthly = Credits::new(1_000).refilled(500, 30 * DAY);
        let limited =
            CreateRules { max_rate_limit: Some(per_minute), max_credits: Some(monthly), ..rules(None) };
        assert_eq!(limited.credits_cap(), Some(500));
        let valid = |body: &[u8]| CreateInput::parse(body).validate(&limited, noon());
        let chosen = valid(b"name=a&scope=reports:read&rate_limit=+10+&credits=200").unwrap();
        assert_eq!(chosen.rate_limit, RateLimit::new(10, Duration::from_secs(60)));
        assert_eq!(chosen.credits, Some(Credits::new(200).refilled(200, 30 * DAY)));
        let most = valid(b"name=a&scope=reports:read&rate_limit=&credits=").unwrap();
        assert_eq!((most.rate_limit, most.credits), (Some(per_minute), Some(monthly)), "empty: the host's");
        for (body, field) in [
            (&b"name=a&scope=reports:read&rate_limit=0"[..], "rate_limit"),
            (b"name=a&scope=reports:read&rate_limit=101", "rate_limit"),
            (b"name=a&scope=reports:read&rate_limit=-1", "rate_limit"),
            (b"name=a&scope=reports:read&credits=501", "credits"),
            (b"name=a&scope=reports:read&credits=1e3", "credits"),
            (b"name=a&scope=reports:read&credits=99999999999999999999999", "credits"),
        ] {
            let e = valid(body).unwrap_err();
            let (message, other) = match field {
                "rate_limit" => (e.rate_limit, e.credits),
                _ => (e.credits, e.rate_limit),
            };
            let max = if field == "rate_limit" { 100 } else { 500 };
            assert_eq!(
                message,
                Some(format!("Enter a whole number from 1 to {max}, or leave it empty for {max}."))
            );
            assert_eq!(other, None);
        }
        // Without the host's limits, the fields are ignored: no limits.
        let free = CreateInput::parse(b"name=a&scope=reports:read&rate_limit=5&credits=5")
            .validate(&rules(None), noon());
        let free = free.unwrap();
        assert_eq!((free.rate_limit, free.credits), (None, None));
        let once = CreateRules { max_credits: Some(Credits::new(50)), ..rules(None) };
        let chosen =
            CreateInput::parse(b"name=a&scope=reports:read&credits=7").validate(&once, noon()).unwrap();
        assert_eq!(chosen.credits, Some(Credits::new(7)), "never refilled, as the host's");
        let starts_empty = CreateRules { max_credits: Some(Credits::new(0).refilled(5, DAY)), ..rules(None) };
        let chosen =
            CreateInput::parse(b"name=a&scope=reports:read&credits=3").validate(&starts_empty, noon());
        assert_eq!(chosen.unwrap().credits, Some(Credits::new(0).refilled(3, DAY)));
        let nothing = CreateRules { max_credits: Some(Credits::new(0)), ..rules(None) };
        assert_eq!(nothing.credits_cap(), None, "nothing to choose");
        let chosen = CreateInput::parse(b"name=a&scope=reports:read&credits=3").validate(&nothing, noon());
        assert_eq!(chosen.unwrap().credits, Some(Credits::new(0)));
    }

    #[test]
    fn each_field_says_what_is_wrong() {
        let errors = |body: &[u8], max| CreateInput::parse(body).validate(&rules(max), noon()).unwrap_err();
        let e = errors(b"name=+&expires=2027-01-31", None);
        assert_eq!(e.name.as_deref(), Some("Enter a name for the token."));
        assert_eq!(e.scopes.as_deref(), Some("Choose at least one permission."));
        assert_eq!(e.expires.as_deref(), Some("Choose a date after today."));
        let e = errors(b"name=a%07b&scope=admin&expires=31.01.2028", None);
        assert!(e.name.is_some());
        assert_eq!(e.scopes.as_deref(), Some("Choose permissions from the list."));
        assert!(e.expires.unwrap().starts_with("Enter a date as YYYY-MM-DD"));
        let long = format!("name={}&scope=reports:read", "é".repeat(MAX_NAME + 1));
        assert_eq!(errors(long.as_bytes(), None).name.as_deref(), Some("Use at most 80 characters."));
        let e = errors(b"name=a&scope=reports:read", Some(30 * DAY));
        assert_eq!(e.expires.as_deref(), Some("Choose an expiry date."));
        let e = errors(b"name=a&scope=reports:read&expires=2027-03-03", Some(30 * DAY));
        assert_eq!(e.expires.as_deref(), Some("Choose a date no later than 2027-03-02."));
        let ok = CreateInput::parse(b"name=a&scope=reports:read&expires=2027-03-02")
            .validate(&rules(Some(30 * DAY)), noon());
        assert!(ok.is_ok());
    }
}
