//! Finding the one token a request presents: the `Authorization` header always (`Bearer`, and
//! `DPoP` where the layer takes DPoP proofs), a query
//! parameter or a cookie only where the application turned them on; then the cheap checks
//! (grammar, length, token format) that come before hashing it.

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Request};

use crate::header::{ParseError, parse_bearer_bytes, parse_dpop_bytes, validate_b64token};
use crate::outcome::error::{AuthError, InvalidRequest, InvalidToken};
use crate::token::format::TokenFormat;
use crate::token::presented::{PresentedToken, into_bytes};

/// Where the layer looks for a token, and how long one may be.
#[derive(Clone, Debug)]
pub(crate) struct TokenSources {
    pub(crate) max_len: usize,
    pub(crate) query_param: Option<Box<str>>,
    pub(crate) cookie: Option<Box<str>>,
    /// If not empty, a token must be of one of these formats (checked before hashing).
    pub(crate) formats: Vec<TokenFormat>,
    /// The `Authorization` schemes taken.
    pub(crate) schemes: Schemes,
}

/// Which `Authorization` schemes the layer takes a token from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Schemes {
    /// `Bearer` (RFC 6750).
    pub(crate) bearer: bool,
    /// `DPoP` (RFC 9449 §7.1).
    pub(crate) dpop: bool,
}

impl Schemes {
    /// `Bearer` only: a layer without DPoP.
    pub(crate) const BEARER: Schemes = Schemes { bearer: true, dpop: false };

    /// The token of one `Authorization` value in a scheme taken, or `NotBearer` for any other.
    #[inline]
    fn parse(self, value: &[u8], max_len: usize) -> Result<(&[u8], usize), ParseError> {
        if !self.dpop {
            // A layer without DPoP: the bearer parser alone, as on the hot path it always was.
            return parse_bearer_bytes(value, max_len);
        }
        let bearer =
            if self.bearer { parse_bearer_bytes(value, max_len) } else { Err(ParseError::NotBearer) };
        match bearer {
            Err(ParseError::NotBearer) if self.dpop => parse_dpop_bytes(value, max_len),
            other => other,
        }
    }
}

impl Default for TokenSources {
    fn default() -> Self {
        TokenSources {
            max_len: PresentedToken::DEFAULT_MAX_LEN,
            query_param: None,
            cookie: None,
            formats: Vec::new(),
            schemes: Schemes::BEARER,
        }
    }
}

impl TokenSources {
    /// The request's token, or why there is none usable; marks the credentials it looked at
    /// sensitive on the way (see [`mark_sensitive`]). The token borrows from the request.
    pub(crate) fn find<'r, B>(&self, req: &'r mut Request<B>) -> Result<PresentedToken<'r>, AuthError> {
        let token = if self.query_param.is_none() && self.cookie.is_none() {
            // The usual configuration: the header alone, marked and read with one probe.
            only_from_header(req.headers_mut(), self.max_len, self.schemes)?
                .ok_or(AuthError::MissingCredentials)?
        } else {
            mark_sensitive(req.headers_mut(), self.cookie.is_some());
            self.find_secret(req)?
        };
        if !self.formats.is_empty() && !self.formats.iter().any(|f| f.check_bytes(&token).is_ok()) {
            return Err(AuthError::InvalidToken(InvalidToken::BadFormat));
        }
        Ok(PresentedToken::from_checked(token))
    }

    /// The token's bytes, checked against the `b64token` grammar wherever they came from.
    fn find_secret<'r, B>(&self, req: &'r Request<B>) -> Result<Cow<'r, [u8]>, AuthError> {
        let mut found = bearer_from_header(req.headers(), self.max_len, self.schemes)?;
        if let Some(name) = self.query_param.as_deref() {
            // Decoded as a form (`+` a space, `%XX` a byte); a broken escape stays as it was
            // sent, and the `b64token` check refuses it.
            let query = req.uri().query().unwrap_or("").as_bytes();
            let value = unique(form_urlencoded::parse(query).filter(|(k, _)| k == name).map(|(_, v)| v))?;
            let token = value.map(|decoded| self.checked(decoded)).transpose()?;
            found = one_of(found, token)?;
        }
        if let Some(name) = self.cookie.as_deref() {
            let token = unique(cookie_values(req.headers(), name))?.map(|v| self.checked(v)).transpose()?;
            found = one_of(found, token)?;
        }
        found.ok_or(AuthError::MissingCredentials)
    }

    /// Validates a token taken from somewhere other than the `Authorization` header.
    fn checked<'r>(&self, token: impl Into<Cow<'r, str>>) -> Result<Cow<'r, [u8]>, AuthError> {
        let token = into_bytes(token.into());
        if token.len() > self.max_len {
            return Err(malformed(ParseError::TooLong));
        }
        validate_b64token(&token).map_err(malformed)?;
        Ok(token)
    }
}

/// Marks every `Authorization` value sensitive, so that HTTP/2 HPACK and any `Debug` of the
/// headers downstream treat it as a secret; and every `Cookie` value too when `cookies` (the
/// layer reads its token from a cookie).
pub(crate) fn mark_sensitive(headers: &mut HeaderMap, cookies: bool) {
    mark(headers, &AUTHORIZATION);
    if cookies {
        mark(headers, &COOKIE);
    }
}

/// Not `HeaderMap::entry`: it reserves room for an insert first, which allocates the table of
/// an empty map and grows a full one, and hyper sizes a request's map to exactly the headers
/// it received (2, 3 or 6 headers: full), so `entry` reallocated the map on most requests.
fn mark(headers: &mut HeaderMap, name: &HeaderName) {
    if headers.len() == headers.keys_len() {
        // One value per name, the usual case: a single probe.
        if let Some(value) = headers.get_mut(name) {
            value.set_sensitive(true);
        }
    } else {
        headers.iter_mut().filter(|(n, _)| *n == name).for_each(|(_, value)| value.set_sensitive(true));
    }
}

fn malformed(e: ParseError) -> AuthError {
    AuthError::InvalidToken(InvalidToken::Malformed(e))
}

/// The token of the `Authorization` header, which it marks sensitive.
fn only_from_header(
    headers: &mut HeaderMap,
    max_len: usize,
    schemes: Schemes,
) -> Result<Option<Cow<'_, [u8]>>, AuthError> {
    if headers.len() != headers.keys_len() {
        // Some name has several values, maybe this one: mark them all, then count.
        mark(headers, &AUTHORIZATION);
        return bearer_from_header(headers, max_len, schemes);
    }
    // One value per name: the single probe that marks the value also reads it.
    match headers.get_mut(AUTHORIZATION) {
        Some(value) => {
            value.set_sensitive(true);
            bearer_from_value(value, max_len, schemes)
        }
        None => Ok(None),
    }
}

fn bearer_from_header(
    headers: &HeaderMap,
    max_len: usize,
    schemes: Schemes,
) -> Result<Option<Cow<'_, [u8]>>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders));
    }
    bearer_from_value(value, max_len, schemes)
}

fn bearer_from_value(
    value: &HeaderValue,
    max_len: usize,
    schemes: Schemes,
) -> Result<Option<Cow<'_, [u8]>>, AuthError> {
    match schemes.parse(value.as_bytes(), max_len) {
        Ok((token, _)) => Ok(Some(Cow::Borrowed(token))),
        Err(ParseError::NotBearer) => Ok(None),
        Err(e) => Err(malformed(e)),
    }
}

/// At most one item, else the request repeats its token.
fn unique<T>(mut items: impl Iterator<Item = T>) -> Result<Option<T>, AuthError> {
    let first = items.next();
    match items.next() {
        Some(_) => Err(AuthError::InvalidRequest(InvalidRequest::MultipleTokens)),
        None => Ok(first),
    }
}

/// Combines two places a token may come from; both present is `invalid_request`.
fn one_of<'r>(
    a: Option<Cow<'r, [u8]>>,
    b: Option<Cow<'r, [u8]>>,
) -> Result<Option<Cow<'r, [u8]>>, AuthError> {
    match (a, b) {
        (Some(_), Some(_)) => Err(AuthError::InvalidRequest(InvalidRequest::MultipleTokens)),
        (a, b) => Ok(a.or(b)),
    }
}

/// Values of the cookie `name` across every `Cookie` header (HTTP/2 may split them).
fn cookie_values<'h, 'n>(
    headers: &'h HeaderMap,
    name: &'n str,
) -> impl Iterator<Item = &'h str> + use<'h, 'n> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).filter_map(
        move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v))
        },
    )
}
