//! How a token's metadata is shown: times, expiry, scopes, limits, the key it is bound to.

use std::time::{Duration, SystemTime};

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

/// A duration in words: `30 days`, `1 hour`, `90 seconds` (the largest unit that divides it).
pub(crate) fn duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{} seconds", d.as_secs_f64());
    }
    let secs = d.as_secs();
    let (n, unit) = [(86_400, "day"), (3600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(unit, _)| secs >= *unit && secs.is_multiple_of(*unit))
        .map_or((secs, "second"), |(unit, name)| (secs / unit, name));
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// The token's rate limit and credits in words, or `None` if it has neither: `100 requests
/// per minute · 940 of 1000 credits left, refilled every 30 days`.
pub(super) fn limits(info: &TokenInfo, now: SystemTime) -> Option<String> {
    let p = &info.principal;
    let rate = p.rate_limit().map(|l| {
        let per = duration(l.period());
        format!("{} requests per {}", l.requests(), per.strip_prefix("1 ").unwrap_or(&per))
    });
    let credits = p.credits().map(|plan| {
        let refill = plan.refill().map(|(_, every)| format!(", refilled every {}", duration(every)));
        let left = info
            .credits
            .map(|b| b.as_of(plan, now))
            .map(|b| format!("{} of {} credits left", b.remaining, b.allowance.unwrap_or(plan.initial())));
        format!(
            "{}{}",
            left.unwrap_or_else(|| format!("{} credits", plan.initial())),
            refill.unwrap_or_default()
        )
    });
    match (rate, credits) {
        (None, None) => None,
        (rate, credits) => Some(rate.into_iter().chain(credits).collect::<Vec<_>>().join(" · ")),
    }
}

/// That the token is bound to a key (DPoP), with the key's thumbprint: a copy of it is no use
/// to whoever lacks the key, and its owner can tell which key it needs. Nothing for a bearer
/// token.
pub(super) fn binding(info: &TokenInfo) -> Markup {
    html! {
        @if let Some(jkt) = info.principal.grant().confirmation() {
            br;
            span.muted { "bound to a key " code { (jkt) } }
        }
    }
}

/// The token's name (tokens made elsewhere may have none).
pub(super) fn name(info: &TokenInfo) -> &str {
    info.principal.token_name().unwrap_or("(unnamed)")
}
