//! How a token's metadata is shown: times, expiry, scopes.

use std::time::SystemTime;

use maud::{Markup, html};
use tower_bearer::TokenInfo;

use crate::portal::date;

/// A time as `<time>` (`2026-11-02 09:30 UTC`), or `never`.
pub(super) fn time_or_never(at: Option<SystemTime>) -> Markup {
    match at {
        Some(at) => {
            let (text, machine) = date::minute(at);
            html! { time datetime=(machine) { (text) } }
        }
        None => html! { span.muted { "never" } },
    }
}

/// A time in a table whose headings say "UTC": `2026-11-02 09:30`, kept on one line.
pub(super) fn cell_time(at: Option<SystemTime>) -> Markup {
    match at {
        Some(at) => {
            let (text, machine) = date::minute(at);
            html! { time datetime=(machine) { (text.trim_end_matches(" UTC")) } }
        }
        None => html! { span.muted { "never" } },
    }
}

/// When the token expires (or expired), or that it does not; `time` shows the instant.
pub(super) fn expiry(info: &TokenInfo, now: SystemTime, time: fn(Option<SystemTime>) -> Markup) -> Markup {
    match info.principal.expires_at() {
        Some(at) if info.is_expired_at(now) => {
            html! { span.expired { "expired " (time(Some(at))) } }
        }
        Some(at) => time(Some(at)),
        None => html! { span.muted { "does not expire" } },
    }
}

/// The scopes, each as code.
pub(super) fn scopes(info: &TokenInfo) -> Markup {
    html! {
        @for scope in info.principal.scopes().iter() {
            code.scope { (scope) } " "
        }
        @if info.principal.scopes().is_empty() {
            span.muted { "none" }
        }
    }
}

/// The token's name (tokens made elsewhere may have none).
pub(super) fn name(info: &TokenInfo) -> &str {
    info.principal.token_name().unwrap_or("(unnamed)")
}
