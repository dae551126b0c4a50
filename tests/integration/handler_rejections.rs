//! Refusals from behind the layer: a handler's `AuthError`, `RequireScopesLayer`, and the layer's
//! `require` predicate are all answered in the layer's own format, realm and challenge.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path;
use axum::handler::Handler;
use axum::routing::get;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_bearer::middleware::Outcome;
use tower_bearer::{
    AuthError, BearerAuthLayer, ErrorFormat, MemoryTokenStore, Principal, RequireScopesLayer, Scopes,
};

const READER: &str = "reader-token-0123456789";
const ACME: &str = "acme-admin-token-0123456789";

fn store() -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    store.insert(READER, Principal::builder("rita").scopes(Scopes::parse("invoices:read")).build()).unwrap();
    store
        .insert(ACME, Principal::builder("ada").organization("acme").scopes(Scopes::parse("*")).build())
        .unwrap();
    store
}

/// The response to `method path` with `token`.
async fn send(app: &Router, method: Method, path: &str, token: Option<&str>) -> Response<axum::body::Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap()
}

/// Status, challenge and body of `GET path` with `token`.
async fn call(app: &Router, path: &str, token: Option<&str>) -> (StatusCode, Option<String>, String) {
    let res = send(app, Method::GET, path, token).await;
    let status = res.status();
    let challenge = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, challenge, body)
}

/// `GET /orgs/{org}/invoices`: the handler checks the organization itself.
async fn org_invoices(principal: Principal, Path(org): Path<String>) -> Result<&'static str, AuthError> {
    if principal.organization() != Some(org.as_str()) {
        return Err(AuthError::Denied);
    }
    if !principal.scopes().grants("invoices:export") {
        return Err(AuthError::insufficient_scope(["invoices:export"]));
    }
    Ok("exported")
}

#[tokio::test]
async fn a_handlers_auth_error_is_answered_in_the_layers_format_and_realm() {
    let app = Router::new()
        .route("/orgs/{org}/invoices", get(org_invoices))
        .route_layer(BearerAuthLayer::new(store()).realm("billing").error_format(ErrorFormat::Message));

    let (status, challenge, body) = call(&app, "/orgs/acme/invoices", Some(READER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="billing", error="insufficient_scope", error_description="the access token does not grant access to this resource""#
        )
    );
    assert_eq!(body, r#"{"message":"This action is unauthorized."}"#);

    assert_eq!(call(&app, "/orgs/acme/invoices", Some(ACME)).await.0, StatusCode::OK);
    assert_eq!(call(&app, "/orgs/globex/invoices", Some(ACME)).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_handlers_scope_refusal_names_the_scope() {
    let store = MemoryTokenStore::new();
    store
        .insert(
            ACME,
            Principal::builder("ada").organization("acme").scopes(Scopes::parse("invoices:read")).build(),
        )
        .unwrap();
    let app = Router::new()
        .route("/orgs/{org}/invoices", get(org_invoices))
        .route_layer(BearerAuthLayer::new(store).realm("billing").rejection_extension(true));
    let res = send(&app, Method::GET, "/orgs/acme/invoices", Some(ACME)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="billing", error="insufficient_scope", error_description="the access token lacks the required scope", scope="invoices:export""#
    );
    assert_eq!(
        res.extensions().get::<AuthError>(),
        Some(&AuthError::insufficient_scope(["invoices:export"]))
    );
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        r#"{"error":"insufficient_scope","error_description":"the access token lacks the required scope"}"#
    );
}

#[tokio::test]
async fn without_the_layer_a_handlers_auth_error_is_still_a_correct_answer() {
    let app = Router::new().route("/orgs/{org}/invoices", get(|| async { Err::<(), _>(AuthError::Denied) }));
    let (status, challenge, body) = call(&app, "/orgs/acme/invoices", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer error="insufficient_scope", error_description="the access token does not grant access to this resource""#
        )
    );
    assert_eq!(
        body,
        r#"{"error":"insufficient_scope","error_description":"the access token does not grant access to this resource"}"#
    );
}

#[tokio::test]
async fn require_scopes_refuses_in_the_layers_format_and_reports_the_refusal() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let layer = BearerAuthLayer::new(store()).realm("billing").on_event(move |event| {
        let principal = event.principal().map(|p| p.subject().to_owned());
        let outcome = match event.outcome {
            Outcome::Authenticated(_) => "authenticated".to_owned(),
            Outcome::Rejected { error, .. } => error.reason().to_owned(),
            _ => "other".to_owned(),
        };
        sink.lock().unwrap().push((event.method.to_string(), event.path.to_owned(), outcome, principal));
    });
    let app = Router::new()
        .route(
            "/v1/invoices",
            get((|| async { "list" }).layer(RequireScopesLayer::all(["invoices:read"])))
                .post((|| async { "created" }).layer(RequireScopesLayer::any(["invoices:write", "admin"]))),
        )
        .route_layer(layer);

    assert_eq!(call(&app, "/v1/invoices", Some(READER)).await.0, StatusCode::OK);
    let res = send(&app, Method::POST, "/v1/invoices", Some(READER)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="billing", error="insufficient_scope", error_description="the access token lacks the required scope", scope="admin invoices:write""#
    );
    let events = events.lock().unwrap();
    let rita = Some("rita".to_owned());
    assert_eq!(
        events.as_slice(),
        [
            ("GET".to_owned(), "/v1/invoices".to_owned(), "authenticated".to_owned(), rita.clone()),
            ("POST".to_owned(), "/v1/invoices".to_owned(), "insufficient_scope".to_owned(), rita),
        ],
        "one event per request: the refusal behind the layer is the POST's"
    );
}

/// A handler that returns an `AuthError`: answered in the layer's format, and reported to the
/// layer's hook as the request's one event, with its principal.
#[tokio::test]
async fn a_handlers_refusal_is_the_requests_one_event() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let layer = BearerAuthLayer::new(store()).realm("billing").on_event(move |event| {
        if let Outcome::Rejected { error, principal, .. } = event.outcome {
            let who = principal.map(|p| p.subject().to_owned());
            sink.lock().unwrap().push((event.method.to_string(), event.path.to_owned(), error.reason(), who));
        }
    });
    let export = || async { Err::<&str, _>(AuthError::insufficient_scope(["invoices:export"])) };
    let app = Router::new()
        .route("/v1/export", axum::routing::post(export))
        .route("/orgs/{org}/invoices", get(org_invoices))
        .route_layer(layer);

    let res = send(&app, Method::POST, "/v1/export", Some(READER)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="billing", error="insufficient_scope", error_description="the access token lacks the required scope", scope="invoices:export""#
    );
    assert_eq!(call(&app, "/orgs/acme/invoices", Some(READER)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        events.lock().unwrap().as_slice(),
        [
            ("POST".to_owned(), "/v1/export".to_owned(), "insufficient_scope", Some("rita".to_owned())),
            ("GET".to_owned(), "/orgs/acme/invoices".to_owned(), "denied", Some("rita".to_owned())),
        ],
        "each reported once, as refused"
    );
}

#[tokio::test]
async fn require_scopes_without_the_layer_says_the_layer_is_missing() {
    let app = Router::new()
        .route("/v1/invoices", get((|| async { "list" }).layer(RequireScopesLayer::all(["invoices:read"]))));
    let (status, challenge, body) = call(&app, "/v1/invoices", Some(READER)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(challenge, None);
    assert!(body.contains("BearerAuthLayer"), "{body}");
    assert!(!body.contains(READER));
}

#[test]
#[should_panic(expected = "not a valid OAuth scope")]
fn require_scopes_refuses_an_invalid_scope_at_start_up() {
    let _ = RequireScopesLayer::all(["two words"]);
}

#[tokio::test]
async fn the_layers_predicate_sees_the_principal_and_the_request() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let layer = BearerAuthLayer::new(store()).realm("billing").require(move |principal, request| {
        *counted.lock().unwrap() += 1;
        let org = request.uri.path().strip_prefix("/orgs/").and_then(|rest| rest.split('/').next());
        org.is_some_and(|org| principal.organization() == Some(org))
    });
    let app = Router::new().route("/orgs/{org}/reports", get(|| async { "reports" })).route_layer(layer);

    assert_eq!(call(&app, "/orgs/acme/reports", Some(ACME)).await.0, StatusCode::OK);
    let (status, challenge, _) = call(&app, "/orgs/globex/reports", Some(ACME)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="billing", error="insufficient_scope", error_description="the access token does not grant access to this resource""#
        )
    );
    assert_eq!(
        call(&app, "/orgs/acme/reports", Some(READER)).await.0,
        StatusCode::FORBIDDEN,
        "no organization"
    );
    // Requests refused before the predicate never reach it.
    assert_eq!(call(&app, "/orgs/acme/reports", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&app, "/orgs/acme/reports", Some("unknown-token-0000")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(*calls.lock().unwrap(), 3);
}

/// "At least one of nothing" would let every token through: refused at start-up (security
/// review #11, finding 7).
#[test]
#[should_panic(expected = "needs at least one scope")]
fn an_empty_any_of_requirement_is_refused_on_the_layer() {
    let _ = BearerAuthLayer::new(MemoryTokenStore::new()).require_any_scope(Vec::<String>::new());
}

#[test]
#[should_panic(expected = "needs at least one scope")]
fn an_empty_any_of_requirement_is_refused_on_a_route() {
    let _ = RequireScopesLayer::any(Vec::<String>::new());
}

/// Sends requests refused in every way to an app behind `layer`: by the layer, and behind it
/// (`RequireScopesLayer`, credits, a rate limit, a handler's `AuthError`), each checked for its
/// status.
#[cfg(feature = "rate-limit")]
async fn send_refused_everywhere(store: &MemoryTokenStore, layer: BearerAuthLayer<MemoryTokenStore>) {
    use tower_bearer::{Credits, CreditsLayer, NewToken, RateLimit, RateLimitLayer, TokenManager};

    let metered = store
        .issue(NewToken::for_subject("meg").scopes(["invoices:read"]).credits(Credits::new(1)))
        .await
        .unwrap();
    let metered = Some(metered.secret().expose_secret().to_owned());
    let export = || async { Err::<&str, _>(AuthError::insufficient_scope(["invoices:export"])) };
    let one_a_minute = RateLimitLayer::new().default_limit(RateLimit::per_minute(1).unwrap());
    let app = Router::new()
        .route(
            "/v1/invoices",
            get((|| async { "list" }).layer(RequireScopesLayer::all(["invoices:read"])))
                .post((|| async { "created" }).layer(RequireScopesLayer::all(["invoices:write"]))),
        )
        .route("/v1/metered", get(|| async { "metered" }).route_layer(CreditsLayer::new(store.clone())))
        .route("/v1/limited", get(|| async { "limited" }).route_layer(one_a_minute))
        .route("/v1/export", axum::routing::post(export))
        .route_layer(layer);
    let reader = Some(READER.to_owned());
    let requests = vec![
        (Method::GET, "/v1/invoices", reader.clone(), StatusCode::OK),
        (Method::GET, "/v1/invoices", None, StatusCode::UNAUTHORIZED),
        (Method::GET, "/v1/invoices", Some("made-up-token-0123456789".to_owned()), StatusCode::UNAUTHORIZED),
        (Method::POST, "/v1/invoices", reader.clone(), StatusCode::FORBIDDEN),
        (Method::GET, "/v1/metered", metered.clone(), StatusCode::OK),
        (Method::GET, "/v1/metered", metered, StatusCode::TOO_MANY_REQUESTS),
        (Method::GET, "/v1/limited", reader.clone(), StatusCode::OK),
        (Method::GET, "/v1/limited", reader.clone(), StatusCode::TOO_MANY_REQUESTS),
        (Method::POST, "/v1/export", reader, StatusCode::FORBIDDEN),
    ];
    for (method, path, token, status) in &requests {
        let status_got = send(&app, method.clone(), path, token.as_deref()).await.status();
        assert_eq!(status_got, *status, "{method} {path}");
    }
}

/// Issue 21, finding 8: a request refused behind the layer (`RequireScopesLayer`, credits, a rate
/// limit, a handler's `AuthError`) was reported twice, authenticated then rejected. The layer
/// now reports each request once, when it is answered, with its outcome: admitted, refused by
/// the layer, or refused by whichever check refused it.
#[cfg(feature = "rate-limit")]
#[tokio::test]
async fn every_request_comes_to_one_event_with_its_outcome_wherever_it_was_refused() {
    let store = store();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let layer = BearerAuthLayer::new(store.clone()).on_event(move |event| {
        let outcome = match event.outcome {
            Outcome::Authenticated(_) => "authenticated",
            Outcome::Rejected { error, .. } => error.reason(),
            _ => "other",
        };
        let who = event.principal().map(|p| p.subject().to_owned());
        let seen = (event.method.to_string(), event.path.to_owned(), outcome, who);
        sink.lock().unwrap().push(seen);
    });
    send_refused_everywhere(&store, layer).await;
    let events = events.lock().unwrap().clone();
    let (rita, meg) = (Some("rita".to_owned()), Some("meg".to_owned()));
    let event = |method: &Method, path: &str, outcome, who: &Option<String>| {
        (method.to_string(), path.to_owned(), outcome, who.clone())
    };
    assert_eq!(
        events,
        [
            event(&Method::GET, "/v1/invoices", "authenticated", &rita),
            event(&Method::GET, "/v1/invoices", "missing_credentials", &None),
            event(&Method::GET, "/v1/invoices", "unknown_token", &None),
            event(&Method::POST, "/v1/invoices", "insufficient_scope", &rita),
            event(&Method::GET, "/v1/metered", "authenticated", &meg),
            event(&Method::GET, "/v1/metered", "credits_exhausted", &meg),
            event(&Method::GET, "/v1/limited", "authenticated", &rita),
            event(&Method::GET, "/v1/limited", "rate_limited", &rita),
            event(&Method::POST, "/v1/export", "insufficient_scope", &rita),
        ],
        "one event per request: {events:?}"
    );
}

/// The counting hook (`on_outcome`) sees the same one outcome per request as the event hook,
/// wherever the request was refused, and nothing for a request without a token.
#[cfg(feature = "rate-limit")]
#[tokio::test]
async fn every_request_comes_to_one_outcome_wherever_it_was_refused() {
    use tower_bearer::manage::usage::UsageOutcome;

    let store = store();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let sink = outcomes.clone();
    let layer = BearerAuthLayer::new(store.clone()).on_outcome(move |outcome, principal| {
        sink.lock().unwrap().push((outcome, principal.map(|p| p.subject().to_owned())));
    });
    send_refused_everywhere(&store, layer).await;
    let (rita, meg) = (Some("rita".to_owned()), Some("meg".to_owned()));
    assert_eq!(
        *outcomes.lock().unwrap(),
        [
            (UsageOutcome::Admitted, rita.clone()),
            (UsageOutcome::Unknown, None),
            (UsageOutcome::InsufficientScope, rita.clone()),
            (UsageOutcome::Admitted, meg.clone()),
            (UsageOutcome::NoCredits, meg),
            (UsageOutcome::Admitted, rita.clone()),
            (UsageOutcome::RateLimited, rita.clone()),
            (UsageOutcome::InsufficientScope, rita),
        ]
    );
}
