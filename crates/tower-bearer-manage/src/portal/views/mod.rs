//! The portal's pages, as `maud` templates: checked when the crate compiles, every value
//! escaped unless wrapped in `PreEscaped` (only the constant style sheet and script are).

mod chart;
mod create_form;
mod created;
mod layout;
mod list;
mod message;
mod revoke;
mod token;
mod usage;

pub(crate) use create_form::CreateForm;
pub(crate) use created::{created, secret_gone};
pub(crate) use list::{ListPage, list};
pub(crate) use message::message;
pub(crate) use revoke::{ConfirmRevoke, confirm_revoke};
pub(crate) use usage::{UsagePage, usage};
