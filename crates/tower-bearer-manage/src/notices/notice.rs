//! [`Notice`]: one thing a token's owner should hear about.

use std::time::SystemTime;

use tower_bearer::TokenInfo;

/// Why a token's owner should hear about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoticeKind {
    /// The token expires at this time, within the window the notices were asked for.
    Expiring {
        /// When the token stops working.
        expires_at: SystemTime,
    },
    /// A secret scanner reported the token found in public at this time (it was revoked).
    Leaked {
        /// When the report came.
        reported_at: SystemTime,
    },
}

/// One notice about one token, with the token's metadata (never its secret): whom to tell
/// is its principal's subject and organization.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Notice {
    /// What happened, or is about to.
    pub kind: NoticeKind,
    /// The token.
    pub token: TokenInfo,
}

impl Notice {
    /// A notice of `kind` about `token`.
    #[must_use]
    pub fn new(kind: NoticeKind, token: TokenInfo) -> Self {
        Notice { kind, token }
    }
}
