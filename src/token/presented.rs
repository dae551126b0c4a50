//! [`PresentedToken`]: a token as a client sent it, redacted, with its digest computed on demand.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use super::hash::TokenHash;
use crate::header::{ParseError, parse_bearer_bytes, validate_b64token};

/// A token as presented by a client; its SHA-256 digest is computed once, when a store first
/// asks for it.
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
    /// Computed on first use: a store that never reads it (a signed-token verifier) does
    /// not pay for hashing the token. A `OnceCell`, not a `OnceLock`: the token is handed to
    /// a store by reference for one synchronous call, never shared between threads, and the
    /// lock's atomic state machine cost as much as a tenth of the digest on the request path.
    hash: OnceCell<TokenHash>,
}

impl<'a> PresentedToken<'a> {
    /// The longest token accepted by default, in bytes: the layer's
    /// [`max_token_len`](crate::BearerAuthLayer::max_token_len) unless configured.
    ///
    /// Generated tokens are well under 100 bytes and JWTs rarely pass 2 KiB; anything longer is
    /// refused before it is hashed.
    pub const DEFAULT_MAX_LEN: usize = 4096;

    /// The token of one `Authorization` header value, parsed as the layer parses it (RFC 6750
    /// §2.1, strictly: the scheme in any case, one or more spaces, a `b64token`; see
    /// [`header`](crate::header) for every decision), borrowed from `value`. Tokens longer
    /// than `max_len` bytes are refused with [`ParseError::TooLong`].
    ///
    /// ```
    /// use tower_bearer::PresentedToken;
    /// use tower_bearer::header::ParseError;
    ///
    /// let token = PresentedToken::from_header(b"bearer  mF_9.B5f-4.1JqM", PresentedToken::DEFAULT_MAX_LEN).unwrap();
    /// assert_eq!(token.expose_secret(), "mF_9.B5f-4.1JqM");
    /// assert_eq!(PresentedToken::from_header(b"Basic dXNlcjpwYXNz", 64).err(), Some(ParseError::NotBearer));
    /// assert_eq!(PresentedToken::from_header(b"Bearer a=b", 64).err(), Some(ParseError::InvalidCharacter));
    /// assert_eq!(PresentedToken::from_header(b"Bearer\tabc", 64).err(), Some(ParseError::BadSeparator));
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ParseError`] for each case.
    pub fn from_header(value: &'a [u8], max_len: usize) -> Result<Self, ParseError> {
        let (token, _) = parse_bearer_bytes(value, max_len)?;
        Ok(PresentedToken::from_checked(Cow::Borrowed(token)))
    }

    /// A presented token. Useful in tests and for stores that check tokens
    /// outside a request.
    #[must_use]
    pub fn new(secret: impl Into<Cow<'a, str>>) -> Self {
        PresentedToken { secret: into_bytes(secret.into()), hash: OnceCell::new() }
    }

    /// A token received outside an `Authorization` header (an introspection or revocation
    /// request's form, say), checked as the layer checks one: at most
    /// [`DEFAULT_MAX_LEN`](Self::DEFAULT_MAX_LEN) bytes of RFC 6750 `b64token`.
    ///
    /// # Errors
    ///
    /// [`ParseError::EmptyToken`], [`ParseError::TooLong`] or
    /// [`ParseError::InvalidCharacter`]: no request could present this token.
    pub fn parse(secret: &'a str) -> Result<Self, ParseError> {
        if secret.len() > Self::DEFAULT_MAX_LEN {
            return Err(ParseError::TooLong);
        }
        validate_b64token(secret.as_bytes())?;
        Ok(PresentedToken::from_checked(Cow::Borrowed(secret.as_bytes())))
    }

    /// A token the layer took from a request and checked against the RFC 6750 `b64token`
    /// grammar (ASCII).
    pub(crate) fn from_checked(secret: Cow<'a, [u8]>) -> Self {
        debug_assert!(secret.is_ascii());
        PresentedToken { secret, hash: OnceCell::new() }
    }

    /// The same token, owning its secret (one copy, only if it was borrowed).
    #[must_use]
    pub fn into_owned(self) -> PresentedToken<'static> {
        PresentedToken { secret: Cow::Owned(self.secret.into_owned()), hash: self.hash }
    }

    /// The SHA-256 digest of the token, computed on the first call.
    #[must_use]
    pub fn hash(&self) -> &TokenHash {
        self.hash.get_or_init(|| TokenHash::of(&self.secret))
    }

    /// The plaintext token as bytes, with no UTF-8 check (ASCII when it comes from a request):
    /// for a store that reads it as bytes, so that the request path checks it once, in the
    /// layer. Never log it or put it in an error.
    #[must_use]
    pub fn expose_secret_bytes(&self) -> &[u8] {
        &self.secret
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
        f.debug_struct("PresentedToken").field("secret", &"<redacted>").field("hash", self.hash()).finish()
    }
}
