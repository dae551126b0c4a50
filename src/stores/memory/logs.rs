//! What the memory store keeps besides tokens, for the contracts the SQL store implements too:
//! its audit log, its usage counts and its single-use identifiers. One type is the whole
//! memory backend, as one SQL store is the whole database backend.

use std::future::Future;
use std::time::SystemTime;

use super::store::MemoryTokenStore;
use crate::manage::audit::{AuditEvent, AuditLog, AuditQuery, AuditRecord};
use crate::manage::query::Page;
use crate::manage::usage::{Granularity, UsageCount, UsageLog, UsageQuery};
use crate::store::answer::Answer;
use crate::store::error::StoreError;
use crate::store::replay::ReplayCache;

/// The store's audit log: the latest events (10 000 by default,
/// [`audit_capacity`](crate::stores::MemoryTokenStoreBuilder::audit_capacity)), the oldest
/// dropped first. For tests, demos and single-process services that need no history across
/// restarts.
///
/// ```
/// use std::time::SystemTime;
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_bearer::StoreError> {
/// let store = MemoryTokenStore::builder().audit_capacity(1_000).build();
/// store.append(vec![AuditEvent::new(AuditKind::Issued, SystemTime::now())]).await?;
/// assert_eq!(store.audit_page(&AuditQuery::new()).await?.items.len(), 1);
/// # Ok(()) }
/// ```
impl AuditLog for MemoryTokenStore {
    fn append(&self, events: Vec<AuditEvent>) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.shared.audit.append(events)
    }

    fn audit_page(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Page<AuditRecord, u64>, StoreError>> + Send {
        self.shared.audit.audit_page(query)
    }

    fn purge_audit(&self, before: SystemTime) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.shared.audit.purge_audit(before)
    }
}

/// The store's usage counts: counters of every granularity, kept until purged
/// ([`UsageLog::purge_usage`]).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer::manage::usage::{Granularity, UsageCount, UsageLog, UsageOutcome, UsageQuery};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_bearer::StoreError> {
/// let store = MemoryTokenStore::new();
/// let now = SystemTime::now();
/// let count = |n| UsageCount {
///     token_id: Some("tid_1".into()), organization: None, subject: Some("ada".into()),
///     outcome: UsageOutcome::Admitted, granularity: Granularity::Minute,
///     bucket: Granularity::Minute.bucket(now), count: n,
/// };
/// store.add_usage(vec![count(2)]).await?;
/// store.add_usage(vec![count(3)]).await?; // another counter's
/// let read = store.usage(&UsageQuery::new(Granularity::Minute, now, now + Duration::from_secs(60))).await?;
/// assert_eq!(read[0].count, 5);
/// # Ok(()) }
/// ```
impl UsageLog for MemoryTokenStore {
    fn add_usage(&self, counts: Vec<UsageCount>) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.shared.usage.add_usage(counts)
    }

    fn usage(&self, query: &UsageQuery) -> impl Future<Output = Result<Vec<UsageCount>, StoreError>> + Send {
        self.shared.usage.usage(query)
    }

    fn purge_usage(
        &self,
        granularity: Granularity,
        before: SystemTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.shared.usage.purge_usage(granularity, before)
    }
}

/// The store's single-use identifiers, for one instance (or identifiers that reach one
/// instance only); a fleet behind a load balancer shares one instead (`tower-bearer-sqlx`'s
/// store), or a replay reaching another instance is not seen. At most
/// [`replay_capacity`](crate::stores::MemoryTokenStoreBuilder::replay_capacity) live ones.
/// Answered at once.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer::store::{Answer, ReplayCache};
///
/// let store = MemoryTokenStore::new();
/// let until = SystemTime::now() + Duration::from_secs(60);
/// assert!(matches!(store.first_use([7; 32], until), Answer::Now(Ok(true))));
/// assert!(matches!(store.first_use([7; 32], until), Answer::Now(Ok(false))), "a replay");
/// ```
impl ReplayCache for MemoryTokenStore {
    fn first_use(&self, id: [u8; 32], until: SystemTime) -> Answer<Result<bool, StoreError>> {
        Answer::Now(self.shared.replay.first_use_now(id, until))
    }
}
