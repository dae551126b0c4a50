//! The layer and the `Principal` extractor inside an axum 0.8 `Router`.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, MissingPrincipal, Principal, Scopes, TokenManager};

const READER_TOKEN: &str = "reader-token-123";
const ADMIN_TOKEN: &str = "admin-token-456";

fn store() -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    store.insert(READER_TOKEN, Principal::builder("reader").scopes(Scopes::parse("read")).build()).unwrap();
    store
        .insert(ADMIN_TOKEN, Principal::builder("root").scopes(Scopes::parse("read admin")).build())
        .unwrap();
    store
}

async fn whoami(principal: Principal) -> String {
    format!("hello {}", principal.subject())
}

async fn maybe_whoami(principal: Option<Principal>) -> String {
    match principal {
        Some(p) => format!("hello {}", p.subject()),
        None => "anonymous".to_owned(),
    }
}

async fn send(app: &Router, path: &str, token: Option<&str>) -> (StatusCode, Response<Body>) {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app.clone().oneshot(builder.body(Body::empty()).unwrap()).await.unwrap();
    (response.status(), response)
}

async fn body_string(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn route_layered() -> Router {
    Router::new().route("/me", get(whoami)).route_layer(BearerAuthLayer::new(store()))
}

fn router_layered() -> Router {
    Router::new().route("/me", get(whoami)).layer(BearerAuthLayer::new(store()))
}

#[tokio::test]
async fn principal_extractor_gets_the_subject() {
    let (status, response) = send(&route_layered(), "/me", Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body_string(response).await, "hello reader");
}

#[tokio::test]
async fn missing_token_is_401_with_a_challenge() {
    let (status, response) = send(&route_layered(), "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    let body: serde_json::Value = serde_json::from_str(&body_string(response).await).unwrap();
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn unknown_token_is_401_invalid_token() {
    let (status, response) = send(&route_layered(), "/me", Some("not-a-known-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
}

#[tokio::test]
async fn route_layer_leaves_unknown_paths_404() {
    let (status, _) = send(&route_layered(), "/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn router_layer_answers_unknown_paths_401_without_a_token() {
    let (status, response) = send(&router_layered(), "/nowhere", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key(WWW_AUTHENTICATE));
}

#[tokio::test]
async fn router_layer_still_routes_authenticated_requests() {
    let app = router_layered();
    let (status, response) = send(&app, "/me", Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body_string(response).await, "hello reader");

    let (status, _) = send(&app, "/nowhere", Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn principal_on_a_route_without_the_layer_is_500_not_a_panic() {
    let app = Router::new()
        .route("/open", get(whoami))
        .merge(Router::new().route("/me", get(whoami)).route_layer(BearerAuthLayer::new(store())));

    // Even a valid token does not help: the layer never saw this route.
    let (status, response) = send(&app, "/open", Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body_string(response).await, MissingPrincipal::MESSAGE);
}

#[tokio::test]
async fn optional_principal_on_a_route_without_the_layer_is_none() {
    let app = Router::new().route("/maybe", get(maybe_whoami));
    let (status, response) = send(&app, "/maybe", Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body_string(response).await, "anonymous");
}

#[tokio::test]
async fn optional_principal_behind_the_layer_is_some() {
    let app = Router::new().route("/maybe", get(maybe_whoami)).route_layer(BearerAuthLayer::new(store()));
    let (status, response) = send(&app, "/maybe", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body_string(response).await, "hello root");
}

fn merged_with_scopes() -> Router {
    let store = store();
    let layer = BearerAuthLayer::new(store).realm("api");
    let reading =
        Router::new().route("/read", get(whoami)).route_layer(layer.clone().require_scopes(["read"]));
    let admin = Router::new().route("/admin", get(whoami)).route_layer(layer.require_scopes(["admin"]));
    reading.merge(admin)
}

#[tokio::test]
async fn merged_routers_apply_their_own_scope_requirement() {
    let app = merged_with_scopes();

    let (status, response) = send(&app, "/read", Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body_string(response).await, "hello reader");

    let (status, response) = send(&app, "/admin", Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    assert!(challenge.contains(r#"scope="admin""#), "{challenge}");
    assert!(challenge.contains(r#"realm="api""#), "{challenge}");
}

#[tokio::test]
async fn merged_routers_admit_a_token_with_every_scope() {
    let app = merged_with_scopes();
    for path in ["/read", "/admin"] {
        let (status, response) = send(&app, path, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body_string(response).await, "hello root");
    }
}

#[tokio::test]
async fn revocation_through_a_shared_store_handle_takes_effect_in_the_router() {
    let store = store();
    let id = store.insert("short-lived-token", Principal::builder("temp").build()).expect("fresh token");
    let app = Router::new().route("/me", get(whoami)).route_layer(BearerAuthLayer::new(store.clone()));

    let (status, _) = send(&app, "/me", Some("short-lived-token")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(store.revoke(&id).await.unwrap());
    let (status, _) = send(&app, "/me", Some("short-lived-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
