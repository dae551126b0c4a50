//! `tower-bearer`: the operator's command line for [tower-bearer] tokens kept by
//! `tower-bearer-sqlx` in SQLite or PostgreSQL. Revoke a leaked key, rotate one, issue the first
//! admin key, read the audit log: from a shell, without writing code.
//!
//! ```text
//! $ export TOWER_BEARER_DATABASE_URL='postgres://ops:…@db.internal/app'   # or sqlite://tokens.db
//! $ tower-bearer issue --subject ci --name "deploy key" --scope deploy:write --expires-in 90d
//! tok_…                                             (stdout: the secret, this once)
//! issued tid_… for subject ci; expires 2025-…Z. The secret above is shown this once.
//! $ tower-bearer issue --subject acme --scope search --rate-limit 100/10s \
//!     --credits 1000 --refill 1000/30d              (a metered key)
//! $ tower-bearer list --subject ci                  (metadata, never secrets)
//! $ tower-bearer show tid_…
//! $ tower-bearer rotate tid_… --grace 1h            (the new secret on stdout)
//! $ tower-bearer revoke tid_…                       (exit code 1 if no live token has this id)
//! $ tower-bearer delete tid_…
//! $ tower-bearer purge --audit-older-than 90d
//! $ tower-bearer audit --token tid_… --event token.revoked
//! $ tower-bearer audit --follow                     (until Ctrl-C)
//! $ tower-bearer usage --days 7                     (per key: totals and a sparkline)
//! ```
//!
//! `tower-bearer help <command>` lists every flag.
//!
//! # The database
//!
//! `--database <URL>`, or the environment variable `TOWER_BEARER_DATABASE_URL` (prefer it: other
//! users of the machine can read command lines): `sqlite://path/to/tokens.db` or
//! `postgres://user:password@host/database`, as `SqlTokenStore::open` takes them; over TLS
//! with `?sslmode=require` (or `?sslmode=verify-full&sslrootcert=ca.pem`, checking the server
//! against the system's roots or that CA), as managed PostgreSQL services ask. Opening
//! applies the store's migrations, as the application does. Only `issue` creates a SQLite file
//! that does not exist yet; any other command reports it missing (a mistyped path would
//! otherwise become an empty database, and `revoke` would find nothing to revoke). No message
//! ever shows the URL or its password.
//!
//! # Output
//!
//! Results go to stdout, notes for the person at the terminal to stderr (`--quiet` drops the
//! notes; errors and warnings stay). The secret of `issue` and `rotate` is printed once, alone
//! on its stdout line, and nowhere else: `KEY=$(tower-bearer issue --subject ci)` captures just
//! the secret, while the summary (id, subject, expiry) still reaches the terminal on stderr.
//!
//! `--json` prints one JSON object per line: a token's metadata (`id`, `name`, `kind`,
//! `subject`, `organization`, `scopes`, `hint`, `created_at`, `last_used_at`, `expires_at`,
//! `expired`, `replaced_by`, `audience`, `rate_limit` as `{"requests", "period_secs"}`,
//! `credits` as `{"initial", "refill": {"amount", "every_secs"}, "balance": {"remaining",
//! "leased", "spent", "allowance", "next_refill_at"}}`, and `dpop_jkt`, the thumbprint of the
//! key it is bound to) for `list` and `show`; `{"secret": …, "token": {…}}` for `issue`
//! (and `replaced`, `old_valid_until` for `rotate`); `{"id": …, "revoked": true}` and
//! `{"id": …, "deleted": true}`; `{"expired_tokens": n, "audit_events": n | null}` for `purge`;
//! one event per line for `audit` (`seq`, `at`, `event`, `token_id`, `subject`, `organization`,
//! `method`, `path`, `status`, `reason`); one key per line for `usage` (`token_id`,
//! `granularity`, `totals` and each of `buckets` (`start`, `counts`) with every outcome's
//! count by name). Times are RFC 3339 in UTC, to the second. Text
//! from the database is printed with control characters escaped.
//!
//! `list` prints at most `--limit` tokens (100 by default; a note says when more follow) or,
//! with `--all`, every one; expired tokens are listed, marked, until `purge` removes them.
//! `audit` prints events oldest first, from the start or `--after` a position (the first
//! column), at most `--limit`; `--follow` then keeps polling every second for new ones until
//! Ctrl-C.
//!
//! `usage [TOKEN_ID]` prints, per key with requests in the last `--days` (30 by default; the
//! key given is shown even without), its requests, how many were admitted, what refused the
//! others (`rate_limited 3, expired 1`), and a sparkline of its admitted requests per
//! `--granularity` bucket (`day` by default; `hour`, `minute`): `▁` for none up to `█` for the
//! key's busiest. Counts are those the application's usage counter has flushed.
//!
//! # Exit codes
//!
//! - `0`: done.
//! - `1`: no live token has the id given (`show`, `revoke`, `rotate`, `delete`), or the store
//!   refused the change.
//! - `2`: the command line is wrong: an unknown flag, a bad duration (`30d`, `12h`, `90m`,
//!   `3600s`, or combined: `1d12h`) or limit (`--rate-limit 100/10s`, `--refill 1000/30d`),
//!   a kind the store reserves (`--kind oauth_access`), no database URL, an unsupported URL.
//! - `3`: the database could not be opened or failed.
//!
//! # Metered keys
//!
//! `issue --rate-limit REQUESTS/PERIOD` gives the key a rate limit of its own (`100/10s`: a
//! burst of 100, then one more every 100 ms), applied by the application's `RateLimitLayer`;
//! `--credits N` a number of uses, spent by its `CreditsLayer`, and `--refill AMOUNT/PERIOD`
//! sets them back to `AMOUNT` every `PERIOD`. `list` shows them in its LIMITS column, `show`
//! and `--json` with the balance: `remaining` (what requests can still spend this period),
//! `leased` (taken by running instances in leases, not yet accounted for: part of it may be
//! spent) and `spent` (gone for good this period).
//!
//! `issue --dpop-jkt THUMBPRINT` binds the token to a client's key pair (DPoP, RFC 9449): the
//! application then accepts it only with a proof signed by that key. `list` shows the
//! thumbprint's start in its KEY column, `show` and `--json` all of it.
//!
//! # The audit log
//!
//! Every change a command makes (issued, rotated, revoked, deleted, purged tokens) is written
//! to the store's audit log as the application's own changes are, before the command exits.
//! Should that write fail, the change stands and a warning says so.
//!
//! [tower-bearer]: https://docs.rs/tower-bearer

#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod cli;
mod commands;
mod database;
mod duration;
mod escape;
mod failure;
mod limits;
mod notices;
mod output;
mod session;
mod timestamp;
mod usage;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::database::DatabaseUrl;
use crate::failure::{EXIT_NOT_DONE, EXIT_USAGE, Failure};
use crate::output::Printer;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are "errors" that exit 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE));
        }
    };
    let db = match DatabaseUrl::from_arg_or_env(cli.database) {
        Ok(db) => db,
        Err(usage) => return fail(&Failure::Usage(usage), None),
    };
    let format = match token_format(cli.token_prefix) {
        Ok(format) => format,
        Err(usage) => return fail(&Failure::Usage(usage), None),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: could not start: {e}");
            return ExitCode::from(EXIT_NOT_DONE);
        }
    };
    let mut out = Printer::new(cli.json, cli.quiet);
    match runtime.block_on(commands::run(cli.command, &db, format, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(&failure, Some(&db)),
    }
}

/// Reports `failure` on stderr (keeping `db` out of it) and gives its exit code.
fn fail(failure: &Failure, db: Option<&DatabaseUrl>) -> ExitCode {
    if let Some(message) = failure.message(db) {
        let _ = writeln!(io::stderr(), "error: {message}");
    }
    ExitCode::from(failure.exit_code())
}

/// The token format from `--token-prefix`, else `TOWER_BEARER_TOKEN_PREFIX`, else the
/// store's default; a prefix `TokenFormat` would refuse is a usage error, not a panic.
fn token_format(arg: Option<String>) -> Result<Option<tower_bearer::TokenFormat>, String> {
    let Some(prefix) = arg.or_else(|| std::env::var("TOWER_BEARER_TOKEN_PREFIX").ok()) else {
        return Ok(None);
    };
    let valid =
        (1..=32).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err("the token prefix must be 1 to 32 ASCII letters, digits or `_`".to_owned());
    }
    Ok(Some(tower_bearer::TokenFormat::new(prefix)))
}
