//! The new token's secret, shown once, with a copy button that appears only where the
//! clipboard can be reached; and the page for when it is no longer there to show.

use std::time::SystemTime;

use maud::{Markup, html};
use tower_bearer::{TokenInfo, TokenSecret};

use super::layout::page;
use super::token;
use crate::portal::user::PortalUser;

pub(crate) fn created(
    user: &PortalUser,
    info: &TokenInfo,
    secret: &TokenSecret,
    list: &str,
    now: SystemTime,
) -> Markup {
    let name = token::name(info);
    let content = html! {
        h1 { "Your new token “" (name) "”" }
        div.warning {
            p { strong { "Copy it now." } " It is shown only this once: it is not kept anywhere it could be shown again, and this page will not show it after you leave or reload it." }
        }
        div.field {
            label for="secret" { "Token" }
            p.hint #secret-hint { "Select it and copy it (Ctrl+C), then keep it where its user reads it: a password manager, or your CI’s secret variables." }
            div.secret {
                input #secret type="text" value=(secret.expose_secret()) readonly
                    autocomplete="off" spellcheck="false" aria-describedby="secret-hint";
                button.secondary type="button" data-copy="secret" data-status="copy-status" hidden { "Copy" }
            }
            p #copy-status role="status" {}
        }
        dl {
            dt { "Permissions" } dd { (token::scopes(info)) }
            @if let Some(limits) = token::limits(info, now) {
                dt { "Limits" } dd { (limits) }
            }
            dt { "Expires" } dd { (token::expiry(info, now, token::time_or_never)) }
        }
        p { a href=(list) { "Back to your tokens" } }
    };
    page(&format!("New token “{name}”"), Some(user), content, true)
}

pub(crate) fn secret_gone(user: &PortalUser, list: &str) -> Markup {
    let content = html! {
        h1 { "This token is no longer shown" }
        p { "A new token is shown once, right after it is created, and for a few minutes at most. If you did not copy it, revoke it and create another." }
        p { a href=(list) { "Back to your tokens" } }
    };
    page("Token no longer shown", Some(user), content, false)
}
