//! A tonic gRPC server behind `BearerAuthLayer`, straight on tonic's own server (no axum), and
//! a tonic client whose interceptor adds the token.
//!
//! ```text
//! cargo run --example grpc
//! ```
//!
//! The server is tonic's standard health service (`grpc.health.v1.Health`), so any gRPC
//! client can try it; the example's own client prints what it sees with and without the token.
//! A tonic method reads the caller with `request.extensions().get::<Principal>()`: tonic hands
//! the HTTP request's extensions, where the layer put the principal, to the method.

use std::net::SocketAddr;

use tonic::metadata::AsciiMetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes, TokenStore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The demo token (a real service issues tokens with `TokenManager`, or loads them).
pub const DEMO_TOKEN: &str = "grpc-demo-token-3f9a2c7e5b";

/// The layer over a store holding [`DEMO_TOKEN`], which may call the health service.
pub fn layer() -> Result<BearerAuthLayer<MemoryTokenStore>, BoxError> {
    let store = MemoryTokenStore::new();
    store.insert(
        DEMO_TOKEN,
        Principal::builder("demo-service").scopes(Scopes::parse("health:read")).build(),
    )?;
    Ok(BearerAuthLayer::new(store).realm("grpc-example").require_scopes(["health:read"]))
}

/// Serves the health service behind `layer` on `listener` until the process ends.
pub async fn serve<T>(listener: tokio::net::TcpListener, layer: BearerAuthLayer<T>) -> Result<(), BoxError>
where
    T: TokenStore + Send + Sync + 'static,
{
    let (_reporter, health) = tonic_health::server::health_reporter();
    let incoming = TcpIncoming::from(listener);
    Server::builder().layer(layer).add_service(health).serve_with_incoming(incoming).await?;
    Ok(())
}

/// Asks the health service at `addr`, with `token` in an interceptor when there is one.
pub async fn check(addr: SocketAddr, token: Option<&str>) -> Result<Result<ServingStatus, Status>, BoxError> {
    let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let authorization: Option<AsciiMetadataValue> = match token {
        Some(token) => Some(format!("Bearer {token}").parse()?),
        None => None,
    };
    let mut client = HealthClient::with_interceptor(channel, move |mut request: Request<()>| {
        if let Some(value) = &authorization {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    });
    let answer = client.check(HealthCheckRequest { service: String::new() }).await;
    Ok(answer.map(|response| response.into_inner().status()))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, layer()?));

    println!("gRPC health service on {addr}, behind BearerAuthLayer\n");
    for (what, token) in [
        ("with the demo token", Some(DEMO_TOKEN)),
        ("without a token", None),
        ("with an unknown token", Some("not-a-token")),
    ] {
        match check(addr, token).await? {
            Ok(status) => println!("{what}: {status:?}"),
            Err(status) => println!("{what}: {:?} \"{}\"", status.code(), status.message()),
        }
    }
    println!("\nStill serving; try it with grpc_health_probe (github.com/grpc-ecosystem/grpc-health-probe):");
    println!("  grpc_health_probe -addr={addr} -rpc-header='authorization: Bearer {DEMO_TOKEN}'");
    println!("  grpc_health_probe -addr={addr}");
    server.await??;
    Ok(())
}
