//! What the tests of the [`Buffers`] share: a writer's buffers, a request, a full drain.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::Method;
use tower_bearer::Principal;
use tower_bearer::manage::audit::AuditEvent;

use super::budget::Budget;
use super::buffers::{Buffers, lock};
use super::entry::{RequestOutcome, method_code};

pub(super) fn buffers(max_bytes: usize) -> Buffers {
    Buffers::new(Arc::new(Budget::new(max_bytes)), 1024)
}

pub(super) fn request(at_ms: u64, principal: Option<&Principal>) -> RequestOutcome<'_> {
    let method = method_code(&Method::GET).expect("coded");
    RequestOutcome { at_ms, principal, path: "/", method, refused: None }
}

pub(super) fn rings(buffers: &Buffers) -> usize {
    lock(&lock(&buffers.readers)[0].shared.rings).len()
}

/// A drain: every batch, the bytes of each given back as if written.
pub(super) fn drain(buffers: &Buffers) -> Vec<AuditEvent> {
    buffers.begin_drain();
    let mut events = Vec::new();
    loop {
        let (batch, bytes) = buffers.take_batch(100);
        buffers.budget().release(bytes);
        if batch.is_empty() {
            return events;
        }
        events.extend(batch);
    }
}

pub(super) fn stamp(event: &AuditEvent) -> u64 {
    u64::try_from(event.at.duration_since(UNIX_EPOCH).expect("after").as_millis()).expect("small")
}
