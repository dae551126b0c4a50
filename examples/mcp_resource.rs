//! An MCP-style resource server: an OAuth protected resource that tells clients where to get
//! a token (RFC 9728), on 127.0.0.1:3012.
//!
//! ```text
//! cargo run --example mcp_resource
//! ```
//!
//! A request without a token gets `401` with
//! `WWW-Authenticate: Bearer resource_metadata="http://127.0.0.1:3012/.well-known/oauth-protected-resource"`;
//! that document names the authorization server (here the same process, at `/oauth/token`,
//! with its RFC 8414 metadata), which issues tokens for this resource (`resource=` parameter,
//! RFC 8707). The resource accepts only tokens whose audience is itself.

use axum::Router;
use axum::routing::post;
use tower_bearer::StoreError;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal};
use tower_bearer_oauth::{
    AuthorizationServerMetadata, ClientRegistry, MemoryClientRegistry, NewClient, ProtectedResourceMetadata,
    RegisteredClient, TokenEndpoint,
};

/// The server at `base` (`http://127.0.0.1:3012`): its router and a demo client.
pub async fn server(base: &str) -> Result<(Router, RegisteredClient), StoreError> {
    let resource = format!("{base}/mcp");
    let store = MemoryTokenStore::new();
    let clients = MemoryClientRegistry::new();
    let client = clients
        .register(NewClient::new("svc-agent").client_id("agent").allowed_scopes(["tools:call"]))
        .await?;
    let token =
        TokenEndpoint::builder(clients, store.clone()).issuer(base).resources([resource.clone()]).build();
    let layer = BearerAuthLayer::new(store)
        .audience(resource.clone())
        .require_scopes(["tools:call"])
        .resource_metadata(format!("{base}{}", ProtectedResourceMetadata::PATH));
    let app = Router::new()
        .route("/mcp", post(mcp))
        .route_layer(layer)
        .route_service(
            ProtectedResourceMetadata::PATH,
            ProtectedResourceMetadata::new(resource)
                .authorization_servers([base])
                .scopes_supported(["tools:call"]),
        )
        .route_service(
            AuthorizationServerMetadata::PATH,
            AuthorizationServerMetadata::new(base).token_endpoint(format!("{base}/oauth/token")),
        )
        .route_service("/oauth/token", token);
    Ok((app, client))
}

/// The MCP endpoint (a JSON-RPC answer; here it only says who called).
async fn mcp(principal: Principal) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "jsonrpc": "2.0", "id": 1, "result": { "caller": principal.subject() } }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = "http://127.0.0.1:3012";
    let (app, client) = server(base).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3012").await?;
    let (id, secret) = (&client.client_id, client.client_secret.expose_secret());
    println!("MCP resource on {base}/mcp");
    println!("try:");
    println!(
        "  curl -i -X POST {base}/mcp                                              # 401, resource_metadata=..."
    );
    println!("  curl -s {base}{}", ProtectedResourceMetadata::PATH);
    println!("  curl -s {base}{}", AuthorizationServerMetadata::PATH);
    println!(
        "  TOKEN=$(curl -s -u {id}:{secret} -d grant_type=client_credentials --data-urlencode resource={base}/mcp {base}/oauth/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')"
    );
    println!("  curl -i -X POST -H \"Authorization: Bearer $TOKEN\" {base}/mcp              # 200");
    axum::serve(listener, app).await?;
    Ok(())
}
