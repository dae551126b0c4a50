//! The OAuth token endpoint's request parsing (form body, client authentication) on arbitrary
//! bodies, content types and `Authorization` values: never a panic, always a documented status
//! with a JSON body. The same property runs on stable in
//! `crates/tower-bearer-oauth/tests/integration/hostile.rs`.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use tower_bearer::MemoryTokenStore;
use tower_bearer_oauth::{ClientRegistry, MemoryClientRegistry, NewClient, TokenEndpoint};
use tower_service::Service;

#[derive(Arbitrary, Debug)]
struct Case {
    body: Vec<u8>,
    authorization: Option<Vec<u8>>,
    form_content_type: bool,
    post: bool,
}

fn endpoint() -> TokenEndpoint<MemoryClientRegistry, MemoryTokenStore> {
    static ENDPOINT: OnceLock<TokenEndpoint<MemoryClientRegistry, MemoryTokenStore>> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let clients = MemoryClientRegistry::new();
            // The memory registry answers at once: poll its future once, no runtime needed.
            {
                let register = std::pin::pin!(clients.register(NewClient::new("svc").client_id("demo")));
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                let _ = std::future::Future::poll(register, &mut cx);
            }
            TokenEndpoint::builder(clients, MemoryTokenStore::new()).max_body_bytes(1024).build()
        })
        .clone()
}

fuzz_target!(|case: Case| {
    let mut req = Request::builder().method(if case.post { "POST" } else { "GET" }).uri("/oauth/token");
    if case.form_content_type {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    if let Some(value) = case.authorization.as_deref().and_then(|v| http::HeaderValue::from_bytes(v).ok()) {
        req = req.header("authorization", value);
    }
    let req = req.body(Full::<Bytes>::from(case.body)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (status, body) = runtime.block_on(async {
        let res = endpoint().call(req).await.unwrap();
        (res.status().as_u16(), res.into_body().collect().await.unwrap().to_bytes())
    });
    assert!([200, 400, 401, 405, 413, 415, 429, 503].contains(&status), "{status}");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
    assert!(json["error"].is_string() || json["access_token"].is_string());
});
