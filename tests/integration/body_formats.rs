//! Rejection bodies of every built-in `ErrorFormat`, byte for byte, for 400, 401, 403 and 503.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_bearer::{
    AuthError, BearerAuthLayer, CallbackTokenStore, ErrorFormat, MemoryTokenStore, PresentedToken, Principal,
    Scopes, TokenStore,
};

type Body = Full<Bytes>;

const ALICE: &str = "alice-token";

/// The rejections every format must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// Two `Authorization` lines: 400.
    BadRequest,
    /// No credentials: 401 with a bare challenge.
    Missing,
    /// Unknown token: 401 `invalid_token`.
    InvalidToken,
    /// Token without the required scope: 403.
    Forbidden,
    /// The store failed: 503.
    StoreDown,
}

const CASES: [Case; 5] =
    [Case::BadRequest, Case::Missing, Case::InvalidToken, Case::Forbidden, Case::StoreDown];

/// Status, `WWW-Authenticate` (if any), `Content-Type` and body of one rejection.
#[derive(Debug, PartialEq, Eq)]
struct Rejection {
    status: StatusCode,
    challenge: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    body: String,
}

async fn echo(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let _ = req;
    Ok(Response::new(Body::from("reached the inner service")))
}

async fn send<T: TokenStore>(layer: BearerAuthLayer<T>, req: Request<Body>) -> Rejection {
    let mut service = ServiceBuilder::new().layer(layer).service_fn(echo);
    let Ok(ready) = service.ready().await;
    let Ok(res) = ready.call(req).await;
    let (parts, body) = res.into_parts();
    let Ok(body) = body.collect().await;
    Rejection {
        status: parts.status,
        challenge: parts.headers.get(WWW_AUTHENTICATE).cloned(),
        content_type: parts.headers.get(CONTENT_TYPE).cloned(),
        body: String::from_utf8(body.to_bytes().to_vec()).expect("UTF-8 body"),
    }
}

fn bearer(token: &str) -> Request<Body> {
    Request::get("/").header(AUTHORIZATION, format!("Bearer {token}")).body(Body::default()).unwrap()
}

/// Alice holds `read`; the layer requires `admin`, so her token is a 403.
fn memory_layer() -> BearerAuthLayer<MemoryTokenStore> {
    let store = MemoryTokenStore::new();
    store.insert(ALICE, Principal::builder("alice").scopes(Scopes::parse("read")).build()).unwrap();
    BearerAuthLayer::new(store).realm("test").require_scopes(["admin"])
}

fn failing_layer() -> BearerAuthLayer<impl TokenStore> {
    let store = CallbackTokenStore::new(|_token: PresentedToken| async {
        Err::<Option<Principal>, _>(std::io::Error::other("connection refused"))
    });
    BearerAuthLayer::new(store).realm("test")
}

/// The rejection for `case`, with `format` applied to the layer when given.
async fn reject(format: Option<ErrorFormat>, case: Case) -> Rejection {
    let with = |layer: BearerAuthLayer<MemoryTokenStore>| match &format {
        Some(f) => layer.error_format(f.clone()),
        None => layer,
    };
    let rejection = match case {
        Case::BadRequest => {
            let mut req = bearer(ALICE);
            req.headers_mut().append(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
            send(with(memory_layer()), req).await
        }
        Case::Missing => send(with(memory_layer()), Request::get("/").body(Body::default()).unwrap()).await,
        Case::InvalidToken => send(with(memory_layer()), bearer("unknown-token")).await,
        Case::Forbidden => send(with(memory_layer()), bearer(ALICE)).await,
        Case::StoreDown => {
            let layer = failing_layer();
            let layer = match &format {
                Some(f) => layer.error_format(f.clone()),
                None => layer,
            };
            send(layer, bearer(ALICE)).await
        }
    };
    let expected_status = match case {
        Case::BadRequest => 400,
        Case::Missing | Case::InvalidToken => 401,
        Case::Forbidden => 403,
        Case::StoreDown => 503,
    };
    assert_eq!(rejection.status.as_u16(), expected_status, "{case:?}");
    assert_eq!(rejection.content_type.as_ref().map(HeaderValue::as_bytes), Some(&b"application/json"[..]));
    rejection
}

/// The bodies of `format` for every case, in `CASES` order.
async fn bodies(format: ErrorFormat) -> Vec<String> {
    let mut out = Vec::new();
    for case in CASES {
        out.push(reject(Some(format.clone()), case).await.body);
    }
    out
}

/// `OAuth`: the RFC 6750 error code and description.
#[tokio::test]
async fn oauth_bodies() {
    assert_eq!(
        bodies(ErrorFormat::OAuth).await,
        [
            r#"{"error":"invalid_request","error_description":"the request has more than one Authorization header"}"#,
            r#"{"error":"unauthorized","error_description":"a bearer token is required"}"#,
            r#"{"error":"invalid_token","error_description":"the access token is invalid"}"#,
            r#"{"error":"insufficient_scope","error_description":"the access token lacks the required scope"}"#,
            r#"{"error":"temporarily_unavailable","error_description":"authentication is temporarily unavailable"}"#,
        ]
    );
}

/// A layer with no `error_format` call answers in `OAuth`.
#[tokio::test]
async fn default_format_is_oauth() {
    for case in CASES {
        assert_eq!(reject(None, case).await, reject(Some(ErrorFormat::OAuth), case).await, "{case:?}");
    }
    assert_eq!(
        reject(None, Case::InvalidToken).await.body,
        r#"{"error":"invalid_token","error_description":"the access token is invalid"}"#
    );
}

/// `Message`: Laravel-style one-field bodies.
#[tokio::test]
async fn message_bodies() {
    assert_eq!(
        bodies(ErrorFormat::Message).await,
        [
            r#"{"message":"Bad request."}"#,
            r#"{"message":"Unauthenticated."}"#,
            r#"{"message":"Unauthenticated."}"#,
            r#"{"message":"This action is unauthorized."}"#,
            r#"{"message":"Service unavailable."}"#,
        ]
    );
}

/// `ErrorMessage`: API-key style `error` + `message`.
#[tokio::test]
async fn error_message_bodies() {
    assert_eq!(
        bodies(ErrorFormat::ErrorMessage).await,
        [
            r#"{"error":"bad_request","message":"Malformed Authorization header"}"#,
            r#"{"error":"unauthorized","message":"Invalid or missing API key"}"#,
            r#"{"error":"unauthorized","message":"Invalid or missing API key"}"#,
            r#"{"error":"forbidden","message":"Insufficient scope"}"#,
            r#"{"error":"service_unavailable","message":"Authentication is temporarily unavailable"}"#,
        ]
    );
}

fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// Splits a `StatusMessageTimestamp` body into everything before the timestamp and the
/// timestamp, checking that exactly `}` follows it.
fn split_timestamp(body: &str) -> (&str, u128) {
    let at = body.find(r#""timestamp":"#).expect("a timestamp field") + r#""timestamp":"#.len();
    let (head, tail) = body.split_at(at);
    let digits = tail.strip_suffix('}').unwrap_or_else(|| panic!("timestamp is not last: {body}"));
    assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()), "{body}");
    (head, digits.parse().unwrap())
}

/// `StatusMessageTimestamp`: status, reason phrase, and the current time in milliseconds.
#[tokio::test]
async fn status_message_timestamp_bodies() {
    let before = now_millis();
    let bodies = bodies(ErrorFormat::StatusMessageTimestamp).await;
    let after = now_millis();
    let expected_heads = [
        r#"{"status":400,"message":"Bad Request","timestamp":"#,
        r#"{"status":401,"message":"Unauthorized","timestamp":"#,
        r#"{"status":401,"message":"Unauthorized","timestamp":"#,
        r#"{"status":403,"message":"Forbidden","timestamp":"#,
        r#"{"status":503,"message":"Service Unavailable","timestamp":"#,
    ];
    for (body, expected_head) in bodies.iter().zip(expected_heads) {
        let (head, millis) = split_timestamp(body);
        assert_eq!(head, expected_head);
        assert!(before <= millis && millis <= after, "{millis} not in [{before}, {after}]");

        let json: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
        let timestamp = json["timestamp"].as_u64().expect("an integer timestamp");
        assert_eq!(u128::from(timestamp), millis);
        assert!(u128::from(timestamp).abs_diff(now_millis()) < 5_000);
    }
}

/// The timestamp is taken per response, even for the (otherwise prebuilt) missing-credentials
/// rejection.
#[tokio::test]
async fn status_message_timestamp_is_taken_per_response() {
    let first =
        split_timestamp(&reject(Some(ErrorFormat::StatusMessageTimestamp), Case::Missing).await.body).1;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second =
        split_timestamp(&reject(Some(ErrorFormat::StatusMessageTimestamp), Case::Missing).await.body).1;
    assert!(second >= first + 20, "{first} then {second}");
}

fn custom() -> ErrorFormat {
    ErrorFormat::custom(|e: &AuthError| {
        format!(
            r#"{{"code":{},"kind":"{}","detail":"{}"}}"#,
            e.status().as_u16(),
            e.error_code().unwrap_or("none"),
            e.description()
        )
    })
}

/// `Custom`: the closure's string is the body, for every rejection.
#[tokio::test]
async fn custom_closure_bodies() {
    assert_eq!(
        bodies(custom()).await,
        [
            r#"{"code":400,"kind":"invalid_request","detail":"the request has more than one Authorization header"}"#,
            r#"{"code":401,"kind":"none","detail":"a bearer token is required"}"#,
            r#"{"code":401,"kind":"invalid_token","detail":"the access token is invalid"}"#,
            r#"{"code":403,"kind":"insufficient_scope","detail":"the access token lacks the required scope"}"#,
            r#"{"code":503,"kind":"none","detail":"authentication is temporarily unavailable"}"#,
        ]
    );
}

/// A custom closure runs for each rejection (its body is never cached), including the
/// missing-credentials one.
#[tokio::test]
async fn custom_closure_runs_per_rejection() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let format =
        ErrorFormat::custom(move |_| format!(r#"{{"n":{}}}"#, counter.fetch_add(1, Ordering::SeqCst) + 1));
    let service = ServiceBuilder::new().layer(memory_layer().error_format(format)).service_fn(echo);
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let Ok(res) = service.clone().oneshot(Request::get("/").body(Body::default()).unwrap()).await;
        let Ok(body) = res.into_body().collect().await;
        bodies.push(body.to_bytes());
    }
    assert_eq!(bodies, [&br#"{"n":1}"#[..], br#"{"n":2}"#, br#"{"n":3}"#]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// The format changes only the body: status, challenge and `Content-Type` are the same for
/// every format.
#[tokio::test]
async fn format_changes_only_the_body() {
    let formats =
        [ErrorFormat::Message, ErrorFormat::ErrorMessage, ErrorFormat::StatusMessageTimestamp, custom()];
    for case in CASES {
        let reference = reject(Some(ErrorFormat::OAuth), case).await;
        for format in &formats {
            let other = reject(Some(format.clone()), case).await;
            assert_eq!(other.status, reference.status, "{case:?} {format:?}");
            assert_eq!(other.challenge, reference.challenge, "{case:?} {format:?}");
            assert_eq!(other.content_type, reference.content_type, "{case:?} {format:?}");
            assert_ne!(other.body, reference.body, "{case:?} {format:?}");
        }
    }
    assert_eq!(
        reject(Some(ErrorFormat::Message), Case::Missing).await.challenge.unwrap(),
        r#"Bearer realm="test""#
    );
}

/// `realm` and `error_format` can be set in either order without one undoing the other.
#[tokio::test]
async fn realm_and_format_are_independent_of_order() {
    let store = || MemoryTokenStore::new();
    let orders = [
        BearerAuthLayer::new(store()).realm("test").error_format(ErrorFormat::Message),
        BearerAuthLayer::new(store()).error_format(ErrorFormat::Message).realm("test"),
    ];
    for layer in orders {
        let rejection = send(layer, Request::get("/").body(Body::default()).unwrap()).await;
        assert_eq!(rejection.challenge.unwrap(), r#"Bearer realm="test""#);
        assert_eq!(rejection.body, r#"{"message":"Unauthenticated."}"#);
    }
}

/// `ErrorFormat::body` is public; what it builds is what the layer sends.
#[tokio::test]
async fn error_format_body_matches_the_response() {
    let sent = reject(Some(ErrorFormat::ErrorMessage), Case::InvalidToken).await.body;
    let error = AuthError::InvalidToken(tower_bearer::middleware::InvalidToken::Unknown);
    assert_eq!(ErrorFormat::ErrorMessage.body(&error), sent);
}
