//! The token endpoint on arbitrary requests (the property the fuzz target
//! `fuzz/fuzz_targets/oauth_endpoint.rs` checks, on stable): whatever the body, content type
//! and `Authorization` header, it never panics, answers one of its documented statuses with an
//! RFC 6749 §5.2 body (or a token), and never echoes a secret it was sent.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;
use tower_bearer::MemoryTokenStore;
use tower_bearer_oauth::{ClientRegistry, MemoryClientRegistry, NewClient, TokenEndpoint};
use tower_bearer_test_support::at_once;

const ALLOWED: [u16; 8] = [200, 400, 401, 405, 413, 415, 429, 503];

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // Near-valid forms: the grammar's own characters, escapes broken and whole.
        "[a-z_=&%+0-9A-F:. -]{0,120}".prop_map(String::into_bytes),
        Just(b"grant_type=client_credentials".to_vec()),
        Just(b"grant_type=client_credentials&client_id=demo&client_secret=wrong".to_vec()),
        Just(b"grant_type=client_credentials&scope=%ZZ&scope=a".to_vec()),
    ]
}

fn authorization() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Some),
        "Basic [A-Za-z0-9+/=:]{0,40}".prop_map(|s| Some(s.into_bytes())),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(Some("application/x-www-form-urlencoded")),
        Just(Some("application/x-www-form-urlencoded; charset=utf-8")),
        Just(Some("application/json")),
        Just(None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_request_gets_a_documented_answer(
        body in body_bytes(),
        auth in authorization(),
        content in content_type(),
        post in prop::bool::weighted(0.9),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let clients = MemoryClientRegistry::new();
        let client = at_once(clients.register(NewClient::new("svc").client_id("demo").access_token_ttl(Duration::from_secs(60)))).unwrap();
        let endpoint = TokenEndpoint::builder(clients, MemoryTokenStore::new()).max_body_bytes(512).build();
        let mut req = Request::builder().method(if post { "POST" } else { "GET" }).uri("/oauth/token");
        if let Some(content) = content {
            req = req.header("content-type", content);
        }
        if let Some(value) = auth.as_deref().and_then(|auth| http::HeaderValue::from_bytes(auth).ok()) {
            req = req.header("authorization", value);
        }
        let req = req.body(Full::<Bytes>::from(body.clone())).unwrap();
        let (status, text) = runtime.block_on(async {
            let res = endpoint.oneshot(req).await.unwrap();
            let status = res.status();
            (status, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
        });
        prop_assert!(ALLOWED.contains(&status.as_u16()), "{status}: {text}");
        let json: Value = serde_json::from_str(&text).unwrap();
        if status == StatusCode::OK {
            prop_assert!(json["access_token"].is_string());
        } else {
            prop_assert!(json["error"].is_string(), "{text}");
            prop_assert!(!text.contains(client.client_secret.expose_secret()));
        }
    }
}
