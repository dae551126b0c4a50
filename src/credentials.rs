//! Finding the one token a request presents: the `Authorization` header always, a query
//! parameter or a cookie only where the application turned them on.

use http::header::{AUTHORIZATION, COOKIE, Entry};
use http::{HeaderMap, Request};

use crate::header::{ParseError, parse_bearer, validate_b64token};
use crate::response::{AuthError, InvalidRequest, InvalidToken};
use crate::token::PresentedToken;

/// Where the layer looks for a token, and how long one may be.
#[derive(Clone, Debug)]
pub(crate) struct TokenSources {
    pub(crate) max_len: usize,
    pub(crate) query_param: Option<Box<str>>,
    pub(crate) cookie: Option<Box<str>>,
}

impl TokenSources {
    /// The request's token, or why there is none usable.
    ///
    /// Marks every `Authorization` value sensitive on the way, so that HTTP/2 HPACK and any
    /// `Debug` of the headers downstream treat it as a secret.
    pub(crate) fn find<B>(&self, req: &mut Request<B>) -> Result<PresentedToken, AuthError> {
        let from_header = bearer_from_header(req.headers_mut(), self.max_len)?;
        let mut found = from_header;
        if let Some(name) = self.query_param.as_deref() {
            let value = unique(req.uri().query().unwrap_or("").split('&').filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name).then(|| percent_decode(v))
            }))?;
            found = one_of(found, value.map(|v| self.owned(v.as_deref())).transpose()?)?;
        }
        if let Some(name) = self.cookie.as_deref() {
            let value = unique(cookie_values(req.headers(), name))?;
            found = one_of(found, value.map(|v| self.owned(Some(v))).transpose()?)?;
        }
        found.ok_or(AuthError::MissingCredentials)
    }

    /// Validates a token taken from somewhere other than the header (`None`: undecodable).
    fn owned(&self, token: Option<&str>) -> Result<PresentedToken, AuthError> {
        let malformed = |e| AuthError::InvalidToken(InvalidToken::Malformed(e));
        let token = token.ok_or(malformed(ParseError::InvalidCharacter))?;
        if token.len() > self.max_len {
            return Err(malformed(ParseError::TooLong));
        }
        validate_b64token(token.as_bytes()).map_err(malformed)?;
        Ok(PresentedToken::new(token))
    }
}

fn bearer_from_header(headers: &mut HeaderMap, max_len: usize) -> Result<Option<PresentedToken>, AuthError> {
    let Entry::Occupied(mut entry) = headers.entry(AUTHORIZATION) else {
        return Ok(None);
    };
    let mut lines = 0;
    for value in entry.iter_mut() {
        value.set_sensitive(true);
        lines += 1;
    }
    if lines > 1 {
        return Err(AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders));
    }
    let value = entry.get();
    match parse_bearer(value.as_bytes(), max_len) {
        Ok(token) => {
            let start = token.offset();
            Ok(Some(PresentedToken::from_header(value, start..start + token.expose_secret().len())))
        }
        Err(ParseError::NotBearer) => Ok(None),
        Err(e) => Err(AuthError::InvalidToken(InvalidToken::Malformed(e))),
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
fn one_of(a: Option<PresentedToken>, b: Option<PresentedToken>) -> Result<Option<PresentedToken>, AuthError> {
    match (a, b) {
        (Some(_), Some(_)) => Err(AuthError::InvalidRequest(InvalidRequest::MultipleTokens)),
        (a, b) => Ok(a.or(b)),
    }
}

/// Values of the cookie `name` across every `Cookie` header (HTTP/2 may split them).
fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
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
