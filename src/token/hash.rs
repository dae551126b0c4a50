//! [`TokenHash`]: the SHA-256 digest of a token, the only form a store keeps.

use std::fmt;
use std::hash::{Hash, Hasher};

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The SHA-256 digest of a token: the form in which stores keep and look up tokens.
///
/// Equality is constant-time ([`ConstantTimeEq`]), so a map keyed by `TokenHash` confirms a
/// probe hit without a timing side channel. [`Hash`] feeds only the first eight bytes of the
/// digest to the hasher: they are already uniformly distributed, and an attacker cannot choose
/// which digest a *stored* token has, so lookups of unknown tokens can never meet a long chain
/// they built themselves.
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token secret.
    #[must_use]
    pub fn of(secret: impl AsRef<[u8]>) -> Self {
        TokenHash(Sha256::digest(secret.as_ref()).into())
    }

    /// Wraps a digest computed elsewhere (for example read back from a database).
    #[must_use]
    pub const fn from_bytes(digest: [u8; 32]) -> Self {
        TokenHash(digest)
    }

    /// The raw digest.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hex characters, for storage in text columns.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    fn words(&self) -> [u64; 4] {
        let w = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.0[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(b)
        };
        [w(0), w(1), w(2), w(3)]
    }
}

impl ConstantTimeEq for TokenHash {
    fn ct_eq(&self, other: &Self) -> Choice {
        // Word-wise and branch-free: the four differences folded into one word, then one
        // constant-time comparison with zero (instead of four, or 32 byte ones).
        let (a, b) = (self.words(), other.words());
        let difference = (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]);
        difference.ct_eq(&0)
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for TokenHash {}

impl Hash for TokenHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.words()[0]);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is not a credential, but there is no reason to print all of it either.
        write!(f, "TokenHash({:02x}{:02x}{:02x}{:02x}…)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}
