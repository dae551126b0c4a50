//! The main page: the user's tokens in a table, each with its revoke button, and the create
//! form below.

use std::time::SystemTime;

use maud::{Markup, html};
use tower_bearer::TokenInfo;

use super::create_form::{CreateForm, create_form};
use super::layout::page;
use super::token;
use crate::portal::paths::Paths;
use crate::portal::user::PortalUser;

/// What the list page shows.
pub(crate) struct ListPage<'a> {
    pub(crate) title: &'a str,
    pub(crate) user: &'a PortalUser,
    pub(crate) paths: &'a Paths,
    pub(crate) tokens: &'a [TokenInfo],
    /// The next page's link, if there are more tokens.
    pub(crate) next_page: Option<String>,
    /// The token just revoked, to say so.
    pub(crate) revoked: Option<&'a TokenInfo>,
    /// Whether each token links to its usage page.
    pub(crate) usage: bool,
    pub(crate) now: SystemTime,
    pub(crate) form: CreateForm<'a>,
}

pub(crate) fn list(view: &ListPage<'_>) -> Markup {
    let title =
        if view.form.errors.is_empty() { view.title.to_owned() } else { format!("Error: {}", view.title) };
    let content = html! {
        h1 { (view.title) }
        @if let Some(info) = view.revoked {
            div.notice role="status" {
                p { "Revoked “" (token::name(info)) "”. It no longer works for any request." }
            }
        }
        h2 #tokens-heading { "Your tokens" }
        @let limits = view.form.rules.max_rate_limit.is_some() || view.form.rules.max_credits.is_some()
            || view.tokens.iter().any(|t| t.principal.rate_limit().is_some() || t.principal.credits().is_some());
        @if view.tokens.is_empty() {
            p.muted { "You have no tokens yet." }
        } @else {
            table aria-labelledby="tokens-heading" {
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Token" }
                        th scope="col" { "Permissions" }
                        @if limits {
                            th scope="col" { "Limits" }
                        }
                        th scope="col" { "Created (UTC)" }
                        th scope="col" { "Last used (UTC)" }
                        th scope="col" { "Expires (UTC)" }
                        th scope="col" { span.vh { "Actions" } }
                    }
                }
                tbody {
                    @for info in view.tokens {
                        (row(view, info, limits))
                    }
                }
            }
        }
        @if let Some(next) = &view.next_page {
            p { a href=(next) { "Next page of tokens" } }
        }
        (create_form(&view.form))
    };
    page(&title, Some(view.user), content, false)
}

/// A token's row; with its `limits` column if the table has one.
fn row(view: &ListPage<'_>, info: &TokenInfo, limits: bool) -> Markup {
    let name = token::name(info);
    html! {
        tr {
            th scope="row" { (name) }
            td {
                code.hint { (info.hint.as_deref().unwrap_or("…")) }
                (token::binding(info))
            }
            td { (token::scopes(info)) }
            @if limits {
                td {
                    @match token::limits(info, view.now) {
                        Some(text) => (text),
                        None => span.muted { "none" },
                    }
                }
            }
            td { (token::cell_time(Some(info.created_at))) }
            td { (token::cell_time(info.last_used_at)) }
            td { (token::expiry(info, view.now, token::cell_time)) }
            td {
                @if view.usage {
                    p.action { a href=(view.paths.usage(&info.id)) { "Usage" span.vh { " of " (name) } } }
                }
                // A plain GET to the confirmation page: nothing is revoked from here.
                form method="get" action=(view.paths.revoke(&info.id)) {
                    button.secondary type="submit" { "Revoke" span.vh { " " (name) } "…" }
                }
            }
        }
    }
}
