//! The OAuth examples, in process over real HTTP: `outside_issuer` (an API protected by tokens
//! of another authorization server, through introspection), `jwt_store` (the same with JWTs
//! verified against the issuer's JWKS) and `mcp_resource` (a protected resource pointing
//! clients to its metadata).

use std::time::Duration;

use base64::Engine as _;
use http::{Method, StatusCode};

use crate::client::{Served, send};

#[path = "../../examples/outside_issuer.rs"]
#[allow(dead_code, unreachable_pub)]
mod outside_issuer;

#[path = "../../examples/jwt_store.rs"]
#[allow(dead_code, unreachable_pub)]
mod jwt_store;

#[path = "../../examples/mcp_resource.rs"]
#[allow(dead_code, unreachable_pub)]
mod mcp_resource;

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

/// `POST url` with a form body, authenticated as a client.
async fn form(url: &str, client: (&str, &str), body: &str) -> crate::client::Reply {
    let hyper_client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::post(url)
        .header("authorization", basic(client.0, client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::from(body.to_owned()))
        .unwrap();
    let res = hyper_client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = http_body_util::BodyExt::collect(body).await.unwrap().to_bytes();
    crate::client::Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

#[tokio::test]
async fn outside_issuer_example() {
    let auth = outside_issuer::auth_server("http://as.test").await.unwrap();
    let (api_secret, demo) = (auth.api.client_secret.expose_secret().to_owned(), auth.demo);
    let auth_server = Served::start(auth.app).await;
    let api =
        outside_issuer::api(&auth_server.url("/oauth/introspect"), &api_secret, Duration::ZERO).unwrap();
    let api = Served::start(api).await;

    let demo = (demo.client_id.as_str(), demo.client_secret.expose_secret());
    let issued = form(&auth_server.url("/oauth/token"), demo, "grant_type=client_credentials").await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let token = issued.json()["access_token"].as_str().unwrap().to_owned();
    let ok = send(Method::GET, &api.url("/v1/reports"), Some(&token), None).await;
    assert_eq!((ok.status, ok.body.as_str()), (StatusCode::OK, "reports for svc-dashboard\n"));
    assert_eq!(
        send(Method::GET, &api.url("/v1/reports"), Some("tok_made_up_0123456789"), None).await.status,
        StatusCode::UNAUTHORIZED
    );

    let revoked = form(&auth_server.url("/oauth/revoke"), demo, &format!("token={token}")).await;
    assert_eq!(revoked.status, StatusCode::OK);
    let refused = send(Method::GET, &api.url("/v1/reports"), Some(&token), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "no cache here: the revocation is seen at once");

    let metadata =
        send(Method::GET, &auth_server.url("/.well-known/oauth-authorization-server"), None, None).await;
    assert_eq!(metadata.json()["introspection_endpoint"], "http://as.test/oauth/introspect");
}

#[tokio::test]
async fn jwt_store_example() {
    let answers = jwt_store::run().await.unwrap();
    assert_eq!(answers, [StatusCode::OK, StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED]);
}

#[tokio::test]
async fn mcp_resource_example() {
    let base = "http://mcp.test";
    let (app, client) = mcp_resource::server(base).await.unwrap();
    let ex = Served::start(app).await;

    let anonymous = send(Method::POST, &ex.url("/mcp"), None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.challenge(),
        Some(r#"Bearer resource_metadata="http://mcp.test/.well-known/oauth-protected-resource""#)
    );
    let metadata = send(Method::GET, &ex.url("/.well-known/oauth-protected-resource"), None, None).await;
    assert_eq!(metadata.json()["resource"], "http://mcp.test/mcp");
    assert_eq!(metadata.json()["authorization_servers"][0], base);

    let client = (client.client_id.as_str(), client.client_secret.expose_secret());
    let for_mcp = form(
        &ex.url("/oauth/token"),
        client,
        "grant_type=client_credentials&resource=http%3A%2F%2Fmcp.test%2Fmcp",
    )
    .await;
    let token = for_mcp.json()["access_token"].as_str().unwrap().to_owned();
    let called = send(Method::POST, &ex.url("/mcp"), Some(&token), None).await;
    assert_eq!(called.status, StatusCode::OK, "{}", called.body);
    assert_eq!(called.json()["result"]["caller"], "svc-agent");

    // A token without this resource as its audience is refused.
    let plain = form(&ex.url("/oauth/token"), client, "grant_type=client_credentials").await;
    let token = plain.json()["access_token"].as_str().unwrap().to_owned();
    let refused = send(Method::POST, &ex.url("/mcp"), Some(&token), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.challenge().unwrap().contains("not meant for this resource"));
}
