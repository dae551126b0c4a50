//! The audit log: [`AuditEvent`]s made from request outcomes and lifecycle events, kept by an
//! [`AuditLog`] (the [`MemoryTokenStore`](crate::MemoryTokenStore)'s ring of the latest
//! events, or the SQL store's table) and read a page at a time.

mod event;
mod log;
pub(crate) mod ring;

pub use event::{AuditEvent, AuditKind};
pub use log::{AuditLog, AuditQuery, AuditRecord};
