//! The create form: name, permissions from the host's list, expiry date, and the rate limit
//! and credits where the host allows them; each error shown
//! next to its field and tied to it (`aria-describedby`, `aria-invalid`), and summed up above.

use std::time::{Duration, SystemTime};

use maud::{Markup, html};

use super::token;
use crate::portal::csrf;
use crate::portal::date;
use crate::portal::form::{CreateInput, CreateRules, FieldErrors, MAX_NAME};

const DAY: Duration = Duration::from_secs(86_400);

/// What the form shows: the host's rules, what was typed, what is wrong with it.
pub(crate) struct CreateForm<'a> {
    pub(crate) action: &'a str,
    pub(crate) rules: &'a CreateRules,
    pub(crate) input: &'a CreateInput,
    pub(crate) errors: &'a FieldErrors,
    /// The CSRF token to submit with.
    pub(crate) csrf: &'a str,
    pub(crate) now: SystemTime,
}

/// The ids of a field's hint and, if it has one, its error (for `aria-describedby`).
fn described_by(field: &str, error: Option<&String>) -> String {
    match error {
        Some(_) => format!("{field}-hint {field}-error"),
        None => format!("{field}-hint"),
    }
}

fn error(field: &str, error: Option<&String>) -> Markup {
    html! {
        @if let Some(message) = error {
            p.error id=(format!("{field}-error")) { span.vh { "Error: " } (message) }
        }
    }
}

/// An optional field for a whole number (the hint says from 1 to what).
struct CountField<'a> {
    id: &'static str,
    label: &'a str,
    hint: &'a str,
    value: &'a str,
    error: Option<&'a String>,
    autofocus: bool,
}

fn count_field(field: &CountField<'_>) -> Markup {
    let id = field.id;
    html! {
        div.field {
            label for=(id) { (field.label) }
            p.hint id=(format!("{id}-hint")) { (field.hint) }
            (error(id, field.error))
            input id=(id) type="text" name=(id) value=(field.value) inputmode="numeric"
                autocomplete="off"
                aria-describedby=(described_by(id, field.error))
                aria-invalid=[field.error.map(|_| "true")]
                autofocus[field.autofocus];
        }
    }
}

pub(crate) fn create_form(form: &CreateForm<'_>) -> Markup {
    let errors = form.errors;
    let fields = [
        ("name", &errors.name),
        ("scope-0", &errors.scopes),
        ("expires", &errors.expires),
        ("rate_limit", &errors.rate_limit),
        ("credits", &errors.credits),
    ];
    let first_invalid = fields.into_iter().find_map(|(id, e)| e.as_ref().map(|_| id));
    let latest = form.rules.max_lifetime.and_then(|max| form.now.checked_add(max)).map(date::day);
    let expiry_hint = if form.rules.max_lifetime.is_some() {
        "The token stops working at the start of this day (00:00 UTC)."
    } else {
        "The token stops working at the start of this day (00:00 UTC). Leave it empty for a token that works until you revoke it."
    };
    html! {
        h2 #create-heading { "Create a token" }
        @if !errors.is_empty() {
            section.summary aria-labelledby="summary-heading" {
                h2 #summary-heading { "The token was not created" }
                ul {
                    @for (id, message) in fields {
                        @if let Some(message) = message {
                            li { a href=(format!("#{id}")) { (message) } }
                        }
                    }
                }
            }
        }
        form method="post" action=(form.action) aria-labelledby="create-heading" {
            input type="hidden" name=(csrf::FIELD) value=(form.csrf);
            div.field {
                label for="name" { "Name" }
                p.hint #name-hint { "What the token is for, to tell it apart later: “CI deploy”, “Laptop CLI”." }
                (error("name", errors.name.as_ref()))
                input #name type="text" name="name" value=(form.input.name) maxlength=(MAX_NAME) required
                    autocomplete="off" spellcheck="false"
                    aria-describedby=(described_by("name", errors.name.as_ref()))
                    aria-invalid=[errors.name.as_ref().map(|_| "true")]
                    autofocus[first_invalid == Some("name")];
            }
            @if !form.rules.scopes.is_empty() {
                fieldset aria-describedby=(described_by("scopes", errors.scopes.as_ref()))
                    aria-invalid=[errors.scopes.as_ref().map(|_| "true")] {
                    legend { "Permissions" }
                    p.hint #scopes-hint { "What the token may do. Choose only what it needs." }
                    (error("scopes", errors.scopes.as_ref()))
                    @for (i, choice) in form.rules.scopes.iter().enumerate() {
                        @let id = format!("scope-{i}");
                        label for=(id) {
                            input id=(id) type="checkbox" name="scope" value=(choice.scope)
                                checked[form.input.scopes.contains(&choice.scope)]
                                autofocus[i == 0 && first_invalid == Some("scope-0")];
                            span { (choice.label) " " code.muted { (choice.scope) } }
                        }
                    }
                }
            }
            div.field {
                label for="expires" { "Expires on" }
                p.hint #expires-hint { (expiry_hint) }
                (error("expires", errors.expires.as_ref()))
                input #expires type="date" name="expires" value=(form.input.expires)
                    min=(date::day(form.now + DAY)) max=[latest]
                    required[form.rules.max_lifetime.is_some()]
                    aria-describedby=(described_by("expires", errors.expires.as_ref()))
                    aria-invalid=[errors.expires.as_ref().map(|_| "true")]
                    autofocus[first_invalid == Some("expires")];
            }
            @if let Some(max) = form.rules.max_rate_limit {
                @let per = token::duration(max.period());
                @let per = per.strip_prefix("1 ").unwrap_or(&per);
                (count_field(&CountField {
                    id: "rate_limit",
                    label: &format!("Requests per {per}"),
                    hint: &format!("How many requests the token may make per {per}. At most {}; leave it empty for {}.", max.requests(), max.requests()),
                    value: &form.input.rate_limit,
                    error: errors.rate_limit.as_ref(),
                    autofocus: first_invalid == Some("rate_limit"),
                }))
            }
            @if let (Some(max), Some(cap)) = (form.rules.max_credits, form.rules.credits_cap()) {
                @let (label, hint) = match max.refill() {
                    Some((_, every)) => {
                        let every = token::duration(every);
                        (
                            format!("Credits every {every}"),
                            format!("How many credits the token gets, set back every {every} (a request spends one or more). At most {cap}; leave it empty for {cap}."),
                        )
                    }
                    None => (
                        "Credits".to_owned(),
                        format!("How many credits the token gets; they do not come back (a request spends one or more). At most {cap}; leave it empty for {cap}."),
                    ),
                };
                (count_field(&CountField {
                    id: "credits",
                    label: &label,
                    hint: &hint,
                    value: &form.input.credits,
                    error: errors.credits.as_ref(),
                    autofocus: first_invalid == Some("credits"),
                }))
            }
            button type="submit" { "Create token" }
        }
    }
}
