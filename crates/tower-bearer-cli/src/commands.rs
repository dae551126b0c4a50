//! The commands, each through [`TokenManager`] or [`AuditLog`] on the opened store.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use tower_bearer::manage::audit::{AuditLog, AuditQuery};
use tower_bearer::manage::{PageCursor, TokenQuery};
use tower_bearer::{Credits, NewToken, TokenFormat, TokenId, TokenManager};

use crate::cli::{AuditArgs, Command, IssueArgs, ListArgs};
use crate::database::DatabaseUrl;
use crate::escape::printable;
use crate::failure::Failure;
use crate::output::{Printer, RotatedView};
use crate::session::Session;
use crate::usage;

/// How many tokens `list` prints without `--limit` or `--all`.
const DEFAULT_LIST_LIMIT: usize = 100;
/// How often `audit --follow` looks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// Runs `command` against the store at `db` (which audits each change as it makes it).
pub(crate) async fn run(
    command: Command,
    db: &DatabaseUrl,
    format: Option<TokenFormat>,
    out: &mut Printer,
) -> Result<(), Failure> {
    let session = Session::open(db, matches!(command, Command::Issue(_)), format).await?;
    let result = execute(command, &session, out).await;
    session.close().await;
    result
}

async fn execute(command: Command, session: &Session, out: &mut Printer) -> Result<(), Failure> {
    let store = session.store();
    let now = SystemTime::now();
    match command {
        Command::Issue(args) => {
            if let Some(kind) = &args.kind
                && store.rules().is_reserved(kind)
            {
                return Err(Failure::Usage(format!(
                    "--kind {kind} is reserved for tokens the store's own endpoints mint (OAuth access \
                     tokens): choose another kind"
                )));
            }
            let issued = store.issue(new_token(args, now)?).await?;
            out.issued(&issued, None, now)
        }
        Command::List(args) => list(session, args, out, now).await,
        Command::Show { id } => {
            let id = TokenId::from(id);
            let info = store.get(&id).await?.ok_or(Failure::NotFound(id))?;
            out.token(&info, now)
        }
        Command::Revoke { id } => {
            let id = TokenId::from(id);
            if !store.revoke(&id).await? {
                return Err(Failure::NotFound(id));
            }
            done(out, &id, "revoked")
        }
        Command::Rotate { id, grace } => {
            let id = TokenId::from(id);
            let grace = grace.unwrap_or(Duration::ZERO);
            let issued = store.rotate(&id, grace).await?;
            let old_valid_until = if grace.is_zero() { None } else { now.checked_add(grace) };
            out.issued(&issued, Some(RotatedView { replaced: id.as_str(), old_valid_until }), now)
        }
        Command::Delete { id } => {
            let id = TokenId::from(id);
            if !store.delete(&id).await? {
                return Err(Failure::NotFound(id));
            }
            done(out, &id, "deleted")
        }
        Command::Purge { audit_older_than } => purge(session, audit_older_than, out, now).await,
        Command::Audit(args) => audit(session, args, out).await,
        Command::Usage(args) => usage::usage(store, &args, out, now).await,
        Command::Notices(args) => crate::notices::notices(session, args, out, now).await,
    }
}

/// The token `issue` asks for.
fn new_token(args: IssueArgs, now: SystemTime) -> Result<NewToken, Failure> {
    let mut new = NewToken::for_subject(args.subject);
    if let Some(organization) = args.organization {
        new = new.organization(organization);
    }
    if let Some(name) = args.name {
        new = new.name(name);
    }
    if let Some(kind) = args.kind {
        new = new.kind(kind);
    }
    if let Some(limit) = args.rate_limit {
        new = new.rate_limit(limit);
    }
    if let Some(jkt) = args.dpop_jkt {
        new = new.confirmation(jkt);
    }
    match (args.credits, args.refill) {
        (Some(0), None) => {
            return Err(Failure::Usage(
                "--credits 0 without --refill: the token could never be used".to_owned(),
            ));
        }
        (Some(initial), refill) => {
            let credits = Credits::new(initial);
            new = new.credits(match refill {
                Some((amount, every)) => credits.refilled(amount, every),
                None => credits,
            });
        }
        // Clap requires --credits with --refill.
        (None, _) => {}
    }
    let scopes: Vec<String> = args.scope.into_iter().chain(args.scopes).collect();
    if !scopes.is_empty() {
        new = new.scopes(scopes);
    }
    let expiry = match args.expires_in {
        Some(lifetime) => Some(
            now.checked_add(lifetime).ok_or_else(|| Failure::Usage("--expires-in is too long".to_owned()))?,
        ),
        None => args.expires_at,
    };
    Ok(match expiry {
        Some(at) => new.expires_at(at),
        None => new,
    })
}

/// The result of `revoke` and `delete`: `revoked tid_…`, or `{"id":"tid_…","revoked":true}`.
fn done(out: &mut Printer, id: &TokenId, what: &'static str) -> Result<(), Failure> {
    if out.is_json() {
        let mut object = serde_json::Map::new();
        object.insert("id".to_owned(), id.as_str().into());
        object.insert(what.to_owned(), true.into());
        return out.json(&object);
    }
    out.line(&printable(&format!("{what} {}", id.as_str())))
}

async fn list(session: &Session, args: ListArgs, out: &mut Printer, now: SystemTime) -> Result<(), Failure> {
    let mut query = TokenQuery::new();
    if let Some(subject) = args.subject {
        query = query.subject(subject);
    }
    if let Some(organization) = args.organization {
        query = query.organization(organization);
    }
    let mut remaining = match (args.all, args.limit) {
        (true, _) => usize::MAX,
        (false, Some(limit)) => usize::try_from(limit).unwrap_or(usize::MAX),
        (false, None) => DEFAULT_LIST_LIMIT,
    };
    let mut table = Vec::new();
    let mut cursor: Option<PageCursor> = None;
    loop {
        let mut page_query = query.clone().limit(remaining.min(TokenQuery::MAX_PAGE));
        if let Some(after) = cursor.take() {
            page_query = page_query.after(after);
        }
        let page = session.store().list_page(&page_query).await?;
        remaining = remaining.saturating_sub(page.items.len());
        let empty = page.items.is_empty();
        if out.is_json() {
            for info in &page.items {
                out.token(info, now)?;
            }
        } else {
            table.extend(page.items);
        }
        cursor = page.next;
        if cursor.is_none() || remaining == 0 || empty {
            break;
        }
    }
    if !out.is_json() {
        if table.is_empty() {
            out.note("no live tokens match");
        } else {
            out.token_table(&table, now)?;
        }
    }
    if cursor.is_some() {
        out.note("more tokens follow: raise --limit, or list them --all");
    }
    Ok(())
}

async fn purge(
    session: &Session,
    audit_older_than: Option<Duration>,
    out: &mut Printer,
    now: SystemTime,
) -> Result<(), Failure> {
    #[derive(Serialize)]
    struct Purged {
        expired_tokens: usize,
        audit_events: Option<u64>,
    }
    let expired_tokens = session.store().purge_expired().await?;
    let audit_events = match audit_older_than {
        // Older than the beginning of time: nothing.
        Some(age) => Some(match now.checked_sub(age) {
            Some(before) => session.store().purge_audit(before).await?,
            None => 0,
        }),
        None => None,
    };
    if out.is_json() {
        return out.json(&Purged { expired_tokens, audit_events });
    }
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let tokens = plural(u64::try_from(expired_tokens).unwrap_or(u64::MAX), "expired token", "expired tokens");
    match audit_events {
        Some(n) => out.line(&format!("purged {tokens} and {}", plural(n, "audit event", "audit events"))),
        None => out.line(&format!("purged {tokens}")),
    }
}

async fn audit(session: &Session, args: AuditArgs, out: &mut Printer) -> Result<(), Failure> {
    let mut query = AuditQuery::new();
    if let Some(token) = args.token {
        query = query.token_id(TokenId::from(token));
    }
    if let Some(kind) = args.event {
        query = query.kind(kind);
    }
    let limit = args.limit.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let read = print_events(session, &query, args.after, limit, args.follow, out);
    if !args.follow {
        return read.await;
    }
    // Ctrl-C ends following between two lines; without a handler it ends the process as usual.
    tokio::select! {
        result = read => result,
        Ok(()) = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Prints the events `query` selects after `after`, at most `limit`; with `follow`, keeps
/// polling for new ones.
async fn print_events(
    session: &Session,
    query: &AuditQuery,
    mut after: Option<u64>,
    mut remaining: usize,
    follow: bool,
    out: &mut Printer,
) -> Result<(), Failure> {
    while remaining > 0 {
        let mut page_query = query.clone().limit(remaining.min(TokenQuery::MAX_PAGE));
        if let Some(seq) = after {
            page_query = page_query.after(seq);
        }
        let page = session.store().audit_page(&page_query).await?;
        remaining = remaining.saturating_sub(page.items.len());
        for record in &page.items {
            out.audit(record)?;
            after = Some(record.seq);
        }
        if page.next.is_none() || page.items.is_empty() {
            if !follow {
                break;
            }
            tokio::time::sleep(FOLLOW_INTERVAL).await;
        }
    }
    Ok(())
}
