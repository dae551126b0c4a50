//! What the handlers share: the store, the audit and usage logs, the configuration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tower_bearer::StoreError;
use tower_bearer::manage::Page;
use tower_bearer::manage::audit::{AuditLog, AuditQuery, AuditRecord};

use crate::usage_source::UsageSource;

/// The scope names the API checks (configurable: an application may already have its own).
#[derive(Clone, Debug)]
pub(crate) struct ApiScopes {
    pub(crate) read: String,
    pub(crate) write: String,
    pub(crate) audit: String,
}

/// A page of the audit log.
type AuditPage = Page<AuditRecord, u64>;

/// An audit log behind a pointer (its trait's futures are not object-safe).
pub(crate) trait AuditSource: Send + Sync + 'static {
    fn page(
        &self,
        query: AuditQuery,
    ) -> Pin<Box<dyn Future<Output = Result<AuditPage, StoreError>> + Send + '_>>;
}

impl<L: AuditLog> AuditSource for L {
    fn page(
        &self,
        query: AuditQuery,
    ) -> Pin<Box<dyn Future<Output = Result<AuditPage, StoreError>> + Send + '_>> {
        Box::pin(async move { self.audit_page(&query).await })
    }
}

pub(crate) struct Api<S> {
    pub(crate) store: S,
    pub(crate) audit: Option<Arc<dyn AuditSource>>,
    pub(crate) usage: Option<Arc<dyn UsageSource>>,
    pub(crate) scopes: ApiScopes,
    pub(crate) body_limit: usize,
}
