//! `notices`: the tokens expiring within a window and the tokens reported leaked within it,
//! what the management API's `GET /notices` lists, for an operator's shell.

use std::time::{Duration, SystemTime};

use clap::Args;
use tower_bearer::manage::TokenQuery;
use tower_bearer::manage::audit::{AuditKind, AuditLog, AuditQuery};
use tower_bearer::{TokenInfo, TokenManager};

use crate::duration::parse_duration;
use crate::failure::Failure;
use crate::output::Printer;
use crate::session::Session;

/// `notices`'s arguments.
#[derive(Args)]
pub(crate) struct NoticesArgs {
    /// The window, such as 7d: tokens expiring within it from now, leaks reported within it
    /// before now [default: 7d]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) within: Option<Duration>,
    /// Only this organization's tokens and leaks
    #[arg(long)]
    pub(crate) organization: Option<String>,
}

/// Prints the expiring tokens (as `list` does), then the leak reports (as `audit` does).
pub(crate) async fn notices(
    session: &Session,
    args: NoticesArgs,
    out: &mut Printer,
    now: SystemTime,
) -> Result<(), Failure> {
    let window = args.within.unwrap_or(Duration::from_secs(7 * 86_400));
    let mut query = TokenQuery::new().limit(TokenQuery::MAX_PAGE);
    if let Some(organization) = &args.organization {
        query = query.organization(organization.clone());
    }
    let mut expiring: Vec<TokenInfo> = Vec::new();
    loop {
        let page = session.store().list_page(&query).await?;
        expiring.extend(page.items.into_iter().filter(|info| info.expires_within(now, window).is_some()));
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    if out.is_json() {
        for info in &expiring {
            out.token(info, now)?;
        }
    } else if expiring.is_empty() {
        out.note("no token expires within the window");
    } else {
        out.note("expiring:");
        out.token_table(&expiring, now)?;
    }

    let since = now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut query = AuditQuery::new().kind(AuditKind::Leaked).limit(TokenQuery::MAX_PAGE);
    let mut leaked = 0;
    loop {
        let page = session.store().audit_page(&query).await?;
        for record in &page.items {
            let theirs =
                args.organization.as_deref().is_none_or(|o| record.event.organization.as_deref() == Some(o));
            if record.event.at >= since && theirs {
                if leaked == 0 && !out.is_json() {
                    out.note("leaked:");
                }
                out.audit(record)?;
                leaked += 1;
            }
        }
        match page.next {
            Some(next) if !page.items.is_empty() => query = query.after(next),
            _ => break,
        }
    }
    if leaked == 0 {
        out.note("no token reported leaked within the window");
    }
    Ok(())
}
