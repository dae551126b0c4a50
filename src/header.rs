//! Strict parsing of `Authorization: Bearer <token>` (RFC 9110 §11.6.2, RFC 6750 §2.1).
//!
//! The grammar accepted is exactly
//!
//! ```text
//! credentials = "Bearer" 1*SP b64token
//! b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! with these decisions where the RFCs leave room:
//!
//! - The scheme is matched case-insensitively (`bearer`, `BEARER`), as RFC 9110 §11.1 requires.
//! - Leading and trailing spaces or tabs around the whole field value are ignored: RFC 9110 §5.5
//!   says they are not part of the value (hyper already strips them). Between the scheme and the
//!   token only spaces are allowed; a tab there is malformed.
//! - A value whose first word is not `Bearer` (`Basic ...`, `Token ...`, an empty value, bytes
//!   that are not a scheme at all) is [`ParseError::NotBearer`]: the layer answers it with a bare
//!   challenge, as if no credentials had been sent (RFC 6750 §3.1).
//! - `Bearer` with no token ([`ParseError::EmptyToken`]), a token with any byte outside the
//!   `b64token` set, including non-ASCII / non-UTF-8 bytes, NUL, CR/LF, commas, quotes and `=`
//!   anywhere but at the end ([`ParseError::InvalidCharacter`]), and a token longer than the
//!   configured limit ([`ParseError::TooLong`], checked before anything else so a huge header
//!   costs nothing) are all malformed tokens: 401 `invalid_token`.
//!
//! The parser is a pure function over bytes, so it can be fuzzed and tested in isolation.

use std::fmt;

/// Why an `Authorization` header value is not usable bearer credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The value does not use the `Bearer` scheme (or is empty). Not an error in the token:
    /// the client simply did not present bearer credentials.
    NotBearer,
    /// `Bearer` followed by nothing.
    EmptyToken,
    /// The scheme is not followed by one or more spaces (for example a tab).
    BadSeparator,
    /// A byte outside the RFC 6750 `b64token` set, or `=` before the end of the token.
    InvalidCharacter,
    /// The token is longer than the configured limit.
    TooLong,
}

impl ParseError {
    /// A short description, safe to send to the client (never contains input bytes).
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            ParseError::NotBearer => "the Authorization header does not use the Bearer scheme",
            ParseError::EmptyToken => "the bearer token is empty",
            ParseError::BadSeparator => "the Bearer scheme must be followed by a space",
            ParseError::InvalidCharacter => "the bearer token contains characters not allowed by RFC 6750",
            ParseError::TooLong => "the bearer token is too long",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for ParseError {}

const SCHEME: &[u8; 6] = b"bearer";

/// The scheme of DPoP-bound tokens (RFC 9449 §7.1), lowercase.
const DPOP_SCHEME: &[u8; 4] = b"dpop";

/// [`PresentedToken::from_header`](crate::PresentedToken::from_header) without the token
/// built, for the request path: the token (ASCII, checked) and its offset in `value`.
#[inline]
pub(crate) fn parse_bearer_bytes(value: &[u8], max_len: usize) -> Result<(&[u8], usize), ParseError> {
    parse_scheme_bytes(value, max_len, SCHEME)
}

/// [`parse_bearer_bytes`] for the `DPoP` scheme (RFC 9449 §7.1), whose token has the same
/// `token68` grammar; [`ParseError::NotBearer`] for any other scheme.
pub(crate) fn parse_dpop_bytes(value: &[u8], max_len: usize) -> Result<(&[u8], usize), ParseError> {
    parse_scheme_bytes(value, max_len, DPOP_SCHEME)
}

/// The token of `value` under the scheme `scheme` (lowercase letters), matched without regard
/// to case (RFC 9110 §11.1).
#[inline]
fn parse_scheme_bytes<'v, const N: usize>(
    value: &'v [u8],
    max_len: usize,
    scheme: &[u8; N],
) -> Result<(&'v [u8], usize), ParseError> {
    let (first, last) = trim_ows(value);
    let value = &value[..last];
    let rest = &value[first..];
    // Setting bit 5 of a byte folds it onto a lowercase letter only if it is that letter in
    // either case, so this is exactly a case-insensitive match, in a handful of instructions.
    if rest.first_chunk::<N>().is_none_or(|found| found.map(|b| b | 0x20) != *scheme) {
        return Err(ParseError::NotBearer);
    }
    let after = &rest[N..];
    match after.first() {
        None => return Err(ParseError::EmptyToken),
        Some(b' ') => {}
        Some(b'\t') => return Err(ParseError::BadSeparator),
        // `Bearerx ...` is some other scheme that merely starts with "bearer".
        Some(_) => return Err(ParseError::NotBearer),
    }
    let spaces = after.iter().take_while(|&&b| b == b' ').count();
    let token = &after[spaces..];
    if token.is_empty() {
        // Unreachable after trimming, kept so the function is total without relying on it.
        return Err(ParseError::EmptyToken);
    }
    if token.len() > max_len {
        return Err(ParseError::TooLong);
    }
    validate_b64token(token)?;
    Ok((token, first + N + spaces))
}

/// Checks `token` against RFC 6750's `b64token`: one or more of
/// `A-Z a-z 0-9 - . _ ~ + /`, then any number of `=`, and nothing else.
///
/// # Errors
///
/// [`ParseError::EmptyToken`] for an empty slice, [`ParseError::InvalidCharacter`] otherwise.
pub(crate) fn validate_b64token(token: &[u8]) -> Result<(), ParseError> {
    // The `=` padding first (from the end: usually none), then one pass over the rest with no
    // early exit and no table: the compiler turns it into a few vector compares, where a
    // `position` over a lookup table goes byte by byte with a branch each.
    let body = &token[..token.len() - token.iter().rev().take_while(|&&b| b == b'=').count()];
    if body.is_empty() {
        return Err(if token.is_empty() { ParseError::EmptyToken } else { ParseError::InvalidCharacter });
    }
    if all_b64token_chars(body) { Ok(()) } else { Err(ParseError::InvalidCharacter) }
}

/// Whether every byte of `bytes` is a `b64token` character, 16 bytes at a time: the block is a
/// fixed-size array, so the compiler checks it in one vector register (SSE2 is enough), and the
/// tail is a last block overlapping the one before it (or, for a short slice, padded). A loop
/// over the slice as a whole vectorises too, but leaves up to 31 bytes to a scalar tail loop
/// that cost more than the vector part on 40-60-byte tokens.
fn all_b64token_chars(bytes: &[u8]) -> bool {
    const BLOCK: usize = 16;
    // One lane per byte position, reduced once at the end rather than once per block.
    let mut lanes = [true; BLOCK];
    let mut check = |block: &[u8; BLOCK]| {
        for (lane, &b) in lanes.iter_mut().zip(block) {
            *lane &= is_b64token_char(b);
        }
    };
    let mut chunks = bytes.chunks_exact(BLOCK);
    for chunk in chunks.by_ref() {
        if let Ok(block) = chunk.try_into() {
            check(block);
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        match bytes.last_chunk::<BLOCK>() {
            Some(last) => check(last),
            None => {
                let mut padded = [b'A'; BLOCK];
                padded[..rest.len()].copy_from_slice(rest);
                check(&padded);
            }
        }
    }
    lanes.iter().fold(true, |ok, &lane| ok & lane)
}

/// Whether `b` may appear in a `b64token` before the `=` padding: `A-Z a-z 0-9 - . _ ~ + /`.
/// Branch-free, so that a loop over it vectorises.
#[inline]
fn is_b64token_char(b: u8) -> bool {
    // Setting bit 5 maps `A-Z` onto `a-z` and nothing else onto it.
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    // `-`, `.`, `/` and the digits are one run of 13 bytes: 0x2D..=0x39.
    let run = b.wrapping_sub(b'-') < 13;
    letter | run | (b == b'+') | (b == b'_') | (b == b'~')
}

/// Returns `(first, end)` so that `value[first..end]` has no leading or trailing SP / HTAB.
fn trim_ows(value: &[u8]) -> (usize, usize) {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let first = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !is_ows(b)).map_or(first, |i| i + 1);
    (first, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::presented::PresentedToken;

    #[test]
    fn the_blockwise_check_agrees_with_the_bytewise_one_at_every_length_and_position() {
        for len in 0..80 {
            let good = vec![b'a'; len];
            assert!(all_b64token_chars(&good), "{len}");
            for at in 0..len {
                for bad in [b',', b' ', b'=', 0, 0x80, 0xff, b'"'] {
                    let mut v = good.clone();
                    v[at] = bad;
                    assert!(!all_b64token_chars(&v), "len {len} at {at} byte {bad}");
                }
            }
        }
    }

    fn parse(v: &[u8]) -> Result<&str, ParseError> {
        parse_with(v, PresentedToken::DEFAULT_MAX_LEN)
    }

    fn parse_with(v: &[u8], max_len: usize) -> Result<&str, ParseError> {
        parse_bearer_bytes(v, max_len).map(|(token, _)| std::str::from_utf8(token).expect("ASCII"))
    }

    #[test]
    fn accepts_the_grammar() {
        assert_eq!(parse(b"Bearer abc"), Ok("abc"));
        assert_eq!(parse(b"BEARER abc"), Ok("abc"));
        assert_eq!(parse(b"bEaReR    a-._~+/Z9=="), Ok("a-._~+/Z9=="));
        assert_eq!(parse(b"  Bearer abc \t"), Ok("abc"));
    }

    #[test]
    fn offset_points_at_the_token() {
        let v = b" Bearer  tok";
        let (token, start) = parse_bearer_bytes(v, 100).unwrap();
        assert_eq!((token, &v[start..start + 3]), (&b"tok"[..], &b"tok"[..]));
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(parse(b""), Err(ParseError::NotBearer));
        assert_eq!(parse(b"   "), Err(ParseError::NotBearer));
        assert_eq!(parse(b"Basic abc"), Err(ParseError::NotBearer));
        assert_eq!(parse(b"Bearerabc"), Err(ParseError::NotBearer));
        assert_eq!(parse(b"Bear abc"), Err(ParseError::NotBearer));
        assert_eq!(parse(b"Bearer"), Err(ParseError::EmptyToken));
        assert_eq!(parse(b"Bearer   "), Err(ParseError::EmptyToken));
        assert_eq!(parse(b"Bearer\tabc"), Err(ParseError::BadSeparator));
        assert_eq!(parse(b"Bearer a b"), Err(ParseError::InvalidCharacter));
        assert_eq!(parse(b"Bearer a,Bearer b"), Err(ParseError::InvalidCharacter));
        assert_eq!(parse(b"Bearer =abc"), Err(ParseError::InvalidCharacter));
        assert_eq!(parse(b"Bearer ab=c"), Err(ParseError::InvalidCharacter));
        assert_eq!(parse(b"Bearer ab\x00"), Err(ParseError::InvalidCharacter));
        assert_eq!(parse(b"Bearer \xc3\xa9"), Err(ParseError::InvalidCharacter));
        assert_eq!(parse(b"Bearer \"abc\""), Err(ParseError::InvalidCharacter));
        assert_eq!(parse_with(b"Bearer abcd", 3), Err(ParseError::TooLong));
        assert_eq!(parse_with(b"Bearer abc", 3), Ok("abc"));
    }

    #[test]
    fn debug_is_redacted() {
        let t = PresentedToken::from_header(b"Bearer s3cr3t", 64).unwrap();
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
