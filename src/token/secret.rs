//! [`TokenSecret`]: a newly issued token's plaintext, shown once.

use std::fmt;

use super::hash::TokenHash;

/// A newly issued token's plaintext, handed out exactly once.
///
/// `Debug` is redacted and there is no `Display`: read it with
/// [`expose_secret`](Self::expose_secret) to show it to its owner, then drop it.
#[derive(Clone)]
pub struct TokenSecret {
    secret: String,
    /// Length of the format's type prefix (`tok_live_`), known for generated tokens only.
    prefix_len: usize,
}

impl TokenSecret {
    /// Wraps a token secret made elsewhere. Its format is not known, so its
    /// [`hint`](Self::hint) shows no prefix.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        TokenSecret { secret: secret.into(), prefix_len: 0 }
    }

    /// A token generated with a known type prefix of `prefix_len` bytes.
    pub(super) fn generated(secret: String, prefix_len: usize) -> Self {
        let prefix_len = prefix_len.min(secret.len());
        TokenSecret { secret, prefix_len }
    }

    /// The plaintext. Show it to the token's owner once; never log it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// The SHA-256 digest a store keeps.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.secret)
    }

    /// A short, non-secret reminder of which token this is, for listings: the type prefix of
    /// a generated token and the last four characters, e.g. `tok_live_…a1B2`. Four characters
    /// of a 256-bit token reveal nothing useful. A secret of unknown format shows no prefix
    /// (in `alice_secret_key_…` the "prefix" would be most of the key).
    #[must_use]
    pub fn hint(&self) -> String {
        display_hint(&self.secret, self.prefix_len)
    }
}

/// `secret`'s first `prefix_len` bytes (its known type prefix), `…`, and its last four
/// characters when at least twelve follow the prefix.
pub(crate) fn display_hint(secret: &str, prefix_len: usize) -> String {
    let prefix = secret.get(..prefix_len).unwrap_or("");
    let tail_start = secret.len().saturating_sub(4).max(prefix.len());
    // A token too short to spare four characters gets none shown.
    let tail = if secret.len() >= prefix.len() + 12 { secret.get(tail_start..).unwrap_or("") } else { "" };
    format!("{prefix}…{tail}")
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}
