//! The URL a DPoP proof names (`htu`), normalized as RFC 9449 §4.3 asks: RFC 3986 §6.2.2
//! (case, percent-encoding) and §6.2.3 (default port, empty path), query and fragment dropped.

/// `url`'s scheme (lowercase, `http` or `https`), authority (host lowercase, default port
/// dropped) and path (percent-encoding normalized, `/` if empty), query and fragment dropped:
/// RFC 3986 §6.2.2 and §6.2.3, as RFC 9449 §4.3 asks for `htu`.
pub(crate) fn split_url(url: &str) -> Option<(String, String, String)> {
    let url = url.split(['#', '?']).next()?;
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some((scheme.clone(), normalize_authority(&scheme, authority), normalize_path(path)))
}

pub(crate) fn normalize_authority(scheme: &str, authority: &str) -> String {
    let authority = authority.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    match authority.strip_suffix(default) {
        Some(host) => host.to_owned(),
        None => authority,
    }
}

/// Percent-encodings in uppercase, unreserved characters decoded, `/` for an empty path.
pub(crate) fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            Some(byte) => {
                out.push_str(&format!("%{byte:02X}"));
                i += 3;
            }
            None => {
                out.push(char::from(bytes[i]));
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalize_as_rfc3986_says() {
        let split = |u: &str| split_url(u).map(|(s, a, p)| format!("{s}://{a}{p}"));
        assert_eq!(
            split("HTTPS://Api.Example.COM:443/a%7eb%2fc?x=1#f").as_deref(),
            Some("https://api.example.com/a~b%2Fc")
        );
        assert_eq!(split("http://h:80").as_deref(), Some("http://h/"));
        assert_eq!(split("http://h:8080/x").as_deref(), Some("http://h:8080/x"));
        for not in ["ftp://h/", "https:///x", "h/x", "https://u@h/"] {
            assert_eq!(split(not), None, "{not}");
        }
    }
}
