//! The audit log: [`AuditEvent`]s made from request outcomes and lifecycle events, kept by an
//! [`AuditLog`] (the [`MemoryAuditLog`] ring, or the SQL store's table) and read a page at a
//! time.

mod event;
mod log;
mod ring;

pub use event::{AuditEvent, AuditKind};
pub use log::{AuditLog, AuditQuery, AuditRecord};
pub use ring::MemoryAuditLog;
