//! [`TokenSecret`]: a newly issued token's plaintext, shown once.

use std::fmt;

use super::hash::TokenHash;

/// A newly issued token's plaintext, handed out exactly once.
///
/// `Debug` is redacted and there is no `Display`: read it with
/// [`expose_secret`](Self::expose_secret) to show it to its owner, then drop it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(pub(super) String);

impl TokenSecret {
    /// Wraps a token secret made elsewhere.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        TokenSecret(secret.into())
    }

    /// The plaintext. Show it to the token's owner once; never log it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest a store keeps.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// A short, non-secret reminder of which token this is, for listings: the prefix (up to
    /// its last `_`) and the last four characters, e.g. `tok_live_…a1B2`. Four characters of
    /// a 256-bit token reveal nothing useful.
    #[must_use]
    pub fn hint(&self) -> String {
        display_hint(&self.0)
    }
}

pub(crate) fn display_hint(secret: &str) -> String {
    let prefix = secret.rfind('_').map_or("", |i| &secret[..=i]);
    let tail_start = secret.len().saturating_sub(4).max(prefix.len());
    // A token too short to spare four characters gets none shown.
    let tail = if secret.len() >= prefix.len() + 12 { &secret[tail_start..] } else { "" };
    format!("{prefix}…{tail}")
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}
