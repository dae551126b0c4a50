//! Token secrets as the crate handles them: [`PresentedToken`] (what a client sent, redacted),
//! [`TokenHash`] (its SHA-256 digest, the only form a store keeps), [`TokenSecret`] (a newly
//! issued token, shown once) and [`TokenFormat`] (how generated tokens look, and the cheap
//! check that rejects mistyped or fabricated ones before any store lookup).

use std::borrow::Cow;
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
        // Word-wise: four constant-time u64 comparisons instead of 32 byte ones.
        let (a, b) = (self.words(), other.words());
        a[0].ct_eq(&b[0]) & a[1].ct_eq(&b[1]) & a[2].ct_eq(&b[2]) & a[3].ct_eq(&b[3])
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

/// A token as presented by a client, with its digest already computed.
///
/// This is what a [`TokenStore`](crate::TokenStore) receives. Most stores need only
/// [`hash`](Self::hash); stores that must forward the token to another system (an
/// introspection endpoint, say) can read it with [`expose_secret`](Self::expose_secret).
///
/// On the request path it borrows the secret from the request's header, so a store that
/// needs only the digest costs no copy; a store whose future must own the token calls
/// [`into_owned`](Self::into_owned). `Debug` is redacted; there is no `Display`.
#[derive(Clone)]
pub struct PresentedToken<'a> {
    /// Always UTF-8 (ASCII, when it comes from a request): built from a `str`, or from bytes
    /// the layer checked against the `b64token` grammar. Bytes, so that the request path
    /// never spends a UTF-8 validation on it.
    secret: Cow<'a, [u8]>,
    hash: TokenHash,
}

impl<'a> PresentedToken<'a> {
    /// A presented token, hashing it. Useful in tests and for stores that check tokens
    /// outside a request.
    #[must_use]
    pub fn new(secret: impl Into<Cow<'a, str>>) -> Self {
        let secret = into_bytes(secret.into());
        PresentedToken { hash: TokenHash::of(&secret), secret }
    }

    /// A token the layer took from a request and checked against the RFC 6750 `b64token`
    /// grammar (ASCII), hashing it.
    pub(crate) fn from_checked(secret: Cow<'a, [u8]>) -> Self {
        debug_assert!(secret.is_ascii());
        PresentedToken { hash: TokenHash::of(&secret), secret }
    }

    /// The same token, owning its secret (one copy, only if it was borrowed).
    #[must_use]
    pub fn into_owned(self) -> PresentedToken<'static> {
        PresentedToken { secret: Cow::Owned(self.secret.into_owned()), hash: self.hash }
    }

    /// The SHA-256 digest of the token.
    #[must_use]
    pub fn hash(&self) -> &TokenHash {
        &self.hash
    }

    /// The plaintext token. Never log it or put it in an error.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        // UTF-8 by construction (see the field); were it ever not, the empty string fails
        // closed: no store knows it.
        std::str::from_utf8(&self.secret).unwrap_or("")
    }
}

/// The bytes of a string, borrowed or owned as the string was (no copy either way).
pub(crate) fn into_bytes(s: Cow<'_, str>) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

impl fmt::Debug for PresentedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedToken").field("secret", &"<redacted>").field("hash", &self.hash).finish()
    }
}

/// The characters of generated tokens: URL-safe and selected whole by a double click.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random base62 characters in a generated token: 43 × log2(62) ≈ 256.03 bits.
const RANDOM_CHARS: usize = 43;

/// Base62 characters of the CRC32 checksum: 62^6 > 2^32.
const CHECKSUM_CHARS: usize = 6;

/// How generated tokens look: `<prefix><43 random base62 characters><6-character CRC32>`,
/// for example `tok_live_8fQ2…x9Zk0aB3c1`.
///
/// - The **prefix** names the token type (`tok_live_`, `tok_test_`, `ot_live_`), so secret
///   scanners can recognise leaked tokens and people can tell them apart.
/// - The **random part** carries 256 bits from the operating system's CSPRNG.
/// - The **checksum** (CRC32 of prefix and random part) lets [`check`](Self::check) reject a
///   mistyped or made-up token in a few nanoseconds, before any store lookup.
///
/// A layer enforces formats only when told to
/// ([`BearerAuthLayer::token_format`](crate::BearerAuthLayer::token_format)), so static keys
/// and tokens minted elsewhere keep working on layers that do not.
///
/// ```
/// use tower_bearer::TokenFormat;
///
/// let format = TokenFormat::new("tok_live_");
/// let secret = format.generate();
/// assert!(secret.expose_secret().starts_with("tok_live_"));
/// assert!(format.check(secret.expose_secret()).is_ok());
///
/// // One changed character breaks the checksum.
/// let mut typo = secret.expose_secret().to_owned();
/// let last = typo.pop().unwrap();
/// typo.push(if last == 'a' { 'b' } else { 'a' });
/// assert!(format.check(&typo).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFormat {
    prefix: Box<str>,
}

/// Why a token does not match a [`TokenFormat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The token does not start with the format's prefix.
    #[error("the token does not have the expected prefix")]
    Prefix,
    /// The token has the wrong length or a character outside base62 after the prefix.
    #[error("the token has the wrong length or characters")]
    Shape,
    /// The checksum does not match: a typo, a truncated copy or a made-up token.
    #[error("the token's checksum does not match")]
    Checksum,
}

impl TokenFormat {
    /// A format with this type prefix.
    ///
    /// # Panics
    ///
    /// If `prefix` is empty, longer than 32 bytes, or has a character other than ASCII
    /// letters, digits and `_` (anything else would break double-click selection or URLs).
    #[must_use]
    pub fn new(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        assert!(
            !prefix.is_empty()
                && prefix.len() <= 32
                && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "tower-bearer: a token prefix is 1-32 ASCII letters, digits or '_', got {prefix:?}"
        );
        TokenFormat { prefix: prefix.into_boxed_str() }
    }

    /// The type prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The length of every token of this format.
    #[must_use]
    pub fn token_len(&self) -> usize {
        self.prefix.len() + RANDOM_CHARS + CHECKSUM_CHARS
    }

    /// A new random token of this format.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator is unavailable.
    #[must_use]
    pub fn generate(&self) -> TokenSecret {
        let mut token = String::with_capacity(self.token_len());
        token.push_str(&self.prefix);
        let mut pool = [0u8; 64];
        let mut filled = 0;
        while filled < RANDOM_CHARS {
            getrandom::fill(&mut pool).expect("the OS random number generator is unavailable");
            // Rejection sampling: 248 = 4 × 62, so `b % 62` is uniform over the kept bytes.
            for &b in pool.iter().filter(|&&b| b < 248).take(RANDOM_CHARS - filled) {
                token.push(char::from(BASE62[usize::from(b % 62)]));
                filled += 1;
            }
        }
        let checksum = crc32fast::hash(token.as_bytes());
        token.extend(encode_checksum(checksum).map(char::from));
        TokenSecret(token)
    }

    /// Checks that `token` is of this format: prefix, length, alphabet and checksum. Costs a
    /// pass over the token and a CRC32; no secret is compared, so no constant-time care is
    /// needed (the checksum is a public function of what the client sent).
    ///
    /// # Errors
    ///
    /// The first [`FormatError`] found.
    pub fn check(&self, token: &str) -> Result<(), FormatError> {
        self.check_bytes(token.as_bytes())
    }

    /// [`check`](Self::check) on the token's bytes.
    pub(crate) fn check_bytes(&self, token: &[u8]) -> Result<(), FormatError> {
        let rest = token.strip_prefix(self.prefix.as_bytes()).ok_or(FormatError::Prefix)?;
        if rest.len() != RANDOM_CHARS + CHECKSUM_CHARS || !rest.iter().all(u8::is_ascii_alphanumeric) {
            return Err(FormatError::Shape);
        }
        let (body, checksum) = token.split_at(token.len() - CHECKSUM_CHARS);
        if encode_checksum(crc32fast::hash(body)) == checksum { Ok(()) } else { Err(FormatError::Checksum) }
    }
}

/// The checksum as fixed-width base62, most significant digit first. An array, not a
/// `String`: `check` runs on every request and must not allocate.
fn encode_checksum(mut crc: u32) -> [u8; CHECKSUM_CHARS] {
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    digits
}

/// A newly issued token's plaintext, handed out exactly once.
///
/// `Debug` is redacted and there is no `Display`: read it with
/// [`expose_secret`](Self::expose_secret) to show it to its owner, then drop it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_sha256() {
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn equality_is_by_digest() {
        assert_eq!(TokenHash::of("a"), TokenHash::of("a"));
        assert_ne!(TokenHash::of("a"), TokenHash::of("b"));
        let mut last_byte = *TokenHash::of("a").as_bytes();
        last_byte[31] ^= 1;
        assert_ne!(TokenHash::from_bytes(last_byte), TokenHash::of("a"));
    }

    #[test]
    fn presented_token_is_redacted_and_exposes_on_request() {
        let header = String::from("Bearer s3cr3t-token");
        let t = PresentedToken::new(&header[7..]);
        assert_eq!(t.expose_secret(), "s3cr3t-token");
        assert_eq!(*t.hash(), TokenHash::of("s3cr3t-token"));
        assert!(!format!("{t:?}").contains("s3cr3t"));
        let owned: PresentedToken<'static> = t.into_owned();
        drop(header);
        assert_eq!(owned.expose_secret(), "s3cr3t-token");
    }

    #[test]
    fn generated_tokens_have_the_format() {
        let format = TokenFormat::new("tok_test_");
        let a = format.generate();
        let b = format.generate();
        assert_ne!(a, b);
        assert_eq!(a.expose_secret().len(), format.token_len());
        assert!(a.expose_secret().starts_with("tok_test_"));
        assert!(a.expose_secret()[9..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(format.check(a.expose_secret()), Ok(()));
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }

    #[test]
    fn check_rejects_each_kind_of_damage() {
        let format = TokenFormat::new("tok_");
        let good = format.generate();
        let good = good.expose_secret();
        assert_eq!(format.check(&good.replacen("tok_", "tak_", 1)), Err(FormatError::Prefix));
        assert_eq!(format.check(&good[..good.len() - 1]), Err(FormatError::Shape));
        assert_eq!(format.check(&format!("{}-{}", &good[..10], &good[11..])), Err(FormatError::Shape));
        // Every single-character substitution in the random part is caught by the checksum.
        let bytes = good.as_bytes();
        for i in 4..4 + RANDOM_CHARS {
            let mut damaged = bytes.to_vec();
            damaged[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
            let damaged = String::from_utf8(damaged).unwrap();
            assert_eq!(format.check(&damaged), Err(FormatError::Checksum), "position {i}");
        }
        // A token of another prefix is not of this format.
        assert_eq!(
            format.check(TokenFormat::new("ot_").generate().expose_secret()),
            Err(FormatError::Prefix)
        );
    }

    #[test]
    fn random_part_uses_the_whole_alphabet() {
        let format = TokenFormat::new("t_");
        let mut seen = [false; 256];
        for _ in 0..200 {
            for b in format.generate().expose_secret()[2..2 + RANDOM_CHARS].bytes() {
                seen[usize::from(b)] = true;
            }
        }
        assert!(BASE62.iter().all(|&b| seen[usize::from(b)]));
    }

    #[test]
    fn hints_show_prefix_and_last_four() {
        assert_eq!(TokenSecret::new("tok_live_abcdefghijklmnopWXYZ").hint(), "tok_live_…WXYZ");
        assert_eq!(TokenSecret::new("plainstatickey123456").hint(), "…3456");
        assert_eq!(TokenSecret::new("short").hint(), "…");
        assert_eq!(TokenSecret::new("tok_live_ab").hint(), "tok_live_…");
    }

    #[test]
    #[should_panic(expected = "token prefix")]
    fn prefixes_are_restricted() {
        let _ = TokenFormat::new("tok-live");
    }
}
