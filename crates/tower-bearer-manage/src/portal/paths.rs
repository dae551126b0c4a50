//! [`Paths`]: where the portal's pages are, wherever the host nested the router (read from the
//! request, so links and redirects stay right under any prefix).

use std::convert::Infallible;
use std::fmt::Write as _;

use axum::extract::{FromRequestParts, OriginalUri};
use http::request::Parts;
use tower_bearer::TokenId;
use tower_bearer::manage::PageCursor;

/// The portal's URLs (absolute paths) for the current request.
#[derive(Clone, Debug)]
pub(crate) struct Paths {
    /// The prefix the host nested the portal at: `/account/tokens`, or empty at the root.
    base: String,
}

impl Paths {
    /// The paths of a portal at `request_path` (as the browser asked for it) when the router
    /// itself saw `route_path`.
    pub(crate) fn new(request_path: &str, route_path: &str) -> Self {
        let base = if route_path == "/" {
            request_path.trim_end_matches('/')
        } else {
            request_path.strip_suffix(route_path).unwrap_or("")
        };
        // Never `//host`: a path that a browser would take for another site.
        Paths { base: format!("/{}", base.trim_start_matches('/')).trim_end_matches('/').to_owned() }
    }

    /// The list and the create form.
    pub(crate) fn list(&self) -> String {
        if self.base.is_empty() { "/".to_owned() } else { self.base.clone() }
    }

    /// The list, telling that `id` was revoked.
    pub(crate) fn list_after_revoking(&self, id: &TokenId) -> String {
        format!("{}?revoked={}", self.list(), encode(id.as_str()))
    }

    /// The list's page after `cursor`.
    pub(crate) fn list_after(&self, cursor: &PageCursor) -> String {
        format!("{}?after={}", self.list(), encode(&cursor.to_string()))
    }

    /// Where a new token's secret is shown once.
    pub(crate) fn created(&self, id: &TokenId) -> String {
        format!("{}/created/{}", self.base, encode(id.as_str()))
    }

    /// The token's usage page.
    pub(crate) fn usage(&self, id: &TokenId) -> String {
        format!("{}/{}/usage", self.base, encode(id.as_str()))
    }

    /// The revocation's confirmation (GET) and the revocation (POST).
    pub(crate) fn revoke(&self, id: &TokenId) -> String {
        format!("{}/{}/revoke", self.base, encode(id.as_str()))
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters (for a path segment or a query
/// value).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl<T: Send + Sync> FromRequestParts<T> for Paths {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &T) -> Result<Self, Infallible> {
        let route_path = parts.uri.path();
        let request_path = parts.extensions.get::<OriginalUri>().map_or(route_path, |o| o.0.path());
        Ok(Paths::new(request_path, route_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_prefix_the_host_chose() {
        let id = TokenId::from("tid_1");
        let nested = Paths::new("/account/tokens/tid_1/revoke", "/tid_1/revoke");
        assert_eq!(nested.list(), "/account/tokens");
        assert_eq!(nested.revoke(&id), "/account/tokens/tid_1/revoke");
        assert_eq!(Paths::new("/account/tokens", "/").created(&id), "/account/tokens/created/tid_1");
        assert_eq!(Paths::new("/account/tokens/", "/").list(), "/account/tokens");
        let root = Paths::new("/", "/");
        assert_eq!((root.list(), root.created(&id)), ("/".to_owned(), "/created/tid_1".to_owned()));
        assert_eq!(root.list_after_revoking(&TokenId::from("a b/é")), "/?revoked=a%20b%2F%C3%A9");
        assert_eq!(Paths::new("//evil.example/x", "/x").list(), "/evil.example");
    }
}
