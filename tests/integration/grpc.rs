//! A real tonic server (the standard health service) behind the layer, and a real tonic client
//! with and without an interceptor adding the token: the `grpc` example's own server and
//! client, compiled into this binary.

use std::future::ready;
use std::net::SocketAddr;

use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::BoxError;
use tower_bearer::{BearerAuthLayer, CallbackTokenStore, MemoryTokenStore, Principal, Scopes, TokenStore};

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/grpc.rs"]
mod example;

use example::{DEMO_TOKEN, check};

/// The health service behind `layer` on a loopback port, directly through tonic's server.
async fn serve<T: TokenStore>(layer: BearerAuthLayer<T>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(example::serve(listener, layer));
    addr
}

fn store(scopes: &str) -> MemoryTokenStore {
    let store = MemoryTokenStore::new();
    store
        .insert(DEMO_TOKEN, Principal::builder("svc").scopes(Scopes::parse(scopes)).build())
        .expect("insert");
    store
}

#[tokio::test]
async fn the_examples_client_sees_success_and_grpc_codes() {
    let addr = serve(example::layer().expect("layer")).await;
    let served = check(addr, Some(DEMO_TOKEN)).await.expect("connects");
    assert_eq!(served.expect("served"), ServingStatus::Serving);

    let missing = check(addr, None).await.expect("connects").expect_err("refused");
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    assert_eq!(missing.message(), "a bearer token is required");
    assert_eq!(
        missing.metadata().get("www-authenticate").expect("challenge"),
        "Bearer realm=\"grpc-example\""
    );

    let unknown =
        check(addr, Some("not-a-known-token-at-all")).await.expect("connects").expect_err("refused");
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");
    let challenge = unknown.metadata().get("www-authenticate").expect("challenge").to_str().expect("ASCII");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(!format!("{unknown:?}").contains("not-a-known-token-at-all"), "the token is not echoed");
}

#[tokio::test]
async fn a_missing_scope_is_permission_denied() {
    let addr = serve(BearerAuthLayer::new(store("other")).require_scopes(["health:read"])).await;
    let denied = check(addr, Some(DEMO_TOKEN)).await.expect("connects").expect_err("refused");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let challenge = denied.metadata().get("www-authenticate").expect("challenge").to_str().expect("ASCII");
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"health:read\"")
    );
}

#[tokio::test]
async fn a_failing_store_is_unavailable_and_says_nothing_of_why() {
    let failing = CallbackTokenStore::new(|_token| {
        ready(Err::<Option<Principal>, BoxError>("db at 10.0.0.7 down".into()))
    });
    let addr = serve(BearerAuthLayer::new(failing)).await;
    let unavailable = check(addr, Some(DEMO_TOKEN)).await.expect("connects").expect_err("refused");
    assert_eq!(unavailable.code(), Code::Unavailable, "{unavailable:?}");
    assert!(!format!("{unavailable:?}").contains("10.0.0.7"));
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_argument() {
    let addr = serve(BearerAuthLayer::new(store("health:read"))).await;
    let channel =
        Channel::from_shared(format!("http://{addr}")).expect("uri").connect().await.expect("connect");
    let mut client = HealthClient::with_interceptor(channel, |mut req: tonic::Request<()>| {
        req.metadata_mut().insert("authorization", "Bearer a".parse().expect("value"));
        req.metadata_mut().append("authorization", "Bearer b".parse().expect("value"));
        Ok(req)
    });
    let invalid = client.check(HealthCheckRequest { service: String::new() }).await.expect_err("refused");
    assert_eq!(invalid.code(), Code::InvalidArgument, "{invalid:?}");
}

#[tokio::test]
async fn http_answers_when_grpc_answers_are_turned_off() {
    // The override: the same client now reads the HTTP 401 (tonic infers the code from the
    // HTTP status), without the layer's message.
    let addr = serve(
        BearerAuthLayer::new(store("health:read")).grpc_answers(tower_bearer::middleware::GrpcAnswers::Never),
    )
    .await;
    let refused = check(addr, None).await.expect("connects").expect_err("refused");
    assert_ne!(refused.message(), "a bearer token is required", "{refused:?}");
}

#[tokio::test]
async fn a_refusal_from_behind_the_layer_is_answered_in_grpc_too() {
    // `RequireScopesLayer` inside the layer refuses; the layer answers in kind, with its realm.
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tonic::transport::Server::builder()
        .layer(BearerAuthLayer::new(store("health:read")).realm("grpc-inner"))
        .layer(tower_bearer::RequireScopesLayer::all(["health:admin"]))
        .add_service(health)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    let denied = check(addr, Some(DEMO_TOKEN)).await.expect("connects").expect_err("refused");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let challenge = denied.metadata().get("www-authenticate").expect("challenge").to_str().expect("ASCII");
    assert!(challenge.starts_with("Bearer realm=\"grpc-inner\""), "{challenge}");
    assert!(challenge.contains("scope=\"health:admin\""), "{challenge}");
}
