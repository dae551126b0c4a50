//! A token's usage page: the last 30 days as a chart, and the same numbers as a table.

use maud::{Markup, html};
use tower_bearer::TokenInfo;
use tower_bearer::manage::usage::{UsageOutcome, UsageSeries};

use super::chart::{chart, reasons};
use super::layout::page;
use super::token;
use crate::portal::date;
use crate::portal::user::PortalUser;

pub(crate) struct UsagePage<'a> {
    pub(crate) user: &'a PortalUser,
    pub(crate) info: &'a TokenInfo,
    pub(crate) series: &'a UsageSeries,
    pub(crate) list: &'a str,
}

pub(crate) fn usage(view: &UsagePage<'_>) -> Markup {
    let name = token::name(view.info);
    let days = view.series.buckets().len();
    let totals = view.series.totals();
    let content = html! {
        h1 { "Usage of “" (name) "”" }
        p {
            code.hint { (view.info.hint.as_deref().unwrap_or("…")) } " · "
            "last " (days) " days (UTC): "
            strong { (totals.get(UsageOutcome::Admitted)) } " requests admitted, "
            strong { (totals.refused()) } " refused."
        }
        figure.usage {
            (chart(view.series, &format!("Requests per day of “{name}”, last {days} days")))
        }
        table.usage {
            caption { "Requests per day of “" (name) "” (UTC)" }
            thead {
                tr {
                    th scope="col" { "Day" }
                    th scope="col" { "Admitted" }
                    th scope="col" { "Refused" }
                    th scope="col" { "Why refused" }
                }
            }
            tbody {
                @for (start, counts) in view.series.buckets().iter().rev() {
                    tr {
                        th scope="row" { time datetime=(date::day(*start)) { (date::day(*start)) } }
                        td { (counts.get(UsageOutcome::Admitted)) }
                        td { (counts.refused()) }
                        td { (reasons(counts)) }
                    }
                }
            }
        }
        p { a href=(view.list) { "Back to your tokens" } }
    };
    page(&format!("Usage of “{name}”"), Some(view.user), content, false)
}
