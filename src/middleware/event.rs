//! [`AuthEvent`]: one per request outcome, delivered to the layer's hook and, with the
//! `tracing` feature, as a `tracing` event (target `tower_bearer`). Never carries a token
//! secret.

use std::fmt;
use std::sync::Arc;

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

/// Where events go: the application's hook, if any, and `tracing`.
#[derive(Clone, Default)]
pub(crate) struct EventSink {
    hook: Option<Hook>,
}

impl EventSink {
    pub(crate) fn set_hook(&mut self, hook: Hook) {
        self.hook = Some(hook);
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
    let (method, path) = (event.method.as_str(), event.path);
    match event.outcome {
        Outcome::Authenticated(_) => {
            tracing::debug!(target: "tower_bearer", method, path, token_id, subject, "request authenticated");
        }
        Outcome::Rejected { store_error: Some(cause), .. } => {
            let source = std::error::Error::source(cause).map(ToString::to_string);
            tracing::warn!(target: "tower_bearer", method, path, error = %cause, source, "request rejected: token store failed");
        }
        Outcome::Rejected { error, .. } => {
            let status = error.status().as_u16();
            let reason = error.reason();
            tracing::info!(target: "tower_bearer", method, path, token_id, subject, status, reason, %error, "request rejected");
        }
    }
}
