//! The command line: global flags, the commands and their arguments, parsed by `clap`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Parser, Subcommand};
use tower_bearer::manage::usage::Granularity;
use tower_bearer::{RateLimit, Scopes};

use crate::duration::parse_duration;
use crate::limits::{parse_rate_limit, parse_refill};

/// The whole command line. Not `Debug`: it holds the database URL, which may hold a password.
#[derive(Parser)]
#[command(
    name = "tower-bearer",
    version,
    about = "Issue, list, rotate and revoke tower-bearer tokens; read the audit log",
    long_about = "Issue, list, rotate and revoke tower-bearer tokens; read the audit log.\n\n\
                  The token database is a SQLite file (sqlite://path/to/tokens.db) or a PostgreSQL \
                  URL (postgres://user:password@host/database), given by --database or by the \
                  environment variable TOWER_BEARER_DATABASE_URL (prefer it: other users of the \
                  machine can read command lines). Errors never show it."
)]
pub(crate) struct Cli {
    /// The token database: sqlite://path/to/tokens.db or postgres://user:password@host/db
    /// [default: $TOWER_BEARER_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL", display_order = 90)]
    pub(crate) database: Option<String>,

    /// The prefix of the application's token format (`sk_live_`), for the secrets `issue` and
    /// `rotate` make: a layer that checks formats refuses tokens of another
    /// [default: $TOWER_BEARER_TOKEN_PREFIX, else tok_]
    #[arg(long, global = true, value_name = "PREFIX", display_order = 90)]
    pub(crate) token_prefix: Option<String>,

    /// Machine-readable output: one JSON object per line
    #[arg(long, global = true, display_order = 91)]
    pub(crate) json: bool,

    /// No summaries or notes on stderr (results and errors still appear)
    #[arg(long, short, global = true, display_order = 92)]
    pub(crate) quiet: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Issue a token; its secret is printed once, alone on stdout
    Issue(IssueArgs),
    /// List live tokens (expired ones too, until purged), oldest first: metadata, never secrets
    List(ListArgs),
    /// Show one live token's metadata
    Show {
        /// The token's id (tid_…)
        id: String,
    },
    /// Revoke a token: refused from now on (exit code 1 if no live token has this id)
    Revoke {
        /// The token's id (tid_…)
        id: String,
    },
    /// Replace a token with a new one (same subject, scopes and lifetime length); the new
    /// secret is printed once, alone on stdout
    Rotate {
        /// The token's id (tid_…)
        id: String,
        /// How long the old token keeps working, such as 1h [default: 0s, it stops at once]
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        grace: Option<Duration>,
    },
    /// Remove a token without a trace (it then looks unknown, not revoked)
    Delete {
        /// The token's id (tid_…)
        id: String,
    },
    /// Remove expired tokens, and optionally old audit events
    Purge {
        /// Also drop audit events older than this, such as 90d
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        audit_older_than: Option<Duration>,
    },
    /// Print audit events, oldest first
    Audit(AuditArgs),
    /// Per key: requests, admitted, what refused the rest, and a sparkline of admitted
    /// requests per bucket (▁ none … █ the key's busiest)
    Usage(UsageArgs),
    /// Tokens expiring soon and tokens reported leaked (the notices to send their owners)
    Notices(crate::notices::NoticesArgs),
}

/// `issue`'s arguments.
#[derive(Args)]
pub(crate) struct IssueArgs {
    /// Who the token authenticates (a user or service id)
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub(crate) subject: String,
    /// The subject's organization or tenant
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub(crate) organization: Option<String>,
    /// A name its owner knows it by, such as "CI deploy key"
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub(crate) name: Option<String>,
    /// The token's kind, such as personal or service
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub(crate) kind: Option<String>,
    /// A scope to grant (repeat for more; quote the wildcard: '*')
    #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_scope)]
    pub(crate) scope: Vec<String>,
    /// Scopes to grant, comma-separated
    #[arg(long, value_name = "SCOPE,...", value_delimiter = ',', value_parser = parse_scope)]
    pub(crate) scopes: Vec<String>,
    /// Lifetime, such as 30d, 12h, 90m or 3600s (or combined: 1d12h) [default: no expiry]
    #[arg(long, value_name = "DURATION", value_parser = parse_lifetime, conflicts_with = "expires_at")]
    pub(crate) expires_in: Option<Duration>,
    /// Expiry as Unix time, in seconds
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = parse_unix_expiry)]
    pub(crate) expires_at: Option<SystemTime>,
    /// A rate limit of its own, REQUESTS/PERIOD: 100/10s is a burst of 100, then one more
    /// every 100 ms (also 5000/1h, 10/s) [default: none, or the application's default for
    /// its kind]
    #[arg(long, value_name = "REQUESTS/PERIOD", value_parser = parse_rate_limit)]
    pub(crate) rate_limit: Option<RateLimit>,
    /// Credits: how many uses it starts with (a route may cost more than one); 0 only with
    /// --refill [default: unmetered]
    #[arg(long, value_name = "N")]
    pub(crate) credits: Option<u64>,
    /// Refill the credits, AMOUNT/PERIOD: 1000/30d sets the balance back to 1000 every 30
    /// days from the issue (unused credits do not carry over)
    #[arg(long, value_name = "AMOUNT/PERIOD", value_parser = parse_refill, requires = "credits")]
    pub(crate) refill: Option<(u64, Duration)>,
    /// Bind it to a key (DPoP, RFC 9449): the RFC 7638 SHA-256 thumbprint of the holder's
    /// public JWK, 43 base64url characters; it is then accepted only with a DPoP proof signed
    /// by that key [default: a bearer token]
    #[arg(long, value_name = "THUMBPRINT", value_parser = parse_thumbprint)]
    pub(crate) dpop_jkt: Option<String>,
}

/// `list`'s arguments.
#[derive(Args)]
pub(crate) struct ListArgs {
    /// Only this subject's tokens
    #[arg(long)]
    pub(crate) subject: Option<String>,
    /// Only this organization's tokens
    #[arg(long)]
    pub(crate) organization: Option<String>,
    /// At most this many tokens [default: 100]
    #[arg(long, value_name = "N", conflicts_with = "all", value_parser = at_least_one())]
    pub(crate) limit: Option<u64>,
    /// Every token, however many
    #[arg(long)]
    pub(crate) all: bool,
}

/// `audit`'s arguments.
#[derive(Args)]
pub(crate) struct AuditArgs {
    /// Only events about this token
    #[arg(long, value_name = "ID")]
    pub(crate) token: Option<String>,
    /// Only events of this type: token.issued, token.rotated, token.revoked, token.deleted,
    /// token.purged, token.leaked, request.authenticated or request.rejected
    #[arg(long, value_name = "EVENT", value_parser = parse_event)]
    pub(crate) event: Option<tower_bearer::manage::audit::AuditKind>,
    /// Only events after this position (the first column of the output; `seq` in JSON)
    #[arg(long, value_name = "SEQ")]
    pub(crate) after: Option<u64>,
    /// At most this many events [default: all]
    #[arg(long, value_name = "N", conflicts_with = "follow", value_parser = at_least_one())]
    pub(crate) limit: Option<u64>,
    /// Keep printing new events as they are written (polled every second) until Ctrl-C
    #[arg(long, short)]
    pub(crate) follow: bool,
}

/// `usage`'s arguments.
#[derive(Args)]
pub(crate) struct UsageArgs {
    /// Only this token (tid_…) [default: every token with requests]
    #[arg(value_name = "TOKEN_ID")]
    pub(crate) token: Option<String>,
    /// How many days back, today included
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = at_least_one())]
    pub(crate) days: u64,
    /// The sparkline's buckets: minute, hour or day
    #[arg(long, value_name = "WIDTH", default_value = "day", value_parser = parse_granularity)]
    pub(crate) granularity: Granularity,
}

/// A count of one or more.
fn at_least_one() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..)
}

/// A token's lifetime: a duration that ends, counted from now.
fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let lifetime = parse_duration(text)?;
    if lifetime.is_zero() {
        return Err("a lifetime must be longer than 0s".to_owned());
    }
    if SystemTime::now().checked_add(lifetime).is_none() {
        return Err("too long".to_owned());
    }
    Ok(lifetime)
}

/// An expiry in Unix seconds, still ahead.
fn parse_unix_expiry(text: &str) -> Result<SystemTime, String> {
    let seconds: u64 =
        text.parse().map_err(|_| "expected Unix time in seconds, such as 1767225600".to_owned())?;
    let at =
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds)).ok_or_else(|| "too far ahead".to_owned())?;
    if at <= SystemTime::now() {
        return Err("in the past".to_owned());
    }
    Ok(at)
}

fn parse_scope(scope: &str) -> Result<String, String> {
    if Scopes::is_valid(scope) {
        Ok(scope.to_owned())
    } else {
        Err("a scope is printable ASCII without spaces, '\"' or '\\'".to_owned())
    }
}

/// `--dpop-jkt`: checked here, since a thumbprint of another shape could never match a
/// proof's key and would make a token nobody can use.
fn parse_thumbprint(jkt: &str) -> Result<String, String> {
    if jkt.len() == 43 && jkt.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
        Ok(jkt.to_owned())
    } else {
        Err("expected an RFC 7638 SHA-256 thumbprint: 43 base64url characters (A-Z, a-z, 0-9, '-', '_'), \
             no padding"
            .to_owned())
    }
}

/// `--granularity`'s values.
fn parse_granularity(name: &str) -> Result<Granularity, String> {
    Granularity::from_name(name).ok_or_else(|| "expected minute, hour or day".to_owned())
}

fn parse_event(name: &str) -> Result<tower_bearer::manage::audit::AuditKind, String> {
    name.parse().map_err(|_| {
        "expected token.issued, token.rotated, token.revoked, token.deleted, token.purged, \
         token.leaked, request.authenticated or request.rejected"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn expiries_must_be_ahead() {
        assert_eq!(parse_lifetime("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_lifetime("0s").is_err());
        assert!(parse_lifetime(&format!("{}s", u64::MAX)).is_err());
        assert!(parse_unix_expiry("4102444800").is_ok());
        for bad in ["1", "-1", "soon", "", &u64::MAX.to_string()] {
            assert!(parse_unix_expiry(bad).is_err(), "{bad}");
        }
    }
}
