//! No public type that holds or wraps a token prints it, and the `tracing` output never does.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tower_bearer_test_support::at_once;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_bearer::{
    AuthError, BearerAuthLayer, CallbackTokenStore, MemoryTokenStore, PresentedToken, Principal, Scopes,
    TokenHash, TokenManager, TokenStore,
};

type Body = Full<Bytes>;

/// The secret under test. Distinctive, so any leak of it (or of a large part of it) is found.
const TOKEN: &str = "s3cr3t-Canary-7f3a9Qz";

/// Fails if `text` contains the token, a recognisable part of it, or its full digest.
#[track_caller]
fn assert_redacted(what: &str, text: &str) {
    assert!(!text.is_empty(), "{what}: nothing printed");
    for needle in [TOKEN, "s3cr3t", "Canary", "7f3a9Qz"] {
        assert!(!text.contains(needle), "{what} leaks {needle:?}: {text}");
    }
    assert!(!text.contains(&TokenHash::of(TOKEN).to_hex()), "{what} leaks the digest: {text}");
}

fn bearer(token: &str) -> Request<Body> {
    Request::get("/").header(AUTHORIZATION, format!("Bearer {token}")).body(Body::default()).unwrap()
}

fn store() -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    store.insert(TOKEN, Principal::builder("alice").scopes(Scopes::parse("read")).build()).unwrap();
    store
}

async fn ok(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::default()))
}

#[test]
fn presented_token_debug_is_redacted() {
    let token = PresentedToken::new(TOKEN);
    assert_eq!(token.expose_secret(), TOKEN, "precondition: it holds the token");
    assert_redacted("PresentedToken", &format!("{token:?}"));
    assert_redacted("PresentedToken", &format!("{token:#?}"));
}

#[test]
fn a_token_from_a_header_is_redacted() {
    let header = format!("Bearer {TOKEN}");
    let token = PresentedToken::from_header(header.as_bytes(), PresentedToken::DEFAULT_MAX_LEN).unwrap();
    assert_eq!(token.expose_secret(), TOKEN, "precondition: it holds the token");
    assert_redacted("PresentedToken", &format!("{token:?}"));
    assert_redacted(
        "parse result",
        &format!("{:?}", PresentedToken::from_header(header.as_bytes(), PresentedToken::DEFAULT_MAX_LEN)),
    );
}

/// The digest is not the secret, but printing all of it would hand out an offline-guessing
/// target for weak static keys.
#[test]
fn token_hash_debug_shows_at_most_a_prefix() {
    let hash = TokenHash::of(TOKEN);
    let debug = format!("{hash:?}");
    assert!(!debug.contains(&hash.to_hex()[..16]), "{debug}");
}

/// The request's headers, as the inner service sees them after the layer marked
/// `Authorization` sensitive, print without the token.
#[tokio::test]
async fn request_headers_debug_is_redacted_after_the_layer() {
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = seen.clone();
    let service =
        ServiceBuilder::new().layer(BearerAuthLayer::new(store())).service_fn(move |req: Request<Body>| {
            *sink.lock().unwrap() = format!("{:?}", req.headers());
            async { Ok::<_, Infallible>(Response::new(Body::default())) }
        });
    let Ok(res) = service.oneshot(bearer(TOKEN)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let debug = seen.lock().unwrap().clone();
    assert!(debug.contains("authorization"), "precondition: the header is there: {debug}");
    assert_redacted("HeaderMap", &debug);
}

#[test]
fn memory_token_store_debug_is_redacted() {
    let store = store();
    assert_eq!(store.len(), 1);
    assert_redacted("MemoryTokenStore", &format!("{store:?}"));
    assert_redacted("MemoryTokenStore", &format!("{store:#?}"));
}

#[test]
fn token_info_debug_is_redacted() {
    let store = store();
    let infos = at_once(store.list("alice")).unwrap();
    assert_eq!(infos.len(), 1);
    assert_redacted("TokenInfo", &format!("{:?}", infos[0]));
    assert_redacted("TokenInfo", &format!("{:?}", at_once(store.get(&infos[0].id)).unwrap().unwrap()));
}

#[test]
fn insert_error_debug_and_display_are_redacted() {
    let store = store();
    let duplicate = store.insert(TOKEN, Principal::builder("bob").build()).unwrap_err();
    let bad = format!("{TOKEN} with spaces");
    let invalid = store.insert(&bad, Principal::builder("bob").build()).unwrap_err();
    let id = at_once(store.list("alice")).unwrap()[0].id.clone();
    let taken = store.insert("another-token", Principal::builder("bob").token_id(id).build()).unwrap_err();
    for error in [duplicate, invalid, taken] {
        assert_redacted("InsertError", &format!("{error:?}"));
        assert_redacted("InsertError", &error.to_string());
    }
}

/// Every rejection's `AuthError` (from the response extensions) prints without the token.
#[tokio::test]
async fn auth_error_debug_and_display_are_redacted() {
    let headers = [
        format!("Bearer {TOKEN}x"),
        format!("Bearer {TOKEN} {TOKEN}"),
        format!("Bearer\t{TOKEN}"),
        format!("Bearer {TOKEN}=="),
        format!("Bearer {TOKEN}{TOKEN}"),
    ];
    let layer = BearerAuthLayer::new(store()).max_token_len(2 * TOKEN.len() - 1).rejection_extension(true);
    for value in headers {
        let req = Request::get("/").header(AUTHORIZATION, value).body(Body::default()).unwrap();
        let Ok(res) = ServiceBuilder::new().layer(layer.clone()).service_fn(ok).oneshot(req).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let error = res.extensions().get::<AuthError>().expect("the rejection reason").clone();
        assert_redacted("AuthError", &format!("{error:?}"));
        assert_redacted("AuthError", &error.to_string());
        let Ok(body) = res.into_body().collect().await;
        assert_redacted("rejection body", std::str::from_utf8(&body.to_bytes()).unwrap());
    }
}

/// A store error, as the event hook receives it, prints without the token.
#[tokio::test]
async fn store_error_and_auth_event_debug_are_redacted() {
    let printed = Arc::new(Mutex::new(Vec::new()));
    let sink = printed.clone();
    let store = CallbackTokenStore::new(|_token: PresentedToken| async {
        Err::<Option<Principal>, _>(std::io::Error::other("connection refused"))
    });
    let layer = BearerAuthLayer::new(store).on_event(move |event| {
        let mut out = sink.lock().unwrap();
        out.push(format!("{event:?}"));
        if let tower_bearer::middleware::Outcome::Rejected { store_error: Some(e), .. } = event.outcome {
            out.push(format!("{e:?}"));
            out.push(e.to_string());
        }
    });
    let Ok(res) = ServiceBuilder::new().layer(layer).service_fn(ok).oneshot(bearer(TOKEN)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let printed = printed.lock().unwrap();
    assert_eq!(printed.len(), 3, "one event and its store error: {printed:?}");
    assert!(printed[1].contains("connection refused"), "precondition: the error is the store's: {printed:?}");
    for text in printed.iter() {
        assert_redacted("AuthEvent / StoreError", text);
    }
}

/// The event's path leaves out the query string, where a token may travel.
#[tokio::test]
async fn auth_event_path_excludes_query_token() {
    let printed = Arc::new(Mutex::new(Vec::new()));
    let sink = printed.clone();
    let layer = BearerAuthLayer::new(store()).token_from_query("access_token").on_event(move |event| {
        sink.lock().unwrap().push((event.path.to_owned(), format!("{event:?}")));
    });
    let req = Request::get(format!("/items?access_token={TOKEN}")).body(Body::default()).unwrap();
    let Ok(res) = ServiceBuilder::new().layer(layer).service_fn(ok).oneshot(req).await;
    assert_eq!(res.status(), StatusCode::OK, "precondition: the query token was used");
    let printed = printed.lock().unwrap();
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0].0, "/items");
    assert_redacted("AuthEvent", &printed[0].1);
}

#[test]
fn layer_debug_is_redacted() {
    let layer = BearerAuthLayer::new(store()).realm("test").token_from_query("access_token");
    assert_redacted("BearerAuthLayer", &format!("{layer:?}"));
    assert_redacted("BearerAuthLayer", &format!("{layer:#?}"));
}

#[test]
fn service_debug_is_redacted() {
    let service = ServiceBuilder::new().layer(BearerAuthLayer::new(store())).service_fn(ok);
    assert_redacted("BearerAuth", &format!("{service:?}"));
}

/// A response future that holds the request (and so the token) while the store looks it up
/// prints without it.
#[tokio::test]
async fn response_future_debug_is_redacted() {
    let mut service = ServiceBuilder::new().layer(BearerAuthLayer::new(store())).service_fn(ok);
    let Ok(ready) = service.ready().await;
    let future = ready.call(bearer(TOKEN));
    assert_redacted("ResponseFuture", &format!("{future:?}"));
    let Ok(res) = future.await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[test]
fn callback_store_and_lookup_debug_are_redacted() {
    let store = CallbackTokenStore::new(|token: PresentedToken| async move {
        Ok::<_, Infallible>((token.expose_secret() == TOKEN).then(|| Principal::builder("alice").build()))
    });
    assert_redacted("CallbackTokenStore", &format!("{store:?}"));
    let lookup = store.lookup(&PresentedToken::new(TOKEN));
    assert_redacted("CallbackLookup", &format!("{lookup:?}"));
}

/// With the `tracing` feature, the events the layer emits describe each outcome and never
/// carry the token.
#[cfg(feature = "tracing")]
mod tracing_output {
    use std::io;
    use std::time::{Duration, SystemTime};

    use tower_bearer::TokenState;

    use super::*;

    const UNKNOWN: &str = "s3cr3t-Canary-unknown";
    const EXPIRED: &str = "s3cr3t-Canary-expired";
    const BROKEN: &str = "s3cr3t-Canary-broken";
    /// Sent in the query string, which must not reach the events either.
    const IN_QUERY: &str = "s3cr3t-Canary-query";

    /// One store answering every outcome: accepted, unknown, expired, and failing.
    fn store() -> impl TokenStore {
        CallbackTokenStore::new(|token: PresentedToken| async move {
            match token.expose_secret() {
                TOKEN => Ok(TokenState::Active(Principal::builder("alice").token_id("tid_alice").build())),
                EXPIRED => Ok(TokenState::Active(
                    Principal::builder("old")
                        .token_id("tid_old")
                        .expires_at(SystemTime::now() - Duration::from_secs(60))
                        .build(),
                )),
                BROKEN => Err(io::Error::other("connection refused")),
                _ => Ok(TokenState::Unknown),
            }
        })
    }

    #[tokio::test]
    async fn tracing_output_names_outcomes_and_never_the_token() {
        // The binary's one subscriber; this test's lines are those of its own path.
        let captured = crate::trace_capture::install();
        const PATH: &str = "/redaction-trace";
        let traced = |token: &str| {
            Request::get(PATH).header(AUTHORIZATION, format!("Bearer {token}")).body(Body::default()).unwrap()
        };

        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let layer = BearerAuthLayer::new(store()).realm("test").token_from_query("access_token").on_event(
            move |event| {
                sink.lock().unwrap().push(format!("{event:?}"));
            },
        );
        let service = ServiceBuilder::new().layer(layer).service_fn(ok);
        let mut statuses = Vec::new();
        for token in [TOKEN, UNKNOWN, EXPIRED, BROKEN] {
            let Ok(res) = service.clone().oneshot(traced(token)).await;
            statuses.push(res.status().as_u16());
        }
        let in_query = Request::get(format!("{PATH}?access_token={IN_QUERY}")).body(Body::default()).unwrap();
        let Ok(res) = service.oneshot(in_query).await;
        statuses.push(res.status().as_u16());
        assert_eq!(statuses, [200, 401, 401, 503, 401]);

        let output = captured.lines_for_path(PATH).join("\n");
        assert!(!output.is_empty(), "no tracing output");
        assert_eq!(output.lines().count(), 5, "one event per request:\n{output}");
        for expected in [
            "request authenticated",
            "request rejected",
            "unknown token",
            "expired token",
            "request rejected: token store failed",
            "connection refused",
            "tid_alice",
            "tid_old",
            r#"path="/redaction-trace""#,
        ] {
            assert!(output.contains(expected), "missing {expected:?} in:\n{output}");
        }
        let everything = captured.output();
        for token in [TOKEN, UNKNOWN, EXPIRED, BROKEN, IN_QUERY] {
            assert!(!everything.contains(token), "tracing output leaks {token}:\n{output}");
        }
        assert!(!everything.contains("s3cr3t"), "{output}");

        let events = events.lock().unwrap();
        assert_eq!(events.len(), 5, "{events:?}");
        for event in events.iter() {
            assert!(!event.contains("s3cr3t"), "AuthEvent leaks the token: {event}");
        }
    }
}
