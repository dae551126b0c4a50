//! The layer as an OAuth resource server: tokens checked against the resource they are meant
//! for (RFC 8707 audience), and challenges that say where the resource's metadata is
//! (RFC 9728 §5.1).

use http::StatusCode;
use tower::ServiceExt;
use tower_bearer::AuthError;
use tower_bearer::middleware::InvalidToken;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, TokenManager};
use tower_bearer_test_support::{app, at_once, get, outcome};

const API: &str = "https://api.example.com";
const METADATA: &str = "https://api.example.com/.well-known/oauth-protected-resource";

fn issue(store: &MemoryTokenStore, new: NewToken) -> String {
    at_once(store.issue(new)).unwrap().secret().expose_secret().to_owned()
}

#[tokio::test]
async fn only_tokens_meant_for_the_resource_pass() {
    let store = MemoryTokenStore::new();
    let for_api = issue(&store, NewToken::for_subject("a").audience([API, "https://other.example.com"]));
    let for_other = issue(&store, NewToken::for_subject("b").audience(["https://other.example.com"]));
    let unrestricted = issue(&store, NewToken::for_subject("c"));
    let layer = BearerAuthLayer::new(store.clone()).audience(API);
    assert_eq!(outcome(&layer, &for_api).await, (StatusCode::OK, None));
    let wrong = Some(AuthError::InvalidToken(InvalidToken::WrongAudience));
    assert_eq!(outcome(&layer, &for_other).await, (StatusCode::UNAUTHORIZED, wrong.clone()));
    assert_eq!(outcome(&layer, &unrestricted).await, (StatusCode::UNAUTHORIZED, wrong));
    let res = app(layer).oneshot(get(Some(&for_other))).await.unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"the access token is not meant for this resource\""
    );
    // Without an audience configured, the audience is not checked.
    assert_eq!(outcome(&BearerAuthLayer::new(store), &unrestricted).await.0, StatusCode::OK);
}

#[tokio::test]
async fn every_challenge_names_the_resource_metadata() {
    let store = MemoryTokenStore::new();
    let layer = BearerAuthLayer::new(store).realm("mcp").resource_metadata(METADATA);
    let res = app(layer.clone()).oneshot(get(None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        format!("Bearer realm=\"mcp\", resource_metadata=\"{METADATA}\"")
    );
    let res = app(layer).oneshot(get(Some("unknown-token-0123456789"))).await.unwrap();
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with(&format!(
            "Bearer realm=\"mcp\", resource_metadata=\"{METADATA}\", error=\"invalid_token\""
        )),
        "{challenge}"
    );
}

#[test]
#[should_panic(expected = "resource metadata URL")]
fn a_metadata_url_that_cannot_be_quoted_is_a_configuration_mistake() {
    let _ = BearerAuthLayer::new(MemoryTokenStore::new()).resource_metadata("https://x/\"");
}
