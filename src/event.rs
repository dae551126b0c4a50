//! Audit events: [`AuthEvent`], one per request outcome, delivered to the layer's hook, and
//! [`LifecycleEvent`], one per token issued, rotated, revoked, deleted or purged, delivered to
//! the store's hook. With the `tracing` feature both are also emitted as `tracing` events
//! (target `tower_bearer`). Neither ever carries a token secret.

use std::fmt;
use std::sync::Arc;

use http::Method;

use std::time::Duration;

use crate::lifecycle::TokenInfo;
use crate::principal::{Principal, TokenId};
use crate::response::AuthError;
use crate::store::StoreError;

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

/// Something that happened to a stored token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// A token was issued.
    Issued(TokenInfo),
    /// A token was replaced by a new one; the old keeps working for `grace`.
    Rotated {
        /// The replaced token.
        old: TokenId,
        /// The replacement.
        new: TokenInfo,
        /// How long the old token keeps working (zero: it stopped at once).
        grace: Duration,
    },
    /// A token was revoked.
    Revoked(TokenInfo),
    /// A token was deleted without a trace.
    Deleted(TokenInfo),
    /// Expired tokens were removed.
    ExpiredPurged(Vec<TokenInfo>),
}

type LifecycleHook = Arc<dyn Fn(&LifecycleEvent) + Send + Sync>;

/// Where lifecycle events go: the application's hook, if any, and `tracing`.
#[derive(Clone, Default)]
pub(crate) struct LifecycleSink {
    hook: Option<LifecycleHook>,
}

impl LifecycleSink {
    pub(crate) fn set_hook(&mut self, hook: LifecycleHook) {
        self.hook = Some(hook);
    }

    pub(crate) fn emit(&self, event: &LifecycleEvent) {
        #[cfg(feature = "tracing")]
        trace_lifecycle(event);
        if let Some(hook) = &self.hook {
            hook(event);
        }
    }
}

#[cfg(feature = "tracing")]
fn trace_lifecycle(event: &LifecycleEvent) {
    const T: &str = "tower_bearer";
    match event {
        LifecycleEvent::Issued(info) => {
            tracing::info!(target: T, token_id = %info.id, subject = info.principal.subject(), "token issued");
        }
        LifecycleEvent::Rotated { old, new, grace } => {
            let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
            tracing::info!(target: T, old_token_id = %old, token_id = %new.id, subject = new.principal.subject(), grace_ms, "token rotated");
        }
        LifecycleEvent::Revoked(info) => {
            tracing::info!(target: T, token_id = %info.id, subject = info.principal.subject(), "token revoked");
        }
        LifecycleEvent::Deleted(info) => {
            tracing::info!(target: T, token_id = %info.id, subject = info.principal.subject(), "token deleted");
        }
        LifecycleEvent::ExpiredPurged(infos) => {
            tracing::info!(target: T, count = infos.len(), "expired tokens purged");
        }
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
