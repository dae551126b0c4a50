//! [`AuthEvent`]: one per request outcome, delivered to the layer's hook and, with the
//! `tracing` feature, as a `tracing` event (target `tower_bearer`). Never carries a token
//! secret.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::Method;

use super::error::AuthError;
use crate::principal::Principal;
use crate::store::error::StoreError;

/// What happened to one request at the layer.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuthEvent<'a> {
    /// Accepted or rejected, and why.
    pub outcome: Outcome<'a>,
    /// The request method.
    pub method: &'a Method,
    /// The request path, without the query string (which may hold a token).
    pub path: &'a str,
    /// Ties a request's events together: the number of the layer's admission of the request,
    /// on its [`Authenticated`](Outcome::Authenticated) event and, when a check behind the
    /// layer then refuses it ([`RequireScopes`](crate::RequireScopes), the limit layers,
    /// `AuthError::refusing`), on that [`Rejected`](Outcome::Rejected) event too: the refusal
    /// is the request's outcome, in place of the admission of the same number (an audit log
    /// keeps one of the two, as `tower-bearer-manage`'s `AuditWriter` does). `None` on the
    /// layer's own refusals. Unique in the process.
    pub admission: Option<u64>,
}

/// The outcome of one request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// The token was accepted for this principal.
    Authenticated(&'a Principal),
    /// The request was refused. `principal` is the token's owner where the store knew the
    /// token (revoked, expired, insufficient scope).
    #[non_exhaustive]
    Rejected {
        /// Why.
        error: &'a AuthError,
        /// Whose token it was, if known.
        principal: Option<&'a Principal>,
        /// The store's own error, for [`AuthError::StoreUnavailable`]: for the operator's logs,
        /// never for the client.
        store_error: Option<&'a StoreError>,
    },
}

impl<'a> AuthEvent<'a> {
    /// The principal involved, if any.
    #[must_use]
    pub fn principal(&self) -> Option<&'a Principal> {
        match self.outcome {
            Outcome::Authenticated(p) => Some(p),
            Outcome::Rejected { principal, .. } => principal,
        }
    }
}

type Hook = Arc<dyn Fn(&AuthEvent<'_>) + Send + Sync>;

/// Admission numbers are handed out by each thread from blocks of this many, so that
/// numbering a request writes nothing another thread reads.
const ADMISSION_BLOCK: u64 = 1 << 10;

static NEXT_ADMISSION_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's next admission number, and the end of its block.
    static ADMISSIONS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A number for an admission, unique in the process (never 0).
fn next_admission() -> u64 {
    ADMISSIONS.with(|block| {
        let (mut next, mut end) = block.get();
        if next == end {
            next = NEXT_ADMISSION_BLOCK.fetch_add(ADMISSION_BLOCK, Ordering::Relaxed);
            end = next + ADMISSION_BLOCK;
        }
        block.set((next + 1, end));
        next
    })
}

/// Where events go: the application's hook, if any, and `tracing`.
#[derive(Clone, Default)]
pub(crate) struct EventSink {
    hook: Option<Hook>,
}

impl EventSink {
    pub(crate) fn set_hook(&mut self, hook: Hook) {
        self.hook = Some(hook);
    }

    /// Reports the admission of `principal`'s request; returns its number, for a refusal
    /// behind the layer to name (0 when events go nowhere).
    pub(crate) fn admitted(&self, method: &Method, path: &str, principal: &Principal) -> u64 {
        if !cfg!(feature = "tracing") && self.hook.is_none() {
            return 0;
        }
        let admission = next_admission();
        let outcome = Outcome::Authenticated(principal);
        self.emit(&AuthEvent { outcome, method, path, admission: Some(admission) });
        admission
    }

    pub(crate) fn emit(&self, event: &AuthEvent<'_>) {
        #[cfg(feature = "tracing")]
        trace(event);
        if let Some(hook) = &self.hook {
            hook(event);
        }
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSink").field("hook", &self.hook.is_some()).finish()
    }
}

#[cfg(feature = "tracing")]
fn trace(event: &AuthEvent<'_>) {
    let principal = event.principal();
    let token_id = principal.and_then(Principal::token_id).map(|id| id.as_str());
    let subject = principal.map(Principal::subject);
    let (method, path, admission) = (event.method.as_str(), event.path, event.admission);
    match event.outcome {
        Outcome::Authenticated(_) => {
            tracing::debug!(target: "tower_bearer", method, path, token_id, subject, admission, "request authenticated");
        }
        Outcome::Rejected { store_error: Some(cause), .. } => {
            let source = std::error::Error::source(cause).map(ToString::to_string);
            tracing::warn!(target: "tower_bearer", method, path, error = %cause, source, "request rejected: token store failed");
        }
        Outcome::Rejected { error, .. } => {
            let status = error.status().as_u16();
            let reason = error.reason();
            tracing::info!(target: "tower_bearer", method, path, token_id, subject, status, reason, admission, %error, "request rejected");
        }
    }
}
