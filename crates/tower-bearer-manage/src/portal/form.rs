//! The create form: what the host lets users choose ([`ScopeChoice`]s, the longest lifetime),
//! what a submission says ([`CreateInput`]) and what is wrong with it ([`FieldErrors`]).

use std::time::{Duration, SystemTime};

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
}

/// A submission of the create form, as typed (to show it again with the errors).
#[derive(Clone, Debug, Default)]
pub(crate) struct CreateInput {
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires: String,
    pub(crate) csrf: String,
}

/// What is wrong with each field, in words for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldErrors {
    pub(crate) name: Option<String>,
    pub(crate) scopes: Option<String>,
    pub(crate) expires: Option<String>,
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

        if errors.is_empty() {
            Ok(ValidToken { name: name.to_owned(), scopes, expires_at })
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
        CreateRules { scopes: vec![choice("reports:read"), choice("reports:write")], max_lifetime }
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
