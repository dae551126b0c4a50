//! [`TokenId`]: the public, loggable identifier of a token.

use std::fmt;
use std::sync::Arc;

/// The public identifier of a token: safe to log, show in a UI and put in an audit trail.
///
/// Never derived from the secret (a derived id would let anyone holding it test guesses of a
/// weak static key offline).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(Arc<str>);

impl TokenId {
    /// A fresh random id, `tid_` followed by 24 hex digits (96 bits from the OS CSPRNG).
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator is unavailable.
    #[must_use]
    pub fn random() -> Self {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
        let mut id = String::with_capacity(4 + 24);
        id.push_str("tid_");
        for b in bytes {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        TokenId(id.into())
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl From<&str> for TokenId {
    fn from(s: &str) -> Self {
        TokenId(s.into())
    }
}

impl From<String> for TokenId {
    fn from(s: String) -> Self {
        TokenId(s.into())
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}
