//! [`TokenFormat`]: how generated tokens look (prefix, 256 random bits, CRC32), and the cheap
//! check that rejects mistyped or fabricated tokens before any store lookup.

use super::secret::TokenSecret;

/// The characters of generated tokens: URL-safe and selected whole by a double click.
pub(super) const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random base62 characters in a generated token: 43 × log2(62) ≈ 256.03 bits.
pub(super) const RANDOM_CHARS: usize = 43;

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
/// ([`BearerAuthLayer::token_formats`](crate::BearerAuthLayer::token_formats)), so static keys
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

/// Tokens prefixed `tok_`: the format stores issue when none is configured.
impl Default for TokenFormat {
    fn default() -> Self {
        TokenFormat::new("tok_")
    }
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

    /// A regular expression that finds this format's tokens in text, for registering with
    /// secret scanners (GitHub's secret-scanning partner program, gitleaks, trufflehog):
    /// `\b<prefix>[0-9A-Za-z]{49}\b`, the prefix escaped.
    ///
    /// The word boundaries (`\b`) on both sides make a token count only as a whole word: a
    /// run of the right characters directly preceded or followed by a letter, a digit or `_`
    /// is part of a longer string, not a token of this format. Punctuation, whitespace,
    /// quotes and the ends of the text delimit a token. The syntax is common to RE2 (Go,
    /// GitHub), PCRE, Hyperscan and Rust's `regex`. The checksum cannot be expressed in a
    /// regular expression; a scanner's match is confirmed by [`check`](Self::check) or a store
    /// lookup.
    ///
    /// ```
    /// use tower_bearer::TokenFormat;
    ///
    /// assert_eq!(TokenFormat::new("tok_live_").regex(), r"\btok_live_[0-9A-Za-z]{49}\b");
    /// ```
    #[must_use]
    pub fn regex(&self) -> String {
        let mut prefix = String::with_capacity(self.prefix.len());
        push_regex_escaped(&mut prefix, &self.prefix);
        format!(r"\b{prefix}[0-9A-Za-z]{{{}}}\b", RANDOM_CHARS + CHECKSUM_CHARS)
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
        TokenSecret::generated(token, self.prefix.len())
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

/// Appends `literal` to a regular expression, each metacharacter escaped. Prefixes are
/// letters, digits and `_` today, none of which needs escaping; escaping anyway keeps the
/// pattern right if the rules for prefixes ever widen.
fn push_regex_escaped(pattern: &mut String, literal: &str) {
    for c in literal.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
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

#[cfg(test)]
mod tests {
    use super::{BASE62, TokenFormat, push_regex_escaped};

    #[test]
    fn regex_is_the_escaped_prefix_and_49_base62_characters_between_word_boundaries() {
        let format = TokenFormat::new("tok_live_");
        assert_eq!(format.regex(), r"\btok_live_[0-9A-Za-z]{49}\b");
        assert_eq!(format.token_len(), "tok_live_".len() + 49);
        // The class is exactly the alphabet tokens are drawn from.
        let class: Vec<u8> = (b'0'..=b'9').chain(b'A'..=b'Z').chain(b'a'..=b'z').collect();
        assert_eq!(class, BASE62);
    }

    #[test]
    fn regex_escapes_metacharacters() {
        let mut pattern = String::new();
        push_regex_escaped(&mut pattern, "a.b+c*d?e(f)g|h[i]j{k}l^m$n\\o-p#q&r~s_9");
        assert_eq!(pattern, r"a\.b\+c\*d\?e\(f\)g\|h\[i\]j\{k\}l\^m\$n\\o\-p\#q\&r\~s_9");
    }
}
