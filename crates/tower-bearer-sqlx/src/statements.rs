//! [`Statements`]: every statement the store runs, written once and built for its
//! [`Dialect`] and tables when the store opens.

use crate::dialect::Dialect;
use crate::metering::METERING_COLUMNS;

/// The audit table's columns, in the order `audit::bind_event` binds them.
pub(crate) const AUDIT_COLUMNS: &str =
    "at_us, kind, token_id, subject, organization, method, path, status, reason";

/// The usage counters table's columns, in the order `usage_log.rs` binds them.
pub(crate) const USAGE_COLUMNS: &str =
    "granularity, bucket_us, token_id, outcome, organization, subject, count";

/// The token id column of usage counts of tokens the store did not know (ids are never empty).
pub(crate) const UNKNOWN_TOKEN: &str = "";

/// The OAuth clients table's columns, in the order `queries.rs` binds them.
const CLIENT_COLUMNS: &str = "client_id, subject, allowed_scopes, access_token_ttl_us, secret_hash, \
    previous_secret_hash, previous_until_us, jwks, jwks_uri";

/// The statements of one store; `$n` below stands for the dialect's parameter `n`.
pub(crate) struct Statements {
    pub(crate) lookup: String,
    pub(crate) page: String,
    pub(crate) insert: String,
    pub(crate) get: String,
    pub(crate) list: String,
    /// The live token `$1` with its digest, locked until the transaction ends.
    pub(crate) lock_live: String,
    pub(crate) revoke: String,
    /// Revokes `$1`, already locked and known live.
    pub(crate) revoke_locked: String,
    /// Lets `$1` expire at `$2` at the latest, replaced by `$3`.
    pub(crate) shorten: String,
    pub(crate) delete: String,
    pub(crate) purge: String,
    pub(crate) record_usage: String,
    pub(crate) touch: String,
    pub(crate) credits: String,
    /// Writes `$2`..`$4` over token `$1`'s bookkeeping if it still is `$5`..`$7`.
    pub(crate) take_credits: String,
    pub(crate) return_credits: String,
    /// Records that holder `$2` took `$3` more credits of token `$1` in the period starting at
    /// `$4`, until `$5` (a lease of an earlier period is replaced).
    pub(crate) hold_lease: String,
    /// Moves the deadline of holder `$2`'s lease of token `$1` in period `$3` to `$4`.
    pub(crate) renew_lease: String,
    /// Removes holder `$2`'s lease of token `$1`, returning what it took and when.
    pub(crate) drop_lease: String,
    /// Removes token `$1`'s leases whose deadline is `$2` or before, returning what they took
    /// and when.
    pub(crate) expired_leases: String,
    /// Takes `$2` credits out of token `$1`'s leased count if its period still starts at `$3`
    /// (a reclaimed lease: spent).
    pub(crate) forget_leased: String,
    /// Records a revocation (`$1` id, `$2` refused from, `$3` kept until, `$4` replaced by);
    /// one already there keeps the earliest refusal and the latest expiry (a token revoked
    /// during a rotation's grace is refused from the revocation, and kept until its original
    /// expiry, which the rotation shortened in the tokens table). Returns the merged row.
    pub(crate) record_revocation: String,
    /// The revocations kept beyond `$1`.
    pub(crate) revocations_in_effect: String,
    /// Drops the revocations kept until `$1` or before.
    pub(crate) purge_revocations: String,
    /// The head of [`append_audit`](Self::append_audit).
    audit_insert: String,
    /// A page of the audit log (`audit::AuditFilter`): after position `$1`, filters that are
    /// `NULL` match everything, `$7` keeps rows without an organization only, at most `$6`.
    pub(crate) audit_page: String,
    pub(crate) purge_audit: String,
    /// Sets marker `$1` (at `$2`) unless it is set.
    pub(crate) set_marker: String,
    /// Records single-use id `$1` as used until `$2`, unless it is there and still used at
    /// `$3`: one row changed on a first use (a new id, or one whose use expired), none on a
    /// replay.
    pub(crate) use_once: String,
    /// Drops the single-use ids whose use expired at `$1` or before.
    pub(crate) purge_replay_ids: String,
    /// Drops at most `$2` of the single-use ids whose use expired at `$1` or before.
    pub(crate) purge_replay_batch: String,
    /// The head of [`add_usage`](Self::add_usage).
    usage_insert: String,
    /// The tail of [`add_usage`](Self::add_usage): a counter already there adds the count.
    usage_upsert: String,
    /// Usage counts of `$1` granularity, from bucket `$2` to `$3` (exclusive), `$4` token id,
    /// `$5` subject, `$6` organization (`NULL`: any), `$7` without an organization only, `$8`
    /// known tokens only.
    pub(crate) usage_read: String,
    /// Drops `$1` granularity's usage counters of buckets before `$2`.
    pub(crate) purge_usage: String,
    /// Inserts a client (`$1`..`$9`, in `CLIENT_COLUMNS` order), or replaces the one with its id.
    pub(crate) put_client: String,
    pub(crate) get_client: String,
    /// Writes `$2`..`$4` over client `$1`'s secrets if its current one still is `$5` (both
    /// may be NULL: a client without a secret).
    pub(crate) swap_client_secrets: String,
    pub(crate) remove_client: String,
}

impl Statements {
    /// The statements on the tables named `{prefix}tokens`, `{prefix}revocations`, … .
    pub(crate) fn new<DB: Dialect>(prefix: &str) -> Self {
        let p = DB::param;
        let ts = DB::time_param;
        let (least, greatest, id) = (DB::LEAST, DB::GREATEST, DB::ID_BY_BYTES);
        let t = format!("{prefix}tokens");
        let columns = format!(
            "id, hint, subject, organization, name, kind, scopes, audience, {}, {}, {}, {}, replaced_by, \
             {METERING_COLUMNS}, confirmation",
            DB::time_column("created_at"),
            DB::time_column("expires_at"),
            DB::time_column("last_used_at"),
            DB::time_column("revoked_at"),
        );
        let revocations = format!("{prefix}revocations");
        let audit = format!("{prefix}audit");
        let clients = format!("{prefix}oauth_clients");
        let leases = format!("{prefix}credit_leases");
        let replay = format!("{prefix}replay_ids");
        let usage = format!("{prefix}usage_counts");
        Statements {
            lookup: format!("SELECT {columns} FROM {t} WHERE token_hash = {}", p(1)),
            page: format!(
                "SELECT {columns} FROM {t} WHERE revoked_at IS NULL \
                 AND {} AND {} AND {} \
                 AND ({} IS NULL OR (created_at, {id}) > ({}, {})) \
                 ORDER BY created_at, {id} LIMIT {}",
                equals_if_set::<DB>(1, "subject"),
                equals_if_set::<DB>(2, "organization"),
                untenanted_if::<DB>(6),
                DB::typed_param(3, "FLOAT8"),
                ts(3),
                p(4),
                p(5),
            ),
            insert: format!(
                "INSERT INTO {t} (id, token_hash, hint, subject, organization, name, kind, scopes, audience, \
                 created_at, expires_at, {METERING_COLUMNS}, confirmation) VALUES ({})",
                (1..=21)
                    .map(|n| if n == 10 || n == 11 { ts(n) } else { p(n) })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            get: format!("SELECT {columns} FROM {t} WHERE id = {} AND revoked_at IS NULL", p(1)),
            list: format!(
                "SELECT {columns} FROM {t} WHERE subject = {} AND revoked_at IS NULL ORDER BY created_at, {id}",
                p(1)
            ),
            lock_live: format!(
                "SELECT token_hash, {columns} FROM {t} WHERE id = {} AND revoked_at IS NULL{}",
                p(1),
                DB::LOCK_ROW
            ),
            revoke: format!(
                "UPDATE {t} SET revoked_at = {} WHERE id = {} AND revoked_at IS NULL \
                 RETURNING token_hash, {columns}",
                ts(2),
                p(1)
            ),
            revoke_locked: format!("UPDATE {t} SET revoked_at = {} WHERE id = {}", ts(2), p(1)),
            shorten: format!(
                "UPDATE {t} SET expires_at = {least}(coalesce(expires_at, {until}), {until}), replaced_by = {} \
                 WHERE id = {}",
                p(3),
                p(1),
                until = ts(2)
            ),
            delete: format!(
                "DELETE FROM {t} WHERE id = {} AND revoked_at IS NULL RETURNING token_hash, {columns}",
                p(1)
            ),
            purge: format!("DELETE FROM {t} WHERE expires_at <= {} RETURNING {columns}", ts(1)),
            record_usage: format!(
                "UPDATE {t} SET last_used_at = {greatest}(coalesce(last_used_at, {at}), {at}) \
                 WHERE id = {} AND revoked_at IS NULL",
                p(1),
                at = ts(2)
            ),
            touch: format!(
                "UPDATE {t} SET last_used_at = {greatest}(coalesce(last_used_at, {at}), {at}) \
                 WHERE token_hash = {} AND revoked_at IS NULL",
                p(1),
                at = ts(2)
            ),
            credits: format!(
                "SELECT credits_remaining, credits_leased, credits_period_start FROM {t} \
                 WHERE id = {} AND credits_remaining IS NOT NULL",
                p(1)
            ),
            take_credits: format!(
                "UPDATE {t} SET credits_remaining = {}, credits_leased = {}, credits_period_start = {}, \
                 credits_allowance = CASE WHEN credits_period_start = {} THEN credits_allowance \
                 ELSE credits_refill_amount END \
                 WHERE id = {} AND credits_remaining = {} AND credits_leased = {} AND credits_period_start = {}",
                p(2),
                p(3),
                p(4),
                p(4),
                p(1),
                p(5),
                p(6),
                p(7)
            ),
            return_credits: format!(
                "UPDATE {t} SET credits_remaining = credits_remaining + {}, \
                 credits_leased = {greatest}(credits_leased - {}, 0) WHERE id = {} AND credits_period_start = {}",
                p(2),
                p(3),
                p(1),
                p(4)
            ),
            hold_lease: format!(
                "INSERT INTO {leases} (token_id, holder, taken, period_start, expires_at_us) \
                 VALUES ({}, {}, {}, {}, {}) ON CONFLICT (token_id, holder) DO UPDATE SET \
                 taken = CASE WHEN {leases}.period_start = excluded.period_start \
                 THEN {leases}.taken + excluded.taken ELSE excluded.taken END, \
                 period_start = excluded.period_start, expires_at_us = excluded.expires_at_us",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5)
            ),
            renew_lease: format!(
                "UPDATE {leases} SET expires_at_us = {} WHERE token_id = {} AND holder = {} AND period_start = {}",
                p(4),
                p(1),
                p(2),
                p(3)
            ),
            drop_lease: format!(
                "DELETE FROM {leases} WHERE token_id = {} AND holder = {} RETURNING taken, period_start",
                p(1),
                p(2)
            ),
            expired_leases: format!(
                "DELETE FROM {leases} WHERE token_id = {} AND expires_at_us <= {} RETURNING taken, period_start",
                p(1),
                p(2)
            ),
            forget_leased: format!(
                "UPDATE {t} SET credits_leased = {greatest}(credits_leased - {}, 0) \
                 WHERE id = {} AND credits_period_start = {}",
                p(2),
                p(1),
                p(3)
            ),
            record_revocation: format!(
                "INSERT INTO {revocations} (id, refused_from_us, kept_until_us, replaced_by) \
                 VALUES ({}, {}, {}, {}) ON CONFLICT (id) DO UPDATE SET \
                 refused_from_us = {least}({revocations}.refused_from_us, excluded.refused_from_us), \
                 kept_until_us = {greatest}({revocations}.kept_until_us, excluded.kept_until_us), \
                 replaced_by = coalesce({revocations}.replaced_by, excluded.replaced_by) \
                 RETURNING id, refused_from_us, kept_until_us, replaced_by",
                p(1),
                p(2),
                p(3),
                p(4)
            ),
            revocations_in_effect: format!(
                "SELECT id, refused_from_us, kept_until_us, replaced_by FROM {revocations} \
                 WHERE kept_until_us > {}",
                p(1)
            ),
            purge_revocations: format!("DELETE FROM {revocations} WHERE kept_until_us <= {}", p(1)),
            audit_insert: format!("INSERT INTO {audit} ({AUDIT_COLUMNS}) VALUES "),
            audit_page: format!(
                "SELECT seq, {AUDIT_COLUMNS} FROM {audit} WHERE seq > {}{} \
                 AND {} AND {} AND {} AND {} AND {} ORDER BY seq LIMIT {}",
                p(1),
                DB::AUDIT_COMMITTED_IN_ORDER,
                equals_if_set::<DB>(2, "token_id"),
                equals_if_set::<DB>(3, "kind"),
                equals_if_set::<DB>(4, "subject"),
                equals_if_set::<DB>(5, "organization"),
                untenanted_if::<DB>(7),
                p(6)
            ),
            purge_audit: format!("DELETE FROM {audit} WHERE at_us < {}", p(1)),
            set_marker: format!(
                "INSERT INTO {prefix}markers (name, set_at_us) VALUES ({}, {}) ON CONFLICT (name) DO NOTHING",
                p(1),
                p(2)
            ),
            // One statement, so that two instances seeing one id at once cannot both insert it:
            // the database's uniqueness check decides, and the loser's update finds it live.
            use_once: format!(
                "INSERT INTO {replay} (id, expires_at_us) VALUES ({}, {}) ON CONFLICT (id) DO UPDATE \
                 SET expires_at_us = excluded.expires_at_us WHERE {replay}.expires_at_us <= {}",
                p(1),
                p(2),
                p(3)
            ),
            purge_replay_ids: format!("DELETE FROM {replay} WHERE expires_at_us <= {}", p(1)),
            purge_replay_batch: format!(
                "DELETE FROM {replay} WHERE id IN (SELECT id FROM {replay} WHERE expires_at_us <= {} LIMIT {})",
                p(1),
                p(2)
            ),
            put_client: format!(
                "INSERT INTO {clients} ({CLIENT_COLUMNS}) VALUES ({}) \
                 ON CONFLICT (client_id) DO UPDATE SET subject = excluded.subject, \
                 allowed_scopes = excluded.allowed_scopes, access_token_ttl_us = excluded.access_token_ttl_us, \
                 secret_hash = excluded.secret_hash, previous_secret_hash = excluded.previous_secret_hash, \
                 previous_until_us = excluded.previous_until_us, jwks = excluded.jwks, \
                 jwks_uri = excluded.jwks_uri",
                (1..=9).map(p).collect::<Vec<_>>().join(", ")
            ),
            get_client: format!("SELECT {CLIENT_COLUMNS} FROM {clients} WHERE client_id = {}", p(1)),
            swap_client_secrets: format!(
                "UPDATE {clients} SET secret_hash = {}, previous_secret_hash = {}, previous_until_us = {} \
                 WHERE client_id = {} AND (secret_hash = {} OR (secret_hash IS NULL AND {} IS NULL))",
                p(2),
                p(3),
                p(4),
                p(1),
                p(5),
                DB::typed_param(5, "BYTEA")
            ),
            remove_client: format!("DELETE FROM {clients} WHERE client_id = {}", p(1)),
            usage_insert: format!("INSERT INTO {usage} ({USAGE_COLUMNS}) VALUES "),
            usage_upsert: format!(
                " ON CONFLICT (granularity, bucket_us, token_id, outcome) \
                 DO UPDATE SET count = {usage}.count + excluded.count"
            ),
            usage_read: format!(
                "SELECT {USAGE_COLUMNS} FROM {usage} \
                 WHERE granularity = {} AND bucket_us >= {} AND bucket_us < {} \
                 AND {} AND {} AND {} AND {} \
                 AND (NOT {} OR token_id <> '{UNKNOWN_TOKEN}')",
                p(1),
                p(2),
                p(3),
                equals_if_set::<DB>(4, "token_id"),
                equals_if_set::<DB>(5, "subject"),
                equals_if_set::<DB>(6, "organization"),
                untenanted_if::<DB>(7),
                DB::typed_param(8, "BOOLEAN"),
            ),
            purge_usage: format!("DELETE FROM {usage} WHERE granularity = {} AND bucket_us < {}", p(1), p(2)),
        }
    }

    /// The multi-row `INSERT` of `rows` audit events, their columns bound in order.
    pub(crate) fn append_audit<DB: Dialect>(&self, rows: usize) -> String {
        format!("{}{}", self.audit_insert, values::<DB>(rows, AUDIT_COLUMNS))
    }

    /// The multi-row upsert of `rows` usage counters, their columns bound in order
    /// ([`USAGE_COLUMNS`]): each adds its count to the counter there.
    pub(crate) fn add_usage<DB: Dialect>(&self, rows: usize) -> String {
        format!("{}{}{}", self.usage_insert, values::<DB>(rows, USAGE_COLUMNS), self.usage_upsert)
    }
}

/// An optional filter of a listing: `column` equal to text parameter `n`, or any value while
/// `n` is NULL. The parameter is typed and bound by the same number, so the two cannot drift.
fn equals_if_set<DB: Dialect>(n: usize, column: &str) -> String {
    format!("({} IS NULL OR {column} = {})", DB::typed_param(n, "TEXT"), DB::param(n))
}

/// The tenant filter's "tokens without an organization": only those while boolean parameter
/// `n` is true.
fn untenanted_if<DB: Dialect>(n: usize) -> String {
    format!("(NOT {} OR organization IS NULL)", DB::typed_param(n, "BOOLEAN"))
}

/// The `VALUES` rows of a multi-row `INSERT` of `rows` rows of `columns`, parameters numbered
/// row after row.
fn values<DB: Dialect>(rows: usize, columns: &str) -> String {
    let columns = columns.split(", ").count();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=columns).map(|column| DB::param(row * columns + column)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    values.join(", ")
}
