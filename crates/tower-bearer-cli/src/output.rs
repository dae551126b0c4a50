//! [`Printer`]: results on stdout (text for people, or one JSON object per line), notes and
//! warnings on stderr. Text that came from the database is printed with control characters
//! escaped: a token name cannot drive the operator's terminal.

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tower_bearer::limit::CreditBalance;
use tower_bearer::manage::audit::AuditRecord;
use tower_bearer::{Credits, IssuedToken, TokenInfo};

use crate::escape::{needs_escape, printable};
use crate::failure::Failure;
use crate::limits::duration_text;
use crate::timestamp::rfc3339;

/// Where results go, and in which form.
pub(crate) struct Printer {
    json: bool,
    quiet: bool,
    stdout: io::StdoutLock<'static>,
}

impl Printer {
    /// Text or JSON; `quiet` drops the notes.
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Printer { json, quiet, stdout: io::stdout().lock() }
    }

    /// Whether results are JSON.
    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    /// One line of result.
    pub(crate) fn line(&mut self, text: &str) -> Result<(), Failure> {
        writeln!(self.stdout, "{text}")?;
        Ok(())
    }

    /// One JSON object, on its own line.
    pub(crate) fn json(&mut self, value: &impl Serialize) -> Result<(), Failure> {
        serde_json::to_writer(&mut self.stdout, value).map_err(io::Error::from)?;
        writeln!(self.stdout)?;
        Ok(())
    }

    /// A note for the person at the terminal (unless `--quiet`), on stderr.
    pub(crate) fn note(&self, text: &str) {
        if !self.quiet {
            // Nowhere to report a closed stderr.
            let _ = writeln!(io::stderr(), "{text}");
        }
    }

    /// A token just issued or rotated: the secret alone on stdout (or in the JSON object), and
    /// for people a summary on stderr. `rotated` names the token it replaces.
    pub(crate) fn issued(
        &mut self,
        issued: &IssuedToken,
        rotated: Option<RotatedView<'_>>,
        now: SystemTime,
    ) -> Result<(), Failure> {
        let secret = issued.secret().expose_secret();
        let token = TokenView::of(issued.info(), now);
        if self.json {
            return self.json(&IssuedView { secret, token, rotated });
        }
        self.line(secret)?;
        let expires = token
            .expires_at
            .as_deref()
            .map_or_else(|| "never expires".to_owned(), |at| format!("expires {at}"));
        let what = match rotated {
            Some(r) => match r.old_valid_until {
                Some(until) => format!(
                    "rotated {} into {} (the old token works until {})",
                    r.replaced,
                    token.id,
                    rfc3339(until)
                ),
                None => format!("rotated {} into {} (the old token no longer works)", r.replaced, token.id),
            },
            None => format!("issued {}", token.id),
        };
        self.note(&printable(&format!(
            "{what} for subject {}; {expires}. The secret above is shown this once.",
            token.subject
        )));
        Ok(())
    }

    /// One token's metadata, field by field.
    pub(crate) fn token(&mut self, info: &TokenInfo, now: SystemTime) -> Result<(), Failure> {
        let token = TokenView::of(info, now);
        if self.json {
            return self.json(&token);
        }
        let or_none = |v: Option<&str>| printable(v.unwrap_or("-")).into_owned();
        let expires = match (&token.expires_at, token.expired) {
            (Some(at), true) => format!("{at} (expired)"),
            (Some(at), false) => at.clone(),
            (None, _) => "never".to_owned(),
        };
        let fields = [
            ("id", printable(token.id).into_owned()),
            ("name", or_none(token.name)),
            ("kind", or_none(token.kind)),
            ("subject", printable(token.subject).into_owned()),
            ("organization", or_none(token.organization)),
            ("scopes", printable(&token.scopes.join(" ")).into_owned()),
            ("hint", or_none(token.hint)),
            ("created", token.created_at.clone()),
            ("last used", token.last_used_at.clone().unwrap_or_else(|| "never".to_owned())),
            ("expires", expires),
            ("expired", if token.expired { "yes" } else { "no" }.to_owned()),
            ("replaced by", or_none(token.replaced_by)),
            (
                "audience",
                if token.audience.is_empty() {
                    "-".to_owned()
                } else {
                    printable(&token.audience.join(" ")).into_owned()
                },
            ),
            (
                "rate limit",
                token.rate_limit.as_ref().map_or_else(
                    || "-".to_owned(),
                    |l| format!("{} requests per {}", l.requests, duration_text(l.period_secs)),
                ),
            ),
            ("credits", token.credits.as_ref().map_or_else(|| "-".to_owned(), CreditsView::plan_text)),
            (
                "balance",
                token.credits.as_ref().and_then(CreditsView::balance_text).unwrap_or_else(|| "-".to_owned()),
            ),
            ("bound to key", or_none(token.dpop_jkt)),
        ];
        for (label, value) in fields {
            self.line(&format!("{:<14}{value}", format!("{label}:")))?;
        }
        Ok(())
    }

    /// Tokens as an aligned table, with a header.
    pub(crate) fn token_table(&mut self, infos: &[TokenInfo], now: SystemTime) -> Result<(), Failure> {
        const HEADER: [&str; 11] = [
            "ID",
            "HINT",
            "SUBJECT",
            "ORGANIZATION",
            "NAME",
            "SCOPES",
            "LIMITS",
            "KEY",
            "EXPIRES",
            "LAST USED",
            "STATUS",
        ];
        let rows: Vec<[String; 11]> = infos
            .iter()
            .map(|info| {
                let t = TokenView::of(info, now);
                let cell = |v: Option<&str>| printable(v.unwrap_or("-")).into_owned();
                [
                    cell(Some(t.id)),
                    cell(t.hint),
                    cell(Some(t.subject)),
                    cell(t.organization),
                    cell(t.name),
                    cell(Some(&t.scopes.join(" "))),
                    t.limits_cell(),
                    t.key_cell(),
                    t.expires_at.clone().unwrap_or_else(|| "never".to_owned()),
                    t.last_used_at.clone().unwrap_or_else(|| "never".to_owned()),
                    t.status().to_owned(),
                ]
            })
            .collect();
        let mut widths = HEADER.map(|h| h.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header = HEADER.map(str::to_owned);
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            self.line(&line)?;
        }
        Ok(())
    }

    /// One audit event: a JSON object, or a line of `seq time event token subject
    /// organization [method path status] [reason]` (`-` for what the event does not have).
    pub(crate) fn audit(&mut self, record: &AuditRecord) -> Result<(), Failure> {
        let e = &record.event;
        let view = AuditView {
            seq: record.seq,
            at: rfc3339(e.at),
            event: e.kind.as_str(),
            token_id: e.token_id.as_ref().map(|id| id.as_str()),
            subject: e.subject.as_deref(),
            organization: e.organization.as_deref(),
            method: e.method.as_deref(),
            path: e.path.as_deref(),
            status: e.status,
            reason: e.reason.as_deref(),
        };
        if self.json {
            return self.json(&view);
        }
        let mut line = format!(
            "{}  {}  {}  {}  {}  {}",
            view.seq,
            view.at,
            view.event,
            field(view.token_id),
            field(view.subject),
            field(view.organization)
        );
        if view.method.is_some() || view.path.is_some() || view.status.is_some() {
            let status = view.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
            line.push_str(&format!("  {} {} {status}", field(view.method), field(view.path)));
        }
        if let Some(reason) = view.reason {
            line.push_str("  ");
            line.push_str(&printable(reason));
        }
        self.line(&line)
    }
}

/// A token's metadata as printed: never its secret.
#[derive(Serialize)]
pub(crate) struct TokenView<'a> {
    id: &'a str,
    name: Option<&'a str>,
    kind: Option<&'a str>,
    subject: &'a str,
    organization: Option<&'a str>,
    scopes: Vec<&'a str>,
    hint: Option<&'a str>,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: Option<String>,
    expired: bool,
    replaced_by: Option<&'a str>,
    /// The resources it is meant for (RFC 8707); empty: not restricted.
    audience: Vec<&'a str>,
    rate_limit: Option<RateLimitView>,
    credits: Option<CreditsView>,
    /// The RFC 7638 thumbprint of the key it is bound to (DPoP); `None`: a bearer token.
    dpop_jkt: Option<&'a str>,
}

/// A rate limit: `requests` per `period_secs`.
#[derive(Serialize)]
struct RateLimitView {
    requests: u32,
    #[serde(serialize_with = "seconds")]
    period_secs: Duration,
}

/// A credits plan and, where the store reports it, its balance.
#[derive(Serialize)]
struct CreditsView {
    initial: u64,
    refill: Option<RefillView>,
    balance: Option<BalanceView>,
}

#[derive(Serialize)]
struct RefillView {
    amount: u64,
    #[serde(serialize_with = "seconds")]
    every_secs: Duration,
}

/// What is left this period: `remaining` (nobody holds it), `leased` (held by instances, not
/// yet accounted for), `spent` (gone for good: `allowance - remaining - leased`).
#[derive(Serialize)]
struct BalanceView {
    remaining: u64,
    leased: u64,
    spent: Option<u64>,
    allowance: Option<u64>,
    next_refill_at: Option<String>,
}

impl CreditsView {
    fn of(plan: Credits, balance: Option<CreditBalance>, now: SystemTime) -> Self {
        CreditsView {
            initial: plan.initial(),
            refill: plan.refill().map(|(amount, every_secs)| RefillView { amount, every_secs }),
            balance: balance.map(|b| b.as_of(plan, now)).map(|b| BalanceView {
                remaining: b.remaining,
                leased: b.leased,
                spent: b.spent(),
                allowance: b.allowance,
                next_refill_at: b.next_refill_at.map(rfc3339),
            }),
        }
    }

    /// `1000 credits, refilled to 1000 every 30d`.
    fn plan_text(&self) -> String {
        match &self.refill {
            Some(r) => {
                format!("{}, refilled to {} every {}", self.initial, r.amount, duration_text(r.every_secs))
            }
            None => format!("{}, never refilled", self.initial),
        }
    }

    /// `940 remaining, 50 leased, 10 spent; next refill 2026-…Z`.
    fn balance_text(&self) -> Option<String> {
        let b = self.balance.as_ref()?;
        let spent = b.spent.map_or_else(|| "? spent".to_owned(), |n| format!("{n} spent"));
        let mut text = format!("{} remaining, {} leased, {spent}", b.remaining, b.leased);
        if let Some(at) = &b.next_refill_at {
            text.push_str(&format!("; next refill {at}"));
        }
        Some(text)
    }
}

/// Whole seconds as an integer, a fraction of a second (a limit set in code) as a decimal.
fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    if d.subsec_nanos() == 0 { s.serialize_u64(d.as_secs()) } else { s.serialize_f64(d.as_secs_f64()) }
}

impl<'a> TokenView<'a> {
    fn of(info: &'a TokenInfo, now: SystemTime) -> Self {
        let p = &info.principal;
        TokenView {
            id: info.id.as_str(),
            name: p.token_name(),
            kind: p.token_kind(),
            subject: p.subject(),
            organization: p.organization(),
            scopes: p.scopes().iter().collect(),
            hint: info.hint.as_deref(),
            created_at: rfc3339(info.created_at),
            last_used_at: info.last_used_at.map(rfc3339),
            expires_at: p.expires_at().map(rfc3339),
            expired: info.is_expired_at(now),
            replaced_by: p.replaced_by().map(|id| id.as_str()),
            audience: p.grant().audience().collect(),
            rate_limit: p
                .rate_limit()
                .map(|l| RateLimitView { requests: l.requests(), period_secs: l.period() }),
            credits: p.credits().map(|plan| CreditsView::of(plan, info.credits, now)),
            dpop_jkt: p.grant().confirmation(),
        }
    }

    /// The key it is bound to in one cell: the thumbprint's first 8 characters (`show` has it
    /// whole; a table of full thumbprints would not fit a terminal), or `-`.
    fn key_cell(&self) -> String {
        match self.dpop_jkt {
            Some(jkt) => {
                let start: String = jkt.chars().take(8).collect();
                printable(&format!("{start}…")).into_owned()
            }
            None => "-".to_owned(),
        }
    }

    /// The limits in one cell: `100/10s`, `940 credits left`, both, or `-`.
    fn limits_cell(&self) -> String {
        let rate =
            self.rate_limit.as_ref().map(|l| format!("{}/{}", l.requests, duration_text(l.period_secs)));
        let credits = self.credits.as_ref().map(|c| match &c.balance {
            Some(b) => format!("{} credits left", b.remaining),
            None => format!("{} credits", c.initial),
        });
        match (rate, credits) {
            (Some(rate), Some(credits)) => format!("{rate}, {credits}"),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => "-".to_owned(),
        }
    }

    fn status(&self) -> &'static str {
        match (self.expired, self.replaced_by) {
            (true, _) => "expired",
            (false, Some(_)) => "replaced",
            (false, None) => "active",
        }
    }
}

/// What a rotation replaced, for [`Printer::issued`].
#[derive(Clone, Copy, Serialize)]
pub(crate) struct RotatedView<'a> {
    /// The old token's id.
    pub(crate) replaced: &'a str,
    /// Until when the old token keeps working (its grace period), if at all.
    #[serde(serialize_with = "optional_time")]
    pub(crate) old_valid_until: Option<SystemTime>,
}

fn optional_time<S: serde::Serializer>(at: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    at.map(rfc3339).serialize(s)
}

/// The JSON of `issue` and `rotate`.
#[derive(Serialize)]
struct IssuedView<'a> {
    secret: &'a str,
    token: TokenView<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    rotated: Option<RotatedView<'a>>,
}

/// The JSON of one audit event.
#[derive(Serialize)]
struct AuditView<'a> {
    seq: u64,
    at: String,
    event: &'static str,
    token_id: Option<&'a str>,
    subject: Option<&'a str>,
    organization: Option<&'a str>,
    method: Option<&'a str>,
    path: Option<&'a str>,
    status: Option<u16>,
    reason: Option<&'a str>,
}

/// One space-separated column: `-` when absent; quoted (Rust string syntax) when empty or
/// holding spaces or characters to escape.
fn field(value: Option<&str>) -> Cow<'_, str> {
    match value {
        None => Cow::Borrowed("-"),
        Some(v) if v.is_empty() || v.chars().any(|c| c.is_whitespace() || needs_escape(c)) => {
            Cow::Owned(format!("{v:?}"))
        }
        Some(v) => Cow::Borrowed(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped() {
        assert_eq!(printable("CI key é"), "CI key é");
        assert_eq!(printable("evil\u{1b}[2Jname\n"), "evil\\u{1b}[2Jname\\n");
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(field(Some("alice")), "alice");
        assert_eq!(field(Some("CI key")), "\"CI key\"");
        assert_eq!(field(Some("")), "\"\"");
        assert_eq!(field(None), "-");
    }
}
