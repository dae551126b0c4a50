//! The frame of every page: language, title, the inline style sheet, who is signed in.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::portal::assets::{COPY_SCRIPT, STYLE};
use crate::portal::user::PortalUser;

/// A whole page titled `title`, around `content`; with the copy button's script if asked.
pub(super) fn page(title: &str, user: Option<&PortalUser>, content: Markup, copy_script: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if let Some(user) = user {
                    header {
                        span { "Signed in as " strong { (user.display_name) } }
                    }
                }
                main { (content) }
                @if copy_script {
                    script { (PreEscaped(COPY_SCRIPT)) }
                }
            }
        }
    }
}
