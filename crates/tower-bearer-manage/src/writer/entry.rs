//! What the request path leaves in a thread's ring, 16 bytes at a time, and how the writer's
//! task reads it back as events.
//!
//! A request writes one entry: a time stamp, a method code and, for a refusal, its status.
//! Its principal, path and refusal reason are written only when they differ from the
//! thread's previous request (most requests on a busy connection repeat them), so the request
//! path takes no reference count and builds no string. The size matters more than it seems:
//! the writer reads every entry on another core, and each cache line it read must be taken
//! back by the request's core before it is written again (BENCHMARKS.md, "The audit log on
//! the request path").

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use http::Method;
use tower_bearer::Principal;
use tower_bearer::manage::audit::AuditEvent;

/// The methods a request entry names by code; another method's request is recorded whole.
const METHODS: [Method; 9] = [
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
}

/// What the entries of one thread refer to, as the last of them set it: the thread keeps one
/// to know what to write, the writer's task another to read them back.
#[derive(Default)]
pub(super) struct Context {
    principal: Option<Principal>,
    path: Option<Arc<String>>,
    reason: Option<&'static str>,
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

impl Context {
    /// Writes the entries of `outcome` with `push`: those that change the context, then the
    /// request itself.
    #[inline]
    pub(super) fn write(&mut self, outcome: &RequestOutcome<'_>, mut push: impl FnMut(Entry)) {
        let same_principal = match (&self.principal, outcome.principal) {
            (None, None) => true,
            (Some(last), Some(this)) => Principal::ptr_eq(last, this),
            _ => false,
        };
        if !same_principal {
            self.principal = outcome.principal.cloned();
            push(Entry::Principal(outcome.principal.cloned()));
        }
        if self.path.as_ref().is_none_or(|last| last.as_str() != outcome.path) {
            let path = Arc::new(outcome.path.to_owned());
            self.path = Some(path.clone());
            push(Entry::Path(path));
        }
        let mut status = 0;
        if let Some((refusal, reason)) = outcome.refused {
            status = refusal;
            if self.reason != Some(reason) {
                self.reason = Some(reason);
                push(Entry::Reason(Box::new(reason)));
            }
        }
        push(Entry::Request { at_ms: outcome.at_ms, status, method: outcome.method });
    }

    /// The event `entry` stands for, if it is one (else it changes the context of the
    /// entries that follow).
    pub(super) fn read(&mut self, entry: Entry) -> Option<AuditEvent> {
        let (at_ms, status, method) = match entry {
            Entry::Principal(principal) => {
                self.principal = principal;
                return None;
            }
            Entry::Path(path) => {
                self.path = Some(path);
                return None;
            }
            Entry::Reason(reason) => {
                self.reason = Some(*reason);
                return None;
            }
            Entry::Event(event) => return Some(*event),
            Entry::Request { at_ms, status, method } => (at_ms, status, method),
        };
        let at = UNIX_EPOCH + Duration::from_millis(at_ms);
        let method = METHODS.get(usize::from(method)).map_or("", Method::as_str);
        let path = self.path.as_deref().map_or("", String::as_str);
        let refused = (status != 0).then(|| (status, self.reason.unwrap_or("")));
        Some(AuditEvent::of_request_parts(at, method, path, self.principal.as_ref(), refused))
    }
}

#[cfg(test)]
mod tests {
    use tower_bearer::manage::audit::AuditKind;

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

    #[test]
    fn what_repeats_is_written_once_and_read_back_for_every_request() {
        let alice = Principal::builder("alice").build();
        let bob = Principal::builder("bob").build();
        let get = method_code(&Method::GET).expect("coded");
        let requests = [
            (Some(&alice), "/a", None),
            (Some(&alice), "/a", None),
            (Some(&bob), "/a", Some((403, "insufficient_scope"))),
            (None, "/b", Some((401, "missing_credentials"))),
            (None, "/b", Some((401, "missing_credentials"))),
            (Some(&alice), "/b", None),
        ];
        let (mut writing, mut entries) = (Context::default(), Vec::new());
        for (i, (principal, path, refused)) in requests.iter().enumerate() {
            let at_ms = 1_000 + u64::try_from(i).expect("small");
            let outcome =
                RequestOutcome { at_ms, principal: *principal, path, method: get, refused: *refused };
            writing.write(&outcome, |entry| entries.push(entry));
        }
        // 6 requests; 4 changes of principal (alice, bob, none, alice), 2 of path, 2 of reason.
        assert_eq!(entries.len(), 6 + 4 + 2 + 2);
        let mut reading = Context::default();
        let seen: Vec<_> = entries
            .into_iter()
            .filter_map(|entry| reading.read(entry))
            .map(|e| (e.subject, e.path, e.status, e.reason, e.method, e.kind))
            .collect();
        let event = |subject: Option<&str>, path: &str, refused: Option<(u16, &str)>| {
            let kind = if refused.is_some() { AuditKind::Rejected } else { AuditKind::Authenticated };
            (
                subject.map(str::to_owned),
                Some(path.to_owned()),
                refused.map(|r| r.0),
                refused.map(|r| r.1.to_owned()),
                Some("GET".to_owned()),
                kind,
            )
        };
        assert_eq!(
            seen,
            [
                event(Some("alice"), "/a", None),
                event(Some("alice"), "/a", None),
                event(Some("bob"), "/a", Some((403, "insufficient_scope"))),
                event(None, "/b", Some((401, "missing_credentials"))),
                event(None, "/b", Some((401, "missing_credentials"))),
                event(Some("alice"), "/b", None),
            ]
        );
    }
}
