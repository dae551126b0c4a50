//! What the request path leaves in a thread's ring, 16 bytes at a time: an [`Entry`], and the
//! codes its fields are written in.
//!
//! A request writes one entry: a time stamp, a method code and, for a refusal, its status.
//! Its principal, path and refusal reason are written only when they differ from the
//! thread's previous request (most requests on a busy connection repeat them: see
//! [`context`](super::context)), so the request path takes no reference count and builds no
//! string. The size matters more than it seems: the writer reads every entry on another core,
//! and each cache line it read must be taken back by the request's core before it is written
//! again (BENCHMARKS.md, "The audit log on the request path").

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::Method;
use tower_bearer::Principal;
use tower_bearer::manage::audit::AuditEvent;

/// The methods a request entry names by code; another method's request is recorded whole.
pub(super) const METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::CONNECT,
    Method::TRACE,
];

/// The code of `method` in [`METHODS`].
pub(super) fn method_code(method: &Method) -> Option<u8> {
    METHODS.iter().position(|m| m == method).and_then(|i| u8::try_from(i).ok())
}

/// One entry of a thread's record, in order.
pub(super) enum Entry {
    /// The principal of this thread's requests from here on (`None`: no token owner known).
    Principal(Option<Principal>),
    /// The path of this thread's requests from here on.
    Path(Arc<String>),
    /// From here on, this thread's requests are recorded with
    /// [`OTHER_PATH`](super::kept::OTHER_PATH).
    OtherPath,
    /// The reason code of this thread's refusals from here on.
    #[expect(
        clippy::redundant_allocation,
        reason = "a thin pointer: a `&str` would make every entry 24 bytes"
    )]
    Reason(Box<&'static str>),
    /// One request's outcome, with the principal, path and reason set last.
    Request {
        /// Milliseconds since the epoch.
        at_ms: u64,
        /// The status of a refusal; 0 for an authenticated request.
        status: u16,
        /// The method's code in [`METHODS`].
        method: u8,
    },
    /// An event made whole where it was recorded (lifecycle events, leaks, rare methods).
    Event(Box<AuditEvent>),
}

impl Entry {
    /// Whether this entry is an event (rather than what the events that follow refer to).
    pub(super) fn is_event(&self) -> bool {
        matches!(self, Entry::Request { .. } | Entry::Event(_))
    }

    /// The time of the event this entry is, in milliseconds since the epoch; `None` for what
    /// the events that follow refer to.
    pub(super) fn time_ms(&self) -> Option<u64> {
        match self {
            Entry::Request { at_ms, .. } => Some(*at_ms),
            Entry::Event(event) => Some(event_ms(event)),
            _ => None,
        }
    }
}

/// One request's outcome, as the layer's hook has it.
pub(super) struct RequestOutcome<'a> {
    pub(super) at_ms: u64,
    pub(super) principal: Option<&'a Principal>,
    pub(super) path: &'a str,
    pub(super) method: u8,
    /// The status and reason code of a refusal.
    pub(super) refused: Option<(u16, &'static str)>,
}

/// Milliseconds since the epoch of `event` (0 before it), to order it among request entries.
fn event_ms(event: &AuditEvent) -> u64 {
    event.at.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_takes_a_quarter_of_a_cache_line() {
        assert!(std::mem::size_of::<Entry>() <= 16, "{}", std::mem::size_of::<Entry>());
    }

    #[test]
    fn every_method_code_names_its_method() {
        for method in &METHODS {
            let code = method_code(method).expect("a coded method");
            assert_eq!(&METHODS[usize::from(code)], method);
        }
        assert_eq!(method_code(&Method::from_bytes(b"PURGE").expect("a method")), None);
    }
}
