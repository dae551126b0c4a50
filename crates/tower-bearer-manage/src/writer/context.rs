//! What a thread's entries refer to (its requests' principal, path and refusal reason),
//! written to its ring only when it changes ([`Written`], on the thread's side) and read back
//! into events ([`Context`], on the writer's side).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use http::Method;
use tower_bearer::Principal;
use tower_bearer::manage::audit::AuditEvent;

use super::budget::{REASON_BYTES, boxed_event_bytes, path_bytes};
use super::entry::{Entry, METHODS, RequestOutcome};
use super::kept::{MAX_PATH_BYTES, OTHER_PATH, is_kept_as, kept};

/// Where a thread's entries go, and the budget their allocations are taken from.
pub(super) trait Sink {
    /// Appends `entry`; `false` when there is no room for it.
    fn push(&mut self, entry: Entry) -> bool;
    /// Takes `bytes` of the budget for what an entry points to; `false` when it is spent.
    fn spend(&mut self, bytes: usize) -> bool;
    /// Gives back what was spent for an entry that could not be appended.
    fn refund(&mut self, bytes: usize);
    /// Whether one more path of a request that names no known token may be kept.
    fn keep_unauthenticated_path(&mut self) -> bool;
}

/// The path the reader of a thread's entries has.
#[derive(Clone)]
enum PathState {
    Kept(Arc<String>),
    Other,
}

/// What the reader of a thread's entries was last told, as the thread knows it: what to
/// write again and what not. A field changes only once its entry is in the ring, and a
/// request stops at the first entry that finds no room (its own is not written): what the
/// reader knows and this agree whatever was lost.
#[derive(Default)]
pub(super) struct Written {
    principal: Option<Principal>,
    path: Option<PathState>,
    reason: Option<&'static str>,
}

impl Written {
    /// Writes the entries of `outcome` to `sink`: those that change the context, then the
    /// request itself. `false` when there was no room for them (the request is not recorded).
    #[inline]
    pub(super) fn write(&mut self, outcome: &RequestOutcome<'_>, sink: &mut impl Sink) -> bool {
        self.write_context(outcome, sink)
            && sink.push(Entry::Request {
                at_ms: outcome.at_ms,
                status: outcome.refused.map_or(0, |(status, _)| status),
                method: outcome.method,
            })
    }

    #[inline]
    fn write_context(&mut self, outcome: &RequestOutcome<'_>, sink: &mut impl Sink) -> bool {
        let same_principal = match (&self.principal, outcome.principal) {
            (None, None) => true,
            (Some(last), Some(this)) => Principal::ptr_eq(last, this),
            _ => false,
        };
        if !same_principal {
            if !sink.push(Entry::Principal(outcome.principal.cloned())) {
                return false;
            }
            self.principal = outcome.principal.cloned();
        }
        let same_path = match &self.path {
            Some(PathState::Kept(last)) => is_kept_as(last, outcome.path, MAX_PATH_BYTES),
            _ => false,
        };
        if !same_path && !self.write_path(outcome, sink) {
            return false;
        }
        if let Some((_, reason)) = outcome.refused
            && self.reason != Some(reason)
        {
            if !sink.spend(REASON_BYTES) {
                return false;
            }
            if !sink.push(Entry::Reason(Box::new(reason))) {
                sink.refund(REASON_BYTES);
                return false;
            }
            self.reason = Some(reason);
        }
        true
    }

    /// Writes the path of `outcome`, which differs from the last one written.
    #[inline(never)]
    fn write_path(&mut self, outcome: &RequestOutcome<'_>, sink: &mut impl Sink) -> bool {
        if outcome.principal.is_none() && !sink.keep_unauthenticated_path() {
            if matches!(self.path, Some(PathState::Other)) {
                return true;
            }
            if !sink.push(Entry::OtherPath) {
                return false;
            }
            self.path = Some(PathState::Other);
            return true;
        }
        let path = Arc::new(kept(outcome.path, MAX_PATH_BYTES).into_owned());
        let bytes = path_bytes(&path);
        if !sink.spend(bytes) {
            return false;
        }
        if !sink.push(Entry::Path(path.clone())) {
            sink.refund(bytes);
            return false;
        }
        self.path = Some(PathState::Kept(path));
        true
    }
}

/// What the entries of one thread refer to, as the last of them set it, on the writer's
/// side: to read them back as events.
#[derive(Default)]
pub(super) struct Context {
    principal: Option<Principal>,
    path: Option<PathState>,
    reason: Option<&'static str>,
}

impl Context {
    /// The event `entry` stands for, if it is one (else it changes the context of the
    /// entries that follow). Adds to `released` the bytes of the budget that `entry` held.
    pub(super) fn read(&mut self, entry: Entry, released: &mut usize) -> Option<AuditEvent> {
        let (at_ms, status, method) = match entry {
            Entry::Principal(principal) => {
                self.principal = principal;
                return None;
            }
            Entry::Path(path) => {
                *released += path_bytes(&path);
                self.path = Some(PathState::Kept(path));
                return None;
            }
            Entry::OtherPath => {
                self.path = Some(PathState::Other);
                return None;
            }
            Entry::Reason(reason) => {
                *released += REASON_BYTES;
                self.reason = Some(*reason);
                return None;
            }
            Entry::Event(event) => {
                *released += boxed_event_bytes(&event);
                return Some(*event);
            }
            Entry::Request { at_ms, status, method, .. } => (at_ms, status, method),
        };
        let at = UNIX_EPOCH + Duration::from_millis(at_ms);
        let method = METHODS.get(usize::from(method)).map_or("", Method::as_str);
        let path = match &self.path {
            Some(PathState::Kept(path)) => path.as_str(),
            Some(PathState::Other) => OTHER_PATH,
            None => "",
        };
        let refused = (status != 0).then(|| (status, self.reason.unwrap_or("")));
        Some(AuditEvent::of_request_parts(at, method, path, self.principal.as_ref(), refused))
    }
}

#[cfg(test)]
mod tests {
    use tower_bearer::manage::audit::AuditKind;

    use super::super::entry::method_code;
    use super::super::kept::{MAX_METHOD_BYTES, TRUNCATED};
    use super::*;

    /// Entries into a list, with a budget of `bytes` and room for `paths` unauthenticated
    /// paths.
    struct Entries {
        entries: Vec<Entry>,
        bytes: usize,
        paths: usize,
    }

    impl Entries {
        fn new(bytes: usize, paths: usize) -> Self {
            Entries { entries: Vec::new(), bytes, paths }
        }

        /// The events the entries stand for, and the bytes they gave back.
        fn read(self) -> (Vec<AuditEvent>, usize) {
            let (mut context, mut released) = (Context::default(), 0);
            let events = self.entries.into_iter().filter_map(|e| context.read(e, &mut released)).collect();
            (events, released)
        }
    }

    impl Sink for Entries {
        fn push(&mut self, entry: Entry) -> bool {
            self.entries.push(entry);
            true
        }

        fn spend(&mut self, bytes: usize) -> bool {
            self.bytes.checked_sub(bytes).map(|left| self.bytes = left).is_some()
        }

        fn refund(&mut self, bytes: usize) {
            self.bytes += bytes;
        }

        fn keep_unauthenticated_path(&mut self) -> bool {
            self.paths.checked_sub(1).map(|left| self.paths = left).is_some()
        }
    }

    fn get<'a>(at_ms: u64, principal: Option<&'a Principal>, path: &'a str) -> RequestOutcome<'a> {
        let method = method_code(&Method::GET).expect("coded");
        let refused = principal.is_none().then_some((401, "missing_credentials"));
        RequestOutcome { at_ms, principal, path, method, refused }
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
        let (mut writing, mut entries) = (Written::default(), Entries::new(usize::MAX, usize::MAX));
        for (i, (principal, path, refused)) in requests.iter().enumerate() {
            let at_ms = 1_000 + u64::try_from(i).expect("small");
            let outcome =
                RequestOutcome { at_ms, principal: *principal, path, method: get, refused: *refused };
            assert!(writing.write(&outcome, &mut entries));
        }
        // 6 requests; 4 changes of principal (alice, bob, none, alice), 2 of path, 2 of reason.
        assert_eq!(entries.entries.len(), 6 + 4 + 2 + 2);
        let spent = usize::MAX - entries.bytes;
        let (events, released) = entries.read();
        assert_eq!(released, spent, "what the entries held is given back when they are read");
        let seen: Vec<_> =
            events.into_iter().map(|e| (e.subject, e.path, e.status, e.reason, e.method, e.kind)).collect();
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

    #[test]
    fn a_long_path_is_kept_cut_and_marked_and_still_shared_by_the_requests_that_repeat_it() {
        let alice = Principal::builder("alice").build();
        let long: &'static str = Box::leak(format!("/files/{}", "é".repeat(1_000)).into_boxed_str());
        let (mut writing, mut entries) = (Written::default(), Entries::new(usize::MAX, usize::MAX));
        assert!(writing.write(&get(1, Some(&alice), long), &mut entries));
        assert!(writing.write(&get(2, Some(&alice), long), &mut entries));
        assert_eq!(entries.entries.len(), 1 + 1 + 2, "one principal, one path, two requests");
        let (events, _) = entries.read();
        let path = events[0].path.as_deref().expect("a path");
        assert!(path.len() <= MAX_PATH_BYTES && path.ends_with(TRUNCATED), "{} bytes", path.len());
        assert!(long.starts_with(path.trim_end_matches(TRUNCATED)));
        assert_eq!(events[1].path.as_deref(), Some(path));
        // A method of the application's own, too.
        let method = "X".repeat(100);
        assert_eq!(kept(&method, MAX_METHOD_BYTES), format!("{}{TRUNCATED}", "X".repeat(29)));
    }

    #[test]
    fn unauthenticated_requests_keep_so_many_paths_then_share_the_other_path() {
        let alice = Principal::builder("alice").build();
        let (mut writing, mut entries) = (Written::default(), Entries::new(usize::MAX, 2));
        let paths = ["/a", "/b", "/c", "/d", "/d", "/e"];
        for (at, path) in (0..).zip(paths) {
            assert!(writing.write(&get(at, None, path), &mut entries));
        }
        // A token's owner is not limited; after them, the next unknown path is `<other>` again.
        assert!(writing.write(&get(10, Some(&alice), "/f"), &mut entries));
        assert!(writing.write(&get(11, None, "/g"), &mut entries));
        let (events, _) = entries.read();
        let seen: Vec<_> = events.iter().map(|e| e.path.as_deref().expect("a path")).collect();
        assert_eq!(seen, ["/a", "/b", OTHER_PATH, OTHER_PATH, OTHER_PATH, OTHER_PATH, "/f", OTHER_PATH]);
    }

    #[test]
    fn a_request_without_room_is_not_recorded_and_the_next_writes_its_context_again() {
        let alice = Principal::builder("alice").build();
        let (mut writing, mut entries) = (Written::default(), Entries::new(0, usize::MAX));
        assert!(!writing.write(&get(1, Some(&alice), "/a"), &mut entries), "no room for the path");
        entries.bytes = usize::MAX;
        assert!(writing.write(&get(2, Some(&alice), "/a"), &mut entries));
        let (events, _) = entries.read();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].subject.as_deref(), events[0].path.as_deref()), (Some("alice"), Some("/a")));
    }
}
