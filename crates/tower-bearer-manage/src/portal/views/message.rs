//! Pages that only say something: sign in first, the form expired, not found, try later.

use maud::{Markup, html};

use super::layout::page;

/// A page with a heading, a sentence and, if given, a link onward (`(href, text)`).
pub(crate) fn message(heading: &str, text: &str, link: Option<(&str, &str)>) -> Markup {
    page(
        heading,
        None,
        html! {
            h1 { (heading) }
            p { (text) }
            @if let Some((href, label)) = link {
                p { a href=(href) { (label) } }
            }
        },
        false,
    )
}
