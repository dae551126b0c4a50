//! CSRF protection for the portal's forms.
//!
//! Every form carries a synchronizer token in a hidden field: HMAC-SHA256, under the host's
//! key, of whom the form was made for (subject and organization), which form it is (create,
//! or revoke this token), when it was made and a fresh random nonce. A POST is accepted only
//! with a token made for the same user and form in the last [`LIFETIME`], compared in
//! constant time; so a page of another site, which cannot read the user's pages, cannot make
//! one. The nonce makes every token different, so that a compressed page does not repeat a
//! fixed secret (BREACH).
//!
//! The browser's own word is checked too where it gives one: `Sec-Fetch-Site` must be
//! `same-origin`, and otherwise an `Origin` must name the host the request was sent to.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use http::header::{HOST, ORIGIN};
use http::{HeaderMap, Uri};
use sha2::Sha256;

use super::user::PortalUser;

/// The name of the hidden form field.
pub(crate) const FIELD: &str = "csrf";
/// How long a form can be submitted after it was served.
pub(crate) const LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// How far ahead of the clock a token may be dated (clocks of several instances disagree).
const SKEW: Duration = Duration::from_secs(60);
/// Keeps these MACs apart from anything else the host signs with the same key.
const DOMAIN: &[u8] = b"tower-bearer-manage portal csrf v1";
const NONCE_LEN: usize = 16;

/// The host's key, kept out of `Debug`.
pub(crate) struct CsrfKey([u8; 32]);

impl CsrfKey {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        CsrfKey(key)
    }

    /// A token for `user` to submit the form `action` with.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator is unavailable.
    pub(crate) fn token(&self, user: &PortalUser, action: &str, now: SystemTime) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random number generator is unavailable");
        let at = unix_secs(now);
        let tag = self.mac(user, action, at, &nonce).finalize().into_bytes();
        format!("{at}.{}.{}", B64.encode(nonce), B64.encode(tag))
    }

    /// Whether `token` was made by [`token`](Self::token) for `user` and `action` within the
    /// lifetime.
    pub(crate) fn verify(&self, token: &str, user: &PortalUser, action: &str, now: SystemTime) -> bool {
        let mut parts = token.splitn(3, '.');
        let (Some(at), Some(nonce), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let (Ok(at), Ok(nonce), Ok(tag)) = (at.parse::<u64>(), B64.decode(nonce), B64.decode(tag)) else {
            return false;
        };
        let now = unix_secs(now);
        let fresh = at <= now.saturating_add(SKEW.as_secs()) && now.saturating_sub(at) <= LIFETIME.as_secs();
        // `verify_slice` compares the whole 32-byte tag in constant time (and refuses any
        // other length, which is not secret).
        fresh && nonce.len() == NONCE_LEN && self.mac(user, action, at, &nonce).verify_slice(&tag).is_ok()
    }

    fn mac(&self, user: &PortalUser, action: &str, at: u64, nonce: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        // Length-prefixed, so that no two different inputs run together into the same bytes.
        let organization = user.organization.as_deref().map_or(&[][..], str::as_bytes);
        let org_flag = [u8::from(user.organization.is_some())];
        for field in [DOMAIN, user.subject.as_bytes(), &org_flag, organization, action.as_bytes(), nonce] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac.update(&at.to_be_bytes());
        mac
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether the browser says the request comes from a page of this same site. Without either
/// header (an old browser, or a client that is not a browser) it is left to the token.
pub(crate) fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site == "same-origin";
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let host =
        headers.get(HOST).and_then(|h| h.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
    let origin_host = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, host)| host);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CsrfKey {
        CsrfKey::new([7; 32])
    }

    #[test]
    fn a_token_is_good_for_its_user_and_form_for_its_lifetime() {
        let ada = PortalUser::new("ada", "Ada").organization("acme");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = key().token(&ada, "create", now);
        assert!(key().verify(&token, &ada, "create", now));
        assert!(key().verify(&token, &ada, "create", now + LIFETIME));
        assert!(!key().verify(&token, &ada, "create", now + LIFETIME + Duration::from_secs(1)));
        assert!(!key().verify(&token, &ada, "create", now - SKEW - Duration::from_secs(1)));
        assert!(!key().verify(&token, &ada, "revoke tid_1", now));
        assert!(!key().verify(&token, &PortalUser::new("ada", "Ada"), "create", now));
        assert!(!key().verify(&token, &PortalUser::new("eve", "Ada").organization("acme"), "create", now));
        assert!(!CsrfKey::new([8; 32]).verify(&token, &ada, "create", now));
        assert_ne!(token, key().token(&ada, "create", now), "a fresh nonce each time");
    }

    #[test]
    fn malformed_tokens_fail() {
        let ada = PortalUser::new("ada", "Ada");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let good = key().token(&ada, "create", now);
        let (head, tag) = good.rsplit_once('.').unwrap();
        let short_tag = &tag[..tag.len() - 2];
        for bad in [
            String::new(),
            "1800000000".to_owned(),
            format!("{head}."),
            format!("{head}.{short_tag}"),
            format!("{head}.{tag}AA"),
            format!("x{good}"),
            good.replacen("1800000000", "1800000001", 1),
        ] {
            assert!(!key().verify(&bad, &ada, "create", now), "{bad}");
        }
    }

    fn request(headers: &[(&str, &str)]) -> (HeaderMap, Uri) {
        let mut req = http::Request::builder().uri("/").header("host", "portal.example:8443");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let parts = req.body(()).unwrap().into_parts().0;
        (parts.headers, parts.uri)
    }

    fn same_origin((headers, uri): (HeaderMap, Uri)) -> bool {
        super::same_origin(&headers, &uri)
    }

    #[test]
    fn the_browser_must_not_say_another_site_sent_it() {
        assert!(same_origin(request(&[])));
        assert!(same_origin(request(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(request(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(request(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(request(&[("origin", "https://portal.example:8443")])));
        assert!(!same_origin(request(&[("origin", "https://evil.example")])));
        assert!(!same_origin(request(&[("origin", "null")])));
    }
}
