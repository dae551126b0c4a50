//! [`TokenId`]: the public, loggable identifier of a token.

use std::fmt;

use compact_str::CompactString;

/// The public identifier of a token: safe to log, show in a UI and put in an audit trail.
///
/// Never derived from the secret (a derived id would let anyone holding it test guesses of a
/// weak static key offline). Ids of up to 24 bytes (every id [`random`](Self::random) makes)
/// are held inline, without an allocation of their own: a store of a million tokens holds a
/// million of them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(CompactString);

impl TokenId {
    /// A fresh random id: `tid_` followed by 20 characters of lowercase base32 (RFC 4648's
    /// alphabet: `a`–`z`, `2`–`7`), 100 bits from the OS CSPRNG.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator is unavailable.
    #[must_use]
    pub fn random() -> Self {
        let mut bytes = [0u8; 13];
        getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
        let bits = u128::from_be_bytes({
            let mut wide = [0u8; 16];
            wide[3..].copy_from_slice(&bytes);
            wide
        });
        let mut id = CompactString::const_new("tid_");
        for i in (0..20).rev() {
            // Five bits per character, high bits first.
            id.push(char::from(BASE32[((bits >> (i * 5)) & 0x1f) as usize]));
        }
        TokenId(id)
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

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
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_inline_and_distinct() {
        let (a, b) = (TokenId::random(), TokenId::random());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 24);
        assert!(!a.0.is_heap_allocated(), "a generated id fits inline");
        assert!(a.as_str().starts_with("tid_"));
        assert!(a.as_str()[4..].bytes().all(|c| BASE32.contains(&c)), "{a}");
        assert_eq!(std::mem::size_of::<Option<TokenId>>(), 24);
    }
}
