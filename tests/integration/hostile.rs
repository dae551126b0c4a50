//! A catalogue of hostile requests, each with the exact answer it must get: status,
//! `WWW-Authenticate` challenge and body.
//!
//! - [`catalogue`]: through the full tower stack (`ServiceBuilder` + `BearerAuthLayer` + an
//!   echo service that answers with the principal's subject), for everything an
//!   `http::Request` can carry.
//! - [`wire_catalogue`]: over a real hyper server on `127.0.0.1:0`, written byte for byte on a
//!   raw TCP socket, for what only the wire can carry (CR, LF, NUL and other control bytes,
//!   obs-fold, a 1 MiB header, more header lines than hyper accepts). Those the `http` crate
//!   cannot even represent are refused by hyper before the layer is reached; each row says
//!   whether the layer was reached, and the test checks it with the layer's event hook.
//!
//! Every row is checked and every mismatch reported at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tower_bearer_test_support::at_once;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::{ServiceBuilder, ServiceExt};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes, TokenManager};

type Body = Full<Bytes>;

const REALM: &str = "hostile";
/// Alice's token (RFC 6750 §2.1's example), scope `read`.
const ALICE: &str = "mF_9.B5f-4.1JqM";
/// A token using every `b64token` character and padding.
const ALPHABET: &str = "a-._~+/Z9==";
const REVOKED: &str = "revoked-token-1";
const EXPIRED: &str = "expired-token-1";
/// A live token without the scope `read`.
const NO_SCOPE: &str = "no-scope-token-1";

// The exact answers. `None` challenge: no `WWW-Authenticate` at all.
type Expect = (u16, Option<&'static str>, &'static str);

const OK_ALICE: Expect = (200, None, "alice");
const BARE: Expect = (
    401,
    Some(r#"Bearer realm="hostile""#),
    r#"{"error":"unauthorized","error_description":"a bearer token is required"}"#,
);
const INVALID_CHAR: Expect = (
    401,
    Some(
        r#"Bearer realm="hostile", error="invalid_token", error_description="the bearer token contains characters not allowed by RFC 6750""#,
    ),
    r#"{"error":"invalid_token","error_description":"the bearer token contains characters not allowed by RFC 6750"}"#,
);
const EMPTY: Expect = (
    401,
    Some(r#"Bearer realm="hostile", error="invalid_token", error_description="the bearer token is empty""#),
    r#"{"error":"invalid_token","error_description":"the bearer token is empty"}"#,
);
const BAD_SEPARATOR: Expect = (
    401,
    Some(
        r#"Bearer realm="hostile", error="invalid_token", error_description="the Bearer scheme must be followed by a space""#,
    ),
    r#"{"error":"invalid_token","error_description":"the Bearer scheme must be followed by a space"}"#,
);
const TOO_LONG: Expect = (
    401,
    Some(
        r#"Bearer realm="hostile", error="invalid_token", error_description="the bearer token is too long""#,
    ),
    r#"{"error":"invalid_token","error_description":"the bearer token is too long"}"#,
);
const INVALID: Expect = (
    401,
    Some(r#"Bearer realm="hostile", error="invalid_token", error_description="the access token is invalid""#),
    r#"{"error":"invalid_token","error_description":"the access token is invalid"}"#,
);
const EXPIRED_TOKEN: Expect = (
    401,
    Some(r#"Bearer realm="hostile", error="invalid_token", error_description="the access token expired""#),
    r#"{"error":"invalid_token","error_description":"the access token expired"}"#,
);
const TWO_HEADERS: Expect = (
    400,
    Some(
        r#"Bearer realm="hostile", error="invalid_request", error_description="the request has more than one Authorization header""#,
    ),
    r#"{"error":"invalid_request","error_description":"the request has more than one Authorization header"}"#,
);
const SENT_TWICE: Expect = (
    400,
    Some(
        r#"Bearer realm="hostile", error="invalid_request", error_description="the access token must be sent exactly once""#,
    ),
    r#"{"error":"invalid_request","error_description":"the access token must be sent exactly once"}"#,
);
const INSUFFICIENT: Expect = (
    403,
    Some(
        r#"Bearer realm="hostile", error="insufficient_scope", error_description="the access token lacks the required scope", scope="read""#,
    ),
    r#"{"error":"insufficient_scope","error_description":"the access token lacks the required scope"}"#,
);

/// How the layer of a row is configured.
#[derive(Clone, Copy, Debug)]
enum Config {
    /// Realm `hostile`, header only, default length limit.
    Default,
    /// Also `token_from_query("access_token")`.
    Query,
    /// Also `token_from_cookie("session_token")`.
    Cookie,
    /// `require_scopes(["read"])`.
    Scoped,
    /// `max_token_len(8)`.
    Max8,
}

fn store() -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    let read = || Scopes::parse("read");
    store.insert(ALICE, Principal::builder("alice").scopes(read()).build()).unwrap();
    store.insert(ALPHABET, Principal::builder("alphabet").scopes(read()).build()).unwrap();
    store.insert(NO_SCOPE, Principal::builder("noscope").build()).unwrap();
    let past = SystemTime::now() - Duration::from_secs(60);
    store.insert(EXPIRED, Principal::builder("expired").scopes(read()).expires_at(past).build()).unwrap();
    let id = store.insert(REVOKED, Principal::builder("revoked").scopes(read()).build()).unwrap();
    assert!(at_once(store.revoke(&id)).unwrap());
    store
}

fn layer(config: Config, events: Arc<AtomicUsize>) -> BearerAuthLayer<MemoryTokenStore> {
    let layer = BearerAuthLayer::new(store()).realm(REALM).on_event(move |_| {
        events.fetch_add(1, Ordering::SeqCst);
    });
    match config {
        Config::Default => layer,
        Config::Query => layer.token_from_query("access_token"),
        Config::Cookie => layer.token_from_cookie("session_token"),
        Config::Scoped => layer.require_scopes(["read"]),
        Config::Max8 => layer.max_token_len(8),
    }
}

/// The inner service: 200 with the principal's subject as the body.
async fn echo<B>(calls: Arc<AtomicUsize>, req: Request<B>) -> Result<Response<Body>, Infallible> {
    calls.fetch_add(1, Ordering::SeqCst);
    let subject = req.extensions().get::<Principal>().map_or("NO PRINCIPAL", Principal::subject).to_owned();
    Ok(Response::new(Body::from(subject)))
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// `GET uri` with the given header lines (a name may repeat: each is its own line).
fn request(uri: &str, headers: &[(&str, &[u8])]) -> Request<Body> {
    let mut req = Request::get(uri).body(Body::default()).unwrap();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        let value = HeaderValue::from_bytes(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        req.headers_mut().append(name, value);
    }
    req
}

/// `GET /` with one `Authorization` line.
fn auth(value: impl AsRef<[u8]>) -> Request<Body> {
    request("/", &[("authorization", value.as_ref())])
}

fn bearer(token: &str) -> Request<Body> {
    auth(format!("Bearer {token}"))
}

/// `GET /` with one `Authorization` line per value.
fn auths(values: &[&str]) -> Request<Body> {
    let lines: Vec<(&str, &[u8])> = values.iter().map(|v| ("authorization", v.as_bytes())).collect();
    request("/", &lines)
}

fn with_method(method: Method, mut req: Request<Body>) -> Request<Body> {
    *req.method_mut() = method;
    req
}

/// `n` unrelated header lines, then `extra`.
fn many_headers(n: usize, extra: &[(&str, &[u8])]) -> Request<Body> {
    let names: Vec<String> = (0..n).map(|i| format!("x-filler-{i}")).collect();
    let mut lines: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"filler"[..])).collect();
    lines.extend_from_slice(extra);
    request("/", &lines)
}

fn token_of(len: usize, c: char) -> String {
    std::iter::repeat_n(c, len).collect()
}

struct Case {
    name: &'static str,
    config: Config,
    request: Request<Body>,
    expect: Expect,
}

fn case(name: &'static str, request: Request<Body>, expect: Expect) -> Case {
    Case { name, config: Config::Default, request, expect }
}

fn case_with(name: &'static str, config: Config, request: Request<Body>, expect: Expect) -> Case {
    Case { name, config, request, expect }
}

/// The catalogue. Comments give the reason where the answer is not obvious.
fn catalogue() -> Vec<Case> {
    let alice = format!("Bearer {ALICE}");
    vec![
        // --- Baseline
        case("no Authorization header", request("/", &[]), BARE),
        case("valid token", bearer(ALICE), OK_ALICE),
        case("every b64token character and padding", bearer(ALPHABET), (200, None, "alphabet")),
        // --- Scheme spelling (RFC 9110 §11.1: case-insensitive)
        case("lower-case scheme", auth(format!("bearer {ALICE}")), OK_ALICE),
        case("upper-case scheme", auth(format!("BEARER {ALICE}")), OK_ALICE),
        case("mixed-case scheme", auth(format!("bEaReR {ALICE}")), OK_ALICE),
        case("several spaces after the scheme", auth(format!("Bearer     {ALICE}")), OK_ALICE),
        case("spaces and tabs around the value", auth(format!(" \t Bearer {ALICE} \t ")), OK_ALICE),
        case("scheme with a Cyrillic e", auth(format!("B\u{435}arer {ALICE}")), BARE),
        case("scheme with a Turkish dotless i-like letter", auth(format!("Bear\u{131}r {ALICE}")), BARE),
        case("scheme abbreviated", auth(format!("Bear {ALICE}")), BARE),
        case("scheme glued to the token", auth(format!("Bearer{ALICE}")), BARE),
        // --- Header smuggling: several credentials, other schemes
        case("two Authorization lines, both valid", auths(&[&alice, &alice]), TWO_HEADERS),
        case("two Authorization lines, valid and garbage", auths(&[&alice, "garbage"]), TWO_HEADERS),
        case(
            "two Authorization lines, Basic then Bearer",
            auths(&["Basic dXNlcjpwYXNz", &alice]),
            TWO_HEADERS,
        ),
        case("two Authorization lines, second empty", auths(&[&alice, ""]), TWO_HEADERS),
        case(
            "one hundred Authorization lines",
            request("/", &vec![("authorization", alice.as_bytes()); 100]),
            TWO_HEADERS,
        ),
        case("Bearer a, Bearer b in one line", auth("Bearer a, Bearer b"), INVALID_CHAR),
        case("the valid token twice, comma-joined", auth(format!("{alice}, {alice}")), INVALID_CHAR),
        // The first word is `Basic`: no bearer credentials, whatever follows.
        case("Basic x, Bearer <valid>", auth(format!("Basic x, {alice}")), BARE),
        case("NotBearer <valid>", auth(format!("NotBearer {ALICE}")), BARE),
        case("Bearerx <valid>", auth(format!("Bearerx {ALICE}")), BARE),
        case("Bearer, <valid> (comma after the scheme)", auth(format!("Bearer, {ALICE}")), BARE),
        case("leading comma", auth(format!(", {alice}")), BARE),
        case("Basic credentials", auth("Basic dXNlcjpwYXNz"), BARE),
        case("Digest credentials", auth(r#"Digest username="a", response="b""#), BARE),
        case("token only, no scheme", auth(ALICE), BARE),
        case("Proxy-Authorization instead", request("/", &[("proxy-authorization", alice.as_bytes())]), BARE),
        case("X-Authorization instead", request("/", &[("x-authorization", alice.as_bytes())]), BARE),
        case("X-Access-Token header", request("/", &[("x-access-token", ALICE.as_bytes())]), BARE),
        // --- Empty and whitespace-only
        case("empty value", auth(""), BARE),
        case("spaces only", auth("     "), BARE),
        case("tab only", auth("\t"), BARE),
        case("Bearer alone", auth("Bearer"), EMPTY),
        case("Bearer and spaces", auth("Bearer    "), EMPTY),
        case("Bearer and a tab (trailing whitespace is not part of the value)", auth("Bearer\t"), EMPTY),
        // --- Tabs and separators
        case("tab as the separator", auth(format!("Bearer\t{ALICE}")), BAD_SEPARATOR),
        case("tab then space as the separator", auth(format!("Bearer\t {ALICE}")), BAD_SEPARATOR),
        case("space then tab before the token", auth(format!("Bearer \t{ALICE}")), INVALID_CHAR),
        case("tab inside the token", auth(format!("Bearer mF_9\t{ALICE}")), INVALID_CHAR),
        case("space inside the token", auth("Bearer mF_9 .B5f-4.1JqM"), INVALID_CHAR),
        case("no-break space as the separator (obs-text)", auth(b"Bearer\xa0mF_9.B5f-4.1JqM"), BARE),
        case("ideographic space as the separator", auth(format!("Bearer\u{3000}{ALICE}")), BARE),
        // --- Characters outside b64token
        case("= padding in the middle", auth("Bearer mF_9=.B5f-4.1JqM"), INVALID_CHAR),
        case("= padding then more token", auth("Bearer ab==cd=="), INVALID_CHAR),
        case("= only", auth("Bearer =="), INVALID_CHAR),
        case("double-quoted token", auth(format!("Bearer \"{ALICE}\"")), INVALID_CHAR),
        case("backslash in the token", auth(r"Bearer mF_9\.B5f-4.1JqM"), INVALID_CHAR),
        case("quote-escape attempt", auth(r#"Bearer a\"b"#), INVALID_CHAR),
        case("challenge-injection attempt", auth(r#"Bearer x", error="none"#), INVALID_CHAR),
        case("JSON in the token", auth(r#"Bearer {"sub":"admin"}"#), INVALID_CHAR),
        case("semicolon", auth(format!("Bearer {ALICE};admin=1")), INVALID_CHAR),
        case("colon (userinfo style)", auth("Bearer alice:secret"), INVALID_CHAR),
        case("percent-encoded token", auth("Bearer mF_9%2EB5f-4%2E1JqM"), INVALID_CHAR),
        case("visible punctuation", auth("Bearer a!b#c$d&e'f(g)h*i"), INVALID_CHAR),
        case("obs-text byte 0x80", auth(b"Bearer mF_9\x80B5f"), INVALID_CHAR),
        case("obs-text byte 0xff (not UTF-8)", auth(b"Bearer mF_9\xffB5f"), INVALID_CHAR),
        case("lone UTF-8 continuation byte", auth(b"Bearer \xbfmF_9"), INVALID_CHAR),
        case("overlong UTF-8 encoding of '/'", auth(b"Bearer a\xc0\xafb"), INVALID_CHAR),
        case("valid UTF-8, non-ASCII letter", auth("Bearer tok\u{e9}n"), INVALID_CHAR),
        case("fullwidth letters", auth("Bearer \u{ff41}\u{ff42}\u{ff43}"), INVALID_CHAR),
        // --- Lengths (default limit 4096, checked before the characters)
        case("token of exactly 4096 bytes, unknown", bearer(&token_of(4096, 'a')), INVALID),
        case("token of 4097 bytes", bearer(&token_of(4097, 'a')), TOO_LONG),
        case("8 KiB token", bearer(&token_of(8 * 1024, 'a')), TOO_LONG),
        case("8 KiB of forbidden characters", bearer(&token_of(8 * 1024, '"')), TOO_LONG),
        case("1 MiB token", bearer(&token_of(1024 * 1024, 'a')), TOO_LONG),
        case_with("max_token_len(8): 9 bytes", Config::Max8, bearer("123456789"), TOO_LONG),
        case_with("max_token_len(8): the valid token is too long", Config::Max8, bearer(ALICE), TOO_LONG),
        // --- Near misses of a real token
        case("unknown token", bearer("never-issued-token"), INVALID),
        case("revoked token (answered like unknown)", bearer(REVOKED), INVALID),
        case("expired token", bearer(EXPIRED), EXPIRED_TOKEN),
        case("valid token plus one character", bearer(&format!("{ALICE}x")), INVALID),
        case("valid token minus its last character", bearer(&ALICE[..ALICE.len() - 1]), INVALID),
        case("valid token in another case", bearer(&ALICE.to_uppercase()), INVALID),
        case("valid token plus = padding", bearer(&format!("{ALICE}=")), INVALID),
        case_with("valid token without the required scope", Config::Scoped, bearer(NO_SCOPE), INSUFFICIENT),
        case_with("valid token with the required scope", Config::Scoped, bearer(ALICE), OK_ALICE),
        // --- Other places a token may travel: refused unless configured
        case(
            "token in the query string, not configured",
            request(&format!("/?access_token={ALICE}"), &[]),
            BARE,
        ),
        case(
            "token in a cookie, not configured",
            request("/", &[("cookie", format!("session_token={ALICE}").as_bytes())]),
            BARE,
        ),
        case_with(
            "token in the query string, configured",
            Config::Query,
            request(&format!("/?access_token={ALICE}"), &[]),
            OK_ALICE,
        ),
        case_with(
            "token in the query string, percent-encoded",
            Config::Query,
            request("/?access_token=mF_9%2EB5f-4%2E1JqM", &[]),
            OK_ALICE,
        ),
        case_with(
            "query token twice",
            Config::Query,
            request(&format!("/?access_token={ALICE}&access_token={ALICE}"), &[]),
            SENT_TWICE,
        ),
        case_with(
            "query token and Authorization header",
            Config::Query,
            request(&format!("/?access_token={ALICE}"), &[("authorization", alice.as_bytes())]),
            SENT_TWICE,
        ),
        case_with(
            "query token with %00",
            Config::Query,
            request("/?access_token=mF_9%00B5f", &[]),
            INVALID_CHAR,
        ),
        case_with(
            "query token with a broken escape",
            Config::Query,
            request("/?access_token=mF_9%zz", &[]),
            INVALID_CHAR,
        ),
        case_with(
            "query token with + (a space)",
            Config::Query,
            request("/?access_token=mF_9+B5f", &[]),
            INVALID_CHAR,
        ),
        case_with("query parameter without a value", Config::Query, request("/?access_token", &[]), EMPTY),
        case_with(
            "query parameter under another case",
            Config::Query,
            request(&format!("/?ACCESS_TOKEN={ALICE}"), &[]),
            BARE,
        ),
        case_with(
            "token in a cookie, configured",
            Config::Cookie,
            request("/", &[("cookie", format!("theme=dark; session_token={ALICE}").as_bytes())]),
            OK_ALICE,
        ),
        case_with(
            "token in a quoted cookie, configured",
            Config::Cookie,
            request("/", &[("cookie", format!("session_token=\"{ALICE}\"").as_bytes())]),
            OK_ALICE,
        ),
        case_with(
            "cookie token twice, in two Cookie lines",
            Config::Cookie,
            request(
                "/",
                &[
                    ("cookie", format!("session_token={ALICE}").as_bytes()),
                    ("cookie", format!("session_token={ALICE}").as_bytes()),
                ],
            ),
            SENT_TWICE,
        ),
        case_with(
            "cookie token and Authorization header",
            Config::Cookie,
            request(
                "/",
                &[
                    ("cookie", format!("session_token={ALICE}").as_bytes()),
                    ("authorization", alice.as_bytes()),
                ],
            ),
            SENT_TWICE,
        ),
        case_with(
            "cookie token with a comma",
            Config::Cookie,
            request("/", &[("cookie", b"session_token=a,b")]),
            INVALID_CHAR,
        ),
        // --- Volume
        case(
            "1000 unrelated headers and a valid token",
            many_headers(1000, &[("authorization", alice.as_bytes())]),
            OK_ALICE,
        ),
        case("1000 unrelated headers and no token", many_headers(1000, &[]), BARE),
        case(
            "1000 unrelated headers, then two Authorization lines",
            many_headers(1000, &[("authorization", alice.as_bytes()), ("authorization", alice.as_bytes())]),
            TWO_HEADERS,
        ),
        // --- Methods: the token is needed whatever the method
        case("OPTIONS with a valid token", with_method(Method::OPTIONS, bearer(ALICE)), OK_ALICE),
        case(
            "OPTIONS preflight without a token (preflight not allowed)",
            with_method(Method::OPTIONS, request("/", &[("access-control-request-method", b"GET")])),
            BARE,
        ),
        case("HEAD without a token", with_method(Method::HEAD, request("/", &[])), BARE),
        case(
            "extension method with an unknown token",
            with_method(Method::from_bytes(b"PURGE").unwrap(), bearer("never-issued")),
            INVALID,
        ),
    ]
}

/// Sends one request through the stack; returns (status, challenge, body, inner calls, events).
async fn send(
    config: Config,
    req: Request<Body>,
) -> (u16, Option<String>, String, Option<String>, usize, usize) {
    let (calls, events) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let counter = calls.clone();
    let service = ServiceBuilder::new()
        .layer(layer(config, events.clone()))
        .service_fn(move |req| echo(counter.clone(), req));
    let Ok(res) = service.oneshot(req).await;
    let (parts, body) = res.into_parts();
    let Ok(body) = body.collect().await;
    let challenge = parts.headers.get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let content_type = parts.headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(body.to_bytes().to_vec()).unwrap();
    (
        parts.status.as_u16(),
        challenge,
        body,
        content_type,
        calls.load(Ordering::SeqCst),
        events.load(Ordering::SeqCst),
    )
}

#[tokio::test]
async fn catalogue_through_the_tower_stack() {
    let cases = catalogue();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "row names are unique");
    assert!(cases.len() >= 60, "at least 60 rows, got {}", cases.len());

    let mut failures = Vec::new();
    let total = cases.len();
    for Case { name, config, request, expect: (status, challenge, body) } in cases {
        let (got_status, got_challenge, got_body, content_type, calls, events) = send(config, request).await;
        let admitted = status == 200;
        let mut wrong = Vec::new();
        if got_status != status {
            wrong.push(format!("status {got_status}, expected {status}"));
        }
        if got_challenge.as_deref() != challenge {
            wrong.push(format!("challenge {got_challenge:?}, expected {challenge:?}"));
        }
        if got_body != body {
            wrong.push(format!("body {got_body:?}, expected {body:?}"));
        }
        if calls != usize::from(admitted) {
            wrong.push(format!("inner service called {calls} times"));
        }
        if !admitted && content_type.as_deref() != Some("application/json") {
            wrong.push(format!("content-type {content_type:?}"));
        }
        if events != 1 {
            wrong.push(format!("{events} events, expected 1"));
        }
        if !wrong.is_empty() {
            failures.push(format!("[{name}] {}", wrong.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{} of {total} rows wrong:\n{}", failures.len(), failures.join("\n"));
    println!("hostile catalogue: {total} rows through the tower stack, all as expected");
}

/// What `http` will not hold at all: such a request cannot be built in-process, so it can
/// only arrive over the wire, where hyper refuses it (see [`wire_catalogue`]).
#[test]
fn http_cannot_carry_control_bytes_in_a_header_value() {
    for byte in [0u8, b'\r', b'\n', 0x01, 0x0b, 0x1b, 0x7f] {
        let value = [b"Bearer mF_9".as_slice(), &[byte], b"B5f"].concat();
        assert!(HeaderValue::from_bytes(&value).is_err(), "byte {byte:#04x} accepted");
    }
    // Bytes at and above 0x80 (obs-text) it does carry, and the layer refuses them (above).
    assert!(HeaderValue::from_bytes(b"Bearer mF_9\x80\xffB5f").is_ok());
}

// ---------------------------------------------------------------------------------------------
// Over the wire
// ---------------------------------------------------------------------------------------------

/// Upper bound on every network step.
const STEP: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    events: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let (calls, events) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let counter = calls.clone();
        let service = ServiceBuilder::new()
            .layer(layer(Config::Default, events.clone()))
            .service_fn(move |req: Request<hyper::body::Incoming>| echo(counter.clone(), req));
        let (addr, task) = tower_bearer_test_support::serve(service).await;
        Server { addr, calls, events, task }
    }
}

/// A response read off the socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Writes `bytes` on a fresh connection (while reading, so that a server that answers before
/// it has read everything is heard) and reads the answer until the server closes.
async fn exchange(addr: SocketAddr, bytes: Vec<u8>) -> Raw {
    let stream = tokio::time::timeout(STEP, TcpStream::connect(addr)).await.unwrap().unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The server may close before taking all of a huge request: that is an answer too.
        let _ = write.write_all(&bytes).await;
        let _ = write.flush().await;
        write
    });
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(STEP, read.read(&mut buf)).await.expect("the server answers") {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            // A reset after the answer arrived (the server dropped unread input).
            Err(_) if !received.is_empty() => break,
            Err(e) => panic!("read failed before any answer: {e}"),
        }
        if let Some(raw) = parse(&received)
            && raw.body.len() >= content_length(&raw)
        {
            break;
        }
    }
    writer.abort();
    parse(&received).unwrap_or_else(|| panic!("no HTTP response in {:?}", String::from_utf8_lossy(&received)))
}

fn content_length(raw: &Raw) -> usize {
    raw.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn parse(bytes: &[u8]) -> Option<Raw> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let body = String::from_utf8_lossy(&bytes[end + 4..]).into_owned();
    Some(Raw { status, headers, body })
}

/// `GET /` with the given raw header block (each line ends in CRLF), closing afterwards.
fn raw_request(header_lines: &[u8]) -> Vec<u8> {
    [b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".as_slice(), header_lines, b"\r\n"].concat()
}

fn raw_auth(value: &[u8]) -> Vec<u8> {
    raw_request(&[b"Authorization: ".as_slice(), value, b"\r\n"].concat())
}

struct WireCase {
    name: &'static str,
    request: Vec<u8>,
    expect: Expect,
    /// Whether the request gets past hyper to the layer at all.
    reaches_layer: bool,
}

/// hyper's own refusal of a request it cannot parse: 400, no challenge, empty body.
const HYPER_400: Expect = (400, None, "");
/// hyper's refusal of a header section over its limits (`max_buf_size`, about 400 KiB; 100
/// header lines): 431 Request Header Fields Too Large, no challenge, empty body.
const HYPER_431: Expect = (431, None, "");

fn wire_catalogue() -> Vec<WireCase> {
    let alice = format!("Bearer {ALICE}");
    let w = |name, request, expect, reaches_layer| WireCase { name, request, expect, reaches_layer };
    let many: Vec<u8> = (0..200).flat_map(|i| format!("X-Filler-{i}: filler\r\n").into_bytes()).collect();
    vec![
        w("valid token", raw_auth(alice.as_bytes()), OK_ALICE, true),
        w(
            "header name in upper case",
            raw_request(format!("AUTHORIZATION: {alice}\r\n").as_bytes()),
            OK_ALICE,
            true,
        ),
        w(
            "tabs around the value (stripped by hyper)",
            raw_auth(format!("\t{alice}\t").as_bytes()),
            OK_ALICE,
            true,
        ),
        w(
            "two Authorization lines",
            raw_request(format!("Authorization: {alice}\r\nAuthorization: {alice}\r\n").as_bytes()),
            TWO_HEADERS,
            true,
        ),
        w("CR inside the value", raw_auth(b"Bearer mF_9\r.B5f-4.1JqM"), HYPER_400, false),
        w(
            "CRLF inside the token, smuggling a second Authorization line",
            raw_auth(format!("Bearer mF_9\r\nAuthorization: {alice}").as_bytes()),
            TWO_HEADERS,
            true,
        ),
        w(
            "bare LF inside the value",
            raw_auth(format!("Bearer mF_9\nAuthorization: {alice}").as_bytes()),
            TWO_HEADERS,
            true,
        ),
        w("obs-fold continuation line", raw_auth(format!("Bearer\r\n {ALICE}").as_bytes()), HYPER_400, false),
        w("NUL inside the token", raw_auth(b"Bearer mF_9\x00B5f"), HYPER_400, false),
        w("control byte 0x01 inside the token", raw_auth(b"Bearer mF_9\x01B5f"), HYPER_400, false),
        w("vertical tab as the separator", raw_auth(b"Bearer\x0bmF_9.B5f-4.1JqM"), HYPER_400, false),
        w("escape byte 0x1b inside the token", raw_auth(b"Bearer mF_9\x1b[0m"), HYPER_400, false),
        w("DEL inside the token", raw_auth(b"Bearer mF_9\x7fB5f"), HYPER_400, false),
        w("obs-text 0xff inside the token (not UTF-8)", raw_auth(b"Bearer mF_9\xffB5f"), INVALID_CHAR, true),
        w("obs-text 0x80 inside the token", raw_auth(b"Bearer mF_9\x80B5f"), INVALID_CHAR, true),
        w(
            "space before the colon",
            raw_request(format!("Authorization : {alice}\r\n").as_bytes()),
            HYPER_400,
            false,
        ),
        w("8 KiB token", raw_auth(format!("Bearer {}", token_of(8 * 1024, 'a')).as_bytes()), TOO_LONG, true),
        w(
            "1 MiB token",
            raw_auth(format!("Bearer {}", token_of(1024 * 1024, 'a')).as_bytes()),
            HYPER_431,
            false,
        ),
        w(
            "200 header lines",
            raw_request(&[many.as_slice(), format!("Authorization: {alice}\r\n").as_bytes()].concat()),
            HYPER_431,
            false,
        ),
        w(
            "token in the query string, not configured",
            format!("GET /?access_token={ALICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .into_bytes(),
            BARE,
            true,
        ),
    ]
}

#[tokio::test]
async fn wire_catalogue_over_a_real_hyper_server() {
    let server = Server::start().await;
    let cases = wire_catalogue();
    let total = cases.len();
    let mut failures = Vec::new();
    for WireCase { name, request, expect: (status, challenge, body), reaches_layer } in cases {
        let (calls_before, events_before) =
            (server.calls.load(Ordering::SeqCst), server.events.load(Ordering::SeqCst));
        let raw = exchange(server.addr, request).await;
        let events = server.events.load(Ordering::SeqCst) - events_before;
        let calls = server.calls.load(Ordering::SeqCst) - calls_before;
        let mut wrong = Vec::new();
        if raw.status != status {
            wrong.push(format!("status {}, expected {status}", raw.status));
        }
        if raw.header("www-authenticate") != challenge {
            wrong.push(format!("challenge {:?}, expected {challenge:?}", raw.header("www-authenticate")));
        }
        if raw.body != body {
            wrong.push(format!("body {:?}, expected {body:?}", raw.body));
        }
        if events != usize::from(reaches_layer) {
            wrong.push(format!("the layer saw it {events} times, expected reached = {reaches_layer}"));
        }
        if calls != usize::from(status == 200) {
            wrong.push(format!("inner service called {calls} times"));
        }
        if !wrong.is_empty() {
            failures.push(format!("[{name}] {}", wrong.join("; ")));
        }
    }
    // The server is still serving after all of that.
    let raw = exchange(server.addr, raw_auth(format!("Bearer {ALICE}").as_bytes())).await;
    assert_eq!((raw.status, raw.body.as_str()), (200, "alice"), "the server still serves");
    server.task.abort();
    assert!(failures.is_empty(), "{} of {total} wire rows wrong:\n{}", failures.len(), failures.join("\n"));
    println!("hostile catalogue: {total} rows over a real hyper server, all as expected");
}

/// The token is never taken from a header other than `Authorization`, even a standard one
/// that carries credentials elsewhere (`Cookie` without configuration is checked above).
#[tokio::test]
async fn no_other_header_is_a_token_source() {
    for name in ["proxy-authorization", "x-api-key", "x-auth-token", "authentication", "bearer", "token"] {
        for value in [format!("Bearer {ALICE}"), ALICE.to_owned()] {
            let (status, challenge, ..) =
                send(Config::Default, request("/", &[(name, value.as_bytes())])).await;
            assert_eq!((status, challenge.as_deref()), (BARE.0, BARE.1), "{name}: {value}");
        }
    }
    // And a token in `Cookie` is ignored without configuration, even under the cookie name a
    // configured layer would read.
    let (status, ..) = send(Config::Default, request("/", &[(COOKIE.as_str(), b"session_token=x")])).await;
    assert_eq!(status, 401);
}
