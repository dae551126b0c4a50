//! [`LifecycleEvent`]: one per token issued, rotated, revoked, deleted or purged, delivered to
//! the store's hook and, with the `tracing` feature, as a `tracing` event (target
//! `tower_bearer`). Never carries a token secret.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::info::TokenInfo;
use crate::token::id::TokenId;

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

/// Where a store's lifecycle events go: the application's hook, if one is set, and `tracing`.
///
/// Every store in this workspace emits through one, so events look the same whichever store
/// manages the tokens; a store written outside the workspace can use it too.
#[derive(Clone, Default)]
pub struct LifecycleEvents {
    hook: Option<LifecycleHook>,
}

impl LifecycleEvents {
    /// Calls `hook` with every event, after the `tracing` event (if that feature is on).
    pub fn set_hook(&mut self, hook: impl Fn(&LifecycleEvent) + Send + Sync + 'static) {
        self.hook = Some(Arc::new(hook));
    }

    /// Delivers `event`.
    pub fn emit(&self, event: &LifecycleEvent) {
        #[cfg(feature = "tracing")]
        trace_lifecycle(event);
        if let Some(hook) = &self.hook {
            hook(event);
        }
    }
}

impl fmt::Debug for LifecycleEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifecycleEvents").field("hook", &self.hook.is_some()).finish()
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
