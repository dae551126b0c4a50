//! [`AuditEvent`]: one line of the audit log, made from a request's outcome at the layer or a
//! token's lifecycle event in a store. Never a secret.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use crate::manage::error::ManageError;
use crate::manage::event::LifecycleEvent;
use crate::manage::info::TokenInfo;
use crate::outcome::event::{AuthEvent, Outcome};
use crate::principal::Principal;
use crate::token::id::TokenId;

/// What an [`AuditEvent`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// `token.issued`
    Issued,
    /// `token.rotated` (the event is about the old token; `reason` names the new one)
    Rotated,
    /// `token.revoked`
    Revoked,
    /// `token.deleted`
    Deleted,
    /// `token.purged` (expired, removed)
    Purged,
    /// `token.leaked` (reported found in public, by a secret scanner)
    Leaked,
    /// `request.authenticated`
    Authenticated,
    /// `request.rejected`
    Rejected,
}

const KINDS: [(AuditKind, &str); 8] = [
    (AuditKind::Issued, "token.issued"),
    (AuditKind::Rotated, "token.rotated"),
    (AuditKind::Revoked, "token.revoked"),
    (AuditKind::Deleted, "token.deleted"),
    (AuditKind::Purged, "token.purged"),
    (AuditKind::Leaked, "token.leaked"),
    (AuditKind::Authenticated, "request.authenticated"),
    (AuditKind::Rejected, "request.rejected"),
];

impl AuditKind {
    /// The event's name, as stored and shown: `token.issued`, `request.rejected`, ...
    #[must_use]
    pub fn as_str(self) -> &'static str {
        KINDS.iter().find(|(k, _)| *k == self).map_or("unknown", |(_, name)| name)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditKind {
    type Err = ManageError;

    /// The kind named `s`; any other name is [`ManageError::Invalid`].
    fn from_str(s: &str) -> Result<Self, ManageError> {
        KINDS
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(k, _)| *k)
            .ok_or(ManageError::Invalid("audit event type"))
    }
}

/// One event of the audit log: when, what, which token of whom, and for requests the method,
/// path, status and reason code. It holds no secret: tokens are named by id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When it happened.
    pub at: SystemTime,
    /// What happened.
    pub kind: AuditKind,
    /// The token concerned, when known.
    pub token_id: Option<TokenId>,
    /// Its subject, when known.
    pub subject: Option<String>,
    /// Its organization, when it has one.
    pub organization: Option<String>,
    /// The request's method (request events).
    pub method: Option<String>,
    /// The request's path, without the query string (request events).
    pub path: Option<String>,
    /// The status the layer answered with (rejections).
    pub status: Option<u16>,
    /// The reason code of a rejection (`expired_token`, `insufficient_scope`, ...), or a detail
    /// of a lifecycle event (the successor of a rotation).
    pub reason: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` at `at` about nothing in particular yet (see the `with_` methods).
    #[must_use]
    pub fn new(kind: AuditKind, at: SystemTime) -> Self {
        AuditEvent {
            at,
            kind,
            token_id: None,
            subject: None,
            organization: None,
            method: None,
            path: None,
            status: None,
            reason: None,
        }
    }

    /// About the token of `principal`.
    #[must_use]
    pub fn with_principal(mut self, principal: &Principal) -> Self {
        self.token_id = principal.token_id().cloned();
        self.subject = Some(principal.subject().to_owned());
        self.organization = principal.organization().map(str::to_owned);
        self
    }

    /// With a reason code or detail.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// The event of a request's outcome at the layer.
    #[must_use]
    pub fn of_request(event: &AuthEvent<'_>, at: SystemTime) -> Self {
        let refused = match event.outcome {
            Outcome::Authenticated(_) => None,
            Outcome::Rejected { error, .. } => Some((error.status().as_u16(), error.reason())),
        };
        AuditEvent::of_request_parts(at, event.method.as_str(), event.path, event.principal(), refused)
    }

    /// The event of a request's outcome from its parts (for code that keeps a request's
    /// outcome in another form before making the event, as an audit writer does): `refused`
    /// is the status and reason code of a refusal, `None` for an authenticated request.
    #[must_use]
    pub fn of_request_parts(
        at: SystemTime,
        method: &str,
        path: &str,
        principal: Option<&Principal>,
        refused: Option<(u16, &str)>,
    ) -> Self {
        let kind = if refused.is_some() { AuditKind::Rejected } else { AuditKind::Authenticated };
        let mut audit = AuditEvent::new(kind, at);
        if let Some(principal) = principal {
            audit = audit.with_principal(principal);
        }
        if let Some((status, reason)) = refused {
            audit.status = Some(status);
            audit.reason = Some(reason.to_owned());
        }
        audit.method = Some(method.to_owned());
        audit.path = Some(path.to_owned());
        audit
    }

    /// The events of a store's lifecycle event (one per token: a purge concerns several).
    #[must_use]
    pub fn of_lifecycle(event: &LifecycleEvent, at: SystemTime) -> Vec<Self> {
        let about = |kind, info: &TokenInfo| AuditEvent::new(kind, at).with_principal(&info.principal);
        match event {
            LifecycleEvent::Issued(info) => vec![about(AuditKind::Issued, info)],
            LifecycleEvent::Rotated { old, new, grace } => {
                let mut e = about(AuditKind::Rotated, new).with_reason(format!(
                    "replaced by {} (grace {} s)",
                    new.id.as_str(),
                    grace.as_secs()
                ));
                e.token_id = Some(old.clone());
                vec![e, about(AuditKind::Issued, new)]
            }
            LifecycleEvent::Revoked(info) => vec![about(AuditKind::Revoked, info)],
            LifecycleEvent::Deleted(info) => vec![about(AuditKind::Deleted, info)],
            LifecycleEvent::ExpiredPurged(infos) => {
                infos.iter().map(|i| about(AuditKind::Purged, i)).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_names() {
        for (kind, name) in KINDS {
            assert_eq!(kind.as_str(), name);
            assert_eq!(name.parse::<AuditKind>().ok(), Some(kind));
        }
        assert!(matches!("token.stolen".parse::<AuditKind>(), Err(ManageError::Invalid(_))));
    }
}
