//! DPoP (RFC 9449): a token endpoint that binds the tokens it issues to the client's key, and
//! an API that takes only such tokens, each with a fresh proof of that key; on 127.0.0.1:3009.
//!
//! ```text
//! cargo run --example dpop
//! ```
//!
//! It runs a small client first (a key of its own, a proof for the token request, a proof for
//! each API call), shows that the token alone is refused, then prints curl lines to try the
//! same by hand. Set `PORT` to listen elsewhere.

use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, StoreError};
use tower_bearer_jwt::{DpopVerifier, SigningKey};
use tower_bearer_oauth::{
    AuthorizationServerMetadata, ClientRegistry, MemoryClientRegistry, NewClient, ProtectedResourceMetadata,
    RegisteredClient, TokenEndpoint,
};

/// The token endpoint, the API and their metadata, with one demo client. One verifier (one
/// replay cache) serves both: a proof is taken once, wherever it is sent.
pub async fn demo() -> Result<(Router, RegisteredClient), StoreError> {
    let store = MemoryTokenStore::new();
    let clients = MemoryClientRegistry::new();
    let client = clients
        .register(
            NewClient::new("svc-reporting").client_id("reporting-dpop").allowed_scopes(["reports:read"]),
        )
        .await?;
    // Behind a reverse proxy, give the verifier the origin clients use:
    // `DpopVerifier::builder().origin("https://api.example.com").build()`.
    let dpop = DpopVerifier::new();
    let algs: Vec<&str> = dpop.algorithms().split(' ').collect();
    let server_metadata = AuthorizationServerMetadata::new("http://127.0.0.1")
        .token_endpoint("/oauth/token")
        .dpop_signing_alg_values_supported(algs.clone());
    let resource_metadata = ProtectedResourceMetadata::new("http://127.0.0.1/v1/reports")
        .authorization_servers(["http://127.0.0.1"])
        .dpop_signing_alg_values_supported(algs)
        .dpop_bound_access_tokens_required(true);

    let app = Router::new()
        .route("/v1/reports", get(reports))
        .route_layer(
            BearerAuthLayer::new(store.clone())
                .realm("reports")
                .require_scopes(["reports:read"])
                .require_dpop(dpop.clone()),
        )
        .route_service(
            "/oauth/token",
            TokenEndpoint::builder(clients, store).realm("reports").dpop(dpop).build(),
        )
        .route_service(AuthorizationServerMetadata::PATH, server_metadata)
        .route_service(ProtectedResourceMetadata::PATH, resource_metadata);
    Ok((app, client))
}

async fn reports(principal: Principal) -> Json<Value> {
    Json(json!({
        "client": principal.token_name(),
        "bound_to": principal.grant().confirmation(),
        "reports": [{ "id": "rep_1", "title": "Monthly revenue" }],
    }))
}

/// One request of the demo client: status and body.
async fn send(request: Request<Full<Bytes>>) -> Result<(StatusCode, String), Box<dyn std::error::Error>> {
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let response = client.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The client's side: a key, a bound token, and calls with and without proofs.
pub async fn run_client(base: &str, basic: &str) -> Result<String, Box<dyn std::error::Error>> {
    let key = SigningKey::ed25519_generate("demo-client")?;
    let token_url = format!("{base}/oauth/token");
    let proof = key.dpop_proof("POST", &token_url, None, None)?;
    let token_request = Request::post(&token_url)
        .header("authorization", basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", proof)
        .body(Full::from("grant_type=client_credentials"))?;
    let (status, body) = send(token_request).await?;
    println!("POST /oauth/token with a DPoP proof -> {status} {body}");
    let token = serde_json::from_str::<Value>(&body)?["access_token"].as_str().unwrap_or_default().to_owned();

    let api = format!("{base}/v1/reports");
    let proof = key.dpop_proof("GET", &api, Some(&token), None)?;
    let call = |authorization: String, proof: Option<String>| {
        let mut request = Request::get(&api).header("authorization", authorization);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.body(Full::default())
    };
    let (status, body) = send(call(format!("DPoP {token}"), Some(proof))?).await?;
    println!("GET /v1/reports, the token and a proof of its key -> {status} {body}");
    let (status, body) = send(call(format!("Bearer {token}"), None)?).await?;
    println!("GET /v1/reports, the token alone (copied from a log, say) -> {status} {body}");
    let thief = SigningKey::ed25519_generate("thief")?;
    let stolen = thief.dpop_proof("GET", &api, Some(&token), None)?;
    let (status, body) = send(call(format!("DPoP {token}"), Some(stolen))?).await?;
    println!("GET /v1/reports, the token and another key's proof -> {status} {body}");
    Ok(token)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (app, client) = demo().await?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "3009".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let (id, secret) = (&client.client_id, client.client_secret.expose_secret());
    let basic = {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
    };
    println!("listening on {base}\n");
    let token = run_client(&base, &basic).await?;

    // A proof for curl: valid for a minute, and once.
    let key = SigningKey::ed25519_generate("curl")?;
    let proof = key.dpop_proof("GET", &format!("{base}/v1/reports"), Some(&token), None)?;
    println!("\ntry (the token is bound to the demo client's key, not to this one):");
    println!(
        "  curl -i -H 'Authorization: Bearer {token}' {base}/v1/reports              # 401 invalid_token"
    );
    println!(
        "  curl -i -H 'Authorization: DPoP {token}' {base}/v1/reports                # 401 invalid_dpop_proof"
    );
    println!(
        "  curl -i -H 'Authorization: DPoP {token}' -H 'DPoP: {proof}' {base}/v1/reports   # 401: another key"
    );
    println!("  curl -s {base}{}", ProtectedResourceMetadata::PATH);
    println!(
        "  curl -s -u '{id}:{secret}' -d grant_type=client_credentials {base}/oauth/token   # no proof: a bearer token"
    );
    server.await??;
    Ok(())
}
