//! Finding the one token a request presents: the `Authorization` header always, a query
//! parameter or a cookie only where the application turned them on; then the cheap checks
//! (grammar, length, token format) that come before hashing it.

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Request};

use crate::header::{BearerToken, ParseError, parse_bearer_bytes, validate_b64token};
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
}

impl Default for TokenSources {
    fn default() -> Self {
        TokenSources {
            max_len: BearerToken::DEFAULT_MAX_LEN,
            query_param: None,
            cookie: None,
            formats: Vec::new(),
        }
    }
}

impl TokenSources {
    /// The request's token, or why there is none usable; marks the credentials it looked at
    /// sensitive on the way (see [`mark_sensitive`]). The token borrows from the request.
    pub(crate) fn find<'r, B>(&self, req: &'r mut Request<B>) -> Result<PresentedToken<'r>, AuthError> {
        let token = if self.query_param.is_none() && self.cookie.is_none() {
            // The usual configuration: the header alone, marked and read with one probe.
            only_from_header(req.headers_mut(), self.max_len)?.ok_or(AuthError::MissingCredentials)?
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
        let mut found = bearer_from_header(req.headers(), self.max_len)?;
        if let Some(name) = self.query_param.as_deref() {
            let value = unique(req.uri().query().unwrap_or("").split('&').filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name).then(|| percent_decode(v))
            }))?;
            let token = match value {
                Some(Some(decoded)) => Some(self.checked(decoded)?),
                Some(None) => return Err(malformed(ParseError::InvalidCharacter)),
                None => None,
            };
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

/// The bearer token of the `Authorization` header, which it marks sensitive.
fn only_from_header(headers: &mut HeaderMap, max_len: usize) -> Result<Option<Cow<'_, [u8]>>, AuthError> {
    if headers.len() != headers.keys_len() {
        // Some name has several values, maybe this one: mark them all, then count.
        mark(headers, &AUTHORIZATION);
        return bearer_from_header(headers, max_len);
    }
    // One value per name: the single probe that marks the value also reads it.
    match headers.get_mut(AUTHORIZATION) {
        Some(value) => {
            value.set_sensitive(true);
            bearer_from_value(value, max_len)
        }
        None => Ok(None),
    }
}

fn bearer_from_header(headers: &HeaderMap, max_len: usize) -> Result<Option<Cow<'_, [u8]>>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders));
    }
    bearer_from_value(value, max_len)
}

fn bearer_from_value(value: &HeaderValue, max_len: usize) -> Result<Option<Cow<'_, [u8]>>, AuthError> {
    match parse_bearer_bytes(value.as_bytes(), max_len) {
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

/// Decodes `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte). `None` if an
/// escape is broken or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                // `from_str_radix` alone would accept a sign ("%+f").
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%3D").as_deref(), Some("a/b="));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%+f"), None);
    }
}
