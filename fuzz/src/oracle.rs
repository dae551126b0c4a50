//! Independent oracles for tower-bearer's properties, shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and the stable property tests in `tests/fuzz_props.rs` (which includes
//! this file with `#[path]`), so both check exactly the same thing.
//!
//! Nothing here calls the code it judges to decide what the answer should be: the parser is
//! judged against regular expressions of the RFC 6750 grammar, the service against a
//! from-scratch reading of where a request carries tokens. Any disagreement panics, which is
//! what a fuzzer reports and what fails a property test.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_TYPE, COOKIE, ORIGIN, WWW_AUTHENTICATE,
};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use regex::bytes::Regex;
use tower_bearer::PresentedToken;
use tower_bearer::header::ParseError;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes, TokenManager};
use tower_layer::Layer;
use tower_service::Service;

// ---------------------------------------------------------------------------------------------
// The header parser
// ---------------------------------------------------------------------------------------------

/// The whole accepted language, as the issue states it: `Bearer` in any case, one or more
/// spaces, a `b64token`, with optional spaces or tabs around the value. Group 1 is the token.
/// `(?s-u)`: bytes, not Unicode; `.` matches any byte.
static GRAMMAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s-u)^[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)[ \t]*$").unwrap()
});
/// `Bearer` and nothing else but whitespace.
static SCHEME_ONLY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s-u)^[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr][ \t]*$").unwrap());
/// `Bearer` directly followed by a tab.
static TAB_AFTER_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s-u)^[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr]\t").unwrap());
/// `Bearer`, spaces, then whatever stands where the token should (group 1), up to the
/// trailing whitespace.
static TOKEN_REGION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s-u)^[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr] +(.*?)[ \t]*$").unwrap());
/// A whole `b64token`.
static B64TOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s-u)^[A-Za-z0-9\-._~+/]+=*$").unwrap());

/// What `PresentedToken::from_header(value, max_len)` must return: the token's offset and bytes, or the error.
///
/// # Panics
///
/// If the oracle's own regular expressions disagree with each other.
pub fn expected_parse(value: &[u8], max_len: usize) -> Result<(usize, &[u8]), ParseError> {
    if SCHEME_ONLY.is_match(value) {
        return Err(ParseError::EmptyToken);
    }
    if TAB_AFTER_SCHEME.is_match(value) {
        return Err(ParseError::BadSeparator);
    }
    let Some(region) = TOKEN_REGION.captures(value).and_then(|c| c.get(1)) else {
        return Err(ParseError::NotBearer);
    };
    // The length limit applies to whatever stands in the token's place, valid or not: the
    // parser refuses a huge value before looking at its bytes.
    if region.len() > max_len {
        return Err(ParseError::TooLong);
    }
    match GRAMMAR.captures(value).and_then(|c| c.get(1)) {
        Some(token) => {
            assert_eq!(token.range(), region.range(), "oracle: the token is the whole region");
            Ok((token.start(), token.as_bytes()))
        }
        None => Err(ParseError::InvalidCharacter),
    }
}

/// Whether `token` is an RFC 6750 `b64token`.
#[must_use]
pub fn is_b64token(token: &[u8]) -> bool {
    B64TOKEN.is_match(token)
}

/// Runs the parser on `value` and panics unless it agrees exactly with [`expected_parse`]:
/// same token at the same offset, or the same error.
pub fn check_parser(value: &[u8], max_len: usize) {
    // The token is borrowed from `value`: its offset is where its text starts in it.
    let actual = PresentedToken::from_header(value, max_len).map(|t| {
        let start = t.expose_secret().as_ptr() as usize - value.as_ptr() as usize;
        (start, &value[start..start + t.expose_secret().len()])
    });
    check_parse_result(value, max_len, actual);
}

/// Panics unless `actual` (a parser's answer for `value`: token offset and bytes, or the
/// error) is exactly what [`expected_parse`] says.
pub fn check_parse_result(value: &[u8], max_len: usize, actual: Result<(usize, &[u8]), ParseError>) {
    let expected = expected_parse(value, max_len);
    if actual != expected {
        panic!(
            "PresentedToken::from_header disagrees with the oracle\n  value:    {}\n  max_len:  {max_len}\n  parser:   {}\n  oracle:   {}",
            escape(value),
            show(&actual),
            show(&expected)
        );
    }
    if let Ok((start, token)) = actual {
        assert_eq!(&value[start..start + token.len()], token, "offset points at the token");
    }
}

fn show(r: &Result<(usize, &[u8]), ParseError>) -> String {
    match r {
        Ok((start, token)) => format!("Ok(offset {start}, {})", escape(token)),
        Err(e) => format!("Err({e:?})"),
    }
}

/// `value` as printable ASCII, cut short if long.
#[must_use]
pub fn escape(value: &[u8]) -> String {
    let shown: String =
        value.iter().take(200).flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect();
    if value.len() > 200 { format!("\"{shown}\"... ({} bytes)", value.len()) } else { format!("\"{shown}\"") }
}

// ---------------------------------------------------------------------------------------------
// The whole service
// ---------------------------------------------------------------------------------------------

/// The realm of the layer under test.
pub const REALM: &str = "fuzz";
/// The query parameter the layer reads when [`LayerConfig::query`] is on.
pub const QUERY_PARAM: &str = "access_token";
/// The cookie the layer reads when [`LayerConfig::cookie`] is on.
pub const COOKIE_NAME: &str = "tok";
/// The scope required when [`LayerConfig::require_read`] is on.
pub const SCOPE: &str = "read";

/// What the store knows of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Live, with the scope `read`.
    Active,
    /// Live, without any scope.
    ActiveNoScope,
    /// Inserted, then revoked.
    Revoked,
    /// Live, but its expiry has passed.
    Expired,
}

/// The tokens in the store: secret, subject, kind. Every secret is a valid `b64token`. Their
/// lengths (16, 14, 14, 15, 15) straddle the small `max_len` values the configurations use.
pub const TOKENS: [(&str, &str, Kind); 5] = [
    ("alpha-token-0001", "alpha", Kind::Active),
    ("beta.token_2==", "beta", Kind::Active),
    // '+' decodes to a space in a query string, so this one can only come by header or cookie.
    ("gamma~token/3+", "gamma", Kind::ActiveNoScope),
    ("Revoked-Token-4", "revoked", Kind::Revoked),
    ("expired-token-5", "expired", Kind::Expired),
];

/// The `max_len` settings the configurations choose from (`None` is the default, 4096).
pub const MAX_LENS: [Option<usize>; 3] = [None, Some(14), Some(8)];

/// How the layer under test is configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerConfig {
    /// `token_from_query(QUERY_PARAM)`.
    pub query: bool,
    /// `token_from_cookie(COOKIE_NAME)`.
    pub cookie: bool,
    /// `allow_cors_preflight(true)`.
    pub cors: bool,
    /// `require_scopes([SCOPE])`.
    pub require_read: bool,
    /// `max_token_len(n)` when set.
    pub max_len: Option<usize>,
}

impl LayerConfig {
    /// A configuration from five bits and a choice of `max_len`.
    #[must_use]
    pub fn from_bits(bits: u8) -> Self {
        LayerConfig {
            query: bits & 1 != 0,
            cookie: bits & 2 != 0,
            cors: bits & 4 != 0,
            require_read: bits & 8 != 0,
            max_len: MAX_LENS[usize::from(bits >> 4) % MAX_LENS.len()],
        }
    }

    fn max_len(&self) -> usize {
        self.max_len.unwrap_or(PresentedToken::DEFAULT_MAX_LEN)
    }
}

/// One request to put through the layer.
#[derive(Clone, Debug)]
pub struct ServiceCase {
    /// The layer's configuration.
    pub config: LayerConfig,
    /// The request method.
    pub method: Method,
    /// The request URI.
    pub uri: Uri,
    /// The request's header lines, in order (repeated names are separate lines).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The store every case runs against (built once: it is shared and never written to after).
static STORE: LazyLock<MemoryTokenStore> = LazyLock::new(|| {
    let store = MemoryTokenStore::new();
    for (secret, subject, kind) in TOKENS {
        let mut principal = Principal::builder(subject);
        match kind {
            Kind::Active | Kind::Revoked => principal = principal.scopes(Scopes::parse("read write")),
            Kind::ActiveNoScope => {}
            Kind::Expired => {
                principal = principal
                    .scopes(Scopes::parse("read"))
                    .expires_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000));
            }
        }
        let id = store.insert(secret, principal.build()).expect("a valid token");
        if kind == Kind::Revoked {
            // The memory store answers at once: one poll, no runtime.
            let revoked = std::pin::pin!(store.revoke(&id))
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
            assert!(matches!(revoked, std::task::Poll::Ready(Ok(true))));
        }
    }
    store
});

/// What the inner service saw of the request it was given.
#[derive(Debug)]
struct Seen {
    subject: Option<String>,
    authorization_sensitive: Vec<bool>,
}

/// The inner service: records that it ran and what it saw, answers 200.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Service<Request<Bytes>> for Recorder {
    type Response = Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<Full<Bytes>>, std::convert::Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let seen = Seen {
            subject: req.extensions().get::<Principal>().map(|p| p.subject().to_owned()),
            authorization_sensitive: req
                .headers()
                .get_all(AUTHORIZATION)
                .iter()
                .map(|v| v.is_sensitive())
                .collect(),
        };
        self.seen.lock().unwrap().push(seen);
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"inner")))))
    }
}

/// A presentation of a token somewhere in the request, as the oracle reads it.
#[derive(Debug)]
enum Presented {
    /// A live token with the required scopes: the request may pass, with this subject.
    Valid(&'static str),
    /// A live token without the required scope.
    Forbidden,
    /// A live token whose expiry passed.
    Expired,
    /// Unknown, revoked, or not a usable token at all.
    Invalid,
}

fn classify(token: &[u8], config: &LayerConfig) -> Presented {
    if token.len() > config.max_len() || !is_b64token(token) {
        return Presented::Invalid;
    }
    match TOKENS.iter().find(|(secret, _, _)| secret.as_bytes() == token) {
        Some((_, subject, Kind::Active)) => Presented::Valid(subject),
        Some((_, subject, Kind::ActiveNoScope)) => {
            if config.require_read {
                Presented::Forbidden
            } else {
                Presented::Valid(subject)
            }
        }
        Some((_, _, Kind::Expired)) => Presented::Expired,
        Some((_, _, Kind::Revoked)) | None => Presented::Invalid,
    }
}

/// `application/x-www-form-urlencoded` decoding, written independently of the crate's: `+`
/// is a space, `%XX` a byte; `None` for a broken escape.
fn form_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                u8::try_from(hi * 16 + lo).ok()?
            }
            b => b,
        });
    }
    Some(out)
}

/// What the oracle expects of one request.
#[derive(Debug)]
struct Expectation {
    /// Whether the inner service must run (and, for a token, as whom).
    reach: Option<Option<&'static str>>,
    /// The exact status and challenge, where the oracle can tell them without modelling the
    /// order in which the layer looks at several token sources.
    exact: Option<(StatusCode, String)>,
}

fn challenge(error: Option<(&str, &str)>) -> String {
    match error {
        None => format!("Bearer realm=\"{REALM}\""),
        Some((code, description)) => {
            format!("Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{description}\"")
        }
    }
}

fn parse_error_description(e: ParseError) -> &'static str {
    match e {
        ParseError::EmptyToken => "the bearer token is empty",
        ParseError::BadSeparator => "the Bearer scheme must be followed by a space",
        ParseError::InvalidCharacter => "the bearer token contains characters not allowed by RFC 6750",
        ParseError::TooLong => "the bearer token is too long",
        _ => unreachable!("NotBearer is not an error in the token"),
    }
}

fn expect(case: &ServiceCase) -> Expectation {
    let config = &case.config;
    let has = |name: &HeaderName| case.headers.iter().any(|(n, _)| n == name);
    if config.cors && case.method == Method::OPTIONS && has(&ORIGIN) && has(&ACCESS_CONTROL_REQUEST_METHOD) {
        // A CORS preflight (`Origin` and `Access-Control-Request-Method`) goes through
        // untouched, without a principal.
        return Expectation { reach: Some(None), exact: Some((StatusCode::OK, String::new())) };
    }
    let lines: Vec<&HeaderValue> =
        case.headers.iter().filter(|(n, _)| *n == AUTHORIZATION).map(|(_, v)| v).collect();
    if lines.len() > 1 {
        let c = challenge(Some(("invalid_request", "the request has more than one Authorization header")));
        return Expectation { reach: None, exact: Some((StatusCode::BAD_REQUEST, c)) };
    }
    let mut presented = Vec::new();
    if let Some(line) = lines.first() {
        match expected_parse(line.as_bytes(), config.max_len()) {
            Ok((_, token)) => presented.push(classify(token, config)),
            Err(ParseError::NotBearer) => {}
            Err(e) => {
                let c = challenge(Some(("invalid_token", parse_error_description(e))));
                return Expectation { reach: None, exact: Some((StatusCode::UNAUTHORIZED, c)) };
            }
        }
    }
    let only_header = !config.query && !config.cookie;
    if config.query {
        for pair in case.uri.query().unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == QUERY_PARAM {
                presented.push(form_decode(value).map_or(Presented::Invalid, |v| classify(&v, config)));
            }
        }
    }
    if config.cookie {
        let values = case.headers.iter().filter(|(n, _)| *n == COOKIE).filter_map(|(_, v)| v.to_str().ok());
        for pair in values.flat_map(|v| v.split(';')) {
            let Some((key, value)) = pair.trim().split_once('=') else { continue };
            if key == COOKIE_NAME {
                let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
                presented.push(classify(value.as_bytes(), config));
            }
        }
    }
    let (reach, exact) = match presented.as_slice() {
        [] => (None, Some((StatusCode::UNAUTHORIZED, challenge(None)))),
        [Presented::Valid(subject)] => (Some(Some(*subject)), Some((StatusCode::OK, String::new()))),
        [Presented::Forbidden] => {
            let c = format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", \
                 error_description=\"the access token lacks the required scope\", scope=\"{SCOPE}\""
            );
            (None, Some((StatusCode::FORBIDDEN, c)))
        }
        [Presented::Expired] => (
            None,
            Some((StatusCode::UNAUTHORIZED, challenge(Some(("invalid_token", "the access token expired"))))),
        ),
        [Presented::Invalid] if only_header => (
            None,
            Some((
                StatusCode::UNAUTHORIZED,
                challenge(Some(("invalid_token", "the access token is invalid"))),
            )),
        ),
        // An invalid query or cookie token (the oracle does not model which of "malformed" or
        // "unknown" the layer names), or the token sent more than once: refused, somehow.
        _ => (None, None),
    };
    Expectation { reach, exact }
}

/// Sends `case` through `ServiceBuilder`-equivalent layering (`BearerAuthLayer` over a
/// recording inner service), and panics unless:
///
/// - nothing panics, `poll_ready` is ready and the response is ready at the first poll (the
///   memory store answers at once);
/// - the inner service runs exactly when the request presents exactly one token, in exactly
///   one place, and that token is live, unexpired, within the length limit and has the
///   required scope (or the request is a CORS preflight the layer was told to let through);
/// - when it runs, it sees that token's principal and every `Authorization` line marked
///   sensitive;
/// - when it does not, the answer is a JSON rejection with a `Bearer realm="fuzz"` challenge
///   (exactly the expected one where the oracle can tell), 400, 401 or 403, never echoing a
///   stored token, and exactly one event was emitted.
///
/// Returns the response's status (200 exactly when the inner service ran).
pub fn check_service(case: &ServiceCase) -> StatusCode {
    let config = &case.config;
    let events = Arc::new(AtomicUsize::new(0));
    let counter = events.clone();
    let mut layer = BearerAuthLayer::new(STORE.clone())
        .realm(REALM)
        .allow_cors_preflight(config.cors)
        .on_event(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
    if config.query {
        layer = layer.token_from_query(QUERY_PARAM);
    }
    if config.cookie {
        layer = layer.token_from_cookie(COOKIE_NAME);
    }
    if config.require_read {
        layer = layer.require_scopes([SCOPE]);
    }
    if let Some(max) = config.max_len {
        layer = layer.max_token_len(max);
    }
    let recorder = Recorder::default();
    let mut service = layer.layer(recorder.clone());

    let mut req = Request::new(Bytes::new());
    *req.method_mut() = case.method.clone();
    *req.uri_mut() = case.uri.clone();
    for (name, value) in &case.headers {
        req.headers_mut().append(name.clone(), value.clone());
    }

    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))), "the layer is ready");
    let mut future = std::pin::pin!(service.call(req));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        panic!("a memory-store request must complete at the first poll: {case:?}");
    };
    let (response, body) = {
        let (parts, body) = response.into_parts();
        let mut collect = std::pin::pin!(http_body_util::BodyExt::collect(body));
        let Poll::Ready(Ok(collected)) = collect.as_mut().poll(&mut cx) else {
            panic!("a response body held in memory is ready at once: {case:?}");
        };
        (Response::from_parts(parts, ()), collected.to_bytes())
    };

    let expected = expect(case);
    let seen = recorder.seen.lock().unwrap();
    let status = response.status();
    let challenge = response.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().expect("ASCII challenge"));
    match expected.reach {
        Some(subject) => {
            assert_eq!(seen.len(), 1, "the inner service must run once: {case:?} -> {status}");
            assert_eq!(seen[0].subject.as_deref(), subject, "the principal is the token's owner: {case:?}");
            assert!(
                subject.is_none() || seen[0].authorization_sensitive.iter().all(|&s| s),
                "Authorization reaches the inner service marked sensitive: {case:?}"
            );
            assert_eq!(status, StatusCode::OK, "{case:?}");
            assert_eq!(body.as_ref(), b"inner");
            assert_eq!(events.load(Ordering::Relaxed), usize::from(subject.is_some()), "{case:?}");
        }
        None => {
            assert!(seen.is_empty(), "the inner service must not run: {case:?} -> {status} {challenge:?}");
            assert!(
                matches!(status.as_u16(), 400 | 401 | 403),
                "a refusal is 400, 401 or 403: {case:?} -> {status}"
            );
            let challenge = challenge.expect("every refusal has a challenge");
            assert!(challenge.starts_with(&format!("Bearer realm=\"{REALM}\"")), "{challenge}");
            assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
            let body = std::str::from_utf8(&body).expect("UTF-8 body");
            assert!(body.starts_with('{') && body.ends_with('}'), "JSON body: {body}");
            for (secret, _, _) in TOKENS {
                assert!(!body.contains(secret) && !challenge.contains(secret), "token echoed: {case:?}");
            }
            assert_eq!(events.load(Ordering::Relaxed), 1, "one event per refusal: {case:?}");
        }
    }
    if let Some((status_expected, challenge_expected)) = expected.exact {
        assert_eq!(status, status_expected, "{case:?}");
        if status != StatusCode::OK {
            assert_eq!(challenge, Some(challenge_expected.as_str()), "{case:?}");
        }
    }
    status
}

// ---------------------------------------------------------------------------------------------
// The token format (prefix, base62 body, CRC32 checksum)
// ---------------------------------------------------------------------------------------------

/// Base62 digits in the order the format uses them.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters after the prefix.
pub const FORMAT_RANDOM: usize = 43;
/// Checksum characters at the end.
pub const FORMAT_CHECKSUM: usize = 6;

/// CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and final XOR all ones),
/// bit by bit: slow, obviously right, and independent of the crate's `crc32fast`.
#[must_use]
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// `crc` as six base62 digits, most significant first.
#[must_use]
pub fn checksum_digits(crc: u32) -> [u8; FORMAT_CHECKSUM] {
    let mut out = [0u8; FORMAT_CHECKSUM];
    let mut n = u64::from(crc);
    for d in out.iter_mut().rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// What `TokenFormat::new(prefix).check(token)` must answer.
///
/// # Errors
///
/// The first rule the token breaks, in the order the format documents them.
pub fn expected_format(prefix: &str, token: &str) -> Result<(), tower_bearer::token::FormatError> {
    use tower_bearer::token::FormatError;
    let bytes = token.as_bytes();
    if !bytes.starts_with(prefix.as_bytes()) {
        return Err(FormatError::Prefix);
    }
    let rest = &bytes[prefix.len()..];
    if rest.len() != FORMAT_RANDOM + FORMAT_CHECKSUM || !rest.iter().all(|b| BASE62.contains(b)) {
        return Err(FormatError::Shape);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - FORMAT_CHECKSUM);
    if checksum_digits(crc32(body)) == checksum { Ok(()) } else { Err(FormatError::Checksum) }
}

/// A token of the format built by the oracle alone: `prefix`, 43 base62 characters chosen
/// by `seed`, and the checksum.
#[must_use]
pub fn well_formed(prefix: &str, seed: &[u8]) -> String {
    let mut token = prefix.as_bytes().to_vec();
    token.extend(
        (0..FORMAT_RANDOM).map(|i| BASE62[usize::from(seed.get(i).copied().unwrap_or(i as u8)) % 62]),
    );
    let digits = checksum_digits(crc32(&token));
    token.extend_from_slice(&digits);
    String::from_utf8(token).expect("ASCII")
}

/// Panics unless `TokenFormat::new(prefix).check(token)` agrees with [`expected_format`].
pub fn check_format(format: &tower_bearer::TokenFormat, token: &str) {
    let actual = format.check(token);
    let expected = expected_format(format.prefix(), token);
    if actual != expected {
        panic!(
            "TokenFormat::check disagrees with the oracle\n  prefix: {:?}\n  token:  {}\n  check:  {actual:?}\n  oracle: {expected:?}",
            format.prefix(),
            escape(token.as_bytes())
        );
    }
}
