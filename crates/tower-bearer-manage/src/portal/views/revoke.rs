//! The revocation's confirmation: what is about to stop working, and the one button that
//! does it.

use std::time::SystemTime;

use maud::{Markup, html};
use tower_bearer::TokenInfo;

use super::layout::page;
use super::token;
use crate::portal::csrf;
use crate::portal::user::PortalUser;

pub(crate) struct ConfirmRevoke<'a> {
    pub(crate) user: &'a PortalUser,
    pub(crate) info: &'a TokenInfo,
    /// Where the form posts.
    pub(crate) action: &'a str,
    pub(crate) list: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) now: SystemTime,
}

pub(crate) fn confirm_revoke(view: &ConfirmRevoke<'_>) -> Markup {
    let info = view.info;
    let name = token::name(info);
    let content = html! {
        h1 { "Revoke “" (name) "”?" }
        p { "Anything that uses this token stops working at once. This cannot be undone." }
        dl {
            dt { "Token" } dd { code { (info.hint.as_deref().unwrap_or("…")) } }
            dt { "Permissions" } dd { (token::scopes(info)) }
            dt { "Created" } dd { (token::time_or_never(Some(info.created_at))) }
            dt { "Last used" } dd { (token::time_or_never(info.last_used_at)) }
            dt { "Expires" } dd { (token::expiry(info, view.now, token::time_or_never)) }
        }
        form method="post" action=(view.action) {
            input type="hidden" name=(csrf::FIELD) value=(view.csrf);
            div.actions {
                button.danger type="submit" { "Revoke token" }
                a href=(view.list) { "Cancel" }
            }
        }
    };
    page(&format!("Revoke “{name}”?"), Some(view.user), content, false)
}
