//! [`TokenRow`]: a row of the tokens table, and the conversions between it and the core's
//! types (microseconds since the epoch in the database, `SystemTime` outside).

use sqlx::{ColumnIndex, Decode, Row, Type};
use std::time::SystemTime;

use tower_bearer::manage::LifecycleEvent;
use tower_bearer::manage::audit::AuditEvent;
use tower_bearer::{Grant, ManageError, NewToken, Principal, Scopes, StoreError, TokenId, TokenInfo};

use crate::dialect::Dialect;
use crate::metering::Metering;
use crate::micros::{micros, time};
use crate::revocations::RevocationRow;

/// How a lifecycle change is audited in its own transaction: the event the change makes of the
/// token row it changed (the new one, for a rotation), recorded at `at`. Passed as `None` when
/// the store does not record lifecycle events
/// ([`audit_lifecycle`](crate::SqlTokenStoreBuilder::audit_lifecycle)).
#[derive(Clone, Copy)]
pub(crate) struct LifecycleAudit<'a> {
    pub(crate) event_of: &'a (dyn Fn(&TokenRow) -> LifecycleEvent + Sync),
    pub(crate) at: SystemTime,
}

impl LifecycleAudit<'_> {
    /// The audit events of the change that made `row`.
    pub(crate) fn events(&self, row: &TokenRow) -> Vec<AuditEvent> {
        AuditEvent::of_lifecycle(&(self.event_of)(row), self.at)
    }
}

/// A page of live tokens to read: filters, the position after which to start (creation
/// microseconds and id), and how many rows (one more than the page, to tell whether more
/// follow).
pub(crate) struct PageQuery<'a> {
    pub(crate) subject: Option<&'a str>,
    /// The organization to match (`None`: any), and whether it must be NULL.
    pub(crate) organization: (Option<&'a str>, bool),
    pub(crate) after: Option<(i64, &'a str)>,
    pub(crate) limit: i64,
}

/// A row of the tokens table, without the digest. Times are microseconds since the epoch.
#[derive(Clone, Debug)]
pub(crate) struct TokenRow {
    pub(crate) id: String,
    pub(crate) hint: Option<String>,
    pub(crate) subject: String,
    pub(crate) organization: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) scopes: Vec<String>,
    /// The resources the token is meant for (RFC 8707).
    pub(crate) audience: Vec<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
    /// The successor of a token rotated with a grace period.
    pub(crate) replaced_by: Option<String>,
    /// Rate limit and credits.
    pub(crate) metering: Metering,
    /// The thumbprint of the key the token is bound to (DPoP), if any.
    pub(crate) confirmation: Option<String>,
}

impl TokenRow {
    /// The row for a new token: the one place a grant becomes columns.
    pub(crate) fn new(id: &TokenId, new: &NewToken, hint: String, now: i64) -> Self {
        let g = new.grant();
        TokenRow {
            id: id.as_str().to_owned(),
            hint: Some(hint),
            subject: g.subject().to_owned(),
            organization: g.organization().map(str::to_owned),
            name: new.token_name().map(str::to_owned),
            kind: g.kind().map(str::to_owned),
            scopes: g.scopes().iter().map(str::to_owned).collect(),
            audience: g.audience().map(str::to_owned).collect(),
            created_at: now,
            expires_at: g.expires_at().map(micros),
            last_used_at: None,
            revoked_at: None,
            replaced_by: None,
            metering: Metering::of(g, now),
            confirmation: g.confirmation().map(str::to_owned),
        }
    }

    /// Reads the token columns of [`Statements`](crate::statements::Statements) from `r`.
    pub(crate) fn read<DB: Dialect>(r: &DB::Row) -> Result<Self, sqlx::Error>
    where
        for<'a> &'a str: ColumnIndex<DB::Row>,
        for<'r> String: Decode<'r, DB> + Type<DB>,
        for<'r> i64: Decode<'r, DB> + Type<DB>,
    {
        Ok(TokenRow {
            id: r.try_get("id")?,
            hint: r.try_get("hint")?,
            subject: r.try_get("subject")?,
            organization: r.try_get("organization")?,
            name: r.try_get("name")?,
            kind: r.try_get("kind")?,
            scopes: DB::read_list(r, "scopes")?,
            audience: DB::read_list(r, "audience")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            last_used_at: r.try_get("last_used_at")?,
            revoked_at: r.try_get("revoked_at")?,
            replaced_by: r.try_get("replaced_by")?,
            metering: Metering::read(r)?,
            confirmation: r.try_get("confirmation")?,
        })
    }

    /// The grant of the row: the one place columns become a grant.
    pub(crate) fn grant(&self) -> Grant {
        let mut g = Grant::new(self.subject.clone())
            .with_scopes(self.scopes.iter().map(String::as_str).collect::<Scopes>())
            .with_expiry(self.expires_at.map(time));
        if let Some(o) = &self.organization {
            g = g.with_organization(o.clone());
        }
        if let Some(k) = &self.kind {
            g = g.with_kind(k.clone());
        }
        if let Some(limit) = self.metering.rate_limit() {
            g = g.with_rate_limit(limit);
        }
        if let Some(credits) = self.metering.credits() {
            g = g.with_credits(credits);
        }
        if !self.audience.is_empty() {
            g = g.with_audience(self.audience.iter().cloned());
        }
        if let Some(jkt) = &self.confirmation {
            g = g.with_confirmation(jkt.clone());
        }
        g
    }

    /// The row of the token that replaces this one: same owner, name, kind, scopes, key
    /// binding and lifetime length, counted from `now`, but not past `not_after`.
    pub(crate) fn successor(&self, id: &TokenId, hint: String, now: i64, not_after: Option<i64>) -> Self {
        let renewed = self.expires_at.map(|at| now.saturating_add(at.saturating_sub(self.created_at).max(0)));
        let expires_at = match (renewed, not_after) {
            (Some(at), Some(limit)) => Some(at.min(limit)),
            (at, limit) => at.or(limit),
        };
        TokenRow {
            id: id.as_str().to_owned(),
            hint: Some(hint),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            replaced_by: None,
            metering: self.metering.successor(),
            ..self.clone()
        }
    }

    /// The revocation of this token, refused from `refused_from` (replaced by `replaced_by`):
    /// none for a token without an expiry, which no verifier needs to deny (its store's lookup
    /// refuses it) and which would otherwise be kept forever.
    pub(crate) fn revocation(&self, refused_from: i64, replaced_by: Option<&str>) -> Option<RevocationRow> {
        Some(RevocationRow {
            id: self.id.clone(),
            refused_from,
            kept_until: self.expires_at?,
            replaced_by: replaced_by.map(str::to_owned),
        })
    }

    pub(crate) fn principal(&self) -> Principal {
        let mut b = Principal::for_grant(self.grant()).token_id(self.id.as_str());
        if let Some(n) = &self.name {
            b = b.token_name(n.clone());
        }
        if let Some(successor) = &self.replaced_by {
            b = b.replaced_by(successor.as_str());
        }
        b.build()
    }

    pub(crate) fn info(&self) -> TokenInfo {
        let mut info =
            TokenInfo::new(TokenId::from(self.id.as_str()), self.principal(), time(self.created_at))
                .with_last_used_at(self.last_used_at.map(time))
                .with_credits(self.metering.balance());
        info.hint.clone_from(&self.hint);
        info
    }
}

/// What a rotation writes: the successor (digest, id, hint, latest expiry) and the old token's
/// fate (revoked at `now`, or replaced and expiring at `grace_until`).
pub(crate) struct Rotation<'a> {
    pub(crate) now: i64,
    pub(crate) grace_until: Option<i64>,
    pub(crate) not_after: Option<i64>,
    pub(crate) new_hash: &'a [u8; 32],
    pub(crate) new_id: &'a TokenId,
    pub(crate) hint: String,
}

/// What a backend's rotation did.
pub(crate) enum Rotated {
    /// No live token has the id.
    NotFound,
    /// The new digest or id is taken (never in practice): draw again.
    Conflict,
    /// Committed: the new token's row.
    Done(Box<TokenRow>),
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

pub(crate) fn store_error(e: sqlx::Error) -> ManageError {
    ManageError::Store(StoreError::unavailable(e))
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn a_successor_keeps_the_lifetime_length() {
        let id = TokenId::from("tid_a");
        let new = NewToken::for_subject("s").name("n").scopes(["a", "b"]).expires_at(time(5_000_000));
        let old = TokenRow::new(&id, &new, "tok_…abcd".into(), 1_000_000);
        let next = old.successor(&TokenId::from("tid_b"), "tok_…wxyz".into(), 10_000_000, None);
        assert_eq!(next.expires_at, Some(14_000_000));
        assert_eq!(
            (next.id.as_str(), next.subject.as_str(), next.name.as_deref()),
            ("tid_b", "s", Some("n"))
        );
        assert_eq!(next.scopes, ["a", "b"]);
        let forever = TokenRow::new(&id, &NewToken::for_subject("s"), String::new(), 0);
        assert_eq!(forever.successor(&id, String::new(), 9, None).expires_at, None);
        assert_eq!(
            next.successor(&id, String::new(), 20_000_000, Some(21_000_000)).expires_at,
            Some(21_000_000)
        );
    }

    #[test]
    fn a_row_keeps_every_attribute_of_a_grant_and_a_successor_keeps_the_key_binding() {
        let grant = Grant::every_attribute_example();
        let row =
            TokenRow::new(&TokenId::from("tid_a"), &NewToken::for_grant(grant.clone()), String::new(), 0);
        assert_eq!(row.grant(), grant);
        let next = row.successor(&TokenId::from("tid_b"), String::new(), 1, None);
        assert_eq!(next.grant().confirmation(), grant.confirmation());
        let unbound = TokenRow::new(&TokenId::from("tid_c"), &NewToken::for_subject("s"), String::new(), 0);
        assert_eq!(unbound.grant().confirmation(), None);
    }
}
