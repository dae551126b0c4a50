//! No token ever leaves the layer: a broad set of requests (accepted by header, query and
//! cookie; every rejection kind; a failing store; a store that times out) goes through layers
//! with `on_event` hooks and, with the `tracing` feature, a `tracing_subscriber` capturing
//! everything at TRACE. Everything observable is printed — the `Debug` of every event, of its
//! principal and store error, of every response and its `AuthError`, the `Display` of every
//! error, the request as the inner service receives it, the whole tracing output — and no
//! token may appear in any of it. The `Authorization` header the inner service receives must be
//! marked sensitive.
//!
//! Two gaps are kept as ignored tests (run them with `--ignored`), with the fix in their doc
//! comment: a token read from a cookie stays readable in the `Cookie` header the inner service
//! gets, and a CORS preflight let through skips the marking.

use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tower_bearer_test_support::at_once;

use bytes::Bytes;
use http::header::{ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, COOKIE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_bearer::header::ParseError;
use tower_bearer::middleware::{AuthEvent, InvalidRequest, InvalidToken, Outcome};
use tower_bearer::store::StoreErrorKind;
use tower_bearer::{
    AuthError, BearerAuthLayer, CallbackTokenStore, MemoryTokenStore, PresentedToken, Principal, Scopes,
    TokenFormat, TokenHash, TokenManager, TokenStore,
};

type Body = Full<Bytes>;

/// Every secret used below; each is distinctive, so any appearance is a leak.
const LIVE: &str = "LeakCanary-live-Q7xv2";
const REVOKED: &str = "LeakCanary-revoked-Hn4k";
const EXPIRED: &str = "LeakCanary-expired-Zp8w";
const NO_SCOPE: &str = "LeakCanary-noscope-Vb3m";
const UNKNOWN: &str = "LeakCanary-unknown-Tr6c";
const BASIC: &str = "LeakCanary-basic-Jf2s";
const MALFORMED: &str = "LeakCanary-malformed-Wd9e";
const STORE_DOWN: &str = "LeakCanary-storedown-Ky5a";
const SLOW: &str = "LeakCanary-slow-Mu1g";
const PREFLIGHT: &str = "LeakCanary-preflight-Ro3t";

fn secrets() -> Vec<String> {
    let mut all: Vec<String> =
        [LIVE, REVOKED, EXPIRED, NO_SCOPE, UNKNOWN, BASIC, MALFORMED, STORE_DOWN, SLOW, PREFLIGHT]
            .map(str::to_owned)
            .into();
    all.push(too_long());
    all
}

/// A token over the default limit (4096): a canary repeated.
fn too_long() -> String {
    "LeakCanary-toolong-Xy7q".repeat(200)
}

/// Fails if `text` contains any secret, its distinctive tail, or its full digest.
#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for secret in secrets() {
        let tail = &secret[secret.len().saturating_sub(11)..];
        for needle in [secret.as_str(), &secret[..secret.len().min(40)], tail] {
            assert!(!text.contains(needle), "{what} leaks {needle:?}:\n{text}");
        }
        assert!(!text.contains(&TokenHash::of(&secret).to_hex()), "{what} leaks a digest:\n{text}");
    }
}

/// Everything printed, by whom.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, String)>>>);

impl Seen {
    fn push(&self, what: impl Into<String>, text: impl Into<String>) {
        self.0.lock().unwrap().push((what.into(), text.into()));
    }

    fn all(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// The `on_event` hook: prints the event and everything in it, every way it can be printed.
fn record_events(seen: Seen) -> impl Fn(&AuthEvent<'_>) + Send + Sync + 'static {
    move |event| {
        seen.push("event Debug", format!("{event:?}"));
        seen.push("event Debug (alternate)", format!("{event:#?}"));
        if let Some(p) = event.principal() {
            seen.push("principal Debug", format!("{p:?}"));
        }
        match event.outcome {
            Outcome::Authenticated(p) => seen.push("principal subject", p.subject()),
            Outcome::Rejected { error, store_error, .. } => {
                seen.push("error Display", error.to_string());
                seen.push("error Debug", format!("{error:?}"));
                if let Some(e) = store_error {
                    seen.push("store error Display", e.to_string());
                    seen.push("store error Debug", format!("{e:?}"));
                    if let Some(source) = std::error::Error::source(e) {
                        seen.push("store error source", source.to_string());
                    }
                }
            }
            _ => seen.push("other outcome", format!("{:?}", event.outcome)),
        }
    }
}

/// What the inner service got: the request's `Debug`, and whether each `Authorization` line was
/// marked sensitive.
#[derive(Clone, Default)]
struct Inner(Arc<Mutex<Vec<Received>>>);

/// One request at the inner service: its whole `Debug`, whether each `Authorization` line was
/// marked sensitive, and the `Debug` of its `Cookie` lines.
type Received = (String, Vec<bool>, String);

async fn inner(got: Inner, req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let sensitive = req.headers().get_all(AUTHORIZATION).iter().map(|v| v.is_sensitive()).collect();
    let cookie = format!("{:?}", req.headers().get_all(COOKIE));
    got.0.lock().unwrap().push((format!("{req:?}"), sensitive, cookie));
    Ok(Response::new(Body::from("served")))
}

fn memory_store() -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    let read = || Scopes::parse("read");
    store.insert(LIVE, Principal::builder("alice").token_id("tid_live").scopes(read()).build()).unwrap();
    store.insert(NO_SCOPE, Principal::builder("carol").token_id("tid_noscope").build()).unwrap();
    let past = SystemTime::now() - Duration::from_secs(60);
    store
        .insert(
            EXPIRED,
            Principal::builder("dave").token_id("tid_expired").scopes(read()).expires_at(past).build(),
        )
        .unwrap();
    let id = store
        .insert(REVOKED, Principal::builder("bob").token_id("tid_revoked").scopes(read()).build())
        .unwrap();
    assert!(at_once(store.revoke(&id)).unwrap());
    store
}

/// A store that fails every lookup, with an error that says so (and not the token).
fn failing_store() -> impl TokenStore {
    CallbackTokenStore::new(|_token: PresentedToken<'_>| async {
        Err::<Option<Principal>, _>(io::Error::other("connection refused by db-primary:5432"))
    })
}

/// Where a request carries its token.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Via {
    Header,
    Query,
    Cookie,
    None,
}

struct Probe {
    name: &'static str,
    request: Request<Body>,
    via: Via,
    /// The status, and the `AuthError` in the response extensions (`None` when admitted).
    status: StatusCode,
    error: Option<AuthError>,
}

fn get(uri: &str, headers: &[(&str, String)]) -> Request<Body> {
    let mut req = Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.body(Body::default()).unwrap()
}

fn bearer(token: &str) -> Request<Body> {
    get("/never-leak-items", &[("authorization", format!("Bearer {token}"))])
}

fn malformed(e: ParseError) -> Option<AuthError> {
    Some(AuthError::InvalidToken(InvalidToken::Malformed(e)))
}

/// The requests for the memory-store layer: every outcome it can produce.
fn memory_probes() -> Vec<Probe> {
    let p = |name, request, via, status, error| Probe { name, request, via, status, error };
    let invalid = |t| Some(AuthError::InvalidToken(t));
    vec![
        p("accepted, header", bearer(LIVE), Via::Header, StatusCode::OK, None),
        p(
            "accepted, query",
            get(&format!("/never-leak-items?access_token={LIVE}"), &[]),
            Via::Query,
            StatusCode::OK,
            None,
        ),
        p(
            "accepted, cookie",
            get("/never-leak-items", &[("cookie", format!("sid={LIVE}"))]),
            Via::Cookie,
            StatusCode::OK,
            None,
        ),
        p(
            "missing",
            get("/never-leak-items", &[]),
            Via::None,
            StatusCode::UNAUTHORIZED,
            Some(AuthError::MissingCredentials),
        ),
        p(
            "another scheme",
            get("/never-leak-items", &[("authorization", format!("Basic {BASIC}"))]),
            Via::Header,
            StatusCode::UNAUTHORIZED,
            Some(AuthError::MissingCredentials),
        ),
        p(
            "two Authorization lines",
            get(
                "/never-leak-items",
                &[
                    ("authorization", format!("Bearer {LIVE}")),
                    ("authorization", format!("Bearer {UNKNOWN}")),
                ],
            ),
            Via::Header,
            StatusCode::BAD_REQUEST,
            Some(AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders)),
        ),
        p(
            "header and query",
            get(
                &format!("/never-leak-items?access_token={LIVE}"),
                &[("authorization", format!("Bearer {LIVE}"))],
            ),
            Via::Query,
            StatusCode::BAD_REQUEST,
            Some(AuthError::InvalidRequest(InvalidRequest::MultipleTokens)),
        ),
        p(
            "query twice",
            get(&format!("/never-leak-items?access_token={UNKNOWN}&access_token={LIVE}"), &[]),
            Via::Query,
            StatusCode::BAD_REQUEST,
            Some(AuthError::InvalidRequest(InvalidRequest::MultipleTokens)),
        ),
        p(
            "cookie and header",
            get(
                "/never-leak-items",
                &[("cookie", format!("sid={LIVE}")), ("authorization", format!("Bearer {UNKNOWN}"))],
            ),
            Via::Cookie,
            StatusCode::BAD_REQUEST,
            Some(AuthError::InvalidRequest(InvalidRequest::MultipleTokens)),
        ),
        p(
            "empty token",
            get("/never-leak-items", &[("authorization", "Bearer".to_owned())]),
            Via::Header,
            StatusCode::UNAUTHORIZED,
            malformed(ParseError::EmptyToken),
        ),
        p(
            "tab separator",
            get("/never-leak-items", &[("authorization", format!("Bearer\t{MALFORMED}"))]),
            Via::Header,
            StatusCode::UNAUTHORIZED,
            malformed(ParseError::BadSeparator),
        ),
        p(
            "bad character",
            get("/never-leak-items", &[("authorization", format!("Bearer {MALFORMED}\"{LIVE}"))]),
            Via::Header,
            StatusCode::UNAUTHORIZED,
            malformed(ParseError::InvalidCharacter),
        ),
        p(
            "bad character in the query",
            get(&format!("/never-leak-items?access_token={MALFORMED}%22"), &[]),
            Via::Query,
            StatusCode::UNAUTHORIZED,
            malformed(ParseError::InvalidCharacter),
        ),
        p(
            "too long",
            bearer(&too_long()),
            Via::Header,
            StatusCode::UNAUTHORIZED,
            malformed(ParseError::TooLong),
        ),
        p("unknown", bearer(UNKNOWN), Via::Header, StatusCode::UNAUTHORIZED, invalid(InvalidToken::Unknown)),
        p("revoked", bearer(REVOKED), Via::Header, StatusCode::UNAUTHORIZED, invalid(InvalidToken::Revoked)),
        p("expired", bearer(EXPIRED), Via::Header, StatusCode::UNAUTHORIZED, invalid(InvalidToken::Expired)),
        p(
            "unknown, by cookie",
            get("/never-leak-items", &[("cookie", format!("sid=\"{UNKNOWN}\""))]),
            Via::Cookie,
            StatusCode::UNAUTHORIZED,
            invalid(InvalidToken::Unknown),
        ),
        p(
            "insufficient scope",
            bearer(NO_SCOPE),
            Via::Header,
            StatusCode::FORBIDDEN,
            Some(AuthError::InsufficientScope(tower_bearer::ScopeRequirement::All(Scopes::parse("read")))),
        ),
    ]
}

/// Sends `probe` through `layer` and prints everything the response carries.
async fn run<T: TokenStore>(layer: BearerAuthLayer<T>, probe: Probe, seen: &Seen, got: &Inner) {
    let before = got.0.lock().unwrap().len();
    let sink = got.clone();
    let service = ServiceBuilder::new()
        .layer(layer.rejection_extension(true))
        .service_fn(move |req| inner(sink.clone(), req));
    let Ok(res) = service.oneshot(probe.request).await;
    let name = probe.name;
    assert_eq!(res.status(), probe.status, "{name}");
    let error = res.extensions().get::<AuthError>().cloned();
    assert_eq!(error, probe.error, "{name}: the intended outcome");
    seen.push(format!("{name}: response Debug"), format!("{res:?}"));
    if let Some(e) = &error {
        seen.push(format!("{name}: AuthError Debug"), format!("{e:?}"));
        seen.push(format!("{name}: AuthError Display"), e.to_string());
        seen.push(format!("{name}: AuthError description"), e.description());
    }
    let (parts, body) = res.into_parts();
    let Ok(body) = body.collect().await;
    seen.push(format!("{name}: headers Debug"), format!("{:?}", parts.headers));
    seen.push(format!("{name}: body"), String::from_utf8_lossy(&body.to_bytes()).into_owned());

    let got = got.0.lock().unwrap();
    let admitted = probe.status == StatusCode::OK;
    assert_eq!(got.len() - before, usize::from(admitted), "{name}: inner service reached iff admitted");
    if admitted {
        let (debug, sensitive, _) = &got[before];
        if probe.via == Via::Header {
            assert_eq!(
                sensitive,
                &[true],
                "{name}: Authorization reaches the inner service marked sensitive"
            );
            assert!(debug.contains("authorization") && debug.contains("Sensitive"), "{name}: {debug}");
            // The request as the inner service sees it, printed whole.
            seen.push(format!("{name}: request Debug at the inner service"), debug.clone());
        }
        // A token the application chose to take from the query string or a cookie is still in
        // the URI or the `Cookie` header the inner service gets: the layer does not rewrite the
        // request (see the ignored test below for the cookie, SECURITY.md for the query).
    }
}

/// Installs the capturing subscriber (with the `tracing` feature); every test calls it first.
fn init() {
    #[cfg(feature = "tracing")]
    crate::trace_capture::install();
}

#[tokio::test]
async fn no_token_in_events_responses_errors_requests_or_logs() {
    init();
    #[cfg(feature = "tracing")]
    let captured = crate::trace_capture::install();

    let seen = Seen::default();
    let got = Inner::default();
    let mut requests = 0;

    let memory = BearerAuthLayer::new(memory_store())
        .realm("leak-test")
        .require_scopes(["read"])
        .token_from_query("access_token")
        .token_from_cookie("sid")
        .on_event(record_events(seen.clone()));
    for probe in memory_probes() {
        run(memory.clone(), probe, &seen, &got).await;
        requests += 1;
    }

    // A token format is configured and the token is not of it: refused before the store.
    let formatted = BearerAuthLayer::new(memory_store())
        .realm("leak-test")
        .token_formats([TokenFormat::new("leak")])
        .on_event(record_events(seen.clone()));
    let probe = Probe {
        name: "not of the token format",
        request: bearer(MALFORMED),
        via: Via::Header,
        status: StatusCode::UNAUTHORIZED,
        error: Some(AuthError::InvalidToken(InvalidToken::BadFormat)),
    };
    run(formatted, probe, &seen, &got).await;
    requests += 1;

    // The store fails: 503, and its error (which the hook sees) names no token.
    let down = BearerAuthLayer::new(failing_store()).realm("leak-test").on_event(record_events(seen.clone()));
    let probe = Probe {
        name: "store unavailable",
        request: bearer(STORE_DOWN),
        via: Via::Header,
        status: StatusCode::SERVICE_UNAVAILABLE,
        error: Some(AuthError::StoreUnavailable(StoreErrorKind::Unavailable)),
    };
    run(down, probe, &seen, &got).await;
    requests += 1;

    // The store hangs and the deadline passes.
    #[cfg(feature = "tokio")]
    {
        use tower_bearer::TimeoutTokenStore;
        let hung = CallbackTokenStore::new(|_t: PresentedToken<'_>| {
            std::future::pending::<Result<tower_bearer::TokenState, io::Error>>()
        });
        let layer = BearerAuthLayer::new(TimeoutTokenStore::new(hung, Duration::from_millis(20)))
            .realm("leak-test")
            .on_event(record_events(seen.clone()));
        let probe = Probe {
            name: "store timed out",
            request: bearer(SLOW),
            via: Via::Header,
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: Some(AuthError::StoreUnavailable(StoreErrorKind::Timeout)),
        };
        run(layer, probe, &seen, &got).await;
        requests += 1;
    }

    // A store that answers through a callback, admitting: the principal it builds is printed.
    let callback = BearerAuthLayer::new(CallbackTokenStore::new(|t: PresentedToken<'_>| async move {
        Ok::<_, Infallible>(
            (t.expose_secret() == LIVE).then(|| Principal::builder("alice").token_id("tid_cb").build()),
        )
    }))
    .on_event(record_events(seen.clone()));
    let probe = Probe {
        name: "accepted, callback store",
        request: bearer(LIVE),
        via: Via::Header,
        status: StatusCode::OK,
        error: None,
    };
    run(callback, probe, &seen, &got).await;
    requests += 1;

    // The configuration objects themselves.
    seen.push("layer Debug", format!("{memory:?}"));
    seen.push("store Debug", format!("{:?}", memory.store()));
    for subject in ["alice", "bob", "carol", "dave"] {
        seen.push("token list Debug", format!("{:?}", at_once(memory.store().list(subject))));
    }

    let all = seen.all();
    let events = all.iter().filter(|(what, _)| what == "event Debug").count();
    assert_eq!(events, requests, "one event per request");
    for (what, text) in &all {
        assert_no_secret(what, text);
    }
    // The outcomes are there, under their public names: the checks above looked at real text.
    let joined: String = all.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
    for expected in
        ["tid_live", "tid_revoked", "tid_expired", "tid_noscope", "connection refused", "Sensitive"]
    {
        assert!(joined.contains(expected), "missing {expected:?}");
    }

    #[cfg(feature = "tracing")]
    {
        let output = captured.output();
        // Other tests of the binary run alongside and print to the same subscriber (their lines
        // are scanned for secrets too); only this test uses the path `/never-leak-items`.
        let mine = captured.lines_for_path("/never-leak-items");
        let outcomes =
            mine.iter().filter(|l| l.contains("request authenticated") || l.contains("request rejected"));
        assert_eq!(outcomes.count(), requests, "one tracing line per request:\n{output}");
        // Building the stores revoked a token: lifecycle events are in the output too.
        assert!(output.contains("token revoked"), "{output}");
        for expected in
            ["request authenticated", "request rejected", "token store failed", "timed out", "tid_revoked"]
        {
            assert!(output.contains(expected), "tracing output lacks {expected:?}:\n{output}");
        }
        assert_no_secret("tracing output", &output);
        let lines = mine.len();
        println!(
            "never_leak: {requests} requests, {} printed texts, {lines} tracing lines: no token",
            all.len()
        );
    }
    #[cfg(not(feature = "tracing"))]
    println!("never_leak: {requests} requests, {} printed texts: no token (tracing feature off)", all.len());
}

/// Rejections never echo anything of the request: the same rejection for two different
/// tokens is the same response, byte for byte (the only difference would be echoed input).
#[tokio::test]
async fn rejections_are_identical_whatever_the_token() {
    init();
    let layer = BearerAuthLayer::new(memory_store()).realm("leak-test");
    let mut answers = Vec::new();
    for token in [UNKNOWN, REVOKED, "other-unknown-token", "x"] {
        let service = ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(|_req: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::default())) });
        let req = get("/other", &[("authorization", format!("Bearer {token}"))]);
        let Ok(res) = service.oneshot(req).await;
        let (parts, body) = res.into_parts();
        let Ok(body) = body.collect().await;
        answers.push((parts.status, format!("{:?}", parts.headers), body.to_bytes()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

/// With `token_from_cookie`, the `Cookie` header that carried the token reaches the inner
/// service marked sensitive, so `{:?}` of the request's headers downstream does not print it.
#[tokio::test]
async fn cookie_carrying_the_token_reaches_the_inner_service_marked_sensitive() {
    init();
    let got = Inner::default();
    let sink = got.clone();
    let layer = BearerAuthLayer::new(memory_store()).token_from_cookie("sid");
    let service = ServiceBuilder::new().layer(layer).service_fn(move |req| inner(sink.clone(), req));
    let Ok(res) = service.oneshot(get("/other", &[("cookie", format!("sid={LIVE}"))])).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got = got.0.lock().unwrap();
    let (_, _, cookie) = &got[0];
    assert_no_secret("Cookie header at the inner service", cookie);
}

/// With `allow_cors_preflight(true)`, a preflight that (unusually) carries an `Authorization`
/// header reaches the inner service with it marked sensitive all the same.
#[tokio::test]
async fn preflight_passed_through_still_has_authorization_marked_sensitive() {
    init();
    let got = Inner::default();
    let sink = got.clone();
    let layer = BearerAuthLayer::new(memory_store()).allow_cors_preflight(true);
    let service = ServiceBuilder::new().layer(layer).service_fn(move |req| inner(sink.clone(), req));
    let mut req = get(
        "/other",
        &[
            ("authorization", format!("Bearer {PREFLIGHT}")),
            (ACCESS_CONTROL_REQUEST_METHOD.as_str(), "GET".to_owned()),
            ("origin", "https://app.example".to_owned()),
        ],
    );
    *req.method_mut() = Method::OPTIONS;
    let Ok(res) = service.oneshot(req).await;
    assert_eq!(res.status(), StatusCode::OK, "the preflight is let through");
    let got = got.0.lock().unwrap();
    let (debug, sensitive, _) = &got[0];
    assert_eq!(sensitive, &[true], "{debug}");
    assert_no_secret("preflight request at the inner service", debug);
}
