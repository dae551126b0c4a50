//! [`AuditLog`]: where audit events are kept, read a page at a time, and dropped after their
//! retention.

use std::future::Future;
use std::time::SystemTime;

use super::event::{AuditEvent, AuditKind};
use crate::grant::{Grant, MintRules};
use crate::manage::query::{Page, TenantFilter, narrow, page_size};
use crate::store::error::StoreError;
use crate::token::id::TokenId;

/// An audit event as kept: its place in the log (increasing, never reused) and the event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The position in the log: later events have larger numbers.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
}

impl AuditRecord {
    /// The event at `seq`.
    #[must_use]
    pub fn new(seq: u64, event: AuditEvent) -> Self {
        AuditRecord { seq, event }
    }
}

/// Which audit events a read returns: filters (all must match), oldest first, `limit` at a
/// time, after a position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Only events about this token.
    pub token_id: Option<TokenId>,
    /// Only events of this kind.
    pub kind: Option<AuditKind>,
    /// Only events about this subject's tokens.
    pub subject: Option<String>,
    /// Only events about this tenant's tokens.
    pub organization: TenantFilter,
    /// At most this many (1 to 1000; 0: 100).
    pub limit: usize,
    /// After this position ([`Page::next`](crate::manage::Page::next)).
    pub after: Option<u64>,
}

impl AuditQuery {
    /// Every event, 100 at a time.
    #[must_use]
    pub fn new() -> Self {
        AuditQuery::default()
    }

    /// Only events about token `id`.
    #[must_use]
    pub fn token_id(mut self, id: TokenId) -> Self {
        self.token_id = Some(id);
        self
    }

    /// Only events of `kind`.
    #[must_use]
    pub fn kind(mut self, kind: AuditKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Only events about `subject`'s tokens.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Only events about `organization`'s tokens.
    #[must_use]
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = TenantFilter::Organization(organization.into());
        self
    }

    /// This query narrowed to what `actor` may see under `rules`: its own tenant exactly (a
    /// token without an organization sees only events without one), and only its own subject
    /// unless it holds the admin scope.
    #[must_use]
    pub fn within(mut self, rules: &MintRules, actor: &Grant) -> Self {
        narrow(rules.visibility(actor), &mut self.organization, &mut self.subject);
        self
    }

    /// At most `limit` events.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The page after position `seq`.
    #[must_use]
    pub fn after(mut self, seq: u64) -> Self {
        self.after = Some(seq);
        self
    }

    /// The page size a log applies.
    #[must_use]
    pub fn page_size(&self) -> usize {
        page_size(self.limit)
    }

    /// Whether `record` passes the filters and comes after the position.
    #[must_use]
    pub fn admits(&self, record: &AuditRecord) -> bool {
        let e = &record.event;
        self.after.is_none_or(|after| record.seq > after)
            && self.token_id.as_ref().is_none_or(|id| e.token_id.as_ref() == Some(id))
            && self.kind.is_none_or(|k| e.kind == k)
            && self.subject.as_deref().is_none_or(|s| e.subject.as_deref() == Some(s))
            && self.organization.admits(e.organization.as_deref())
    }
}

/// Where audit events are kept: the memory store's bounded ring
/// (the [`MemoryTokenStore`](crate::MemoryTokenStore)'s), an append-only table in the SQL store's
/// database. Events reach it in batches, off the request path (`AuditWriter` of
/// `tower-bearer-manage`).
pub trait AuditLog: Send + Sync + 'static {
    /// Appends `events`, in order.
    fn append(&self, events: Vec<AuditEvent>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A page of the events `query` selects.
    fn audit_page(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Page<AuditRecord, u64>, StoreError>> + Send;

    /// Drops the events that happened before `before` (retention). Returns how many.
    fn purge_audit(&self, before: SystemTime) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
