//! A service protected by tokens another authorization server issues: two processes.
//!
//! ```text
//! cargo run --example outside_issuer -- auth   # the authorization server, 127.0.0.1:3010
//! cargo run --example outside_issuer -- api    # the protected API, 127.0.0.1:3011
//! ```
//!
//! The authorization server is this workspace's own OAuth endpoints (`tower-bearer-oauth`):
//! a token endpoint, RFC 7662 introspection, RFC 7009 revocation and RFC 8414 metadata. The API
//! shares nothing with it but a client id and secret: its `BearerAuthLayer` asks the
//! introspection endpoint about each token (`IntrospectionStore`), caching active answers for
//! ten seconds. Both print the curl lines to try; a token revoked at the authorization server
//! is refused by the API within the cache's ten seconds.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tower_bearer::StoreError;
use tower_bearer::stores::CacheConfig;
use tower_bearer::{BearerAuthLayer, CachedTokenStore, MemoryTokenStore, Principal};
use tower_bearer_oauth::{
    AuthorizationServerMetadata, ClientRegistry, IntrospectionStore, MemoryClientRegistry, NewClient,
    RegisteredClient, TokenEndpoint,
};

/// The API's own credentials at the authorization server (demo values: an operator would
/// register them once and put them in the API's configuration).
pub const API_CLIENT_ID: &str = "reports-api";

/// The authorization server: its router, the API's client credentials and a demo client.
pub struct AuthServer {
    pub app: Router,
    pub api: RegisteredClient,
    pub demo: RegisteredClient,
}

/// The authorization server's endpoints, for issuer `base` (`http://127.0.0.1:3010`).
pub async fn auth_server(base: &str) -> Result<AuthServer, StoreError> {
    let store = MemoryTokenStore::new();
    let clients = MemoryClientRegistry::new();
    let api = clients.register(NewClient::new("svc-reports-api").client_id(API_CLIENT_ID)).await?;
    let demo = clients
        .register(NewClient::new("svc-dashboard").client_id("dashboard").allowed_scopes(["reports:read"]))
        .await?;
    let token = TokenEndpoint::builder(clients, store).issuer(base).build();
    let metadata = AuthorizationServerMetadata::new(base)
        .token_endpoint(format!("{base}/oauth/token"))
        .introspection_endpoint(format!("{base}/oauth/introspect"))
        .revocation_endpoint(format!("{base}/oauth/revoke"))
        .scopes_supported(["reports:read"]);
    let app = Router::new()
        .route_service("/oauth/introspect", token.introspection())
        .route_service("/oauth/revoke", token.revocation())
        .route_service("/oauth/token", token)
        .route_service(AuthorizationServerMetadata::PATH, metadata);
    Ok(AuthServer { app, api, demo })
}

/// The protected API, asking `introspection_url` about every token (answers cached
/// `cache_for`) as client `API_CLIENT_ID` with `secret`.
pub fn api(
    introspection_url: &str,
    secret: &str,
    cache_for: Duration,
) -> Result<Router, http::uri::InvalidUri> {
    let store: CachedTokenStore<IntrospectionStore> =
        IntrospectionStore::builder(introspection_url, API_CLIENT_ID, secret)?
            .timeout(Duration::from_secs(2))
            .build()
            .cached(CacheConfig::default().positive_ttl(cache_for).negative_ttl(Duration::from_secs(1)));
    Ok(Router::new()
        .route("/v1/reports", get(reports))
        .route_layer(BearerAuthLayer::new(store).realm("reports").require_scopes(["reports:read"])))
}

async fn reports(principal: Principal) -> String {
    format!("reports for {}\n", principal.subject())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("auth") => {
            let base = "http://127.0.0.1:3010";
            let AuthServer { app, api, demo } = auth_server(base).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:3010").await?;
            println!("authorization server on {base}");
            println!("start the API with:");
            println!(
                "  API_CLIENT_SECRET={} cargo run --example outside_issuer -- api",
                api.client_secret.expose_secret()
            );
            println!("then get a token and use it:");
            let (id, secret) = (&demo.client_id, demo.client_secret.expose_secret());
            println!(
                "  TOKEN=$(curl -s -u {id}:{secret} -d grant_type=client_credentials {base}/oauth/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')"
            );
            println!(
                "  curl -i -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:3011/v1/reports        # 200"
            );
            println!(
                "  curl -i -u {id}:{secret} -d token=$TOKEN {base}/oauth/revoke                      # 200"
            );
            println!(
                "  sleep 10; curl -i -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:3011/v1/reports   # 401"
            );
            println!("  curl -s {base}{}", AuthorizationServerMetadata::PATH);
            axum::serve(listener, app).await?;
        }
        Some("api") => {
            let secret = std::env::var("API_CLIENT_SECRET")
                .map_err(|_| "set API_CLIENT_SECRET (printed by the auth role)")?;
            let app = api("http://127.0.0.1:3010/oauth/introspect", &secret, Duration::from_secs(10))?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:3011").await?;
            println!(
                "API on http://127.0.0.1:3011, tokens checked at http://127.0.0.1:3010/oauth/introspect"
            );
            axum::serve(listener, app).await?;
        }
        _ => eprintln!("usage: outside_issuer auth | api"),
    }
    Ok(())
}
