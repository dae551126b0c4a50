//! [`AuditRing`]: the memory store's audit log, a bounded ring of the latest events.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, ready};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::event::AuditEvent;
use super::log::{AuditLog, AuditQuery, AuditRecord};
use crate::manage::query::Page;
use crate::store::error::StoreError;

/// The audit log in memory: the latest `capacity` events, the oldest dropped first (the
/// [`MemoryTokenStore`](crate::MemoryTokenStore)'s [`AuditLog`]).
pub(crate) struct AuditRing {
    inner: Mutex<Ring>,
}

struct Ring {
    records: VecDeque<AuditRecord>,
    capacity: usize,
    next_seq: u64,
}

impl AuditRing {
    /// How many events a ring holds unless told otherwise.
    pub(crate) const DEFAULT_CAPACITY: usize = 10_000;

    /// A ring of `capacity` events (at least one).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let ring = Ring { records: VecDeque::new(), capacity: capacity.max(1), next_seq: 1 };
        AuditRing { inner: Mutex::new(ring) }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // Every operation leaves the ring consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many events the ring holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ring().records.len()
    }
}

impl AuditLog for AuditRing {
    fn append(&self, events: Vec<AuditEvent>) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut ring = self.ring();
        for event in events {
            let seq = ring.next_seq;
            ring.next_seq += 1;
            if ring.records.len() == ring.capacity {
                ring.records.pop_front();
            }
            ring.records.push_back(AuditRecord::new(seq, event));
        }
        ready(Ok(()))
    }

    fn audit_page(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Page<AuditRecord, u64>, StoreError>> + Send {
        let size = query.page_size();
        let records =
            self.ring().records.iter().filter(|r| query.admits(r)).take(size + 1).cloned().collect();
        ready(Ok(Page::from_one_extra(records, size, |r| r.seq)))
    }

    fn purge_audit(&self, before: SystemTime) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let mut ring = self.ring();
        let kept = ring.records.len();
        ring.records.retain(|r| r.event.at >= before);
        ready(Ok(u64::try_from(kept - ring.records.len()).unwrap_or(u64::MAX)))
    }
}

impl fmt::Debug for AuditRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.ring();
        f.debug_struct("AuditRing")
            .field("len", &ring.records.len())
            .field("capacity", &ring.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::manage::audit::AuditKind;
    use crate::token::id::TokenId;

    fn now<T>(f: impl Future<Output = T>) -> T {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("the memory log answers at once"),
        }
    }

    fn event(i: u64) -> AuditEvent {
        let mut e = AuditEvent::new(
            if i.is_multiple_of(2) { AuditKind::Issued } else { AuditKind::Revoked },
            UNIX_EPOCH + Duration::from_secs(i),
        );
        e.token_id = Some(TokenId::from(format!("tid_{}", i % 3)));
        e
    }

    #[test]
    fn the_ring_keeps_the_latest_and_pages_through_them() {
        let log = AuditRing::with_capacity(10);
        now(log.append((0..25).map(event).collect())).unwrap();
        assert_eq!(log.len(), 10);
        let first = now(log.audit_page(&AuditQuery { limit: 4, ..AuditQuery::new() })).unwrap();
        assert_eq!(first.items.iter().map(|r| r.seq).collect::<Vec<_>>(), [16, 17, 18, 19]);
        let rest = now(log.audit_page(&AuditQuery { after: first.next, ..AuditQuery::new() })).unwrap();
        assert_eq!(rest.items.len(), 6);
        assert!(rest.next.is_none());
        let revoked = AuditQuery {
            kind: Some(AuditKind::Revoked),
            token_id: Some(TokenId::from("tid_1")),
            ..AuditQuery::new()
        };
        let page = now(log.audit_page(&revoked)).unwrap();
        assert!(page.items.iter().all(|r| r.event.kind == AuditKind::Revoked));
        // Of the events kept (15 to 24), the odd ones are revocations; of those, 19 is tid_1's.
        assert_eq!(page.items.iter().map(|r| r.seq).collect::<Vec<_>>(), [20]);
        assert_eq!(now(log.purge_audit(UNIX_EPOCH + Duration::from_secs(20))).unwrap(), 5);
        assert_eq!(log.len(), 5);
    }
}
